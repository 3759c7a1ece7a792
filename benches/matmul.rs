//! Matrix products on the shapes of one training step: every path of
//! `gradtape::gemm` side by side with plain `matrixmultiply::dgemm`.
//!
//! ```text
//! cargo bench --bench matmul                   # every kernel, every shape
//! cargo bench --bench matmul -- engine fwd1    # filters: kernel labels / shape names (substrings)
//! benches/compare_numpy.sh                     # the same against numpy/OpenBLAS, as ratios
//! ```
//!
//! For each of the 12 shapes of `../shared/bench/numpy_gemm.py` (same names,
//! same transposition flags: a transposed operand is read through its
//! strides, as a backward pass sees it) it times C = op(A) op(B) with
//!
//! | label | threads | what |
//! | --- | --- | --- |
//! | `mm_1t` | 1 | `matrixmultiply::dgemm` in the stored orientation, one thread: the baseline gradtape once called |
//! | `<path>_1t` | 1 | each [`GemmPath`] this CPU runs, `MATMUL_NUM_THREADS=1 RAYON_NUM_THREADS=1` |
//! | `mm_mt` | env | `matrixmultiply::dgemm` with its own threading (`MATMUL_NUM_THREADS`, default the physical cores, at most 4) |
//! | `<path>` | env | each path with the environment as given (`avx2`, `matrixmultiply-threaded`: rayon threads; `fallback`: matrixmultiply's threads) |
//! | `matrixmultiply-threaded_mm1` | env | the threaded path with `MATMUL_NUM_THREADS=1`: rayon blocks without matrixmultiply's threads nested inside them |
//! | `engine` | env | `gradtape::gemm` as a user gets it: [`GemmPath::selected`] |
//!
//! (The bake-off that chose these, with a naive and a blocked loop, a rayon
//! split over single-threaded dgemm and the `gemm` crate, is in the git
//! history of this file; the paths above are what it left standing.)
//!
//! matrixmultiply reads `MATMUL_NUM_THREADS` once per process and has no
//! per-call switch, so this harness runs every shape in three child processes
//! of itself, one per thread setting, back to back, so ratios between them
//! are measured under the same load.
//!
//! Output: `#` lines naming the CPU's vector extensions, the path `auto`
//! picks and the micro-kernel of each path; `PEAK` lines
//! (`PEAK<TAB>loop<TAB>threads<TAB>GFLOP/s`: the f64 FMA peak of the widest
//! vectors the CPU has, `benches/common/peak.rs`, on one core and on all
//! cores at once) and a `PEAK_CPU` line (the same loop on one core, per
//! second of its CPU time), then one line per (kernel, shape) in
//! numpy_gemm.py's format plus five columns:
//! `RESULT<TAB>label<TAB>shape<TAB>m<TAB>k<TAB>n<TAB>GFLOP/s<TAB>ms<TAB>frac_machine_peak<TAB>threads<TAB>frac_peak_of_threads_used<TAB>cpu_ms<TAB>frac_peak_per_cpu_s`.
//! Timing is numpy_gemm.py's `time_it`: median of up to 5 batches of ~70 ms.
//! `cpu_ms` is the CPU time the whole process used per call (median batch;
//! every thread, spinning ones too), and `frac_peak_per_cpu_s` the GFLOP per
//! CPU-second against `PEAK_CPU`: on a machine shared with other work it
//! leaves out the time other processes took, so it compares kernels (and
//! runs) where wall-time figures cannot.
//! Every kernel's result is checked against `matrixmultiply` (relative error
//! at most 1e-12), and the harness exits non-zero on a mismatch.

// (This bench uses the FMA peak only; the bandwidth is for benches/step.rs.)
#[allow(dead_code)]
#[path = "common/peak.rs"]
mod peak;

use gradtape::GemmPath;
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

/// numpy_gemm.py's `time_it`: warm up ~50 ms, then up to `nbatch` batches of
/// ~70 ms (fewer if that would pass `max_total_s`); median seconds per call.
/// Returns (GFLOP/s, ms, process CPU ms per call in the median-CPU batch).
fn time_it(mut f: impl FnMut(), flops: f64, max_total_s: f64) -> (f64, f64, f64) {
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
    let (mut per, mut cpu): (Vec<f64>, Vec<f64>) = (0..nbatch)
        .map(|_| {
            let (t, c) = (Instant::now(), peak::cpu_seconds(false));
            for _ in 0..reps {
                f();
            }
            let wall = t.elapsed().as_secs_f64() / reps as f64;
            (wall, (peak::cpu_seconds(false) - c) / reps as f64)
        })
        .unzip();
    per.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    let med = per[per.len() / 2];
    (flops / med / 1e9, med * 1e3, cpu[cpu.len() / 2] * 1e3)
}

