//! The one matrix product every op calls. Transposed operands are passed as
//! strides, so `A^T B` and `A B^T` never copy a matrix.
//!
//! Three paths ([`GemmPath`], picked once per process from the CPU's
//! features, or forced with `GRADTAPE_GEMM`):
//! - `avx2`: gradtape's own blocked product ([`packed`]: BLIS-style packing,
//!   a 6 x 8 micro-kernel in [`avx2`]), threaded over rayon. On AVX2-only
//!   CPUs it beats `matrixmultiply`'s 8 x 4 kernel, whose packing and
//!   kernel run further below the FMA peak.
//! - `matrixmultiply-threaded` ([`dgemm`]): `matrixmultiply::dgemm`'s
//!   run-time-selected kernel on blocks of C split over rayon (with
//!   `MATMUL_NUM_THREADS=1`; otherwise one call that matrixmultiply
//!   threads). On AVX-512F CPUs its 8 x 8 AVX-512 kernel has twice the
//!   width of ours.
//! - `fallback` ([`dgemm`]): one `matrixmultiply::dgemm` call, for CPUs
//!   without AVX2 and FMA.
//!
//! `benches/matmul.rs` times every path side by side, and
//! `benches/compare_numpy.sh` against OpenBLAS; the figures are in the
//! README.
//!
//! On every path the bits do not depend on the thread count: threads split
//! C, never the `k` sum, and the `k` blocking is fixed. The `avx2` path's
//! bits also equal single-threaded `matrixmultiply::dgemm`'s on AVX2 + FMA
//! CPUs (same 256-deep k blocks, same FMA chain per element, same
//! `alpha * acc + beta * c`); bits may differ between paths, and so between
//! CPUs whose `auto` picks different paths. `tests/gemm.rs` checks both.

// Every unsafe operation sits in an `unsafe` block with its own SAFETY
// comment, inside `unsafe fn`s too.
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(target_arch = "x86_64")]
mod avx2;
mod dgemm;
#[cfg(target_arch = "x86_64")]
mod packed;
mod path;

pub use path::GemmPath;

/// Why a product cannot be computed: its sizes, or a forced path the CPU
/// cannot run. [`try_gemm`] and [`try_gemm_with`] return it; [`gemm`]
/// panics with its message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GemmError {
    /// An operand's element count does not fit in `usize`.
    #[error("gemm: {operand} is {rows} x {cols}, whose element count overflows usize")]
    SizeOverflow {
        /// `"a"`, `"b"` or `"c"`.
        operand: &'static str,
        /// Its rows as the product sees it (op(a) is `m x k`).
        rows: usize,
        /// Its columns as the product sees it.
        cols: usize,
    },
    /// A buffer holds fewer values than its dimensions say.
    #[error("gemm: {operand} is {rows} x {cols} = {needed} values but its buffer holds {len}")]
    BufferTooShort {
        /// `"a"`, `"b"` or `"c"`.
        operand: &'static str,
        /// Its rows as the product sees it.
        rows: usize,
        /// Its columns as the product sees it.
        cols: usize,
        /// `rows * cols`.
        needed: usize,
        /// The buffer's length.
        len: usize,
    },
    /// A path forced with [`try_gemm_with`] needs CPU features this CPU
    /// lacks.
    #[error("gemm: the {path} path needs {missing}, which this CPU lacks")]
    Unsupported {
        /// The path asked for.
        path: GemmPath,
        /// The missing features.
        missing: &'static str,
    },
}

/// `c = alpha * op(a) * op(b) + beta * c` for row-major buffers, where
/// `op(a)` is `(m, k)` and `op(b)` is `(k, n)`. With `a_t`, `a` is stored as
/// `(k, m)` and read transposed; likewise `b_t` with `b` stored as `(n, k)`.
/// When `beta` is 0, `c`'s old contents are not read. Runs on
/// [`GemmPath::selected`].
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
/// With [`GemmError`]'s message if a buffer is shorter than its dimensions
/// say or a size overflows (the ops check shapes first and report them as
/// errors; [`try_gemm`] returns the error instead).
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
    if let Err(e) = try_gemm(m, k, n, alpha, a, a_t, b, b_t, beta, c) {
        panic!("{e}");
    }
}

