//! SGD with momentum, `optim.py`'s `sgd_momentum`.

use std::collections::BTreeMap;

use gradtape_core::Result;

use crate::check;
use crate::state::{export_buffers, import_buffers, OptimState};
use crate::{Optimizer, UpdateRule};

const OP: &str = "sgd_momentum";
const VELOCITY: &str = "velocity";

/// Hyperparameters of [`SgdMomentum`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdMomentumConfig {
    /// Step size; finite and `>= 0`. Default `1e-2`.
    pub learning_rate: f64,
    /// Velocity decay, in `[0, 1)`. Default `0.9`.
    pub momentum: f64,
}

impl Default for SgdMomentumConfig {
    /// The `optim.py` defaults: `learning_rate = 1e-2`, `momentum = 0.9`.
    fn default() -> Self {
        SgdMomentumConfig {
            learning_rate: 1e-2,
            momentum: 0.9,
        }
    }
}

impl SgdMomentumConfig {
    /// Errors, naming the hyperparameter, if any value is out of range.
    pub fn validate(&self) -> Result<()> {
        check::learning_rate(OP, self.learning_rate)?;
        check::unit_interval(OP, "momentum", self.momentum)
    }
}

/// SGD with momentum, per element:
/// `v = momentum * v - learning_rate * dw; w = w + v`, with `v` starting at
/// zero for each parameter name.
///
/// ```
/// use gradtape_optim::{Optimizer, SgdMomentum, SgdMomentumConfig};
/// let mut opt = SgdMomentum::new(SgdMomentumConfig { learning_rate: 0.5, momentum: 0.5 }).unwrap();
/// let mut w = [0.0];
/// opt.update("W", &mut w, &[1.0]).unwrap(); // v = -0.5
/// opt.update("W", &mut w, &[1.0]).unwrap(); // v = 0.5 * -0.5 - 0.5 = -0.75
/// assert_eq!(w, [-1.25]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SgdMomentum {
    config: SgdMomentumConfig,
    state: BTreeMap<String, Vec<f64>>,
}

impl SgdMomentum {
    /// Validates `config` and builds the optimizer with no state yet.
    pub fn new(config: SgdMomentumConfig) -> Result<Self> {
        config.validate()?;
        Ok(SgdMomentum {
            config,
            state: BTreeMap::new(),
        })
    }

    /// The current hyperparameters (with the current learning rate).
    pub fn config(&self) -> &SgdMomentumConfig {
        &self.config
    }

    /// The velocity of parameter `name`, if it has been updated.
    pub fn velocity(&self, name: &str) -> Option<&[f64]> {
        self.state.get(name).map(|v| v.as_slice())
    }
}

impl Default for SgdMomentum {
    /// SGD with momentum and [`SgdMomentumConfig::default`].
    fn default() -> Self {
        SgdMomentum {
            config: SgdMomentumConfig::default(),
            state: BTreeMap::new(),
        }
    }
}

impl Optimizer for SgdMomentum {
    fn rule(&self) -> UpdateRule {
        UpdateRule::SgdMomentum
    }

    fn update(&mut self, name: &str, param: &mut [f64], grad: &[f64]) -> Result<()> {
        check::lengths(OP, name, param.len(), grad.len())?;
        let v = check::slot(OP, &mut self.state, name, param.len())?;
        let SgdMomentumConfig {
            learning_rate: lr,
            momentum: mu,
        } = self.config;
        for ((w, &dw), v) in param.iter_mut().zip(grad).zip(v.iter_mut()) {
            *v = mu * *v - lr * dw;
            *w += *v;
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

    fn clear_state(&mut self) {
        self.state.clear();
    }

    fn export_state(&self) -> OptimState {
        OptimState {
            rule: UpdateRule::SgdMomentum,
            learning_rate: self.config.learning_rate,
            hyperparameters: [("momentum".to_owned(), self.config.momentum)].into(),
            params: export_buffers(&self.state, VELOCITY),
        }
    }

    fn import_state(&mut self, state: &OptimState) -> Result<()> {
        state.validate_layout(UpdateRule::SgdMomentum, &["momentum"], &[VELOCITY], false)?;
        let config = SgdMomentumConfig {
            learning_rate: state.learning_rate,
            momentum: state.hyper("momentum"),
        };
        config.validate()?;
        self.config = config;
        self.state = import_buffers(state, VELOCITY);
        Ok(())
    }
}
