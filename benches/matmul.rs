//! Matrix-product kernels side by side, on the shapes of one training step.
//!
//! ```text
//! cargo bench --bench matmul                  # every kernel, every shape
//! cargo bench --bench matmul -- engine fwd1   # filters: kernel labels / shape names (substrings)
//! cargo bench --bench matmul -- --sweep       # where threading starts to pay
//! benches/compare_numpy.sh                    # the same against numpy/OpenBLAS, as ratios
//! ```
//!
//! For each of the 12 shapes of `../shared/bench/numpy_gemm.py` (same names,
//! same transposition flags: a transposed operand is read through its
//! strides, as a backward pass sees it) it times C = op(A) op(B) with
//!
//! | label | what |
//! | --- | --- |
//! | `naive` | triple loop through the strides (products up to 110 MFLOP) |
//! | `blocked` | cache-blocked i-k-j loop on packed blocks, vectorised by the compiler (not sq2048) |
//! | `mm_1t` | `matrixmultiply::dgemm`, one thread |
//! | `mm_1t_mbig` | the same on the turned-around problem `C^T = op(B)^T op(A)^T` when `n > m`, so the longer side is dgemm's `m` |
//! | `rayon2_mm_1t` | C split in 2 blocks (rows or columns, whichever side is longer; split on a multiple of 8 so the bits do not change), one single-threaded dgemm per block on a 2-thread rayon pool |
//! | `rayon2_mm_1t_mbig` | the same, each block's dgemm turned around as in `mm_1t_mbig` |
//! | `gemmcrate_1t` | the `gemm` crate (faer's kernels), `Parallelism::None` |
//! | `engine_1t` | `gradtape::gemm` with `MATMUL_NUM_THREADS=1 RAYON_NUM_THREADS=1` |
//! | `mm_mt` | `matrixmultiply::dgemm` with its `threading` feature (threads: `MATMUL_NUM_THREADS`, default the physical core count, at most 4; it only threads when `m*k + k*n >= 32768`) |
//! | `mm_mt_mbig` | the same, turned around when `n > m` |
//! | `rayon2_mm_mt` | the rayon split over threaded dgemm (nested threading) |
//! | `gemmcrate_mt` | the `gemm` crate, `Parallelism::Rayon(rayon threads)` |
//! | `engine` | `gradtape::gemm` as a user gets it (environment as given): its own packed AVX2+FMA 6x8 kernel split over rayon threads (`crates/core/src/matmul`) |
//!
//! matrixmultiply reads `MATMUL_NUM_THREADS` once per process and has no
//! per-call switch, so this harness runs every shape in two child processes
//! of itself: one with `MATMUL_NUM_THREADS=1 RAYON_NUM_THREADS=1` (the `_1t`
//! kernels, `naive`, `blocked`, and the `rayon2_mm_1t` ones on their own
//! 2-thread pool) and one with the environment as given (the `_mt` kernels
//! and `engine`). The two children of a shape run back to back, so ratios
//! between them are measured under the same load.
//!
//! Output: first `PEAK` lines (`PEAK<TAB>loop<TAB>threads<TAB>GFLOP/s`: f64
//! FMA peak from a short loop of 12 independent 4-wide FMA chains, best of 5
//! runs of 0.1 s, on one core and on all cores at once), then one line per
//! (kernel, shape) in numpy_gemm.py's format plus three columns:
//! `RESULT<TAB>label<TAB>shape<TAB>m<TAB>k<TAB>n<TAB>GFLOP/s<TAB>ms<TAB>frac_machine_peak<TAB>threads<TAB>frac_peak_of_threads_used`.
//! Timing is numpy_gemm.py's `time_it`: median of up to 5 batches of ~70 ms.
//! Every kernel's result is checked against `matrixmultiply` (relative error
//! at most 1e-12), and the harness exits non-zero on a mismatch.

use std::env;
use std::hint::black_box;
use std::process::{exit, Command};
use std::time::Instant;