/// [`gemm`], returning an error instead of panicking when the sizes do not
/// fit the buffers.
///
/// ```
/// use gradtape_core::{try_gemm, GemmError};
/// let mut c = [0.0; 4];
/// // 2 x 2^63 does not fit in usize: an error, never a read out of bounds.
/// let err = try_gemm(2, 1 << 63, 2, 1.0, &[1.0; 4], false, &[1.0; 4], false, 0.0, &mut c);
/// assert!(matches!(err, Err(GemmError::SizeOverflow { operand: "a", .. })));
/// assert!(try_gemm(2, 2, 2, 1.0, &[1.0; 4], false, &[1.0; 4], false, 0.0, &mut c).is_ok());
/// assert_eq!(c, [2.0; 4]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn try_gemm(
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
) -> Result<(), GemmError> {
    try_gemm_with(
        GemmPath::selected(),
        m,
        k,
        n,
        alpha,
        a,
        a_t,
        b,
        b_t,
        beta,
        c,
    )
}

/// [`try_gemm`] on a given path, whatever `GRADTAPE_GEMM` says: for tests
/// and benchmarks that compare the paths in one process. A path the CPU
/// cannot run is [`GemmError::Unsupported`].
///
/// ```
/// use gradtape_core::{try_gemm_with, GemmPath};
/// let (a, b) = ([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]);
/// for path in GemmPath::ALL.into_iter().filter(|p| p.is_supported()) {
///     let mut c = [0.0; 4];
///     try_gemm_with(path, 2, 2, 2, 1.0, &a, false, &b, false, 0.0, &mut c).unwrap();
///     assert_eq!(c, [19.0, 22.0, 43.0, 50.0], "{path}");
/// }
/// ```
#[allow(clippy::too_many_arguments)]
pub fn try_gemm_with(
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
) -> Result<(), GemmError> {
    fits("a", m, k, a.len())?;
    fits("b", k, n, b.len())?;
    fits("c", m, n, c.len())?;
    if let Some(missing) = path.missing_features() {
        return Err(GemmError::Unsupported { path, missing });
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        scale(&mut c[..m * n], beta);
        return Ok(());
    }
    // From here m, k, n >= 1 and each of m * k, k * n, m * n is at most a
    // slice length, so every dimension and every index below fits in isize.
    let (rsa, csa) = if a_t { (1, m) } else { (k, 1) };
    let (rsb, csb) = if b_t { (1, k) } else { (n, 1) };
    // SAFETY: `missing_features` confirmed the path's CPU features; `fits` established a.len() >= m*k,
    // b.len() >= k*n, c.len() >= m*n, and with these strides each largest index is that product minus
    // one; `c` is borrowed mutably, so it aliases neither `a` nor `b`.
    unsafe {
        run(
            path,
            true,
            [m, k, n],
            alpha,
            (a.as_ptr(), rsa, csa),
            (b.as_ptr(), rsb, csb),
            beta,
            c.as_mut_ptr(),
        )
    };
    Ok(())
}

/// A weight gradient `C = A^T B + beta * C` (`X^T dY`: A stored `k x m`,
/// B `k x n`, C `m x n`) computed rows at a time, each part on its own
/// (`Tape`'s gradient parts, [`crate::GradFill`]). On the `avx2` path B is
/// packed once, in a buffer the caller keeps, and every part's product
/// reads it (a threaded fill of the whole gradient too), rather than
/// packing B again for each part. Every element comes
/// out as the whole product computes it, bit for bit: the parts split C,
/// never the `k` sum, and the micro-kernel and k blocking are the same.
pub(crate) struct RowsOfAtB<'a> {
    dims: [usize; 3],
    a: &'a [f64],
    b: &'a [f64],
    beta: f64,
    path: GemmPath,
    /// B packed by `packed::pack_b_whole`, on the `avx2` path.
    packed_b: Option<&'a [f64]>,
}

