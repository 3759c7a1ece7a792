//! [`Rule`]: what distinguishes one update rule from another (its
//! hyperparameters, its per-parameter state and its per-element update).
//! Everything the four rules share (learning rate, state lookup, names,
//! parameter groups, export and import) lives once in [`crate::Optim`].

use std::fmt;

use gradtape_core::{GradFill, Result};

use crate::state::{OptimState, ParamState};
use crate::UpdateRule;

/// One update rule's hyperparameters (its config struct) and arithmetic.
///
/// The trait is public only so that [`crate::Optim`] can name it; it lives in
/// a private module, so no type outside this crate implements it.
pub trait Rule: Clone + fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The state kept per parameter (nothing, a buffer, Adam's moments).
    type State: Clone + fmt::Debug + PartialEq + Send;

    /// Which rule this is.
    const RULE: UpdateRule;
    /// The names of the per-parameter buffers in a snapshot (empty: the rule
    /// keeps no per-parameter state and exports none).
    const BUFFERS: &'static [&'static str];
    /// Whether the snapshot's per-parameter `step` is meaningful.
    const COUNTS_STEPS: bool;

    /// Errors, naming the hyperparameter, if any value is out of range.
    fn validate(&self) -> Result<()>;
    /// The learning rate.
    fn learning_rate(&self) -> f64;
    /// The learning rate, to set it (after validation).
    fn learning_rate_mut(&mut self) -> &mut f64;
    /// The decoupled weight decay of parameters outside any group (only
    /// Adam's config has one).
    fn weight_decay(&self) -> f64 {
        0.0
    }
    /// Every hyperparameter but the learning rate, by its `optim.py` name.
    fn hyperparameters(&self) -> Vec<(&'static str, f64)>;
    /// The config from a snapshot whose layout has been validated (every
    /// name of [`Rule::hyperparameters`] is present); not yet range-checked.
    fn from_snapshot(state: &OptimState) -> Self;

    /// Fresh zero state for a parameter of `len` elements.
    fn zeros(len: usize) -> Self::State;
    /// How many parameter elements `state` covers (`None`: any).
    fn state_len(state: &Self::State) -> Option<usize>;
    /// `state` as a snapshot entry.
    fn export(state: &Self::State) -> ParamState;
    /// The inverse of [`Rule::export`], for a validated entry.
    fn import(p: &ParamState) -> Self::State;

    /// Updates `w` in place from `g` (same length as `w` and the state) with
    /// learning rate `lr` and decoupled weight decay `weight_decay`.
    fn apply(&self, lr: f64, weight_decay: f64, w: &mut [f64], g: &[f64], s: &mut Self::State);

    /// [`Rule::apply`] with a gradient that `fill` computes into `g` first.
    /// A rule may instead fill and update a part at a time, while each part
    /// is in cache, as long as the result is `apply`'s bit for bit; the
    /// default fills all of it, then applies.
    fn apply_filling(
        &self,
        lr: f64,
        weight_decay: f64,
        w: &mut [f64],
        g: &mut [f64],
        s: &mut Self::State,
        fill: &GradFill<'_>,
    ) {
        fill.fill_all(g);
        self.apply(lr, weight_decay, w, g, s);
    }
}

/// Decoupled weight decay, `w *= 1 - lr * weight_decay`, for the rules that
/// do not fuse it into their own pass; nothing when `weight_decay` is 0.
pub(crate) fn shrink(w: &mut [f64], lr: f64, weight_decay: f64) {
    if weight_decay > 0.0 {
        let keep = 1.0 - lr * weight_decay;
        w.iter_mut().for_each(|w| *w *= keep);
    }
}

/// A snapshot entry holding one buffer and no step count.
pub(crate) fn export_buffer(name: &str, b: &[f64]) -> ParamState {
    ParamState {
        step: 0,
        buffers: [(name.to_owned(), b.to_vec())].into(),
    }
}
