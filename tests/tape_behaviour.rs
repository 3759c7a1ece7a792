//! The tape's contract: errors that name the op and both shapes, memory that
//! stays flat across iterations, no_grad, stale handles, anomaly detection.

use gradtape::{rng_from_seed, BatchNormStats, Error, Mode, Tape, Tensor};

#[test]
fn every_op_names_itself_and_both_shapes_on_a_mismatch() {
    let mut t = Tape::new();
    let w = t.param(Tensor::zeros(&[16, 20])).unwrap();
    let b = t.param(Tensor::zeros(&[20])).unwrap();
    let b_bad = t.param(Tensor::zeros(&[19])).unwrap();
    let g = t.param(Tensor::ones(&[3])).unwrap();
    let x = t.input(Tensor::zeros(&[2, 15]));
    let y = t.input(Tensor::zeros(&[2, 16]));
    let z = t.input(Tensor::zeros(&[3, 2]));
    let mut stats = BatchNormStats::new(2);
    let mut rng = rng_from_seed(0);

    let msg = |r: gradtape::Result<gradtape::Var>| r.unwrap_err().to_string();
    assert_eq!(
        msg(t.affine(x, w, b)),
        "affine: x is (2, 15) but w is (16, 20)"
    );
    assert_eq!(
        msg(t.affine(y, w, b_bad)),
        "affine: w is (16, 20) but b is (19,)"
    );
    assert_eq!(msg(t.affine(y, b, b)), "affine: w is (20,), not a matrix");
    assert_eq!(msg(t.add(x, y)), "add: a is (2, 15) but b is (2, 16)");
    assert_eq!(msg(t.mul(x, z)), "mul: a is (2, 15) but b is (3, 2)");
    assert_eq!(
        msg(t.batchnorm(z, g, g, Mode::Train, &mut stats)),
        "batchnorm: x is (3, 2) but gamma is (3,)"
    );
    assert_eq!(
        msg(t.softmax_cross_entropy(z, &[0, 1])),
        "softmax_cross_entropy: scores are (3, 2) but there are 2 labels"
    );
    assert_eq!(
        msg(t.softmax_cross_entropy(z, &[0, 1, 2])),
        "softmax_cross_entropy: label 2 of row 2 is not below the 2 classes"
    );
    assert_eq!(
        msg(t.dropout(x, 1.5, Mode::Train, &mut rng)),
        "dropout: keep probability p = 1.5 is outside (0, 1]"
    );
    assert!(msg(t.dropout(x, f64::NAN, Mode::Train, &mut rng)).contains("outside (0, 1]"));
    assert!(matches!(
        t.affine(x, w, b),
        Err(Error::ShapeMismatch { op: "affine", .. })
    ));
}

#[test]
fn empty_batches_are_errors_not_panics() {
    let mut t = Tape::new();
    let g = t.param(Tensor::ones(&[4])).unwrap();
    let e = t.input(Tensor::zeros(&[0, 4]));
    let mut stats = BatchNormStats::new(4);
    assert!(t
        .batchnorm(e, g, g, Mode::Train, &mut stats)
        .unwrap_err()
        .to_string()
        .contains("N = 0"));
    assert!(t.softmax_cross_entropy(e, &[]).is_err());
    assert!(t.mean(e).is_err());
}

#[test]
fn a_buffer_of_the_wrong_length_is_an_error() {
    let err = Tensor::from_vec(vec![0.0; 5], &[2, 3]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Tensor::from_vec: shape (2, 3) needs 6 elements but the buffer has 5"
    );
}

#[test]
fn memory_stays_flat_across_iterations() {
    let mut t = Tape::new();
    let mut rng = rng_from_seed(3);
    let w = t.param(Tensor::randn(&[8, 5], &mut rng)).unwrap();
    let b = t.param(Tensor::zeros(&[5])).unwrap();
    let mut seen = None;
    for it in 0..200 {
        t.reset();
        let x = t.input(Tensor::randn(&[4, 8], &mut rng));
        let h = t.affine(x, w, b).unwrap();
        let h = t.relu(h).unwrap();
        let h = t.dropout(h, 0.5, Mode::Train, &mut rng).unwrap();
        let loss = t.softmax_cross_entropy(h, &[0, 1, 2, 3]).unwrap();
        t.backward(loss).unwrap();
        let now = (t.len(), t.capacity(), t.pooled_buffers());
        if it >= 10 {
            assert_eq!(
                Some(now),
                seen,
                "iteration {it}: (nodes, capacity, pooled buffers) changed"
            );
        }
        seen = Some(now);
    }
}

