//! RMSProp, `optim.py`'s `rmsprop`.

use std::collections::BTreeMap;

use gradtape_core::Result;

use crate::check;
use crate::state::{export_buffers, import_buffers, OptimState};
use crate::{Optimizer, UpdateRule};

const OP: &str = "rmsprop";
const CACHE: &str = "cache";

/// Hyperparameters of [`RmsProp`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsPropConfig {
    /// Step size; finite and `>= 0`. Default `1e-2`.
    pub learning_rate: f64,
    /// Decay of the squared-gradient cache, in `[0, 1)`. Default `0.99`.
    pub decay_rate: f64,
    /// Smoothing term added to the root of the cache; finite and `> 0`.
    /// Default `1e-8`.
    pub epsilon: f64,
}

impl Default for RmsPropConfig {
    /// The `optim.py` defaults: `learning_rate = 1e-2`, `decay_rate = 0.99`,
    /// `epsilon = 1e-8`.
    fn default() -> Self {
        RmsPropConfig {
            learning_rate: 1e-2,
            decay_rate: 0.99,
            epsilon: 1e-8,
        }
    }
}

impl RmsPropConfig {
    /// Errors, naming the hyperparameter, if any value is out of range.
    pub fn validate(&self) -> Result<()> {
        check::learning_rate(OP, self.learning_rate)?;
        check::unit_interval(OP, "decay_rate", self.decay_rate)?;
        check::positive(OP, "epsilon", self.epsilon)
    }
}

/// RMSProp, per element:
/// `cache = decay_rate * cache + (1 - decay_rate) * dw²;
/// w = w - learning_rate * dw / (sqrt(cache) + epsilon)`,
/// with `cache` starting at zero for each parameter name.
///
/// ```
/// use gradtape_optim::{Optimizer, RmsProp, RmsPropConfig};
/// let mut opt = RmsProp::new(RmsPropConfig { learning_rate: 0.1, decay_rate: 0.75, epsilon: 1e-8 }).unwrap();
/// let mut w = [1.0];
/// opt.update("W", &mut w, &[2.0]).unwrap(); // cache = 0.25 * 4 = 1
/// assert!((w[0] - (1.0 - 0.1 * 2.0 / (1.0 + 1e-8))).abs() < 1e-15);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RmsProp {
    config: RmsPropConfig,
    state: BTreeMap<String, Vec<f64>>,
}

impl RmsProp {
    /// Validates `config` and builds the optimizer with no state yet.
    pub fn new(config: RmsPropConfig) -> Result<Self> {
        config.validate()?;
        Ok(RmsProp {
            config,
            state: BTreeMap::new(),
        })
    }

    /// The current hyperparameters (with the current learning rate).
    pub fn config(&self) -> &RmsPropConfig {
        &self.config
    }

    /// The squared-gradient cache of parameter `name`, if it has been updated.
    pub fn cache(&self, name: &str) -> Option<&[f64]> {
        self.state.get(name).map(|c| c.as_slice())
    }
}

impl Default for RmsProp {
    /// RMSProp with [`RmsPropConfig::default`].
    fn default() -> Self {
        RmsProp {
            config: RmsPropConfig::default(),
            state: BTreeMap::new(),
        }
    }
}

impl Optimizer for RmsProp {
    fn rule(&self) -> UpdateRule {
        UpdateRule::RmsProp
    }

    fn update(&mut self, name: &str, param: &mut [f64], grad: &[f64]) -> Result<()> {
        check::lengths(OP, name, param.len(), grad.len())?;
        let cache = check::slot(OP, &mut self.state, name, param.len())?;
        let RmsPropConfig {
            learning_rate: lr,
            decay_rate: d,
            epsilon: eps,
        } = self.config;
        let one_minus_d = 1.0 - d;
        // Same operation order as optim.py:
        //   cache = d * cache + (1 - d) * (dw**2)
        //   next_w = w - lr * dw / (np.sqrt(cache) + eps)
        for ((w, &dw), c) in param.iter_mut().zip(grad).zip(cache.iter_mut()) {
            *c = d * *c + one_minus_d * (dw * dw);
            *w -= lr * dw / (c.sqrt() + eps);
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
            rule: UpdateRule::RmsProp,
            learning_rate: self.config.learning_rate,
            hyperparameters: [
                ("decay_rate".to_owned(), self.config.decay_rate),
                ("epsilon".to_owned(), self.config.epsilon),
            ]
            .into(),
            params: export_buffers(&self.state, CACHE),
        }
    }

    fn import_state(&mut self, state: &OptimState) -> Result<()> {
        state.validate_layout(
            UpdateRule::RmsProp,
            &["decay_rate", "epsilon"],
            &[CACHE],
            false,
        )?;
        let config = RmsPropConfig {
            learning_rate: state.learning_rate,
            decay_rate: state.hyper("decay_rate"),
            epsilon: state.hyper("epsilon"),
        };
        config.validate()?;
        self.config = config;
        self.state = import_buffers(state, CACHE);
        Ok(())
    }
}
