//! `gemm`: every path this CPU can run ([`GemmPath`]) correct against a
//! naive loop, and bit-for-bit independent of the thread count
//! (`RAYON_NUM_THREADS`, and `MATMUL_NUM_THREADS` for matrixmultiply's own
//! threading, 1, 2 or 4); sizes that overflow or exceed the buffers are
//! errors, never memory access.
//!
//! Thread counts and `GRADTAPE_GEMM` are read once per process, so those
//! tests run this test binary again as child processes (the ignored tests
//! `dump_for_thread_count_check` and `print_selected_path`), each with a
//! different environment, and compare what they report.

use gradtape_core::{gemm, try_gemm, try_gemm_with, GemmError, GemmPath};
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

/// The paths this CPU can run (at least the two on matrixmultiply).
fn paths() -> Vec<GemmPath> {
    let p: Vec<GemmPath> = GemmPath::ALL
        .into_iter()
        .filter(|p| p.is_supported())
        .collect();
    assert!(p.contains(&GemmPath::Fallback) && p.contains(&GemmPath::MatrixmultiplyThreaded));
    p
}

/// `gemm` on a forced path.
#[allow(clippy::too_many_arguments)]
fn gemm_on(
    path: GemmPath,
    m: usize,
    k: usize,
    n: usize,
    alpha: f64,
    a: &[f64],
    a_t: bool,
    b: &[f64],
    b_t: bool,
    beta: f64,
    c: &mut [f64],
) {
    try_gemm_with(path, m, k, n, alpha, a, a_t, b, b_t, beta, c).expect("valid sizes");
}

/// Runs `gemm` on `path` and checks it against `naive` on the given rows,
/// within 1e-12 relative (to the sum of the magnitudes of the terms).
#[allow(clippy::too_many_arguments)]
fn check(
    path: GemmPath,
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
    gemm_on(path, m, k, n, alpha, &a, a_t, &b, b_t, beta, &mut c);
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
            "{path}: gemm({m}, {k}, {n}, a_t={a_t}, b_t={b_t}, alpha={alpha}, beta={beta}): \
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
        // Blocks of the threaded matrixmultiply path: rows not a multiple
        // of its 8-row tiles, split in two.
        (203, 300, 77),
        // The avx2 path's loop for a short C (24 to 120 rows): every height
        // of the last row sliver (1 to 6 rows), B in several groups of 64
        // columns with a partial last sliver, k past one block; and the
        // shortest and tallest such C, and the first taller one.
        (24, 260, 131),
        (25, 260, 131),
        (26, 300, 70),
        (27, 257, 200),
        (28, 513, 67),
        (29, 100, 205),
        (23, 260, 131),
        (120, 300, 131),
        (121, 300, 131),
    ];
    for path in paths() {
        for (m, k, n) in sizes {
            for (a_t, b_t) in TRANSPOSES {
                for (alpha, beta) in ALPHA_BETA {
                    check(path, m, k, n, a_t, b_t, alpha, beta, 1);
                }
            }
        }
    }
}

#[test]
fn k_zero_scales_c_by_beta_and_beta_zero_never_reads_c() {
    for path in paths() {
        let mut c = vec![2.0, -4.0, 6.0];
        gemm_on(path, 1, 0, 3, 1.0, &[], false, &[], false, 0.5, &mut c);
        assert_eq!(c, [1.0, -2.0, 3.0]);
        let mut c = vec![f64::NAN; 3];
        gemm_on(path, 3, 0, 1, 1.0, &[], true, &[], true, 0.0, &mut c);
        assert_eq!(c, [0.0; 3]);
        let mut c = vec![f64::NAN; 6];
        gemm_on(
            path, 2, 2, 3, 1.0, &[1.0; 4], false, &[1.0; 6], false, 0.0, &mut c,
        );
        assert_eq!(c, [2.0; 6]);
    }
}

#[test]
fn short_buffer_is_an_error_naming_the_operand() {
    let mut c = vec![0.0; 3];
    let err = try_gemm(
        2, 2, 2, 1.0, &[1.0; 4], false, &[1.0; 4], false, 0.0, &mut c,
    )
    .unwrap_err();
    assert_eq!(
        err,
        GemmError::BufferTooShort {
            operand: "c",
            rows: 2,
            cols: 2,
            needed: 4,
            len: 3
        }
    );
    assert_eq!(
        err.to_string(),
        "gemm: c is 2 x 2 = 4 values but its buffer holds 3"
    );
}

#[test]
#[should_panic(expected = "gemm: c is 2 x 2 = 4 values but its buffer holds 3")]
fn short_buffer_panics_with_the_message() {
    let mut c = vec![0.0; 3];
    gemm(
        2, 2, 2, 1.0, &[1.0; 4], false, &[1.0; 4], false, 0.0, &mut c,
    );
}

