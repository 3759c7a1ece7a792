//! Saving never loses a run or a file without a word: a second writer to
//! the same path is refused, two writers never share a temporary file,
//! another run's checkpoint or an unrelated file is not replaced unless
//! asked, a directory that is not there is named before training starts,
//! and a resume does not silently run with settings other than the saved
//! run's.

use gradtape_checkpoint::{
    check_save_target, load_net, lock_for_saving, resume_solver, save_net, save_solver,
    CheckpointError,
};
use gradtape_core::{rng_from_seed, Tensor};
use gradtape_nn::{FcConfig, FullyConnectedNet, Model, Normalization};
use gradtape_optim::UpdateRule;
use gradtape_train::{InMemory, Solver, SolverOptions};

fn toy(n: usize, seed: u64) -> InMemory {
    let x = Tensor::randn(&[n, 6], &mut rng_from_seed(seed));
    InMemory::new(x, (0..n).map(|i| i % 4).collect()).unwrap()
}

fn config(seed: u64) -> FcConfig {
    FcConfig {
        hidden_dims: vec![8],
        input_dim: 6,
        num_classes: 4,
        normalization: Normalization::BatchNorm,
        seed,
        ..FcConfig::default()
    }
}

fn options(seed: u64, learning_rate: f64) -> SolverOptions {
    SolverOptions {
        num_epochs: 3,
        batch_size: 10,
        update_rule: UpdateRule::Adam,
        learning_rate,
        lr_decay: 0.9,
        verbose: false,
        num_train_samples: 20,
        seed,
        ..SolverOptions::default()
    }
}

fn solver(seed: u64, learning_rate: f64) -> Solver<FullyConnectedNet, InMemory> {
    let net = FullyConnectedNet::new(config(seed)).unwrap();
    Solver::new(net, toy(50, 1), toy(20, 2), options(seed, learning_rate)).unwrap()
}

#[test]
fn two_writers_saving_to_one_path_never_share_a_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    let net = FullyConnectedNet::new(config(0)).unwrap();
    let state = net.snapshot();
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    (0..100)
                        .map(|_| save_net(&path, &config(0), &state))
                        .collect::<Result<Vec<()>, _>>()
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap().expect("a save failed");
        }
    });
    assert_eq!(load_net(&path).unwrap().1, state);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["run.safetensors"], "temporary files left behind");
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_save_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    let first = lock_for_saving(&path).unwrap();
    let err = lock_for_saving(&path).unwrap_err();
    assert!(matches!(err, CheckpointError::Locked { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("run.safetensors"), "{msg}");
    assert!(
        msg.contains(&format!("another run (process {})", std::process::id())),
        "{msg}"
    );
    drop(first);
    // Released with its holder (a killed process releases it too).
    let again = lock_for_saving(&path).unwrap();
    drop(again);
}

#[test]
fn another_runs_checkpoint_or_an_unrelated_file_is_not_replaced_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    // Nothing there yet: fine.
    check_save_target(&path, &config(0), &options(0, 1e-3), false).unwrap();
    let mut s = solver(0, 1e-3);
    s.train_until_epoch(1).unwrap();
    save_solver(&path, &s).unwrap();

    // The same run (same configuration, seed and Solver settings; more
    // epochs is the same run going further): fine.
    let more = SolverOptions {
        num_epochs: 10,
        ..options(0, 1e-3)
    };
    check_save_target(&path, &config(0), &more, false).unwrap();

    // Another seed, another configuration, another learning rate.
    let refused = |config: FcConfig, options: SolverOptions, expect: &str| {
        let err = check_save_target(&path, &config, &options, false).unwrap_err();
        assert!(
            matches!(err, CheckpointError::WouldReplace { .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(expect) && msg.contains("--overwrite"), "{msg}");
        check_save_target(&path, &config, &options, true).unwrap();
        println!("{msg}");
    };
    refused(
        config(1),
        options(1, 1e-3),
        "seed is 0 in the checkpoint but 1 here",
    );
    refused(
        FcConfig {
            hidden_dims: vec![9],
            ..config(0)
        },
        options(0, 1e-3),
        "hidden_dims is [8] in the checkpoint but [9] here",
    );
    refused(
        config(0),
        options(0, 5e-4),
        "learning_rate is 0.001 in the checkpoint but 0.0005 here",
    );

    // An unrelated file, and a net checkpoint.
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "my notes").unwrap();
    let err = check_save_target(&notes, &config(0), &options(0, 1e-3), false).unwrap_err();
    assert!(
        err.to_string().contains("not a gradtape checkpoint"),
        "{err}"
    );
    check_save_target(&notes, &config(0), &options(0, 1e-3), true).unwrap();
    let net = dir.path().join("net.safetensors");
    save_net(&net, &config(0), &s.model_ref().snapshot()).unwrap();
    let err = check_save_target(&net, &config(0), &options(0, 1e-3), false).unwrap_err();
    assert!(err.to_string().contains("a net checkpoint"), "{err}");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes");
}

#[test]
fn a_save_path_in_a_missing_or_unwritable_place_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/run.safetensors");
    let err = check_save_target(&missing, &config(0), &options(0, 1e-3), false).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("does not exist") && msg.contains("no/such/dir"),
        "{msg}"
    );
    assert!(
        !msg.contains("run.safetensors."),
        "names a temporary file: {msg}"
    );
    // A directory where the file should go.
    let err = check_save_target(dir.path(), &config(0), &options(0, 1e-3), true).unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
    // Nothing left behind by the checks.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_resume_with_another_learning_rate_or_decay_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    let mut s = solver(0, 1e-3);
    s.train_until_epoch(1).unwrap();
    save_solver(&path, &s).unwrap();

    let mut other = solver(0, 5e-4);
    let err = resume_solver(&path, &mut other).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("learning_rate is 0.001 in the checkpoint but 0.0005 here"),
        "{msg}"
    );
    assert_eq!(other.epoch(), 0, "a refused resume changed the Solver");

    let net = FullyConnectedNet::new(config(0)).unwrap();
    let o = SolverOptions {
        lr_decay: 0.5,
        ..options(0, 1e-3)
    };
    let mut other = Solver::new(net, toy(50, 1), toy(20, 2), o).unwrap();
    let msg = resume_solver(&path, &mut other).unwrap_err().to_string();
    assert!(
        msg.contains("lr_decay is 0.9 in the checkpoint but 0.5 here"),
        "{msg}"
    );

    // Only the epoch count may differ: a longer run goes on.
    let net = FullyConnectedNet::new(config(0)).unwrap();
    let o = SolverOptions {
        num_epochs: 5,
        ..options(0, 1e-3)
    };
    let mut longer = Solver::new(net, toy(50, 1), toy(20, 2), o).unwrap();
    resume_solver(&path, &mut longer).unwrap();
    longer.train().unwrap();
}

#[test]
fn a_file_too_large_to_read_into_memory_is_an_error_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.safetensors");
    // 8 TB, sparse: nothing is written to disk.
    let f = std::fs::File::create(&path).unwrap();
    if f.set_len(1 << 43).is_err() {
        println!("skipped: this file system has no 8 TB sparse files");
        return;
    }
    drop(f);
    let err = load_net(&path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("huge.safetensors"), "{msg}");
    assert!(msg.contains("8796093022208 bytes"), "{msg}");
    assert!(msg.contains("does not fit in memory"), "{msg}");
}
