//! Stopping and resuming a run: where a [`Solver`] stands between epochs
//! ([`SolverProgress`]), the rules a saved position must keep, and putting a
//! stopped run back after checking that it fits.

use crate::{Dataset, History, Solver};
use gradtape_core::{Error, Result, Rng};
use gradtape_nn::{Model, NetState};
use gradtape_optim::{build, OptimState};

/// Where a [`Solver`] stands between two epochs: with the model's
/// [`NetState`] and the optimizer's [`gradtape_optim::OptimState`], everything
/// [`Solver::resume_from`] needs to continue exactly as if training had never
/// stopped (same minibatches, same dropout masks, same accuracy subsamples,
/// so the same losses and parameters bit for bit).
///
/// Both generators are kept whole (a PCG-64 state is 128 bits), rather than
/// re-derived by counting draws: `random_range` rejects and redraws, so the
/// number of draws is not a function of the number of calls.
#[derive(Clone, Debug, PartialEq)]
pub struct SolverProgress {
    /// Updates done so far.
    pub iteration: usize,
    /// Epochs completed; `iteration == epoch * iterations_per_epoch`.
    pub epoch: usize,
    /// Updates per epoch of the run that made this (training examples /
    /// batch size, at least 1).
    pub iterations_per_epoch: usize,
    /// The minibatch size of that run.
    pub batch_size: usize,
    /// How many training examples that run had.
    pub num_train: usize,
    /// The Solver's generator (minibatches, accuracy subsamples) as it stands.
    pub rng: Rng,
    /// The model's own generator (dropout masks), if it has one
    /// ([`Model::rng_state`]).
    pub model_rng: Option<Rng>,
    /// The histories so far, `best_val_acc` included.
    pub history: History,
    /// Parameters and running statistics of the best validation epoch so
    /// far (`None` before the first accuracy check).
    pub best: Option<NetState>,
}

impl SolverProgress {
    /// How many accuracy checks a run has made after `iteration` updates
    /// with `iterations_per_epoch` updates per epoch: one after the first
    /// update, then one at every epoch end (the first update's check is the
    /// first epoch's when an epoch is one update long).
    pub fn expected_checks(iteration: usize, iterations_per_epoch: usize) -> usize {
        let ipe = iterations_per_epoch.max(1);
        let epochs = iteration / ipe;
        if iteration == 0 {
            0
        } else if ipe > 1 {
            1 + epochs
        } else {
            epochs
        }
    }

    /// How many values each history of [`History::series`] holds at the
    /// end of epoch `epoch`, `iteration` updates in: a loss per update, an
    /// accuracy per check ([`SolverProgress::expected_checks`]), a time
    /// per epoch.
    ///
    /// ```
    /// use gradtape_train::SolverProgress;
    /// assert_eq!(SolverProgress::history_lens(20, 2, 10), [20, 3, 3, 2]);
    /// assert_eq!(SolverProgress::history_lens(0, 0, 10), [0, 0, 0, 0]);
    /// ```
    pub fn history_lens(iteration: usize, epoch: usize, iterations_per_epoch: usize) -> [usize; 4] {
        let checks = Self::expected_checks(iteration, iterations_per_epoch);
        [iteration, checks, checks, epoch]
    }

    /// Checks that `iteration` is the end of epoch `epoch` at
    /// `iterations_per_epoch` (at least 1) updates per epoch: progress is
    /// taken, saved and resumed only between epochs.
    ///
    /// ```
    /// use gradtape_train::SolverProgress;
    /// assert!(SolverProgress::check_position(20, 2, 10).is_ok());
    /// let err = SolverProgress::check_position(25, 2, 10).unwrap_err();
    /// assert!(err.to_string().contains("iteration 25 is not the end of epoch 2"), "{err}");
    /// ```
    pub fn check_position(
        iteration: usize,
        epoch: usize,
        iterations_per_epoch: usize,
    ) -> Result<()> {
        if iterations_per_epoch == 0 || epoch.checked_mul(iterations_per_epoch) != Some(iteration) {
            return Err(Error::invalid(
                "SolverProgress",
                format!(
                    "iteration {iteration} is not the end of epoch {epoch} ({iterations_per_epoch} iterations per epoch): progress is saved and resumed between epochs"
                ),
            ));
        }
        Ok(())
    }