/// Issue 11: `m * k` wrapped around in release builds, so this passed the
/// length check and the kernel read far out of bounds (SIGSEGV).
#[test]
#[should_panic(
    expected = "gemm: a is 2 x 9223372036854775808, whose element count overflows usize"
)]
fn overflowing_k_panics_with_a_message_instead_of_reading_out_of_bounds() {
    let mut c = vec![0.0; 4];
    gemm(
        2,
        1 << 63,
        2,
        1.0,
        &[1.0; 4],
        false,
        &[1.0; 4],
        false,
        0.0,
        &mut c,
    );
}

/// Every combination of huge, overflowing and small dimensions, on every
/// path, with small buffers: an error exactly when an element count
/// overflows or exceeds its buffer (computed here in u128), and otherwise
/// the right product. A wrapped check would call the kernel with huge sizes
/// and crash the test process.
#[test]
fn huge_and_overflowing_sizes_are_errors_never_memory_access() {
    let mut dims: Vec<usize> = vec![
        0,
        1,
        2,
        3,
        4,
        1 << 31,
        1 << 32,
        (1 << 32) + 1,
        1 << 62,
        1 << 63,
        (1 << 63) + 1,
        usize::MAX / 2,
        usize::MAX - 1,
        usize::MAX,
    ];
    // And some random ones, from a fixed seed.
    let mut s = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..6 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        dims.push(s as usize >> (s % 40));
    }
    let (a, b) = (values(8, 1), values(8, 2));
    let mut tried = 0;
    for path in paths() {
        for &m in &dims {
            for &k in &dims {
                for &n in &dims {
                    for (a_t, b_t) in [(false, false), (true, true)] {
                        let mut c = vec![0.5; 8];
                        let got = try_gemm_with(path, m, k, n, 1.0, &a, a_t, &b, b_t, 1.0, &mut c);
                        let need = |r: usize, q: usize| r as u128 * q as u128;
                        let ok = need(m, k) <= 8 && need(k, n) <= 8 && need(m, n) <= 8;
                        let overflow = need(m, k) > usize::MAX as u128
                            || need(k, n) > usize::MAX as u128
                            || need(m, n) > usize::MAX as u128;
                        match got {
                            Ok(()) => {
                                assert!(ok, "{path}: gemm({m}, {k}, {n}) accepted");
                                let want =
                                    naive(m, k, n, 1.0, &a, a_t, &b, b_t, 1.0, &[0.5; 8], 0..m);
                                for (i, j, r, bound) in want {
                                    assert!((c[i * n + j] - r).abs() <= 1e-12 * bound);
                                }
                                assert!(c[m * n..].iter().all(|&x| x == 0.5), "wrote past C");
                            }
                            Err(GemmError::SizeOverflow { .. }) => {
                                assert!(overflow, "{path}: gemm({m}, {k}, {n}) overflow?")
                            }
                            Err(GemmError::BufferTooShort { needed, len, .. }) => {
                                assert!(!ok && needed > len, "{path}: {m} {k} {n}")
                            }
                            Err(e) => panic!("{path}: gemm({m}, {k}, {n}): {e}"),
                        }
                        tried += 1;
                    }
                }
            }
        }
    }
    assert!(tried >= 2 * 2 * 20 * 20 * 20);
}

#[test]
fn a_path_the_cpu_lacks_is_an_error_naming_the_feature() {
    for path in GemmPath::ALL {
        let mut c = [0.0; 1];
        let got = try_gemm_with(
            path,
            1,
            1,
            1,
            1.0,
            &[2.0],
            false,
            &[3.0],
            false,
            0.0,
            &mut c,
        );
        match path.missing_features() {
            None => assert_eq!((got, c), (Ok(()), [6.0])),
            Some(missing) => {
                let e = got.unwrap_err();
                assert_eq!(e, GemmError::Unsupported { path, missing });
                assert!(e.to_string().contains(missing));
            }
        }
    }
}

/// Child of `gradtape_gemm_forces_a_path`: prints the selected path.
#[test]
#[ignore = "child process of gradtape_gemm_forces_a_path"]
fn print_selected_path() {
    println!("PATH\t{}", GemmPath::selected());
}

