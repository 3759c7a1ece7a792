//! The one matrix product every op calls. Transposed operands are passed as
//! strides, so `A^T B` and `A B^T` never copy a matrix.
//!
//! # Which kernel, and why (numbers from `cargo bench --bench matmul`)
//!
//! One `matrixmultiply::dgemm` call, threaded by matrixmultiply itself (its
//! `threading` feature: `MATMUL_NUM_THREADS`, default the physical core
//! count), on whichever orientation puts the longer output side in dgemm's
//! `m`: when `n > m` it computes `C^T = op(B)^T op(A)^T` (C read
//! column-major). matrixmultiply threads its loop over `m` in blocks of 64
//! rows and packs the `n` side on one thread, so a batch of 100 rows splits
//! 64/36 and a wide `n` is packed serially; turned around, the step's
//! products run 1.3-1.45x faster with 2 threads, and no slower with one.
//! GFLOP/s, best of 5 runs on a shared 2-core Zen 3 (FMA peak ~50 per core),
//! current layout / turned around:
//! fwd1 100x3072x500: 36.7 / 48.0, fwd2 100x500x500: 46.5 / 60.0,
//! dX1 100x500x3072: 41.2 / 59.7, dX2 100x500x500: 48.8 / 61.9,
//! dW1 3072x100x500: 64.1 (m >= n: unchanged).
//!
//! Alternatives measured in the same runs: splitting C in 2 blocks over rayon
//! with single-threaded dgemm per block is on par (fwd1 55.8, fwd2 58.7, dW1
//! 66.9, dX1 53.4, dX2 60.4) but needs matrixmultiply single-threaded, which
//! it only is process-wide (`MATMUL_NUM_THREADS=1`, read once) or without the
//! `threading` feature, and it loses on small products (rayon wake-up: 0.03-
//! 0.6x below ~2 MFLOP); nesting it over threaded dgemm is slower. Small
//! products need no threshold of ours: matrixmultiply only threads when
//! `m*k + k*n >= 32768`, and the sweep (`-- --sweep`) shows threading
//! breaking even there (1.0x) and paying from ~7 MFLOP (1.15-1.75x).
//! Per core, matrixmultiply's 8x4 AVX2 kernel runs at ~70% of the FMA peak,
//! ~85% of OpenBLAS single-threaded; the bench also times the `gemm` crate
//! (faer's kernels, per-call rayon parallelism) as the next candidate.
//!
//! Results do not depend on the thread count: matrixmultiply splits only the
//! output (blocks of rows and micro-panels of columns), never the `k` sum,
//! so every element goes through the same micro-kernel calls; and with
//! `alpha == 1` (all the engine's calls) the turned-around orientation gives
//! the very same bits as the plain one. `tests/gemm.rs` checks both.

/// `c = alpha * op(a) * op(b) + beta * c` for row-major buffers, where
/// `op(a)` is `(m, k)` and `op(b)` is `(k, n)`. With `a_t`, `a` is stored as
/// `(k, m)` and read transposed; likewise `b_t` with `b` stored as `(n, k)`.
/// When `beta` is 0, `c`'s old contents are not read.
///
/// ```
/// use gradtape_core::gemm;
/// // a = [[1, 2], [3, 4]] stored row-major; a^T * a = [[10, 14], [14, 20]]
/// let a = [1.0, 2.0, 3.0, 4.0];
/// let mut c = [0.0; 4];
/// gemm(2, 2, 2, 1.0, &a, true, &a, false, 0.0, &mut c);
/// assert_eq!(c, [10.0, 14.0, 14.0, 20.0]);
/// ```
///
/// # Panics
/// If a buffer is shorter than its dimensions say: callers check shapes first
/// and report them as errors, so a panic here is a bug in gradtape.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
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
    assert!(
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "gemm: buffer too short"
    );
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
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the assert above guarantees every index the strides reach lies
    // inside the three buffers, and `c` is borrowed mutably so it aliases
    // neither `a` nor `b`. (With k == 0 dgemm only scales C by beta, or sets
    // it to 0 without reading it when beta == 0.)
    unsafe {
        if n > m {
            // C^T (n x m) = op(B)^T (n x k) * op(A)^T (k x m): swap the
            // operands, transpose each one's strides, and store C^T
            // column-major, which is C row-major. See the module docs.
            matrixmultiply::dgemm(
                n,
                k,
                m,
                alpha,
                b.as_ptr(),
                csb,
                rsb,
                a.as_ptr(),
                csa,
                rsa,
                beta,
                c.as_mut_ptr(),
                1,
                n as isize,
            );
        } else {
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
                c.as_mut_ptr(),
                n as isize,
                1,
            );
        }
    }
}
