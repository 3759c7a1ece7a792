//! The layer kit: small structs that own their parameters (on a [`Tape`])
//! and their state, each with `forward(&mut Tape, x, mode)`.
//! [`crate::FullyConnectedNet`] is one composition of them.

mod batchnorm;
mod dropout;
mod layernorm;
mod linear;

pub use batchnorm::BatchNorm;
pub use dropout::Dropout;
pub use layernorm::LayerNorm;
pub use linear::Linear;

use gradtape_core::{Mode, Result, Tape, Var};

/// A layer: a forward pass recorded on a tape, and the parameters it owns.
///
/// ```
/// use gradtape_core::{rng_from_seed, Mode, Tape, Tensor};
/// use gradtape_nn::{Dropout, Layer, Linear};
/// let mut tape = Tape::new();
/// let mut rng = rng_from_seed(0);
/// let mut layers: Vec<Box<dyn Layer>> = vec![
///     Box::new(Linear::new(&mut tape, 4, 3, 0.1, &mut rng).unwrap()),
///     Box::new(Dropout::new(0.5, rng_from_seed(1)).unwrap()),
/// ];
/// let mut h = tape.input(Tensor::ones(&[2, 4]));
/// for layer in &mut layers {
///     h = layer.forward(&mut tape, h, Mode::Train).unwrap();
/// }
/// assert_eq!(tape.value(h).unwrap().dims(), &[2, 3]);
/// assert_eq!(layers[0].params().len(), 2); // W and b
/// ```
pub trait Layer {
    /// Records the layer's forward pass on `tape` and returns its output.
    fn forward(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Result<Var>;

    /// The layer's parameters with their role (`"W"`, `"b"`, `"gamma"`,
    /// `"beta"`), in creation order; empty for a layer without any.
    fn params(&self) -> Vec<(&'static str, Var)>;
}