#[test]
fn gradtape_gemm_forces_a_path() {
    let exe = std::env::current_exe().expect("path of this test binary");
    let run = |value: &str| {
        let out = Command::new(&exe)
            .args(["print_selected_path", "--exact", "--ignored", "--nocapture"])
            .env("GRADTAPE_GEMM", value)
            .output()
            .expect("run the child");
        assert!(out.status.success());
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let path = stdout
            .lines()
            .find_map(|l| l.strip_prefix("PATH\t"))
            .expect("a PATH line")
            .to_string();
        (path, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let auto = GemmPath::auto().name();
    assert_eq!(run("auto").0, auto);
    assert_eq!(run("").0, auto);
    assert_eq!(run("fallback"), ("fallback".into(), String::new()));
    assert_eq!(
        run("matrixmultiply-threaded"),
        ("matrixmultiply-threaded".into(), String::new())
    );
    let (path, err) = run("avx512");
    assert_eq!(path, "matrixmultiply-threaded");
    let has_avx512 = cfg!(target_arch = "x86_64") && GemmPath::cpu_features().contains("avx512f");
    assert_eq!(err.contains("lacks avx512f"), !has_avx512, "{err}");
    let (path, err) = run("avx2");
    if GemmPath::Avx2.is_supported() {
        assert_eq!((path.as_str(), err.as_str()), ("avx2", ""));
    } else {
        assert_eq!(path, "fallback");
        assert!(err.contains("lacks avx2 and fma"), "{err}");
    }
    let (path, err) = run("fastest");
    assert_eq!(path, auto);
    assert!(err.contains("unknown gemm path \"fastest\""), "{err}");
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
    for path in paths() {
        for (_, m, k, n, a_t, b_t) in STEP_SHAPES {
            // Every 13th row is enough to catch a wrong block, and keeps the
            // naive loop quick in debug builds.
            check(path, m, k, n, a_t, b_t, 1.0, 1.0, 13);
        }
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

/// One case per (path, shape, alpha, beta): the path's result and, with
/// alpha 1, plain single-orientation `matrixmultiply::dgemm` on the same
/// data.
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
        (203, 300, 77),
        (7, 3, 5),
        (997, 601, 3),
        (3, 601, 997),
        // A short C (the avx2 path's own loop), threaded over its columns
        // and with a partial last row sliver, and a C just too tall for it.
        (101, 520, 130),
        (29, 300, 205),
        (125, 260, 70),
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
                // SAFETY: with these strides dgemm reads a[..m * k] and
                // b[..k * n] and writes r[..m * n], the lengths `values`
                // returned; `r` is a separate vector.
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
            for path in paths() {
                let mut c = c0.clone();
                gemm_on(path, m, k, n, alpha, &a, a_t, &b, b_t, beta, &mut c);
                out.push((format!("{path},{case}"), bits_hash(&c), plain));
            }
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

/// Every path gives the same bits on 1, 2 and 4 threads. Besides: the
/// `avx2` path equals single-threaded plain `dgemm` (on AVX2 + FMA CPUs
/// without AVX-512, where that is matrixmultiply's FMA kernel: the same
/// chain of FMAs per element), and the threaded matrixmultiply path equals the fallback
/// (the same dgemm calls, split into blocks of whole tiles). On an AVX2 +
/// FMA CPU without AVX-512, all three agree when alpha is 1.
#[test]
fn bit_identical_across_thread_counts() {
    let exe = std::env::current_exe().expect("path of this test binary");
    // threads -> case -> (path's hash, plain dgemm hash)
    let mut runs: BTreeMap<&str, BTreeMap<String, (String, String)>> = BTreeMap::new();
    // (MATMUL_NUM_THREADS, RAYON_NUM_THREADS): the threaded matrixmultiply
    // path splits over rayon only when matrixmultiply is single-threaded.
    for (threads, mm, ray) in [
        ("1", "1", "1"),
        ("2", "2", "2"),
        ("4", "4", "4"),
        ("rayon 2", "1", "2"),
        ("rayon 4", "1", "4"),
    ] {
        let out = Command::new(&exe)
            .args([
                "dump_for_thread_count_check",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("MATMUL_NUM_THREADS", mm)
            .env("RAYON_NUM_THREADS", ray)
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
            cases.len() >= 2 * 200,
            "child with {threads} threads printed {} cases",
            cases.len()
        );
        runs.insert(threads, cases);
    }
    let one = &runs["1"];
    let fma_only = GemmPath::cpu_features() == "avx2 fma";
    for (threads, cases) in &runs {
        assert_eq!(cases.len(), one.len());
        for (case, (bits, _)) in cases {
            let (bits1, plain1) = &one[case];
            assert_eq!(
                bits, bits1,
                "{case}: bits differ between 1 and {threads} threads"
            );
            // Plain dgemm runs matrixmultiply's FMA kernel only on a CPU
            // without AVX-512 (with it, its AVX-512 kernel, whose bits may
            // differ): the claim is made there alone.
            if case.starts_with("avx2,") && plain1 != "-" && fma_only {
                assert_eq!(
                    bits, plain1,
                    "{case}: avx2 path ({threads} threads) differs from single-threaded dgemm"
                );
            }
            if let Some(rest) = case.strip_prefix("matrixmultiply-threaded,") {
                let (fallback1, _) = &one[&format!("fallback,{rest}")];
                assert_eq!(
                    bits, fallback1,
                    "{case}: threaded path ({threads} threads) differs from the fallback on 1 thread"
                );
                // With alpha 1, as every op calls it, on a CPU where
                // matrixmultiply runs its FMA kernel: all three paths agree,
                // so results do not depend on the path here.
                if fma_only && rest.contains(",alpha=1,") {
                    let (avx2_1, _) = &one[&format!("avx2,{rest}")];
                    assert_eq!(bits, avx2_1, "{case}: differs from the avx2 path");
                }
            }
        }
    }
}
