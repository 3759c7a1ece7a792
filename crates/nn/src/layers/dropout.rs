//! Inverted dropout with its own random stream.

use gradtape_core::{Error, Mode, Result, Rng, Tape, Var};

use crate::Layer;

/// Inverted dropout that keeps each unit with probability `keep` in
/// [`Mode::Train`] and is the identity in [`Mode::Test`] (and when
/// `keep == 1`). It owns its random stream: the masks of successive calls
/// are successive draws from it, so one `Dropout` applied after several
/// layers draws their masks in call order.
///
/// ```
/// use gradtape_core::{rng_from_seed, Mode, Tape, Tensor};
/// use gradtape_nn::Dropout;
/// let mut tape = Tape::new();
/// let mut dropout = Dropout::new(0.5, rng_from_seed(0)).unwrap();
/// let x = tape.input(Tensor::ones(&[50, 40]));
/// let y = dropout.forward(&mut tape, x, Mode::Train).unwrap();
/// let zeros = tape.value(y).unwrap().data().iter().filter(|&&v| v == 0.0).count();
/// assert!((zeros as f64 / 2000.0 - 0.5).abs() < 0.05);
/// assert_eq!(dropout.forward(&mut tape, x, Mode::Test).unwrap(), x);
/// assert!(Dropout::new(0.0, rng_from_seed(0)).is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Dropout {
    keep: f64,
    rng: Rng,
}

impl Dropout {
    /// Dropout keeping each unit with probability `keep` in (0, 1], masks
    /// drawn from `rng`.
    pub fn new(keep: f64, rng: Rng) -> Result<Self> {
        if !(keep > 0.0 && keep <= 1.0) {
            return Err(Error::invalid(
                "Dropout",
                format!("keep probability {keep} is outside (0, 1]"),
            ));
        }
        Ok(Dropout { keep, rng })
    }

    /// The keep probability.
    pub fn keep(&self) -> f64 {
        self.keep
    }

    /// The random stream as it stands (for an exact resume).
    pub fn rng(&self) -> &Rng {
        &self.rng
    }

    /// Continues from another random stream.
    pub fn set_rng(&mut self, rng: Rng) {
        self.rng = rng;
    }

    /// Records dropout of `x` on `tape`.
    pub fn forward(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Result<Var> {
        tape.dropout(x, self.keep, mode, &mut self.rng)
    }
}

impl Layer for Dropout {
    fn forward(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Result<Var> {
        Dropout::forward(self, tape, x, mode)
    }

    fn params(&self) -> Vec<(&'static str, Var)> {
        Vec::new()
    }
}
