//! Unit tests of what integration tests cannot reach: saves cut short by an
//! injected write error, and exact float round trips through the header.

use crate::format;
use crate::training::{save_training_impl, training_file};
use crate::{
    load_best_net, load_net, load_training, lock_for_saving, save_net, CheckpointError, Result,
    RunSettings, TrainingState,
};
use gradtape_core::{rng_from_seed, Rng, RngExt, Tensor};
use gradtape_nn::{FcConfig, FullyConnectedNet, Model, NetState, Normalization};
use gradtape_optim::{build, OptimState, ParamState, UpdateRule};
use gradtape_train::{History, SolverProgress};
use std::path::Path;

fn config() -> FcConfig {
    FcConfig {
        hidden_dims: vec![6, 5],
        input_dim: 4,
        num_classes: 3,
        dropout: 0.6,
        normalization: Normalization::BatchNorm,
        reg: 0.1,
        weight_scale: 0.3,
        seed: 9,
    }
}

/// A training state with non-trivial optimizer state and progress.
fn training_state(seed: u64) -> TrainingState {
    let config = FcConfig { seed, ..config() };
    let mut net = FullyConnectedNet::new(config.clone()).unwrap();
    let mut opt = build(UpdateRule::Adam, 1e-2).unwrap();
    let x = Tensor::randn(&[7, 4], &mut rng_from_seed(seed));
    let y = [0, 1, 2, 0, 1, 2, 0];
    for _ in 0..3 {
        net.train_loss(&x, &y).unwrap();
        net.update_params(&mut |n, w, g| opt.update(n, w, g))
            .unwrap();
    }
    opt.decay_learning_rate(0.95).unwrap();
    let history = History {
        loss_history: vec![1.5, 1.25, f64::NAN],
        train_acc_history: vec![0.25, 0.5],
        val_acc_history: vec![0.2, 0.4],
        epoch_seconds: vec![0.125],
        best_val_acc: 0.4,
    };
    let progress = SolverProgress {
        iteration: 3,
        epoch: 1,
        iterations_per_epoch: 3,
        batch_size: 7,
        num_train: 21,
        rng: rng_from_seed(seed + 1),
        model_rng: net.rng_state(),
        history,
        best: Some(net.snapshot()),
    };
    TrainingState {
        config,
        net: net.snapshot(),
        optim: opt.export_state(),
        progress,
        settings: None,
    }
}

fn save(path: &Path, t: &TrainingState, fail_after: Option<u64>) -> Result<()> {
    save_training_impl(
        path,
        &t.config,
        &t.net,
        &t.optim,
        &t.progress,
        t.settings.as_ref(),
        fail_after,
    )
}

/// NaN != NaN: compare loss histories by bits.
fn same(a: &TrainingState, b: &TrainingState) -> bool {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let (ha, hb) = (&a.progress.history, &b.progress.history);
    let mut a2 = a.clone();
    let mut b2 = b.clone();
    a2.progress.history.loss_history.clear();
    b2.progress.history.loss_history.clear();
    a2 == b2 && bits(&ha.loss_history) == bits(&hb.loss_history)
}

#[test]
fn a_save_cut_short_anywhere_leaves_the_previous_checkpoint_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    let good = training_state(1);
    save(&path, &good, None).unwrap();
    let good_bytes = std::fs::read(&path).unwrap();
    let newer = training_state(2);
    let total = {
        let mut buf = Vec::new();
        let (m, t) = training_file(
            &path,
            &newer.config,
            &newer.net,
            &newer.optim,
            &newer.progress,
        )
        .unwrap();
        format::write_to(&mut buf, m, t).unwrap();
        buf.len() as u64
    };
    // In the length prefix, in the header, in the first tensor, in the
    // middle of the data, one byte short of the end.
    let cuts = [0, 5, 8, 100, total / 2, total - 1];
    for cut in cuts {
        let err = save(&path, &newer, Some(cut)).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, CheckpointError::Io { .. }), "{msg}");
        assert!(
            msg.contains(&format!("run.safetensors.{}-", std::process::id()))
                && msg.contains(".tmp: injected write failure"),
            "{msg}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), good_bytes, "cut at {cut}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "the temporary file is removed"
        );
        assert!(same(&load_training(&path).unwrap(), &good));
    }
    // With no fault the same save goes through and replaces the file.
    save(&path, &newer, Some(total)).unwrap();
    assert!(same(&load_training(&path).unwrap(), &newer));
}

