//! A cache-blocked product in the BLIS layout: B is packed `KC x NC` at a
//! time into column slivers `NR` wide, A `MC x KC` at a time into row slivers
//! `MR` tall, and the micro-kernel walks the slivers so that one B sliver
//! (KC * NR * 8 = 16 KB) stays in L1 while A's block (MC * KC * 8 = 240 KB)
//! stays in L2.
//!
//! A short C (a batch of 24 to 120 rows, as every product of a training
//! step on a batch of 100) takes a loop of its own, `short_serial`: A is one
//! block, and B is packed a few slivers at a time, its next group requested
//! while the kernels run, instead of a whole block from memory up front.
//!
//! Threads split C into column blocks (or row blocks, when C is taller than
//! wide), each computed by one of the two loops on its own packing buffers.
//! The `k` sum is never split, and its blocking (`KC`) is fixed, so every
//! element of C is the same sequence of operations whatever the thread count
//! or the loop.

use super::avx2;
use std::cell::RefCell;

/// Micro-tile: rows of A per sliver, columns of B per sliver.
pub(super) const MR: usize = 6;
pub(super) const NR: usize = 8;
/// Block sizes: k per packed block, rows of A per block, columns of B per block.
const KC: usize = 256;
const MC: usize = 120;
const NC: usize = 2048;
/// B slivers packed at a time in [`short_serial`]'s loop: enough that a row-major
/// B is read in runs of whole cache lines (one page visit per row serves
/// GROUP slivers), few enough that the packed group (64 KB), and the next
/// one requested, stay in L2 beside A's block and C's columns. (8, a group
/// of 128 KB, made the training step slower, measured on alternating
/// steps: see the README's Performance section.)
const GROUP: usize = 4;
/// Fewest rows of C for [`short_serial`]: below it each packed B sliver
/// serves too few kernel calls to pay for requesting the next group ahead.
const SHORT_MIN: usize = 4 * MR;
/// Values between the packed B slivers of a group beyond their own: one
/// cache line, so that the slivers, 16 KB apart otherwise, do not all start
/// in the same L1 set (packing writes the same row of each at once).
const SKEW: usize = 8;

/// A strided matrix view: element `(i, j)` is at `ptr + i * rs + j * cs`.
/// A and B are only read through it; C, whose pointer comes from the
/// caller's `&mut [f64]`, is written through it by the kernel, and threads
/// only ever write disjoint blocks of C.
#[derive(Clone, Copy)]
pub(super) struct Mat {
    pub ptr: *const f64,
    pub rs: usize,
    pub cs: usize,
}

