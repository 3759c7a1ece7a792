//! Section 4: dropout as a regularizer. Two `[100, 100, 100]` nets, with and
//! without dropout, trained on 500 images; with dropout the train accuracy
//! grows more slowly and the validation accuracy ends higher.

use crate::progress::{attach, Output};
use crate::RunSummary;
use gradtape_core::{Error, Result};
use gradtape_data::Cifar10;
use gradtape_nn::{FcConfig, FullyConnectedNet};
use gradtape_optim::UpdateRule;
use gradtape_plot::{plot_panels, Panel, Series};
use gradtape_train::{MemoryEstimate, Solver, SolverOptions};
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
    /// Anomaly mode (see [`SolverOptions::detect_anomaly`]).
    pub detect_anomaly: bool,
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
            detect_anomaly: false,
        }
    }
}

impl RegularizationOptions {
    fn net_config(&self, dropout: f64) -> FcConfig {
        FcConfig {
            hidden_dims: self.hidden_dims.clone(),
            dropout,
            seed: self.seed,
            ..FcConfig::default()
        }
    }

    /// What can be checked before the data is loaded: at least one epoch
    /// and one net, every net's configuration, and the memory the largest
    /// needs against the memory available.
    ///
    /// ```
    /// use gradtape_notebook::regularization::RegularizationOptions;
    /// assert!(RegularizationOptions::default().preflight().is_ok());
    /// let none = RegularizationOptions { epochs: 0, ..Default::default() };
    /// assert!(none.preflight().unwrap_err().to_string().contains("epochs"));
    /// ```
    pub fn preflight(&self) -> Result<()> {
        const OP: &str = "regularization";
        if self.epochs == 0 {
            return Err(Error::invalid(OP, "epochs must be at least 1"));
        }
        if self.dropouts.is_empty() {
            return Err(Error::invalid(OP, "no keep probability to compare"));
        }
        for &dropout in &self.dropouts {
            let config = self.net_config(dropout);
            config.validate()?;
            MemoryEstimate::fc_training(&config, BATCH_SIZE, UpdateRule::Adam)?.check()?;
        }
        Ok(())
    }
}

/// The notebook's minibatch size for this experiment.
const BATCH_SIZE: usize = 100;

/// Trains one net per keep probability on the first `num_train` images and
/// returns their histories (dropout values in the order given), after
/// [`RegularizationOptions::preflight`].
pub fn run(
    data: &Cifar10,
    options: &RegularizationOptions,
    output: Output,
) -> Result<Vec<RunSummary>> {
    options.preflight()?;
    let train = data.train.head(options.num_train);
    let mut runs = Vec::new();
    for &dropout in &options.dropouts {
        let net = FullyConnectedNet::new(options.net_config(dropout))?;
        let solver_options = SolverOptions {
            num_epochs: options.epochs,
            batch_size: BATCH_SIZE,
            update_rule: UpdateRule::Adam,
            learning_rate: options.learning_rate,
            print_every: 100,
            verbose: output.solver_verbose(),
            seed: options.seed,
            detect_anomaly: options.detect_anomaly,
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
