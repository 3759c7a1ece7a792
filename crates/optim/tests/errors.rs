//! Invalid hyperparameters, length mismatches and unknown rule names give
//! errors that name the optimizer and the offending value.

use gradtape_optim::{
    build, Adam, AdamConfig, Error, Optimizer, RmsProp, RmsPropConfig, Sgd, SgdConfig, SgdMomentum,
    SgdMomentumConfig, UpdateRule,
};

fn msg<T>(r: Result<T, Error>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => {
            assert!(matches!(e, Error::InvalidArgument { .. }), "{e:?}");
            e.to_string()
        }
    }
}

#[test]
fn invalid_learning_rates() {
    for lr in [-1e-3, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        for rule in UpdateRule::ALL {
            let m = msg(build(rule, lr));
            assert!(
                m.starts_with(&format!("{}: learning_rate", rule.name())),
                "{m}"
            );
        }
        let m = msg(Sgd::new(SgdConfig { learning_rate: lr }));
        assert!(m.contains("learning_rate must be finite and >= 0"), "{m}");
        let mut opt = Adam::default();
        let m = msg(opt.set_learning_rate(lr));
        assert!(m.starts_with("adam: learning_rate"), "{m}");
        assert_eq!(opt.learning_rate(), 1e-3, "a failed set changes nothing");
    }
    assert_eq!(
        msg(build(UpdateRule::Adam, -1.0)),
        "adam: learning_rate must be finite and >= 0, got -1"
    );
    assert!(build(UpdateRule::Sgd, 0.0).is_ok());
}

#[test]
fn invalid_momentum() {
    for momentum in [-0.1, 1.0, 1.5, f64::NAN] {
        let m = msg(SgdMomentum::new(SgdMomentumConfig {
            momentum,
            ..SgdMomentumConfig::default()
        }));
        assert!(
            m.starts_with("sgd_momentum: momentum must be in [0, 1)"),
            "{m}"
        );
    }
    assert!(SgdMomentum::new(SgdMomentumConfig {
        momentum: 0.0,
        ..SgdMomentumConfig::default()
    })
    .is_ok());
}

#[test]
fn invalid_rmsprop_hyperparameters() {
    for decay_rate in [-0.5, 1.0, f64::NAN] {
        let m = msg(RmsProp::new(RmsPropConfig {
            decay_rate,
            ..RmsPropConfig::default()
        }));
        assert!(
            m.starts_with("rmsprop: decay_rate must be in [0, 1)"),
            "{m}"
        );
    }
    for epsilon in [0.0, -1e-8, f64::NAN, f64::INFINITY] {
        let m = msg(RmsProp::new(RmsPropConfig {
            epsilon,
            ..RmsPropConfig::default()
        }));
        assert!(
            m.starts_with("rmsprop: epsilon must be finite and > 0"),
            "{m}"
        );
    }
}

#[test]
fn invalid_adam_hyperparameters() {
    let base = AdamConfig::default();
    for beta in [-0.1, 1.0, f64::NAN] {
        let m = msg(Adam::new(AdamConfig {
            beta1: beta,
            ..base
        }));
        assert!(m.starts_with("adam: beta1 must be in [0, 1)"), "{m}");
        let m = msg(Adam::new(AdamConfig {
            beta2: beta,
            ..base
        }));
        assert!(m.starts_with("adam: beta2 must be in [0, 1)"), "{m}");
    }
    for epsilon in [0.0, -1.0, f64::NAN] {
        let m = msg(Adam::new(AdamConfig { epsilon, ..base }));
        assert!(m.starts_with("adam: epsilon must be finite and > 0"), "{m}");
    }
    for weight_decay in [-1e-4, f64::NAN, f64::INFINITY] {
        let m = msg(Adam::new(AdamConfig {
            weight_decay,
            ..base
        }));
        assert!(
            m.starts_with("adam: weight_decay must be finite and >= 0"),
            "{m}"
        );
    }
    assert!(base.validate().is_ok());
}

#[test]
fn invalid_decay_factor() {
    for rule in UpdateRule::ALL {
        let mut opt = build(rule, 1e-2).unwrap();
        for factor in [-0.5, f64::NAN, f64::INFINITY] {
            let m = msg(opt.decay_learning_rate(factor));
            assert!(
                m.starts_with(&format!(
                    "{}: lr decay factor must be finite and >= 0",
                    rule
                )),
                "{m}"
            );
        }
        assert_eq!(opt.learning_rate(), 1e-2);
        opt.decay_learning_rate(0.0).unwrap();
        assert_eq!(opt.learning_rate(), 0.0);
    }
    // A valid factor whose product overflows is caught by the lr check.
    let mut opt = build(UpdateRule::Sgd, 1e300).unwrap();
    let m = msg(opt.decay_learning_rate(1e10));
    assert!(m.starts_with("sgd: learning_rate must be finite"), "{m}");
    assert_eq!(opt.learning_rate(), 1e300);
}

#[test]
fn param_and_grad_length_mismatch() {
    for rule in UpdateRule::ALL {
        let mut opt = build(rule, 1e-2).unwrap();
        let mut w = vec![1.0, 2.0, 3.0];
        let m = msg(opt.update("W1", &mut w, &[0.1, 0.2]));
        assert_eq!(
            m,
            format!("{rule}: parameter 'W1' has 3 elements but its gradient has 2")
        );
        assert_eq!(w, [1.0, 2.0, 3.0], "nothing changes on error");
        assert!(opt.export_state().params.is_empty(), "no state is created");
    }
}

#[test]
fn state_length_mismatch() {
    for rule in [
        UpdateRule::SgdMomentum,
        UpdateRule::RmsProp,
        UpdateRule::Adam,
    ] {
        let mut opt = build(rule, 1e-2).unwrap();
        let mut w = vec![1.0, 2.0, 3.0];
        opt.update("W1", &mut w, &[0.1, 0.2, 0.3]).unwrap();
        let before = opt.export_state();
        let mut w4 = vec![1.0; 4];
        let m = msg(opt.update("W1", &mut w4, &[0.5; 4]));
        assert!(
            m.starts_with(&format!(
                "{rule}: parameter 'W1' has 4 elements but its optimizer state has 3"
            )),
            "{m}"
        );
        assert_eq!(w4, [1.0; 4]);
        assert_eq!(opt.export_state(), before, "the step count is not bumped");
    }
}

#[test]
fn unknown_rule_names() {
    for bad in ["", "Adam", "adamw", "sgd-momentum", " sgd"] {
        let err = bad.parse::<UpdateRule>().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "update_rule: unknown update rule '{bad}'; \
                 expected one of sgd, sgd_momentum, rmsprop, adam"
            )
        );
    }
    for rule in UpdateRule::ALL {
        assert_eq!(rule.to_string().parse::<UpdateRule>().unwrap(), rule);
    }
}