impl Mat {
    /// The transpose (the same memory, strides swapped).
    fn t(self) -> Mat {
        Mat {
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// The block starting at `(i, j)`.
    ///
    /// # Safety
    /// `(i, j)` is an element of the matrix the view covers.
    unsafe fn at(self, i: usize, j: usize) -> Mat {
        Mat {
            // SAFETY: the element is inside the allocation (the caller's
            // contract), so the offset stays in it.
            ptr: unsafe { self.ptr.add(i * self.rs + j * self.cs) },
            ..self
        }
    }
}

// SAFETY: A and B outlive the call and are only read; C's blocks written by
// different threads are disjoint (see `gemm`).
unsafe impl Send for Mat {}
// SAFETY: as for Send: shared Mats are only read through.
unsafe impl Sync for Mat {}

thread_local! {
    /// Packing buffers, reused by every product this thread computes.
    static PACK: RefCell<(Vec<f64>, Vec<f64>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// `C = alpha * A B + beta * C` with A `(m, k)`, B `(k, n)`, C row-major with
/// row stride `ldc`. `m, n, k > 0`. Split over rayon's threads when
/// `parallel` and the product is worth it.
///
/// # Safety
/// The CPU supports AVX2 and FMA (`GemmPath::Avx2.is_supported()`); A, B and C cover the
/// stated shapes, and C aliases neither.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f64,
    a: Mat,
    b: Mat,
    beta: f64,
    c: *mut f64,
    ldc: usize,
    parallel: bool,
) {
    let c = Mat {
        ptr: c,
        rs: ldc,
        cs: 1,
    };
    // A narrow C wastes most of each 6 x 8 tile on padding (n = 10 fills
    // 10 of 16 columns); turned around, C^T = B^T A^T, it may waste less.
    // Each element is the same chain of products in the same order either
    // way (a * b == b * a exactly), so the bits do not change.
    // (u128: the padded counts of two in-bounds sides cannot overflow it.)
    let padded = |rows: usize, cols: usize| {
        (rows.div_ceil(MR) * MR) as u128 * (cols.div_ceil(NR) * NR) as u128
    };
    let (m, n, a, b, c) = if padded(n, m) < padded(m, n) {
        (n, m, b.t(), a.t(), c.t())
    } else {
        (m, n, a, b, c)
    };
    let threads = if parallel && super::worth_threading(m, k, n) {
        rayon::current_num_threads()
    } else {
        1
    };
    // A short C (a batch of rows) takes `short_serial`'s loop, when its
    // threads would split the columns.
    let short = (SHORT_MIN..=MC).contains(&m) && (threads == 1 || n >= m);
    // (`serial` or `short_serial` on one block: both have `serial`'s
    // contract.)
    let one_thread = if short { short_serial } else { serial };
    // Split the longer side of C, in whole slivers; each thread packs its own
    // copy of the other operand, and the shorter side's operand is the
    // smaller one to copy twice.
    let (len, unit) = if n >= m { (n, NR) } else { (m, MR) };
    let slivers = len.div_ceil(unit);
    let parts = threads.min(slivers).max(1);
    if parts == 1 {
        // SAFETY: the caller's contract, for the whole product.
        unsafe { one_thread(m, k, n, alpha, a, b, beta, c) };
        return;
    }
    let per = slivers.div_ceil(parts) * unit;
    let run = move |part: usize| {
        let lo = part * per;
        let hi = (lo + per).min(len);
        if lo >= hi {
            return;
        }
        // SAFETY: lo < hi <= len, so block [lo, hi) of B and C (or A and C)
        // lies inside them, and blocks of different parts are disjoint: no
        // two threads write the same element of C.
        unsafe {
            if n >= m {
                one_thread(m, k, hi - lo, alpha, a, b.at(0, lo), beta, c.at(0, lo));
            } else {
                one_thread(hi - lo, k, n, alpha, a.at(lo, 0), b, beta, c.at(lo, 0));
            }
        }
    };
    use rayon::prelude::*;
    (0..parts).into_par_iter().for_each(run);
}

/// The blocked loop on one thread for a short C, of `SHORT_MIN ..= MC`
/// rows (a batch): A's rows are one block, packed once per k block. B, the
/// large operand here, is packed `GROUP` slivers at a time right before the
/// kernels that use them, while the next group's source is requested into
/// L2 a piece per kernel call: its reads overlap the arithmetic instead of
/// stalling a packing pass of their own (`serial` packs all of a k block of
/// B, from memory, before any kernel runs).
///
/// # Safety
/// As for [`gemm`], for these views: A `(m, k)`, B `(k, n)`, C `(m, n)`,
/// `1 <= m <= MC`, `k, n >= 1`, C written by no one else during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn short_serial(
    m: usize,
    k: usize,
    n: usize,
    alpha: f64,
    a: Mat,
    b: Mat,
    beta: f64,
    c: Mat,
) {
    with_pack_buffers(
        MC.div_ceil(MR) * MR * KC,
        GROUP * (NR * KC + SKEW),
        |apack, bgroup| {
            let row_slivers = m.div_ceil(MR);
            let width = GROUP * NR;
            for pc in (0..k).step_by(KC) {
                let kc = KC.min(k - pc);
                // Only the first k block sees the caller's beta; later ones
                // add to what the earlier ones wrote.
                let beta = if pc == 0 { beta } else { 1.0 };
                let bstride = NR * kc + SKEW;
                // SAFETY: pc < k: A's m x kc block at (0, pc) lies inside A, and
                // `apack` holds ceil(MC / MR) * MR * KC >= ceil(m / MR) * MR * kc.
                unsafe { pack_a(m, kc, a.at(0, pc), apack) };
                // A's next k block, requested over this block's kernel calls.
                let mut ahead_a = (pc + KC < k).then(|| {
                    // SAFETY: (0, pc + KC) is an element of A: pc + KC < k.
                    let at = unsafe { a.at(0, pc + KC) };
                    Ahead::new(at, m, KC.min(k - pc - KC), n.div_ceil(NR) * row_slivers)
                });
                for jg in (0..n).step_by(width) {
                    let gcols = width.min(n - jg);
                    // SAFETY: pc < k, jg < n: B's kc x gcols block at (pc, jg) is in B;
                    // `bgroup` holds GROUP * (NR * KC + SKEW) values, at least the
                    // ceil(gcols / NR) slivers of bstride that pack_b writes.
                    unsafe { pack_b(kc, gcols, b.at(pc, jg), bstride, bgroup) };
                    // The group after this one: the next columns, or the first
                    // ones of the next k block.
                    let next = if jg + width < n {
                        Some((pc, jg + width))
                    } else if pc + KC < k {
                        Some((pc + KC, 0))
                    } else {
                        None
                    };
                    let calls = gcols.div_ceil(NR) * row_slivers;
                    let mut ahead = next.map(|(p, j)| {
                        // SAFETY: (p, j) is an element of B: p < k, j < n.
                        let at = unsafe { b.at(p, j) };
                        Ahead::new(at, KC.min(k - p), width.min(n - j), calls)
                    });
                    for jr in (0..gcols).step_by(NR) {
                        for ir in (0..m).step_by(MR) {
                            for ahead in [&mut ahead, &mut ahead_a].into_iter().flatten() {
                                ahead.step();
                            }
                            // SAFETY: AVX2+FMA (caller's contract); the A and B slivers hold kc * MR and kc * NR
                            // packed values; C's min(MR, m - ir) x min(NR, gcols - jr) tile at (ir, jg + jr) lies
                            // inside C, a `&mut [f64]` that only this thread writes here.
                            unsafe {
                                avx2::kernel_rows(
                                    MR.min(m - ir),
                                    kc,
                                    apack.as_ptr().add(ir * kc),
                                    bgroup.as_ptr().add(jr / NR * bstride),
                                    c.at(ir, jg + jr).ptr as *mut f64,
                                    c.rs,
                                    c.cs,
                                    NR.min(gcols - jr),
                                    alpha,
                                    beta,
                                )
                            };
                        }
                    }
                }
            }
        },
    );
}

/// Requests a `rows x cols` block of a strided matrix into L2, a share of
/// its cache lines per call of [`Ahead::step`], so that the whole block is
/// asked for over `calls` calls. Only blocks contiguous along one side
/// (`cs == 1` or `rs == 1`) are requested; prefetching is a hint, so the
/// other case is left to the hardware.
struct Ahead {
    /// Start of the current contiguous run, and the step to the next run.
    line: *const f64,
    stride: usize,
    /// Values per run, runs not yet finished, and the next value of the
    /// current run to request (every 8th, then the last, whose line the
    /// others may miss).
    len: usize,
    runs: usize,
    at: usize,
    /// Prefetches per call.
    chunk: usize,
}

impl Ahead {
    fn new(at: Mat, rows: usize, cols: usize, calls: usize) -> Ahead {
        let (stride, len, runs) = if at.cs == 1 {
            (at.rs, cols, rows)
        } else if at.rs == 1 {
            (at.cs, rows, cols)
        } else {
            (0, 0, 0)
        };
        let total = (len.div_ceil(8) + 1) * runs;
        Ahead {
            line: at.ptr,
            stride,
            len,
            runs,
            at: 0,
            chunk: total.div_ceil(calls.max(1)),
        }
    }

    /// Issues the next share of the prefetches.
    fn step(&mut self) {
        for _ in 0..self.chunk {
            if self.runs == 0 {
                return;
            }
            let last = self.len - 1;
            // (`wrapping_add`: only an address for the hint; it lies inside
            // the block, but a prefetch would not fault even if it did not.)
            avx2::prefetch_l2(self.line.wrapping_add(self.at.min(last)));
            if self.at >= last {
                self.line = self.line.wrapping_add(self.stride);
                self.runs -= 1;
                self.at = 0;
            } else {
                self.at += 8;
            }
        }
    }
}

/// The blocked loop on one thread.
#[allow(clippy::too_many_arguments)]
///
/// # Safety
/// As for [`gemm`], for these views: A `(m, k)`, B `(k, n)`, C `(m, n)`,
/// `m, k, n >= 1`, C written by no one else during the call.
unsafe fn serial(m: usize, k: usize, n: usize, alpha: f64, a: Mat, b: Mat, beta: f64, c: Mat) {
    with_pack_buffers(
        MC.div_ceil(MR) * MR * KC,
        NC.min(n).div_ceil(NR) * NR * KC,
        |apack, bpack| {
            for jc in (0..n).step_by(NC) {
                let nc = NC.min(n - jc);
                for pc in (0..k).step_by(KC) {
                    let kc = KC.min(k - pc);
                    // Only the first k block sees the caller's beta; later ones
                    // add to what the earlier ones wrote.
                    let beta = if pc == 0 { beta } else { 1.0 };
                    // SAFETY: pc < k and jc < n, so B's block (pc.., jc..) of
                    // kc x nc lies inside B; `bpack` holds the
                    // ceil(nc / NR) * NR * kc values pack_b writes.
                    unsafe { pack_b(kc, nc, b.at(pc, jc), NR * kc, bpack) };
                    // SAFETY: the caller's contract for A and C, whose blocks at (0, pc) and (0, jc) are
                    // inside them (pc < k, jc < n); `bpack` holds the block's packed slivers.
                    unsafe {
                        macro_kernel(
                            m,
                            kc,
                            nc,
                            alpha,
                            a.at(0, pc),
                            bpack,
                            beta,
                            c.at(0, jc),
                            apack,
                        )
                    };
                }
            }
        },
    );
}

/// One k block of the product, B's part already packed (BLIS's macro-kernel):
/// `C = alpha * A B + beta * C` for A `(m, kc)`, C `(m, nc)`, with B's
/// `kc x nc` block in `bpack` as [`pack_b`] writes it (slivers of `NR *
/// kc`); A is packed `MC` rows at a time into `apack`.
///
/// # Safety
/// As for [`gemm`], for these views, `m, kc, nc >= 1`, `kc <= KC`; `bpack`
/// holds `ceil(nc / NR) * NR * kc` packed values; `apack` holds
/// `ceil(MC / MR) * MR * KC`; C is written by no one else during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn macro_kernel(
    m: usize,
    kc: usize,
    nc: usize,
    alpha: f64,
    a: Mat,
    bpack: &[f64],
    beta: f64,
    c: Mat,
    apack: &mut [f64],
) {
    for ic in (0..m).step_by(MC) {
        let mc = MC.min(m - ic);
        // SAFETY: A's mc x kc block at (ic, 0) lies inside A and `apack`
        // holds ceil(mc / MR) * MR * kc.
        unsafe { pack_a(mc, kc, a.at(ic, 0), apack) };
        for jr in (0..nc).step_by(NR) {
            for ir in (0..mc).step_by(MR) {
                // SAFETY: AVX2+FMA (caller's contract); the A and B slivers hold kc*MR and kc*NR packed
                // values; C's min(MR, mc-ir) x min(NR, nc-jr) tile at (ic+ir, jr) lies inside C, which
                // only this thread writes.
                unsafe {
                    avx2::kernel_rows(
                        MR.min(mc - ir),
                        kc,
                        apack.as_ptr().add(ir * kc),
                        bpack.as_ptr().add(jr * kc),
                        c.at(ic + ir, jr).ptr as *mut f64,
                        c.rs,
                        c.cs,
                        NR.min(nc - jr),
                        alpha,
                        beta,
                    )
                };
            }
        }
    }
}

/// Values [`pack_b_whole`] writes for a `k x n` B: every k block's
/// slivers, `NR` columns each (the last padded with zeros).
pub(super) fn packed_b_len(k: usize, n: usize) -> usize {
    n.div_ceil(NR) * NR * k
}

/// Packs all of a `k x n` B once, for many products with it ([`gemm_packed_b`]:
/// the parts of one weight gradient `X^T dY` share dY): k block `pc`'s
/// slivers start at `pc * padded n`, each `NR * kc` values, as [`serial`]
/// packs one block.
///
/// # Safety
/// The CPU supports AVX2; the view covers a `k x n` block of readable
/// values; `out` holds [`packed_b_len`]`(k, n)` values.
pub(super) unsafe fn pack_b_whole(k: usize, n: usize, b: Mat, out: &mut [f64]) {
    let padded = n.div_ceil(NR) * NR;
    for pc in (0..k).step_by(KC) {
        let kc = KC.min(k - pc);
        // SAFETY: pc < k: B's kc x n block at (pc, 0) is inside B; the block's
        // slivers take padded * kc values from pc * padded, inside `out`.
        unsafe { pack_b(kc, n, b.at(pc, 0), NR * kc, &mut out[pc * padded..]) };
    }
}

/// `C = alpha * A B + beta * C` on this thread, with B packed by
/// [`pack_b_whole`]: [`serial`]'s loop without its packing of B, so the
/// bits are the same.
///
/// # Safety
/// As for [`gemm`], for these views: A `(m, k)`, C `(m, n)`, `m, k, n >= 1`;
/// `b` is what `pack_b_whole(k, n, ..)` wrote; C is written by no one else
/// during the call.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_packed_b(
    m: usize,
    k: usize,
    n: usize,
    alpha: f64,
    a: Mat,
    b: &[f64],
    beta: f64,
    c: *mut f64,
    ldc: usize,
) {
    let c = Mat {
        ptr: c,
        rs: ldc,
        cs: 1,
    };
    let padded = n.div_ceil(NR) * NR;
    assert!(
        b.len() >= packed_b_len(k, n),
        "gemm_packed_b: B is not packed for {k} x {n}"
    );
    with_pack_buffers(MC.div_ceil(MR) * MR * KC, 0, |apack, _| {
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            let beta = if pc == 0 { beta } else { 1.0 };
            let bblock = &b[pc * padded..pc * padded + padded * kc];
            // SAFETY: the caller's contract for A and C; A's block at (0, pc) is inside A (pc < k);
            // `bblock` is the k block's packed slivers (padded * kc values).
            unsafe { macro_kernel(m, kc, n, alpha, a.at(0, pc), bblock, beta, c, apack) };
        }
    })
}

