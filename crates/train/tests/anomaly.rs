//! `SolverOptions::detect_anomaly`: a NaN or infinity in the data stops
//! training at the op it first reaches, with the iteration; without it, the
//! run stops only at the first non-finite loss.

use gradtape_core::{rng_from_seed, Error, Tensor};
use gradtape_nn::{FcConfig, FullyConnectedNet, Normalization};
use gradtape_optim::UpdateRule;
use gradtape_train::{InMemory, Solver, SolverOptions};

fn data(n: usize, seed: u64, poison: impl Fn(usize, &mut [f64])) -> InMemory {
    let mut x = Tensor::randn(&[n, 6], &mut rng_from_seed(seed));
    for (i, row) in x.data_mut().chunks_mut(6).enumerate() {
        poison(i, row);
    }
    let y = (0..n).map(|i| i % 4).collect();
    InMemory::new(x, y).unwrap()
}

fn solver(train: InMemory, detect_anomaly: bool) -> Solver<FullyConnectedNet, InMemory> {
    let net = FullyConnectedNet::new(FcConfig {
        hidden_dims: vec![16],
        input_dim: 6,
        num_classes: 4,
        normalization: Normalization::BatchNorm,
        dropout: 0.8,
        weight_scale: 0.1,
        ..FcConfig::default()
    })
    .unwrap();
    let options = SolverOptions {
        num_epochs: 3,
        batch_size: 10,
        update_rule: UpdateRule::Adam,
        verbose: false,
        num_train_samples: 20,
        detect_anomaly,
        ..SolverOptions::default()
    };
    Solver::new(net, train, data(30, 9, |_, _| {}), options).unwrap()
}

#[test]
fn an_infinity_in_every_example_stops_the_first_iteration_at_the_first_affine_layer() {
    let train = data(100, 1, |_, row| row[2] = f64::INFINITY);
    let err = solver(train, true).train().unwrap_err();
    let Error::Training { iteration, source } = &err else {
        panic!("not a training error: {err}");
    };
    assert_eq!(*iteration, 1);
    assert!(
        matches!(
            **source,
            Error::NonFinite {
                op: "affine",
                what: "forward value",
                ..
            }
        ),
        "{source}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with("iteration 1: affine (tape node ")
            && msg.contains("shape (10, 16)): forward value is not finite"),
        "{msg}"
    );
}

#[test]
fn one_nan_example_is_caught_no_later_than_the_loss_shows_it() {
    let poison = |i: usize, row: &mut [f64]| {
        if i == 37 {
            row[0] = f64::NAN;
        }
    };
    // Off (the default): the Solver stops at the first minibatch that holds
    // example 37, whose loss is NaN, before that loss's gradients are applied.
    let mut off = solver(data(100, 1, poison), false);
    let err = off.train().unwrap_err();
    let Error::Training {
        iteration: at_loss,
        source,
    } = &err
    else {
        panic!("not a training error: {err}");
    };
    assert!(
        source.to_string().starts_with("Solver: the loss is NaN"),
        "{err}"
    );
    let losses = off.history().loss_history.clone();
    assert_eq!(losses.len(), at_loss - 1);
    assert!(losses.iter().all(|l| l.is_finite()));

    // On: the same run stops with the op and the iteration, its history
    // identical up to there.
    let mut on = solver(data(100, 1, poison), true);
    let err = on.train().unwrap_err();
    let Error::Training { iteration, source } = &err else {
        panic!("not a training error: {err}");
    };
    assert!(
        *iteration <= *at_loss,
        "{err} (loss NaN at iteration {at_loss})"
    );
    assert!(
        matches!(**source, Error::NonFinite { op: "affine", .. }),
        "{err}"
    );
    let before = &on.history().loss_history;
    assert!(before.len() < *iteration);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(before), bits(&losses[..before.len()]));
    println!("{err}; without anomaly mode the loss was NaN at iteration {at_loss}");
}

#[test]
fn anomaly_mode_changes_no_result_of_a_clean_run() {
    let run = |on| {
        let mut s = solver(data(100, 1, |_, _| {}), on);
        s.train().unwrap();
        s.history()
            .loss_history
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(false), run(true));
}
