//! `gemm`: correct against a naive loop, and bit-for-bit independent of the
//! thread count (`RAYON_NUM_THREADS`, and `MATMUL_NUM_THREADS` for the
//! matrixmultiply fallback, 1, 2 or 4).
//!
//! Both read their thread count once per process, so the thread-count test
//! runs this test binary again as child processes (the ignored test
//! `dump_for_thread_count_check`), each with a different environment, and
//! compares the bit patterns they report.

use gradtape_core::{gemm, gemm_fallback};
use std::collections::BTreeMap;
use std::process::Command;

/// Deterministic values in [-1, 1) (xorshift64*).
fn values(len: usize, mut seed: u64) -> Vec<f64> {
    seed = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            let u = (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
            2.0 * u - 1.0
        })
        .collect()
}

/// Reference: c[i, j] = alpha * sum_p op(a)[i, p] op(b)[p, j] + beta * c[i, j],
/// and `bound[i, j]` = alpha * sum |..| + |beta c| to scale the tolerance.
#[allow(clippy::too_many_arguments)]
fn naive(
    m: usize,
    k: usize,
    n: usize,
    alpha: f64,
    a: &[f64],
    a_t: bool,
    b: &[f64],
    b_t: bool,
    beta: f64,
    c: &[f64],
    rows: impl Iterator<Item = usize>,
) -> Vec<(usize, usize, f64, f64)> {
    let at = |i: usize, p: usize| if a_t { a[p * m + i] } else { a[i * k + p] };
    let bt = |p: usize, j: usize| if b_t { b[j * k + p] } else { b[p * n + j] };
    let mut out = Vec::new();
    for i in rows {
        for j in 0..n {
            let (mut s, mut mag) = (0.0, 0.0);
            for p in 0..k {
                s += at(i, p) * bt(p, j);
                mag += (at(i, p) * bt(p, j)).abs();
            }
            let c0 = if beta == 0.0 {
                0.0
            } else {
                beta * c[i * n + j]
            };
            out.push((i, j, alpha * s + c0, alpha.abs() * mag + c0.abs()));
        }
    }
    out
}

/// `gemm`'s signature: the engine's product, or the fallback.
type Gemm = fn(usize, usize, usize, f64, &[f64], bool, &[f64], bool, f64, &mut [f64]);

/// Runs `gemm` and checks it against `naive` on the given rows, within 1e-12
/// relative (to the sum of the magnitudes of the terms).
#[allow(clippy::too_many_arguments)]
fn check(
    gemm: Gemm,
    m: usize,
    k: usize,
    n: usize,
    a_t: bool,
    b_t: bool,
    alpha: f64,
    beta: f64,
    row_step: usize,
) {
    let a = values(m * k, (m * 31 + k) as u64);
    let b = values(k * n, (k * 17 + n) as u64);
    let c0 = values(m * n, (m + n * 7) as u64);
    // beta == 0: C must not be read, so fill it with NaN.
    let mut c: Vec<f64> = if beta == 0.0 {
        vec![f64::NAN; m * n]
    } else {
        c0.clone()
    };
    gemm(m, k, n, alpha, &a, a_t, &b, b_t, beta, &mut c);
    let want = naive(
        m,
        k,
        n,
        alpha,
        &a,
        a_t,
        &b,
        b_t,
        beta,
        &c0,
        (0..m).step_by(row_step),
    );
    for (i, j, r, bound) in want {
        let got = c[i * n + j];
        assert!(
            (got - r).abs() <= 1e-12 * bound + f64::MIN_POSITIVE,
            "gemm({m}, {k}, {n}, a_t={a_t}, b_t={b_t}, alpha={alpha}, beta={beta}): \
             c[{i}, {j}] = {got}, naive {r}"
        );
    }
}

const TRANSPOSES: [(bool, bool); 4] = [(false, false), (true, false), (false, true), (true, true)];
const ALPHA_BETA: [(f64, f64); 4] = [(1.0, 0.0), (1.0, 1.0), (0.5, -2.0), (-1.5, 0.0)];