/// Runs `f` on this thread's packing buffers for A and B, `a_len` and
/// `b_len` values each, every one starting at a cache line. A product never
/// calls back into rayon while it holds them, so the borrow is never
/// re-entered; a fresh pair is the fallback if it ever were.
fn with_pack_buffers<R>(
    a_len: usize,
    b_len: usize,
    f: impl FnOnce(&mut [f64], &mut [f64]) -> R,
) -> R {
    PACK.with(|cell| {
        let mut fresh = (Vec::new(), Vec::new());
        let mut guard = cell.try_borrow_mut();
        let (abuf, bbuf) = match guard.as_deref_mut() {
            Ok(bufs) => (&mut bufs.0, &mut bufs.1),
            Err(_) => (&mut fresh.0, &mut fresh.1),
        };
        f(aligned(abuf, a_len), aligned(bbuf, b_len))
    })
}

/// `len` values of `buf`, starting at a 64-byte boundary (one cache line).
fn aligned(buf: &mut Vec<f64>, len: usize) -> &mut [f64] {
    if buf.len() < len + 8 {
        buf.resize(len + 8, 0.0);
    }
    let skip = buf.as_ptr().align_offset(64).min(8);
    &mut buf[skip..skip + len]
}

/// Packs the `mc x kc` block of A into row slivers of `MR`: sliver `s` holds
/// `A[s*MR + i, p]` at `s*MR*kc + p*MR + i`, zero past the last row.
///
/// # Safety
/// The view covers an `mc x kc` block of readable values.
unsafe fn pack_a(mc: usize, kc: usize, a: Mat, out: &mut [f64]) {
    // SAFETY: the caller's contract (rows are A's lines).
    unsafe { pack::<MR>(mc, kc, a.ptr, a.rs, a.cs, MR * kc, out) };
}

