//! `Optimizer::step` over a tape's parameters: the same bits as the
//! name-keyed `update`, state per parameter, optional names for snapshots,
//! parameter groups with their own learning rate and weight decay.

use gradtape_core::{Tape, Tensor, Var};
use gradtape_optim::{build, ParamGroup, UpdateRule};

/// A tape with two parameters of different sizes, `w` (2x3) and `b` (3).
fn tape() -> (Tape, Var, Var) {
    let mut t = Tape::new();
    let w = t
        .param(Tensor::from_vec(vec![0.5, -0.25, 1.0, 2.0, -1.5, 0.75], &[2, 3]).unwrap())
        .unwrap();
    let b = t
        .param(Tensor::from_vec(vec![0.1, -0.2, 0.3], &[3]).unwrap())
        .unwrap();
    (t, w, b)
}

/// One iteration: loss = sum((x W + b)^2) for a fixed x that changes with `k`.
fn backward(t: &mut Tape, w: Var, b: Var, k: usize) {
    t.reset();
    let xs: Vec<f64> = (0..4).map(|i| ((i * 7 + k * 3) % 5) as f64 - 2.0).collect();
    let x = t.input(Tensor::from_vec(xs, &[2, 2]).unwrap());
    let h = t.affine(x, w, b).unwrap();
    let loss = t.sum_squares(h).unwrap();
    t.backward(loss).unwrap();
}

fn bits(t: &Tape, v: Var) -> Vec<u64> {
    t.value(v)
        .unwrap()
        .data()
        .iter()
        .map(|x| x.to_bits())
        .collect()
}

#[test]
fn step_gives_the_bits_of_update_by_name_for_every_rule() {
    for rule in UpdateRule::ALL {
        let (mut t, w, b) = tape();
        let mut by_tape = build(rule, 1e-2).unwrap();
        let mut by_name = build(rule, 1e-2).unwrap();
        let (mut w2, mut b2) = (t.value(w).unwrap().clone(), t.value(b).unwrap().clone());
        for k in 0..7 {
            backward(&mut t, w, b, k);
            // The reference: the same gradients through update(name, ...).
            let (gw, gb) = (t.grad(w).unwrap().clone(), t.grad(b).unwrap().clone());
            by_name.update("W", w2.data_mut(), gw.data()).unwrap();
            by_name.update("b", b2.data_mut(), gb.data()).unwrap();
            by_tape.step(&mut t).unwrap();
            // Keep the reference on the tape's trajectory.
            assert_eq!(
                bits(&t, w),
                w2.data().iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "{rule}"
            );
            assert_eq!(
                bits(&t, b),
                b2.data().iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "{rule}"
            );
            if k == 3 {
                by_tape.decay_learning_rate(0.5).unwrap();
                by_name.decay_learning_rate(0.5).unwrap();
            }
        }
        by_tape.name_param(w, "W").unwrap();
        by_tape.name_param(b, "b").unwrap();
        assert_eq!(by_tape.export_state(), by_name.export_state(), "{rule}");
    }
}

#[test]
fn parameters_without_a_gradient_are_left_alone() {
    let (mut t, w, _) = tape();
    let before = bits(&t, w);
    let mut opt = build(UpdateRule::Adam, 1e-2).unwrap();
    opt.step(&mut t).unwrap(); // no backward yet: nothing to do
    assert_eq!(bits(&t, w), before);
    opt.name_param(w, "W").unwrap();
    assert!(opt.export_state().params.is_empty(), "no state was created");
}

#[test]
fn state_is_per_parameter_and_unnamed_parameters_export_by_index() {
    let (mut t, w, b) = tape();
    let mut opt = build(UpdateRule::Adam, 1e-2).unwrap();
    for k in 0..3 {
        backward(&mut t, w, b, k);
        opt.step(&mut t).unwrap();
    }
    opt.name_param(w, "W1").unwrap();
    let s = opt.export_state();
    assert_eq!(s.params.keys().collect::<Vec<_>>(), ["#1", "W1"]);
    assert_eq!(s.params["W1"].step, 3);
    assert_eq!(s.params["W1"].buffer("m").unwrap().len(), 6);
    assert_eq!(s.params["#1"].buffer("v").unwrap().len(), 3);
}

#[test]
fn a_snapshot_imported_before_naming_resumes_bit_for_bit() {
    for rule in UpdateRule::ALL {
        let (mut t, w, b) = tape();
        let mut a = build(rule, 3e-2).unwrap();
        a.name_param(w, "W").unwrap();
        a.name_param(b, "b").unwrap();
        for k in 0..4 {
            backward(&mut t, w, b, k);
            a.step(&mut t).unwrap();
        }
        let snapshot = a.export_state();
        let mut t2 = Tape::new();
        let w2 = t2.param(t.value(w).unwrap().clone()).unwrap();
        let b2 = t2.param(t.value(b).unwrap().clone()).unwrap();
        // As Solver::resume_from does: a fresh optimizer imports first, the
        // model names its parameters at its first step.
        let mut r = build(rule, 1.0).unwrap();
        r.import_state(&snapshot).unwrap();
        r.name_param(w2, "W").unwrap();
        r.name_param(b2, "b").unwrap();
        for k in 4..8 {
            backward(&mut t, w, b, k);
            a.step(&mut t).unwrap();
            backward(&mut t2, w2, b2, k);
            r.step(&mut t2).unwrap();
        }
        assert_eq!(bits(&t, w), bits(&t2, w2), "{rule}");
        assert_eq!(bits(&t, b), bits(&t2, b2), "{rule}");
        assert_eq!(a.export_state(), r.export_state(), "{rule}");
    }
}

