//! Section 5: the notebook's final net on CIFAR-10: `[500, 500, 500]` with
//! batchnorm and dropout, Adam with learning-rate decay, evaluated with the
//! best validation epoch's parameters.

use crate::progress::{attach, Output};
use crate::RunSummary;
use gradtape_core::{rng_from_seed, Result};
use gradtape_data::Cifar10;
use gradtape_nn::{FcConfig, FullyConnectedNet, Normalization};
use gradtape_optim::UpdateRule;
use gradtape_plot::{plot_panels, Panel, Series};
use gradtape_train::{check_accuracy, Solver, SolverOptions};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The final run's settings. [`FinalOptions::notebook`] is the notebook's
/// exact configuration; [`Default`] is this project's tuned default (see
/// the README for why and for both results).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FinalOptions {
    /// Hidden layer widths.
    pub hidden_dims: Vec<usize>,
    /// Keep probability.
    pub dropout: f64,
    /// Weight initialisation scale.
    pub weight_scale: f64,
    /// Batchnorm after each hidden affine layer.
    pub use_batchnorm: bool,
    /// L2 strength.
    pub reg: f64,
    /// Epochs.
    pub epochs: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// Adam's initial learning rate.
    pub learning_rate: f64,
    /// Learning-rate factor per epoch.
    pub lr_decay: f64,
    /// Seed for the net and the Solver.
    pub seed: u64,
}

impl FinalOptions {
    /// The notebook's configuration: `[500, 500, 500]`, dropout 0.5, weight
    /// scale 1e-2, batchnorm, no L2, 20 epochs of batch 100, Adam 1e-3 with
    /// decay 0.9.
    pub fn notebook() -> Self {
        FinalOptions {
            hidden_dims: vec![500, 500, 500],
            dropout: 0.5,
            weight_scale: 1e-2,
            use_batchnorm: true,
            reg: 0.0,
            epochs: 20,
            batch_size: 100,
            learning_rate: 1e-3,
            lr_decay: 0.9,
            seed: 0,
        }
    }
}

impl Default for FinalOptions {
    /// The notebook's configuration with keep probability 0.75 instead of
    /// 0.5. On the shared (JPEG-recompressed) CIFAR-10 copy the notebook's
    /// exact settings reach about 0.556 validation accuracy, at the edge of
    /// the 0.55 target; with keep 0.5 the net still underfits after 20
    /// epochs (train accuracy ~0.65), and keeping 0.75 of the units gave
    /// 0.568 / 0.573 validation accuracy on seeds 0 / 1 in the same time.
    fn default() -> Self {
        FinalOptions {
            dropout: 0.75,
            ..FinalOptions::notebook()
        }
    }
}

/// What the final run produced.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FinalResult {
    /// The settings used.
    pub options: FinalOptions,
    /// Histories and wall time.
    pub run: RunSummary,
    /// Accuracy of the restored best net on the whole validation split.
    pub val_acc: f64,
    /// Accuracy of the restored best net on the test split.
    pub test_acc: f64,
}

/// Checkpoints of the final run: where to save one at every epoch end, and
/// which one to resume from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpointing {
    /// A training checkpoint is written here (atomically) after every epoch.
    pub save: Option<PathBuf>,
    /// The run continues from this training checkpoint.
    pub resume: Option<PathBuf>,
}

/// An error of a checkpointed run: training, or a checkpoint.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The net [`run`] trains for `options`.
pub fn net_config(options: &FinalOptions) -> FcConfig {
    FcConfig {
        hidden_dims: options.hidden_dims.clone(),
        dropout: options.dropout,
        normalization: if options.use_batchnorm {
            Normalization::BatchNorm
        } else {
            Normalization::None
        },
        reg: options.reg,
        weight_scale: options.weight_scale,
        seed: options.seed,
        ..FcConfig::default()
    }
}

