//! Batch normalisation with its running statistics.

use gradtape_core::{BatchNormStats, Error, Mode, Result, Tape, Tensor, Var};

use crate::Layer;

/// Batchnorm over the columns of `x (N, D)`: batch statistics in
/// [`Mode::Train`] (updating the running ones it owns), running statistics
/// in [`Mode::Test`]; scale `gamma` (starts at 1) and shift `beta` (at 0).
///
/// ```
/// use gradtape_core::{Mode, Tape, Tensor};
/// use gradtape_nn::BatchNorm;
/// let mut tape = Tape::new();
/// let mut bn = BatchNorm::new(&mut tape, 2).unwrap();
/// let x = tape.input(Tensor::from_vec(vec![1.0, 10.0, 3.0, 30.0], &[2, 2]).unwrap());
/// let y = bn.forward(&mut tape, x, Mode::Train).unwrap();
/// let y = tape.value(y).unwrap().data();
/// assert!((y[0] + 1.0).abs() < 1e-4 && (y[3] - 1.0).abs() < 1e-4);
/// let running = bn.stats().running_mean.data(); // 0.9 * 0 + 0.1 * mean
/// assert!((running[0] - 0.2).abs() < 1e-12 && (running[1] - 2.0).abs() < 1e-12);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    gamma: Var,
    beta: Var,
    stats: BatchNormStats,
}

impl BatchNorm {
    /// Adds `gamma = 1` and `beta = 0` of `dim` features to `tape` as
    /// parameters, in that order, with zeroed running statistics (momentum
    /// 0.9, eps 1e-5, the course's defaults). Errors if `dim` is 0.
    pub fn new(tape: &mut Tape, dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::invalid("BatchNorm", "dim must be positive"));
        }
        let gamma = tape.param(Tensor::ones(&[dim]))?;
        let beta = tape.param(Tensor::zeros(&[dim]))?;
        Ok(BatchNorm {
            gamma,
            beta,
            stats: BatchNormStats::new(dim),
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

    /// The running statistics.
    pub fn stats(&self) -> &BatchNormStats {
        &self.stats
    }

    /// The running statistics, to load them.
    pub fn stats_mut(&mut self) -> &mut BatchNormStats {
        &mut self.stats
    }

    /// Records the normalisation of `x` on `tape`.
    pub fn forward(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Result<Var> {
        tape.batchnorm(x, self.gamma, self.beta, mode, &mut self.stats)
    }
}

impl Layer for BatchNorm {
    fn forward(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Result<Var> {
        BatchNorm::forward(self, tape, x, mode)
    }

    fn params(&self) -> Vec<(&'static str, Var)> {
        vec![("gamma", self.gamma), ("beta", self.beta)]
    }
}
