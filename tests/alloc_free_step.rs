//! A steady-state training step makes no heap allocation on the `avx2`
//! product path: the tape pools every value, gradient and cache buffer,
//! backward closures are stored inline in their nodes, the optimizer's state
//! exists from the first step on, and the kernel's packing buffers are per
//! thread. The paths that call `matrixmultiply::dgemm` (`fallback`, and
//! `matrixmultiply-threaded`, which `auto` picks on AVX-512 CPUs) allocate
//! dgemm's packing buffer on every product; for them the test checks that a
//! step allocates the same number of times as the step before (nothing
//! grows). Counted with a counting global allocator, which is why this test
//! has a binary of its own, and without the test harness (`harness =
//! false`: its main thread would allocate while the steps are counted).
//! `GRADTAPE_TRACE_ALLOCS=1` prints a backtrace of every allocation counted;
//! `GRADTAPE_GEMM=<path>` runs the test on that path (else `avx2` wherever
//! the CPU has AVX2 and FMA).

use gradtape::nn::{FcConfig, FullyConnectedNet, Model, Normalization};
use gradtape::optim::{build, UpdateRule};
use gradtape::{rng_from_seed, GemmPath, RngExt, Tensor};

#[path = "../benches/common/counting_alloc.rs"]
mod counting_alloc;

/// Counts allocations; with `GRADTAPE_TRACE_ALLOCS=1`, prints a backtrace
/// of each made during the counted steps, to find it.
#[global_allocator]
static GLOBAL: counting_alloc::CountingAlloc = counting_alloc::CountingAlloc;

/// Allocations in each of six steady-state steps of a small net (every
/// kind of layer the notebook's final net has, plus an L2 term), for every
/// update rule, with the update during backward (`train_step`, the Solver's
/// path) or after it (`train_loss` then `step`).
fn allocations_in_six_steps(
    normalization: Normalization,
    fused: bool,
) -> Vec<(UpdateRule, [usize; 6])> {
    let mut rng = rng_from_seed(1);
    let batches: Vec<(Tensor, Vec<usize>)> = (0..3)
        .map(|_| {
            let x = Tensor::randn(&[8, 3, 2, 2], &mut rng);
            let y = (0..8).map(|_| rng.random_range(0..10)).collect();
            (x, y)
        })
        .collect();
    UpdateRule::ALL
        .into_iter()
        .map(|rule| {
            let mut net = FullyConnectedNet::new(FcConfig {
                hidden_dims: vec![20, 30],
                input_dim: 12,
                dropout: 0.5,
                normalization,
                reg: 0.1,
                seed: 0,
                ..FcConfig::default()
            })
            .unwrap();
            let mut opt = build(rule, 1e-3).unwrap();
            let mut step = |i: usize| {
                let (x, y) = &batches[i % batches.len()];
                if fused {
                    net.train_step(x, y, opt.as_mut()).unwrap();
                } else {
                    net.train_loss(x, y).unwrap();
                    net.step(opt.as_mut()).unwrap();
                }
            };
            for i in 0..3 {
                step(i); // the first steps fill the pool and create the state
            }
            let trace = std::env::var_os("GRADTAPE_TRACE_ALLOCS").is_some();
            let mut counts = [0; 6];
            counting_alloc::set_tracing(trace);
            for (i, count) in counts.iter_mut().enumerate() {
                let before = counting_alloc::allocations();
                step(i);
                *count = counting_alloc::allocations() - before;
            }
            counting_alloc::set_tracing(false);
            (rule, counts)
        })
        .collect()
}

fn main() {
    // The zero-allocation claim is the `avx2` path's: run it wherever the
    // CPU has that path, unless a path was asked for. Set before any
    // product runs (the path is chosen once per process) and before any
    // other thread exists.
    if std::env::var_os("GRADTAPE_GEMM").is_none() && GemmPath::cpu_features().contains("avx2 fma")
    {
        std::env::set_var("GRADTAPE_GEMM", "avx2");
    }
    let path = GemmPath::selected();
    // Start every thread of rayon's pool now: a worker allocates its job
    // queue when it first runs, which on a busy machine can be late enough
    // to fall inside a counted step. That is the pool starting once, not
    // the step allocating.
    rayon::broadcast(|_| ());
    for normalization in [
        Normalization::BatchNorm,
        Normalization::LayerNorm,
        Normalization::None,
    ] {
        for fused in [true, false] {
            let counts = allocations_in_six_steps(normalization, fused);
            let what = format!("{normalization:?}, update during backward: {fused}, path {path}");
            if path == GemmPath::Avx2 {
                assert!(
                    counts.iter().all(|(_, c)| c.iter().all(|&n| n == 0)),
                    "{what}: allocations per step {counts:?}"
                );
                println!("{what}: no allocation in 6 steps, for every rule");
            } else {
                assert!(
                    counts.iter().all(|(_, c)| c.iter().all(|&n| n == c[0])),
                    "{what}: allocations per step grow or vary {counts:?}"
                );
                println!("{what}: allocations per step (dgemm's packing buffers) {counts:?}");
            }
        }
    }
}
