//! The notebook's FullyConnectedNet gradient checks.

use gradtape_core::{rng_from_seed, RngExt, Tensor};
use gradtape_nn::{
    check_net_gradients, FcConfig, FullyConnectedNet, Model, NetOutput, Normalization,
};
use gradtape_optim::{build, UpdateRule};

fn notebook_batch(n: usize) -> (Tensor, Vec<usize>) {
    batch_from_seed(n, 231)
}

fn batch_from_seed(n: usize, seed: u64) -> (Tensor, Vec<usize>) {
    let mut rng = rng_from_seed(seed);
    let x = Tensor::randn(&[n, 15], &mut rng);
    let y = (0..n).map(|_| rng.random_range(0..10)).collect();
    (x, y)
}

fn notebook_net(dropout: f64, normalization: Normalization) -> FullyConnectedNet {
    FullyConnectedNet::new(FcConfig {
        hidden_dims: vec![20, 30],
        input_dim: 15,
        num_classes: 10,
        dropout,
        normalization,
        weight_scale: 5e-2,
        seed: 123,
        ..FcConfig::default()
    })
    .unwrap()
}

#[test]
fn every_parameter_gradient_matches_finite_differences_with_dropout() {
    let (x, y) = notebook_batch(2);
    for dropout in [0.5, 0.75, 1.0] {
        let mut net = notebook_net(dropout, Normalization::None);
        let (loss, checks) = check_net_gradients(&mut net, &x, &y, 123).unwrap();
        println!("dropout {dropout}: initial loss {loss}");
        assert!(
            (loss - 10f64.ln()).abs() < 0.1,
            "initial loss {loss} is far from ln(10)"
        );
        assert_eq!(checks.len(), 6);
        for c in &checks {
            println!("  {} relative error: {:.2e}", c.name, c.rel_error);
            assert!(
                c.rel_error < 1e-5,
                "dropout {dropout}: {} error {:e}",
                c.name,
                c.rel_error
            );
        }
    }
}

#[test]
fn every_parameter_gradient_matches_finite_differences_with_batchnorm() {
    // N = 10: at N = 2 batchnorm's output hardly depends on W1.
    for dropout in [1.0, 0.75, 0.5] {
        let mut net = notebook_net(dropout, Normalization::BatchNorm);
        let (x, y) = batch_away_from_relu_kinks(&mut net);
        let (_, checks) = check_net_gradients(&mut net, &x, &y, 123).unwrap();
        assert_eq!(checks.len(), 10);
        for c in &checks {
            println!(
                "  bn dropout {dropout}: {} relative error {:.2e}, max |grad| {:.1e}",
                c.name, c.rel_error, c.max_abs_grad
            );
            if c.name == "b1" || c.name == "b2" {
                // A bias feeding batchnorm is subtracted out with the batch mean.
                assert!(c.max_abs_grad < 1e-10, "{}: {:e}", c.name, c.max_abs_grad);
            } else {
                assert!(c.rel_error < 1e-4, "{}: {:e}", c.name, c.rel_error);
            }
        }
    }
}

/// Smallest |input| of any ReLU in the last train-mode forward pass.
fn relu_margin(net: &mut FullyConnectedNet) -> f64 {
    let tape = net.tape_mut();
    let mut margin = f64::INFINITY;
    for v in tape.vars().collect::<Vec<_>>() {
        if tape.op_name(v).unwrap() == "relu" {
            let input = tape.inputs(v).unwrap()[0];
            margin = tape
                .value(input)
                .unwrap()
                .data()
                .iter()
                .fold(margin, |m, x| m.min(x.abs()));
        }
    }
    margin
}

/// The notebook's batch (seed 231) unless a ReLU input of the net lies within
/// 1e-4 of the kink there, where a probe of h = 1e-5 on a weight can cross it
/// and the finite difference measures the kink, not the gradient; then the
/// next seed. After batchnorm, normalised values near 0 are common.
fn batch_away_from_relu_kinks(net: &mut FullyConnectedNet) -> (Tensor, Vec<usize>) {
    for seed in 231..241 {
        let (x, y) = batch_from_seed(10, seed);
        net.set_dropout_seed(123);
        net.train_loss(&x, &y).unwrap();
        if relu_margin(net) > 1e-4 {
            println!("  data seed {seed}");
            return (x, y);
        }
    }
    panic!("no data seed in 231..241 keeps ReLU inputs 1e-4 away from 0");
}