// ---------------------------------------------------------------- kernels

/// Strides of op(A) (m x k) and op(B) (k x n) in row-major storage.
fn strides(s: &Shape) -> (isize, isize, isize, isize) {
    let (m, k, n) = (s.m as isize, s.k as isize, s.n as isize);
    let (rsa, csa) = if s.a_t { (1, m) } else { (k, 1) };
    let (rsb, csb) = if s.b_t { (1, k) } else { (n, 1) };
    (rsa, csa, rsb, csb)
}

/// Plain `matrixmultiply::dgemm` of C = op(A) op(B), C row-major (m x n),
/// in the stored orientation.
fn mm(s: &Shape, a: &[f64], b: &[f64], c: &mut [f64]) {
    let (rsa, csa, rsb, csb) = strides(s);
    assert!(a.len() >= s.m * s.k && b.len() >= s.k * s.n && c.len() >= s.m * s.n);
    // SAFETY: with these strides dgemm reads a[..m * k] and b[..k * n] and
    // writes c[..m * n], inside the buffers by the assert above (the bench's
    // shapes are small, so the products cannot overflow); `c` is borrowed
    // mutably, so it aliases neither `a` nor `b`.
    unsafe {
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

/// `gradtape::gemm` on `path` (`None`: the selected path, as a user gets it).
fn engine(path: Option<GemmPath>, s: &Shape, a: &[f64], b: &[f64], c: &mut [f64]) {
    let path = path.unwrap_or_else(GemmPath::selected);
    gradtape::try_gemm_with(path, s.m, s.k, s.n, 1.0, a, s.a_t, b, s.b_t, 0.0, c)
        .expect("the bench's shapes fit their buffers");
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
    /// One core, per second of its CPU time.
    core_cpu: f64,
}

impl Peaks {
    fn from_env() -> Option<Peaks> {
        let v = env::var("GRADTAPE_BENCH_PEAK").ok()?;
        let mut it = v.split(',').map(|x| x.parse().ok());
        Some(Peaks {
            core: it.next()??,
            machine: it.next()??,
            core_cpu: it.next()??,
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

/// One child process: the kernels of one group on one shape. Groups:
/// `1t` (`MATMUL_NUM_THREADS=1 RAYON_NUM_THREADS=1`), `mt` (environment as
/// given), `mm1` (`MATMUL_NUM_THREADS=1`, rayon as given).
fn child(group: &str, idx: usize, filters: &[String]) {
    let s = &SHAPES[idx];
    let peaks = Peaks::from_env();
    let flops = 2.0 * (s.m * s.k * s.n) as f64;
    let mut a = vec![0.0; s.m * s.k];
    let mut b = vec![0.0; s.k * s.n];
    fill(&mut a, 0x9e37_79b9_7f4a_7c15 ^ idx as u64);
    fill(&mut b, 0xd1b5_4a32_d192_ed03 ^ idx as u64);
    let mut reference = vec![0.0; s.m * s.n];
    mm(s, &a, &b, &mut reference);
    let mut c = vec![0.0; s.m * s.n];
    let mm_threads = env_threads("MATMUL_NUM_THREADS")
        .unwrap_or_else(cores)
        .clamp(1, 4);
    let rayon_threads = rayon::current_num_threads();
    let paths: Vec<GemmPath> = GemmPath::ALL
        .into_iter()
        .filter(|p| p.is_supported())
        .collect();
    let path_threads = |p: GemmPath| {
        if p == GemmPath::Fallback {
            mm_threads
        } else {
            rayon_threads
        }
    };

    type Kernel<'a> = Box<dyn FnMut(&mut [f64]) + 'a>;
    let mut kernels: Vec<(String, usize, Kernel)> = Vec::new();
    let (a, b) = (&a, &b);
    match group {
        "1t" => {
            kernels.push(("mm_1t".into(), 1, Box::new(move |c| mm(s, a, b, c))));
            for &p in &paths {
                kernels.push((
                    format!("{p}_1t"),
                    1,
                    Box::new(move |c| engine(Some(p), s, a, b, c)),
                ));
            }
        }
        "mm1" => {
            let p = GemmPath::MatrixmultiplyThreaded;
            kernels.push((
                format!("{p}_mm1"),
                rayon_threads,
                Box::new(move |c| engine(Some(p), s, a, b, c)),
            ));
        }
        _ => {
            kernels.push((
                "mm_mt".into(),
                mm_threads,
                Box::new(move |c| mm(s, a, b, c)),
            ));
            for &p in &paths {
                kernels.push((
                    p.to_string(),
                    path_threads(p),
                    Box::new(move |c| engine(Some(p), s, a, b, c)),
                ));
            }
            kernels.push((
                "engine".into(),
                path_threads(GemmPath::selected()),
                Box::new(move |c| engine(None, s, a, b, c)),
            ));
        }
    }

    let scale = reference
        .iter()
        .fold(0.0f64, |acc, x| acc.max(x.abs()))
        .max(1e-300);
    for (label, threads, f) in kernels.iter_mut() {
        if !selected(filters, label, s.name) {
            continue;
        }
        c.fill(f64::NAN);
        let (gf, ms, cpu_ms) = time_it(|| f(black_box(&mut c)), flops, 4.0);
        let err = c
            .iter()
            .zip(&reference)
            .fold(0.0f64, |acc, (x, r)| acc.max((x - r).abs()))
            / scale;
        if err.is_nan() || err > 1e-12 {
            eprintln!("CHECK-FAIL\t{label}\t{}\trelative error {err:e}", s.name);
            exit(1);
        }
        let (frac, frac_used, frac_cpu) = match &peaks {
            Some(p) => (
                gf / p.machine,
                gf / (p.core * *threads as f64),
                flops / (cpu_ms * 1e-3) / 1e9 / p.core_cpu,
            ),
            None => (f64::NAN, f64::NAN, f64::NAN),
        };
        println!(
            "RESULT\t{label}\t{}\t{}\t{}\t{}\t{gf:.3}\t{ms:.5}\t{frac:.3}\t{threads}\t{frac_used:.3}\t{cpu_ms:.5}\t{frac_cpu:.3}",
            s.name, s.m, s.k, s.n
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
        child(&group, idx, &filters);
        return;
    }

    let n = cores();
    let (kind, _) = peak::fma_kind();
    println!("# cpu: {}", GemmPath::cpu_features());
    println!(
        "# gemm path: {} ({}); GRADTAPE_GEMM={:?}",
        GemmPath::selected(),
        GemmPath::selected().kernel(),
        env::var("GRADTAPE_GEMM").ok()
    );
    for p in GemmPath::ALL {
        match p.missing_features() {
            None => println!("# path {p}: {}", p.kernel()),
            Some(missing) => println!("# path {p}: not run (the CPU lacks {missing})"),
        }
    }
    let core = peak::fma_peak(1);
    let machine = peak::fma_peak(n);
    let core_cpu = peak::fma_peak_cpu();
    println!("PEAK\t{kind}\t1\t{core:.3}");
    println!("PEAK\t{kind}\t{n}\t{machine:.3}");
    println!("PEAK_CPU\t{kind}\t1\t{core_cpu:.3}");
    println!(
        "# env MATMUL_NUM_THREADS={:?} RAYON_NUM_THREADS={:?}; cores={n}",
        env::var("MATMUL_NUM_THREADS").ok(),
        env::var("RAYON_NUM_THREADS").ok()
    );
    println!("# columns: RESULT label shape m k n GFLOP/s ms frac_machine_peak threads frac_peak_of_threads_used cpu_ms frac_peak_per_cpu_s");

    let exe = env::current_exe().expect("path of this bench binary");
    let peak = format!("{core},{machine},{core_cpu}");
    let mut failed = false;
    for (idx, s) in SHAPES.iter().enumerate() {
        if filters.iter().any(|f| is_shape_filter(f))
            && !filters.iter().any(|f| s.name.contains(f.as_str()))
        {
            continue;
        }
        for group in ["1t", "mt", "mm1"] {
            let mut cmd = Command::new(&exe);
            cmd.arg("--child")
                .arg(group)
                .arg(idx.to_string())
                .args(&filters);
            cmd.env("GRADTAPE_BENCH_PEAK", &peak);
            if group != "mt" {
                cmd.env("MATMUL_NUM_THREADS", "1");
            }
            if group == "1t" {
                cmd.env("RAYON_NUM_THREADS", "1");
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
