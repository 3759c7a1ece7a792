//! One training step of the notebook's final net (3072-500-500-500-10,
//! batchnorm, dropout keep 0.5, batch 100, forward + backward + Adam), timed
//! like ../shared/bench/numpy_step.py and printed in its format, then a
//! breakdown of where the step's time goes, and a sweep over batch size and
//! hidden width.
//!
//! cargo bench --bench step [-- --steps 100 --sweep --anomaly --separate-update --trace-allocs]
//!
//! The step is the Solver's (`Model::train_step`: Adam applied to each
//! parameter during backward, as soon as its gradient is final);
//! `--separate-update` times backward followed by a separate Adam pass
//! (`train_loss`, then `Model::step`) instead.
//!
//! It also prints the machine's floor for the step (`FLOOR` line): the
//! step's matrix products at the measured FMA peak of the widest vectors the
//! CPU has, plus Adam's 7 passes of 8 bytes per parameter (read w, g, m, v;
//! write w, m, v) at the measured memory bandwidth, or Adam's time in a
//! tight loop if that is lower; and the step's ratio to it.
//!
//! benches/compare_numpy.sh runs this beside numpy (and PyTorch, when
//! installed) in the same run and prints the ratios.

#[path = "common/peak.rs"]
mod peak;

use gradtape::nn::{FcConfig, FullyConnectedNet, Model, Normalization};
use gradtape::optim::{build, Optimizer, UpdateRule};
use gradtape::{rng_from_seed, GemmPath, RngExt, Tensor};
use std::time::{Duration, Instant};

const DIMS: [usize; 5] = [3072, 500, 500, 500, 10];

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

/// Counts heap allocations, to report how many one steady-state step makes;
/// with `--trace-allocs`, prints where each allocation of one steady-state
/// step comes from (a backtrace per allocation, on stderr).
#[global_allocator]
static GLOBAL: counting_alloc::CountingAlloc = counting_alloc::CountingAlloc;

struct Bench {
    net: FullyConnectedNet,
    opt: Box<dyn Optimizer + Send>,
    pool: Vec<(Tensor, Vec<usize>)>,
    /// Adam in a pass of its own after backward, instead of during it.
    separate_update: bool,
}

impl Bench {
    fn new(batch: usize, hidden: usize) -> Self {
        let net = FullyConnectedNet::new(FcConfig {
            hidden_dims: vec![hidden; 3],
            dropout: 0.5,
            normalization: Normalization::BatchNorm,
            weight_scale: (2.0f64 / 3072.0).sqrt(),
            ..FcConfig::default()
        })
        .expect("valid config");
        let mut rng = rng_from_seed(0);
        let pool = (0..8)
            .map(|_| {
                let x = Tensor::randn(&[batch, 3, 32, 32], &mut rng);
                let y = (0..batch).map(|_| rng.random_range(0..10)).collect();
                (x, y)
            })
            .collect();
        let opt = build(UpdateRule::Adam, 1e-3).expect("valid lr");
        let separate_update = std::env::args().any(|a| a == "--separate-update");
        Bench {
            net,
            opt,
            pool,
            separate_update,
        }
    }

