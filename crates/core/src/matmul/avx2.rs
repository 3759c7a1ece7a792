//! The AVX2 + FMA micro-kernel: one `MR x NR` = 6 x 8 tile of C from a packed
//! sliver of A (6 values per step of k) and one of B (8 values per step).
//! Twelve 4-wide accumulators, two B vectors and one broadcast fill 15 of the
//! 16 ymm registers; each step of k is 12 independent FMAs, enough to keep
//! both FMA pipes busy through their 4-cycle latency.

use super::packed::{MR, NR};
use std::arch::x86_64::*;

/// `C[..rows, ..cols] = alpha * (A_sliver B_sliver) + beta * C` over `kc`
/// steps, where C's element `(i, j)` is at `c + i * rsc + j * csc`, for
/// `rows` in `1..=MR`. With `beta == 0` C is not read.
///
/// A partial sliver (the last rows of A) runs a kernel with only that many
/// rows of accumulators: its FMAs on the sliver's zero padding would be
/// wasted work.
///
/// # Safety
/// As for [`kernel`], with `rows <= MR`.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn kernel_rows(
    rows: usize,
    kc: usize,
    a: *const f64,
    b: *const f64,
    c: *mut f64,
    rsc: usize,
    csc: usize,
    cols: usize,
    alpha: f64,
    beta: f64,
) {
    // SAFETY: the caller's contract; each arm's R equals `rows`.
    unsafe {
        match rows {
            6 => kernel::<6>(kc, a, b, c, rsc, csc, cols, alpha, beta),
            5 => kernel::<5>(kc, a, b, c, rsc, csc, cols, alpha, beta),
            4 => kernel::<4>(kc, a, b, c, rsc, csc, cols, alpha, beta),
            3 => kernel::<3>(kc, a, b, c, rsc, csc, cols, alpha, beta),
            2 => kernel::<2>(kc, a, b, c, rsc, csc, cols, alpha, beta),
            1 => kernel::<1>(kc, a, b, c, rsc, csc, cols, alpha, beta),
            _ => unreachable!("a micro-tile has 1 to {MR} rows, not {rows}"),
        }
    }
}

/// `C[..R, ..cols] = alpha * (A_sliver B_sliver) + beta * C` over `kc`
/// steps, where C's element `(i, j)` is at `c + i * rsc + j * csc`: the
/// first `R` rows of the sliver's `MR`. With `beta == 0` C is not read.
///
/// Every element is the same chain of FMAs whatever tile, kernel height or
/// thread computes it, and a partial tile (R < MR or cols < NR) is written
/// with the same two IEEE operations as a whole one, so the bits never
/// depend on where the tile edges fall.
///
/// # Safety
/// The CPU supports AVX2 and FMA; `R <= MR`; `a` holds `kc * MR` readable
/// values and `b` `kc * NR`; `c` points at an `R x cols` block with row
/// stride `rsc` and column stride `csc` that nothing else touches during the
/// call.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel<const R: usize>(
    kc: usize,
    a: *const f64,
    b: *const f64,
    c: *mut f64,
    rsc: usize,
    csc: usize,
    cols: usize,
    alpha: f64,
    beta: f64,
) {
    // C is read and written only after the k loop; asking for its lines now
    // hides the miss (C is often out of cache: dW1 is 12 MB).
    // (`wrapping_add`: in a partial tile the last column's address may lie
    // past C; a prefetch never faults, but `add` must stay in bounds.)
    for i in 0..R {
        let row = c.wrapping_add(i * rsc);
        _mm_prefetch::<_MM_HINT_T0>(row as *const i8);
        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add((NR - 1) * csc) as *const i8);
    }
    let mut acc = [[_mm256_setzero_pd(); 2]; R];
    let (mut a, mut b) = (a, b);
    for _ in 0..kc {
        // SAFETY: step p < kc: `b` and `a` point at the step's NR = 8 and MR = 6 values (R <= MR
        // read), inside the kc*NR and kc*MR the caller guarantees; after the last step `add` lands
        // one past the end, which is allowed.
        unsafe {
            let b0 = _mm256_loadu_pd(b);
            let b1 = _mm256_loadu_pd(b.add(4));
            // Unrolled by the compiler: R is a constant.
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm256_broadcast_sd(&*a.add(i));
                row[0] = _mm256_fmadd_pd(ai, b0, row[0]);
                row[1] = _mm256_fmadd_pd(ai, b1, row[1]);
            }
            a = a.add(MR);
            b = b.add(NR);
        }
    }

    let va = _mm256_set1_pd(alpha);
    let vb = _mm256_set1_pd(beta);
    if cols == NR && csc == 1 {
        for (i, row) in acc.iter().enumerate() {
            for (h, &v) in row.iter().enumerate() {
                // SAFETY: whole rows of contiguous C: C's (i, 4h .. 4h + 4)
                // are in the caller's `R x cols` block (i < R, 4h + 4 <=
                // NR = cols), which nothing else touches.
                unsafe {
                    let p = c.add(i * rsc + 4 * h);
                    let mut out = _mm256_mul_pd(va, v);
                    if beta != 0.0 {
                        out = _mm256_add_pd(_mm256_mul_pd(vb, _mm256_loadu_pd(p)), out);
                    }
                    _mm256_storeu_pd(p, out);
                }
            }
        }
    } else {
        let mut tile = [[0.0f64; NR]; R];
        for (t, row) in tile.iter_mut().zip(&acc) {
            // SAFETY: each row of `tile` holds NR = 8 values, the two stores
            // write 4 each.
            unsafe {
                _mm256_storeu_pd(t.as_mut_ptr(), row[0]);
                _mm256_storeu_pd(t.as_mut_ptr().add(4), row[1]);
            }
        }
        for (i, t) in tile.iter().enumerate() {
            for (j, &v) in t.iter().enumerate().take(cols) {
                // SAFETY: i < R and j < cols: inside the caller's block.
                unsafe {
                    let p = c.add(i * rsc + j * csc);
                    // The same two operations, in the same order, as above.
                    let mut out = alpha * v;
                    if beta != 0.0 {
                        out += beta * *p;
                    }
                    *p = out;
                }
            }
        }
    }
}

