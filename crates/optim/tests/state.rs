//! Export / import of optimizer state: a round trip continues bit for bit,
//! and malformed snapshots are rejected without changing anything.

use gradtape_optim::{
    build, Adam, AdamConfig, Error, OptimState, Optimizer, SgdMomentum, UpdateRule,
};

fn grad(step: usize, n: usize, salt: usize) -> Vec<f64> {
    (0..n)
        .map(|i| ((step * 31 + i * 17 + salt * 7) % 23) as f64 / 23.0 - 0.45)
        .collect()
}

/// Runs `steps` updates on two parameters of different sizes, starting at `from`.
fn train(opt: &mut dyn Optimizer, w: &mut [Vec<f64>; 2], from: usize, steps: usize) {
    for step in from..from + steps {
        let g = grad(step, w[0].len(), 0);
        opt.update("W1", &mut w[0], &g).unwrap();
        // b1 is updated every other step: per-parameter step counts differ.
        if step % 2 == 0 {
            let g = grad(step, w[1].len(), 1);
            opt.update("b1", &mut w[1], &g).unwrap();
        }
    }
}

fn bits(w: &[Vec<f64>; 2]) -> Vec<u64> {
    w.iter().flatten().map(|x| x.to_bits()).collect()
}

#[test]
fn round_trip_gives_identical_subsequent_updates() {
    for rule in UpdateRule::ALL {
        let mut a = build(rule, 3e-2).unwrap();
        let mut w = [vec![0.5, -0.25, 1.0, 2.0], vec![0.1, -0.1]];
        train(a.as_mut(), &mut w, 0, 5);
        a.decay_learning_rate(0.9).unwrap();

        let snapshot = a.export_state();
        assert_eq!(snapshot.rule, rule);
        assert_eq!(snapshot.learning_rate, 3e-2 * 0.9);

        // Import into an optimizer with another learning rate and unrelated state.
        let mut b = build(rule, 1.0).unwrap();
        let mut junk = vec![9.0; 3];
        b.update("other", &mut junk, &[1.0; 3]).unwrap();
        b.import_state(&snapshot).unwrap();
        assert_eq!(b.export_state(), snapshot, "{rule}: import then export");
        assert_eq!(b.learning_rate(), a.learning_rate());

        let mut wb = w.clone();
        train(a.as_mut(), &mut w, 5, 6);
        train(b.as_mut(), &mut wb, 5, 6);
        assert_eq!(bits(&w), bits(&wb), "{rule}: continued updates differ");
        assert_eq!(a.export_state(), b.export_state());
    }
}

#[test]
fn adam_snapshot_contents() {
    let mut opt = Adam::new(AdamConfig {
        weight_decay: 0.01,
        ..AdamConfig::default()
    })
    .unwrap();
    let mut w = [vec![1.0, 2.0, 3.0], vec![0.0]];
    train(&mut opt, &mut w, 0, 3); // W1: 3 steps, b1: steps 0 and 2
    let s = opt.export_state();
    assert_eq!(s.params.len(), 2);
    assert_eq!(s.params["W1"].step, 3);
    assert_eq!(s.params["b1"].step, 2);
    let (m, v) = opt.moments("W1").unwrap();
    assert_eq!(s.params["W1"].buffer("m"), Some(m));
    assert_eq!(s.params["W1"].buffer("v"), Some(v));
    assert_eq!(s.params["W1"].buffers.len(), 2);
    assert_eq!(s.hyperparameter("beta1"), Some(0.9));
    assert_eq!(s.hyperparameter("beta2"), Some(0.999));
    assert_eq!(s.hyperparameter("epsilon"), Some(1e-8));
    assert_eq!(s.hyperparameter("weight_decay"), Some(0.01));
    assert_eq!(s.hyperparameters.len(), 4);

    // Hyperparameters come back with the snapshot.
    let mut plain = Adam::default();
    plain.import_state(&s).unwrap();
    assert_eq!(plain.config(), opt.config());
}

#[test]
fn momentum_and_rmsprop_snapshot_contents() {
    let mut opt = build(UpdateRule::SgdMomentum, 0.1).unwrap();
    opt.update("W", &mut [1.0, 2.0], &[1.0, -1.0]).unwrap();
    let s = opt.export_state();
    assert_eq!(s.params["W"].buffer("velocity"), Some(&[-0.1, 0.1][..]));
    assert_eq!(s.params["W"].step, 0);
    assert_eq!(s.hyperparameter("momentum"), Some(0.9));

    let mut opt = build(UpdateRule::RmsProp, 0.1).unwrap();
    opt.update("W", &mut [1.0], &[2.0]).unwrap();
    let s = opt.export_state();
    assert_eq!(s.params["W"].buffers.keys().collect::<Vec<_>>(), ["cache"]);

    let s = build(UpdateRule::Sgd, 0.1).unwrap().export_state();
    assert!(s.params.is_empty() && s.hyperparameters.is_empty());
}