/// Trains the final net on all of `data.train`, then scores the restored
/// best net on the whole validation and test splits.
pub fn run(data: &Cifar10, options: &FinalOptions, output: Output) -> Result<FinalResult> {
    run_checkpointed(data, options, output, &Checkpointing::default()).map_err(|e| {
        match e.downcast::<gradtape_core::Error>() {
            Ok(e) => *e,
            // Without checkpoints every error is a training error.
            Err(e) => gradtape_core::Error::invalid("final_run", e.to_string()),
        }
    })
}

/// [`run`], resuming from `checkpoints.resume` if set and saving a training
/// checkpoint to `checkpoints.save` at the end of every epoch if set. A
/// resumed run gives the same histories, parameters and accuracies as one
/// that never stopped (its wall times aside).
pub fn run_checkpointed(
    data: &Cifar10,
    options: &FinalOptions,
    output: Output,
    checkpoints: &Checkpointing,
) -> std::result::Result<FinalResult, BoxError> {
    let net = FullyConnectedNet::new(net_config(options))?;
    let solver_options = SolverOptions {
        num_epochs: options.epochs,
        batch_size: options.batch_size,
        update_rule: UpdateRule::Adam,
        learning_rate: options.learning_rate,
        lr_decay: options.lr_decay,
        print_every: 100,
        verbose: output.solver_verbose(),
        seed: options.seed,
        ..SolverOptions::default()
    };
    let mut solver = Solver::new(net, &data.train, &data.val, solver_options)?;
    if let Some(path) = &checkpoints.resume {
        let state = gradtape_checkpoint::resume_solver(path, &mut solver)?;
        if output != Output::Quiet {
            println!(
                "resumed from {} at epoch {} (iteration {})",
                path.display(),
                state.progress.epoch,
                state.progress.iteration
            );
        }
    }
    attach(&mut solver, output, "final net");
    let start = std::time::Instant::now();
    for epoch in solver.epoch() + 1..=options.epochs {
        solver.train_until_epoch(epoch)?;
        if let Some(path) = &checkpoints.save {
            gradtape_checkpoint::save_solver(path, &solver)?;
        }
    }
    solver.finish()?;
    let seconds = start.elapsed().as_secs_f64();
    let run = RunSummary::new("final net".into(), solver.history(), seconds);
    let mut rng = rng_from_seed(options.seed);
    let model = solver.model();
    let val_acc = check_accuracy(model, &data.val, None, 100, &mut rng)?;
    let test_acc = check_accuracy(model, &data.test, None, 100, &mut rng)?;
    if output != Output::Quiet {
        println!("Validation set accuracy: {val_acc}");
        println!("Test set accuracy: {test_acc}");
    }
    Ok(FinalResult {
        options: options.clone(),
        run,
        val_acc,
        test_acc,
    })
}

/// The notebook's second figure: train and validation accuracy per epoch
/// with the dashed 0.55 target. Writes `final.png` and `.svg` in `dir`.
pub fn plot(result: &FinalResult, dir: &Path) -> std::result::Result<(), gradtape_plot::PlotError> {
    let run = &result.run;
    plot_panels(
        dir,
        "final",
        &[
            Panel {
                title: "Classification accuracy history".into(),
                x_label: "Epoch".into(),
                y_label: "Accuracy".into(),
                series: vec![
                    Series {
                        label: "train".into(),
                        values: run.train_acc_history.clone(),
                    },
                    Series {
                        label: "val".into(),
                        values: run.val_acc_history.clone(),
                    },
                ],
                hline: Some((0.55, "0.55".into())),
                y_range: None,
            },
            Panel {
                title: "Training loss".into(),
                x_label: "Epoch".into(),
                y_label: "Loss (mean over the epoch)".into(),
                series: vec![Series {
                    label: "loss".into(),
                    // x = epoch k holds the mean loss of epoch k (no point at 0).
                    values: std::iter::once(f64::NAN)
                        .chain(run.epoch_mean_loss())
                        .collect(),
                }],
                hline: None,
                y_range: None,
            },
        ],
    )?;
    Ok(())
}
