//! The notebook's gradient check of a whole net: every parameter's analytic
//! gradient against `eval_numerical_gradient` of the loss (h = 1e-5).

use crate::{FullyConnectedNet, Model};
use gradtape_core::gradcheck::{eval_numerical_gradient, rel_error};
use gradtape_core::{Result, Tensor};

/// The check of one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamCheck {
    /// Parameter name (`W1`, `gamma2`, ...).
    pub name: String,
    /// Relative error between the analytic and numeric gradients.
    pub rel_error: f64,
    /// Largest absolute value of the analytic gradient (a bias feeding a
    /// batchnorm has a true gradient of zero, where a relative error is
    /// meaningless: look at this instead).
    pub max_abs_grad: f64,
}

/// Runs the notebook's check on `net` for the batch `(x, y)`: the initial
/// loss, then one [`ParamCheck`] per parameter in sorted name order (as the
/// notebook's `sorted(grads)`). Dropout masks are re-seeded from
/// `dropout_seed` before every loss evaluation so that each sees the same
/// mask. Each parameter is restored exactly after probing.
///
/// ```
/// use gradtape_core::{rng_from_seed, Tensor};
/// use gradtape_nn::{check_net_gradients, FcConfig, FullyConnectedNet};
/// let config = FcConfig { hidden_dims: vec![4], input_dim: 3, num_classes: 2, weight_scale: 0.5, ..FcConfig::default() };
/// let mut net = FullyConnectedNet::new(config).unwrap();
/// let x = Tensor::randn(&[2, 3], &mut rng_from_seed(1));
/// let (loss, checks) = check_net_gradients(&mut net, &x, &[0, 1], 0).unwrap();
/// assert!(loss > 0.0 && checks.iter().all(|c| c.rel_error < 1e-6));
/// ```
pub fn check_net_gradients(
    net: &mut FullyConnectedNet,
    x: &Tensor,
    y: &[usize],
    dropout_seed: u64,
) -> Result<(f64, Vec<ParamCheck>)> {
    net.set_dropout_seed(dropout_seed);
    let loss = net.train_loss(x, y)?;
    let mut names: Vec<String> = net.param_names().map(String::from).collect();
    names.sort();
    let mut checks = Vec::with_capacity(names.len());
    for name in names {
        // Analytic gradient at the unperturbed point.
        net.set_dropout_seed(dropout_seed);
        net.train_loss(x, y)?;
        let analytic = net.grad(&name).cloned().unwrap_or_default();
        let mut value = net.param(&name)?.clone();
        let numeric = eval_numerical_gradient(
            |probe| {
                net.param_mut(&name)?
                    .data_mut()
                    .copy_from_slice(probe.data());
                net.set_dropout_seed(dropout_seed);
                net.train_loss(x, y)
            },
            &mut value,
            1e-5,
        )?;
        net.param_mut(&name)?
            .data_mut()
            .copy_from_slice(value.data());
        checks.push(ParamCheck {
            rel_error: rel_error(&analytic, &numeric)?,
            max_abs_grad: analytic.data().iter().fold(0.0, |m, v| m.max(v.abs())),
            name,
        });
    }
    Ok((loss, checks))
}
