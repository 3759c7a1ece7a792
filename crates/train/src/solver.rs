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
pub struct Solver<M: Model, D: Dataset> {
    model: M,
    train: D,
    val: D,
    options: SolverOptions,
    optimizer: Box<dyn Optimizer + Send>,
    rng: Rng,
    history: History,
    best: Option<NetState>,
    observer: Option<Box<dyn FnMut(&Event)>>,
}

impl<M: Model, D: Dataset> Solver<M, D> {
    /// Checks the options against the data and builds the optimizer.
    pub fn new(model: M, train: D, val: D, options: SolverOptions) -> Result<Self> {
        const OP: &str = "Solver";
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

    /// Runs the whole optimisation, then restores the best model.
    pub fn train(&mut self) -> Result<()> {
        let n = self.train.len();
        let bs = self.options.batch_size;
        let iterations_per_epoch = (n / bs).max(1);
        let num_iterations = self.options.num_epochs * iterations_per_epoch;
        let mut dims = vec![bs];
        dims.extend(self.train.example_dims());
        let mut x = Tensor::zeros(&dims);
        let mut y = Vec::with_capacity(bs);
        let mut indices = vec![0; bs];
        let mut epoch = 0;
        let mut epoch_start = Instant::now();
        self.history.best_val_acc = f64::NEG_INFINITY;

        for t in 0..num_iterations {
            indices
                .iter_mut()
                .for_each(|i| *i = self.rng.random_range(0..n));
            self.train.fill_batch(&indices, x.data_mut(), &mut y)?;
            let at = |e: Error| Error::Training {
                iteration: t + 1,
                source: Box::new(e),
            };
            let loss = self.model.train_loss(&x, &y).map_err(at)?;
            let optimizer = &mut self.optimizer;
            self.model
                .update_params(&mut |name, w, g| optimizer.update(name, w, g))
                .map_err(at)?;
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
                self.check_and_record(epoch, epoch_end, &mut epoch_start)?;
            }
        }
        if let Some(best) = self.best.take() {
            self.model.restore(&best)?;
        }
        Ok(())
    }

    fn check_and_record(
        &mut self,
        epoch: usize,
        epoch_end: bool,
        epoch_start: &mut Instant,
    ) -> Result<()> {
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
    let d: usize = data.example_dims().iter().product();
    let mut correct = 0;
    for chunk in indices.chunks(batch_size) {
        let mut dims = vec![chunk.len()];
        dims.extend(data.example_dims());
        let mut x = vec![0.0; chunk.len() * d];
        let mut y = Vec::with_capacity(chunk.len());
        data.fill_batch(chunk, &mut x, &mut y)?;
        let scores = model.scores(&Tensor::from_vec(x, &dims)?)?;
        correct += scores
            .argmax_rows()
            .iter()
            .zip(&y)
            .filter(|(p, t)| p == t)
            .count();
    }
    Ok(correct as f64 / indices.len() as f64)
}
