//! The one matrix product every op calls. Transposed operands are passed as
//! strides, so `A^T B` and `A B^T` never copy a matrix.

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
    // neither `a` nor `b`.
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
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}
