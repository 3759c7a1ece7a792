//! Hyperparameter validation shared by all optimizers. Every error names the
//! optimizer (`op`) and the offending hyperparameter or parameter.

use gradtape_core::{Error, Result};

/// A learning rate: finite and `>= 0`.
pub(crate) fn learning_rate(op: &'static str, lr: f64) -> Result<()> {
    non_negative(op, "learning_rate", lr)
}

/// Finite and `>= 0` (learning rate, weight decay, decay factor).
pub(crate) fn non_negative(op: &'static str, what: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            op,
            format!("{what} must be finite and >= 0, got {value}"),
        ))
    }
}

/// In `[0, 1)` (momentum, decay rate, betas). NaN fails.
pub(crate) fn unit_interval(op: &'static str, what: &str, value: f64) -> Result<()> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(Error::invalid(
            op,
            format!("{what} must be in [0, 1), got {value}"),
        ))
    }
}

/// Finite and `> 0` (epsilon).
pub(crate) fn positive(op: &'static str, what: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            op,
            format!("{what} must be finite and > 0, got {value}"),
        ))
    }
}

/// `param` and `grad` must have the same length.
pub(crate) fn lengths(op: &'static str, name: &str, param: usize, grad: usize) -> Result<()> {
    if param == grad {
        Ok(())
    } else {
        Err(Error::invalid(
            op,
            format!("parameter '{name}' has {param} elements but its gradient has {grad}"),
        ))
    }
}