/// Packs the `kc x nc` block of B into column slivers of `NR`, each
/// `stride >= NR * kc` values after the previous one: sliver `s` holds
/// `B[p, s*NR + j]` at `s*stride + p*NR + j`, zero past the last column.
///
/// # Safety
/// The view covers a `kc x nc` block of readable values.
unsafe fn pack_b(kc: usize, nc: usize, b: Mat, stride: usize, out: &mut [f64]) {
    // SAFETY: the caller's contract (columns are B's lines).
    unsafe { pack::<NR>(nc, kc, b.ptr, b.cs, b.rs, stride, out) };
}

/// Rows of the source to request ahead of the packing loop: the jump from
/// one row to the next defeats the hardware prefetcher (W1's rows are 4 KB
/// apart and read 2 KB at a time).
const AHEAD: usize = 8;

/// Packs `len` lines of `kc` values into slivers of `W` lines, each
/// `sliver_stride >= W * kc` values after the previous one: line `l`'s
/// value `p` is at `src + l * line_stride + p * k_stride` and goes to
/// `(l / W) * sliver_stride + p * W + l % W`. Lines past `len` in the last
/// sliver are zero. (`out` is a slice: a short one panics, it is never
/// overrun.)
///
/// # Safety
/// The CPU supports AVX2 (only the AVX2 path packs); `src + l * line_stride
/// + p * k_stride` is readable for every `l < len`, `p < kc`.
#[target_feature(enable = "avx2,fma")]
unsafe fn pack<const W: usize>(
    len: usize,
    kc: usize,
    src: *const f64,
    line_stride: usize,
    k_stride: usize,
    sliver_stride: usize,
    out: &mut [f64],
) {
    if len == 0 {
        return;
    }
    let slivers = len.div_ceil(W);
    let ss = sliver_stride.max(W * kc);
    // (len, kc and the stride are bounded by the block sizes, so this
    // cannot overflow.)
    let out = &mut out[..(slivers - 1) * ss + W * kc];
    if line_stride == 1 {
        // The W values of one step are contiguous: walk the source row by
        // row (sequential reads), writing W values into each sliver.
        let full = len / W;
        let rest = len - full * W;
        for p in 0..kc {
            // SAFETY: line_stride == 1, so step p's values of lines
            // 0 .. len are `len` contiguous readable values (the caller's
            // contract), which nothing writes during the product.
            let row = unsafe { std::slice::from_raw_parts(src.add(p * k_stride), len) };
            if p + AHEAD < kc {
                // SAFETY: step p + AHEAD < kc exists, so its start is in
                // bounds.
                avx2::prefetch_lines(unsafe { src.add((p + AHEAD) * k_stride) }, len);
            }
            for s in 0..full {
                let at = s * ss + p * W;
                out[at..at + W].copy_from_slice(&row[s * W..s * W + W]);
            }
            if rest > 0 {
                let at = full * ss + p * W;
                out[at..at + rest].copy_from_slice(&row[full * W..]);
                out[at + rest..at + W].fill(0.0);
            }
        }
    } else {
        // Each line is read along k (contiguous when k_stride == 1).
        for s in 0..slivers {
            let sliver = &mut out[s * ss..s * ss + W * kc];
            let lines = W.min(len - s * W);
            if lines < W {
                sliver.fill(0.0);
            }
            let mut w = 0;
            if k_stride == 1 {
                // Four lines at a time, four steps of k per 4x4 transpose.
                while w + 4 <= lines {
                    // SAFETY: AVX2; lines s*W+w .. +4 exist (w + 4 <= lines), each kc contiguous values
                    // (k_stride == 1); the writes go to entries w .. w+4 of the kc rows of W in `sliver`,
                    // which is W * kc long.
                    unsafe {
                        avx2::transpose_4_lines(
                            kc,
                            src.add((s * W + w) * line_stride),
                            line_stride,
                            sliver.as_mut_ptr().add(w),
                            W,
                        )
                    };
                    w += 4;
                }
            }
            for w in w..lines {
                for p in 0..kc {
                    // SAFETY: line s * W + w < len and step p < kc are in
                    // the source (the caller's contract); p * W + w <
                    // kc * W = sliver.len().
                    unsafe {
                        let line = src.add((s * W + w) * line_stride);
                        *sliver.get_unchecked_mut(p * W + w) = *line.add(p * k_stride);
                    }
                }
            }
        }
    }
}
