//! RMSProp, `optim.py`'s `rmsprop`.

use gradtape_core::Result;

use crate::rule::{export_buffer, shrink, Rule};
use crate::state::{OptimState, ParamState};
use crate::{check, Optim, UpdateRule};

const OP: &str = "rmsprop";
const CACHE: &str = "cache";

/// Hyperparameters of [`RmsProp`].
///
/// ```
/// use gradtape_optim::RmsPropConfig;
/// assert_eq!(RmsPropConfig::default().decay_rate, 0.99);
/// assert!(RmsPropConfig { epsilon: 0.0, ..Default::default() }.validate().is_err());
/// ```
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
/// with `cache` starting at zero for each parameter.
///
/// ```
/// use gradtape_optim::{Optimizer, RmsProp, RmsPropConfig};
/// let mut opt = RmsProp::new(RmsPropConfig { learning_rate: 0.1, decay_rate: 0.75, epsilon: 1e-8 }).unwrap();
/// let mut w = [1.0];
/// opt.update("W", &mut w, &[2.0]).unwrap(); // cache = 0.25 * 4 = 1
/// assert!((w[0] - (1.0 - 0.1 * 2.0 / (1.0 + 1e-8))).abs() < 1e-15);
/// assert_eq!(opt.cache("W"), Some(&[1.0][..]));
/// ```
pub type RmsProp = Optim<RmsPropConfig>;

impl RmsProp {
    /// The squared-gradient cache of parameter `name`, if it has been updated.
    pub fn cache(&self, name: &str) -> Option<&[f64]> {
        self.state_by_name(name).map(Vec::as_slice)
    }
}

impl Rule for RmsPropConfig {
    type State = Vec<f64>;
    const RULE: UpdateRule = UpdateRule::RmsProp;
    const BUFFERS: &'static [&'static str] = &[CACHE];
    const COUNTS_STEPS: bool = false;

    fn validate(&self) -> Result<()> {
        RmsPropConfig::validate(self)
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    fn learning_rate_mut(&mut self) -> &mut f64 {
        &mut self.learning_rate
    }

    fn hyperparameters(&self) -> Vec<(&'static str, f64)> {
        vec![("decay_rate", self.decay_rate), ("epsilon", self.epsilon)]
    }

    fn from_snapshot(state: &OptimState) -> Self {
        RmsPropConfig {
            learning_rate: state.learning_rate,
            decay_rate: state.hyper("decay_rate"),
            epsilon: state.hyper("epsilon"),
        }
    }

    fn zeros(len: usize) -> Vec<f64> {
        vec![0.0; len]
    }

    fn state_len(c: &Vec<f64>) -> Option<usize> {
        Some(c.len())
    }

    fn export(c: &Vec<f64>) -> ParamState {
        export_buffer(CACHE, c)
    }

    fn import(p: &ParamState) -> Vec<f64> {
        p.buffers[CACHE].clone()
    }

    fn apply(&self, lr: f64, weight_decay: f64, w: &mut [f64], g: &[f64], cache: &mut Vec<f64>) {
        shrink(w, lr, weight_decay);
        let (d, eps) = (self.decay_rate, self.epsilon);
        let one_minus_d = 1.0 - d;
        // Same operation order as optim.py:
        //   cache = d * cache + (1 - d) * (dw**2)
        //   next_w = w - lr * dw / (np.sqrt(cache) + eps)
        for ((w, &dw), c) in w.iter_mut().zip(g).zip(cache.iter_mut()) {
            *c = d * *c + one_minus_d * (dw * dw);
            *w -= lr * dw / (c.sqrt() + eps);
        }
    }
}
