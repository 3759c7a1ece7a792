//! What a Solver needs from a model, and a snapshot of a model's state.

use gradtape_core::{BatchNormStats, Result, Tensor};

/// A copy of everything a trained net carries: its parameters by name and
/// its batchnorm running statistics, one per batchnorm layer.
#[derive(Clone, Debug, PartialEq)]
pub struct NetState {
    /// `(name, value)` in the net's parameter order.
    pub params: Vec<(String, Tensor)>,
    /// Running statistics of each batchnorm layer, input side first.
    pub batchnorm: Vec<BatchNormStats>,
}

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
    fn update_params(
        &mut self,
        f: &mut dyn FnMut(&str, &mut [f64], &[f64]) -> Result<()>,
    ) -> Result<()>;

    /// A copy of the parameters and running statistics.
    fn snapshot(&self) -> NetState;

    /// Puts a snapshot back; checks every name and shape before changing
    /// anything.
    fn restore(&mut self, state: &NetState) -> Result<()>;
}