#[test]
fn regularisation_adds_half_reg_times_squared_weights() {
    let (x, y) = notebook_batch(3);
    let mut plain = notebook_net(1.0, Normalization::None);
    let mut reg = FullyConnectedNet::new(FcConfig {
        reg: 0.7,
        ..plain.config().clone()
    })
    .unwrap();
    let l0 = plain.train_loss(&x, &y).unwrap();
    let l1 = reg.train_loss(&x, &y).unwrap();
    let sq: f64 = ["W1", "W2", "W3"]
        .iter()
        .map(|n| {
            plain
                .param(n)
                .unwrap()
                .data()
                .iter()
                .map(|v| v * v)
                .sum::<f64>()
        })
        .sum();
    assert!((l1 - l0 - 0.5 * 0.7 * sq).abs() < 1e-12);
    let (_, checks) = check_net_gradients(&mut reg, &x, &y, 0).unwrap();
    assert!(checks.iter().all(|c| c.rel_error < 1e-5), "{checks:?}");
}

#[test]
fn test_mode_uses_running_statistics_and_no_dropout() {
    let (x, y) = notebook_batch(10);
    let mut net = notebook_net(0.5, Normalization::BatchNorm);
    let s1 = net.scores(&x).unwrap();
    assert_eq!(s1, net.scores(&x).unwrap(), "test mode is deterministic");
    assert_eq!(
        net.batchnorm_stats()[0].running_mean.data(),
        &[0.0; 20],
        "test mode leaves running stats alone"
    );
    net.train_loss(&x, &y).unwrap();
    assert_ne!(
        net.batchnorm_stats()[0].running_mean.data(),
        &[0.0; 20],
        "train mode updates them"
    );
    match net.loss(&x, None).unwrap() {
        NetOutput::Scores(s) => assert_eq!(s.dims(), &[10, 10]),
        other => panic!("expected scores, got {other:?}"),
    }
}

#[test]
fn parameters_are_named_as_in_the_notebook() {
    let net = notebook_net(0.5, Normalization::BatchNorm);
    let names: Vec<&str> = net.param_names().collect();
    assert_eq!(
        names,
        ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"]
    );
    assert_eq!(net.param("W2").unwrap().dims(), &[20, 30]);
    assert!(net.param("W4").is_err());
}

#[test]
fn snapshot_and_restore_round_trip_and_refuse_a_mismatch() {
    let (x, y) = notebook_batch(10);
    let mut net = notebook_net(0.5, Normalization::BatchNorm);
    let before = net.snapshot();
    net.train_loss(&x, &y).unwrap();
    net.update_params(&mut |_, w, g| {
        w.iter_mut().zip(g).for_each(|(w, g)| *w -= 0.1 * g);
        Ok(())
    })
    .unwrap();
    assert_ne!(net.snapshot(), before);
    net.restore(&before).unwrap();
    assert_eq!(net.snapshot(), before);
    let other = notebook_net(0.5, Normalization::None).snapshot();
    assert!(net.restore(&other).is_err());
    assert_eq!(net.snapshot(), before, "a refused restore changes nothing");
}

