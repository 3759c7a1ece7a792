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
