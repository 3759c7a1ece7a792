//! SGD, SGD with momentum and RMSProp: one and two steps by hand.

use gradtape_optim::{
    build, Optimizer, RmsProp, RmsPropConfig, Sgd, SgdConfig, SgdMomentum, SgdMomentumConfig,
    UpdateRule,
};

fn close(actual: &[f64], expected: &[f64], tol: f64) {
    assert_eq!(actual.len(), expected.len());
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tol,
            "element {i}: got {a:e}, expected {e:e} (diff {:e})",
            (a - e).abs()
        );
    }
}

#[test]
fn sgd_one_and_two_steps() {
    let mut opt = Sgd::new(SgdConfig { learning_rate: 0.5 }).unwrap();
    let mut w = vec![1.0, -2.0, 0.25];
    opt.update("W", &mut w, &[0.5, -1.0, 2.0]).unwrap();
    assert_eq!(w, [0.75, -1.5, -0.75]); // w - 0.5 * dw, all exact in binary
    opt.update("W", &mut w, &[1.0, 1.0, -1.0]).unwrap();
    assert_eq!(w, [0.25, -2.0, -0.25]);
    // The same as the formula with the default learning rate.
    let mut opt = Sgd::default();
    assert_eq!(opt.learning_rate(), 1e-2);
    let mut w = vec![0.3, 0.7];
    opt.update("W", &mut w, &[0.1, -0.2]).unwrap();
    assert_eq!(w, [0.3 - 1e-2 * 0.1, 0.7 - 1e-2 * -0.2]);
}

#[test]
fn sgd_learning_rate_decay() {
    let mut opt = build(UpdateRule::Sgd, 0.1).unwrap();
    opt.decay_learning_rate(0.5).unwrap();
    assert_eq!(opt.learning_rate(), 0.05);
    let mut w = vec![1.0];
    opt.update("W", &mut w, &[2.0]).unwrap();
    assert_eq!(w, [1.0 - 0.05 * 2.0]);
    opt.set_learning_rate(0.0).unwrap();
    opt.update("W", &mut w, &[2.0]).unwrap();
    assert_eq!(w, [0.9]);
}

#[test]
fn momentum_one_and_two_steps() {
    let mut opt = SgdMomentum::new(SgdMomentumConfig {
        learning_rate: 0.1,
        momentum: 0.9,
    })
    .unwrap();
    let mut w = vec![1.0, -1.0];
    opt.update("W", &mut w, &[1.0, -2.0]).unwrap();
    // v = 0.9 * 0 - 0.1 * dw = [-0.1, 0.2]; w = w + v
    close(opt.velocity("W").unwrap(), &[-0.1, 0.2], 0.0);
    close(&w, &[0.9, -0.8], 1e-16);
    opt.update("W", &mut w, &[0.5, 0.0]).unwrap();
    // v = 0.9 * [-0.1, 0.2] - 0.1 * [0.5, 0] = [-0.14, 0.18]
    close(opt.velocity("W").unwrap(), &[-0.14, 0.18], 1e-16);
    close(&w, &[0.76, -0.62], 1e-15);
    // Exact operation order: v = mu * v - lr * dw; w = w + v.
    let v1 = [0.9 * 0.0 - 0.1 * 1.0, 0.9 * 0.0 - 0.1 * -2.0];
    let v2 = [0.9 * v1[0] - 0.1 * 0.5, 0.9 * v1[1] - 0.1 * 0.0];
    assert_eq!(w, [1.0 + v1[0] + v2[0], -1.0 + v1[1] + v2[1]]);
}

#[test]
fn momentum_state_is_per_parameter_and_defaults_follow_optim_py() {
    let mut opt = build(UpdateRule::SgdMomentum, 1e-2).unwrap();
    let mut a = vec![1.0];
    let mut b = vec![1.0];
    opt.update("a", &mut a, &[1.0]).unwrap();
    opt.update("a", &mut a, &[1.0]).unwrap();
    opt.update("b", &mut b, &[1.0]).unwrap();
    // a: v1 = -0.01, v2 = 0.9 * -0.01 - 0.01 = -0.019; b: one step only.
    close(&a, &[1.0 - 0.01 - 0.019], 1e-16);
    close(&b, &[1.0 - 0.01], 0.0);
    let c = SgdMomentumConfig::default();
    assert_eq!((c.learning_rate, c.momentum), (1e-2, 0.9));
}

#[test]
fn rmsprop_one_and_two_steps() {
    let mut opt = RmsProp::new(RmsPropConfig {
        learning_rate: 1e-2,
        decay_rate: 0.99,
        epsilon: 1e-8,
    })
    .unwrap();
    let mut w = vec![1.0, -1.0];
    opt.update("W", &mut w, &[0.5, -2.0]).unwrap();
    // cache = 0.01 * dw² = [0.0025, 0.04]; sqrt = [0.05, 0.2]
    // w -= 0.01 * dw / (sqrt(cache) + 1e-8) = 0.01 * [10, -10] (almost)
    close(opt.cache("W").unwrap(), &[0.0025, 0.04], 1e-16);
    let w1 = [
        1.0 - 1e-2 * 0.5 / (0.05 + 1e-8),
        -1.0 - 1e-2 * -2.0 / (0.2 + 1e-8),
    ];
    close(&w, &w1, 1e-15);
    close(&w, &[0.9, -0.9], 1e-7);

    opt.update("W", &mut w, &[1.0, 0.0]).unwrap();
    // cache = 0.99 * [0.0025, 0.04] + 0.01 * [1, 0] = [0.012475, 0.0396]
    close(opt.cache("W").unwrap(), &[0.012475, 0.0396], 1e-16);
    let w2 = [
        w1[0] - 1e-2 * 1.0 / (0.012475f64.sqrt() + 1e-8),
        w1[1], // zero gradient: no move
    ];
    close(&w, &w2, 1e-15);
    assert_eq!(w[1], w1[1]);
}

#[test]
fn rmsprop_defaults_follow_optim_py() {
    let c = RmsPropConfig::default();
    assert_eq!(
        (c.learning_rate, c.decay_rate, c.epsilon),
        (1e-2, 0.99, 1e-8)
    );
    let opt = build(UpdateRule::RmsProp, 3e-4).unwrap();
    let s = opt.export_state();
    assert_eq!(s.learning_rate, 3e-4);
    assert_eq!(s.hyperparameter("decay_rate"), Some(0.99));
    assert_eq!(s.hyperparameter("epsilon"), Some(1e-8));
}

#[test]
fn build_picks_the_rule_by_name() {
    for rule in UpdateRule::ALL {
        let opt = build(rule.name().parse().unwrap(), 0.25).unwrap();
        assert_eq!(opt.rule(), rule);
        assert_eq!(opt.learning_rate(), 0.25);
    }
}

#[test]
fn clear_state_restarts_from_zeros() {
    let mut opt = build(UpdateRule::Adam, 1e-3).unwrap();
    let mut w = vec![1.0, 2.0];
    opt.update("W", &mut w, &[0.3, 0.4]).unwrap();
    opt.update("W", &mut w, &[0.1, 0.2]).unwrap();
    opt.clear_state();
    assert!(opt.export_state().params.is_empty());
    let mut fresh = build(UpdateRule::Adam, 1e-3).unwrap();
    let mut w2 = w.clone();
    opt.update("W", &mut w, &[0.5, 0.6]).unwrap();
    fresh.update("W", &mut w2, &[0.5, 0.6]).unwrap();
    assert_eq!(w, w2);
}
