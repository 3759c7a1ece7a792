//! Seeded randomness: one generator type everywhere, so a seed gives the same
//! numbers on every machine and every run.

use rand::{RngExt, SeedableRng};

/// The generator behind every random tensor and dropout mask: PCG-64 (MCG
/// variant), small, fast, and portable bit for bit across platforms.
pub type Rng = rand_pcg::Pcg64Mcg;

/// A generator from a 64-bit seed.
///
/// ```
/// use gradtape_core::{rng_from_seed, uniform};
/// let (mut a, mut b) = (rng_from_seed(7), rng_from_seed(7));
/// assert_eq!(uniform(&mut a), uniform(&mut b));
/// ```
pub fn rng_from_seed(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// One draw from U[0, 1).
pub fn uniform(rng: &mut Rng) -> f64 {
    rng.random::<f64>()
}

/// Fills `out` with independent N(0, 1) draws (Box-Muller on pairs of
/// uniforms; written here rather than taken from a distribution crate so the
/// sequence for a seed is fixed by this code alone).
///
/// ```
/// use gradtape_core::{fill_normal, rng_from_seed};
/// let mut v = vec![0.0; 10_000];
/// fill_normal(&mut rng_from_seed(0), &mut v);
/// let mean = v.iter().sum::<f64>() / v.len() as f64;
/// assert!(mean.abs() < 0.05);
/// ```
pub fn fill_normal(rng: &mut Rng, out: &mut [f64]) {
    for pair in out.chunks_mut(2) {
        // 1 - u lies in (0, 1], so the log is finite.
        let u1 = 1.0 - uniform(rng);
        let u2 = uniform(rng);
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        pair[0] = r * theta.cos();
        if pair.len() > 1 {
            pair[1] = r * theta.sin();
        }
    }
}

/// A counter-based generator: word `i` of a stream is a pure function of the
/// stream's 64-bit key and `i`. Nothing is carried from one draw to the next,
/// so a loop over `i` vectorises, and any range of the stream can be drawn
/// on any thread with the same bits. Dropout takes one key per call from the
/// caller's [`Rng`] ([`CounterRng::from_rng`]): the caller's stream moves on
/// by one draw per call, so a seed (or a saved [`Rng`]) still fixes every
/// mask.
///
/// Word `i` is output `i + 1` of SplitMix64 seeded with the key (Steele, Lea
/// and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014):
/// a Weyl sequence `key + (i + 1) * gamma` through Stafford's "Mix13"
/// finaliser. Chosen because it is the best-studied generator of this shape:
/// it passes TestU01's BigCrush and PractRand, the finaliser is a bijection
/// with full avalanche (every input bit flips each output bit with
/// probability close to 1/2), and it needs only 64-bit adds, xors, shifts and
/// multiplies, which vectorise. Two keys give the same sequence shifted by
/// some offset: their windows of `n` words overlap only if that offset is
/// below `n`, a chance of about `2n / 2^64` for keys drawn from PCG-64.
///
/// ```
/// use gradtape_core::{rng_from_seed, CounterRng};
/// let s = CounterRng::from_rng(&mut rng_from_seed(0));
/// // Any order, same words.
/// let forward: Vec<u64> = (0..4).map(|i| s.word(i)).collect();
/// let backward: Vec<u64> = (0..4).rev().map(|i| s.word(i)).collect();
/// assert!(forward.iter().eq(backward.iter().rev()));
/// assert_ne!(CounterRng::new(1).word(0), CounterRng::new(2).word(0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CounterRng {
    key: u64,
}

