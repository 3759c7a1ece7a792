//! The course's Solver.

use crate::Dataset;
use gradtape_core::{rng_from_seed, Error, Result, Rng, RngExt, Tensor};
use gradtape_nn::{Model, NetState};
use gradtape_optim::{build, Optimizer, UpdateRule};
use std::time::Instant;

/// The Solver's options, with the course's defaults (SGD at 1e-2, 10 epochs,
/// batch 100, no decay, train accuracy on 1000 sampled examples).
#[derive(Clone, Debug, PartialEq)]
pub struct SolverOptions {
    /// Passes over the training data.
    pub num_epochs: usize,
    /// Examples per update, drawn with replacement as `np.random.choice` does.
    pub batch_size: usize,
    /// The optimizer.
    pub update_rule: UpdateRule,
    /// The optimizer's initial learning rate (`optim_config['learning_rate']`).
    pub learning_rate: f64,
    /// The learning rate is multiplied by this at the end of every epoch.
    pub lr_decay: f64,
    /// Print the loss every this many iterations (when verbose).
    pub print_every: usize,
    /// Print the notebook's progress lines.
    pub verbose: bool,
    /// Train accuracy is measured on this many examples sampled from the
    /// training set.
    pub num_train_samples: usize,
    /// Validation accuracy on this many sampled examples; `None` uses all.
    pub num_val_samples: Option<usize>,
    /// Fixes the minibatches and the accuracy subsamples.
    pub seed: u64,
    /// Turns on the model's anomaly detection ([`Model::set_detect_anomaly`]):
    /// the first op whose value or gradient is NaN or infinite stops training
    /// with [`Error::Training`] wrapping [`Error::NonFinite`], which names the
    /// op. Off by default (it scans every value and gradient).
    pub detect_anomaly: bool,
}

impl Default for SolverOptions {
    fn default() -> Self {
        SolverOptions {
            num_epochs: 10,
            batch_size: 100,
            update_rule: UpdateRule::Sgd,
            learning_rate: 1e-2,
            lr_decay: 1.0,
            print_every: 10,
            verbose: true,
            num_train_samples: 1000,
            num_val_samples: None,
            seed: 0,
            detect_anomaly: false,
        }
    }
}

/// What training recorded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// The loss of every iteration.
    pub loss_history: Vec<f64>,
    /// Train accuracy at the first iteration and at the end of every epoch.
    pub train_acc_history: Vec<f64>,
    /// Validation accuracy at the same points.
    pub val_acc_history: Vec<f64>,
    /// Wall time of each epoch in seconds (accuracy checks included).
    pub epoch_seconds: Vec<f64>,
    /// The best validation accuracy seen.
    pub best_val_acc: f64,
}

