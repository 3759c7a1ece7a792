//! `Tape::backward_with`: each parameter is handed over once, right after
//! the last op that adds to its gradient, with the final (summed) gradient;
//! unused parameters come last with zeros; errors hand nothing over.

use std::sync::{Arc, Mutex};

use gradtape_core::{rng_from_seed, BatchNormStats, Error, Mode, Tape, Tensor, Var};

/// An identity op whose backward logs `name` when it runs.
fn logged(tape: &mut Tape, x: Var, name: &'static str, log: &Arc<Mutex<Vec<String>>>) -> Var {
    let value = tape.value(x).unwrap().clone();
    let log = Arc::clone(log);
    tape.record("logged", value, &[x], move |ctx, grads| {
        log.lock().unwrap().push(name.to_owned());
        if let Some(slot) = grads.slot(x) {
            slot.write(ctx.grad_out().data().iter().copied());
        }
    })
    .unwrap()
}

#[test]
fn a_parameter_used_by_two_ops_is_handed_over_once_with_the_sum() {
    let mut tape = Tape::new();
    let w = tape
        .param(Tensor::from_vec(vec![1.5, -2.0], &[2]).unwrap())
        .unwrap();
    let x = tape.input(Tensor::from_vec(vec![3.0, 0.5], &[2]).unwrap());
    let a = tape.mul(w, x).unwrap(); // d/dw: x
    let b = tape.mul(w, w).unwrap(); // d/dw: 2w (w twice in one op)
    let s = tape.add(a, b).unwrap();
    let loss = tape.sum(s).unwrap();
    let mut calls = Vec::new();
    tape.backward_with(loss, |p, _, g| {
        calls.push((p, g.data().to_vec()));
        Ok(())
    })
    .unwrap();
    assert_eq!(calls, vec![(w, vec![3.0 + 3.0, 0.5 - 4.0])]);
}

#[test]
fn each_parameter_comes_right_after_its_earliest_consumer() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut tape = Tape::new();
    let w1 = tape.param(Tensor::ones(&[2])).unwrap();
    let w2 = tape.param(Tensor::ones(&[2])).unwrap();
    let h = logged(&mut tape, w1, "op(w1)", &log); // w1's only consumer
    let h2 = tape.add(h, w2).unwrap(); // w2's first consumer
    let h3 = logged(&mut tape, h2, "op(h2)", &log);
    let h4 = tape.mul(h3, w2).unwrap(); // w2 again, later
    let loss = tape.sum(h4).unwrap();
    let log2 = Arc::clone(&log);
    tape.backward_with(loss, |p, _, _| {
        let name = if p == w1 { "update w1" } else { "update w2" };
        log2.lock().unwrap().push(name.to_owned());
        Ok(())
    })
    .unwrap();
    // Reverse order: mul (w2's later use), op(h2), add (w2's earliest use:
    // w2 final), op(w1) (w1 final).
    assert_eq!(
        *log.lock().unwrap(),
        ["op(h2)", "update w2", "op(w1)", "update w1"]
    );
}