impl<'a> RowsOfAtB<'a> {
    /// Panics if the buffers are shorter than the shapes say; callers size
    /// them from tensors they checked. `pack` is reused for the packed B.
    pub(crate) fn new(
        [m, k, n]: [usize; 3],
        a: &'a [f64],
        b: &'a [f64],
        beta: f64,
        pack: &'a mut Vec<f64>,
    ) -> RowsOfAtB<'a> {
        if let Err(e) = fits("a", k, m, a.len()).and(fits("b", k, n, b.len())) {
            panic!("{e}");
        }
        let path = GemmPath::selected();
        #[cfg(target_arch = "x86_64")]
        let packed_b = (path == GemmPath::Avx2 && m > 0 && k > 0 && n > 0).then(|| {
            // (Grown, never cleared: packing writes every value, padding too.)
            let len = packed::packed_b_len(k, n);
            if pack.len() < len {
                pack.resize(len, 0.0);
            }
            let pack = &mut pack[..len];
            let view = packed::Mat {
                ptr: b.as_ptr(),
                rs: n,
                cs: 1,
            };
            // SAFETY: the avx2 path is selected, so the CPU has AVX2; `fits` established b.len() >= k*n,
            // which the row-major view (k x n, row stride n) covers; `pack` holds packed_b_len(k, n).
            unsafe { packed::pack_b_whole(k, n, view, pack) };
            &pack[..]
        });
        #[cfg(not(target_arch = "x86_64"))]
        let packed_b = {
            let _ = pack;
            None
        };
        RowsOfAtB {
            dims: [m, k, n],
            a,
            b,
            beta,
            path,
            packed_b,
        }
    }

    /// Rows `rows` of C into `c_rows` (`rows.len() x n`), on this thread
    /// only unless `parallel`. Panics if `c_rows` is too short or `rows` is
    /// not within `0..m`.
    pub(crate) fn rows(&self, rows: std::ops::Range<usize>, c_rows: &mut [f64], parallel: bool) {
        let [m, k, n] = self.dims;
        if let Err(e) = fits("c", rows.len(), n, c_rows.len()) {
            panic!("{e}");
        }
        assert!(
            rows.start <= rows.end && rows.end <= m,
            "gemm: rows {rows:?} of {m}"
        );
        if rows.is_empty() || n == 0 {
            return;
        }
        if k == 0 {
            scale(&mut c_rows[..rows.len() * n], self.beta);
            return;
        }
        // A^T's row r is A's column r: (r, p) at r + p*m.
        let a = (self.a[rows.start..].as_ptr(), 1, m);
        #[cfg(target_arch = "x86_64")]
        if let Some(b) = self.packed_b {
            // Every part reads the one packed B; a threaded fill (the whole
            // gradient at once) splits its rows over rayon's threads, each
            // block a part like any other.
            let threads = if parallel && worth_threading(rows.len(), k, n) {
                rayon::current_num_threads()
            } else {
                1
            };
            let per = rows.len().div_ceil(threads).div_ceil(packed::MR) * packed::MR;
            let block = |(i, c): (usize, &mut [f64])| {
                let first = rows.start + i * per;
                let a = packed::Mat {
                    ptr: self.a[first..].as_ptr(),
                    rs: 1,
                    cs: m,
                };
                // SAFETY: `packed_b` is set only on the avx2 path (AVX2+FMA present), by pack_b_whole(k, n) of
                // this B; the block's rows r < rows.end <= m, steps p < k reach r + p*m < k*m <= a.len()
                // (`fits`); `c` is c.len() / n whole rows of `c_rows` (`fits`: rows.len() x n), borrowed
                // mutably, so it aliases nothing read and no other block.
                unsafe {
                    packed::gemm_packed_b(
                        c.len() / n,
                        k,
                        n,
                        1.0,
                        a,
                        b,
                        self.beta,
                        c.as_mut_ptr(),
                        n,
                    )
                };
            };
            let c = &mut c_rows[..rows.len() * n];
            if threads == 1 {
                block((0, c));
            } else {
                use rayon::prelude::*;
                c.par_chunks_mut(per * n).enumerate().for_each(block);
            }
            return;
        }
        // SAFETY: the selected path's features are there; `fits`: a.len() >= k*m, b.len() >= k*n, c_rows
        // holds rows.len()*n; A^T's (r, p) is at r + p*m < k*m for r < rows.end <= m, p < k; `c_rows` is
        // borrowed mutably, so it aliases neither `a` nor `b`.
        unsafe {
            run(
                self.path,
                parallel,
                [rows.len(), k, n],
                1.0,
                a,
                (self.b.as_ptr(), n, 1),
                self.beta,
                c_rows.as_mut_ptr(),
            )
        };
    }
}