fn adam_snapshot() -> (Adam, OptimState) {
    let mut opt = Adam::default();
    let mut w = [vec![1.0, 2.0, 3.0], vec![0.0, 1.0]];
    train(&mut opt, &mut w, 0, 2);
    let s = opt.export_state();
    (opt, s)
}

/// Importing `bad` fails with a message starting with `expected`, and
/// leaves the optimizer unchanged.
fn rejects(opt: &mut dyn Optimizer, bad: &OptimState, expected: &str) {
    let before = opt.export_state();
    let err = opt.import_state(bad).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }));
    let m = err.to_string();
    assert!(m.starts_with(expected), "got: {m}\nexpected: {expected}");
    assert_eq!(opt.export_state(), before);
}

#[test]
fn import_rejects_malformed_snapshots() {
    let (_, good) = adam_snapshot();
    let mut target = Adam::default();
    target.update("x", &mut [1.0], &[1.0]).unwrap();

    let mut s = good.clone();
    s.rule = UpdateRule::RmsProp;
    rejects(
        &mut target,
        &s,
        "adam: cannot import optimizer state exported by rmsprop",
    );
    let mut sgd = build(UpdateRule::Sgd, 1.0).unwrap();
    rejects(
        sgd.as_mut(),
        &good,
        "sgd: cannot import optimizer state exported by adam",
    );

    let mut s = good.clone();
    s.hyperparameters.remove("beta2");
    rejects(
        &mut target,
        &s,
        "adam: optimizer state lacks hyperparameter 'beta2'; expected beta1, beta2, epsilon, weight_decay",
    );

    let mut s = good.clone();
    s.hyperparameters.insert("momentum".into(), 0.9);
    rejects(&mut target, &s, "adam: unknown hyperparameter 'momentum'");

    let mut s = good.clone();
    s.hyperparameters.insert("beta1".into(), 1.0);
    rejects(&mut target, &s, "adam: beta1 must be in [0, 1), got 1");

    let mut s = good.clone();
    s.learning_rate = f64::NAN;
    rejects(
        &mut target,
        &s,
        "adam: learning_rate must be finite and >= 0",
    );

    let mut s = good.clone();
    s.params.get_mut("W1").unwrap().buffers.remove("v");
    rejects(
        &mut target,
        &s,
        "adam: parameter 'W1': optimizer state lacks buffer 'v'; expected m, v",
    );

    let mut s = good.clone();
    s.params
        .get_mut("b1")
        .unwrap()
        .buffers
        .insert("velocity".into(), vec![0.0; 2]);
    rejects(
        &mut target,
        &s,
        "adam: parameter 'b1': unknown buffer 'velocity' in optimizer state; expected m, v",
    );

    let mut s = good.clone();
    s.params
        .get_mut("W1")
        .unwrap()
        .buffers
        .get_mut("v")
        .unwrap()
        .push(0.0);
    rejects(
        &mut target,
        &s,
        "adam: parameter 'W1': buffer 'v' has 4 elements but 'm' has 3",
    );
}

#[test]
fn import_rejects_state_for_rules_without_it() {
    let mut momentum = SgdMomentum::default();
    momentum.update("W", &mut [1.0], &[1.0]).unwrap();
    let mut s = momentum.export_state();
    s.params.get_mut("W").unwrap().step = 3;
    let mut target = SgdMomentum::default();
    rejects(
        &mut target,
        &s,
        "sgd_momentum: parameter 'W': sgd_momentum counts no steps but the snapshot has step 3",
    );

    let mut s = build(UpdateRule::Sgd, 0.1).unwrap().export_state();
    s.params.insert("W".into(), Default::default());
    let mut sgd = build(UpdateRule::Sgd, 0.1).unwrap();
    rejects(
        sgd.as_mut(),
        &s,
        "sgd: sgd keeps no per-parameter state but the snapshot has state for 'W'",
    );
}

#[test]
fn imported_state_still_checks_lengths() {
    let (_, s) = adam_snapshot();
    let mut opt = Adam::default();
    opt.import_state(&s).unwrap();
    let err = opt.update("W1", &mut [0.0; 5], &[0.0; 5]).unwrap_err();
    assert!(err
        .to_string()
        .starts_with("adam: parameter 'W1' has 5 elements but its optimizer state has 3"));
}