/// Packing help: for 4 lines of `kc` contiguous values starting `stride`
/// apart at `src`, writes line `w`'s value `p` to `dst[p * dst_stride + w]`,
/// four steps of k per 4x4 register transpose (the scalar loop would write
/// one value at a time, strided).
///
/// # Safety
/// The CPU supports AVX2; `src + w * stride + p` is readable and
/// `dst + p * dst_stride + w` writable for `w < 4`, `p < kc`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn transpose_4_lines(
    kc: usize,
    src: *const f64,
    stride: usize,
    dst: *mut f64,
    dst_stride: usize,
) {
    let mut p = 0;
    while p + 4 <= kc {
        // SAFETY: p + 4 <= kc, so the loads read values p .. p + 4 of lines
        // 0 .. 4 and the stores write entries w < 4 of rows p .. p + 4 of
        // `dst`: all inside what the caller guarantees.
        unsafe {
            let r0 = _mm256_loadu_pd(src.add(p));
            let r1 = _mm256_loadu_pd(src.add(stride + p));
            let r2 = _mm256_loadu_pd(src.add(2 * stride + p));
            let r3 = _mm256_loadu_pd(src.add(3 * stride + p));
            // t0 = [r0.0 r1.0 r0.2 r1.2], t1 = [r0.1 r1.1 r0.3 r1.3], ...
            let t0 = _mm256_unpacklo_pd(r0, r1);
            let t1 = _mm256_unpackhi_pd(r0, r1);
            let t2 = _mm256_unpacklo_pd(r2, r3);
            let t3 = _mm256_unpackhi_pd(r2, r3);
            let d = dst.add(p * dst_stride);
            _mm256_storeu_pd(d, _mm256_permute2f128_pd::<0x20>(t0, t2));
            _mm256_storeu_pd(d.add(dst_stride), _mm256_permute2f128_pd::<0x20>(t1, t3));
            _mm256_storeu_pd(
                d.add(2 * dst_stride),
                _mm256_permute2f128_pd::<0x31>(t0, t2),
            );
            _mm256_storeu_pd(
                d.add(3 * dst_stride),
                _mm256_permute2f128_pd::<0x31>(t1, t3),
            );
        }
        p += 4;
    }
    for p in p..kc {
        for w in 0..4 {
            // SAFETY: p < kc and w < 4: inside what the caller guarantees.
            unsafe { *dst.add(p * dst_stride + w) = *src.add(w * stride + p) };
        }
    }
}

/// Asks for the cache lines of `len` values from `src` (a hint: never faults).
pub(super) fn prefetch_lines(src: *const f64, len: usize) {
    for i in (0..len).step_by(8) {
        // SAFETY: prefetching does not access memory (any address is fine).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(src.wrapping_add(i) as *const i8) };
    }
}

/// Asks for the cache line holding `p` in L2 (a hint: never faults; any
/// address is fine).
pub(super) fn prefetch_l2(p: *const f64) {
    // SAFETY: prefetching does not access memory (any address is fine).
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p as *const i8) };
}