impl History {
    /// The names of the histories that grow as training goes, in
    /// [`History::series`] order (checkpoints store them as
    /// `history.<name>`).
    pub const SERIES: [&'static str; 4] = ["loss", "train_acc", "val_acc", "epoch_seconds"];

    /// `(name, values)` of each of [`History::SERIES`]: `loss_history`,
    /// `train_acc_history`, `val_acc_history`, `epoch_seconds`.
    ///
    /// ```
    /// use gradtape_train::History;
    /// let h = History { loss_history: vec![2.3, 2.1], ..History::default() };
    /// assert_eq!(h.series()[0], ("loss", &[2.3, 2.1][..]));
    /// ```
    pub fn series(&self) -> [(&'static str, &[f64]); 4] {
        let [loss, train, val, seconds] = Self::SERIES;
        [
            (loss, &self.loss_history),
            (train, &self.train_acc_history),
            (val, &self.val_acc_history),
            (seconds, &self.epoch_seconds),
        ]
    }
}

/// What [`Solver`] calls with each [`Event`].
type Observer = dyn FnMut(&Event);

/// Progress, reported to an observer as training goes (to drive a progress
/// bar, or a log).
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// One update done.
    Iteration {
        /// 1-based iteration number.
        iteration: usize,
        /// Total number of iterations.
        num_iterations: usize,
        /// The epoch this iteration belongs to (1-based).
        epoch: usize,
        /// The minibatch loss.
        loss: f64,
    },
    /// Accuracies checked (at the first iteration: epoch 0; then after each
    /// epoch).
    Accuracy {
        /// Epochs completed.
        epoch: usize,
        /// Total epochs.
        num_epochs: usize,
        /// Train accuracy on the subsample.
        train_acc: f64,
        /// Validation accuracy.
        val_acc: f64,
        /// Wall time of the epoch just ended, in seconds (0 at epoch 0).
        seconds: f64,
        /// The learning rate after this epoch's decay.
        learning_rate: f64,
    },
}

/// Trains a model on a training set, checking accuracy on a validation set.
///
/// When training ends the model holds the parameters **and batchnorm running
/// statistics** of the epoch with the best validation accuracy. (The
/// course's Solver restores only the parameters, so its restored net mixes
/// the best epoch's weights with the last epoch's statistics.)
///
/// A run never goes on with NaN or infinite values: the first non-finite
/// loss stops it before its gradients are applied, and at every accuracy
/// check (after the first update and at every epoch end) every parameter
/// and batchnorm statistic must be finite (running variances >= 0). Either
/// stops training with [`Error::Training`] naming the iteration and what
/// was not finite, and suggesting a lower learning rate (or, at the first
/// iteration, a smaller weight scale).
///
/// ```
/// use gradtape_core::{rng_from_seed, Tensor};
/// use gradtape_nn::{FcConfig, FullyConnectedNet};
/// use gradtape_train::{InMemory, Solver, SolverOptions};
/// let data = |seed| {
///     let x = Tensor::randn(&[40, 5], &mut rng_from_seed(seed));
///     InMemory::new(x, (0..40).map(|i| i % 3).collect()).unwrap()
/// };
/// let net = FullyConnectedNet::new(FcConfig { input_dim: 5, num_classes: 3, ..FcConfig::default() }).unwrap();
/// let options = SolverOptions { learning_rate: 1e300, batch_size: 10, verbose: false, ..SolverOptions::default() };
/// let err = Solver::new(net, data(1), data(2), options).unwrap().train().unwrap_err();
/// assert!(err.to_string().contains("try a lower learning rate"), "{err}");
/// ```
pub struct Solver<M: Model, D: Dataset> {
    pub(crate) model: M,
    pub(crate) train: D,
    val: D,
    pub(crate) options: SolverOptions,
    pub(crate) optimizer: Box<dyn Optimizer + Send>,
    pub(crate) rng: Rng,
    pub(crate) history: History,
    pub(crate) best: Option<NetState>,
    observer: Option<Box<Observer>>,
    /// Updates done so far (training resumes from here).
    pub(crate) iteration: usize,
}

impl<M: Model, D: Dataset> Solver<M, D> {
    /// Checks the options against the data (at least one epoch, whose
    /// iteration count fits a `usize`; a batch no larger than the training
    /// set; ...) and builds the optimizer.
    pub fn new(mut model: M, train: D, val: D, options: SolverOptions) -> Result<Self> {
        const OP: &str = "Solver";
        if options.num_epochs == 0 {
            return Err(Error::invalid(
                OP,
                "num_epochs is 0: there is nothing to train",
            ));
        }
        if options.batch_size == 0 {
            return Err(Error::invalid(OP, "batch_size is 0"));
        }
        if options.batch_size > train.len() {
            return Err(Error::invalid(
                OP,
                format!(
                    "batch_size {} is larger than the {} training examples",
                    options.batch_size,
                    train.len()
                ),
            ));
        }
        if val.is_empty() {
            return Err(Error::invalid(OP, "the validation set is empty"));
        }
        let iterations_per_epoch = (train.len() / options.batch_size).max(1);
        if options
            .num_epochs
            .checked_mul(iterations_per_epoch)
            .is_none()
        {
            return Err(Error::invalid(
                OP,
                format!(
                    "{} epochs of {iterations_per_epoch} iterations are too many (the iteration count overflows)",
                    options.num_epochs
                ),
            ));
        }
        if !(options.lr_decay >= 0.0 && options.lr_decay.is_finite()) {
            return Err(Error::invalid(
                OP,
                format!("lr_decay {} must be finite and >= 0", options.lr_decay),
            ));
        }
        if options.num_train_samples == 0 || options.num_val_samples == Some(0) {
            return Err(Error::invalid(OP, "accuracy needs at least one sample"));
        }
        if train.example_dims() != val.example_dims() {
            return Err(Error::invalid(
                OP,
                format!(
                    "training examples are {:?} but validation examples are {:?}",
                    train.example_dims(),
                    val.example_dims()
                ),
            ));
        }
        let optimizer = build(options.update_rule, options.learning_rate)?;
        if options.detect_anomaly {
            model.set_detect_anomaly(true);
        }
        Ok(Solver {
            rng: rng_from_seed(options.seed),
            model,
            train,
            val,
            options,
            optimizer,
            history: History::default(),
            best: None,
            observer: None,
            iteration: 0,
        })
    }

