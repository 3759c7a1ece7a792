//! How training reports progress: a progress bar on a terminal, the
//! notebook's plain lines (plus epoch wall times) in a pipe or CI log, or
//! nothing.

use gradtape_nn::Model;
use gradtape_train::{Dataset, Event, Solver};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// Where progress goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Nothing but the sections' results.
    Quiet,
    /// The notebook's lines, greppable (stdout is not a terminal).
    Plain,
    /// A progress bar with the loss, and the notebook's epoch lines above it.
    Bar,
}

impl Output {
    /// `Quiet` if asked, else `Bar` on a terminal and `Plain` elsewhere.
    pub fn choose(quiet: bool) -> Output {
        if quiet {
            Output::Quiet
        } else if std::io::stdout().is_terminal() {
            Output::Bar
        } else {
            Output::Plain
        }
    }

    /// Whether the Solver itself should print the notebook's lines.
    pub fn solver_verbose(self) -> bool {
        self == Output::Plain
    }
}

/// Connects a Solver to the chosen output. `label` names the run on the bar.
pub fn attach<M: Model, D: Dataset>(solver: &mut Solver<M, D>, output: Output, label: &str) {
    match output {
        Output::Quiet => {}
        Output::Plain => solver.set_observer(|e| {
            if let Event::Accuracy { epoch, seconds, learning_rate, .. } = e {
                if *epoch > 0 {
                    println!("  epoch {epoch} took {seconds:.1} s (learning rate now {learning_rate:.3e})");
                }
            }
        }),
        Output::Bar => {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} it  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(label.to_string());
            solver.set_observer(move |e| match e {
                Event::Iteration { iteration, num_iterations, epoch, loss } => {
                    bar.set_length(*num_iterations as u64);
                    bar.set_position(*iteration as u64);
                    bar.set_message(format!("epoch {epoch}  loss {loss:.4}"));
                    if iteration == num_iterations {
                        bar.finish_and_clear();
                    }
                }
                Event::Accuracy { epoch, num_epochs, train_acc, val_acc, seconds, .. } => {
                    bar.println(format!(
                        "(Epoch {epoch} / {num_epochs}) train acc: {train_acc:.6}; val_acc: {val_acc:.6}  [{seconds:.1} s]"
                    ));
                }
            });
        }
    }
}