#[test]
fn no_grad_records_no_backward() {
    let mut t = Tape::new();
    let w = t.param(Tensor::ones(&[2, 2])).unwrap();
    let b = t.param(Tensor::zeros(&[2])).unwrap();
    let x = t.input(Tensor::ones(&[1, 2]));
    let s = t.no_grad(|t| t.affine(x, w, b)).unwrap();
    assert!(!t.requires_grad(s));
    assert!(t.grad_enabled());
    let l = t.no_grad(|t| t.softmax_cross_entropy(s, &[0])).unwrap();
    assert!(t.backward(l).unwrap_err().to_string().contains("no_grad"));
}

#[test]
fn handles_from_before_a_reset_are_refused() {
    let mut t = Tape::new();
    let w = t.param(Tensor::ones(&[2])).unwrap();
    let x = t.input(Tensor::ones(&[2]));
    t.reset();
    let _x2 = t.input(Tensor::ones(&[2])); // same slot, newer generation
    assert!(t.add(x, w).unwrap_err().to_string().contains("reset"));
    assert!(t.value(w).is_ok(), "parameters outlive resets");
    assert!(
        t.param(Tensor::ones(&[1])).is_err(),
        "parameters come before per-iteration nodes"
    );
}

#[test]
fn backward_needs_a_one_element_loss() {
    let mut t = Tape::new();
    let w = t.param(Tensor::ones(&[2])).unwrap();
    let y = t.relu(w).unwrap();
    assert!(t
        .backward(y)
        .unwrap_err()
        .to_string()
        .contains("one element"));
}

#[test]
fn anomaly_detection_names_the_op_that_made_a_nan() {
    let mut t = Tape::new();
    t.set_detect_anomaly(true);
    let w = t.param(Tensor::ones(&[1, 2])).unwrap();
    let x = t.input(Tensor::from_vec(vec![f64::INFINITY, 1.0], &[1, 2]).unwrap());
    let h = t.mul(x, w).unwrap_err();
    assert!(matches!(h, Error::NonFinite { op: "mul", .. }), "{h}");
}

#[test]
fn anomaly_detection_catches_a_gradient_that_overflows() {
    let mut t = Tape::new();
    t.set_detect_anomaly(true);
    let w = t.param(Tensor::full(&[2], 1e-300)).unwrap();
    let x = t.input(Tensor::full(&[2], 1e300));
    let p = t.mul(x, w).unwrap(); // forward: 1.0, finite
    let s = t.sum(p).unwrap();
    let loss = t.scale(s, 1e10).unwrap(); // forward 2e10; dloss/dw = 1e310 = inf
    let err = t.backward(loss).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFinite {
                op: "mul",
                what: "gradient of an input",
                ..
            }
        ),
        "{err}"
    );
}

