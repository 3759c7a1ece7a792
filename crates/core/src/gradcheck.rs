//! Finite differences, as the notebook does them: centered differences with
//! `h = 1e-5`, restoring each probed element exactly, and the relative error
//! that the course reports.
//!
//! A check must never pass by accident: a NaN or infinity in a point, a
//! function value, a gradient or a relative error, or a step `h` that is not
//! a positive finite number moving every element, is an error, never a
//! number that some tolerance could accept.

use crate::{rng_from_seed, Error, Result, Tape, Tensor, Var};

/// Centered-difference gradient of a scalar function `f` at `x`
/// (the notebook's `eval_numerical_gradient`). Each element of `x` is moved by
/// `+h` and `-h` in turn and put back exactly before the next.
///
/// ```
/// use gradtape_core::{gradcheck::eval_numerical_gradient, Tensor};
/// let mut x = Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap();
/// let g = eval_numerical_gradient(|t| Ok(t.data().iter().map(|v| v * v).sum()), &mut x, 1e-5).unwrap();
/// assert!((g.data()[1] - 4.0).abs() < 1e-8);
/// assert_eq!(x.data(), &[1.0, 2.0]);
/// ```
pub fn eval_numerical_gradient(
    f: impl FnMut(&Tensor) -> Result<f64>,
    x: &mut Tensor,
    h: f64,
) -> Result<Tensor> {
    const OP: &str = "eval_numerical_gradient";
    centered_differences(OP, x, h, f, |plus, minus| Ok(plus - minus))
}

/// Index and value of the first NaN or infinity in `xs`.
fn first_non_finite(xs: &[f64]) -> Option<(usize, f64)> {
    xs.iter().position(|v| !v.is_finite()).map(|i| (i, xs[i]))
}

/// For each element of `x`: evaluates `f` at `x + h e_i` and `x - h e_i`,
/// puts the element back exactly, and stores `diff(plus, minus) / 2h`.
/// Refuses (naming `op`) a step that is not positive and finite, a point
/// that is not finite, a step too small to move an element, and a
/// difference that is not finite.
fn centered_differences<T>(
    op: &'static str,
    x: &mut Tensor,
    h: f64,
    mut f: impl FnMut(&Tensor) -> Result<T>,
    diff: impl Fn(T, T) -> Result<f64>,
) -> Result<Tensor> {
    if !(h.is_finite() && h > 0.0) {
        return Err(Error::invalid(
            op,
            format!("the step h = {h} must be positive and finite"),
        ));
    }
    if let Some((i, v)) = first_non_finite(x.data()) {
        return Err(Error::invalid(
            op,
            format!("x holds {v} at element {i}; a gradient is checked at a finite point"),
        ));
    }
    let mut grad = Tensor::zeros(x.dims());
    for i in 0..x.len() {
        let old = x.data()[i];
        if old + h == old || old - h == old {
            return Err(Error::invalid(
                op,
                format!(
                    "element {i} = {old} does not move by h = {h} (below the spacing of floats there)"
                ),
            ));
        }
        x.data_mut()[i] = old + h;
        let plus = f(x);
        x.data_mut()[i] = old - h;
        let minus = f(x);
        x.data_mut()[i] = old;
        let g = diff(plus?, minus?)? / (2.0 * h);
        if !g.is_finite() {
            return Err(Error::invalid(
                op,
                format!(
                    "element {i}: the centered difference with h = {h} is {g} (f is not finite near x)"
                ),
            ));
        }
        grad.data_mut()[i] = g;
    }
    Ok(grad)
}

/// Centered-difference gradient of `sum(f(x) * dout)` at `x`, for a
/// tensor-valued `f` (the notebook's `eval_numerical_gradient_array`).
///
/// ```
/// use gradtape_core::{gradcheck::eval_numerical_gradient_array, Tensor};
/// let mut x = Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap();
/// let dout = Tensor::from_vec(vec![1.0, 10.0], &[2]).unwrap();
/// let g = eval_numerical_gradient_array(|t| Ok(t.map(|v| 3.0 * v)), &mut x, &dout, 1e-5).unwrap();
/// assert!((g.data()[1] - 30.0).abs() < 1e-6);
/// ```
pub fn eval_numerical_gradient_array(
    f: impl FnMut(&Tensor) -> Result<Tensor>,
    x: &mut Tensor,
    dout: &Tensor,
    h: f64,
) -> Result<Tensor> {
    const OP: &str = "eval_numerical_gradient_array";
    centered_differences(OP, x, h, f, |plus: Tensor, minus: Tensor| {
        if plus.shape() != dout.shape() {
            return Err(Error::shapes(
                OP,
                "f(x)",
                plus.shape(),
                "dout",
                dout.shape(),
            ));
        }
        let pairs = plus.data().iter().zip(minus.data()).zip(dout.data());
        Ok(pairs.map(|((p, m), d)| (p - m) * d).sum())
    })
}

