//! [`Optim`]: what the four update rules share. Per-parameter state keyed by
//! the parameter, optional names for checkpoints, parameter groups, the
//! learning rate and its decay, export and import; the rule itself
//! ([`Rule`]) only supplies its hyperparameters and its per-element update.

use std::collections::{BTreeMap, HashMap};

use gradtape_core::{Error, GradFill, ParamUpdate, Result, Tape, Tensor, Var};

use crate::rule::Rule;
use crate::state::OptimState;
use crate::{check, Optimizer, ParamGroup};

/// An optimizer: update rule `R` (its config: [`crate::SgdConfig`],
/// [`crate::SgdMomentumConfig`], [`crate::RmsPropConfig`] or
/// [`crate::AdamConfig`]) with its per-parameter state. Used through its
/// aliases [`crate::Sgd`], [`crate::SgdMomentum`], [`crate::RmsProp`],
/// [`crate::Adam`] and the [`Optimizer`] trait.
///
/// State is kept per parameter: per tape parameter ([`Var`]) for
/// [`Optimizer::step`], per name for [`Optimizer::update`]. A tape parameter
/// given a name with [`Optimizer::name_param`] is the same parameter under
/// both: its state is exported and imported under that name.
///
/// ```
/// use gradtape_core::{Tape, Tensor};
/// use gradtape_optim::{Adam, AdamConfig, Optimizer};
/// let mut tape = Tape::new();
/// let w = tape.param(Tensor::from_vec(vec![3.0, -2.0], &[2]).unwrap()).unwrap();
/// let mut opt = Adam::new(AdamConfig { learning_rate: 0.1, ..AdamConfig::default() }).unwrap();
/// for _ in 0..200 {
///     tape.reset();
///     let loss = tape.sum_squares(w).unwrap(); // minimum at w = 0
///     tape.backward(loss).unwrap();
///     opt.step(&mut tape).unwrap(); // every parameter with a gradient
/// }
/// assert!(tape.value(w).unwrap().data().iter().all(|v| v.abs() < 0.05));
/// opt.name_param(w, "w").unwrap(); // only needed to export the state
/// assert_eq!(opt.export_state().params["w"].step, 200);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Optim<R: Rule> {
    config: R,
    /// State of parameters updated by name and not (yet) tied to a `Var`.
    by_name: BTreeMap<String, R::State>,
    /// State of tape parameters.
    by_var: HashMap<Var, R::State>,
    names: HashMap<Var, String>,
    vars: HashMap<String, Var>,
    groups: Vec<ParamGroup>,
    group_of: HashMap<Var, usize>,
}

impl<R: Rule> Optim<R> {
    /// Validates `config` and builds the optimizer with no state yet.
    pub fn new(config: R) -> Result<Self> {
        config.validate()?;
        Ok(Optim {
            config,
            by_name: BTreeMap::new(),
            by_var: HashMap::new(),
            names: HashMap::new(),
            vars: HashMap::new(),
            groups: Vec::new(),
            group_of: HashMap::new(),
        })
    }

    /// The current hyperparameters (with the current learning rate).
    pub fn config(&self) -> &R {
        &self.config
    }

    /// The state of the parameter called `name`, if it has been updated.
    pub(crate) fn state_by_name(&self, name: &str) -> Option<&R::State> {
        match self.vars.get(name) {
            Some(v) => self.by_var.get(v),
            None => self.by_name.get(name),
        }
    }

    /// The learning rate and weight decay of parameter `v` (`None`: a
    /// parameter known only by name).
    fn hyper_of(&self, v: Option<Var>) -> (f64, f64) {
        hyper_of(&self.config, &self.groups, &self.group_of, v)
    }