/// C = beta * C, a product with no terms (`k == 0`); beta == 0 must not
/// read C (it may hold NaN).
fn scale(c: &mut [f64], beta: f64) {
    for x in c {
        *x = if beta == 0.0 { 0.0 } else { beta * *x };
    }
}

/// `C = alpha * A B + beta * C` on `path`, A `(m, k)` and B `(k, n)` given
/// as (pointer, row stride, column stride), C row-major `(m, n)`. Split
/// over threads (rayon's, or matrixmultiply's) when `parallel` and worth
/// it; otherwise on this thread, for a caller that already runs on every
/// thread.
///
/// # Safety
/// The CPU has the path's features; `m, k, n >= 1`; every element the
/// strides reach is inside its buffer; C aliases neither A nor B, and no one
/// else touches it during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn run(
    path: GemmPath,
    parallel: bool,
    [m, k, n]: [usize; 3],
    alpha: f64,
    (a, rsa, csa): (*const f64, usize, usize),
    (b, rsb, csb): (*const f64, usize, usize),
    beta: f64,
    c: *mut f64,
) {
    match path {
        #[cfg(target_arch = "x86_64")]
        GemmPath::Avx2 => {
            let a = packed::Mat {
                ptr: a,
                rs: rsa,
                cs: csa,
            };
            let b = packed::Mat {
                ptr: b,
                rs: rsb,
                cs: csb,
            };
            // SAFETY: the caller's contract.
            unsafe { packed::gemm(m, k, n, alpha, a, b, beta, c, n, parallel) };
        }
        // MatrixmultiplyThreaded and Fallback (and Avx2 off x86-64, which
        // `missing_features` has rejected before any call).
        _ => {
            let view = |ptr: *const f64, rs: usize, cs: usize| dgemm::View {
                ptr,
                rs: rs as isize,
                cs: cs as isize,
            };
            let (a, b) = (view(a, rsa, csa), view(b, rsb, csb));
            let c = view(c, n, 1);
            // SAFETY: the caller's contract.
            unsafe {
                if path == GemmPath::MatrixmultiplyThreaded && parallel {
                    dgemm::threaded(m, k, n, alpha, a, b, beta, c);
                } else {
                    dgemm::fallback(m, k, n, alpha, a, b, beta, c);
                }
            }
        }
    }
}

/// Checks that a `rows x cols` operand's element count fits in `usize` and
/// in a buffer of `len` values.
fn fits(operand: &'static str, rows: usize, cols: usize, len: usize) -> Result<(), GemmError> {
    let needed = rows.checked_mul(cols).ok_or(GemmError::SizeOverflow {
        operand,
        rows,
        cols,
    })?;
    if len < needed {
        return Err(GemmError::BufferTooShort {
            operand,
            rows,
            cols,
            needed,
            len,
        });
    }
    Ok(())
}

/// Products with fewer multiply-adds than this run on one thread: below it,
/// waking a second thread costs more than it saves (found by timing growing
/// products on one and two threads).
const PAR_MIN_MULADDS: usize = 1 << 19;

/// Whether an `m x k x n` product is large enough to split over threads.
fn worth_threading(m: usize, k: usize, n: usize) -> bool {
    m.saturating_mul(k).saturating_mul(n) >= PAR_MIN_MULADDS
}