#[test]
fn matches_naive_on_odd_and_empty_sizes() {
    let sizes = [
        (1, 1, 1),
        (7, 3, 5),
        (5, 3, 7),
        (0, 3, 5),
        (7, 0, 5),
        (7, 3, 0),
        (0, 0, 0),
        (1, 9, 1),
        (13, 17, 11),
        (9, 33, 65),
        // Large enough to run on several threads, in both orientations,
        // with edges that are not whole micro-tiles and k past one block.
        (130, 257, 67),
        (67, 257, 130),
        (101, 300, 203),
        // Narrow: computed turned around (C^T = B^T A^T), also threaded.
        (997, 601, 3),
        (3, 601, 997),
    ];
    for (m, k, n) in sizes {
        for (a_t, b_t) in TRANSPOSES {
            for (alpha, beta) in ALPHA_BETA {
                check(gemm, m, k, n, a_t, b_t, alpha, beta, 1);
                // The path CPUs without AVX2 and FMA take.
                check(gemm_fallback, m, k, n, a_t, b_t, alpha, beta, 1);
            }
        }
    }
}

#[test]
fn k_zero_scales_c_by_beta_and_beta_zero_never_reads_c() {
    let mut c = vec![2.0, -4.0, 6.0];
    gemm(1, 0, 3, 1.0, &[], false, &[], false, 0.5, &mut c);
    assert_eq!(c, [1.0, -2.0, 3.0]);
    let mut c = vec![f64::NAN; 3];
    gemm(3, 0, 1, 1.0, &[], true, &[], true, 0.0, &mut c);
    assert_eq!(c, [0.0; 3]);
    let mut c = vec![f64::NAN; 6];
    gemm(
        2, 2, 3, 1.0, &[1.0; 4], false, &[1.0; 6], false, 0.0, &mut c,
    );
    assert_eq!(c, [2.0; 6]);
}

#[test]
#[should_panic(expected = "gemm: buffer too short")]
fn short_buffer_panics() {
    let mut c = vec![0.0; 3];
    gemm(
        2, 2, 2, 1.0, &[1.0; 4], false, &[1.0; 4], false, 0.0, &mut c,
    );
}

/// The products of one training step of the 3072-500-500-500-10 net, batch
/// 100 (the shapes of shared/bench/numpy_gemm.py), and two squares.
const STEP_SHAPES: [(&str, usize, usize, usize, bool, bool); 11] = [
    ("fwd1", 100, 3072, 500, false, false),
    ("fwd2", 100, 500, 500, false, false),
    ("fwd4", 100, 500, 10, false, false),
    ("dW1", 3072, 100, 500, true, false),
    ("dW2", 500, 100, 500, true, false),
    ("dW4", 500, 100, 10, true, false),
    ("dX1", 100, 500, 3072, false, true),
    ("dX2", 100, 500, 500, false, true),
    ("dX4", 100, 10, 500, false, true),
    ("sq130", 130, 130, 130, false, false),
    ("sq512", 512, 512, 512, false, false),
];

#[test]
fn step_shapes_match_naive() {
    for (_, m, k, n, a_t, b_t) in STEP_SHAPES {
        // Every 13th row is enough to catch a wrong block, and keeps the
        // naive loop quick in debug builds.
        check(gemm, m, k, n, a_t, b_t, 1.0, 1.0, 13);
        check(gemm_fallback, m, k, n, a_t, b_t, 1.0, 1.0, 13);
    }
}

