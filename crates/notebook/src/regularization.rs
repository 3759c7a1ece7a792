//! Section 4: dropout as a regularizer. Two `[100, 100, 100]` nets, with and
//! without dropout, trained on 500 images; with dropout the train accuracy
//! grows more slowly and the validation accuracy ends higher.

use crate::progress::{attach, Output};
use crate::RunSummary;
use gradtape_core::Result;
use gradtape_data::Cifar10;
use gradtape_nn::{FcConfig, FullyConnectedNet};
use gradtape_optim::UpdateRule;
use gradtape_plot::{plot_panels, Panel, Series};
use gradtape_train::{Solver, SolverOptions};
use std::path::Path;

/// The experiment's settings; the defaults are the notebook's.
#[derive(Clone, Debug, PartialEq)]
pub struct RegularizationOptions {
    /// Training images (the first ones of the training split).
    pub num_train: usize,
    /// Keep probabilities to compare.
    pub dropouts: Vec<f64>,
    /// Hidden layer widths.
    pub hidden_dims: Vec<usize>,
    /// Epochs.
    pub epochs: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Seed for the nets and the Solver.
    pub seed: u64,
}

impl Default for RegularizationOptions {
    fn default() -> Self {
        RegularizationOptions {
            num_train: 500,
            dropouts: vec![0.6, 1.0],
            hidden_dims: vec![100, 100, 100],
            epochs: 25,
            learning_rate: 5e-4,
            seed: 0,
        }
    }
}

/// Trains one net per keep probability on the first `num_train` images and
/// returns their histories (dropout values in the order given).
pub fn run(
    data: &Cifar10,
    options: &RegularizationOptions,
    output: Output,
) -> Result<Vec<RunSummary>> {
    let train = data.train.head(options.num_train);
    let mut runs = Vec::new();
    for &dropout in &options.dropouts {
        let net = FullyConnectedNet::new(FcConfig {
            hidden_dims: options.hidden_dims.clone(),
            dropout,
            seed: options.seed,
            ..FcConfig::default()
        })?;
        let solver_options = SolverOptions {
            num_epochs: options.epochs,
            batch_size: 100,
            update_rule: UpdateRule::Adam,
            learning_rate: options.learning_rate,
            print_every: 100,
            verbose: output.solver_verbose(),
            seed: options.seed,
            ..SolverOptions::default()
        };
        if output != Output::Quiet {
            println!("Training a net with dropout {dropout:.2}");
        }
        let mut solver = Solver::new(net, &train, &data.val, solver_options)?;
        attach(&mut solver, output, &format!("dropout {dropout:.2}"));
        let start = std::time::Instant::now();
        solver.train()?;
        runs.push(RunSummary::new(
            format!("{dropout:.2} dropout"),
            solver.history(),
            start.elapsed().as_secs_f64(),
        ));
    }
    Ok(runs)
}

/// The notebook's figure: train accuracy (top) and validation accuracy
/// (bottom) per epoch, one series per keep probability. Writes
/// `regularization.png` and `.svg` in `dir`.
pub fn plot(runs: &[RunSummary], dir: &Path) -> std::result::Result<(), gradtape_plot::PlotError> {
    let series = |f: fn(&RunSummary) -> &Vec<f64>| -> Vec<Series> {
        runs.iter()
            .map(|r| Series {
                label: r.label.clone(),
                values: f(r).clone(),
            })
            .collect()
    };
    let panel = |title: &str, s| Panel {
        title: title.into(),
        x_label: "Epoch".into(),
        y_label: "Accuracy".into(),
        series: s,
        hline: None,
        y_range: None,
    };
    plot_panels(
        dir,
        "regularization",
        &[
            panel("Train accuracy", series(|r| &r.train_acc_history)),
            panel("Val accuracy", series(|r| &r.val_acc_history)),
        ],
    )?;
    Ok(())
}
