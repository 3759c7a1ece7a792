//! Dropout's counter-based masks: their statistics, their independence from
//! the thread count and from how the work is split, and how they use the
//! caller's generator.
//!
//! The statistical tests draw from fixed keys, so each is deterministic; the
//! bounds are five standard deviations (about one chance in 3.5 million per
//! bound for a good generator), and each fails for a broken one (a mixer
//! left out, a counter not advanced, a key ignored): see
//! `the_statistical_checks_reject_broken_generators`.

use gradtape_core::{rng_from_seed, CounterRng, Mode, Rng, RngExt, Tape, Tensor};

/// Keys as dropout takes them: successive 64-bit draws from one `Rng`.
fn keys(seed: u64, n: usize) -> Vec<u64> {
    let mut rng = rng_from_seed(seed);
    (0..n)
        .map(|_| CounterRng::from_rng(&mut rng).key())
        .collect()
}

/// `(statistic - dof) / sqrt(2 dof)`: how many standard deviations a
/// chi-square statistic lies from its mean (normal approximation, fine for
/// the 15 to 255 degrees of freedom used here).
fn chi2_sigmas(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    let chi2: f64 = counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    let dof = (counts.len() - 1) as f64;
    (chi2 - dof) / (2.0 * dof).sqrt()
}

/// The statistical checks on a generator given as `word(key, i)`; returns
/// the first failure.
fn check_generator(word: impl Fn(u64, u64) -> u64) -> Result<(), String> {
    let uniform = |k: u64, i: u64| (word(k, i) >> 11) as f64 / (1u64 << 53) as f64;
    let bounded = |what: String, sigmas: f64| {
        if sigmas.abs() < 5.0 {
            Ok(())
        } else {
            Err(format!("{what}: {sigmas:.2} standard deviations"))
        }
    };
    for (j, &key) in keys(1, 4).iter().enumerate() {
        let n = 1u64 << 18;
        // One-dimensional uniformity of the top bits, 64 bins. Too even
        // (a low-discrepancy sequence) fails as well as too uneven.
        let mut bins = vec![0u64; 64];
        for i in 0..n {
            bins[(uniform(key, i) * 64.0) as usize] += 1;
        }
        bounded(format!("key {j}: uniformity"), chi2_sigmas(&bins))?;
        // The low bits, which a weak mixer leaves poor.
        let mut low = vec![0u64; 64];
        for i in 0..n {
            low[(word(key, i) & 63) as usize] += 1;
        }
        bounded(format!("key {j}: low bits"), chi2_sigmas(&low))?;
        // Neighbours: pairs (u_i, u_{i+lag}) on a 16 x 16 grid, for
        // elements side by side, a row of the bench's net apart, and a
        // power of two apart.
        for lag in [1u64, 2, 500, 4096] {
            let mut grid = vec![0u64; 256];
            for i in (0..n).step_by(2) {
                let (a, b) = (uniform(key, i), uniform(key, i + lag));
                grid[(a * 16.0) as usize * 16 + (b * 16.0) as usize] += 1;
            }
            bounded(format!("key {j}: pairs at lag {lag}"), chi2_sigmas(&grid))?;
        }
    }
    // Streams of consecutive keys (from one Rng, as dropout takes them, and
    // keys one apart), element by element: pairs on a 16 x 16 grid, and the
    // agreement of their p = 0.5 masks (which is 1/2 for independent masks).
    let mut pairs: Vec<(u64, u64)> = keys(2, 9).windows(2).map(|w| (w[0], w[1])).collect();
    pairs.extend([(0, 1), (1, 2), (u64::MAX, 0), (12345, 12346)]);
    for (a, b) in pairs {
        let n = 1u64 << 16;
        let mut grid = vec![0u64; 256];
        let mut agree = 0u64;
        for i in 0..n {
            let (u, v) = (uniform(a, i), uniform(b, i));
            grid[(u * 16.0) as usize * 16 + (v * 16.0) as usize] += 1;
            agree += u64::from((u < 0.5) == (v < 0.5));
        }
        bounded(format!("keys {a:#x}, {b:#x}: joint"), chi2_sigmas(&grid))?;
        let sd = (n as f64 * 0.25).sqrt();
        bounded(
            format!("keys {a:#x}, {b:#x}: mask agreement"),
            (agree as f64 - n as f64 / 2.0) / sd,
        )?;
    }
    Ok(())
}