struct Shape {
    name: &'static str,
    m: usize,
    k: usize,
    n: usize,
    a_t: bool,
    b_t: bool,
}

const fn shape(name: &'static str, m: usize, k: usize, n: usize, a_t: bool, b_t: bool) -> Shape {
    Shape {
        name,
        m,
        k,
        n,
        a_t,
        b_t,
    }
}

/// The shapes of numpy_gemm.py, in its order: C = op(A) (m x k) * op(B) (k x n).
const SHAPES: [Shape; 12] = [
    shape("fwd1 X@W1 100x3072*3072x500", 100, 3072, 500, false, false),
    shape("fwd2 H@W2 100x500*500x500", 100, 500, 500, false, false),
    shape("fwd4 H@W4 100x500*500x10", 100, 500, 10, false, false),
    shape("dW1 X^T@dY 3072x100*100x500", 3072, 100, 500, true, false),
    shape("dW2 H^T@dY 500x100*100x500", 500, 100, 500, true, false),
    shape("dW4 H^T@dY 500x100*100x10", 500, 100, 10, true, false),
    shape("dX1 dY@W1^T 100x500*500x3072", 100, 500, 3072, false, true),
    shape("dX2 dY@W2^T 100x500*500x500", 100, 500, 500, false, true),
    shape("dX4 dY@W4^T 100x10*10x500", 100, 10, 500, false, true),
    shape("sq512", 512, 512, 512, false, false),
    shape("sq1024", 1024, 1024, 1024, false, false),
    shape("sq2048", 2048, 2048, 2048, false, false),
];

/// The naive loop only runs up to this many flops per product (it is slow).
const NAIVE_MAX_FLOPS: f64 = 1.1e8;
/// The blocked loop skips sq2048 (17 GFLOP; seconds per call).
const BLOCKED_MAX_FLOPS: f64 = 2.2e9;

// ---------------------------------------------------------------- timing

/// numpy_gemm.py's `time_it`: warm up ~50 ms, then up to `nbatch` batches of
/// ~70 ms (fewer if that would pass `max_total_s`); median seconds per call.
/// Returns (GFLOP/s, ms).
fn time_it(mut f: impl FnMut(), flops: f64, max_total_s: f64) -> (f64, f64) {
    let once = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64().max(1e-7)
    };
    let one = once(&mut f);
    for _ in 0..((0.05 / one) as usize).min(1000) {
        f();
    }
    let one = once(&mut f);
    let reps = ((0.07 / one) as usize).max(1);
    let mut nbatch = 5;
    if one * (reps * nbatch) as f64 > max_total_s {
        nbatch = ((max_total_s / (one * reps as f64)) as usize).max(1);
    }
    let mut per: Vec<f64> = (0..nbatch)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    per.sort_by(f64::total_cmp);
    let med = per[per.len() / 2];
    (flops / med / 1e9, med * 1e3)
}

// ---------------------------------------------------------------- FMA peak

const FMA_ACC: usize = 12;

/// `iters` rounds of FMA_ACC independent 4-wide f64 FMAs (latency 4-5 cycles
/// times 2 FMA pipes needs at least 8-10 chains in flight). Returns a value
/// that depends on every accumulator so nothing is optimised away.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_loop_avx2(iters: u64) -> f64 {
    use std::arch::x86_64::*;
    let x = _mm256_set1_pd(black_box(0.999_999_9));
    let y = _mm256_set1_pd(black_box(1e-7));
    let mut acc = [_mm256_setzero_pd(); FMA_ACC];
    for (i, a) in acc.iter_mut().enumerate() {
        *a = _mm256_set1_pd(1.0 + i as f64 * 1e-3);
    }
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_pd(*a, x, y);
        }
    }
    let mut out = [0.0f64; 4];
    let mut s = _mm256_setzero_pd();
    for a in acc {
        s = _mm256_add_pd(s, a);
    }
    _mm256_storeu_pd(out.as_mut_ptr(), s);
    out.iter().sum()
}

