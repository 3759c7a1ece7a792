//! Checkpoints end to end: round trips, resume == uninterrupted bit for bit
//! for every update rule, and every way a file can be wrong, each refused
//! with an error naming the tensor, entry or byte offset, leaving the net or
//! Solver unchanged.

use gradtape_checkpoint::raw::{self, Dtype, RawData, RawTensor};
use gradtape_checkpoint::{
    load_best_net, load_net, load_net_into, load_training, resume_solver, save_net, save_solver,
    save_training, CheckpointError,
};
use gradtape_core::{rng_from_seed, Tensor};
use gradtape_nn::{FcConfig, FullyConnectedNet, Model, Normalization};
use gradtape_optim::UpdateRule;
use gradtape_train::{InMemory, Solver, SolverOptions};
use std::path::{Path, PathBuf};

fn toy(n: usize, seed: u64) -> InMemory {
    let mut rng = rng_from_seed(seed);
    let x = Tensor::randn(&[n, 6], &mut rng);
    let y = x
        .data()
        .chunks(6)
        .map(|r| usize::from(r[0] + r[1] > 0.0) + 2 * usize::from(r[2] > 0.0))
        .collect();
    InMemory::new(x, y).unwrap()
}

fn config() -> FcConfig {
    FcConfig {
        hidden_dims: vec![16, 12],
        input_dim: 6,
        num_classes: 4,
        dropout: 0.7,
        normalization: Normalization::BatchNorm,
        weight_scale: 1e-1,
        reg: 1e-3,
        seed: 4,
    }
}

fn solver(rule: UpdateRule, epochs: usize) -> Solver<FullyConnectedNet, InMemory> {
    let net = FullyConnectedNet::new(config()).unwrap();
    let options = SolverOptions {
        num_epochs: epochs,
        batch_size: 20,
        update_rule: rule,
        learning_rate: if rule == UpdateRule::Sgd { 5e-2 } else { 5e-3 },
        lr_decay: 0.9,
        verbose: false,
        num_train_samples: 50,
        num_val_samples: Some(40),
        seed: 3,
        ..SolverOptions::default()
    };
    Solver::new(net, toy(200, 1), toy(60, 2), options).unwrap()
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn tmp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.safetensors");
    (dir, path)
}

/// Everything a run ends with, timing aside.
#[derive(Debug, PartialEq)]
struct Outcome {
    losses: Vec<u64>,
    train_acc: Vec<u64>,
    val_acc: Vec<u64>,
    best_val_acc: u64,
    last: gradtape_nn::NetState,
    optim: gradtape_optim::OptimState,
    rngs: (gradtape_core::Rng, Option<gradtape_core::Rng>),
    restored_best: gradtape_nn::NetState,
}

fn outcome(mut s: Solver<FullyConnectedNet, InMemory>) -> Outcome {
    let p = s.progress();
    let last = s.model_ref().snapshot();
    let optim = s.optimizer().export_state();
    s.finish().unwrap();
    let h = &p.history;
    Outcome {
        losses: bits(&h.loss_history),
        train_acc: bits(&h.train_acc_history),
        val_acc: bits(&h.val_acc_history),
        best_val_acc: h.best_val_acc.to_bits(),
        last,
        optim,
        rngs: (p.rng, p.model_rng),
        restored_best: s.model_ref().snapshot(),
    }
}

