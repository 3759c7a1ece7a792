//! gradtape-optim: the update rules of the CS231n Solver (`optim.py`), for
//! the parameters of a [`Tape`] or for any named `f64` slice.
//!
//! Every optimizer implements [`Optimizer`]. [`Optimizer::step`] updates
//! every parameter of a tape that has a gradient, keeping per-parameter state
//! (velocity, cache, Adam moments) keyed by the parameter's [`Var`];
//! [`Optimizer::update`] changes one named slice in place, keyed by the name,
//! exactly as the Solver keeps one config dict per parameter. Names are
//! optional for tape parameters ([`Optimizer::name_param`]): they label the
//! state in checkpoints. [`ParamGroup`]s give some parameters their own
//! learning rate and weight decay. The per-element arithmetic follows
//! `optim.py` operation by operation, so the results match the NumPy
//! reference up to the last bit (given the same `pow` from the C library).
//!
//! | rule            | type            | update                                              |
//! |-----------------|-----------------|-----------------------------------------------------|
//! | `sgd`           | [`Sgd`]         | `w -= lr * dw`                                      |
//! | `sgd_momentum`  | [`SgdMomentum`] | `v = momentum * v - lr * dw; w += v`                |
//! | `rmsprop`       | [`RmsProp`]     | `cache = d * cache + (1 - d) * dw²; w -= lr * dw / (√cache + eps)` |
//! | `adam`          | [`Adam`]        | bias-corrected Adam, optional decoupled weight decay (AdamW) |
//!
//! All four are one type, [`Optim`], over the rule's config; what they share
//! (state lookup, names, groups, learning-rate decay, export and import) is
//! written once there.
//!
//! All errors are [`gradtape_core::Error`] (re-exported as [`Error`]), mostly
//! [`Error::InvalidArgument`] whose `op` is the rule name.
//!
//! ```
//! use gradtape_optim::{build, Optimizer, UpdateRule};
//! let rule: UpdateRule = "adam".parse().unwrap();
//! let mut opt = build(rule, 1e-3).unwrap();
//! let mut w = vec![1.0, -2.0, 3.0];
//! opt.update("W1", &mut w, &[0.5, -0.5, 0.0]).unwrap();
//! // The first bias-corrected Adam step moves each weight by about lr * sign(dw).
//! assert!((w[0] - (1.0 - 1e-3)).abs() < 1e-10);
//! assert!((w[1] - (-2.0 + 1e-3)).abs() < 1e-10);
//! assert_eq!(w[2], 3.0);
//! opt.decay_learning_rate(0.95).unwrap(); // once per epoch, as the Solver does
//! assert!((opt.learning_rate() - 0.95e-3).abs() < 1e-18);
//! ```

#![warn(missing_docs)]

mod adam;
mod check;
mod group;
mod momentum;
mod optim;
mod rmsprop;
mod rule;
mod sgd;
mod state;

use std::fmt;
use std::str::FromStr;

pub use adam::{Adam, AdamConfig};
pub use gradtape_core::{Error, Result};
use gradtape_core::{Tape, Var};
pub use group::ParamGroup;
pub use momentum::{SgdMomentum, SgdMomentumConfig};
pub use optim::Optim;
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use sgd::{Sgd, SgdConfig};
pub use state::{OptimState, ParamState};

/// An update rule with its per-parameter state.
///
/// State is created (zero-filled) the first time a parameter is updated;
/// every later update of it allocates nothing. All loops are plain
/// elementwise loops: the same inputs give bit-for-bit the same outputs.
///
/// ```
/// use gradtape_core::{Tape, Tensor};
/// use gradtape_optim::{build, Optimizer, UpdateRule};
/// let mut tape = Tape::new();
/// let w = tape.param(Tensor::from_vec(vec![1.0, -1.0], &[2]).unwrap()).unwrap();
/// let mut opt = build(UpdateRule::SgdMomentum, 0.1).unwrap();
/// opt.name_param(w, "W1").unwrap();
/// let loss = tape.sum(w).unwrap(); // d loss / dw = 1
/// tape.backward(loss).unwrap();
/// opt.step(&mut tape).unwrap();
/// assert_eq!(tape.value(w).unwrap().data(), &[0.9, -1.1]);
/// assert_eq!(opt.export_state().params["W1"].buffer("velocity"), Some(&[-0.1, -0.1][..]));
/// ```
pub trait Optimizer: fmt::Debug {
    /// Which update rule this is.
    fn rule(&self) -> UpdateRule;