/// Gradient buffers come from the pool holding old values and are only
/// zeroed when nothing overwrites them (see `Grads::slot`). After
/// iterations that filled the pool with large values, every gradient must be
/// exact: an unused parameter's is zero, a value nothing downstream used
/// passes zero back, an empty batch gives a zero bias gradient, and a
/// variable used twice adds both contributions.
#[test]
fn gradients_never_show_stale_pool_values() {
    let mut t = Tape::new();
    let w = t.param(Tensor::full(&[3, 2], 0.5)).unwrap();
    let b = t.param(Tensor::full(&[2], 0.25)).unwrap();
    let unused = t.param(Tensor::ones(&[2])).unwrap();
    // Fill the pool with buffers of every size used below, all holding 1e9.
    for _ in 0..3 {
        t.reset();
        let x = t.input(Tensor::full(&[4, 3], 1e9));
        let h = t.affine(x, w, b).unwrap();
        let h = t.relu(h).unwrap();
        let l = t.sum(h).unwrap();
        t.backward(l).unwrap();
    }
    t.reset();
    let x = t.input(Tensor::full(&[4, 3], 1.0));
    let h = t.affine(x, w, b).unwrap();
    let _dead = t.relu(h).unwrap(); // recorded, but not on the path to the loss
    let twice = t.add(h, h).unwrap();
    let loss = t.sum(twice).unwrap();
    t.backward(loss).unwrap();
    // d(sum(2 (x W + b)))/dW = 2 x^T 1 = 2 * 4 = 8 per entry; db = 2 * 4 = 8.
    assert_eq!(t.grad(w).unwrap().data(), &[8.0; 6]);
    assert_eq!(t.grad(b).unwrap().data(), &[8.0; 2]);
    assert_eq!(t.grad(unused).unwrap().data(), &[0.0; 2]);
    assert_eq!(t.grad(h).unwrap().data(), &[2.0; 8]);

    // An empty batch: every gradient is exactly zero.
    t.reset();
    let x = t.leaf(Tensor::zeros(&[0, 3]));
    let h = t.affine(x, w, b).unwrap();
    let loss = t.sum(h).unwrap();
    t.backward(loss).unwrap();
    assert_eq!(t.grad(w).unwrap().data(), &[0.0; 6]);
    assert_eq!(t.grad(b).unwrap().data(), &[0.0; 2]);
}

/// After anomaly mode stops a backward pass, the gradients it did not reach
/// read as zero, not as whatever the pool held.
#[test]
fn gradients_after_an_anomaly_are_zero_where_backward_stopped() {
    let mut t = Tape::new();
    t.set_detect_anomaly(true);
    let w = t.param(Tensor::full(&[2, 2], 1.0)).unwrap();
    let b = t.param(Tensor::zeros(&[2])).unwrap();
    for poison in [false, true] {
        t.reset();
        let x = t.input(Tensor::full(&[1, 2], 1e9));
        let h = t.affine(x, w, b).unwrap();
        // The identity, whose backward writes NaN when `poison` is set.
        let value = t.value(h).unwrap().clone();
        let y = t
            .record("poison", value, &[h], move |ctx, grads| {
                if let Some(slot) = grads.slot(h) {
                    let g = slot.zeroed();
                    g.copy_from_slice(ctx.grad_out().data());
                    if poison {
                        g.fill(f64::NAN);
                    }
                }
            })
            .unwrap();
        let loss = t.sum(y).unwrap();
        let result = t.backward(loss);
        assert_eq!(result.is_err(), poison);
    }
    // The pass stopped at "poison": affine's backward never ran.
    assert_eq!(t.grad(w).unwrap().data(), &[0.0; 4]);
    assert_eq!(t.grad(b).unwrap().data(), &[0.0; 2]);
}

#[test]
fn a_variable_from_another_tape_is_refused_by_name() {
    let mut a = Tape::new();
    let mut b = Tape::new();
    let wa = a.param(Tensor::ones(&[2])).unwrap();
    let wb = b.param(Tensor::ones(&[2])).unwrap(); // same index and generation as wa
    assert_ne!(wa, wb);
    let err = b.relu(wa).unwrap_err().to_string();
    assert!(
        err.starts_with("relu: variable #0 belongs to tape ") && err.contains("not to this tape"),
        "{err}"
    );
    assert!(b.value(wa).is_err());
    assert!(b.grad(wa).is_none());
    assert!(b.param_mut(wa).is_err());
    let err = b.add(wb, wa).unwrap_err().to_string();
    assert!(err.starts_with("add: variable #0 belongs to tape"), "{err}");
    assert!(b
        .backward(wa)
        .unwrap_err()
        .to_string()
        .starts_with("backward:"));
}

