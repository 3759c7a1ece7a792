//! The two paths on `matrixmultiply::dgemm`: one call (`fallback`), or C
//! split into row blocks computed on rayon threads (`matrixmultiply-threaded`,
//! auto's choice on AVX-512 CPUs, where matrixmultiply's AVX-512 kernel beats
//! gradtape's AVX2 one). The split needs matrixmultiply single-threaded
//! (`MATMUL_NUM_THREADS=1`); otherwise the threaded path makes the one call
//! too, and matrixmultiply threads it.
//!
//! Both turn a product that is wider than tall around (C^T = B^T A^T, C^T
//! stored column-major is C row-major): matrixmultiply threads and blocks
//! its `m` side, so the longer side should be `m`. The orientation depends on
//! the shape only, and blocks start on multiples of 8 rows, which every
//! matrixmultiply micro-tile height (8 or 4) divides: each element of C then
//! goes through the same kernel calls, with the same `k` blocking, as in one
//! big call, so the bits do not depend on the thread count.

/// A strided operand: element `(i, j)` is at `ptr + i * rs + j * cs`.
#[derive(Clone, Copy)]
pub(super) struct View {
    pub ptr: *const f64,
    pub rs: isize,
    pub cs: isize,
}

impl View {
    /// The transpose (the same memory, strides swapped).
    fn t(self) -> View {
        View {
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }
}

// SAFETY: a View is only read through (C's is written only by the block that
// owns its rows, see `threaded`), and the buffers outlive the product.
unsafe impl Send for View {}
// SAFETY: as for Send: shared Views are only read through.
unsafe impl Sync for View {}

/// `C = alpha * A B + beta * C` with A `(m, k)`, B `(k, n)`, C `(m, n)`, in
/// one `dgemm` call (matrixmultiply threads it itself, `MATMUL_NUM_THREADS`).
///
/// # Safety
/// `m, k, n >= 1`; every element the three views reach for these dimensions
/// lies inside a live allocation; C's elements are distinct and alias
/// neither A nor B, and nothing else touches C during the call.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn fallback(
    m: usize,
    k: usize,
    n: usize,
    alpha: f64,
    a: View,
    b: View,
    beta: f64,
    c: View,
) {
    let (m, n, a, b, c) = tall(m, n, a, b, c);
    // SAFETY: the caller's contract, unchanged by turning the problem around
    // (the same elements are reached through swapped strides).
    unsafe { call(m, k, n, alpha, a, b, beta, c) }
}

/// [`fallback`]'s product with C's rows (after turning it around) split
/// into `rayon::current_num_threads()` blocks of whole 8-row tiles, one
/// `dgemm` call per block, when matrixmultiply runs single-threaded
/// (`MATMUL_NUM_THREADS=1`); otherwise [`fallback`]'s one call.
///
/// # Safety
/// As for [`fallback`].
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn threaded(
    m: usize,
    k: usize,
    n: usize,
    alpha: f64,
    a: View,
    b: View,
    beta: f64,
    c: View,
) {
    let (m, n, a, b, c) = tall(m, n, a, b, c);
    // When matrixmultiply threads its calls itself, its threads nested in
    // rayon's blocks oversubscribe the cores (it measured slower than
    // either alone): then one call, threaded by matrixmultiply.
    let threads = if super::worth_threading(m, k, n) && !matrixmultiply_threads_itself() {
        rayon::current_num_threads()
    } else {
        1
    };
    const TILE: usize = 8;
    let tiles = m.div_ceil(TILE);
    let parts = threads.min(tiles).max(1);
    if parts == 1 {
        // SAFETY: the caller's contract.
        unsafe { call(m, k, n, alpha, a, b, beta, c) };
        return;
    }
    let per = tiles.div_ceil(parts) * TILE;
    use rayon::prelude::*;
    (0..parts).into_par_iter().for_each(move |part| {
        let lo = part * per;
        let hi = (lo + per).min(m);
        if lo >= hi {
            return;
        }
        let rows = |v: View| View {
            // `wrapping_offset` computes the address only; it lies inside
            // the operand because lo < m.
            ptr: v.ptr.wrapping_offset(lo as isize * v.rs),
            ..v
        };
        // SAFETY: rows [lo, hi) of A and C lie inside them (hi <= m, the
        // caller's contract), B is whole; the row ranges of different parts
        // are disjoint, so no two threads write the same element of C.
        unsafe { call(hi - lo, k, n, alpha, rows(a), b, beta, rows(c)) };
    });
}

/// Whether matrixmultiply runs its calls on more than one thread: it reads
/// `MATMUL_NUM_THREADS` once (a number, clamped to 1..=4; unparsable means
/// 1), and without it uses the physical cores, approximated here by the
/// logical ones.
fn matrixmultiply_threads_itself() -> bool {
    static THREADS_ITSELF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *THREADS_ITSELF.get_or_init(|| match std::env::var("MATMUL_NUM_THREADS") {
        Ok(s) if !s.is_empty() => s.parse::<usize>().is_ok_and(|n| n > 1),
        _ => std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
    })
}

/// The problem turned around if C is wider than tall.
fn tall(m: usize, n: usize, a: View, b: View, c: View) -> (usize, usize, View, View, View) {
    if n > m {
        (n, m, b.t(), a.t(), c.t())
    } else {
        (m, n, a, b, c)
    }
}

/// One `matrixmultiply::dgemm` call.
///
/// # Safety
/// As for [`fallback`], for these views and dimensions.
#[allow(clippy::too_many_arguments)]
unsafe fn call(m: usize, k: usize, n: usize, alpha: f64, a: View, b: View, beta: f64, c: View) {
    // SAFETY: dgemm reads A's `m x k` and B's `k x n` elements and writes
    // C's `m x n` through the strides, all in bounds by the caller's
    // contract; C's pointer came from a `&mut [f64]`.
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            alpha,
            a.ptr,
            a.rs,
            a.cs,
            b.ptr,
            b.rs,
            b.cs,
            beta,
            c.ptr as *mut f64,
            c.rs,
            c.cs,
        );
    }
}