#[test]
fn a_name_belongs_to_one_parameter() {
    let (_, w, b) = tape();
    let mut opt = build(UpdateRule::Sgd, 0.1).unwrap();
    opt.name_param(w, "W").unwrap();
    opt.name_param(w, "W").unwrap(); // again: fine
    let err = opt.name_param(b, "W").unwrap_err();
    assert_eq!(
        err.to_string(),
        "sgd: the name 'W' already belongs to parameter #0"
    );
    opt.name_param(w, "W1").unwrap(); // renaming frees "W"
    opt.name_param(b, "W").unwrap();
}

#[test]
fn a_state_of_the_wrong_size_is_an_error_that_changes_nothing() {
    let (mut t, w, b) = tape();
    let mut other = build(UpdateRule::SgdMomentum, 0.1).unwrap();
    other.update("W", &mut [0.0; 4], &[1.0; 4]).unwrap();
    let snapshot = other.export_state();
    let mut opt = build(UpdateRule::SgdMomentum, 0.1).unwrap();
    opt.import_state(&snapshot).unwrap();
    opt.name_param(w, "W").unwrap();
    backward(&mut t, w, b, 0);
    let (wb, bb) = (bits(&t, w), bits(&t, b));
    let err = opt.step(&mut t).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "sgd_momentum: parameter 'W' has 6 elements but its optimizer state has 4"
        ),
        "{err}"
    );
    assert_eq!((bits(&t, w), bits(&t, b)), (wb, bb), "no parameter moved");
}

#[test]
fn a_group_has_its_own_learning_rate_and_weight_decay() {
    let (mut t, w, b) = tape();
    let mut opt = build(UpdateRule::Sgd, 0.1).unwrap();
    let g = opt
        .add_group(ParamGroup {
            params: vec![b],
            learning_rate: 0.5,
            weight_decay: 0.2,
        })
        .unwrap();
    assert_eq!(g, 0);
    backward(&mut t, w, b, 0);
    let (w0, b0) = (t.value(w).unwrap().clone(), t.value(b).unwrap().clone());
    let (gw, gb) = (t.grad(w).unwrap().clone(), t.grad(b).unwrap().clone());
    opt.step(&mut t).unwrap();
    for i in 0..6 {
        assert_eq!(
            t.value(w).unwrap().data()[i],
            w0.data()[i] - 0.1 * gw.data()[i]
        );
    }
    let keep = 1.0 - 0.5 * 0.2;
    for i in 0..3 {
        let expected = b0.data()[i] * keep - 0.5 * gb.data()[i];
        assert_eq!(t.value(b).unwrap().data()[i], expected);
    }
    // Decay scales the group's rate with the optimizer's.
    opt.decay_learning_rate(0.5).unwrap();
    assert_eq!(opt.learning_rate(), 0.05);
    assert_eq!(opt.groups()[0].learning_rate, 0.25);
}

#[test]
fn groups_round_trip_through_a_snapshot() {
    let (_, w, b) = tape();
    let group = |lr| ParamGroup {
        params: vec![b],
        learning_rate: lr,
        weight_decay: 1e-3,
    };
    let mut a = build(UpdateRule::Adam, 1e-3).unwrap();
    a.add_group(group(1e-2)).unwrap();
    a.decay_learning_rate(0.9).unwrap();
    let s = a.export_state();
    assert_eq!(s.hyperparameter("group0.learning_rate"), Some(1e-2 * 0.9));
    assert_eq!(s.hyperparameter("group0.weight_decay"), Some(1e-3));

    let mut r = build(UpdateRule::Adam, 1e-3).unwrap();
    r.add_group(group(1.0)).unwrap();
    r.import_state(&s).unwrap();
    assert_eq!(r.groups()[0].learning_rate, 1e-2 * 0.9);
    assert_eq!(r.export_state(), s);

    // A snapshot with groups does not fit an optimizer without them.
    let mut none = build(UpdateRule::Adam, 1e-3).unwrap();
    let err = none.import_state(&s).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("adam: unknown hyperparameter 'group0.learning_rate'"),
        "{err}"
    );
    let _ = w;
}