#[test]
fn params_can_be_updated_while_iterating_over_them() {
    let mut t = Tape::new();
    let w = t.param(Tensor::full(&[2, 2], 1.0)).unwrap();
    let b = t.param(Tensor::full(&[2], 1.0)).unwrap();
    let x = t.input_from(&Tensor::full(&[1, 2], 1.0));
    let h = t.affine(x, w, b).unwrap();
    let loss = t.sum(h).unwrap();
    t.backward(loss).unwrap();
    let params = t.params();
    assert_eq!(params.len(), 2);
    for v in params {
        let (p, g) = t.param_and_grad_mut(v).unwrap();
        let g = g.unwrap().data().to_vec();
        p.data_mut().iter_mut().zip(g).for_each(|(p, g)| *p -= g);
    }
    assert_eq!(t.value(w).unwrap().data(), &[0.0; 4]);
    assert_eq!(t.value(b).unwrap().data(), &[0.0; 2]);
}

#[test]
fn input_from_reuses_pooled_buffers() {
    let batch = Tensor::full(&[4, 8], 0.5);
    let mut t = Tape::new();
    let w = t.param(Tensor::full(&[8, 3], 0.1)).unwrap();
    let b = t.param(Tensor::zeros(&[3])).unwrap();
    let mut seen = None;
    for it in 0..50 {
        t.reset();
        let x = t.input_from(&batch);
        assert_eq!(t.value(x).unwrap(), &batch);
        let y = t.input_from_slice(batch.data(), &[32]).unwrap();
        assert_eq!(t.value(y).unwrap().dims(), &[32]);
        let h = t.affine(x, w, b).unwrap();
        let loss = t.sum(h).unwrap();
        t.backward(loss).unwrap();
        let now = (t.len(), t.capacity(), t.pooled_buffers());
        if it >= 5 {
            assert_eq!(Some(now), seen, "iteration {it}");
        }
        seen = Some(now);
    }
    let err = t.input_from_slice(&[0.0; 3], &[2, 2]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input_from_slice: shape (2, 2) needs 4 elements but the buffer has 3"
    );
    let err = t.input_from_slice(&[], &[usize::MAX, 2]).unwrap_err();
    assert!(err.to_string().contains("is too large"), "{err}");
}

#[test]
fn a_backward_closure_reads_its_own_output() {
    let mut t = Tape::new();
    let x = t
        .param(Tensor::from_vec(vec![0.5, -1.0], &[2]).unwrap())
        .unwrap();
    let y = t.value(x).unwrap().map(f64::exp);
    let y = t
        .record("my_exp", y, &[x], move |ctx, grads| {
            if let Some(slot) = grads.slot(x) {
                let out = ctx.output().data().iter();
                slot.write(ctx.grad_out().data().iter().zip(out).map(|(g, y)| g * y));
            }
        })
        .unwrap();
    let loss = t.sum(y).unwrap();
    t.backward(loss).unwrap();
    assert_eq!(t.grad(x).unwrap().data(), &[0.5f64.exp(), (-1.0f64).exp()]);
}