#[test]
fn the_generator_passes_uniformity_and_independence_checks() {
    check_generator(|k, i| CounterRng::new(k).word(i)).unwrap();
}

/// A generator as `check_generator` takes it: `word(key, i)`.
type Word = fn(u64, u64) -> u64;

#[test]
fn the_statistical_checks_reject_broken_generators() {
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
    let broken: [(&str, Word); 4] = [
        // The Weyl sequence without the mixer: too even, and neighbours
        // are correlated.
        ("no mixer", |k, i| {
            k.wrapping_add((i + 1).wrapping_mul(GAMMA))
        }),
        // The key ignored: every call would draw the same mask.
        ("key ignored", |_, i| CounterRng::new(0).word(i)),
        // The counter in the low bits, fed to half of the mixer.
        ("half a mixer", |k, i| {
            let z = k.wrapping_add(i);
            (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9)
        }),
        // Neighbouring elements sharing a draw.
        ("counter halved", |k, i| CounterRng::new(k).word(i / 2)),
    ];
    for (name, word) in broken {
        assert!(check_generator(word).is_err(), "{name} passed");
    }
}

#[test]
fn the_kept_fraction_is_p_within_five_sigma_for_every_size() {
    let mut rng = rng_from_seed(4);
    let mut tape = Tape::new();
    for n in [1000usize, 50_000, 65_537, 1 << 20] {
        let x = tape.input(Tensor::ones(&[n]));
        for p in [0.05, 0.25, 0.4, 0.5, 0.7, 0.9, 0.999] {
            let y = tape.dropout(x, p, Mode::Train, &mut rng).unwrap();
            let kept = tape
                .value(y)
                .unwrap()
                .data()
                .iter()
                .filter(|&&v| v != 0.0)
                .count();
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            let z = (kept as f64 - n as f64 * p) / sd;
            assert!(z.abs() < 5.0, "n = {n}, p = {p}: kept {kept}, {z:.2} sigma");
        }
    }
}

#[test]
fn keep_is_exactly_the_draw_below_p() {
    // `below` on the integer bits is `uniform < p` for every p, including
    // ones that do not lie on the 2^-53 grid and the extremes.
    let s = CounterRng::new(77);
    let ps = [
        1e-300,
        2f64.powi(-53),
        0.1,
        0.3,
        0.5,
        1.0 - f64::EPSILON / 2.0,
        1.0,
    ];
    for p in ps {
        let t = CounterRng::threshold(p);
        for i in 0..20_000 {
            assert_eq!(s.below(i, t), s.uniform(i) < p, "p = {p}, i = {i}");
        }
        // The threshold sits exactly on p: the grid point below it is < p,
        // the one at it is not.
        let unit = 2f64.powi(-53);
        if t > 0 {
            assert!(((t - 1) as f64) * unit < p, "p = {p}");
        }
        if t < 1 << 53 {
            assert!((t as f64) * unit >= p, "p = {p}");
        }
    }
}

/// Forward output and the gradient through two dropouts of one input (a
/// fresh and an accumulating backward pass), for a tensor with `n` elements.
fn forward_and_gradient(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut tape = Tape::new();
    let mut data_rng = rng_from_seed(seed);
    let x = Tensor::from_vec(
        (0..n).map(|_| data_rng.random::<f64>() - 0.5).collect(),
        &[n],
    )
    .unwrap();
    let x = tape.param(x).unwrap();
    let mut rng = rng_from_seed(seed + 1);
    let a = tape.dropout(x, 0.6, Mode::Train, &mut rng).unwrap();
    let b = tape.dropout(x, 0.3, Mode::Train, &mut rng).unwrap();
    let s = tape.add(a, b).unwrap();
    let w = tape.input(Tensor::from_vec((0..n).map(|i| 1.0 + i as f64).collect(), &[n]).unwrap());
    let s = tape.mul(s, w).unwrap();
    let loss = tape.sum(s).unwrap();
    tape.backward(loss).unwrap();
    let value = tape.value(a).unwrap().data().to_vec();
    (value, tape.grad(x).unwrap().data().to_vec())
}