    /// Updates every parameter of `tape` that has a gradient (from the last
    /// [`Tape::backward`]; the tape keeps parameter gradients across
    /// [`Tape::reset`], so stepping twice without a backward applies the same
    /// gradient twice). State is keyed by the parameter's [`Var`].
    ///
    /// Errors, changing no parameter, if a parameter's state was made for a
    /// different size (a state imported under its name).
    fn step(&mut self, tape: &mut Tape) -> Result<()>;

    /// Back-propagates from `loss` and updates every parameter of `tape`
    /// the moment its gradient is final ([`Tape::backward_with`]), while the
    /// gradient is still warm in cache, instead of in a pass of its own
    /// after [`Tape::backward`]. The result is bit for bit that of
    /// `tape.backward(loss)` followed by [`Optimizer::step`]: the same
    /// per-element arithmetic, only run earlier.
    ///
    /// Errors, changing no parameter, if a parameter's state was made for a
    /// different size, or if backward refuses `loss` (not one element, or
    /// needing no gradient); both are checked before backward starts. With
    /// the tape's anomaly detection on, an anomaly also changes no
    /// parameter.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// use gradtape_optim::{Adam, Optimizer};
    /// let (mut during, mut after) = (Tape::new(), Tape::new());
    /// let w = during.param(Tensor::from_vec(vec![3.0, -2.0], &[2]).unwrap()).unwrap();
    /// let w2 = after.param(Tensor::from_vec(vec![3.0, -2.0], &[2]).unwrap()).unwrap();
    /// let (mut opt, mut opt2) = (Adam::default(), Adam::default());
    /// for _ in 0..3 {
    ///     during.reset();
    ///     let loss = during.sum_squares(w).unwrap();
    ///     opt.backward_step(&mut during, loss).unwrap(); // backward + Adam in one walk
    ///
    ///     after.reset();
    ///     let loss = after.sum_squares(w2).unwrap();
    ///     after.backward(loss).unwrap(); // the same in two passes
    ///     opt2.step(&mut after).unwrap();
    /// }
    /// assert_eq!(during.value(w).unwrap(), after.value(w2).unwrap());
    /// assert!(during.value(w).unwrap().data()[0] < 3.0); // moved against the gradient
    /// assert_eq!(during.grad(w).unwrap().len(), 2); // the gradient is still there
    /// ```
    fn backward_step(&mut self, tape: &mut Tape, loss: Var) -> Result<()>;

    /// Updates one named parameter in place from its gradient; per-parameter
    /// state is keyed by `name` (the state of the tape parameter called
    /// `name`, if one is) and created on first use.
    ///
    /// Errors (and leaves everything untouched) if `param` and `grad` differ
    /// in length, or if `name` already has state of a different length.
    fn update(&mut self, name: &str, param: &mut [f64], grad: &[f64]) -> Result<()>;

    /// Names a tape parameter, so that its state is exported and imported
    /// under `name` (a checkpoint's `adam.W1.m`). State already imported
    /// under `name` becomes the parameter's. Renaming is allowed; a name that
    /// belongs to another parameter is an error. Unnamed parameters are
    /// exported as `#<index on the tape>`.
    fn name_param(&mut self, param: Var, name: &str) -> Result<()>;

    /// Adds a parameter group (its learning rate and weight decay replace
    /// the optimizer's for its parameters) and returns its index. Errors if a
    /// value is out of range or a parameter is already in a group.
    fn add_group(&mut self, group: ParamGroup) -> Result<usize>;

    /// The parameter groups, in the order they were added (with their
    /// current, possibly decayed, learning rates).
    fn groups(&self) -> &[ParamGroup];

    /// The current learning rate (of parameters outside any group).
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate of parameters outside any group; errors if it
    /// is negative, NaN or infinite.
    fn set_learning_rate(&mut self, lr: f64) -> Result<()>;

    /// Multiplies the learning rate, and every group's, by `factor` (the
    /// Solver calls this once per epoch with `lr_decay`). Errors, changing
    /// nothing, if `factor` is negative, NaN or infinite, or if a product is
    /// not a valid learning rate.
    fn decay_learning_rate(&mut self, factor: f64) -> Result<()>;

    /// Forgets all per-parameter state (the next update of every parameter
    /// starts from zeros); hyperparameters, names, groups and the learning
    /// rate are kept.
    fn clear_state(&mut self);

    /// A snapshot of the hyperparameters (groups' as `group<i>.learning_rate`
    /// and `group<i>.weight_decay`) and of all per-parameter state, by name,
    /// for checkpoints.
    fn export_state(&self) -> OptimState;