    /// Checks the position ([`SolverProgress::check_position`]) and that
    /// every history is as long as it implies
    /// ([`SolverProgress::history_lens`]), naming the first that is not.
    ///
    /// ```
    /// use gradtape_core::rng_from_seed;
    /// use gradtape_train::{History, SolverProgress};
    /// let mut p = SolverProgress {
    ///     iteration: 0, epoch: 0, iterations_per_epoch: 5, batch_size: 10, num_train: 50,
    ///     rng: rng_from_seed(0), model_rng: None, history: History::default(), best: None,
    /// };
    /// assert!(p.check().is_ok());
    /// p.history.loss_history.push(2.3);
    /// let err = p.check().unwrap_err();
    /// assert!(err.to_string().contains("history.loss holds 1 values; iteration 0 implies 0"), "{err}");
    /// ```
    pub fn check(&self) -> Result<()> {
        Self::check_position(self.iteration, self.epoch, self.iterations_per_epoch)?;
        let lens = Self::history_lens(self.iteration, self.epoch, self.iterations_per_epoch);
        for ((name, values), len) in self.history.series().into_iter().zip(lens) {
            if values.len() != len {
                return Err(Error::invalid(
                    "SolverProgress",
                    format!(
                        "history.{name} holds {} values; iteration {} implies {len}",
                        values.len(),
                        self.iteration
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl<M: Model, D: Dataset> Solver<M, D> {
    /// Where training stands, for a checkpoint: call it between epochs
    /// (after [`Solver::train_until_epoch`] returned `Ok`, and before
    /// [`Solver::finish`] puts the best model back); after an error
    /// mid-epoch the model may hold a half-applied update.
    pub fn progress(&self) -> SolverProgress {
        SolverProgress {
            iteration: self.iteration,
            epoch: self.epoch(),
            iterations_per_epoch: self.iterations_per_epoch(),
            batch_size: self.options.batch_size,
            num_train: self.train.len(),
            rng: self.rng.clone(),
            model_rng: self.model.rng_state(),
            history: self.history.clone(),
            best: self.best.clone(),
        }
    }

    /// Puts a stopped run back: the model's parameters and statistics
    /// (`net`), the optimizer's state (`optim`), and the Solver's position,
    /// generators, histories and best model (`progress`). Afterwards
    /// [`Solver::train`] or [`Solver::train_until_epoch`] continue exactly
    /// where the saved run stopped.
    ///
    /// Everything is checked before anything changes: the progress must come
    /// from a run with the same batch size and number of training examples,
    /// stop at an epoch end no later than `num_epochs`, and hold histories
    /// as long as that position implies; the optimizer state must be of this
    /// Solver's update rule and valid; `net` and the best model must fit the
    /// model. On error the Solver and its model are unchanged.
    pub fn resume_from(
        &mut self,
        net: &NetState,
        optim: &OptimState,
        progress: &SolverProgress,
    ) -> Result<()> {
        const OP: &str = "Solver::resume_from";
        let bad = |msg: String| Err(Error::invalid(OP, msg));
        let ipe = self.iterations_per_epoch();
        let p = progress;
        if p.batch_size != self.options.batch_size {
            return bad(format!(
                "the saved run used batch_size {} but this Solver uses {}",
                p.batch_size, self.options.batch_size
            ));
        }
        if p.num_train != self.train.len() || p.iterations_per_epoch != ipe {
            return bad(format!(
                "the saved run had {} training examples ({} iterations per epoch); this Solver has {} ({ipe})",
                p.num_train, p.iterations_per_epoch, self.train.len()
            ));
        }
        p.check()?;
        if p.epoch > self.options.num_epochs {
            return bad(format!(
                "the saved run is at epoch {}, past num_epochs = {}",
                p.epoch, self.options.num_epochs
            ));
        }
        let checks = SolverProgress::expected_checks(p.iteration, ipe);
        if p.best.is_some() != (checks > 0) {
            return bad(format!(
                "a run after {checks} accuracy checks {} a best model",
                if checks > 0 {
                    "must have"
                } else {
                    "cannot have"
                }
            ));
        }
        if p.model_rng.is_some() != self.model.rng_state().is_some() {
            return bad(
                "the saved model random stream does not fit this model (one has a stream, the other none)".into(),
            );
        }
        for (what, state) in [("net", Some(net)), ("best", p.best.as_ref())] {
            if let Some(Err(misfit)) = state.map(|s| self.model.check_state(s)) {
                return bad(format!("{what}: {misfit}"));
            }
        }
        if optim.rule != self.options.update_rule {
            return bad(format!(
                "the optimizer state is {} but this Solver uses {}",
                optim.rule, self.options.update_rule
            ));
        }
        let mut optimizer = build(optim.rule, optim.learning_rate)?;
        optimizer.import_state(optim)?;
        // The last fallible step; `restore` itself changes nothing on error.
        self.model.restore(net)?;
        self.optimizer = optimizer;
        if let Some(rng) = &p.model_rng {
            self.model.set_rng_state(rng.clone());
        }
        self.rng = p.rng.clone();
        self.history = p.history.clone();
        self.best = p.best.clone();
        self.iteration = p.iteration;
        Ok(())
    }
}