#[test]
fn masks_follow_the_element_formula_at_any_size_and_thread_count() {
    // Sizes below, at and past the size at which the work is split over
    // threads (not multiples of it).
    for n in [1usize, 7, 65_536, 65_537, 3 * 65_536 + 17, 300_007] {
        let mut rng = rng_from_seed(10 + 1);
        let (ka, kb) = (
            CounterRng::from_rng(&mut rng),
            CounterRng::from_rng(&mut rng),
        );
        let (ta, tb) = (CounterRng::threshold(0.6), CounterRng::threshold(0.3));
        let mut results = Vec::new();
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            results.push(pool.install(|| forward_and_gradient(n, 10)));
        }
        let (value, grad) = &results[0];
        let mut data_rng = rng_from_seed(10);
        for i in 0..n {
            let x = data_rng.random::<f64>() - 0.5;
            let keep_a = ka.below(i as u64, ta);
            let keep_b = kb.below(i as u64, tb);
            let want = if keep_a { x * (1.0 / 0.6) } else { 0.0 };
            assert_eq!(value[i].to_bits(), want.to_bits(), "n = {n}, i = {i}");
            let w = 1.0 + i as f64;
            // The first contribution to reach x (from b, recorded last)
            // overwrites, the second adds.
            let gb = w * if keep_b { 1.0 / 0.3 } else { 0.0 };
            let ga = w * if keep_a { 1.0 / 0.6 } else { 0.0 };
            assert_eq!(grad[i].to_bits(), (gb + ga).to_bits(), "n = {n}, i = {i}");
        }
        for r in &results[1..] {
            assert_eq!(
                r, &results[0],
                "n = {n}: bits changed with the thread count"
            );
        }
    }
}

#[test]
fn dropped_units_are_zero_whatever_the_input() {
    let mut tape = Tape::new();
    let n = 40_000;
    let specials = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        -3.0,
        f64::MAX,
    ];
    let x: Vec<f64> = (0..n).map(|i| specials[i % specials.len()]).collect();
    let xv = tape.input(Tensor::from_vec(x.clone(), &[n]).unwrap());
    let key = CounterRng::from_rng(&mut rng_from_seed(6));
    let y = tape
        .dropout(xv, 0.5, Mode::Train, &mut rng_from_seed(6))
        .unwrap();
    let t = CounterRng::threshold(0.5);
    for (i, (&y, &x)) in tape.value(y).unwrap().data().iter().zip(&x).enumerate() {
        let want = if key.below(i as u64, t) { x * 2.0 } else { 0.0 };
        assert_eq!(y.to_bits(), want.to_bits(), "i = {i}, x = {x}");
    }
}

#[test]
fn each_call_takes_one_draw_from_the_callers_generator() {
    let mut tape = Tape::new();
    let x = tape.input(Tensor::ones(&[1000]));
    let mut rng = rng_from_seed(8);
    let mut expected: Rng = rng.clone();
    tape.dropout(x, 0.5, Mode::Train, &mut rng).unwrap();
    let _ = expected.random::<u64>();
    assert_eq!(rng, expected, "one draw per training call");
    // Test mode, keep 1 and a refused p draw nothing.
    tape.dropout(x, 0.5, Mode::Test, &mut rng).unwrap();
    tape.dropout(x, 1.0, Mode::Train, &mut rng).unwrap();
    assert!(tape.dropout(x, 1.5, Mode::Train, &mut rng).is_err());
    assert_eq!(rng, expected);
    // Successive calls draw different masks; a clone of the generator
    // repeats them (which is what an exact resume relies on).
    let saved = rng.clone();
    let masks: Vec<Vec<f64>> = (0..50)
        .map(|_| {
            let y = tape.dropout(x, 0.5, Mode::Train, &mut rng).unwrap();
            tape.value(y).unwrap().data().to_vec()
        })
        .collect();
    for (i, a) in masks.iter().enumerate() {
        for b in &masks[i + 1..] {
            assert_ne!(a, b, "two calls drew the same mask");
        }
    }
    let mut again = saved;
    let y = tape.dropout(x, 0.5, Mode::Train, &mut again).unwrap();
    assert_eq!(tape.value(y).unwrap().data(), &masks[0][..]);
}