    /// One step; returns (loss, forward+backward time, Adam time), the
    /// latter two only with a separate update (else the whole step, zero).
    fn step(&mut self, i: usize) -> (f64, Duration, Duration) {
        let (x, y) = &self.pool[i % self.pool.len()];
        let t0 = Instant::now();
        if !self.separate_update {
            let loss = self.net.train_step(x, y, self.opt.as_mut()).expect("step");
            return (loss, t0.elapsed(), Duration::ZERO);
        }
        let loss = self.net.train_loss(x, y).expect("step");
        let t1 = Instant::now();
        self.net.step(self.opt.as_mut()).expect("update");
        (loss, t1 - t0, t1.elapsed())
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn time_steps(b: &mut Bench, warmup: usize, steps: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>, f64) {
    for i in 0..warmup {
        b.step(i);
    }
    let (mut total, mut fb, mut adam) = (vec![], vec![], vec![]);
    let mut loss = 0.0;
    for i in 0..steps {
        let t = Instant::now();
        let (l, f, a) = b.step(i);
        total.push(t.elapsed().as_secs_f64());
        fb.push(f.as_secs_f64());
        adam.push(a.as_secs_f64());
        loss = l;
    }
    (total, fb, adam, loss)
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let steps = arg("--steps", 100);
    let mut b = Bench::new(100, 500);
    // --anomaly: the same step with anomaly detection on (a finiteness scan
    // of every op's output and every gradient contribution).
    if std::env::args().any(|a| a == "--anomaly") {
        b.net.tape_mut().set_detect_anomaly(true);
        println!("# anomaly detection on");
    }
    println!("# cpu: {}", GemmPath::cpu_features());
    println!(
        "# gemm path: {} ({}); rayon threads: {}",
        GemmPath::selected(),
        GemmPath::selected().kernel(),
        rayon::current_num_threads()
    );
    let (total, fb, adam, loss) = time_steps(&mut b, 10, steps);
    let med = median(total.clone());
    // The step's products, batch 100: forward X W for every layer, backward
    // dW = X^T dY for every layer and dX = dY W^T for all but the first
    // (the input needs no gradient); 2 flops per multiply-add.
    let layer = |i: usize| (DIMS[i] * DIMS[i + 1]) as f64;
    let gemm_flops =
        2.0 * 100.0 * ((0..4).map(layer).sum::<f64>() * 2.0 + (1..4).map(layer).sum::<f64>());
    println!(
        "TRAIN\tgradtape\tfloat64\tmedian_s={med:.6}\tmean_s={:.6}\tmin_s={:.6}\tepoch_s={:.2}\tgemm_GFLOPs={:.2}\tloss={loss:.4}",
        total.iter().sum::<f64>() / total.len() as f64,
        total.iter().copied().fold(f64::INFINITY, f64::min),
        med * 490.0,
        gemm_flops / med / 1e9,
    );
    if b.separate_update {
        println!(
            "# step {:.2} ms = forward+backward {:.2} ms + Adam {:.2} ms (medians; Adam after backward)",
            med * 1e3,
            median(fb) * 1e3,
            median(adam) * 1e3
        );
    } else {
        println!(
            "# step {:.2} ms (median; Adam during backward, its share is `param update` below, which also holds the affine weights' gradient products that it takes in parts)",
            med * 1e3
        );
    }

    floor(&mut b, gemm_flops, med);

    // Allocations per steady-state step (all threads).
    let before = counting_alloc::allocations();
    for i in 0..10 {
        b.step(i);
    }
    let per_step = (counting_alloc::allocations() - before) / 10;
    println!("# heap allocations per steady-state step: {per_step}");
    if std::env::args().any(|a| a == "--trace-allocs") {
        counting_alloc::set_tracing(true);
        b.step(0);
        counting_alloc::set_tracing(false);
    }

    // Where forward + backward time goes, per op.
    b.net.tape_mut().set_profiling(true);
    let n = 20;
    for i in 0..n {
        b.step(i);
    }
    let profile = b.net.tape_mut().profile().cloned().unwrap_or_default();
    println!("# per-op time over {n} steps, ms per step (forward / backward / calls per step)");
    for e in &profile.ops {
        println!(
            "#   {:<22} {:>7.3} / {:>7.3} / {}",
            e.op,
            e.forward.as_secs_f64() * 1e3 / n as f64,
            e.backward.as_secs_f64() * 1e3 / n as f64,
            e.calls / n
        );
    }
    b.net.tape_mut().set_profiling(false);

    if std::env::args().any(|a| a == "--sweep") {
        sweep();
    }
}

/// Prints the `FLOOR` line: what the step would take if its products ran at
/// the FMA peak and Adam at the memory bandwidth (or its own tight-loop
/// time, if lower), and the measured step's ratio to that.
fn floor(b: &mut Bench, gemm_flops: f64, step_s: f64) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (kind, _) = peak::fma_kind();
    let peak_gflops = peak::fma_peak(cores);
    let bandwidth = peak::triad_bandwidth(cores);
    // Adam alone over every parameter, timed on the last step's gradients
    // (its state moves on, its arithmetic is the same).
    let tape = b.net.tape_mut();
    let params: usize = tape
        .params()
        .map(|v| tape.value(v).expect("live").len())
        .sum();
    let mut adam = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        b.opt.step(b.net.tape_mut()).expect("update");
        adam.push(t.elapsed().as_secs_f64());
    }
    let adam_tight = median(adam);
    let products = gemm_flops / (peak_gflops * 1e9);
    let adam_traffic = (7 * 8 * params) as f64 / (bandwidth * 1e9);
    let floor = products + adam_traffic.min(adam_tight);
    println!(
        "# floor: {:.1} MFLOP of products at the {kind} FMA peak ({peak_gflops:.1} GFLOP/s on {cores} cores) = {:.2} ms; \
         Adam over {params} parameters: 7 x 8 bytes each at {bandwidth:.1} GB/s (triad) = {:.2} ms, tight loop {:.2} ms",
        gemm_flops / 1e6,
        products * 1e3,
        adam_traffic * 1e3,
        adam_tight * 1e3
    );
    println!(
        "FLOOR\tfloor_ms={:.3}\tstep_ms={:.3}\tstep_over_floor={:.3}\tproducts_mflop={:.1}\tpeak_gflops={peak_gflops:.2}\tproducts_ms={:.3}\tparams={params}\tbandwidth_gbs={bandwidth:.2}\tadam_traffic_ms={:.3}\tadam_tight_ms={:.3}",
        floor * 1e3,
        step_s * 1e3,
        step_s / floor,
        gemm_flops / 1e6,
        products * 1e3,
        adam_traffic * 1e3,
        adam_tight * 1e3
    );
}

