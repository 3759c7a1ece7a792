//! A 1-32-1 tanh MLP fits `sin(x)` on [-π, π] with the mean squared error
//! and Adam, over its own parameters on a tape (the layer kit's `Linear`).
//!
//! cargo run --release --example regression
//!
//! `tests/examples_converge.rs` calls [`fit`] and checks the final loss.

use gradtape::nn::Linear;
use gradtape::optim::{Adam, AdamConfig, Optimizer};
use gradtape::{rng_from_seed, Mode, Result, Tape, Tensor};
use std::f64::consts::PI;

/// The losses of a run.
pub struct Fit {
    /// Mean squared error before the first step.
    pub initial_loss: f64,
    /// Mean squared error after the last step.
    pub final_loss: f64,
}

/// Trains the MLP on 64 evenly spaced points for `steps` full-batch Adam
/// steps (learning rate 1e-2), weights drawn from `seed`.
pub fn fit(steps: usize, seed: u64) -> Result<Fit> {
    let n = 64;
    let xs: Vec<f64> = (0..n)
        .map(|i| -PI + 2.0 * PI * i as f64 / (n - 1) as f64)
        .collect();
    let x = Tensor::from_vec(xs, &[n, 1])?;
    let y = x.map(f64::sin);

    let mut tape = Tape::new();
    let mut rng = rng_from_seed(seed);
    let mut hidden = Linear::new(&mut tape, 1, 32, 1.0, &mut rng)?;
    let mut output = Linear::new(&mut tape, 32, 1, 0.2, &mut rng)?;
    let mut opt = Adam::new(AdamConfig {
        learning_rate: 1e-2,
        ..AdamConfig::default()
    })?;

    let mut losses = Vec::with_capacity(steps + 1);
    for step in 0..=steps {
        // One iteration: a fresh graph over the same parameters.
        tape.reset();
        let xv = tape.input_from(&x);
        let yv = tape.input_from(&y);
        let h = hidden.forward(&mut tape, xv, Mode::Train)?;
        let h = tape.tanh(h)?;
        let pred = output.forward(&mut tape, h, Mode::Train)?;
        let loss = tape.mse_loss(pred, yv)?;
        losses.push(tape.value(loss)?.item()?);
        if step < steps {
            tape.backward(loss)?;
            opt.step(&mut tape)?; // every parameter that has a gradient
        }
    }
    Ok(Fit {
        initial_loss: losses[0],
        final_loss: losses[steps],
    })
}

fn main() -> Result<()> {
    let fit = fit(3000, 0)?;
    println!("tanh MLP 1-32-1 fitting sin(x) on [-pi, pi], Adam 1e-2, 3000 steps");
    println!(
        "mean squared error: {:.3e} -> {:.3e}",
        fit.initial_loss, fit.final_loss
    );
    Ok(())
}
