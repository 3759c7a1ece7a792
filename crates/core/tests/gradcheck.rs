//! Finite-difference checks never report a match on NaN (issue 11, section
//! 2): a non-finite value anywhere, or a step `h` that is not a positive
//! finite number, is an error that no tolerance can accept.

use gradtape_core::gradcheck::{
    check_gradients, eval_numerical_gradient, eval_numerical_gradient_array, rel_error,
};
use gradtape_core::{Result, Tape, Tensor, Var};

fn t(v: &[f64]) -> Tensor {
    Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap()
}

#[test]
fn rel_error_with_a_non_finite_element_is_an_error() {
    let nan = f64::NAN;
    let cases = [
        (vec![nan, 1.0, 2.0], vec![1.0, 1.0, 2.0]),
        (vec![1.0, nan, 2.0], vec![1.0, 1.0, 2.0]),
        (vec![1.0, 1.0, 2.0], vec![1.0, 1.0, nan]),
        (vec![nan, nan, nan], vec![nan, nan, nan]),
        (vec![1.0, f64::INFINITY], vec![1.0, f64::INFINITY]),
        (vec![1.0, 2.0], vec![f64::NEG_INFINITY, 2.0]),
    ];
    for (a, b) in cases {
        let r = rel_error(&t(&a), &t(&b));
        let err = r.expect_err(&format!("{a:?} vs {b:?} must not score as a match"));
        assert!(err.to_string().contains("rel_error"), "{err}");
    }
}

#[test]
fn rel_error_of_finite_tensors_is_unchanged() {
    let a = t(&[1.0, 2.0, 0.0]);
    let b = t(&[1.0, 2.0 + 4e-8, 0.0]);
    assert!((rel_error(&a, &b).unwrap() - 1e-8).abs() < 1e-12);
    assert_eq!(rel_error(&t(&[]), &t(&[])).unwrap(), 0.0);
}

const BAD_STEPS: [f64; 5] = [0.0, -1e-5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];

#[test]
fn eval_numerical_gradient_refuses_a_step_that_is_not_positive_and_finite() {
    for h in BAD_STEPS {
        let mut x = t(&[1.0, 2.0]);
        let r = eval_numerical_gradient(|x| Ok(x.data().iter().map(|v| v * v).sum()), &mut x, h);
        let err = r.expect_err(&format!("h = {h} must be refused"));
        assert!(err.to_string().contains("h = "), "{err}");
        assert_eq!(x.data(), &[1.0, 2.0], "x is left as it was");
    }
}

#[test]
fn eval_numerical_gradient_array_refuses_a_step_that_is_not_positive_and_finite() {
    for h in BAD_STEPS {
        let mut x = t(&[1.0, 2.0]);
        let dout = t(&[1.0, 1.0]);
        let r = eval_numerical_gradient_array(|x| Ok(x.map(|v| 3.0 * v)), &mut x, &dout, h);
        let err = r.expect_err(&format!("h = {h} must be refused"));
        assert!(err.to_string().contains("h = "), "{err}");
    }
}

#[test]
fn eval_numerical_gradient_refuses_a_step_too_small_to_move_x() {
    // 1e20 + 1e-5 == 1e20: the probe would not move x and report 0.
    let mut x = t(&[1.0, 1e20]);
    let r = eval_numerical_gradient(|x| Ok(x.data().iter().sum()), &mut x, 1e-5);
    let err = r.expect_err("a probe that does not move x must be refused");
    assert!(err.to_string().contains("element 1"), "{err}");
}

#[test]
fn eval_numerical_gradient_refuses_a_non_finite_function_value() {
    let mut x = t(&[1.0, 2.0]);
    let r = eval_numerical_gradient(|x| Ok(x.data()[0].ln() * f64::NAN), &mut x, 1e-5);
    assert!(r.is_err(), "{r:?}");
    let mut x = t(&[1.0, 2.0]);
    let dout = t(&[1.0, 1.0]);
    let r = eval_numerical_gradient_array(|x| Ok(x.map(|v| v / 0.0)), &mut x, &dout, 1e-5);
    assert!(r.is_err(), "{r:?}");
}

#[test]
fn check_gradients_on_a_nan_input_is_an_error() {
    let x = t(&[1.0, f64::NAN, 3.0]);
    let r = check_gradients(&[x], |tape, v| tape.mul(v[0], v[0]), 1);
    let err = r.expect_err("a NaN input must not check as Ok([0.0])");
    assert!(err.to_string().contains("input 0"), "{err}");
}

#[test]
fn check_gradients_on_a_nan_output_is_an_error() {
    let x = t(&[1.0, 2.0]);
    let r = check_gradients(&[x], |tape, v| tape.scale(v[0], f64::NAN), 1);
    assert!(r.is_err(), "{r:?}");
}

/// `y = x`, whose backward writes NaN into x's gradient.
fn nan_backward(tape: &mut Tape, x: Var) -> Result<Var> {
    let out = tape.value(x)?.clone();
    tape.record("nan_backward", out, &[x], move |_, grads| {
        if let Some(slot) = grads.slot(x) {
            slot.write(std::iter::repeat(f64::NAN));
        }
    })
}

#[test]
fn check_gradients_with_a_nan_analytic_gradient_is_an_error() {
    let x = t(&[1.0, 2.0]);
    let r = check_gradients(&[x], |tape, v| nan_backward(tape, v[0]), 1);
    let err = r.expect_err("a NaN gradient must not check as Ok([0.0])");
    assert!(err.to_string().contains("input 0"), "{err}");
}

#[test]
fn check_gradients_fills_a_missing_gradient_with_zeros_of_that_input() {
    // A graph that resets the tape leaves the checked leaves without any
    // gradient; each is then compared as zeros of its own shape, (2, 2) and
    // (3,), against the numeric gradient (zero too: y ignores both).
    let inputs = [Tensor::ones(&[2, 2]), Tensor::ones(&[3])];
    let build = |tape: &mut Tape, _: &[Var]| {
        tape.reset();
        let c = tape.leaf(Tensor::ones(&[1]));
        tape.scale(c, 2.0)
    };
    assert_eq!(check_gradients(&inputs, build, 1).unwrap(), vec![0.0, 0.0]);
}

#[test]
fn check_gradients_with_an_unused_input_of_another_shape() {
    let inputs = [Tensor::ones(&[2, 3]), Tensor::ones(&[4])];
    let errors = check_gradients(&inputs, |tape, v| tape.mul(v[0], v[0]), 1).unwrap();
    assert!(errors[0] < 1e-8 && errors[1] == 0.0, "{errors:?}");
}