/// Portable fallback: FMA_ACC scalar chains of `a * x + y` (2 flops each).
fn fma_loop_scalar(iters: u64) -> f64 {
    let (x, y) = (black_box(0.999_999_9), black_box(1e-7));
    let mut acc = [0.0f64; FMA_ACC];
    for (i, a) in acc.iter_mut().enumerate() {
        *a = 1.0 + i as f64 * 1e-3;
    }
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = *a * x + y;
        }
    }
    acc.iter().sum()
}

fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Flops per iteration of the loop that `fma_loop` runs.
fn fma_flops_per_iter() -> f64 {
    if has_avx2_fma() {
        (FMA_ACC * 4 * 2) as f64
    } else {
        (FMA_ACC * 2) as f64
    }
}

fn fma_loop(iters: u64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the features the function is compiled for were detected.
        return unsafe { fma_loop_avx2(iters) };
    }
    fma_loop_scalar(iters)
}

/// Peak GFLOP/s of `threads` threads each running the FMA loop at once: the
/// best of 5 runs of ~0.1 s (noise only ever lowers it).
fn fma_peak(threads: usize) -> f64 {
    let t = Instant::now();
    black_box(fma_loop(1_000_000));
    let per_iter = t.elapsed().as_secs_f64() / 1e6;
    let iters = ((0.1 / per_iter) as u64).max(1000);
    let mut best = 0.0f64;
    for _ in 0..5 {
        let t = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| black_box(fma_loop(black_box(iters))));
            }
        });
        let secs = t.elapsed().as_secs_f64();
        best = best.max(threads as f64 * iters as f64 * fma_flops_per_iter() / secs / 1e9);
    }
    best
}

// ---------------------------------------------------------------- kernels

/// Strides of op(A) (m x k) and op(B) (k x n) in row-major storage.
fn strides(s: &Shape) -> (isize, isize, isize, isize) {
    let (m, k, n) = (s.m as isize, s.k as isize, s.n as isize);
    let (rsa, csa) = if s.a_t { (1, m) } else { (k, 1) };
    let (rsb, csb) = if s.b_t { (1, k) } else { (n, 1) };
    (rsa, csa, rsb, csb)
}

fn naive(s: &Shape, a: &[f64], b: &[f64], c: &mut [f64]) {
    let (rsa, csa, rsb, csb) = strides(s);
    let (rsa, csa, rsb, csb) = (rsa as usize, csa as usize, rsb as usize, csb as usize);
    for i in 0..s.m {
        for j in 0..s.n {
            let mut acc = 0.0;
            for p in 0..s.k {
                acc += a[i * rsa + p * csa] * b[p * rsb + j * csb];
            }
            c[i * s.n + j] = acc;
        }
    }
}

const MB: usize = 64;
const KB: usize = 128;
const NB: usize = 256;

