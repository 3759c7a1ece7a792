//! Hyperparameter validation and the per-parameter state lookup shared by
//! all optimizers. Every error names the optimizer (`op`) and the offending
//! hyperparameter or parameter.

use std::collections::BTreeMap;

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

/// The state of one parameter: knows its length and how to start from zeros.
pub(crate) trait Slot {
    /// A fresh zero state for a parameter of `len` elements.
    fn zeros(len: usize) -> Self;
    /// The number of parameter elements this state covers.
    fn len(&self) -> usize;
}

/// A single buffer per parameter (momentum's velocity, RMSProp's cache).
impl Slot for Vec<f64> {
    fn zeros(len: usize) -> Self {
        vec![0.0; len]
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }
}

/// The state for `name`, created (zero-filled, `len` elements) on first use.
///
/// Only the first call for a name allocates (the key and the buffers); later
/// calls look the name up by `&str`. Errors if the existing state has a
/// different length than `len`.
#[allow(clippy::map_entry)] // `entry` would allocate the key on every call
pub(crate) fn slot<'a, S: Slot>(
    op: &'static str,
    map: &'a mut BTreeMap<String, S>,
    name: &str,
    len: usize,
) -> Result<&'a mut S> {
    // `entry` would need an owned key on every call; check first so only
    // the first update of a name allocates.
    if !map.contains_key(name) {
        map.insert(name.to_owned(), S::zeros(len));
    }
    let state = map
        .get_mut(name)
        .expect("state was inserted just above if missing");
    if state.len() != len {
        return Err(Error::invalid(
            op,
            format!(
                "parameter '{name}' has {len} elements but its optimizer state has {} \
                 (was it first updated with a different size?)",
                state.len()
            ),
        ));
    }
    Ok(state)
}