#[test]
fn same_seed_same_numbers() {
    let (x, y) = notebook_batch(10);
    let run = |seed: u64| {
        let mut net = FullyConnectedNet::new(FcConfig {
            seed,
            ..notebook_net(0.5, Normalization::BatchNorm).config().clone()
        })
        .unwrap();
        (0..5)
            .map(|_| net.train_loss(&x, &y).unwrap().to_bits())
            .collect::<Vec<u64>>()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn bad_configs_are_refused() {
    for c in [
        FcConfig {
            dropout: 1.5,
            ..FcConfig::default()
        },
        FcConfig {
            reg: -1.0,
            ..FcConfig::default()
        },
        FcConfig {
            hidden_dims: vec![10, 0],
            ..FcConfig::default()
        },
        FcConfig {
            weight_scale: f64::NAN,
            ..FcConfig::default()
        },
    ] {
        assert!(FullyConnectedNet::new(c).is_err());
    }
}

/// Updating before any gradient exists is an error that names the
/// parameter, and it changes no parameter (all are checked before any is
/// touched).
#[test]
fn update_params_before_a_loss_is_an_error_and_changes_nothing() {
    let mut net = notebook_net(1.0, Normalization::BatchNorm);
    let before = net.snapshot();
    let err = net
        .update_params(&mut |_, w, _| {
            w.fill(0.0);
            Ok(())
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "update_params: W1 has no gradient yet: call train_loss first"
    );
    assert!(net.snapshot() == before);
}

#[test]
fn every_parameter_gradient_matches_finite_differences_with_layernorm() {
    // As the batchnorm check: N = 10, a batch whose ReLU inputs stay away
    // from the kink. Layernorm normalises rows, so a bias before it still
    // moves the loss (unlike batchnorm's) and is checked like the rest; every
    // error stays below the plain net's 1e-5 (largest seen: 1.6e-6).
    for dropout in [1.0, 0.75, 0.5] {
        let mut net = notebook_net(dropout, Normalization::LayerNorm);
        let (x, y) = batch_away_from_relu_kinks(&mut net);
        let (loss, checks) = check_net_gradients(&mut net, &x, &y, 123).unwrap();
        assert!((loss - 10f64.ln()).abs() < 0.5, "initial loss {loss}");
        assert_eq!(checks.len(), 10);
        for c in &checks {
            println!(
                "  ln dropout {dropout}: {} relative error {:.2e}, max |grad| {:.1e}",
                c.name, c.rel_error, c.max_abs_grad
            );
            assert!(c.rel_error < 1e-5, "{}: {:e}", c.name, c.rel_error);
        }
    }
}

#[test]
fn layernorm_nets_name_gamma_and_beta_as_batchnorm_nets_do_and_keep_no_statistics() {
    let (x, y) = notebook_batch(4);
    let mut net = notebook_net(1.0, Normalization::LayerNorm);
    let names: Vec<&str> = net.param_names().collect();
    assert_eq!(
        names,
        ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"]
    );
    assert!(net.batchnorm_stats().is_empty());
    assert!(net.snapshot().batchnorm.is_empty());
    // Train and test modes are the same: the train-mode loss is the
    // cross-entropy of the test-mode scores.
    let loss = net.train_loss(&x, &y).unwrap();
    let scores = net.scores(&x).unwrap();
    let ce: f64 = scores
        .data()
        .chunks(10)
        .zip(&y)
        .map(|(row, &label)| {
            let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
            let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
            max + sum.ln() - row[label]
        })
        .sum::<f64>()
        / 4.0;
    assert!((loss - ce).abs() < 1e-12, "{loss} vs {ce}");
}

/// The net steps through the optimizer's tape path: the same bits as the
/// name-keyed path, with the state exported under the notebook's names.
#[test]
fn step_matches_update_params_bit_for_bit_and_names_the_state() {
    for rule in UpdateRule::ALL {
        let (x, y) = notebook_batch(10);
        let mut a = notebook_net(0.5, Normalization::BatchNorm);
        let mut b = notebook_net(0.5, Normalization::BatchNorm);
        let mut opt_a = build(rule, 1e-2).unwrap();
        let mut opt_b = build(rule, 1e-2).unwrap();
        for _ in 0..3 {
            let la = a.train_loss(&x, &y).unwrap();
            let lb = b.train_loss(&x, &y).unwrap();
            assert_eq!(la.to_bits(), lb.to_bits(), "{rule}");
            a.step(opt_a.as_mut()).unwrap();
            b.update_params(&mut |n, w, g| opt_b.update(n, w, g))
                .unwrap();
        }
        assert_eq!(a.snapshot(), b.snapshot(), "{rule}");
        assert_eq!(opt_a.export_state(), opt_b.export_state(), "{rule}");
    }
    let mut net = notebook_net(1.0, Normalization::None);
    let before = net.snapshot();
    let err = net
        .step(build(UpdateRule::Adam, 1e-3).unwrap().as_mut())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "step: W1 has no gradient yet: call train_loss first"
    );
    assert!(net.snapshot() == before);
}