    /// Calls `f` with every [`Event`] as training goes.
    pub fn set_observer(&mut self, f: impl FnMut(&Event) + 'static) {
        self.observer = Some(Box::new(f));
    }

    /// The model (after [`Solver::train`], the best one).
    pub fn model(&mut self) -> &mut M {
        &mut self.model
    }

    /// The model, read-only (to snapshot it for a checkpoint).
    pub fn model_ref(&self) -> &M {
        &self.model
    }

    /// The options the Solver was built with.
    pub fn options(&self) -> &SolverOptions {
        &self.options
    }

    /// Updates done so far.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// Epochs completed so far.
    pub fn epoch(&self) -> usize {
        self.iteration / self.iterations_per_epoch()
    }

    /// Updates per epoch: training examples / batch size, at least 1.
    pub fn iterations_per_epoch(&self) -> usize {
        (self.train.len() / self.options.batch_size).max(1)
    }

    /// The model, giving up the Solver.
    pub fn into_model(self) -> M {
        self.model
    }

    /// What training recorded.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The optimizer (to read its learning rate, or its state).
    pub fn optimizer(&self) -> &dyn Optimizer {
        self.optimizer.as_ref()
    }

    fn emit(&mut self, event: Event) {
        if let Some(f) = self.observer.as_mut() {
            f(&event);
        }
    }

    /// Runs the whole optimisation (from where it stands: the start, or the
    /// epoch a [`Solver::resume_from`] put it at), then restores the best
    /// model: [`Solver::train_until_epoch`] up to `num_epochs`, then
    /// [`Solver::finish`].
    pub fn train(&mut self) -> Result<()> {
        self.train_until_epoch(self.options.num_epochs)?;
        self.finish()
    }

    /// Puts the best validation epoch's parameters and batchnorm statistics
    /// back into the model (nothing to do before the first accuracy check).
    pub fn finish(&mut self) -> Result<()> {
        if let Some(best) = self.best.as_ref() {
            self.model.restore(best)?;
        }
        Ok(())
    }