    /// Replaces hyperparameters and per-parameter state with a snapshot made
    /// by [`Optimizer::export_state`] of the same rule, with as many groups.
    /// State goes to the tape parameter of that name if there is one, else
    /// waits under the name (for [`Optimizer::update`] or
    /// [`Optimizer::name_param`]).
    ///
    /// The snapshot is validated completely first (rule, hyperparameter names
    /// and values, buffer names and lengths, step counts); on error nothing
    /// changes.
    fn import_state(&mut self, state: &OptimState) -> Result<()>;
}

/// The update rules of the CS231n `optim.py`, named as the Solver names them.
///
/// ```
/// use gradtape_optim::UpdateRule;
/// assert_eq!("sgd_momentum".parse::<UpdateRule>().unwrap(), UpdateRule::SgdMomentum);
/// assert_eq!(UpdateRule::RmsProp.to_string(), "rmsprop");
/// let err = "adamw".parse::<UpdateRule>().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "update_rule: unknown update rule 'adamw'; expected one of sgd, sgd_momentum, rmsprop, adam"
/// );
/// ```
///
/// With the `serde` feature it is `Serialize` and `Deserialize` as its
/// name (`"adam"`), read through [`FromStr`] so an unknown name gets the
/// same error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "String", into = "&'static str")
)]
pub enum UpdateRule {
    /// Vanilla stochastic gradient descent, `"sgd"`.
    Sgd,
    /// SGD with momentum, `"sgd_momentum"`.
    SgdMomentum,
    /// RMSProp, `"rmsprop"`.
    RmsProp,
    /// Adam (with optional decoupled weight decay), `"adam"`.
    Adam,
}

impl UpdateRule {
    /// All rules, in the order `optim.py` defines them.
    pub const ALL: [UpdateRule; 4] = [
        UpdateRule::Sgd,
        UpdateRule::SgdMomentum,
        UpdateRule::RmsProp,
        UpdateRule::Adam,
    ];

    /// The name used by `optim.py` and accepted by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            UpdateRule::Sgd => "sgd",
            UpdateRule::SgdMomentum => "sgd_momentum",
            UpdateRule::RmsProp => "rmsprop",
            UpdateRule::Adam => "adam",
        }
    }
}

impl fmt::Display for UpdateRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for UpdateRule {
    type Err = Error;

    /// Parses an exact `optim.py` name; anything else is an error listing the
    /// valid names.
    fn from_str(s: &str) -> Result<Self> {
        UpdateRule::ALL
            .into_iter()
            .find(|rule| rule.name() == s)
            .ok_or_else(|| {
                let valid: Vec<&str> = UpdateRule::ALL.iter().map(|r| r.name()).collect();
                Error::invalid(
                    "update_rule",
                    format!(
                        "unknown update rule '{s}'; expected one of {}",
                        valid.join(", ")
                    ),
                )
            })
    }
}

impl TryFrom<String> for UpdateRule {
    type Error = Error;

    /// [`FromStr`] on an owned name.
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<UpdateRule> for &'static str {
    fn from(rule: UpdateRule) -> Self {
        rule.name()
    }
}

/// Builds the optimizer for `rule` with the given learning rate and the
/// `optim.py` defaults for every other hyperparameter, so a Solver can pick
/// the rule by name.
///
/// ```
/// use gradtape_optim::{build, Optimizer, UpdateRule};
/// let mut opt = build("sgd".parse().unwrap(), 0.1).unwrap();
/// let mut w = [1.0, 2.0];
/// opt.update("b", &mut w, &[1.0, -1.0]).unwrap();
/// assert_eq!(w, [0.9, 2.1]);
/// assert!(build(UpdateRule::Adam, -1.0).is_err());
/// ```
pub fn build(rule: UpdateRule, learning_rate: f64) -> Result<Box<dyn Optimizer + Send>> {
    Ok(match rule {
        UpdateRule::Sgd => Box::new(Sgd::new(SgdConfig { learning_rate })?),
        UpdateRule::SgdMomentum => Box::new(SgdMomentum::new(SgdMomentumConfig {
            learning_rate,
            ..SgdMomentumConfig::default()
        })?),
        UpdateRule::RmsProp => Box::new(RmsProp::new(RmsPropConfig {
            learning_rate,
            ..RmsPropConfig::default()
        })?),
        UpdateRule::Adam => Box::new(Adam::new(AdamConfig {
            learning_rate,
            ..AdamConfig::default()
        })?),
    })
}
