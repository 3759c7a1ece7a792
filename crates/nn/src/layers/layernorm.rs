//! Layer normalisation.

use gradtape_core::{Error, Mode, Result, Tape, Tensor, Var};

use crate::Layer;

/// Layernorm with the course's convention: each row of `x (N, D)` is
/// normalised over its `D` features, then scaled by `gamma` (starts at 1)
/// and shifted by `beta` (at 0). Train and test modes are the same, so it
/// keeps no running statistics.
///
/// ```
/// use gradtape_core::{Mode, Tape, Tensor};
/// use gradtape_nn::LayerNorm;
/// let mut tape = Tape::new();
/// let mut ln = LayerNorm::new(&mut tape, 2).unwrap();
/// let x = tape.input(Tensor::from_vec(vec![1.0, 3.0, 10.0, 30.0], &[2, 2]).unwrap());
/// let y = ln.forward(&mut tape, x, Mode::Test).unwrap();
/// let y = tape.value(y).unwrap().data();
/// assert!((y[0] + 1.0).abs() < 1e-4 && (y[3] - 1.0).abs() < 1e-4);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm {
    gamma: Var,
    beta: Var,
    eps: f64,
}

impl LayerNorm {
    /// Adds `gamma = 1` and `beta = 0` of `dim` features to `tape` as
    /// parameters, in that order; eps 1e-5, the course's default. Errors if
    /// `dim` is 0.
    pub fn new(tape: &mut Tape, dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::invalid("LayerNorm", "dim must be positive"));
        }
        let gamma = tape.param(Tensor::ones(&[dim]))?;
        let beta = tape.param(Tensor::zeros(&[dim]))?;
        Ok(LayerNorm {
            gamma,
            beta,
            eps: 1e-5,
        })
    }

    /// The scale `gamma (D,)`.
    pub fn gamma(&self) -> Var {
        self.gamma
    }

    /// The shift `beta (D,)`.
    pub fn beta(&self) -> Var {
        self.beta
    }

    /// Added to each row's variance before the square root.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// Records the normalisation of `x` on `tape` (`mode` changes nothing).
    pub fn forward(&mut self, tape: &mut Tape, x: Var, _mode: Mode) -> Result<Var> {
        tape.layernorm(x, self.gamma, self.beta, self.eps)
    }
}

impl Layer for LayerNorm {
    fn forward(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Result<Var> {
        LayerNorm::forward(self, tape, x, mode)
    }

    fn params(&self) -> Vec<(&'static str, Var)> {
        vec![("gamma", self.gamma), ("beta", self.beta)]
    }
}