    /// Errors, naming the parameter, if the state of a tape parameter about
    /// to be updated (every one, or with `with_grad_only` those with a
    /// gradient) was made for another size: checked before any update, so
    /// an error changes no parameter.
    fn check_state_lengths(&self, tape: &Tape, with_grad_only: bool) -> Result<()> {
        for v in tape.params() {
            if with_grad_only && tape.grad(v).is_none() {
                continue;
            }
            let (Ok(value), Some(s)) = (tape.value(v), self.by_var.get(&v)) else {
                continue;
            };
            match R::state_len(s) {
                Some(n) if n != value.len() => {
                    return Err(Self::state_mismatch(&self.label(v), value.len(), n));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// How `v` is called in errors and snapshots: its name, or `#<index>`.
    fn label(&self, v: Var) -> String {
        self.names
            .get(&v)
            .cloned()
            .unwrap_or_else(|| format!("#{}", v.index()))
    }

    fn state_mismatch(name: &str, len: usize, state: usize) -> Error {
        Error::invalid(
            R::RULE.name(),
            format!(
                "parameter '{name}' has {len} elements but its optimizer state has {state} \
                 (was it first updated with a different size?)"
            ),
        )
    }

    /// The names of the group hyperparameters in a snapshot.
    fn group_keys(&self) -> Vec<(String, String)> {
        (0..self.groups.len())
            .map(|i| {
                (
                    format!("group{i}.learning_rate"),
                    format!("group{i}.weight_decay"),
                )
            })
            .collect()
    }
}

/// The learning rate and weight decay of parameter `v`: its group's, or
/// the optimizer's (also for `None`, a parameter known only by name).
fn hyper_of<R: Rule>(
    config: &R,
    groups: &[ParamGroup],
    group_of: &HashMap<Var, usize>,
    v: Option<Var>,
) -> (f64, f64) {
    match v.and_then(|v| group_of.get(&v)) {
        Some(&g) => (groups[g].learning_rate, groups[g].weight_decay),
        None => (config.learning_rate(), config.weight_decay()),
    }
}

/// [`Optimizer::backward_step`]'s update: each parameter's state, created
/// on first use, and the rule applied to it, to a product-shaped gradient a
/// part at a time as the rule chooses ([`Rule::apply_filling`]).
struct DuringBackward<'a, R: Rule> {
    config: &'a R,
    by_var: &'a mut HashMap<Var, R::State>,
    groups: &'a [ParamGroup],
    group_of: &'a HashMap<Var, usize>,
}

impl<R: Rule> DuringBackward<'_, R> {
    fn hyper_and_state(&mut self, v: Var, len: usize) -> ((f64, f64), &mut R::State) {
        let hyper = hyper_of(self.config, self.groups, self.group_of, Some(v));
        (hyper, self.by_var.entry(v).or_insert_with(|| R::zeros(len)))
    }
}

impl<R: Rule> ParamUpdate for DuringBackward<'_, R> {
    fn update(&mut self, v: Var, value: &mut Tensor, grad: &Tensor) -> Result<()> {
        let config = self.config;
        let ((lr, wd), state) = self.hyper_and_state(v, grad.len());
        config.apply(lr, wd, value.data_mut(), grad.data(), state);
        Ok(())
    }

    fn update_filling(
        &mut self,
        v: Var,
        value: &mut Tensor,
        grad: &mut Tensor,
        fill: &GradFill<'_>,
    ) -> Result<()> {
        let config = self.config;
        let ((lr, wd), state) = self.hyper_and_state(v, grad.len());
        config.apply_filling(lr, wd, value.data_mut(), grad.data_mut(), state, fill);
        Ok(())
    }
}

impl<R: Rule + Default> Default for Optim<R> {
    /// The rule with its `optim.py` defaults.
    fn default() -> Self {
        Optim::new(R::default()).expect("the default hyperparameters are valid")
    }
}

impl<R: Rule> Optimizer for Optim<R> {
    fn rule(&self) -> crate::UpdateRule {
        R::RULE
    }

    fn step(&mut self, tape: &mut Tape) -> Result<()> {
        // Check every state first, so an error leaves every parameter as it was.
        self.check_state_lengths(tape, true)?;
        for v in tape.params() {
            let (lr, wd) = self.hyper_of(Some(v));
            let (value, grad) = tape.param_and_grad_mut(v)?;
            let Some(grad) = grad else { continue };
            let state = self.by_var.entry(v).or_insert_with(|| R::zeros(grad.len()));
            self.config
                .apply(lr, wd, value.data_mut(), grad.data(), state);
        }
        Ok(())
    }

    fn backward_step(&mut self, tape: &mut Tape, loss: Var) -> Result<()> {
        // Everything that can fail is checked before backward starts: the
        // states here, the loss in `backward_with`; the update itself cannot.
        self.check_state_lengths(tape, false)?;
        let Optim {
            config,
            by_var,
            groups,
            group_of,
            ..
        } = self;
        tape.backward_with_update(
            loss,
            &mut DuringBackward {
                config,
                by_var,
                groups,
                group_of,
            },
        )
    }

    fn update(&mut self, name: &str, param: &mut [f64], grad: &[f64]) -> Result<()> {
        let op = R::RULE.name();
        check::lengths(op, name, param.len(), grad.len())?;
        let var = self.vars.get(name).copied();
        let (lr, wd) = self.hyper_of(var);
        let state = match var {
            Some(v) => self
                .by_var
                .entry(v)
                .or_insert_with(|| R::zeros(param.len())),
            None => {
                // `entry` would allocate a key on every call; only the first
                // update of a name should.
                if !self.by_name.contains_key(name) {
                    self.by_name.insert(name.to_owned(), R::zeros(param.len()));
                }
                self.by_name.get_mut(name).expect("inserted just above")
            }
        };
        match R::state_len(state) {
            Some(n) if n != param.len() => Err(Self::state_mismatch(name, param.len(), n)),
            _ => {
                self.config.apply(lr, wd, param, grad, state);
                Ok(())
            }
        }
    }

