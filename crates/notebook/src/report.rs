//! The results file and the closing table "notebook vs gradtape".

use crate::dropout_forward::DropoutStats;
use crate::fc_gradcheck::GradcheckCase;
use crate::final_run::FinalResult;
use gradtape_train::History;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One training run's histories, as written to `results.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunSummary {
    /// Legend label.
    pub label: String,
    /// Loss of every iteration.
    pub loss_history: Vec<f64>,
    /// Train accuracy at the first iteration and after each epoch.
    pub train_acc_history: Vec<f64>,
    /// Validation accuracy at the same points.
    pub val_acc_history: Vec<f64>,
    /// Wall time of each epoch, seconds.
    pub epoch_seconds: Vec<f64>,
    /// Best validation accuracy.
    pub best_val_acc: f64,
    /// Wall time of the whole run, seconds.
    pub seconds: f64,
}

impl RunSummary {
    /// From a Solver's history.
    pub fn new(label: String, h: &History, seconds: f64) -> Self {
        RunSummary {
            label,
            loss_history: h.loss_history.clone(),
            train_acc_history: h.train_acc_history.clone(),
            val_acc_history: h.val_acc_history.clone(),
            epoch_seconds: h.epoch_seconds.clone(),
            best_val_acc: h.best_val_acc,
            seconds,
        }
    }

    /// Mean loss of each epoch.
    pub fn epoch_mean_loss(&self) -> Vec<f64> {
        let epochs = self.epoch_seconds.len().max(1);
        let per = (self.loss_history.len() / epochs).max(1);
        self.loss_history
            .chunks(per)
            .map(|c| c.iter().sum::<f64>() / c.len() as f64)
            .collect()
    }

    /// The last train and validation accuracies.
    pub fn final_accuracies(&self) -> (f64, f64) {
        let last = |v: &[f64]| v.last().copied().unwrap_or(f64::NAN);
        (last(&self.train_acc_history), last(&self.val_acc_history))
    }
}

/// Everything one notebook run measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Results {
    /// Section 1.
    pub dropout_forward: Vec<DropoutStats>,
    /// Section 2.
    pub dropout_backward_rel_error: f64,
    /// Section 3.
    pub gradcheck: Vec<GradcheckCase>,
    /// Section 4, one run per keep probability.
    pub regularization: Vec<RunSummary>,
    /// Section 5.
    #[serde(rename = "final")]
    pub final_run: FinalResult,
    /// Wall time of each section, seconds.
    pub section_seconds: Vec<(String, f64)>,
    /// Wall time of the whole notebook, seconds.
    pub total_seconds: f64,
}

/// Writes `value` as pretty JSON to `dir/name`, atomically (a temporary file
/// renamed into place), and returns the path.
pub fn write_json<T: Serialize>(dir: &Path, name: &str, value: &T) -> std::io::Result<PathBuf> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    write_atomic(dir, name, &text)
}

/// Writes `text` to `dir/name` through a temporary file renamed into place,
/// so a reader never sees half a file, and returns the path.
pub(crate) fn write_atomic(dir: &Path, name: &str, text: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

fn join(v: impl Iterator<Item = String>) -> String {
    v.collect::<Vec<_>>().join(" / ")
}

/// The closing table: this run's figures beside the notebook's, in Markdown.
pub fn summary_table(r: &Results) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| {} | {} | {} |",
        SUMMARY_HEADER[0], SUMMARY_HEADER[1], SUMMARY_HEADER[2]
    );
    let _ = writeln!(t, "| --- | --- | --- |");
    for [what, notebook, ours] in summary_rows(r) {
        let _ = writeln!(t, "| {what} | {notebook} | {ours} |");
    }
    t
}

/// The column titles of [`summary_rows`].
pub const SUMMARY_HEADER: [&str; 3] = ["figure", "notebook", "gradtape (this run)"];

/// The closing table's rows (under [`SUMMARY_HEADER`]): what, the
/// notebook's figure, this run's.
pub fn summary_rows(r: &Results) -> Vec<[String; 3]> {
    let mut t = Vec::new();
    let ps = join(r.dropout_forward.iter().map(|s| format!("{}", s.p)));
    let mut row = |what: &str, notebook: &str, ours: String| {
        t.push([what.to_string(), notebook.to_string(), ours]);
    };
    row(
        &format!("train-time fraction of zeros, p = {ps}"),
        &join(
            r.dropout_forward
                .iter()
                .map(|s| format!("~{:.2}", 1.0 - s.p)),
        ),
        join(
            r.dropout_forward
                .iter()
                .map(|s| format!("{:.4}", s.train_zero_fraction)),
        ),
    );
    row(
        "test-time fraction of zeros",
        "0",
        join(
            r.dropout_forward
                .iter()
                .map(|s| format!("{}", s.test_zero_fraction)),
        ),
    );
    row(
        "mean of train-time output (input ~10)",
        "~10",
        join(
            r.dropout_forward
                .iter()
                .map(|s| format!("{:.3}", s.train_mean)),
        ),
    );
    row(
        "dropout dx relative error",
        "5.4e-11",
        format!("{:.1e}", r.dropout_backward_rel_error),
    );
    let worst = |bn: bool| {
        r.gradcheck
            .iter()
            .filter(|c| c.use_batchnorm == bn)
            .map(|c| c.max_rel_error())
            .fold(0.0, f64::max)
    };
    row(
        "largest net gradient relative error (dropout 0.5 / 0.75 / 1)",
        "~1e-6",
        format!("{:.1e}", worst(false)),
    );
    row(
        "the same with batchnorm, N = 10",
        "(not in the notebook)",
        format!("{:.1e}", worst(true)),
    );
    for run in &r.regularization {
        let (tr, va) = run.final_accuracies();
        row(
            &format!("regularization, {}: final train / val acc", run.label),
            if run.label.starts_with("1.00") {
                "higher train, lower val"
            } else {
                "lower train, higher val"
            },
            format!("{tr:.3} / {va:.3}"),
        );
    }
    let f = &r.final_run;
    row(
        "final net: validation accuracy",
        "0.59",
        format!("{:.3}", f.val_acc),
    );
    row(
        "final net: test accuracy",
        "0.575",
        format!("{:.3}", f.test_acc),
    );
    row(
        "final net: training time",
        "-",
        format!("{:.0} s ({} epochs)", f.run.seconds, f.options.epochs),
    );
    row(
        "whole notebook: wall time",
        "-",
        format!("{:.0} s", r.total_seconds),
    );
    t
}
