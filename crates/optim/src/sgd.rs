//! Vanilla stochastic gradient descent, `optim.py`'s `sgd`.

use gradtape_core::Result;

use crate::rule::{shrink, Rule};
use crate::state::{OptimState, ParamState};
use crate::{check, Optim, UpdateRule};

const OP: &str = "sgd";

/// Hyperparameters of [`Sgd`].
///
/// ```
/// use gradtape_optim::SgdConfig;
/// assert_eq!(SgdConfig::default().learning_rate, 1e-2);
/// assert!(SgdConfig { learning_rate: -1.0 }.validate().is_err());
/// ```
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
pub type Sgd = Optim<SgdConfig>;

impl Rule for SgdConfig {
    type State = ();
    const RULE: UpdateRule = UpdateRule::Sgd;
    const BUFFERS: &'static [&'static str] = &[];
    const COUNTS_STEPS: bool = false;

    fn validate(&self) -> Result<()> {
        SgdConfig::validate(self)
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    fn learning_rate_mut(&mut self) -> &mut f64 {
        &mut self.learning_rate
    }

    fn hyperparameters(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }

    fn from_snapshot(state: &OptimState) -> Self {
        SgdConfig {
            learning_rate: state.learning_rate,
        }
    }

    fn zeros(_: usize) -> Self::State {}

    fn state_len(_: &Self::State) -> Option<usize> {
        None
    }

    fn export(_: &Self::State) -> ParamState {
        ParamState::default()
    }

    fn import(_: &ParamState) -> Self::State {}

    fn apply(&self, lr: f64, weight_decay: f64, w: &mut [f64], g: &[f64], _: &mut ()) {
        shrink(w, lr, weight_decay);
        for (w, &dw) in w.iter_mut().zip(g) {
            *w -= lr * dw;
        }
    }
}
