//! The download's progress on standard error: a bar on a terminal, a line
//! every tenth (or every 16 MiB when the size is unknown) in a log.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Progress;

/// Bytes between two lines when the total is unknown.
const LINE_STEP_UNKNOWN: u64 = 16 << 20;

/// Reports one download (and the steps around it) in the chosen style.
pub(crate) struct Reporter {
    style: Style,
}

enum Style {
    Silent,
    Lines { total: Option<u64>, next: u64 },
    Bar(Option<ProgressBar>),
}

impl Reporter {
    pub(crate) fn new(progress: Progress) -> Self {
        let bar = match progress {
            Progress::Auto => std::io::stderr().is_terminal(),
            Progress::Bar => true,
            Progress::Lines => false,
            Progress::Silent => {
                return Reporter {
                    style: Style::Silent,
                }
            }
        };
        let style = if bar {
            Style::Bar(None)
        } else {
            Style::Lines {
                total: None,
                next: 0,
            }
        };
        Reporter { style }
    }

    /// A status line ("checking...", "unpacking...").
    pub(crate) fn line(&self, text: &str) {
        match &self.style {
            Style::Silent => {}
            Style::Bar(Some(bar)) => bar.println(text),
            _ => eprintln!("{text}"),
        }
    }

    /// A transfer starts at byte `from` (non-zero when resuming) of `total`.
    pub(crate) fn start(&mut self, from: u64, total: Option<u64>) {
        match &mut self.style {
            Style::Silent => {}
            Style::Lines { total: t, next } => {
                *t = total;
                *next = from + step(total);
            }
            Style::Bar(slot) => {
                let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
                let template = if total.is_some() {
                    "{bytes:>10} / {total_bytes} [{bar:30}] {bytes_per_sec}, {eta} left"
                } else {
                    "{spinner} {bytes:>10} {bytes_per_sec}"
                };
                if let Ok(style) = ProgressStyle::with_template(template) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_position(from);
                *slot = Some(bar);
            }
        }
    }

    /// The transfer has reached byte `at`.
    pub(crate) fn at(&mut self, at: u64) {
        match &mut self.style {
            Style::Silent => {}
            Style::Lines { total, next } => {
                if at >= *next {
                    match total {
                        Some(t) if *t > 0 => eprintln!(
                            "  {} / {} ({}%)",
                            mib(at),
                            mib(*t),
                            at.saturating_mul(100) / *t
                        ),
                        _ => eprintln!("  {}", mib(at)),
                    }
                    *next = at + step(*total);
                }
            }
            Style::Bar(Some(bar)) => bar.set_position(at),
            Style::Bar(None) => {}
        }
    }

    /// The transfer is over (complete or not).
    pub(crate) fn done(&mut self) {
        if let Style::Bar(slot) = &mut self.style {
            if let Some(bar) = slot.take() {
                bar.finish_and_clear();
            }
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.done();
    }
}

/// Bytes between two progress lines.
fn step(total: Option<u64>) -> u64 {
    match total {
        Some(t) => (t / 10).max(1),
        None => LINE_STEP_UNKNOWN,
    }
}

/// `bytes` in MiB with one decimal.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}
