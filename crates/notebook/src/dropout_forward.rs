//! Section 1: dropout's forward statistics. With keep probability p the
//! train-time output zeroes about 1 - p of the units and keeps the mean;
//! the test-time output is the input.

use gradtape_core::{rng_from_seed, Mode, Result, Tape, Tensor};
use serde::Serialize;

/// The statistics the notebook prints for one keep probability.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DropoutStats {
    /// Keep probability.
    pub p: f64,
    /// Mean of the input.
    pub input_mean: f64,
    /// Mean of the train-time output.
    pub train_mean: f64,
    /// Mean of the test-time output.
    pub test_mean: f64,
    /// Fraction of train-time outputs that are zero.
    pub train_zero_fraction: f64,
    /// Fraction of test-time outputs that are zero.
    pub test_zero_fraction: f64,
}

fn zero_fraction(t: &Tensor) -> f64 {
    t.data().iter().filter(|&&v| v == 0.0).count() as f64 / t.len() as f64
}

/// Runs dropout on `x = randn(n, n) + 10` (from `seed`) for each keep
/// probability, in train and test mode.
///
/// ```
/// let stats = gradtape_notebook::dropout_forward::run(&[0.3], 100, 0, false).unwrap();
/// assert!((stats[0].train_zero_fraction - 0.7).abs() < 0.02);
/// assert_eq!(stats[0].test_zero_fraction, 0.0);
/// ```
pub fn run(ps: &[f64], n: usize, seed: u64, print: bool) -> Result<Vec<DropoutStats>> {
    let mut rng = rng_from_seed(seed);
    let x = Tensor::randn(&[n, n], &mut rng).map(|v| v + 10.0);
    let mut tape = Tape::new();
    tape.set_grad_enabled(false);
    let mut out = Vec::with_capacity(ps.len());
    for &p in ps {
        tape.reset();
        let xv = tape.input(x.clone());
        let train = tape.dropout(xv, p, Mode::Train, &mut rng)?;
        let test = tape.dropout(xv, p, Mode::Test, &mut rng)?;
        let (train, test) = (tape.value(train)?, tape.value(test)?);
        let s = DropoutStats {
            p,
            input_mean: x.mean(),
            train_mean: train.mean(),
            test_mean: test.mean(),
            train_zero_fraction: zero_fraction(train),
            test_zero_fraction: zero_fraction(test),
        };
        if print {
            println!("Running tests with p = {p}");
            println!("Mean of input: {}", s.input_mean);
            println!("Mean of train-time output: {}", s.train_mean);
            println!("Mean of test-time output: {}", s.test_mean);
            println!(
                "Fraction of train-time output set to zero: {}",
                s.train_zero_fraction
            );
            println!(
                "Fraction of test-time output set to zero: {}",
                s.test_zero_fraction
            );
            println!();
        }
        out.push(s);
    }
    Ok(out)
}