/// A 64-bit FNV-1a hash of the bit patterns.
fn bits_hash(c: &[f64]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for x in c {
        for byte in x.to_bits().to_le_bytes() {
            h = (h ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// One case per (shape, alpha, beta): the engine's result and, with alpha 1,
/// plain single-orientation `matrixmultiply::dgemm` on the same data.
fn dump_cases() -> Vec<(String, u64, Option<u64>)> {
    let mut out = Vec::new();
    let mut shapes: Vec<(String, usize, usize, usize, bool, bool)> = STEP_SHAPES
        .iter()
        .map(|&(name, m, k, n, a_t, b_t)| (name.to_string(), m, k, n, a_t, b_t))
        .collect();
    for (m, k, n) in [
        (130, 257, 67),
        (67, 257, 130),
        (101, 300, 203),
        (7, 3, 5),
        (997, 601, 3),
        (3, 601, 997),
    ] {
        for (a_t, b_t) in TRANSPOSES {
            shapes.push((format!("{m}x{k}x{n}"), m, k, n, a_t, b_t));
        }
    }
    for (name, m, k, n, a_t, b_t) in shapes {
        let a = values(m * k, 1 + m as u64);
        let b = values(k * n, 2 + n as u64);
        let c0 = values(m * n, 3 + k as u64);
        for (alpha, beta) in ALPHA_BETA {
            let mut c = c0.clone();
            gemm(m, k, n, alpha, &a, a_t, &b, b_t, beta, &mut c);
            let plain = (alpha == 1.0).then(|| {
                let mut r = c0.clone();
                let (rsa, csa) = if a_t {
                    (1, m as isize)
                } else {
                    (k as isize, 1)
                };
                let (rsb, csb) = if b_t {
                    (1, k as isize)
                } else {
                    (n as isize, 1)
                };
                // SAFETY: dgemm reads m*k elements of a, k*n of b and writes
                // m*n of r, at the row and column strides of those row-major
                // (or, transposed, column-major) layouts; a, b and r were made
                // with exactly those lengths just above (small test shapes,
                // so the products do not overflow), and r is not aliased.
                unsafe {
                    matrixmultiply::dgemm(
                        m,
                        k,
                        n,
                        alpha,
                        a.as_ptr(),
                        rsa,
                        csa,
                        b.as_ptr(),
                        rsb,
                        csb,
                        beta,
                        r.as_mut_ptr(),
                        n as isize,
                        1,
                    );
                }
                bits_hash(&r)
            });
            let case = format!("{name},a_t={a_t},b_t={b_t},alpha={alpha},beta={beta}");
            // The fallback (threaded matrixmultiply) must not depend on the
            // thread count either.
            let mut f = c0.clone();
            gemm_fallback(m, k, n, alpha, &a, a_t, &b, b_t, beta, &mut f);
            out.push((format!("fallback,{case}"), bits_hash(&f), None));
            out.push((case, bits_hash(&c), plain));
        }
    }
    out
}

/// Child of `bit_identical_across_thread_counts`; prints one `DUMP` line per
/// case.
#[test]
#[ignore = "child process of bit_identical_across_thread_counts"]
fn dump_for_thread_count_check() {
    for (case, engine, plain) in dump_cases() {
        let plain = plain.map_or("-".to_string(), |h| format!("{h:016x}"));
        println!("DUMP\t{case}\t{engine:016x}\t{plain}");
    }
}

#[test]
fn bit_identical_across_thread_counts() {
    let exe = std::env::current_exe().expect("path of this test binary");
    // threads -> case -> (engine hash, plain dgemm hash)
    let mut runs: BTreeMap<&str, BTreeMap<String, (String, String)>> = BTreeMap::new();
    for threads in ["1", "2", "4"] {
        let out = Command::new(&exe)
            .args([
                "dump_for_thread_count_check",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("MATMUL_NUM_THREADS", threads)
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .expect("run the dump child");
        assert!(
            out.status.success(),
            "child with {threads} threads failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cases: BTreeMap<String, (String, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f.len() == 4 && f[0] == "DUMP")
                    .then(|| (f[1].to_string(), (f[2].to_string(), f[3].to_string())))
            })
            .collect();
        assert!(
            cases.len() >= 100,
            "child with {threads} threads printed {} cases",
            cases.len()
        );
        runs.insert(threads, cases);
    }
    let one = &runs["1"];
    for (threads, cases) in &runs {
        assert_eq!(cases.len(), one.len());
        for (case, (engine, _)) in cases {
            let (engine1, plain1) = &one[case];
            assert_eq!(
                engine, engine1,
                "{case}: engine bits differ between 1 and {threads} threads"
            );
            // The reference: single-threaded plain-orientation dgemm.
            if plain1 != "-" {
                assert_eq!(
                    engine, plain1,
                    "{case}: engine ({threads} threads) differs from single-threaded dgemm"
                );
            }
        }
    }
}
