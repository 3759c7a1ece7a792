//! Vanilla stochastic gradient descent, `optim.py`'s `sgd`.

use gradtape_core::Result;

use crate::state::OptimState;
use crate::{check, Optimizer, UpdateRule};

const OP: &str = "sgd";

/// Hyperparameters of [`Sgd`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    /// Step size; finite and `>= 0`. Default `1e-2`.
    pub learning_rate: f64,
}

impl Default for SgdConfig {
    /// The `optim.py` default: `learning_rate = 1e-2`.
    fn default() -> Self {
        SgdConfig {
            learning_rate: 1e-2,
        }
    }
}

impl SgdConfig {
    /// Errors, naming the hyperparameter, if any value is out of range.
    pub fn validate(&self) -> Result<()> {
        check::learning_rate(OP, self.learning_rate)
    }
}

/// Vanilla SGD: `w -= learning_rate * dw`. Keeps no per-parameter state.
///
/// ```
/// use gradtape_optim::{Optimizer, Sgd, SgdConfig};
/// let mut opt = Sgd::new(SgdConfig { learning_rate: 0.5 }).unwrap();
/// let mut w = [1.0, -1.0];
/// opt.update("W", &mut w, &[1.0, 2.0]).unwrap();
/// assert_eq!(w, [0.5, -2.0]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Sgd {
    config: SgdConfig,
}

impl Sgd {
    /// Validates `config` and builds the optimizer.
    pub fn new(config: SgdConfig) -> Result<Self> {
        config.validate()?;
        Ok(Sgd { config })
    }

    /// The current hyperparameters (with the current learning rate).
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }
}

impl Default for Sgd {
    /// SGD with [`SgdConfig::default`].
    fn default() -> Self {
        Sgd {
            config: SgdConfig::default(),
        }
    }
}

impl Optimizer for Sgd {
    fn rule(&self) -> UpdateRule {
        UpdateRule::Sgd
    }

    fn update(&mut self, name: &str, param: &mut [f64], grad: &[f64]) -> Result<()> {
        check::lengths(OP, name, param.len(), grad.len())?;
        let lr = self.config.learning_rate;
        for (w, &dw) in param.iter_mut().zip(grad) {
            *w -= lr * dw;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.config.learning_rate
    }

    fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        check::learning_rate(OP, lr)?;
        self.config.learning_rate = lr;
        Ok(())
    }

    fn clear_state(&mut self) {}

    fn export_state(&self) -> OptimState {
        OptimState {
            rule: UpdateRule::Sgd,
            learning_rate: self.config.learning_rate,
            hyperparameters: Default::default(),
            params: Default::default(),
        }
    }

    fn import_state(&mut self, state: &OptimState) -> Result<()> {
        state.validate_layout(UpdateRule::Sgd, &[], &[], false)?;
        let config = SgdConfig {
            learning_rate: state.learning_rate,
        };
        config.validate()?;
        self.config = config;
        Ok(())
    }
}
