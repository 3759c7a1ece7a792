//! Section 3: the FullyConnectedNet gradient check with dropout (and, beyond
//! the notebook, with batchnorm).

use gradtape_core::{rng_from_seed, Result, RngExt, Tensor};
use gradtape_nn::{check_net_gradients, FcConfig, FullyConnectedNet, Normalization};
use serde::Serialize;

/// One configuration's check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GradcheckCase {
    /// Keep probability.
    pub dropout: f64,
    /// Whether the net has batchnorm.
    pub use_batchnorm: bool,
    /// Batch size.
    pub n: usize,
    /// Loss at the initial parameters (ln 10 = 2.30 expected).
    pub initial_loss: f64,
    /// `(name, relative error, largest |analytic gradient|)`, sorted by name.
    pub params: Vec<(String, f64, f64)>,
}

impl GradcheckCase {
    /// The largest relative error among parameters whose gradient is not
    /// identically zero (a bias feeding batchnorm has a true gradient of 0).
    pub fn max_rel_error(&self) -> f64 {
        self.params
            .iter()
            .filter(|(_, _, g)| *g > 1e-10)
            .map(|(_, e, _)| *e)
            .fold(0.0, f64::max)
    }
}

/// The notebook's net (D = 15, H1 = 20, H2 = 30, C = 10, weight scale 5e-2,
/// seed 123) checked on a batch of `n` drawn from `data_seed`.
///
/// ```
/// let case = gradtape_notebook::fc_gradcheck::run_case(0.5, false, 2, 231, false).unwrap();
/// assert!(case.max_rel_error() < 1e-5);
/// ```
pub fn run_case(
    dropout: f64,
    use_batchnorm: bool,
    n: usize,
    data_seed: u64,
    print: bool,
) -> Result<GradcheckCase> {
    let (d, c) = (15, 10);
    let mut rng = rng_from_seed(data_seed);
    let x = Tensor::randn(&[n, d], &mut rng);
    let y: Vec<usize> = (0..n).map(|_| rng.random_range(0..c)).collect();
    let mut net = FullyConnectedNet::new(FcConfig {
        hidden_dims: vec![20, 30],
        input_dim: d,
        num_classes: c,
        dropout,
        normalization: if use_batchnorm {
            Normalization::BatchNorm
        } else {
            Normalization::None
        },
        weight_scale: 5e-2,
        seed: 123,
        ..FcConfig::default()
    })?;
    let (initial_loss, checks) = check_net_gradients(&mut net, &x, &y, 123)?;
    if print {
        let bn = if use_batchnorm { ", batchnorm" } else { "" };
        println!("Running check with dropout = {dropout}{bn} (N = {n})");
        println!("Initial loss: {initial_loss}");
        for ch in &checks {
            println!("{} relative error: {:.2e}", ch.name, ch.rel_error);
        }
        println!();
    }
    Ok(GradcheckCase {
        dropout,
        use_batchnorm,
        n,
        initial_loss,
        params: checks
            .into_iter()
            .map(|c| (c.name, c.rel_error, c.max_abs_grad))
            .collect(),
    })
}

/// The notebook's three checks (dropout 0.5, 0.75, 1.0 at N = 2), then the
/// same with batchnorm at N = 10.
pub fn run(print: bool) -> Result<Vec<GradcheckCase>> {
    let mut cases = Vec::new();
    for dropout in [0.5, 0.75, 1.0] {
        cases.push(run_case(dropout, false, 2, 231, print)?);
    }
    for dropout in [0.5, 0.75, 1.0] {
        cases.push(run_case(dropout, true, 10, 232, print)?);
    }
    Ok(cases)
}
