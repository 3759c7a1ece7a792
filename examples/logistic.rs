//! Logistic regression on a synthetic two-class problem: two Gaussian
//! clouds in the plane, a linear score `x w + b`, `bce_with_logits` as the
//! loss and `sigmoid` for the predicted probabilities, trained with SGD.
//!
//! cargo run --release --example logistic
//!
//! `tests/examples_converge.rs` calls [`fit`] and checks the final loss.

use gradtape::optim::{Optimizer, Sgd, SgdConfig};
use gradtape::{rng_from_seed, Result, Tape, Tensor};

/// What a run reached.
pub struct Fit {
    /// Mean binary cross-entropy before the first step (ln 2: w = 0, b = 0).
    pub initial_loss: f64,
    /// Mean binary cross-entropy after the last step.
    pub final_loss: f64,
    /// Fraction of points whose predicted probability is on their side of 0.5.
    pub accuracy: f64,
    /// The learned weights `w (2,)` and bias `b`.
    pub w: [f64; 2],
    /// The learned bias.
    pub b: f64,
}

/// `n` points per class: class 0 around (-1.5, -1), class 1 around
/// (1.5, 1), unit variance, drawn from `seed`. Returns `x (2n, 2)` and the
/// labels as `t (2n, 1)` in {0, 1}.
pub fn two_clouds(n: usize, seed: u64) -> Result<(Tensor, Tensor)> {
    let mut rng = rng_from_seed(seed);
    let noise = Tensor::randn(&[2 * n, 2], &mut rng);
    let mut x = Vec::with_capacity(4 * n);
    let mut t = Vec::with_capacity(2 * n);
    for (i, e) in noise.data().chunks(2).enumerate() {
        let label = if i < n { 0.0 } else { 1.0 };
        let sign = 2.0 * label - 1.0;
        x.extend([1.5 * sign + e[0], sign + e[1]]);
        t.push(label);
    }
    Ok((
        Tensor::from_vec(x, &[2 * n, 2])?,
        Tensor::from_vec(t, &[2 * n, 1])?,
    ))
}

/// Fits `w` and `b` (from zero) to 100 points per class for `steps`
/// full-batch SGD steps at learning rate 0.5.
pub fn fit(steps: usize, seed: u64) -> Result<Fit> {
    let (x, t) = two_clouds(100, seed)?;
    let mut tape = Tape::new();
    let w = tape.param(Tensor::zeros(&[2, 1]))?;
    let b = tape.param(Tensor::zeros(&[1]))?;
    let mut opt = Sgd::new(SgdConfig { learning_rate: 0.5 })?;

    let mut initial_loss = f64::NAN;
    for step in 0..=steps {
        tape.reset();
        let xv = tape.input_from(&x);
        let tv = tape.input_from(&t);
        let logits = tape.affine(xv, w, b)?;
        // Stable for any logit: never sigmoid-then-log.
        let loss = tape.bce_with_logits(logits, tv)?;
        if step == 0 {
            initial_loss = tape.value(loss)?.item()?;
        }
        if step == steps {
            // The last pass only measures: loss and accuracy after training.
            let p = tape.sigmoid(logits)?;
            let p = tape.value(p)?.data();
            let right = p
                .iter()
                .zip(t.data())
                .filter(|(p, t)| (**p > 0.5) == (**t > 0.5));
            let accuracy = right.count() as f64 / p.len() as f64;
            let wv = tape.value(w)?.data();
            return Ok(Fit {
                initial_loss,
                final_loss: tape.value(loss)?.item()?,
                accuracy,
                w: [wv[0], wv[1]],
                b: tape.value(b)?.data()[0],
            });
        }
        tape.backward(loss)?;
        opt.step(&mut tape)?;
    }
    unreachable!("the loop returns at step == steps")
}

fn main() -> Result<()> {
    let fit = fit(500, 0)?;
    println!("logistic regression, 2 x 100 points, SGD 0.5, 500 steps");
    println!(
        "binary cross-entropy: {:.4} -> {:.4}",
        fit.initial_loss, fit.final_loss
    );
    println!("accuracy: {:.3}", fit.accuracy);
    println!("w = [{:.3}, {:.3}], b = {:.3}", fit.w[0], fit.w[1], fit.b);
    Ok(())
}