#[test]
fn stale_tmp_files_from_a_crash_are_removed_when_a_run_takes_the_save_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.safetensors");
    let stale = [
        format::tmp_path(&path),
        dir.path().join("net.safetensors.tmp"),
        dir.path().join("net.safetensors.4242-7.tmp"),
    ];
    let unrelated = [
        dir.path().join("other.safetensors.1-1.tmp"),
        dir.path().join("net.safetensors.notes.tmp"),
    ];
    for p in stale.iter().chain(&unrelated) {
        std::fs::write(p, b"half a checkpoint from a crash").unwrap();
    }
    let lock = lock_for_saving(&path).unwrap();
    let t = training_state(3);
    save_net(&path, &t.config, &t.net).unwrap();
    assert_eq!(load_net(&path).unwrap(), (t.config.clone(), t.net.clone()));
    drop(lock);
    assert!(stale.iter().all(|p| !p.exists()));
    assert!(unrelated.iter().all(|p| p.exists()));
}

#[test]
fn floats_and_generators_survive_the_json_header_bit_for_bit() {
    let mut rng = rng_from_seed(5);
    for _ in 0..2000 {
        // Random bit patterns: every exponent, subnormals included.
        let bits = rng.random::<u64>();
        let v = f64::from_bits(bits);
        if !v.is_finite() {
            continue;
        }
        let c = FcConfig { reg: v, ..config() };
        let back: FcConfig = serde_json::from_str(&format::to_json(&c)).unwrap();
        assert_eq!(back.reg.to_bits(), bits);
    }
    let mut a = rng_from_seed(11);
    for _ in 0..3 {
        a.random::<u64>();
    }
    let json = format::to_json(&a);
    let mut b: Rng = serde_json::from_str(&json).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.random::<u64>(), b.random::<u64>());
}

#[test]
fn the_same_state_gives_the_same_bytes() {
    let t = training_state(4);
    let write = || {
        let (m, ts) =
            training_file(Path::new("x"), &t.config, &t.net, &t.optim, &t.progress).unwrap();
        let mut buf = Vec::new();
        format::write_to(&mut buf, m, ts).unwrap();
        buf
    };
    let a = write();
    assert_eq!(a, write());
    // And safetensors itself reads what gradtape writes.
    let st = safetensors::SafeTensors::deserialize(&a).unwrap();
    let w1 = st.tensor("W1").unwrap();
    assert_eq!(w1.dtype(), safetensors::Dtype::F64);
    assert_eq!(w1.shape(), &[4, 6]);
    assert!(st.tensor("adam.W1.m").is_ok() && st.tensor("best.bn2.running_var").is_ok());
}

/// The on-disk format, pinned: files written by gradtape 0.1 (in
/// `tests/fixtures/`, made by [`regenerate_format_fixtures`] before the
/// checkpoint crate was reorganised) must load to the state they were
/// written from, and writing that state again must give the same bytes.
mod pinned_format {
    use super::*;

    /// Exact values only (no training, no transcendental functions), so the
    /// bytes are the same on every machine.
    fn exact(n: usize, start: f64, step: f64) -> Vec<f64> {
        (0..n).map(|i| start + step * i as f64).collect()
    }

    fn config(normalization: Normalization) -> FcConfig {
        FcConfig {
            hidden_dims: vec![3, 2],
            input_dim: 2,
            num_classes: 2,
            // Floats whose shortest form is long, tiny, or exact.
            dropout: 0.1 + 0.2,
            normalization,
            reg: 1e-7,
            weight_scale: 0.25,
            seed: 12,
        }
    }

    fn net(config: &FcConfig, offset: f64) -> NetState {
        let mut s = FullyConnectedNet::new(config.clone()).unwrap().snapshot();
        let mut at = offset;
        for (_, t) in &mut s.params {
            let n = t.data().len();
            t.data_mut().copy_from_slice(&exact(n, at, 0.125));
            at += 0.5;
        }
        for bn in &mut s.batchnorm {
            let n = bn.running_mean.data().len();
            bn.running_mean
                .data_mut()
                .copy_from_slice(&exact(n, -at, 0.25));
            bn.running_var
                .data_mut()
                .copy_from_slice(&exact(n, at.abs(), 0.5));
            at += 1.0;
        }
        s
    }

    fn optim(rule: UpdateRule, config: &FcConfig, learning_rate: f64, step: u64) -> OptimState {
        let hyperparameters = build(rule, learning_rate)
            .unwrap()
            .export_state()
            .hyperparameters;
        let buffers: &[&str] = match rule {
            UpdateRule::Adam => &["m", "v"],
            UpdateRule::SgdMomentum => &["velocity"],
            UpdateRule::RmsProp => &["cache"],
            UpdateRule::Sgd => &[],
        };
        let params = net(config, 0.0)
            .params
            .iter()
            .enumerate()
            .map(|(i, (name, t))| {
                let n = t.data().len();
                let buffers = buffers
                    .iter()
                    .enumerate()
                    .map(|(j, b)| (b.to_string(), exact(n, (i + j) as f64 * 0.0625, 0.25)))
                    .collect();
                (name.clone(), ParamState { step, buffers })
            })
            .collect();
        OptimState {
            rule,
            learning_rate,
            hyperparameters,
            params,
        }
    }