#[test]
fn bad_groups_are_refused() {
    let (_, w, b) = tape();
    let mut opt = build(UpdateRule::RmsProp, 1e-2).unwrap();
    let err = opt
        .add_group(ParamGroup {
            params: vec![w],
            learning_rate: -1.0,
            weight_decay: 0.0,
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "rmsprop: learning_rate must be finite and >= 0, got -1"
    );
    let err = opt
        .add_group(ParamGroup {
            params: vec![w],
            learning_rate: 1.0,
            weight_decay: f64::NAN,
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "rmsprop: weight_decay must be finite and >= 0, got NaN"
    );
    let ok = ParamGroup {
        params: vec![w],
        learning_rate: 1.0,
        weight_decay: 0.0,
    };
    opt.add_group(ok.clone()).unwrap();
    let err = opt
        .add_group(ParamGroup {
            params: vec![b, w],
            ..ok
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "rmsprop: parameter #0 is already in a parameter group"
    );
    assert_eq!(opt.groups().len(), 1);
    // A decay that would overflow a group's rate changes nothing.
    opt.add_group(ParamGroup {
        params: vec![b],
        learning_rate: 1e300,
        weight_decay: 0.0,
    })
    .unwrap();
    assert!(opt.decay_learning_rate(1e10).is_err());
    assert_eq!(opt.learning_rate(), 1e-2);
    assert_eq!(opt.groups()[1].learning_rate, 1e300);
}

/// The loss of [`backward`], recorded but not back-propagated.
fn forward(t: &mut Tape, w: Var, b: Var, k: usize) -> Var {
    t.reset();
    let xs: Vec<f64> = (0..4).map(|i| ((i * 7 + k * 3) % 5) as f64 - 2.0).collect();
    let x = t.input(Tensor::from_vec(xs, &[2, 2]).unwrap());
    let h = t.affine(x, w, b).unwrap();
    // w used a second time, by an earlier op's sibling: its gradient sums two terms
    let l2 = t.sum_squares(w).unwrap();
    let h2 = t.sum_squares(h).unwrap();
    t.add(h2, l2).unwrap()
}

#[test]
fn backward_step_gives_the_bits_of_backward_then_step_for_every_rule() {
    for rule in UpdateRule::ALL {
        let (mut after, w, b) = tape();
        let (mut during, w2, b2) = tape();
        let mut opt_after = build(rule, 1e-2).unwrap();
        let mut opt_during = build(rule, 1e-2).unwrap();
        for (opt, b) in [(&mut opt_after, b), (&mut opt_during, b2)] {
            let group = ParamGroup {
                params: vec![b],
                learning_rate: 0.03,
                weight_decay: 0.1,
            };
            opt.add_group(group).unwrap();
        }
        opt_after.name_param(w, "W").unwrap();
        opt_during.name_param(w2, "W").unwrap();
        for k in 0..7 {
            let loss = forward(&mut after, w, b, k);
            after.backward(loss).unwrap();
            opt_after.step(&mut after).unwrap();
            let loss = forward(&mut during, w2, b2, k);
            opt_during.backward_step(&mut during, loss).unwrap();
            assert_eq!(bits(&after, w), bits(&during, w2), "{rule}, step {k}");
            assert_eq!(bits(&after, b), bits(&during, b2), "{rule}, step {k}");
        }
        let (sa, sd) = (opt_after.export_state(), opt_during.export_state());
        assert_eq!(sa.params.len(), sd.params.len());
        for (name, pa) in &sa.params {
            let pd = &sd.params[name];
            assert_eq!(pa.step, pd.step, "{rule} {name}");
            for (key, buf) in &pa.buffers {
                let to_bits = |b: &[f64]| b.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    to_bits(buf),
                    to_bits(&pd.buffers[key]),
                    "{rule} {name}.{key}"
                );
            }
        }
    }
}

#[test]
fn backward_step_checks_everything_before_it_changes_anything() {
    let (mut t, w, b) = tape();
    let mut other = build(UpdateRule::Adam, 0.1).unwrap();
    other.update("W", &mut [0.0; 4], &[1.0; 4]).unwrap();
    let mut opt = build(UpdateRule::Adam, 0.1).unwrap();
    opt.import_state(&other.export_state()).unwrap();
    opt.name_param(w, "W").unwrap();
    let before = opt.export_state();
    let loss = forward(&mut t, w, b, 0);
    let (wb, bb) = (bits(&t, w), bits(&t, b));
    let err = opt.backward_step(&mut t, loss).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("adam: parameter 'W' has 6 elements but its optimizer state has 4"),
        "{err}"
    );
    assert_eq!(
        (bits(&t, w), bits(&t, b)),
        (wb.clone(), bb.clone()),
        "no parameter moved"
    );
    assert_eq!(opt.export_state(), before, "no state moved");
    // A loss backward refuses: nothing moves either.
    let mut opt = build(UpdateRule::Adam, 0.1).unwrap();
    let h = t.value(w).unwrap().clone();
    let not_scalar = t.input(h);
    let err = opt.backward_step(&mut t, not_scalar).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("backward_with: the loss must hold one element"),
        "{err}"
    );
    assert_eq!((bits(&t, w), bits(&t, b)), (wb, bb), "no parameter moved");
    assert!(opt.export_state().params.is_empty());
}