/// Step time against batch size (hidden 500) and hidden width (batch 100),
/// printed as `SWEEP` lines and drawn to target/bench/sweep_{batch,width}.png.
fn sweep() {
    use gradtape::plot::{plot_xy, XyPlot, XySeries};
    println!("# sweep: median step time (ms) against batch size (hidden 500) and hidden width (batch 100)");
    let mut by_batch = Vec::new();
    for batch in [10, 50, 100, 500, 1000] {
        let mut b = Bench::new(batch, 500);
        let (t, ..) = time_steps(&mut b, 3, 15);
        let ms = median(t) * 1e3;
        println!(
            "SWEEP\tbatch\t{batch}\t{ms:.3}\tus_per_example={:.1}",
            ms * 1e3 / batch as f64
        );
        by_batch.push((batch as f64, ms));
    }
    let mut by_width = Vec::new();
    for hidden in [100, 500, 1000, 2000] {
        let mut b = Bench::new(100, hidden);
        let (t, ..) = time_steps(&mut b, 3, 15);
        let ms = median(t) * 1e3;
        println!("SWEEP\thidden\t{hidden}\t{ms:.3}");
        by_width.push((hidden as f64, ms));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    for (stem, x_label, points) in [
        ("sweep_batch", "Batch size (hidden 500)", by_batch),
        ("sweep_width", "Hidden width (batch 100)", by_width),
    ] {
        let plot = XyPlot {
            title: "Training step time of the 3-hidden-layer net".into(),
            x_label: x_label.into(),
            y_label: "Median step time (ms)".into(),
            series: vec![XySeries {
                label: "gradtape".into(),
                points,
            }],
            log_x: true,
            log_y: true,
        };
        match plot_xy(&dir, stem, &plot) {
            Ok((png, _)) => println!("# figure: {}", png.display()),
            Err(e) => eprintln!("# figure not written: {e}"),
        }
    }
}
