//! What a Solver needs from a model, and a snapshot of a model's state.

use crate::{Misfit, NetLayout};
use gradtape_core::{BatchNormStats, Result, Rng, Tensor};
use gradtape_optim::Optimizer;

/// A copy of everything a trained net carries: its parameters by name and
/// its batchnorm running statistics, one per batchnorm layer.
#[derive(Clone, Debug, PartialEq)]
pub struct NetState {
    /// `(name, value)` in the net's parameter order.
    pub params: Vec<(String, Tensor)>,
    /// Running statistics of each batchnorm layer, input side first.
    pub batchnorm: Vec<BatchNormStats>,
}

/// What [`Model::update_params`] calls per parameter: `(name, value, grad)`.
pub type ParamUpdate<'a> = dyn FnMut(&str, &mut [f64], &[f64]) -> Result<()> + 'a;

/// A classifier a Solver can train: a training loss with gradients, test-time
/// scores, parameter updates, and snapshots.
pub trait Model {
    /// Runs the net in train mode on a batch and back-propagates; returns the
    /// loss. The gradients are then visible to [`Model::update_params`].
    fn train_loss(&mut self, x: &Tensor, y: &[usize]) -> Result<f64>;

    /// Class scores `(N, C)` in test mode (no gradients recorded).
    fn scores(&mut self, x: &Tensor) -> Result<Tensor>;

    /// Calls `f(name, value, grad)` for every parameter, with the gradient of
    /// the last [`Model::train_loss`].
    fn update_params(&mut self, f: &mut ParamUpdate<'_>) -> Result<()>;

    /// Updates every parameter with `opt` from the gradient of the last
    /// [`Model::train_loss`] (what a Solver calls once per iteration). The
    /// default goes through [`Model::update_params`], keying the optimizer's
    /// state by parameter name; a model on a tape steps the tape instead
    /// ([`Optimizer::step`]), naming its parameters for checkpoints.
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        self.update_params(&mut |name, w, g| opt.update(name, w, g))
    }

    /// One training iteration, as a Solver runs it: the forward pass on a
    /// batch, then, if the loss is finite, the backward pass with `opt`
    /// updating every parameter the moment its gradient is final
    /// ([`Optimizer::backward_step`]). Returns the loss. A non-finite loss
    /// is returned with no backward run and no parameter changed, for the
    /// caller to stop on; an optimizer error also changes no parameter.
    ///
    /// Bit for bit the same as [`Model::train_loss`] followed by
    /// [`Model::step`], which is what the default does.
    fn train_step(&mut self, x: &Tensor, y: &[usize], opt: &mut dyn Optimizer) -> Result<f64> {
        let loss = self.train_loss(x, y)?;
        if loss.is_finite() {
            self.step(opt)?;
        }
        Ok(loss)
    }

    /// A copy of the parameters and running statistics.
    fn snapshot(&self) -> NetState;

    /// Checks, changing nothing, that `state` fits the model: the same
    /// parameter names in the same order with the same shapes, and as many
    /// batchnorm layers with statistics of the same shapes (what
    /// [`Model::restore`] checks first). The default compares with the
    /// model's own [`Model::snapshot`] through [`NetLayout::of`].
    ///
    /// ```
    /// use gradtape_nn::{FcConfig, FullyConnectedNet, Model};
    /// let net = FullyConnectedNet::new(FcConfig::default()).unwrap();
    /// let other = FullyConnectedNet::new(FcConfig { hidden_dims: vec![50], ..FcConfig::default() }).unwrap();
    /// assert!(net.check_state(&net.snapshot()).is_ok());
    /// assert!(net.check_state(&other.snapshot()).is_err());
    /// ```
    fn check_state(&self, state: &NetState) -> std::result::Result<(), Misfit> {
        NetLayout::of(&self.snapshot()).check(state)
    }

    /// Puts a snapshot back; checks every name and shape before changing
    /// anything.
    fn restore(&mut self, state: &NetState) -> Result<()>;

    /// The model's own random stream (dropout masks), for an exact resume;
    /// `None` (the default) for a model that draws no random numbers.
    fn rng_state(&self) -> Option<Rng> {
        None
    }

    /// Continues the model's random stream from a state given by
    /// [`Model::rng_state`]. The default does nothing.
    fn set_rng_state(&mut self, _rng: Rng) {}

    /// Turns the tape's anomaly detection on or off: with it on, the first
    /// op whose value or gradient is NaN or infinite fails with
    /// [`gradtape_core::Error::NonFinite`] naming the op. The default does
    /// nothing (a model without a tape).
    fn set_detect_anomaly(&mut self, _on: bool) {}
}
