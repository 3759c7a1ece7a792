//! SGD with momentum, `optim.py`'s `sgd_momentum`.

use gradtape_core::Result;

use crate::rule::{export_buffer, shrink, Rule};
use crate::state::{OptimState, ParamState};
use crate::{check, Optim, UpdateRule};

const OP: &str = "sgd_momentum";
const VELOCITY: &str = "velocity";

/// Hyperparameters of [`SgdMomentum`].
///
/// ```
/// use gradtape_optim::SgdMomentumConfig;
/// assert_eq!(SgdMomentumConfig::default().momentum, 0.9);
/// assert!(SgdMomentumConfig { momentum: 1.0, ..Default::default() }.validate().is_err());
/// ```
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
/// zero for each parameter.
///
/// ```
/// use gradtape_optim::{Optimizer, SgdMomentum, SgdMomentumConfig};
/// let mut opt = SgdMomentum::new(SgdMomentumConfig { learning_rate: 0.5, momentum: 0.5 }).unwrap();
/// let mut w = [0.0];
/// opt.update("W", &mut w, &[1.0]).unwrap(); // v = -0.5
/// opt.update("W", &mut w, &[1.0]).unwrap(); // v = 0.5 * -0.5 - 0.5 = -0.75
/// assert_eq!(w, [-1.25]);
/// assert_eq!(opt.velocity("W"), Some(&[-0.75][..]));
/// ```
pub type SgdMomentum = Optim<SgdMomentumConfig>;

impl SgdMomentum {
    /// The velocity of parameter `name`, if it has been updated.
    pub fn velocity(&self, name: &str) -> Option<&[f64]> {
        self.state_by_name(name).map(Vec::as_slice)
    }
}

impl Rule for SgdMomentumConfig {
    type State = Vec<f64>;
    const RULE: UpdateRule = UpdateRule::SgdMomentum;
    const BUFFERS: &'static [&'static str] = &[VELOCITY];
    const COUNTS_STEPS: bool = false;

    fn validate(&self) -> Result<()> {
        SgdMomentumConfig::validate(self)
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    fn learning_rate_mut(&mut self) -> &mut f64 {
        &mut self.learning_rate
    }

    fn hyperparameters(&self) -> Vec<(&'static str, f64)> {
        vec![("momentum", self.momentum)]
    }

    fn from_snapshot(state: &OptimState) -> Self {
        SgdMomentumConfig {
            learning_rate: state.learning_rate,
            momentum: state.hyper("momentum"),
        }
    }

    fn zeros(len: usize) -> Vec<f64> {
        vec![0.0; len]
    }

    fn state_len(v: &Vec<f64>) -> Option<usize> {
        Some(v.len())
    }

    fn export(v: &Vec<f64>) -> ParamState {
        export_buffer(VELOCITY, v)
    }

    fn import(p: &ParamState) -> Vec<f64> {
        p.buffers[VELOCITY].clone()
    }

    fn apply(&self, lr: f64, weight_decay: f64, w: &mut [f64], g: &[f64], v: &mut Vec<f64>) {
        shrink(w, lr, weight_decay);
        let mu = self.momentum;
        for ((w, &dw), v) in w.iter_mut().zip(g).zip(v.iter_mut()) {
            *v = mu * *v - lr * dw;
            *w += *v;
        }
    }
}