#[test]
fn the_new_ops_name_themselves_and_both_shapes() {
    let mut t = Tape::new();
    let g = t.param(Tensor::ones(&[4])).unwrap();
    let a = t.input(Tensor::zeros(&[2, 3]));
    let b = t.input(Tensor::zeros(&[3, 2]));
    let c = t.input(Tensor::zeros(&[4, 3]));
    let r5 = t.input(Tensor::zeros(&[1, 1, 1, 1, 2]));
    let msg = |r: gradtape::Result<gradtape::Var>| r.unwrap_err().to_string();
    for (op, r) in [
        ("add", t.add(a, b)),
        ("sub", t.sub(a, b)),
        ("mul", t.mul(a, c)),
        ("div", t.div(c, a)),
    ] {
        let want = if op == "mul" || op == "add" || op == "sub" {
            let (x, y) = if op == "mul" {
                ("(2, 3)", "(4, 3)")
            } else {
                ("(2, 3)", "(3, 2)")
            };
            format!("{op}: a is {x} but b is {y}")
        } else {
            format!("{op}: a is (4, 3) but b is (2, 3)")
        };
        assert_eq!(msg(r), want);
    }
    assert_eq!(
        msg(t.add(r5, a)),
        "add: a is (1, 1, 1, 1, 2) and b is (2, 3): broadcasting supports rank <= 4"
    );
    assert_eq!(msg(t.matmul(a, c)), "matmul: a is (2, 3) but b is (4, 3)");
    assert_eq!(msg(t.matmul(g, a)), "matmul: a is (4,), not a matrix");
    assert_eq!(msg(t.matmul(a, g)), "matmul: b is (4,), not a matrix");
    assert_eq!(
        msg(t.mse_loss(a, b)),
        "mse_loss: pred is (2, 3) but target is (3, 2)"
    );
    assert_eq!(
        msg(t.bce_with_logits(a, c)),
        "bce_with_logits: logits is (2, 3) but targets is (4, 3)"
    );
    assert_eq!(
        msg(t.layernorm(a, g, g, 1e-5)),
        "layernorm: x is (2, 3) but gamma is (4,)"
    );
    assert_eq!(
        msg(t.layernorm(g, g, g, 1e-5)),
        "layernorm: x is (4,), not an (N, D) matrix"
    );
    let g3 = t.input(Tensor::ones(&[3]));
    assert_eq!(
        msg(t.layernorm(a, g3, g, 1e-5)),
        "layernorm: x is (2, 3) but beta is (4,)"
    );
    assert!(msg(t.layernorm(a, g3, g3, -1.0)).starts_with("layernorm: eps = -1"));
    assert_eq!(msg(t.transpose(g)), "transpose: x is (4,), not a matrix");
    assert_eq!(
        msg(t.reshape(a, &[5])),
        "reshape: x is (2, 3), 6 elements, but the new shape (5,) holds 5"
    );
    assert!(msg(t.reshape(a, &[usize::MAX, 3])).starts_with("reshape: shape"));
    assert_eq!(
        msg(t.sum_axis(a, 2, true)),
        "sum_axis: axis 2 is out of range for x of shape (2, 3) (rank 2)"
    );
    assert!(msg(t.mean_axis(a, 5, false)).starts_with("mean_axis: axis 5"));
    assert!(msg(t.max_axis(a, 2, false)).starts_with("max_axis: axis 2"));
    let e = t.input(Tensor::zeros(&[2, 0]));
    assert!(msg(t.mean_axis(e, 1, false)).contains("empty"));
    assert!(msg(t.max_axis(e, 1, false)).contains("empty"));
    assert!(msg(t.mse_loss(e, e)).starts_with("mse_loss: pred is (2, 0)"));
    assert!(msg(t.log_softmax(e)).starts_with("log_softmax: scores are (2, 0)"));
    assert_eq!(msg(t.powf(a, f64::INFINITY)), "powf: p = inf is not finite");
    assert_eq!(
        msg(t.leaky_relu(a, f64::NAN)),
        "leaky_relu: slope = NaN is not finite"
    );
    // An empty axis still sums (to zero), as in NumPy.
    let s = t.sum_axis(e, 1, false).unwrap();
    assert_eq!(t.value(s).unwrap().data(), &[0.0, 0.0]);
}

#[test]
fn shapes_too_large_to_address_are_errors_not_panics() {
    // (2^40, 0) x (0, 2^40): empty operands, an output too large to address.
    let big = 1usize << 40;
    let mut t = Tape::new();
    let a = t.input(Tensor::zeros(&[big, 0]));
    let b = t.input(Tensor::zeros(&[0, big]));
    let err = t.matmul(a, b).unwrap_err().to_string();
    assert!(
        err.starts_with("matmul: shape (1099511627776, 1099511627776) is too large"),
        "{err}"
    );
    let err = t.reshape(a, &[0, big, big]).unwrap_err().to_string();
    assert!(
        err.starts_with("reshape: shape (0, 1099511627776, 1099511627776) is too large"),
        "{err}"
    );
    assert!(t.reshape(a, &[0]).is_ok());
    let err = t
        .input_from_slice(&[], &[0, usize::MAX])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("input_from_slice: shape (0, 18446744073709551615) is too large"),
        "{err}"
    );
}
