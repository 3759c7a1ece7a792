//! The machine's limits, measured: the f64 FMA peak with the widest vectors
//! the CPU has, and the memory bandwidth of a large triad. Included by
//! `benches/matmul.rs` and `benches/step.rs` (`#[path] mod peak;`).
//!
//! On a machine shared with other work, wall time counts the time the
//! scheduler gave to others; [`cpu_seconds`] and [`fma_peak_cpu`] measure
//! CPU time instead, so a kernel's CPU time against the FMA loop's stays a
//! meaningful ratio under load (cache contention still shows in both).

use std::hint::black_box;
use std::time::Instant;

/// Independent accumulator chains per loop: FMA latency (4-5 cycles) times
/// two FMA pipes needs at least 8-10 in flight. 12 fill 12 of the 16 ymm
/// registers; AVX-512 has 32 zmm registers, so 16 there.
const ACC_256: usize = 12;
const ACC_512: usize = 16;

/// The widest FMA loop this CPU runs: its name and flops per iteration.
pub fn fma_kind() -> (&'static str, f64) {
    if has("avx512f") {
        ("avx512f_8xf64", (ACC_512 * 8 * 2) as f64)
    } else if has("avx2") && has("fma") {
        ("avx2_fma_4xf64", (ACC_256 * 4 * 2) as f64)
    } else {
        ("scalar_f64", (ACC_256 * 2) as f64)
    }
}

fn has(feature: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        match feature {
            "avx512f" => is_x86_feature_detected!("avx512f"),
            "avx2" => is_x86_feature_detected!("avx2"),
            "fma" => is_x86_feature_detected!("fma"),
            _ => false,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = feature;
        false
    }
}

/// `iters` rounds of ACC_512 independent 8-wide f64 FMAs; the result depends
/// on every accumulator, so nothing is optimised away.
///
/// # Safety
/// The CPU supports AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_loop_avx512(iters: u64) -> f64 {
    use std::arch::x86_64::*;
    let x = _mm512_set1_pd(black_box(0.999_999_9));
    let y = _mm512_set1_pd(black_box(1e-7));
    let mut acc = [_mm512_setzero_pd(); ACC_512];
    for (i, a) in acc.iter_mut().enumerate() {
        *a = _mm512_set1_pd(1.0 + i as f64 * 1e-3);
    }
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = _mm512_fmadd_pd(*a, x, y);
        }
    }
    let mut out = [0.0f64; 8];
    let mut s = _mm512_setzero_pd();
    for a in acc {
        s = _mm512_add_pd(s, a);
    }
    // SAFETY: `out` holds the 8 values the store writes.
    unsafe { _mm512_storeu_pd(out.as_mut_ptr(), s) };
    out.iter().sum()
}

/// `iters` rounds of ACC_256 independent 4-wide f64 FMAs.
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_loop_avx2(iters: u64) -> f64 {
    use std::arch::x86_64::*;
    let x = _mm256_set1_pd(black_box(0.999_999_9));
    let y = _mm256_set1_pd(black_box(1e-7));
    let mut acc = [_mm256_setzero_pd(); ACC_256];
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
    // SAFETY: `out` holds the 4 values the store writes.
    unsafe { _mm256_storeu_pd(out.as_mut_ptr(), s) };
    out.iter().sum()
}

/// Portable: ACC_256 scalar chains of `a * x + y` (2 flops each).
fn fma_loop_scalar(iters: u64) -> f64 {
    let (x, y) = (black_box(0.999_999_9), black_box(1e-7));
    let mut acc = [0.0f64; ACC_256];
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

fn fma_loop(iters: u64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if has("avx512f") {
            // SAFETY: AVX-512F was detected just now.
            return unsafe { fma_loop_avx512(iters) };
        }
        if has("avx2") && has("fma") {
            // SAFETY: AVX2 and FMA were detected just now.
            return unsafe { fma_loop_avx2(iters) };
        }
    }
    fma_loop_scalar(iters)
}

