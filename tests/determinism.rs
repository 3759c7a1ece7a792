//! The same seed gives the same bits whatever the thread counts: a
//! batchnorm + dropout net trained by Adam under RAYON_NUM_THREADS (Adam's
//! parallel chunks, and any rayon-parallel kernel) and MATMUL_NUM_THREADS
//! (matrixmultiply's own threads inside every gemm) of 1 and 2, and a run
//! stopped and resumed in another process with other thread counts.
//!
//! Both pools are sized once per process, so each setting runs in a child
//! process: this test binary itself, running the ignored `child` test with
//! the variables set; each child saves its final training state as a
//! checkpoint, which the parent loads and compares.
//!
//! The net is sized so that the threads really run: matrixmultiply threads
//! a product only when `m*k + k*n >= 32768` (64x600 by 600x256 is 192000),
//! and Adam splits a parameter into 32768-element chunks (W1 has 153600).

use gradtape::checkpoint::{load_training, resume_solver, save_solver, TrainingState};
use gradtape::nn::{FcConfig, FullyConnectedNet, Normalization};
use gradtape::optim::UpdateRule;
use gradtape::train::{InMemory, Solver, SolverOptions};
use gradtape::{rng_from_seed, Tensor};
use std::path::Path;
use std::process::Command;

const EPOCHS: usize = 3;

fn solver() -> Solver<FullyConnectedNet, InMemory> {
    let d = 600;
    let data = |n: usize, seed: u64| {
        let x = Tensor::randn(&[n, d], &mut rng_from_seed(seed));
        let y = x
            .data()
            .chunks(d)
            .map(|r| usize::from(r[0] > 0.0) + 2 * usize::from(r[1] + r[2] > 0.0))
            .collect();
        InMemory::new(x, y).unwrap()
    };
    let net = FullyConnectedNet::new(FcConfig {
        hidden_dims: vec![256, 128],
        input_dim: d,
        num_classes: 4,
        dropout: 0.8,
        normalization: Normalization::BatchNorm,
        weight_scale: 5e-2,
        reg: 1e-4,
        seed: 11,
    })
    .unwrap();
    let options = SolverOptions {
        num_epochs: EPOCHS,
        batch_size: 64,
        update_rule: UpdateRule::Adam,
        learning_rate: 1e-3,
        lr_decay: 0.95,
        verbose: false,
        num_train_samples: 100,
        seed: 12,
        ..SolverOptions::default()
    };
    Solver::new(net, data(320, 1), data(100, 2), options).unwrap()
}

/// What a child does, by GRADTAPE_CHILD_MODE: `straight` trains all epochs;
/// `first` trains one epoch; `rest` resumes GRADTAPE_CHILD_FROM and trains
/// the rest. Each saves its state to GRADTAPE_CHILD_OUT.
#[test]
#[ignore = "run by thread_counts_and_processes_do_not_change_a_single_bit in a child process"]
fn child() {
    let mode = std::env::var("GRADTAPE_CHILD_MODE").expect("run by the parent test");
    let out = std::env::var("GRADTAPE_CHILD_OUT").unwrap();
    let mut s = solver();
    match mode.as_str() {
        "straight" => s.train_until_epoch(EPOCHS).unwrap(),
        "first" => s.train_until_epoch(1).unwrap(),
        "rest" => {
            let from = std::env::var("GRADTAPE_CHILD_FROM").unwrap();
            resume_solver(&from, &mut s).unwrap();
            s.train_until_epoch(EPOCHS).unwrap();
        }
        other => panic!("unknown mode {other}"),
    }
    save_solver(&out, &s).unwrap();
}

fn run_child(mode: &str, rayon: usize, matmul: usize, out: &Path, from: Option<&Path>) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--ignored", "--test-threads=1"])
        .env("RAYON_NUM_THREADS", rayon.to_string())
        .env("MATMUL_NUM_THREADS", matmul.to_string())
        .env("GRADTAPE_CHILD_MODE", mode)
        .env("GRADTAPE_CHILD_OUT", out);
    if let Some(from) = from {
        cmd.env("GRADTAPE_CHILD_FROM", from);
    }
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "child {mode} (rayon {rayon}, matmul {matmul}) failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The state without wall times (the only thing allowed to differ).
fn timeless(mut t: TrainingState) -> TrainingState {
    t.progress.history.epoch_seconds.clear();
    t
}

#[test]
fn thread_counts_and_processes_do_not_change_a_single_bit() {
    let dir = tempfile::tempdir().unwrap();
    let reference = {
        let mut s = solver();
        s.train_until_epoch(EPOCHS).unwrap();
        let path = dir.path().join("in-process.safetensors");
        save_solver(&path, &s).unwrap();
        timeless(load_training(&path).unwrap())
    };
    assert_eq!(reference.progress.history.loss_history.len(), EPOCHS * 5);
    assert!(reference
        .progress
        .history
        .loss_history
        .iter()
        .all(|l| l.is_finite()));

    for (rayon, matmul) in [(1, 1), (2, 2), (1, 2), (2, 1), (2, 4)] {
        let out = dir
            .path()
            .join(format!("straight-{rayon}-{matmul}.safetensors"));
        run_child("straight", rayon, matmul, &out, None);
        let got = timeless(load_training(&out).unwrap());
        assert!(
            got == reference,
            "RAYON_NUM_THREADS={rayon} MATMUL_NUM_THREADS={matmul} changed the result"
        );
    }

    // Stopped after epoch 1 with one thread each, resumed in another process
    // with two each.
    let first = dir.path().join("first.safetensors");
    run_child("first", 1, 1, &first, None);
    let rest = dir.path().join("rest.safetensors");
    run_child("rest", 2, 2, &rest, Some(&first));
    assert!(
        timeless(load_training(&rest).unwrap()) == reference,
        "stop + resume in another process changed the result"
    );
}