    fn name_param(&mut self, param: Var, name: &str) -> Result<()> {
        if self.names.get(&param).is_some_and(|n| n == name) {
            return Ok(());
        }
        if let Some(&other) = self.vars.get(name) {
            return Err(Error::invalid(
                R::RULE.name(),
                format!(
                    "the name '{name}' already belongs to parameter #{}",
                    other.index()
                ),
            ));
        }
        if let Some(old) = self.names.insert(param, name.to_owned()) {
            self.vars.remove(&old);
        }
        self.vars.insert(name.to_owned(), param);
        // State imported (or updated) under this name now belongs to the
        // parameter, so a resumed run continues with it.
        if let Some(s) = self.by_name.remove(name) {
            self.by_var.insert(param, s);
        }
        Ok(())
    }

    fn add_group(&mut self, group: ParamGroup) -> Result<usize> {
        let op = R::RULE.name();
        group.validate(op)?;
        for (i, v) in group.params.iter().enumerate() {
            if self.group_of.contains_key(v) || group.params[..i].contains(v) {
                return Err(Error::invalid(
                    op,
                    format!(
                        "parameter {} is already in a parameter group",
                        self.label(*v)
                    ),
                ));
            }
        }
        let g = self.groups.len();
        self.group_of.extend(group.params.iter().map(|&v| (v, g)));
        self.groups.push(group);
        Ok(g)
    }

    fn groups(&self) -> &[ParamGroup] {
        &self.groups
    }

    fn learning_rate(&self) -> f64 {
        self.config.learning_rate()
    }

    fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        check::learning_rate(R::RULE.name(), lr)?;
        *self.config.learning_rate_mut() = lr;
        Ok(())
    }

    fn decay_learning_rate(&mut self, factor: f64) -> Result<()> {
        let op = R::RULE.name();
        check::non_negative(op, "lr decay factor", factor)?;
        let rates = std::iter::once(self.config.learning_rate())
            .chain(self.groups.iter().map(|g| g.learning_rate));
        for lr in rates {
            check::learning_rate(op, lr * factor)?;
        }
        *self.config.learning_rate_mut() *= factor;
        for g in &mut self.groups {
            g.learning_rate *= factor;
        }
        Ok(())
    }

    fn clear_state(&mut self) {
        self.by_name.clear();
        self.by_var.clear();
    }

    fn export_state(&self) -> OptimState {
        let mut hyperparameters: BTreeMap<String, f64> = self
            .config
            .hyperparameters()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        for (g, (lr, wd)) in self.groups.iter().zip(self.group_keys()) {
            hyperparameters.insert(lr, g.learning_rate);
            hyperparameters.insert(wd, g.weight_decay);
        }
        let params = if R::BUFFERS.is_empty() {
            BTreeMap::new()
        } else {
            let named = self.by_name.iter().map(|(n, s)| (n.clone(), R::export(s)));
            let tape = self
                .by_var
                .iter()
                .map(|(v, s)| (self.label(*v), R::export(s)));
            named.chain(tape).collect()
        };
        OptimState {
            rule: R::RULE,
            learning_rate: self.config.learning_rate(),
            hyperparameters,
            params,
        }
    }

    fn import_state(&mut self, state: &OptimState) -> Result<()> {
        let op = R::RULE.name();
        let group_keys = self.group_keys();
        let mut hyper: Vec<&str> = self
            .config
            .hyperparameters()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        hyper.extend(
            group_keys
                .iter()
                .flat_map(|(a, b)| [a.as_str(), b.as_str()]),
        );
        state.validate_layout(R::RULE, &hyper, R::BUFFERS, R::COUNTS_STEPS)?;
        let config = R::from_snapshot(state);
        config.validate()?;
        let mut groups = self.groups.clone();
        for (g, (lr, wd)) in groups.iter_mut().zip(&group_keys) {
            g.learning_rate = state.hyper(lr);
            g.weight_decay = state.hyper(wd);
            g.validate(op)?;
        }
        self.config = config;
        self.groups = groups;
        self.by_name.clear();
        self.by_var.clear();
        for (name, p) in &state.params {
            let s = R::import(p);
            match self.vars.get(name.as_str()) {
                Some(&v) => self.by_var.insert(v, s),
                None => self.by_name.insert(name.clone(), s),
            };
        }
        Ok(())
    }
}