#[test]
fn parameters_without_a_path_to_the_loss_come_last_with_zero_gradients() {
    let mut tape = Tape::new();
    let unused = tape.param(Tensor::full(&[3], 7.0)).unwrap();
    let w = tape.param(Tensor::ones(&[2])).unwrap();
    let after = tape.param(Tensor::ones(&[2])).unwrap();
    let y = tape.scale(w, 3.0).unwrap();
    let loss = tape.sum(y).unwrap();
    let _later = tape.mul(loss, after).unwrap(); // uses `after`, but after the loss
    let mut calls = Vec::new();
    tape.backward_with(loss, |p, _, g| {
        calls.push((p, g.data().to_vec()));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        calls,
        vec![
            (w, vec![3.0, 3.0]),
            (unused, vec![0.0; 3]),
            (after, vec![0.0, 0.0])
        ]
    );
    assert_eq!(tape.grad(unused).unwrap().data(), &[0.0; 3]);
}

/// A small batchnorm net with a weight used twice (affine and an L2 term):
/// the gradients and the updated values `backward_with` gives are bit for
/// bit those of `backward` followed by the same update over every parameter.
#[test]
fn updating_during_backward_gives_the_bits_of_updating_after() {
    fn build(tape: &mut Tape, x: &Tensor, stats: &mut BatchNormStats, ps: &[Var]) -> Var {
        let xv = tape.input_from(x);
        let h = tape.affine(xv, ps[0], ps[1]).unwrap();
        let h = tape.batchnorm(h, ps[2], ps[3], Mode::Train, stats).unwrap();
        let h = tape.relu(h).unwrap();
        let s = tape.affine(h, ps[4], ps[5]).unwrap();
        let loss = tape.softmax_cross_entropy(s, &[0, 2, 1, 2, 0]).unwrap();
        let l2 = tape.sum_squares(ps[0]).unwrap();
        let l2 = tape.scale(l2, 0.1).unwrap();
        tape.add(loss, l2).unwrap()
    }
    let sgd = |w: &mut Tensor, g: &Tensor| {
        for (w, g) in w.data_mut().iter_mut().zip(g.data()) {
            *w -= 0.05 * g;
        }
    };
    let mut rng = rng_from_seed(3);
    let x = Tensor::randn(&[5, 4], &mut rng);
    let init = [
        Tensor::randn(&[4, 6], &mut rng),
        Tensor::randn(&[6], &mut rng),
        Tensor::randn(&[6], &mut rng),
        Tensor::randn(&[6], &mut rng),
        Tensor::randn(&[6, 3], &mut rng),
        Tensor::randn(&[3], &mut rng),
    ];
    let (mut after, mut during) = (Tape::new(), Tape::new());
    let pa: Vec<Var> = init
        .iter()
        .map(|t| after.param(t.clone()).unwrap())
        .collect();
    let pd: Vec<Var> = init
        .iter()
        .map(|t| during.param(t.clone()).unwrap())
        .collect();
    let (mut sa, mut sd) = (BatchNormStats::new(6), BatchNormStats::new(6));
    for _ in 0..3 {
        after.reset();
        let loss = build(&mut after, &x, &mut sa, &pa);
        after.backward(loss).unwrap();
        for &p in &pa {
            let (w, g) = after.param_and_grad_mut(p).unwrap();
            sgd(w, g.unwrap());
        }
        during.reset();
        let loss = build(&mut during, &x, &mut sd, &pd);
        let mut handed = 0;
        during
            .backward_with(loss, |_, w, g| {
                handed += 1;
                sgd(w, g);
                Ok(())
            })
            .unwrap();
        assert_eq!(handed, pd.len());
        for (&a, &d) in pa.iter().zip(&pd) {
            let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(after.value(a).unwrap()),
                bits(during.value(d).unwrap())
            );
            assert_eq!(bits(after.grad(a).unwrap()), bits(during.grad(d).unwrap()));
        }
    }
}

#[test]
fn a_bad_loss_is_refused_before_any_parameter_is_handed_over() {
    let mut tape = Tape::new();
    let w = tape.param(Tensor::ones(&[2])).unwrap();
    let y = tape.relu(w).unwrap();
    let mut calls = 0;
    let err = tape
        .backward_with(y, |_, _, _| {
            calls += 1;
            Ok(())
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "backward_with: the loss must hold one element, but has shape (2,)"
    );
    let x = tape.input(Tensor::ones(&[1]));
    let err = tape.backward_with(x, |_, _, _| Ok(())).unwrap_err();
    assert!(err.to_string().contains("depends on no parameter"), "{err}");
    let mut other = Tape::new();
    let foreign = other.input(Tensor::ones(&[1]));
    assert!(tape.backward_with(foreign, |_, _, _| Ok(())).is_err());
    assert_eq!(calls, 0);
}

#[test]
fn an_error_from_the_update_stops_the_walk_and_is_returned() {
    let mut tape = Tape::new();
    let w1 = tape.param(Tensor::ones(&[2])).unwrap();
    let w2 = tape.param(Tensor::ones(&[2])).unwrap();
    let h = tape.scale(w1, 2.0).unwrap();
    let h = tape.add(h, w2).unwrap();
    let loss = tape.sum(h).unwrap();
    let mut seen = Vec::new();
    let err = tape
        .backward_with(loss, |p, _, _| {
            seen.push(p);
            Err(Error::invalid("my_update", "refused"))
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "my_update: refused");
    assert_eq!(seen, vec![w2]); // w1 (used earlier) was never reached
                                // The tape is usable afterwards.
    tape.backward(loss).unwrap();
    assert_eq!(tape.grad(w1).unwrap().data(), &[2.0, 2.0]);
}

#[test]
fn with_anomaly_detection_an_anomaly_hands_nothing_over() {
    let mut tape = Tape::new();
    tape.set_detect_anomaly(true);
    let w = tape
        .param(Tensor::from_vec(vec![0.0, 1.0], &[2]).unwrap())
        .unwrap();
    let b = tape.param(Tensor::ones(&[2])).unwrap();
    let r = tape.sqrt(w).unwrap(); // d sqrt / dw at 0 is infinite
    let s = tape.add(r, b).unwrap();
    let loss = tape.sum(s).unwrap();
    let mut calls = 0;
    let err = tape
        .backward_with(loss, |_, _, _| {
            calls += 1;
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, Error::NonFinite { op: "sqrt", .. }), "{err}");
    assert_eq!(calls, 0);
    // Clean graph: every parameter still handed over, once.
    tape.reset();
    let s = tape.add(w, b).unwrap();
    let loss = tape.sum(s).unwrap();
    tape.backward_with(loss, |_, _, _| {
        calls += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(calls, 2);
}