/// `max(|a - b| / max(1e-8, |a| + |b|))` over all elements: the course's
/// relative error (0 for two empty tensors). A NaN or infinity in `a` or
/// `b`, or a relative error that is not a number (`|a| + |b|` overflowing),
/// is an error: no tolerance may accept it.
///
/// ```
/// use gradtape_core::{gradcheck::rel_error, Tensor};
/// let a = Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap();
/// let b = Tensor::from_vec(vec![1.0, 2.0 + 4e-8], &[2]).unwrap();
/// assert!((rel_error(&a, &b).unwrap() - 1e-8).abs() < 1e-12);
/// let nan = Tensor::from_vec(vec![f64::NAN, 2.0], &[2]).unwrap();
/// assert!(rel_error(&nan, &b).is_err());
/// ```
pub fn rel_error(a: &Tensor, b: &Tensor) -> Result<f64> {
    const OP: &str = "rel_error";
    if a.shape() != b.shape() {
        return Err(Error::shapes(OP, "a", a.shape(), "b", b.shape()));
    }
    for (name, t) in [("a", a), ("b", b)] {
        if let Some((i, v)) = first_non_finite(t.data()) {
            return Err(Error::invalid(
                OP,
                format!("{name} holds {v} at element {i}; no relative error can be computed"),
            ));
        }
    }
    let mut worst = 0.0f64;
    for (i, (x, y)) in a.data().iter().zip(b.data()).enumerate() {
        let e = (x - y).abs() / (x.abs() + y.abs()).max(1e-8);
        if e.is_nan() {
            return Err(Error::invalid(
                OP,
                format!("element {i}: the relative error of {x} and {y} is not a number"),
            ));
        }
        worst = worst.max(e);
    }
    Ok(worst)
}

/// Checks the backward of a graph against finite differences. `build` maps
/// leaves holding `inputs` to an output `y`; the check draws a random upstream
/// gradient `dout` (seeded), back-propagates `sum(y * dout)` on the tape and
/// compares each input's gradient with [`eval_numerical_gradient_array`]
/// (h = 1e-5). Returns the relative error per input.
///
/// `build` must be deterministic: any randomness inside (a dropout mask) must
/// come from a generator it seeds itself on every call.
///
/// ```
/// use gradtape_core::{gradcheck::check_gradients, Tensor, rng_from_seed};
/// let x = Tensor::randn(&[3, 4], &mut rng_from_seed(0));
/// let errors = check_gradients(&[x], |tape, v| tape.mul(v[0], v[0]), 1).unwrap();
/// assert!(errors[0] < 1e-8);
/// ```
pub fn check_gradients(
    inputs: &[Tensor],
    build: impl Fn(&mut Tape, &[Var]) -> Result<Var>,
    seed: u64,
) -> Result<Vec<f64>> {
    const OP: &str = "check_gradients";
    for (k, x) in inputs.iter().enumerate() {
        if let Some((i, v)) = first_non_finite(x.data()) {
            return Err(Error::invalid(
                OP,
                format!(
                    "input {k} holds {v} at element {i}; gradients are checked at a finite point"
                ),
            ));
        }
    }
    // Analytic: one tape, leaves for every input.
    let mut tape = Tape::new();
    let vars: Vec<Var> = inputs.iter().map(|t| tape.leaf(t.clone())).collect();
    let y = build(&mut tape, &vars)?;
    if let Some((i, v)) = first_non_finite(tape.value(y)?.data()) {
        return Err(Error::invalid(
            OP,
            format!("the output holds {v} at element {i}"),
        ));
    }
    let dout = Tensor::randn(tape.value(y)?.dims(), &mut rng_from_seed(seed));
    let d = tape.input(dout.clone());
    let yd = tape.mul(y, d)?;
    let loss = tape.sum(yd)?;
    tape.backward(loss)?;
    let mut analytic = Vec::with_capacity(inputs.len());
    for (k, (&v, x)) in vars.iter().zip(inputs).enumerate() {
        // An input no gradient reached has gradient zero, of its own shape.
        let grad = tape
            .grad(v)
            .cloned()
            .unwrap_or_else(|| Tensor::zeros(x.dims()));
        if let Some((i, g)) = first_non_finite(grad.data()) {
            return Err(Error::invalid(
                OP,
                format!("the gradient of input {k} holds {g} at element {i}"),
            ));
        }
        analytic.push(grad);
    }

    // Numeric: probe each input in turn, evaluating the graph without gradients.
    let mut errors = Vec::with_capacity(inputs.len());
    for (k, grad) in analytic.iter().enumerate() {
        let mut probe = inputs.to_vec();
        let mut x = probe[k].clone();
        let numeric = eval_numerical_gradient_array(
            |xk| {
                probe[k] = xk.clone();
                let mut t = Tape::new();
                t.set_grad_enabled(false);
                let vs: Vec<Var> = probe.iter().map(|p| t.input(p.clone())).collect();
                let y = build(&mut t, &vs)?;
                Ok(t.value(y)?.clone())
            },
            &mut x,
            &dout,
            1e-5,
        )?;
        errors.push(rel_error(grad, &numeric)?);
    }
    Ok(errors)
}
