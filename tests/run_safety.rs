//! The final run and the regularization experiment on a small synthetic
//! CIFAR-10 held in memory: a diverging run is an error (which the examples
//! turn into exit code 1), what cannot run is refused before anything is
//! trained, and a resumed run records what actually ran.

use clap::Parser;
use gradtape::data::{Cifar10, Split, IMAGE_BYTES};
use gradtape::notebook::cli::{FinalArgs, RunArgs};
use gradtape::notebook::final_run::{self, Checkpointing, FinalOptions};
use gradtape::notebook::progress::Output;
use gradtape::notebook::regularization::{self, RegularizationOptions};
use gradtape::rng_from_seed;
use std::path::PathBuf;
use std::sync::Arc;

/// `n` images whose pixels depend on their label, so there is something
/// to learn.
fn split(n: usize, seed: u64, mean: &Arc<[f64]>) -> Split {
    use gradtape::RngExt;
    let mut rng = rng_from_seed(seed);
    let labels: Vec<usize> = (0..n).map(|i| i % 10).collect();
    let pixels = labels
        .iter()
        .flat_map(|&l| {
            (0..IMAGE_BYTES)
                .map(|j| (l * 20 + (j % 7) * 3) as u8 + rng.random_range(0..40u8))
                .collect::<Vec<_>>()
        })
        .collect();
    Split::new(pixels, labels, Some(mean.clone())).unwrap()
}

fn data() -> Cifar10 {
    let mean: Arc<[f64]> = vec![110.0; IMAGE_BYTES].into();
    Cifar10 {
        train: split(200, 1, &mean),
        val: split(50, 2, &mean),
        test: split(50, 3, &mean),
        class_names: (0..10).map(|i| format!("class {i}")).collect(),
        dir: PathBuf::from("<memory>"),
    }
}

fn small(epochs: usize) -> FinalOptions {
    FinalOptions {
        hidden_dims: vec![20, 20],
        epochs,
        batch_size: 50,
        ..FinalOptions::default()
    }
}

fn run(options: &FinalOptions, c: &Checkpointing) -> Result<final_run::FinalResult, String> {
    final_run::run_checkpointed(&data(), options, Output::Quiet, c).map_err(|e| e.to_string())
}

#[test]
fn a_final_run_with_learning_rate_1e300_is_an_error_naming_the_iteration() {
    let options = FinalOptions {
        learning_rate: 1e300,
        ..small(2)
    };
    let err = run(&options, &Checkpointing::default()).unwrap_err();
    assert!(err.starts_with("iteration 2: "), "{err}");
    assert!(err.contains("try a lower learning rate"), "{err}");
}

#[test]
fn a_final_run_with_weight_scale_1e300_is_an_error_at_the_first_iteration() {
    let options = FinalOptions {
        weight_scale: 1e300,
        ..small(2)
    };
    let err = run(&options, &Checkpointing::default()).unwrap_err();
    assert!(err.starts_with("iteration 1: "), "{err}");
    assert!(err.contains("try a smaller weight scale"), "{err}");
}

#[test]
fn detect_anomaly_on_the_command_line_reaches_the_solver() {
    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        net: FinalArgs,
    }
    let on = Args::try_parse_from(["x", "--detect-anomaly", "--seed", "3"]).unwrap();
    let options = on.net.options(&on.run);
    assert!(options.detect_anomaly);
    assert_eq!(options.seed, 3);
    assert!(final_run::solver_options(&options, Output::Quiet).detect_anomaly);
    let off = Args::try_parse_from(["x"]).unwrap();
    assert!(!final_run::solver_options(&off.net.options(&off.run), Output::Quiet).detect_anomaly);
}

#[test]
fn what_cannot_run_is_refused_before_the_data_is_loaded() {
    let none = Checkpointing::default();
    let refused = |o: FinalOptions, c: &Checkpointing, expect: &str| {
        let err = final_run::preflight(&o, c).unwrap_err().to_string();
        assert!(err.contains(expect), "{err}");
    };
    refused(
        FinalOptions {
            hidden_dims: vec![usize::MAX],
            ..small(1)
        },
        &none,
        "too large to count",
    );
    refused(
        FinalOptions {
            hidden_dims: vec![1 << 20, 1 << 20],
            ..small(1)
        },
        &none,
        "is available",
    );
    refused(small(0), &none, "epochs must be at least 1");
    refused(
        FinalOptions {
            learning_rate: -1.0,
            ..small(1)
        },
        &none,
        "learning",
    );
    let dir = tempfile::tempdir().unwrap();
    let c = Checkpointing {
        save: Some(dir.path().join("missing/run.safetensors")),
        ..Checkpointing::default()
    };
    refused(small(1), &c, "does not exist");
    final_run::preflight(&small(1), &none).unwrap();
}

#[test]
fn regularization_with_zero_epochs_is_refused_not_a_nan_accuracy() {
    let options = RegularizationOptions {
        num_train: 200,
        epochs: 0,
        hidden_dims: vec![10],
        ..Default::default()
    };
    let err = regularization::run(&data(), &options, Output::Quiet).unwrap_err();
    assert!(
        err.to_string().contains("epochs must be at least 1"),
        "{err}"
    );
}

#[test]
fn a_resumed_run_records_what_ran_and_times_only_the_epochs_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    let save = Checkpointing {
        save: Some(path.clone()),
        ..Checkpointing::default()
    };
    let first = run(&small(1), &save).unwrap();
    assert_eq!((first.resumed_from_epoch, first.epochs_run), (None, 1));

    let resume = Checkpointing {
        resume: Some(path.clone()),
        ..save.clone()
    };
    let second = run(&small(3), &resume).unwrap();
    assert_eq!((second.resumed_from_epoch, second.epochs_run), (Some(1), 2));
    assert_eq!(second.seconds_per_epoch(), second.run.seconds / 2.0);
    assert_eq!(second.run.epoch_seconds.len(), 3, "the whole run's history");
    let json = gradtape::notebook::report::write_json(dir.path(), "r.json", &second).unwrap();
    let json = std::fs::read_to_string(json).unwrap();
    for line in [
        "\"resumed_from_epoch\": 1,",
        "\"epochs_run\": 2,",
        "\"learning_rate\": 0.001,",
        "\"epochs\": 3,",
    ] {
        assert!(json.contains(line), "{line} not in {json}");
    }

    // Another learning rate cannot be honoured by a resume: refused, and
    // the checkpoint is left as it was.
    let before = std::fs::read(&path).unwrap();
    let other = FinalOptions {
        learning_rate: 5e-4,
        ..small(4)
    };
    let err = run(&other, &resume).unwrap_err();
    assert!(
        err.contains("learning_rate is 0.001 in the checkpoint but 0.0005 here"),
        "{err}"
    );
    // (Refused as a resume: --overwrite would not help.)
    assert!(!err.contains("--overwrite"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);

    // A second writer to the same path is refused while the first runs.
    let _held = gradtape::checkpoint::lock_for_saving(&path).unwrap();
    let err = run(&small(4), &resume).unwrap_err();
    assert!(err.contains("another run"), "{err}");
}
