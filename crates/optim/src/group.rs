//! [`ParamGroup`]: tape parameters that share a learning rate and a weight
//! decay of their own.

use gradtape_core::{Result, Var};

use crate::check;

/// Parameters stepped with their own learning rate and decoupled weight
/// decay (`w *= 1 - learning_rate * weight_decay` before the rule's step),
/// instead of the optimizer's. Learning-rate decay scales a group's rate
/// with the optimizer's.
///
/// ```
/// use gradtape_core::{Tape, Tensor};
/// use gradtape_optim::{Optimizer, ParamGroup, Sgd, SgdConfig};
/// let mut tape = Tape::new();
/// let w = tape.param(Tensor::ones(&[2])).unwrap();
/// let b = tape.param(Tensor::ones(&[2])).unwrap();
/// let mut opt = Sgd::new(SgdConfig { learning_rate: 0.1 }).unwrap();
/// opt.add_group(ParamGroup { params: vec![b], learning_rate: 0.5, weight_decay: 0.0 }).unwrap();
/// let y = tape.add(w, b).unwrap();
/// let loss = tape.sum(y).unwrap();
/// tape.backward(loss).unwrap();
/// opt.step(&mut tape).unwrap();
/// assert_eq!(tape.value(w).unwrap().data(), &[0.9, 0.9]);
/// assert_eq!(tape.value(b).unwrap().data(), &[0.5, 0.5]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ParamGroup {
    /// The group's parameters; a parameter belongs to at most one group.
    pub params: Vec<Var>,
    /// The group's step size; finite and `>= 0`.
    pub learning_rate: f64,
    /// The group's decoupled weight decay; finite and `>= 0`.
    pub weight_decay: f64,
}

impl ParamGroup {
    /// Errors, naming the field and the rule `op`, if a value is out of range.
    pub(crate) fn validate(&self, op: &'static str) -> Result<()> {
        check::learning_rate(op, self.learning_rate)?;
        check::non_negative(op, "weight_decay", self.weight_decay)
    }
}