    /// Trains from where the Solver stands up to the end of epoch
    /// `last_epoch` (1-based; at most `num_epochs`) and stops there, without
    /// restoring the best model. Calling it for epochs 1, 2, ...,
    /// `num_epochs` in turn (checkpointing between calls, say) does exactly
    /// what one [`Solver::train`] does, bit for bit; so does stopping, saving
    /// [`Solver::progress`], and resuming in another process. A `last_epoch`
    /// already reached does nothing.
    pub fn train_until_epoch(&mut self, last_epoch: usize) -> Result<()> {
        if last_epoch > self.options.num_epochs {
            return Err(Error::invalid(
                "Solver::train_until_epoch",
                format!(
                    "epoch {last_epoch} is past num_epochs = {}",
                    self.options.num_epochs
                ),
            ));
        }
        let n = self.train.len();
        let bs = self.options.batch_size;
        let iterations_per_epoch = self.iterations_per_epoch();
        let num_iterations = self.options.num_epochs * iterations_per_epoch;
        let stop = last_epoch * iterations_per_epoch;
        if self.iteration >= stop {
            return Ok(());
        }
        let mut dims = vec![bs];
        dims.extend(self.train.example_dims());
        let mut x = batch_buffer(&dims)?;
        let mut y = Vec::with_capacity(bs);
        let mut indices = vec![0; bs];
        let mut epoch = self.iteration / iterations_per_epoch;
        let mut epoch_start = Instant::now();
        if self.iteration == 0 {
            self.history.best_val_acc = f64::NEG_INFINITY;
        }

        for t in self.iteration..stop {
            indices
                .iter_mut()
                .for_each(|i| *i = self.rng.random_range(0..n));
            self.train.fill_batch(&indices, x.data_mut(), &mut y)?;
            let at = |e: Error| Error::Training {
                iteration: t + 1,
                source: Box::new(e),
            };
            // Forward, then backward with each parameter updated as soon as
            // its gradient is final; a non-finite loss updates nothing.
            let loss = self
                .model
                .train_step(&x, &y, self.optimizer.as_mut())
                .map_err(at)?;
            if !loss.is_finite() {
                return Err(at(self.diverged(t, format!("the loss is {loss}"))));
            }
            self.history.loss_history.push(loss);
            if self.options.verbose && t % self.options.print_every.max(1) == 0 {
                println!(
                    "(Iteration {} / {}) loss: {:.6}",
                    t + 1,
                    num_iterations,
                    loss
                );
            }
            self.emit(Event::Iteration {
                iteration: t + 1,
                num_iterations,
                epoch: epoch + 1,
                loss,
            });

            let epoch_end = (t + 1) % iterations_per_epoch == 0;
            if epoch_end {
                epoch += 1;
                self.optimizer.decay_learning_rate(self.options.lr_decay)?;
            }
            if t == 0 || t + 1 == num_iterations || epoch_end {
                self.check_and_record(epoch, epoch_end, &mut epoch_start)
                    .map_err(at)?;
            }
            self.iteration = t + 1;
        }
        Ok(())
    }

    fn check_and_record(
        &mut self,
        epoch: usize,
        epoch_end: bool,
        epoch_start: &mut Instant,
    ) -> Result<()> {
        // Called before `self.iteration` moves past the update just made.
        self.check_finite(self.iteration)?;
        let train_acc = check_accuracy(
            &mut self.model,
            &self.train,
            Some(self.options.num_train_samples),
            self.options.batch_size,
            &mut self.rng,
        )?;
        let val_acc = check_accuracy(
            &mut self.model,
            &self.val,
            self.options.num_val_samples,
            self.options.batch_size,
            &mut self.rng,
        )?;
        let seconds = if epoch_end {
            let s = epoch_start.elapsed().as_secs_f64();
            *epoch_start = Instant::now();
            self.history.epoch_seconds.push(s);
            s
        } else {
            0.0
        };
        self.history.train_acc_history.push(train_acc);
        self.history.val_acc_history.push(val_acc);
        if self.options.verbose {
            println!(
                "(Epoch {} / {}) train acc: {:.6}; val_acc: {:.6}",
                epoch, self.options.num_epochs, train_acc, val_acc
            );
        }
        if val_acc > self.history.best_val_acc {
            self.history.best_val_acc = val_acc;
            self.best = Some(self.model.snapshot());
        }
        let learning_rate = self.optimizer.learning_rate();
        self.emit(Event::Accuracy {
            epoch,
            num_epochs: self.options.num_epochs,
            train_acc,
            val_acc,
            seconds,
            learning_rate,
        });
        Ok(())
    }
}

impl<M: Model, D: Dataset> Solver<M, D> {
    /// The error for a run whose values stopped being finite at (0-based)
    /// iteration `t`: at the first iteration the initial values overflowed
    /// (no update has been applied yet); later, the updates diverged.
    fn diverged(&self, t: usize, what: String) -> Error {
        let hint = if t == 0 {
            "not finite at the first iteration: the initial net's values overflow; try a smaller weight scale (or check the data)".to_string()
        } else {
            format!(
                "not finite: training diverged; try a lower learning rate (this run started at {:e})",
                self.options.learning_rate
            )
        };
        Error::invalid("Solver", format!("{what}, {hint}"))
    }

