//! The one matrix product every op calls. Transposed operands are passed as
//! strides, so `A^T B` and `A B^T` never copy a matrix.
//!
//! On x86-64 with AVX2 and FMA it runs gradtape's own blocked product
//! ([`packed`]: BLIS-style packing, a 6 x 8 micro-kernel in [`avx2`]),
//! threaded over rayon; elsewhere it calls `matrixmultiply::dgemm`.
//!
//! # Which kernel, and why (`cargo bench --bench matmul`, `benches/compare_numpy.sh`)
//!
//! GFLOP/s in one run on the shared 2-core Zen 3 (FMA peak 50 per core, 100
//! for both), single-threaded `mm_1t` (matrixmultiply) / `gemmcrate_1t` /
//! `engine_1t`:
//! fwd1 100x3072x500: 29.6 / 35.7 / 34.8, dW1 3072x100x500: 32.0 / 29.7 /
//! 35.3, dW2: 32.4 / 37.5 / 37.1, dX2: 33.0 / 32.6 / 37.6, sq2048: 34.1 /
//! 37.4 / 40.1. matrixmultiply's 8x4 kernel and its packing run at 60-70%
//! of a core's peak; the `gemm` crate's fast kernels need AVX-512, which this
//! CPU lacks. Ours spends ~90% of the peak inside its k loop; the rest of
//! the gap is packing (12% of a training step's time, against 57% in the
//! kernel: `perf record` on `cargo bench --bench step`), mostly copying W1
//! (12 MB, each element used by only 100 rows) in the forward product; the
//! packing loop prefetches rows ahead, which took fwd1 on 2 threads from
//! ~56 to 63-75 GFLOP/s. Reading B in place instead of packing it was
//! slower: every step of k touches a new 4 KB page (TLB misses), and row
//! strides that are multiples of large powers of two thrash the L1 sets.
//!
//! On 2 threads, against numpy/OpenBLAS measured in the same run, the step's
//! products reach 0.96 of OpenBLAS's GFLOP/s in total (per shape 0.77-1.21;
//! the lowest are the 1-MFLOP products with n = 10).
//!
//! The bits do not depend on the thread count: threads split C, never the
//! `k` sum, and the `k` blocking is fixed. They also equal single-threaded
//! `matrixmultiply::dgemm`'s on FMA machines (same 256-deep k blocks, same
//! FMA chain per element, same `alpha * acc + beta * c`), so replacing it
//! changed no result of the notebook; `tests/gemm.rs` checks both.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod packed;

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
    gemm_with(Kernel::Best, m, k, n, alpha, a, a_t, b, b_t, beta, c);
}

/// [`gemm`] on the `matrixmultiply` fallback whatever the CPU, so the tests
/// can check the path that CPUs without AVX2 and FMA take.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn gemm_fallback(
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
    gemm_with(Kernel::Fallback, m, k, n, alpha, a, a_t, b, b_t, beta, c);
}

#[derive(Clone, Copy, PartialEq)]
enum Kernel {
    /// The packed AVX2 kernel when the CPU has it, else the fallback.
    Best,
    Fallback,
}

#[allow(clippy::too_many_arguments)]
fn gemm_with(
    kernel: Kernel,
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
    if k == 0 {
        // No products to add: C = beta * C (and beta == 0 must not read C).
        for x in &mut c[..m * n] {
            *x = if beta == 0.0 { 0.0 } else { beta * *x };
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if kernel == Kernel::Best && avx2::available() {
        let a = packed::Mat {
            ptr: a.as_ptr(),
            rs: rsa as usize,
            cs: csa as usize,
        };
        let b = packed::Mat {
            ptr: b.as_ptr(),
            rs: rsb as usize,
            cs: csb as usize,
        };
        // SAFETY: the CPU has AVX2 and FMA; the assert above keeps every
        // index the strides reach inside the buffers, and `c` is borrowed
        // mutably so it aliases neither `a` nor `b`.
        unsafe { packed::gemm(m, k, n, alpha, a, b, beta, c.as_mut_ptr(), n) };
        return;
    }
    let _ = kernel; // only x86-64 has a choice to make
    fallback(m, k, n, alpha, a, (rsa, csa), b, (rsb, csb), beta, c);
}

/// `matrixmultiply::dgemm`, for CPUs without AVX2 and FMA.
#[allow(clippy::too_many_arguments)]
fn fallback(
    m: usize,
    k: usize,
    n: usize,
    alpha: f64,
    a: &[f64],
    (rsa, csa): (isize, isize),
    b: &[f64],
    (rsb, csb): (isize, isize),
    beta: f64,
    c: &mut [f64],
) {
    // SAFETY: `gemm` asserted that every index the strides reach lies
    // inside the three buffers, and `c` is borrowed mutably so it aliases
    // neither `a` nor `b`.
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
