//! A fully connected layer, `x W + b`.

use gradtape_core::{Error, Mode, Result, Rng, Tape, Tensor, Var};

use crate::Layer;

/// `y = x W + b` for `x (N, in)` (or `(N, d1, ..., dk)`, flattened per row),
/// `W (in, out)`, `b (out,)`: the notebook's affine layer.
///
/// ```
/// use gradtape_core::{rng_from_seed, Mode, Tape, Tensor};
/// use gradtape_nn::Linear;
/// let mut tape = Tape::new();
/// let mut layer = Linear::new(&mut tape, 3, 2, 1e-2, &mut rng_from_seed(0)).unwrap();
/// let x = tape.input(Tensor::ones(&[5, 3]));
/// let y = layer.forward(&mut tape, x, Mode::Train).unwrap();
/// assert_eq!(tape.value(y).unwrap().dims(), &[5, 2]);
/// assert_eq!(tape.value(layer.bias()).unwrap().data(), &[0.0, 0.0]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    weight: Var,
    bias: Var,
}

impl Linear {
    /// Adds `W ~ N(0, weight_scale^2)` (drawn from `rng`, row-major) and
    /// `b = 0` to `tape` as parameters, in that order. Errors if a dimension
    /// is 0 or `weight_scale` is negative or not finite.
    pub fn new(
        tape: &mut Tape,
        in_dim: usize,
        out_dim: usize,
        weight_scale: f64,
        rng: &mut Rng,
    ) -> Result<Self> {
        const OP: &str = "Linear";
        if in_dim == 0 || out_dim == 0 {
            return Err(Error::invalid(
                OP,
                format!("in_dim {in_dim} and out_dim {out_dim} must be positive"),
            ));
        }
        if !(weight_scale >= 0.0 && weight_scale.is_finite()) {
            return Err(Error::invalid(
                OP,
                format!("weight_scale {weight_scale} must be finite and >= 0"),
            ));
        }
        let w = Tensor::randn(&[in_dim, out_dim], rng).map(|v| v * weight_scale);
        let weight = tape.param(w)?;
        let bias = tape.param(Tensor::zeros(&[out_dim]))?;
        Ok(Linear { weight, bias })
    }

    /// The weight matrix `W (in, out)`.
    pub fn weight(&self) -> Var {
        self.weight
    }

    /// The bias `b (out,)`.
    pub fn bias(&self) -> Var {
        self.bias
    }

    /// `x W + b`; the same in both modes.
    pub fn forward(&mut self, tape: &mut Tape, x: Var, _mode: Mode) -> Result<Var> {
        tape.affine(x, self.weight, self.bias)
    }
}

impl Layer for Linear {
    fn forward(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Result<Var> {
        Linear::forward(self, tape, x, mode)
    }

    fn params(&self) -> Vec<(&'static str, Var)> {
        vec![("W", self.weight), ("b", self.bias)]
    }
}
