//! A steady-state training step makes no heap allocation: the tape pools
//! every value, gradient and cache buffer, backward closures are stored
//! inline in their nodes, and the optimizer's state exists from the first
//! step on. Counted with a counting global allocator, which is why this test
//! has a binary of its own, and without the test harness (`harness =
//! false`: its main thread would allocate while the steps are counted).
//! `GRADTAPE_TRACE_ALLOCS=1` prints a backtrace of every allocation counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use gradtape_core::{rng_from_seed, RngExt, Tensor};
use gradtape_nn::{FcConfig, FullyConnectedNet, Model, Normalization};
use gradtape_optim::{build, UpdateRule};

/// Counts allocations; while `TRACE` is on (`GRADTAPE_TRACE_ALLOCS=1`
/// during the counted steps) prints a backtrace of each, to find it.
struct CountingAlloc;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static TRACE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set while this thread prints a backtrace (which allocates itself).
    static TRACING: Cell<bool> = const { Cell::new(false) };
}

fn trace_alloc(size: usize) {
    let _ = TRACING.try_with(|busy| {
        if !busy.replace(true) {
            let trace = std::backtrace::Backtrace::force_capture();
            eprintln!("allocation of {size} bytes at\n{trace}");
            busy.set(false);
        }
    });
}

// SAFETY: forwards every call to the system allocator unchanged; the
// counter is a relaxed atomic, the tracer only prints.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        if TRACE.load(Ordering::Relaxed) {
            trace_alloc(layout.size());
        }
        // SAFETY: our caller upholds `alloc`'s contract for `layout`; it is
        // passed to the system allocator unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, that is from the system
        // allocator, with this `layout` (our caller's contract).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Allocations over six steady-state steps of a small net
/// (every kind of layer the notebook's final net has, plus an L2 term), for
/// every update rule, with the update during backward (`train_step`, the
/// Solver's path) or after it (`train_loss` then `step`).
fn allocations_in_six_steps(normalization: Normalization, fused: bool) -> Vec<(UpdateRule, usize)> {
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
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            TRACE.store(trace, Ordering::Relaxed);
            for i in 0..6 {
                step(i);
            }
            TRACE.store(false, Ordering::Relaxed);
            (rule, ALLOCATIONS.load(Ordering::Relaxed) - before)
        })
        .collect()
}

fn main() {
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
            assert!(
                counts.iter().all(|&(_, n)| n == 0),
                "{normalization:?}, update during backward: {fused}: allocations in 6 steps {counts:?}"
            );
            println!("{normalization:?}, update during backward: {fused}: no allocation in 6 steps, for every rule");
        }
    }
}
