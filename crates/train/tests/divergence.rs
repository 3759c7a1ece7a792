//! A run that diverges stops with an error (never trains on NaN), and
//! options that cannot make a run are refused before it starts.

use gradtape_core::{rng_from_seed, Error, Tensor};
use gradtape_nn::{FcConfig, FullyConnectedNet, Normalization};
use gradtape_optim::UpdateRule;
use gradtape_train::{InMemory, Solver, SolverOptions};

fn toy(n: usize, seed: u64) -> InMemory {
    let x = Tensor::randn(&[n, 6], &mut rng_from_seed(seed)).map(|v| 50.0 * v);
    let y = (0..n).map(|i| i % 4).collect();
    InMemory::new(x, y).unwrap()
}

fn net(use_batchnorm: bool, weight_scale: f64) -> FullyConnectedNet {
    FullyConnectedNet::new(FcConfig {
        hidden_dims: vec![16, 16],
        input_dim: 6,
        num_classes: 4,
        normalization: if use_batchnorm {
            Normalization::BatchNorm
        } else {
            Normalization::None
        },
        weight_scale,
        ..FcConfig::default()
    })
    .unwrap()
}

fn options(learning_rate: f64) -> SolverOptions {
    SolverOptions {
        num_epochs: 5,
        batch_size: 10,
        update_rule: UpdateRule::Adam,
        learning_rate,
        verbose: false,
        num_train_samples: 20,
        ..SolverOptions::default()
    }
}

/// The iteration and message of a training error.
fn training_error(err: &Error) -> (usize, String) {
    let Error::Training { iteration, .. } = err else {
        panic!("not a training error: {err}");
    };
    (*iteration, err.to_string())
}

#[test]
fn a_learning_rate_of_1e300_stops_at_the_first_non_finite_loss() {
    for use_batchnorm in [false, true] {
        let mut s = Solver::new(
            net(use_batchnorm, 1e-1),
            toy(100, 1),
            toy(30, 2),
            options(1e300),
        )
        .unwrap();
        let err = s.train().unwrap_err();
        let (iteration, msg) = training_error(&err);
        // The first update is already fatal; the loss it leads to is the
        // first non-finite one (or a parameter turns non-finite first).
        assert!((2..=3).contains(&iteration), "{msg}");
        assert!(msg.contains("lower learning rate"), "{msg}");
        assert!(msg.contains("1e300"), "{msg}");
        let losses = &s.history().loss_history;
        assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
        assert!(losses.len() < iteration);
        println!("batchnorm {use_batchnorm}: {msg}");
    }
}

#[test]
fn a_weight_scale_of_1e300_is_refused_at_the_first_iteration() {
    // Without batchnorm the scores overflow; with it the activations'
    // variance does, and the net would train on as a dead net whose loss
    // stays ln(4).
    for use_batchnorm in [false, true] {
        let mut s = Solver::new(
            net(use_batchnorm, 1e300),
            toy(100, 1),
            toy(30, 2),
            options(1e-3),
        )
        .unwrap();
        let err = s.train().unwrap_err();
        let (iteration, msg) = training_error(&err);
        assert_eq!(iteration, 1, "{msg}");
        assert!(msg.contains("not finite"), "{msg}");
        assert!(msg.contains("weight scale"), "{msg}");
        println!("batchnorm {use_batchnorm}: {msg}");
    }
}

#[test]
fn zero_epochs_are_refused() {
    let o = SolverOptions {
        num_epochs: 0,
        ..options(1e-3)
    };
    let err = Solver::new(net(false, 1e-1), toy(100, 1), toy(30, 2), o)
        .err()
        .expect("0 epochs accepted");
    assert!(err.to_string().contains("num_epochs is 0"), "{err}");
}

#[test]
fn an_epoch_count_whose_iteration_count_overflows_is_refused() {
    // 10 iterations per epoch: 2^63 + 1 epochs wrap around in usize.
    let o = SolverOptions {
        num_epochs: (1usize << 63) + 1,
        ..options(1e-3)
    };
    let err = Solver::new(net(false, 1e-1), toy(100, 1), toy(30, 2), o)
        .err()
        .expect("an overflowing iteration count accepted");
    let msg = err.to_string();
    assert!(msg.contains("9223372036854775809 epochs"), "{msg}");
    assert!(msg.contains("too many"), "{msg}");
}