/// Peak f64 GFLOP/s of `threads` threads each running the widest FMA loop at
/// once: the best of 5 runs of ~0.1 s (noise only ever lowers it).
pub fn fma_peak(threads: usize) -> f64 {
    let per_iter_flops = fma_kind().1;
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
        best = best.max(threads as f64 * iters as f64 * per_iter_flops / secs / 1e9);
    }
    best
}

/// Peak f64 GFLOP/s of one thread running the widest FMA loop, per second
/// of that thread's CPU time: the best of 5 runs of ~0.1 s.
#[allow(dead_code)]
pub fn fma_peak_cpu() -> f64 {
    let per_iter_flops = fma_kind().1;
    let t = cpu_seconds(true);
    black_box(fma_loop(1_000_000));
    let per_iter = ((cpu_seconds(true) - t) / 1e6).max(1e-10);
    let iters = ((0.1 / per_iter) as u64).max(1000);
    let mut best = 0.0f64;
    for _ in 0..5 {
        let t = cpu_seconds(true);
        black_box(fma_loop(black_box(iters)));
        let secs = cpu_seconds(true) - t;
        best = best.max(iters as f64 * per_iter_flops / secs / 1e9);
    }
    best
}

/// CPU time used so far, in seconds, by the calling thread (`thread`) or by
/// the whole process (every thread): unlike wall time, it leaves out the
/// time the scheduler gave to other processes. NaN where unsupported (only
/// 64-bit Linux is).
#[allow(dead_code)]
pub fn cpu_seconds(thread: bool) -> f64 {
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    {
        /// `struct timespec` on 64-bit Linux: `time_t` and `long`.
        #[repr(C)]
        struct Timespec {
            sec: i64,
            nsec: i64,
        }
        extern "C" {
            fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
        }
        // CLOCK_THREAD_CPUTIME_ID and CLOCK_PROCESS_CPUTIME_ID.
        let clock = if thread { 3 } else { 2 };
        let mut t = Timespec { sec: 0, nsec: 0 };
        // SAFETY: clock_gettime (libc, always linked on Linux) writes one
        // `struct timespec` through the pointer, which points at `t`, laid
        // out as that struct on 64-bit Linux.
        if unsafe { clock_gettime(clock, &mut t) } == 0 {
            return t.sec as f64 + t.nsec as f64 * 1e-9;
        }
    }
    let _ = thread;
    f64::NAN
}

/// Memory bandwidth in GB/s of `threads` threads running the triad
/// `a[i] = b[i] + s * c[i]` over their own slices of three 64 MB arrays
/// (far past any cache): 24 bytes per element (reads and writes; the
/// write-allocate read is not counted, as in STREAM), best of 5 passes.
pub fn triad_bandwidth(threads: usize) -> f64 {
    const LEN: usize = 8 << 20;
    let mut a = vec![0.0f64; LEN];
    let b = vec![1.0f64; LEN];
    let c = vec![2.0f64; LEN];
    let chunk = LEN.div_ceil(threads.max(1));
    let mut best = 0.0f64;
    for pass in 0..6 {
        let s = black_box(0.5 + pass as f64);
        let t = Instant::now();
        std::thread::scope(|scope| {
            for ((a, b), c) in a
                .chunks_mut(chunk)
                .zip(b.chunks(chunk))
                .zip(c.chunks(chunk))
            {
                scope.spawn(move || {
                    for ((a, b), c) in a.iter_mut().zip(b).zip(c) {
                        *a = b + s * c;
                    }
                });
            }
        });
        let secs = t.elapsed().as_secs_f64();
        black_box(&mut a);
        if pass > 0 {
            // (Pass 0 also pays the first touch of `a`'s pages.)
            best = best.max((3 * 8 * LEN) as f64 / secs / 1e9);
        }
    }
    best
}