/// SplitMix64's increment: the odd number nearest 2^64 / golden ratio.
const SPLITMIX_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl CounterRng {
    /// The stream with this key.
    ///
    /// ```
    /// use gradtape_core::CounterRng;
    /// assert_eq!(CounterRng::new(5).key(), 5);
    /// // The first word is SplitMix64's first output for seed 0.
    /// assert_eq!(CounterRng::new(0).word(0), 0xE220_A839_7B1D_CDAF);
    /// ```
    pub const fn new(key: u64) -> Self {
        CounterRng { key }
    }

    /// A stream keyed by one 64-bit draw from `rng` (which advances by that
    /// one draw).
    ///
    /// ```
    /// use gradtape_core::{rng_from_seed, CounterRng};
    /// let mut rng = rng_from_seed(3);
    /// let (a, b) = (CounterRng::from_rng(&mut rng), CounterRng::from_rng(&mut rng));
    /// assert_ne!(a, b);
    /// assert_eq!(a, CounterRng::from_rng(&mut rng_from_seed(3)));
    /// ```
    pub fn from_rng(rng: &mut Rng) -> Self {
        CounterRng::new(rand::Rng::next_u64(rng))
    }

    /// The key.
    ///
    /// ```
    /// use gradtape_core::CounterRng;
    /// assert_eq!(CounterRng::new(u64::MAX).key(), u64::MAX);
    /// ```
    pub const fn key(self) -> u64 {
        self.key
    }

    /// Word `i` of the stream: 64 random bits.
    ///
    /// ```
    /// use gradtape_core::CounterRng;
    /// let s = CounterRng::new(9);
    /// assert_eq!(s.word(1_000_000), s.word(1_000_000));
    /// assert_ne!(s.word(0), s.word(1));
    /// ```
    #[inline(always)]
    pub const fn word(self, i: u64) -> u64 {
        let mut z = self
            .key
            .wrapping_add(i.wrapping_add(1).wrapping_mul(SPLITMIX_GAMMA));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Draw `i` from U[0, 1): the top 53 bits of [`word`](Self::word) times
    /// 2^-53, the same construction as [`uniform`] on [`Rng`].
    ///
    /// ```
    /// use gradtape_core::CounterRng;
    /// let s = CounterRng::new(1);
    /// let mean = (0..10_000).map(|i| s.uniform(i)).sum::<f64>() / 10_000.0;
    /// assert!((mean - 0.5).abs() < 0.02); // 7 standard deviations
    /// assert!((0..10_000).all(|i| (0.0..1.0).contains(&s.uniform(i))));
    /// ```
    #[inline(always)]
    pub fn uniform(self, i: u64) -> f64 {
        (self.word(i) >> 11) as f64 * UNIT_53
    }

    /// Whether draw `i` falls below `p`: `uniform(i) < p` decided on the
    /// integer bits, with `threshold` from [`CounterRng::threshold`] for
    /// `p`. So it is true with probability `p` (exactly, to the 2^-53 grid
    /// the draws lie on), and the comparison vectorises without an
    /// integer-to-float conversion.
    ///
    /// ```
    /// use gradtape_core::CounterRng;
    /// let (s, p) = (CounterRng::new(4), 0.3);
    /// let t = CounterRng::threshold(p);
    /// assert!((0..1000).all(|i| s.below(i, t) == (s.uniform(i) < p)));
    /// ```
    #[inline(always)]
    pub const fn below(self, i: u64, threshold: u64) -> bool {
        // Both sides are below 2^53, so a signed comparison is the same as
        // an unsigned one (SSE/AVX2 have only the signed one).
        ((self.word(i) >> 11) as i64) < threshold as i64
    }

    /// The integer `t` with `(m as f64) * 2^-53 < p` exactly when `m < t`,
    /// for every 53-bit `m`: `ceil(p * 2^53)`, clamped to `[0, 2^53]` (0 for
    /// `p <= 0` or NaN, 2^53 for `p >= 1`). Scaling by a power of two is
    /// exact, so this is the comparison `uniform(i) < p` itself.
    ///
    /// ```
    /// use gradtape_core::CounterRng;
    /// assert_eq!(CounterRng::threshold(0.5), 1 << 52);
    /// assert_eq!(CounterRng::threshold(1.0), 1 << 53);
    /// assert_eq!(CounterRng::threshold(0.0), 0);
    /// assert_eq!(CounterRng::threshold(f64::NAN), 0);
    /// ```
    pub fn threshold(p: f64) -> u64 {
        if p >= 1.0 {
            1 << 53
        } else if p > 0.0 {
            // p * 2^53 lies in (0, 2^53) and is exact; its ceiling fits.
            (p * TWO_53).ceil() as u64
        } else {
            0
        }
    }
}

/// 2^53 and 2^-53, for 53-bit uniforms.
const TWO_53: f64 = 9_007_199_254_740_992.0;
const UNIT_53: f64 = 1.0 / TWO_53;
