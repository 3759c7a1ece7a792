//! A user-defined op: `softplus(x) = ln(1 + e^x)`, written with
//! `Tape::record` (forward value plus a hand-written backward closure),
//! checked against finite differences with `check_gradients`, then used as
//! the activation of a small net that fits `|x|` with Adam.
//!
//! cargo run --release --example custom_op
//!
//! `tests/examples_converge.rs` calls [`check`] and [`fit`].

use gradtape::gradcheck::check_gradients;
use gradtape::nn::Linear;
use gradtape::optim::{Adam, AdamConfig, Optimizer};
use gradtape::{rng_from_seed, Mode, Result, Tape, Tensor, Var};

/// `softplus(x) = ln(1 + e^x)`, elementwise, as
/// `max(x, 0) + ln(1 + e^-|x|)` so that no `e^x` overflows; its gradient is
/// the logistic sigmoid, `dx = g / (1 + e^-x)`.
pub fn softplus(tape: &mut Tape, x: Var) -> Result<Var> {
    let out = tape
        .value(x)?
        .map(|v| v.max(0.0) + (-v.abs()).exp().ln_1p());
    tape.record("softplus", out, &[x], move |ctx, grads| {
        // `slot` is None when x needs no gradient. `write` overwrites on
        // x's first contribution and adds on later ones (x used twice).
        if let Some(slot) = grads.slot(x) {
            let g = ctx.grad_out().data().iter().zip(ctx.value(x).data());
            slot.write(g.map(|(g, v)| g * sigmoid(*v)));
        }
    })
}

fn sigmoid(v: f64) -> f64 {
    if v >= 0.0 {
        1.0 / (1.0 + (-v).exp())
    } else {
        let e = v.exp();
        e / (1.0 + e)
    }
}

/// The largest relative error of softplus's gradient against centered
/// finite differences (h = 1e-5) over odd shapes: one element, a
/// non-square matrix with large |x|, and x used twice (`softplus(x) * x`).
pub fn check() -> Result<f64> {
    let mut rng = rng_from_seed(7);
    let one = Tensor::randn(&[1, 1], &mut rng);
    let wide = Tensor::randn(&[3, 5], &mut rng).map(|v| 4.0 * v);
    let mut worst: f64 = 0.0;
    for x in [&one, &wide] {
        let e = check_gradients(std::slice::from_ref(x), |t, v| softplus(t, v[0]), 1)?;
        worst = worst.max(e[0]);
        let twice = |t: &mut Tape, v: &[Var]| {
            let y = softplus(t, v[0])?;
            t.mul(y, v[0])
        };
        worst = worst.max(check_gradients(std::slice::from_ref(x), twice, 2)?[0]);
    }
    Ok(worst)
}

/// The losses of a run.
pub struct Fit {
    /// Mean squared error before the first step.
    pub initial_loss: f64,
    /// Mean squared error after the last step.
    pub final_loss: f64,
}

/// A 1-16-1 net with softplus activations fits `|x|` on 41 points of
/// [-2, 2] for `steps` full-batch Adam steps (learning rate 1e-2).
pub fn fit(steps: usize, seed: u64) -> Result<Fit> {
    let n = 41;
    let xs: Vec<f64> = (0..n)
        .map(|i| -2.0 + 4.0 * i as f64 / (n - 1) as f64)
        .collect();
    let x = Tensor::from_vec(xs, &[n, 1])?;
    let y = x.map(f64::abs);
    let mut tape = Tape::new();
    let mut rng = rng_from_seed(seed);
    let mut hidden = Linear::new(&mut tape, 1, 16, 1.0, &mut rng)?;
    let mut output = Linear::new(&mut tape, 16, 1, 0.25, &mut rng)?;
    let mut opt = Adam::new(AdamConfig {
        learning_rate: 1e-2,
        ..AdamConfig::default()
    })?;
    let mut losses = Vec::with_capacity(steps + 1);
    for step in 0..=steps {
        tape.reset();
        let xv = tape.input_from(&x);
        let yv = tape.input_from(&y);
        let h = hidden.forward(&mut tape, xv, Mode::Train)?;
        let h = softplus(&mut tape, h)?;
        let pred = output.forward(&mut tape, h, Mode::Train)?;
        let loss = tape.mse_loss(pred, yv)?;
        losses.push(tape.value(loss)?.item()?);
        if step < steps {
            tape.backward(loss)?;
            opt.step(&mut tape)?;
        }
    }
    Ok(Fit {
        initial_loss: losses[0],
        final_loss: losses[steps],
    })
}

fn main() -> Result<()> {
    println!(
        "softplus gradient, largest relative error: {:.2e}",
        check()?
    );
    let fit = fit(2000, 0)?;
    println!("softplus net 1-16-1 fitting |x| on [-2, 2], Adam 1e-2, 2000 steps");
    println!(
        "mean squared error: {:.3e} -> {:.3e}",
        fit.initial_loss, fit.final_loss
    );
    Ok(())
}