/// C[i0.., j0..] += Ap (mb x kb) * Bp (kb x nb), both packed row-major.
#[inline(always)]
fn block_body(mb: usize, kb: usize, nb: usize, ap: &[f64], bp: &[f64], c: &mut [f64], ldc: usize) {
    for i in 0..mb {
        let crow = &mut c[i * ldc..][..nb];
        for p in 0..kb {
            let aip = ap[i * kb + p];
            for (cj, bj) in crow.iter_mut().zip(&bp[p * nb..][..nb]) {
                *cj += aip * bj;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_avx2(
    mb: usize,
    kb: usize,
    nb: usize,
    ap: &[f64],
    bp: &[f64],
    c: &mut [f64],
    ldc: usize,
) {
    block_body(mb, kb, nb, ap, bp, c, ldc)
}

/// A simple cache-blocked product: pack a KB x NB block of op(B) and an
/// MB x KB block of op(A), then the i-k-j loop above, which the compiler
/// vectorises (4-wide with AVX2, detected at run time).
fn blocked(s: &Shape, a: &[f64], b: &[f64], c: &mut [f64], ap: &mut [f64], bp: &mut [f64]) {
    let (rsa, csa, rsb, csb) = strides(s);
    let (rsa, csa, rsb, csb) = (rsa as usize, csa as usize, rsb as usize, csb as usize);
    let (m, k, n) = (s.m, s.k, s.n);
    let avx2 = has_avx2_fma();
    c[..m * n].fill(0.0);
    for j0 in (0..n).step_by(NB) {
        let nb = NB.min(n - j0);
        for p0 in (0..k).step_by(KB) {
            let kb = KB.min(k - p0);
            for p in 0..kb {
                for j in 0..nb {
                    bp[p * nb + j] = b[(p0 + p) * rsb + (j0 + j) * csb];
                }
            }
            for i0 in (0..m).step_by(MB) {
                let mb = MB.min(m - i0);
                for i in 0..mb {
                    for p in 0..kb {
                        ap[i * kb + p] = a[(i0 + i) * rsa + (p0 + p) * csa];
                    }
                }
                let cblk = &mut c[i0 * n + j0..];
                #[cfg(target_arch = "x86_64")]
                if avx2 {
                    // SAFETY: AVX2 was detected.
                    unsafe { block_avx2(mb, kb, nb, ap, bp, cblk, n) };
                    continue;
                }
                let _ = avx2;
                block_body(mb, kb, nb, ap, bp, cblk, n);
            }
        }
    }
}

/// `matrixmultiply::dgemm` of C = op(A) op(B), C row-major (m x n). With
/// `mbig` and `n > m` it computes the transposed problem C^T = op(B)^T op(A)^T
/// instead (C^T is C read column-major), so that the longer side is dgemm's
/// `m`: matrixmultiply threads its loop over `m` and packs the `n` side
/// serially.
fn mm(s: &Shape, a: &[f64], b: &[f64], c: &mut [f64], mbig: bool) {
    let (rsa, csa, rsb, csb) = strides(s);
    assert!(a.len() >= s.m * s.k && b.len() >= s.k * s.n && c.len() >= s.m * s.n);
    // SAFETY: the strides stay inside the buffers (checked above).
    unsafe {
        if mbig && s.n > s.m {
            matrixmultiply::dgemm(
                s.n,
                s.k,
                s.m,
                1.0,
                b.as_ptr(),
                csb,
                rsb,
                a.as_ptr(),
                csa,
                rsa,
                0.0,
                c.as_mut_ptr(),
                1,
                s.n as isize,
            );
        } else {
            matrixmultiply::dgemm(
                s.m,
                s.k,
                s.n,
                1.0,
                a.as_ptr(),
                rsa,
                csa,
                b.as_ptr(),
                rsb,
                csb,
                0.0,
                c.as_mut_ptr(),
                s.n as isize,
                1,
            );
        }
    }
}

/// Split points of `len` into `parts` near-equal pieces, rounded to the
/// nearest multiple of 8: every matrixmultiply micro-tile side (MR = 8, NR = 4
/// or 8 on x86) divides 8, so each output element goes through the same
/// micro-kernel calls as in one big call and the result is bit-identical.
fn split_points(len: usize, parts: usize) -> Vec<usize> {
    (0..=parts)
        .map(|i| {
            if i == parts {
                len
            } else {
                ((len * i + 4 * parts) / (8 * parts) * 8).min(len)
            }
        })
        .collect()
}

/// The output split along its longer side into `rayon::current_num_threads()`
/// tile-aligned blocks, each computed by one dgemm call on its own rayon task
/// (with `mbig`, each block's call is oriented as in [`mm`]).
fn rayon_split(s: &Shape, a: &[f64], b: &[f64], c: &mut [f64], mbig: bool) {
    use rayon::prelude::*;
    let (rsa, csa, rsb, csb) = strides(s);
    assert!(a.len() >= s.m * s.k && b.len() >= s.k * s.n && c.len() >= s.m * s.n);
    let parts = rayon::current_num_threads().max(1);
    let rows = s.m >= s.n;
    let pts = split_points(if rows { s.m } else { s.n }, parts);
    // Raw addresses cross the threads; the blocks of C are disjoint.
    let (pa, pb, pc) = (
        a.as_ptr() as usize,
        b.as_ptr() as usize,
        c.as_mut_ptr() as usize,
    );
    (0..parts).into_par_iter().for_each(|i| {
        let (lo, hi) = (pts[i], pts[i + 1]);
        if lo == hi {
            return;
        }
        let (a, b, c) = (pa as *const f64, pb as *const f64, pc as *mut f64);
        // The block: C[r0.., c0..] (bm x bn) = A[r0.., :] * B[:, c0..].
        let (r0, c0, bm, bn) = if rows {
            (lo, 0, hi - lo, s.n)
        } else {
            (0, lo, s.m, hi - lo)
        };
        // SAFETY: each block reads inside A and B and writes its own
        // rows/columns of C, disjoint from every other block's.
        unsafe {
            let (a, b, c) = (
                a.offset(r0 as isize * rsa),
                b.offset(c0 as isize * csb),
                c.add(r0 * s.n + c0),
            );
            if mbig && bn > bm {
                matrixmultiply::dgemm(
                    bn,
                    s.k,
                    bm,
                    1.0,
                    b,
                    csb,
                    rsb,
                    a,
                    csa,
                    rsa,
                    0.0,
                    c,
                    1,
                    s.n as isize,
                );
            } else {
                matrixmultiply::dgemm(
                    bm,
                    s.k,
                    bn,
                    1.0,
                    a,
                    rsa,
                    csa,
                    b,
                    rsb,
                    csb,
                    0.0,
                    c,
                    s.n as isize,
                    1,
                );
            }
        }
    });
}

/// The `gemm` crate (faer's kernels), single-threaded (`threads == 1`) or on
/// the current rayon pool with its own size threshold.
fn gemm_crate(s: &Shape, a: &[f64], b: &[f64], c: &mut [f64], threads: usize) {
    let (rsa, csa, rsb, csb) = strides(s);
    assert!(a.len() >= s.m * s.k && b.len() >= s.k * s.n && c.len() >= s.m * s.n);
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the strides stay inside the buffers (checked above). The crate
    // computes dst = alpha * dst + beta * lhs * rhs, with (cs, rs) strides;
    // with read_dst false, dst is not read.
    unsafe {
        gemm::gemm(
            s.m,
            s.n,
            s.k,
            c.as_mut_ptr(),
            1,
            s.n as isize,
            false,
            a.as_ptr(),
            csa,
            rsa,
            b.as_ptr(),
            csb,
            rsb,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

fn engine(s: &Shape, a: &[f64], b: &[f64], c: &mut [f64]) {
    gradtape::gemm(s.m, s.k, s.n, 1.0, a, s.a_t, b, s.b_t, 0.0, c);
}

// ---------------------------------------------------------------- driver

/// Deterministic data in [0, 1) (xorshift64*).
fn fill(buf: &mut [f64], mut seed: u64) {
    for x in buf {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        *x = (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
    }
}

fn env_threads(var: &str) -> Option<usize> {
    env::var(var).ok().and_then(|v| v.trim().parse().ok())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

struct Peaks {
    core: f64,
    machine: f64,
}

impl Peaks {
    fn from_env() -> Option<Peaks> {
        let v = env::var("GRADTAPE_BENCH_PEAK").ok()?;
        let (a, b) = v.split_once(',')?;
        Some(Peaks {
            core: a.parse().ok()?,
            machine: b.parse().ok()?,
        })
    }
}

fn selected(filters: &[String], label: &str, shape: &str) -> bool {
    let ks: Vec<&String> = filters.iter().filter(|f| !is_shape_filter(f)).collect();
    let ss: Vec<&String> = filters.iter().filter(|f| is_shape_filter(f)).collect();
    (ks.is_empty() || ks.iter().any(|f| label.contains(f.as_str())))
        && (ss.is_empty() || ss.iter().any(|f| shape.contains(f.as_str())))
}

fn is_shape_filter(f: &str) -> bool {
    SHAPES.iter().any(|s| s.name.contains(f))
}

/// One child process: the kernels of one group (`1t` or `mt`) on one shape.
fn child(group: &str, idx: usize, filters: &[String]) {
    let s = &SHAPES[idx];
    let peaks = Peaks::from_env();
    let flops = 2.0 * (s.m * s.k * s.n) as f64;
    let mut a = vec![0.0; s.m * s.k];
    let mut b = vec![0.0; s.k * s.n];
    fill(&mut a, 0x9e37_79b9_7f4a_7c15 ^ idx as u64);
    fill(&mut b, 0xd1b5_4a32_d192_ed03 ^ idx as u64);
    let mut reference = vec![0.0; s.m * s.n];
    mm(s, &a, &b, &mut reference, false);
    let mut c = vec![0.0; s.m * s.n];
    let mut ap = vec![0.0; MB * KB];
    let mut bp = vec![0.0; KB * NB];
    let mm_threads = env_threads("MATMUL_NUM_THREADS")
        .unwrap_or_else(cores)
        .clamp(1, 4);
    let pool2 = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a 2-thread rayon pool");

    type Kernel<'a> = Box<dyn FnMut(&mut [f64]) + 'a>;
    let mut kernels: Vec<(&str, usize, f64, Kernel)> = Vec::new();
    if group == "1t" {
        let (a, b) = (&a, &b);
        if flops <= NAIVE_MAX_FLOPS {
            kernels.push(("naive", 1, 1.5, Box::new(move |c| naive(s, a, b, c))));
        }
        if flops <= BLOCKED_MAX_FLOPS {
            let (ap, bp) = (&mut ap, &mut bp);
            kernels.push((
                "blocked",
                1,
                2.0,
                Box::new(move |c| blocked(s, a, b, c, ap, bp)),
            ));
        }
        kernels.push(("mm_1t", 1, 4.0, Box::new(move |c| mm(s, a, b, c, false))));
        kernels.push((
            "mm_1t_mbig",
            1,
            4.0,
            Box::new(move |c| mm(s, a, b, c, true)),
        ));
        let pool2 = &pool2;
        kernels.push((
            "rayon2_mm_1t",
            2,
            4.0,
            Box::new(move |c| pool2.install(|| rayon_split(s, a, b, c, false))),
        ));
        kernels.push((
            "rayon2_mm_1t_mbig",
            2,
            4.0,
            Box::new(move |c| pool2.install(|| rayon_split(s, a, b, c, true))),
        ));
        kernels.push((
            "gemmcrate_1t",
            1,
            4.0,
            Box::new(move |c| gemm_crate(s, a, b, c, 1)),
        ));
        kernels.push(("engine_1t", 1, 4.0, Box::new(move |c| engine(s, a, b, c))));
    } else {
        let (a, b) = (&a, &b);
        kernels.push((
            "mm_mt",
            mm_threads,
            4.0,
            Box::new(move |c| mm(s, a, b, c, false)),
        ));
        kernels.push((
            "mm_mt_mbig",
            mm_threads,
            4.0,
            Box::new(move |c| mm(s, a, b, c, true)),
        ));
        let pool2 = &pool2;
        kernels.push((
            "rayon2_mm_mt",
            2,
            4.0,
            Box::new(move |c| pool2.install(|| rayon_split(s, a, b, c, true))),
        ));
        let rayon_threads = rayon::current_num_threads();
        kernels.push((
            "gemmcrate_mt",
            rayon_threads,
            4.0,
            Box::new(move |c| gemm_crate(s, a, b, c, rayon_threads)),
        ));
        let threads = mm_threads.max(rayon_threads);
        kernels.push((
            "engine",
            threads,
            4.0,
            Box::new(move |c| engine(s, a, b, c)),
        ));
    }

    let scale = reference
        .iter()
        .fold(0.0f64, |acc, x| acc.max(x.abs()))
        .max(1e-300);
    for (label, threads, max_total_s, f) in kernels.iter_mut() {
        if !selected(filters, label, s.name) {
            continue;
        }
        c.fill(f64::NAN);
        let (gf, ms) = time_it(|| f(black_box(&mut c)), flops, *max_total_s);
        let err = c
            .iter()
            .zip(&reference)
            .fold(0.0f64, |acc, (x, r)| acc.max((x - r).abs()))
            / scale;
        if err.is_nan() || err > 1e-12 {
            eprintln!("CHECK-FAIL\t{label}\t{}\trelative error {err:e}", s.name);
            exit(1);
        }
        let (frac, frac_used) = match &peaks {
            Some(p) => (gf / p.machine, gf / (p.core * *threads as f64)),
            None => (f64::NAN, f64::NAN),
        };
        println!(
            "RESULT\t{label}\t{}\t{}\t{}\t{}\t{gf:.3}\t{ms:.5}\t{frac:.3}\t{threads}\t{frac_used:.3}",
            s.name, s.m, s.k, s.n
        );
    }
}

/// The sizes of `--sweep`: batch-100 products 100 x d x d, then squares.
fn sweep_sizes() -> Vec<(usize, usize, usize)> {
    let mut sizes = Vec::new();
    for d in [8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 500] {
        sizes.push((100, d, d));
    }
    for d in [32, 48, 64, 96, 128, 192, 256] {
        sizes.push((d, d, d));
    }
    sizes
}

/// One size of `--sweep` in a child: with `MATMUL_NUM_THREADS=1`, dgemm and
/// the 2-block rayon split; otherwise threaded dgemm. Prints
/// `label<TAB>GFLOP/s` lines, the best of 3 timings (noise only slows).
fn sweep_child(idx: usize) {
    let (m, k, n) = sweep_sizes()[idx];
    let s = shape("sweep", m, k, n, false, false);
    let mut a = vec![0.0; m * k];
    let mut b = vec![0.0; k * n];
    fill(&mut a, 1);
    fill(&mut b, 2);
    let mut c = vec![0.0; m * n];
    let flops = 2.0 * (m * k * n) as f64;
    let best = |f: &mut dyn FnMut()| {
        (0..3)
            .map(|_| time_it(&mut *f, flops, 1.0).0)
            .fold(0.0, f64::max)
    };
    if env_threads("MATMUL_NUM_THREADS") == Some(1) {
        let pool2 = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a 2-thread rayon pool");
        let g = best(&mut || mm(&s, &a, &b, black_box(&mut c), true));
        println!("mm_1t_mbig\t{g:.3}");
        let g = best(&mut || pool2.install(|| rayon_split(&s, &a, &b, black_box(&mut c), true)));
        println!("rayon2_mm_1t_mbig\t{g:.3}");
        let g = best(&mut || gemm_crate(&s, &a, &b, black_box(&mut c), 1));
        println!("gemmcrate_1t\t{g:.3}");
    } else {
        let g = best(&mut || mm(&s, &a, &b, black_box(&mut c), true));
        println!("mm_mt_mbig\t{g:.3}");
        let t = rayon::current_num_threads();
        let g = best(&mut || gemm_crate(&s, &a, &b, black_box(&mut c), t));
        println!("gemmcrate_mt\t{g:.3}");
    }
}

/// `--sweep`: where threading pays. For growing products, single-threaded
/// dgemm, the 2-block rayon split and matrixmultiply's own threading (which
/// turns itself on when m*k + k*n >= 2 * 16384), in child processes run back
/// to back per size.
fn sweep() {
    let exe = env::current_exe().expect("path of this bench binary");
    println!(
        "# columns: SWEEP m k n MFLOP | GFLOP/s: mm_1t_mbig rayon2_mm_1t_mbig mm_mt_mbig gemmcrate_1t gemmcrate_mt | rayon2/mm_1t mm_mt/mm_1t gemmcrate_mt/gemmcrate_1t"
    );
    for (idx, (m, k, n)) in sweep_sizes().into_iter().enumerate() {
        let mut g = std::collections::HashMap::new();
        for one in [true, false] {
            let mut cmd = Command::new(&exe);
            cmd.args(["--child", "sweep", &idx.to_string()]);
            if one {
                cmd.env("MATMUL_NUM_THREADS", "1");
            }
            let out = cmd.output().expect("run a sweep child");
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if let Some((label, v)) = line.split_once('\t') {
                    g.insert(label.to_string(), v.parse::<f64>().unwrap_or(f64::NAN));
                }
            }
        }
        let get = |l: &str| g.get(l).copied().unwrap_or(f64::NAN);
        let (g1, gr, gm) = (
            get("mm_1t_mbig"),
            get("rayon2_mm_1t_mbig"),
            get("mm_mt_mbig"),
        );
        let (c1, cm) = (get("gemmcrate_1t"), get("gemmcrate_mt"));
        println!(
            "SWEEP\t{m}\t{k}\t{n}\t{:.3}\t{g1:.2}\t{gr:.2}\t{gm:.2}\t{c1:.2}\t{cm:.2}\t{:.3}\t{:.3}\t{:.3}",
            2.0 * (m * k * n) as f64 / 1e6,
            gr / g1,
            gm / g1,
            cm / c1
        );
    }
}

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let mut filters = Vec::new();
    let mut child_of: Option<(String, usize)> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--sweep" => {
                sweep();
                return;
            }
            "--child" => {
                let g = it.next().expect("--child GROUP IDX").clone();
                let i = it
                    .next()
                    .and_then(|i| i.parse().ok())
                    .expect("--child GROUP IDX");
                child_of = Some((g, i));
            }
            // cargo bench passes --bench; other flags are not ours either.
            a if a.starts_with("--") => {}
            a => filters.push(a.to_string()),
        }
    }
    if let Some((group, idx)) = child_of {
        if group == "sweep" {
            sweep_child(idx);
        } else {
            child(&group, idx, &filters);
        }
        return;
    }

    let n = cores();
    let kind = if has_avx2_fma() {
        "avx2_fma_4xf64"
    } else {
        "scalar_f64"
    };
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        eprintln!("# note: AVX-512 present but the FMA loop uses 256-bit vectors; the peak is a lower bound");
    }
    let core = fma_peak(1);
    let machine = fma_peak(n);
    println!("PEAK\t{kind}\t1\t{core:.3}");
    println!("PEAK\t{kind}\t{n}\t{machine:.3}");
    println!(
        "# env MATMUL_NUM_THREADS={:?} RAYON_NUM_THREADS={:?}; cores={n}",
        env::var("MATMUL_NUM_THREADS").ok(),
        env::var("RAYON_NUM_THREADS").ok()
    );
    println!("# columns: RESULT label shape m k n GFLOP/s ms frac_machine_peak threads frac_peak_of_threads_used");

    let exe = env::current_exe().expect("path of this bench binary");
    let peak = format!("{core},{machine}");
    let mut failed = false;
    for (idx, s) in SHAPES.iter().enumerate() {
        if filters.iter().any(|f| is_shape_filter(f))
            && !filters.iter().any(|f| s.name.contains(f.as_str()))
        {
            continue;
        }
        for group in ["1t", "mt"] {
            let mut cmd = Command::new(&exe);
            cmd.arg("--child")
                .arg(group)
                .arg(idx.to_string())
                .args(&filters);
            cmd.env("GRADTAPE_BENCH_PEAK", &peak);
            if group == "1t" {
                cmd.env("MATMUL_NUM_THREADS", "1")
                    .env("RAYON_NUM_THREADS", "1");
            }
            let status = cmd.status().expect("run a child of the bench");
            failed |= !status.success();
        }
    }
    if failed {
        eprintln!("matmul bench: a child failed");
        exit(1);
    }
}