#[test]
fn four_epochs_straight_equal_two_then_a_checkpoint_then_two_more_for_every_rule() {
    for rule in UpdateRule::ALL {
        let mut straight = solver(rule, 4);
        straight.train_until_epoch(4).unwrap();
        let a = outcome(straight);
        assert_eq!(a.losses.len(), 40, "4 epochs of 10 iterations");

        let (_dir, path) = tmp();
        let mut first = solver(rule, 4);
        first.train_until_epoch(2).unwrap();
        save_solver(&path, &first).unwrap();
        drop(first);
        let mut second = solver(rule, 4);
        let state = resume_solver(&path, &mut second).unwrap();
        assert_eq!((state.progress.epoch, state.progress.iteration), (2, 20));
        assert_eq!(second.epoch(), 2);
        second.train_until_epoch(4).unwrap();
        let b = outcome(second);
        assert_eq!(
            a, b,
            "{rule}: resumed run differs from the uninterrupted one"
        );
        if rule == UpdateRule::Adam {
            println!(
                "{rule}: loss[19] {:e} loss[20] {:e} loss[39] {:e}; val acc {:?}",
                f64::from_bits(a.losses[19]),
                f64::from_bits(a.losses[20]),
                f64::from_bits(a.losses[39]),
                a.val_acc
                    .iter()
                    .map(|b| f64::from_bits(*b))
                    .collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn train_resumes_to_the_end_and_restores_the_best_net_like_one_train_call() {
    let mut whole = solver(UpdateRule::Adam, 3);
    whole.train().unwrap();
    let (_dir, path) = tmp();
    for stop in 0..=3 {
        let mut first = solver(UpdateRule::Adam, 3);
        first.train_until_epoch(stop).unwrap();
        save_solver(&path, &first).unwrap();
        let mut second = solver(UpdateRule::Adam, 3);
        resume_solver(&path, &mut second).unwrap();
        second.train().unwrap();
        assert_eq!(
            bits(&second.history().loss_history),
            bits(&whole.history().loss_history),
            "stopped after epoch {stop}"
        );
        assert_eq!(second.model_ref().snapshot(), whole.model_ref().snapshot());
        // The best net of the checkpoint is what train() ends with.
        if stop == 3 {
            let (_, best) = load_best_net(&path).unwrap();
            assert_eq!(best, whole.model_ref().snapshot());
        }
    }
}

#[test]
fn nets_round_trip_with_and_without_batchnorm_and_dropout() {
    let (_dir, path) = tmp();
    for (normalization, dropout) in [
        (Normalization::None, 1.0),
        (Normalization::BatchNorm, 0.5),
        (Normalization::BatchNorm, 1.0),
        (Normalization::LayerNorm, 0.5),
    ] {
        let c = FcConfig {
            normalization,
            dropout,
            ..config()
        };
        let mut net = FullyConnectedNet::new(c.clone()).unwrap();
        let x = Tensor::randn(&[5, 6], &mut rng_from_seed(0));
        net.train_loss(&x, &[0, 1, 2, 3, 0]).unwrap(); // moves the running stats
        save_net(&path, &c, &net.snapshot()).unwrap();
        let (c2, s2) = load_net(&path).unwrap();
        assert_eq!((&c2, &s2), (&c, &net.snapshot()));
        let mut fresh = FullyConnectedNet::new(c.clone()).unwrap();
        load_net_into(&path, &mut fresh).unwrap();
        assert_eq!(
            fresh.scores(&x).unwrap(),
            net.scores(&x).unwrap(),
            "same scores in test mode"
        );
    }
}

/// A training checkpoint of a 2-epoch Adam run, and its bytes.
fn training_file(path: &Path) -> Vec<u8> {
    let mut s = solver(UpdateRule::Adam, 4);
    s.train_until_epoch(2).unwrap();
    save_solver(path, &s).unwrap();
    std::fs::read(path).unwrap()
}

fn net_of(path: &Path) -> FullyConnectedNet {
    let mut net = FullyConnectedNet::new(config()).unwrap();
    load_net_into(path, &mut net).unwrap();
    net
}

/// Loads `bytes` (written to `path`) into a net and a Solver that already
/// hold a good state; checks the error and that neither changed.
fn refused(path: &Path, good: &Path, bytes: &[u8]) -> CheckpointError {
    std::fs::write(path, bytes).unwrap();
    let mut net = net_of(good);
    let before = net.snapshot();
    let e1 = load_net_into(path, &mut net).unwrap_err();
    assert_eq!(net.snapshot(), before, "a failed load changed the net");
    let mut s = solver(UpdateRule::Adam, 4);
    resume_solver(good, &mut s).unwrap();
    let (p, o, n) = (
        s.progress(),
        s.optimizer().export_state(),
        s.model_ref().snapshot(),
    );
    let e2 = resume_solver(path, &mut s).unwrap_err();
    assert_eq!(s.progress(), p, "a failed resume changed the Solver");
    assert_eq!(s.optimizer().export_state(), o);
    assert_eq!(s.model_ref().snapshot(), n);
    assert_eq!(e1.to_string(), e2.to_string());
    e1
}

/// A directory with a good training file, a path beside it for bad
/// copies, and the good file's bytes.
fn good_and_bad() -> (tempfile::TempDir, PathBuf, PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    let bad = dir.path().join("bad.safetensors");
    let bytes = training_file(&good);
    (dir, good, bad, bytes)
}

#[test]
fn corrupted_truncated_and_foreign_files_are_refused_by_name_and_change_nothing() {
    let (dir, good, bad, bytes) = good_and_bad();
    let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;

    // A flipped bit in W2's data.
    let (s, e) = raw::byte_range(&good, "W2").unwrap().unwrap();
    let mut b = bytes.clone();
    b[(s + 17) as usize] ^= 0x10;
    let err = refused(&bad, &good, &b);
    assert!(
        matches!(err, CheckpointError::Corrupted { ref name, start, end, .. } if name == "W2" && (start, end) == (s, e)),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("tensor 'W2' (bytes {s}..{e}) fails its CRC-32")),
        "{err}"
    );

    // A flipped bit in the Adam moments of b1.
    let (s, _) = raw::byte_range(&good, "adam.b1.v").unwrap().unwrap();
    let mut b = bytes.clone();
    b[s as usize] ^= 1;
    assert!(refused(&bad, &good, &b).to_string().contains("'adam.b1.v'"));

    // A digit changed in the header: the seed in the config, 4 -> 5.
    let header = std::str::from_utf8(&bytes[8..header_end]).unwrap();
    let at = header.find("\\\"seed\\\":4").unwrap() + "\\\"seed\\\":".len();
    let mut b = bytes.clone();
    b[8 + at] = b'5';
    let err = refused(&bad, &good, &b);
    assert!(
        matches!(err, CheckpointError::HeaderCorrupted { .. }),
        "{err}"
    );

    // Truncated in the data, in the header, in the length prefix; empty.
    let (s, _) = raw::byte_range(&good, "W1").unwrap().unwrap();
    let err = refused(&bad, &good, &bytes[..s as usize + 3]);
    assert!(
        matches!(err, CheckpointError::Truncated { tensor: Some(ref t), .. } if t == "W1"),
        "{err}"
    );
    let err = refused(&bad, &good, &bytes[..bytes.len() - 1]);
    assert!(err.to_string().contains("is cut off"), "{err}");
    let err = refused(&bad, &good, &bytes[..header_end - 10]);
    assert!(
        matches!(err, CheckpointError::Format { offset: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("runs past the end"), "{err}");
    let err = refused(&bad, &good, &bytes[..5]);
    assert!(
        err.to_string()
            .contains("byte offset 0: the file is 5 bytes"),
        "{err}"
    );
    assert!(refused(&bad, &good, b"")
        .to_string()
        .contains("the file is 0 bytes"));

    // Trailing bytes after the data.
    let mut b = bytes.clone();
    b.extend_from_slice(b"extra");
    let err = refused(&bad, &good, &b);
    assert!(
        matches!(err, CheckpointError::Format { offset, .. } if offset as usize == bytes.len()),
        "{err}"
    );

    // Not JSON in the header: the offset of the bad byte.
    let mut b = bytes.clone();
    b[8] = b'[';
    let err = refused(&bad, &good, &b);
    assert!(err.to_string().contains("byte offset 8"), "{err}");
    // Random junk; a text file; an over-long header length.
    assert!(matches!(
        refused(&bad, &good, &[0xAB; 300]),
        CheckpointError::Format { .. }
    ));
    assert!(matches!(
        refused(&bad, &good, b"W1,b1\n1,2\n"),
        CheckpointError::Format { .. }
    ));
    let mut b = bytes.clone();
    b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(refused(&bad, &good, &b).to_string().contains("100 MB"));

    // A missing file, a directory.
    let err = load_net(dir.path().join("nope.safetensors")).unwrap_err();
    assert!(
        matches!(err, CheckpointError::Io { .. }) && err.to_string().contains("nope.safetensors")
    );
    assert!(matches!(
        load_training(dir.path()).unwrap_err(),
        CheckpointError::Io { .. }
    ));
}

#[test]
fn a_tensor_whose_shape_does_not_fit_its_bytes_is_named() {
    let (_dir, good, bad, bytes) = good_and_bad();
    let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    // W2's shape [16, 12] edited to [16, 13] in place: its byte range no
    // longer fits its shape (safetensors' own check, which names no tensor).
    let header = std::str::from_utf8(&bytes[8..header_end]).unwrap();
    let entry = "\"W2\":{\"dtype\":\"F64\",\"shape\":[16,1";
    let at = 8 + header.find(entry).unwrap() + entry.len();
    let mut b = bytes.clone();
    assert_eq!(b[at], b'2');
    b[at] = b'3';
    let err = refused(&bad, &good, &b);
    assert!(
        matches!(err, CheckpointError::Format { offset: 8, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("tensor 'W2': shape, dtype and data_offsets disagree"),
        "{err}"
    );
}

/// Rewrites the good file's tensors and metadata through `edit`, with valid
/// checksums, so only the content is wrong.
fn rewrite(
    good: &Path,
    bad: &Path,
    edit: impl FnOnce(
        &mut std::collections::BTreeMap<String, String>,
        &mut Vec<(String, Vec<usize>, Vec<f64>)>,
    ),
) {
    let mut meta = raw::metadata(good).unwrap();
    let mut tensors = raw::tensors(good).unwrap();
    edit(&mut meta, &mut tensors);
    let raw: Vec<RawTensor> = tensors
        .iter()
        .map(|(n, s, v)| RawTensor::f64(n.clone(), s, v))
        .collect();
    raw::write(bad, meta, raw).unwrap();
}

#[test]
fn well_formed_files_of_the_wrong_content_are_refused_by_name_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    let bad = dir.path().join("bad.safetensors");
    training_file(&good);
    let check = |what: &str, expect: &str| {
        let bytes = std::fs::read(&bad).unwrap();
        let err = refused(&bad, &good, &bytes);
        assert!(err.to_string().contains(expect), "{what}: {err}");
        err
    };

    rewrite(&good, &bad, |_, t| t.retain(|(n, _, _)| n != "gamma2"));
    let err = check("missing", "tensor 'gamma2' is missing");
    assert!(matches!(err, CheckpointError::MissingTensor { .. }));

    rewrite(&good, &bad, |_, t| {
        t.retain(|(n, _, _)| n != "best.bn1.running_var")
    });
    check("missing best", "'best.bn1.running_var' is missing");

    rewrite(&good, &bad, |_, t| {
        t.push(("W9".into(), vec![1], vec![0.0]))
    });
    check("extra", "unexpected tensor 'W9'");

    rewrite(&good, &bad, |_, t| {
        let w = t.iter_mut().find(|(n, _, _)| n == "W2").unwrap();
        w.1 = vec![12, 16]; // transposed: same number of values
    });
    let err = check(
        "shape",
        "tensor 'W2' has shape [12, 16] but [16, 12] is expected",
    );
    assert!(matches!(err, CheckpointError::WrongShape { .. }));

    // Another dtype: b1 as F32.
    let mut meta = raw::metadata(&good).unwrap();
    meta.remove("tensor_crc32");
    let tensors = raw::tensors(&good).unwrap();
    let f32s: Vec<u8> = tensors
        .iter()
        .find(|(n, _, _)| n == "b1")
        .unwrap()
        .2
        .iter()
        .flat_map(|v| (*v as f32).to_le_bytes())
        .collect();
    let mut rt: Vec<RawTensor> = tensors
        .iter()
        .filter(|(n, _, _)| n != "b1")
        .map(|(n, s, v)| RawTensor::f64(n.clone(), s, v))
        .collect();
    rt.push(RawTensor {
        name: "b1".into(),
        dtype: Dtype::F32,
        shape: vec![16],
        data: RawData::Bytes(&f32s),
    });
    raw::write(&bad, meta, rt).unwrap();
    let err = check(
        "dtype",
        "tensor 'b1' has dtype F32; gradtape checkpoints hold F64 only",
    );
    assert!(matches!(err, CheckpointError::WrongDtype { .. }));

    // A config that does not match the tensors: a wider first layer.
    rewrite(&good, &bad, |m, _| {
        let c = m["config"].replace("\"hidden_dims\":[16,12]", "\"hidden_dims\":[17,12]");
        m.insert("config".into(), c);
    });
    check(
        "config vs tensors",
        "tensor 'W1' has shape [6, 16] but [6, 17] is expected",
    );

    // A config out of range.
    rewrite(&good, &bad, |m, _| {
        let c = m["config"].replace("\"dropout\":0.7", "\"dropout\":1.5");
        m.insert("config".into(), c);
    });
    check(
        "dropout",
        "metadata entry 'config': FcConfig: dropout (keep probability) 1.5 is outside (0, 1]",
    );

    // A config that is not the net's: another seed (the tensors fit).
    rewrite(&good, &bad, |m, _| {
        let c = m["config"].replace("\"seed\":4", "\"seed\":5");
        m.insert("config".into(), c);
    });
    let err = check(
        "seed",
        "configuration mismatch: seed is 5 in the checkpoint but 4 here",
    );
    assert!(matches!(
        err,
        CheckpointError::ConfigMismatch { field: "seed", .. }
    ));

    // Metadata gone or unreadable.
    rewrite(&good, &bad, |m, _| {
        m.remove("format");
    });
    let err = check("format", "not a gradtape checkpoint");
    assert!(matches!(err, CheckpointError::NotACheckpoint { .. }));
    rewrite(&good, &bad, |m, _| {
        m.insert("format_version".into(), "2".into());
    });
    check("version", "format version \"2\"");
    rewrite(&good, &bad, |m, _| {
        m.insert("progress".into(), "{\"iteration\": 20".into());
    });
    check("progress json", "metadata entry 'progress'");
    rewrite(&good, &bad, |m, _| {
        let p = m["progress"].replace("\"epoch\":2", "\"epoch\":3");
        m.insert("progress".into(), p);
    });
    check("progress position", "is not the end of epoch 3");
    rewrite(&good, &bad, |m, _| {
        let o = m["optimizer"].replace("\"beta2\":0.999", "\"beta2\":1.5");
        m.insert("optimizer".into(), o);
    });
    check("beta2", "adam: beta2 must be in [0, 1), got 1.5");
    rewrite(&good, &bad, |m, _| {
        let o = m["optimizer"].replace("\"rule\":\"adam\"", "\"rule\":\"adamw\"");
        m.insert("optimizer".into(), o);
    });
    check("rule", "unknown update rule 'adamw'");

    // A net checkpoint is not a training checkpoint.
    let (c, n) = load_net(&good).unwrap();
    save_net(&bad, &c, &n).unwrap();
    let err = load_training(&bad).unwrap_err();
    assert!(
        err.to_string()
            .contains("resuming needs a training checkpoint"),
        "{err}"
    );
}

#[test]
fn a_checkpoint_of_another_run_is_refused_by_the_solver_without_changing_it() {
    let (_dir, path) = tmp();
    training_file(&path);
    // Another batch size.
    let net = FullyConnectedNet::new(config()).unwrap();
    let options = SolverOptions {
        batch_size: 25,
        ..solver(UpdateRule::Adam, 4).options().clone()
    };
    let mut s = Solver::new(net, toy(200, 1), toy(60, 2), options).unwrap();
    let before = s.progress();
    let err = resume_solver(&path, &mut s).unwrap_err().to_string();
    assert!(
        err.contains("batch_size is 20 in the checkpoint but 25 here"),
        "{err}"
    );
    assert_eq!(s.progress(), before);
    // Another update rule.
    let mut s = solver(UpdateRule::RmsProp, 4);
    let err = resume_solver(&path, &mut s).unwrap_err().to_string();
    assert!(
        err.contains("update_rule is adam in the checkpoint but rmsprop here"),
        "{err}"
    );
    // The Solver's own checks, for files without the run's settings.
    let t = load_training(&path).unwrap();
    let bare = path.with_extension("bare");
    save_training(&bare, &t.config, &t.net, &t.optim, &t.progress).unwrap();
    let mut s = solver(UpdateRule::RmsProp, 4);
    let err = resume_solver(&bare, &mut s).unwrap_err().to_string();
    assert!(
        err.contains("the optimizer state is adam but this Solver uses rmsprop"),
        "{err}"
    );
    // Fewer epochs than the checkpoint has done.
    let mut s = solver(UpdateRule::Adam, 1);
    let err = resume_solver(&path, &mut s).unwrap_err().to_string();
    assert!(err.contains("past num_epochs = 1"), "{err}");
    // Another architecture.
    let net = FullyConnectedNet::new(FcConfig {
        hidden_dims: vec![16],
        ..config()
    })
    .unwrap();
    let mut s = Solver::new(
        net,
        toy(200, 1),
        toy(60, 2),
        SolverOptions {
            verbose: false,
            batch_size: 20,
            update_rule: UpdateRule::Adam,
            ..SolverOptions::default()
        },
    )
    .unwrap();
    let err = resume_solver(&path, &mut s).unwrap_err().to_string();
    assert!(
        err.contains(
            "configuration mismatch: hidden_dims is [16, 12] in the checkpoint but [16] here"
        ),
        "{err}"
    );
}

#[test]
fn saving_refuses_states_that_do_not_fit_their_config() {
    let (_dir, path) = tmp();
    let net = FullyConnectedNet::new(config()).unwrap();
    let other = FcConfig {
        hidden_dims: vec![16, 13],
        ..config()
    };
    let err = save_net(&path, &other, &net.snapshot())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("W2 is (16, 12) but the configuration implies [16, 13]"),
        "{err}"
    );
    assert!(!path.exists(), "nothing written");
    let mut s = solver(UpdateRule::Adam, 4);
    s.train_until_epoch(1).unwrap();
    let mut p = s.progress();
    p.history.loss_history.pop();
    let err = save_training(
        &path,
        &config(),
        &s.model_ref().snapshot(),
        &s.optimizer().export_state(),
        &p,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("history.loss holds 9 values; iteration 10 implies 10"),
        "{err}"
    );
    assert!(!path.exists());
}

#[test]
fn non_finite_values_and_negative_running_variances_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    let bad = dir.path().join("bad.safetensors");
    training_file(&good);
    // (tensor, index, value, what the error must say); every file has
    // valid checksums, so only the values are wrong.
    let cases: [(&str, usize, f64, &str); 8] = [
        ("W1", 3, f64::NAN, "tensor 'W1' holds NaN at index 3"),
        ("b2", 0, f64::INFINITY, "tensor 'b2' holds inf at index 0"),
        (
            "gamma1",
            5,
            f64::NEG_INFINITY,
            "tensor 'gamma1' holds -inf at index 5",
        ),
        (
            "bn1.running_mean",
            2,
            f64::NAN,
            "tensor 'bn1.running_mean' holds NaN",
        ),
        (
            "bn2.running_var",
            1,
            -0.5,
            "tensor 'bn2.running_var' holds -0.5 at index 1",
        ),
        (
            "bn1.running_var",
            0,
            f64::INFINITY,
            "tensor 'bn1.running_var' holds inf",
        ),
        (
            "best.W2",
            7,
            f64::NAN,
            "tensor 'best.W2' holds NaN at index 7",
        ),
        (
            "adam.W1.v",
            4,
            f64::NAN,
            "tensor 'adam.W1.v' holds NaN at index 4",
        ),
    ];
    let mut refusals = 0;
    for (name, index, value, expect) in cases {
        rewrite(&good, &bad, |_, t| {
            let (_, _, v) = t.iter_mut().find(|(n, _, _)| n == name).unwrap();
            v[index] = value;
        });
        let bytes = std::fs::read(&bad).unwrap();
        let err = refused(&bad, &good, &bytes);
        assert!(
            matches!(err, CheckpointError::BadValue { .. }),
            "{name}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(expect), "{name}: {msg}");
        for load in [load_net, load_best_net] {
            assert_eq!(load(&bad).unwrap_err().to_string(), msg);
        }
        assert_eq!(load_training(&bad).unwrap_err().to_string(), msg);
        refusals += 1;
        println!("{msg}");
    }
    assert_eq!(refusals, 8);

    // A net checkpoint is checked the same way.
    let net = dir.path().join("net.safetensors");
    let (config, state) = load_net(&good).unwrap();
    save_net(&net, &config, &state).unwrap();
    rewrite(&net, &bad, |_, t| {
        let (_, _, v) = t
            .iter_mut()
            .find(|(n, _, _)| n == "bn1.running_var")
            .unwrap();
        v[2] = -1e-3;
    });
    let msg = load_net(&bad).unwrap_err().to_string();
    assert!(
        msg.contains("tensor 'bn1.running_var' holds -0.001 at index 2"),
        "{msg}"
    );
}
