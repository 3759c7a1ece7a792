//! The Solver on real CIFAR-10 (skipped with a line saying so when the
//! files are not found; see `gradtape_data::testing`) and on small
//! synthetic sets.

use gradtape_core::{rng_from_seed, Tensor};
use gradtape_data::testing::cifar10_or_skip;
use gradtape_data::{get_cifar10_data, Cifar10};
use gradtape_nn::{FcConfig, FullyConnectedNet, Model, Normalization};
use gradtape_optim::UpdateRule;
use gradtape_train::{Dataset, InMemory, Solver, SolverOptions};

/// The real data, or `None` (after a line saying the test is skipped).
fn cifar(num_training: usize) -> Option<Cifar10> {
    let dir = cifar10_or_skip()?;
    Some(get_cifar10_data(&dir, num_training, 1000, 100, true).unwrap())
}

#[test]
fn a_small_net_overfits_fifty_real_images() {
    let Some(data) = cifar(50) else { return };
    let net = FullyConnectedNet::new(FcConfig {
        hidden_dims: vec![100, 100],
        weight_scale: 5e-2,
        seed: 1,
        ..FcConfig::default()
    })
    .unwrap();
    let options = SolverOptions {
        num_epochs: 100,
        batch_size: 25,
        update_rule: UpdateRule::Adam,
        learning_rate: 1e-3,
        verbose: false,
        ..SolverOptions::default()
    };
    let mut solver = Solver::new(net, data.train.clone(), data.val.clone(), options).unwrap();
    solver.train().unwrap();
    let h = solver.history();
    assert_eq!(h.loss_history.len(), 200, "100 epochs of 2 iterations");
    assert_eq!(
        h.train_acc_history.len(),
        101,
        "first iteration + each epoch end"
    );
    let best_train = h.train_acc_history.iter().copied().fold(0.0, f64::max);
    println!(
        "final train acc {:.3}, best {best_train:.3}",
        h.train_acc_history.last().unwrap()
    );
    assert!(*h.train_acc_history.last().unwrap() >= 0.9);
}

fn toy(n: usize, seed: u64) -> InMemory {
    let mut rng = rng_from_seed(seed);
    let x = Tensor::randn(&[n, 6], &mut rng);
    // Labels depend on the input, so there is something to learn.
    let y = x
        .data()
        .chunks(6)
        .map(|r| if r[0] + r[1] > 0.0 { 1 } else { 0 } + if r[2] > 0.0 { 2 } else { 0 })
        .collect();
    InMemory::new(x, y).unwrap()
}

fn toy_solver(seed: u64, model_seed: u64) -> Solver<FullyConnectedNet, InMemory> {
    let net = FullyConnectedNet::new(FcConfig {
        hidden_dims: vec![16, 16],
        input_dim: 6,
        num_classes: 4,
        dropout: 0.7,
        normalization: Normalization::BatchNorm,
        weight_scale: 1e-1,
        seed: model_seed,
        ..FcConfig::default()
    })
    .unwrap();
    let options = SolverOptions {
        num_epochs: 5,
        batch_size: 20,
        update_rule: UpdateRule::Adam,
        learning_rate: 5e-3,
        lr_decay: 0.9,
        verbose: false,
        num_train_samples: 50,
        seed,
        ..SolverOptions::default()
    };
    Solver::new(net, toy(200, 1), toy(60, 2), options).unwrap()
}

#[test]
fn same_seed_same_history_bit_for_bit_and_another_seed_differs() {
    let run = |seed, model_seed| {
        let mut s = toy_solver(seed, model_seed);
        s.train().unwrap();
        let h = s.history().clone();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let params = s.model().snapshot();
        (
            bits(&h.loss_history),
            bits(&h.train_acc_history),
            bits(&h.val_acc_history),
            params,
        )
    };
    let a = run(3, 4);
    assert_eq!(a, run(3, 4));
    assert_ne!(
        a.0,
        run(5, 4).0,
        "another minibatch seed, another loss history"
    );
    assert_ne!(a.0, run(3, 6).0, "another model seed, another loss history");
}

#[test]
fn the_learning_rate_decays_once_per_epoch() {
    let mut s = toy_solver(0, 0);
    s.train().unwrap();
    let expected = 5e-3 * 0.9f64.powi(5);
    assert!((s.optimizer().learning_rate() - expected).abs() < 1e-15);
}

#[test]
fn training_ends_on_the_best_validation_epoch_with_its_batchnorm_statistics() {
    let mut s = toy_solver(7, 8);
    let best = std::rc::Rc::new(std::cell::RefCell::new(None));
    let seen = best.clone();
    s.set_observer(move |e| {
        if let gradtape_train::Event::Accuracy { val_acc, .. } = e {
            let mut b = seen.borrow_mut();
            if b.is_none_or(|v: f64| *val_acc > v) {
                *b = Some(*val_acc);
            }
        }
    });
    s.train().unwrap();
    let best_val = best.borrow().unwrap();
    assert_eq!(best_val, s.history().best_val_acc);
    // The restored model scores the best accuracy on the whole validation set
    // (num_val_samples is None: the Solver used all of it, in order).
    let val = toy(60, 2);
    let mut rng = rng_from_seed(0);
    let acc = gradtape_train::check_accuracy(s.model(), &val, None, 20, &mut rng).unwrap();
    assert_eq!(acc, best_val);
}

#[test]
fn bad_options_are_refused() {
    let net = || {
        FullyConnectedNet::new(FcConfig {
            hidden_dims: vec![4],
            input_dim: 6,
            num_classes: 4,
            ..FcConfig::default()
        })
        .unwrap()
    };
    let bad = [
        SolverOptions {
            batch_size: 0,
            ..SolverOptions::default()
        },
        SolverOptions {
            batch_size: 201,
            ..SolverOptions::default()
        },
        SolverOptions {
            learning_rate: -1.0,
            ..SolverOptions::default()
        },
        SolverOptions {
            learning_rate: f64::NAN,
            ..SolverOptions::default()
        },
        SolverOptions {
            lr_decay: -0.5,
            ..SolverOptions::default()
        },
        SolverOptions {
            lr_decay: f64::NAN,
            ..SolverOptions::default()
        },
    ];
    for options in bad {
        let what = format!("{options:?}");
        assert!(
            Solver::new(net(), toy(200, 1), toy(10, 2), options).is_err(),
            "{what}"
        );
    }
    let msg = Solver::new(
        net(),
        toy(200, 1),
        toy(10, 2),
        SolverOptions {
            batch_size: 201,
            ..SolverOptions::default()
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert_eq!(
        msg,
        "Solver: batch_size 201 is larger than the 200 training examples"
    );
    assert_eq!(toy(10, 2).len(), 10);
}