    /// Checks that every parameter and batchnorm statistic is finite (and
    /// every running variance >= 0), after (0-based) iteration `t`'s update:
    /// run at every accuracy check, so a net never trains on, or is scored
    /// or kept as the best, with NaN or infinite values.
    fn check_finite(&self, t: usize) -> Result<()> {
        let state = self.model.snapshot();
        let bad = |name: &str, values: &[f64], nonneg: bool| {
            values
                .iter()
                .position(|v| !v.is_finite() || (nonneg && *v < 0.0))
                .map(|i| format!("{name} holds {} at index {i}", values[i]))
        };
        let mut found = state
            .params
            .iter()
            .find_map(|(name, t)| bad(name, t.data(), false));
        for (i, s) in state.batchnorm.iter().enumerate() {
            found = found
                .or_else(|| {
                    bad(
                        &format!("batchnorm layer {} running_mean", i + 1),
                        s.running_mean.data(),
                        false,
                    )
                })
                .or_else(|| {
                    bad(
                        &format!("batchnorm layer {} running_var", i + 1),
                        s.running_var.data(),
                        true,
                    )
                });
        }
        match found {
            Some(what) => Err(self.diverged(t, what)),
            None => Ok(()),
        }
    }
}

/// A zeroed minibatch buffer of shape `dims`: its size is counted with
/// checked arithmetic and reserved with `try_reserve_exact`, so a batch too
/// large for memory is an error rather than an abort.
fn batch_buffer(dims: &[usize]) -> Result<Tensor> {
    const OP: &str = "Solver";
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Error::invalid(OP, format!("a minibatch of shape {dims:?} overflows")))?;
    let mut data = Vec::new();
    data.try_reserve_exact(n).map_err(|e| {
        Error::invalid(
            OP,
            format!("cannot allocate a minibatch of shape {dims:?} ({n} values): {e}"),
        )
    })?;
    data.resize(n, 0.0);
    Tensor::from_vec(data, dims)
}

/// Accuracy of `model` on `data` in test mode, scored `batch_size` examples
/// at a time. With `num_samples` smaller than the data, that many examples
/// are drawn with replacement (as the course does); otherwise all are used,
/// in order.
pub fn check_accuracy<M: Model + ?Sized, D: Dataset + ?Sized>(
    model: &mut M,
    data: &D,
    num_samples: Option<usize>,
    batch_size: usize,
    rng: &mut Rng,
) -> Result<f64> {
    let n = data.len();
    if n == 0 || batch_size == 0 {
        return Err(Error::invalid(
            "check_accuracy",
            "no examples, or batch_size 0",
        ));
    }
    let indices: Vec<usize> = match num_samples {
        Some(k) if k < n => (0..k).map(|_| rng.random_range(0..n)).collect(),
        _ => (0..n).collect(),
    };
    // One batch buffer for every full chunk; only a short last chunk gets
    // its own.
    let batch_tensor = |rows: usize| {
        let mut dims = vec![rows];
        dims.extend(data.example_dims());
        batch_buffer(&dims)
    };
    let mut full = batch_tensor(batch_size.min(indices.len()))?;
    let mut y = Vec::with_capacity(batch_size);
    let mut correct = 0;
    for chunk in indices.chunks(batch_size) {
        let mut short;
        let x = if chunk.len() == full.dims()[0] {
            &mut full
        } else {
            short = batch_tensor(chunk.len())?;
            &mut short
        };
        data.fill_batch(chunk, x.data_mut(), &mut y)?;
        let scores = model.scores(x)?;
        correct += scores
            .argmax_rows()
            .iter()
            .zip(&y)
            .filter(|(p, t)| p == t)
            .count();
    }
    Ok(correct as f64 / indices.len() as f64)
}