    /// A run two epochs in (best net, both generators, the run's settings).
    fn adam_run() -> TrainingState {
        let config = config(Normalization::BatchNorm);
        let history = History {
            loss_history: vec![2.5, 2.25, 0.1 + 0.2, 1.0, 0.75, 1e-300],
            train_acc_history: vec![0.25, 0.5, 0.75],
            val_acc_history: vec![0.125, 0.5, 0.375],
            epoch_seconds: vec![1.5, 0.1],
            best_val_acc: 0.5,
        };
        TrainingState {
            net: net(&config, 1.0),
            optim: optim(UpdateRule::Adam, &config, 1e-3 * 0.95 * 0.95, 6),
            progress: SolverProgress {
                iteration: 6,
                epoch: 2,
                iterations_per_epoch: 3,
                batch_size: 4,
                num_train: 12,
                rng: rng_from_seed(21),
                model_rng: Some(rng_from_seed(22)),
                history,
                best: Some(net(&config, -2.0)),
            },
            settings: Some(RunSettings {
                update_rule: "adam".into(),
                learning_rate: 1e-3,
                lr_decay: 0.95,
                batch_size: 4,
                seed: 3,
                num_train_samples: 10,
                num_val_samples: None,
            }),
            config,
        }
    }

    /// A run saved before its first update, without settings or best net.
    fn momentum_start() -> TrainingState {
        let config = config(Normalization::LayerNorm);
        TrainingState {
            net: net(&config, 0.0),
            optim: optim(UpdateRule::SgdMomentum, &config, 0.5, 0),
            progress: SolverProgress {
                iteration: 0,
                epoch: 0,
                iterations_per_epoch: 2,
                batch_size: 5,
                num_train: 10,
                rng: rng_from_seed(7),
                model_rng: None,
                history: History::default(),
                best: None,
            },
            settings: None,
            config,
        }
    }

    fn nets() -> Vec<(&'static str, FcConfig, NetState)> {
        [
            ("net_plain", Normalization::None),
            ("net_batchnorm", Normalization::BatchNorm),
            ("net_layernorm", Normalization::LayerNorm),
        ]
        .into_iter()
        .map(|(file, n)| {
            let c = config(n);
            let s = net(&c, 0.5);
            (file, c, s)
        })
        .collect()
    }

    fn runs() -> Vec<(&'static str, TrainingState)> {
        vec![
            ("training_adam", adam_run()),
            ("training_momentum", momentum_start()),
        ]
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(format!("{name}.safetensors"))
    }

    /// Writes every fixture into `dir` with this crate's save functions.
    fn write_all(dir: impl Fn(&str) -> std::path::PathBuf) {
        for (name, config, state) in nets() {
            save_net(dir(name), &config, &state).unwrap();
        }
        for (name, t) in runs() {
            save(&dir(name), &t, None).unwrap();
        }
    }

    /// Run by hand only when the format changes on purpose (which needs a
    /// new `format_version`):
    /// `cargo test -p gradtape-checkpoint regenerate -- --ignored`.
    #[test]
    #[ignore]
    fn regenerate_format_fixtures() {
        std::fs::create_dir_all(fixture("x").parent().unwrap()).unwrap();
        write_all(fixture);
    }

    #[test]
    fn files_of_the_pinned_format_load_and_the_same_state_writes_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        write_all(|name| dir.path().join(name));
        let names = nets().into_iter().map(|(n, ..)| n);
        for name in names.chain(runs().into_iter().map(|(n, _)| n)) {
            let written = std::fs::read(dir.path().join(name)).unwrap();
            let pinned = std::fs::read(fixture(name)).unwrap();
            assert!(
                written == pinned,
                "{name}: the bytes written differ from the pinned file"
            );
        }
        for (name, config, state) in nets() {
            assert_eq!(
                load_net(fixture(name)).unwrap(),
                (config.clone(), state.clone())
            );
            assert_eq!(load_best_net(fixture(name)).unwrap(), (config, state));
        }
        for (name, t) in runs() {
            assert_eq!(load_training(fixture(name)).unwrap(), t, "{name}");
            let best = t.progress.best.clone().unwrap_or(t.net.clone());
            assert_eq!(load_net(fixture(name)).unwrap(), (t.config.clone(), t.net));
            assert_eq!(load_best_net(fixture(name)).unwrap(), (t.config, best));
        }
    }
}
