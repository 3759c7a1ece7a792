//! [`OptimState`]: a plain-data snapshot of an optimizer (hyperparameters and
//! per-parameter buffers) for checkpoints, with the structural validation
//! every [`crate::Optimizer::import_state`] runs before changing anything.

use std::collections::BTreeMap;

use gradtape_core::{Error, Result};

use crate::UpdateRule;

/// Everything an optimizer needs to continue exactly where it stopped.
///
/// Buffer and hyperparameter names follow `optim.py`'s config keys:
///
/// | rule           | `hyperparameters`                          | buffers per parameter | `step` |
/// |----------------|--------------------------------------------|-----------------------|--------|
/// | `sgd`          | (none)                                     | (no parameters kept)  | 0      |
/// | `sgd_momentum` | `momentum`                                 | `velocity`            | 0      |
/// | `rmsprop`      | `decay_rate`, `epsilon`                    | `cache`               | 0      |
/// | `adam`         | `beta1`, `beta2`, `epsilon`, `weight_decay` | `m`, `v`             | `t`    |
///
/// ```
/// use gradtape_optim::{Adam, Optimizer};
/// let mut opt = Adam::default();
/// let mut w = vec![1.0, 2.0];
/// opt.update("W1", &mut w, &[0.1, -0.2]).unwrap();
/// let snap = opt.export_state();
/// assert_eq!(snap.params["W1"].step, 1);
/// assert_eq!(snap.params["W1"].buffer("m").unwrap().len(), 2);
///
/// let mut restored = Adam::default();
/// restored.import_state(&snap).unwrap();
/// assert_eq!(restored.export_state(), snap);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct OptimState {
    /// The rule that exported this snapshot; import into another rule fails.
    pub rule: UpdateRule,
    /// The current (possibly decayed) learning rate.
    pub learning_rate: f64,
    /// Every other hyperparameter, by its `optim.py` name.
    pub hyperparameters: BTreeMap<String, f64>,
    /// Per-parameter state, by parameter name.
    pub params: BTreeMap<String, ParamState>,
}

/// The state an optimizer keeps for one parameter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParamState {
    /// How many updates this parameter has had (Adam's `t`); 0 for rules
    /// that do not count steps.
    pub step: u64,
    /// Named buffers, each as long as the parameter (`velocity`, `cache`,
    /// `m`, `v`).
    pub buffers: BTreeMap<String, Vec<f64>>,
}

impl ParamState {
    /// The buffer called `name`, if present.
    pub fn buffer(&self, name: &str) -> Option<&[f64]> {
        self.buffers.get(name).map(Vec::as_slice)
    }
}

impl OptimState {
    /// The hyperparameter called `name`, if present.
    pub fn hyperparameter(&self, name: &str) -> Option<f64> {
        self.hyperparameters.get(name).copied()
    }

    /// Checks that this snapshot has exactly the shape `rule` exports: the
    /// same rule, exactly the hyperparameters `hyper`, and for every
    /// parameter exactly the buffers `buffers`, all of one length, with a
    /// zero step unless `counts_steps`. Values are checked by the caller.
    pub(crate) fn validate_layout(
        &self,
        rule: UpdateRule,
        hyper: &[&str],
        buffers: &[&str],
        counts_steps: bool,
    ) -> Result<()> {
        let op = rule.name();
        if self.rule != rule {
            return Err(Error::invalid(
                op,
                format!("cannot import optimizer state exported by {}", self.rule),
            ));
        }
        same_keys(op, "", "hyperparameter", self.hyperparameters.keys(), hyper)?;
        if buffers.is_empty() {
            if let Some(name) = self.params.keys().next() {
                return Err(Error::invalid(
                    op,
                    format!(
                        "{op} keeps no per-parameter state but the snapshot has state for '{name}'"
                    ),
                ));
            }
        }
        for (name, p) in &self.params {
            let context = format!("parameter '{name}': ");
            same_keys(op, &context, "buffer", p.buffers.keys(), buffers)?;
            let mut lens = p.buffers.iter().map(|(key, b)| (key, b.len()));
            if let Some((first_key, first_len)) = lens.next() {
                for (key, len) in lens {
                    if len != first_len {
                        return Err(Error::invalid(
                            op,
                            format!(
                                "parameter '{name}': buffer '{key}' has {len} elements \
                                 but '{first_key}' has {first_len}"
                            ),
                        ));
                    }
                }
            }
            if !counts_steps && p.step != 0 {
                return Err(Error::invalid(
                    op,
                    format!(
                        "parameter '{name}': {op} counts no steps but the snapshot has step {}",
                        p.step
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A hyperparameter known to exist (after [`Self::validate_layout`]).
    pub(crate) fn hyper(&self, name: &str) -> f64 {
        self.hyperparameters[name]
    }
}

/// `present` must be exactly the names in `expected`; errors start with
/// `context` and call the names `what`.
fn same_keys<'a>(
    op: &'static str,
    context: &str,
    what: &str,
    present: impl Iterator<Item = &'a String>,
    expected: &[&str],
) -> Result<()> {
    let present: Vec<&String> = present.collect();
    let list = || {
        if expected.is_empty() {
            "none".to_owned()
        } else {
            expected.join(", ")
        }
    };
    if let Some(extra) = present.iter().find(|k| !expected.contains(&k.as_str())) {
        return Err(Error::invalid(
            op,
            format!(
                "{context}unknown {what} '{extra}' in optimizer state; expected {}",
                list()
            ),
        ));
    }
    if let Some(missing) = expected
        .iter()
        .find(|e| !present.iter().any(|k| k.as_str() == **e))
    {
        return Err(Error::invalid(
            op,
            format!(
                "{context}optimizer state lacks {what} '{missing}'; expected {}",
                list()
            ),
        ));
    }
    Ok(())
}
