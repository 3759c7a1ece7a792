//! The examples' flags, in small groups so that each example's `--help`
//! lists only the flags it uses: [`CommonArgs`] (where the data is),
//! [`RunArgs`] (a training run's output, seed and checks), [`FinalArgs`]
//! (the final net), [`CheckpointArgs`] (saving and resuming); and
//! [`main`], how every example ends.

use crate::final_run::{BoxError, Checkpointing, FinalOptions};
use crate::progress::Output;
use clap::Args;
use gradtape_data::{find_or_download_cifar10, get_cifar10_data, Cifar10, DownloadOptions};
use std::path::PathBuf;

/// `--data`: what every example that reads CIFAR-10 has.
#[derive(Args, Clone, Debug)]
pub struct CommonArgs {
    /// CIFAR-10 binary-version directory (default: $CIFAR10_DIR, then
    /// ./data/cifar-10-batches-bin, then ../shared/data/cifar-10-batches-bin,
    /// then the download cache, filled from $CIFAR10_URL or the official
    /// archive if empty).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Never download CIFAR-10: if it is not found, say how to get it
    /// (same as GRADTAPE_OFFLINE=1).
    #[arg(long)]
    pub no_download: bool,
}

impl CommonArgs {
    /// Finds the data directory, downloading it into the cache if it is
    /// nowhere (unless `--no-download` / `GRADTAPE_OFFLINE=1`: then says
    /// where it looked and how to get the files), and loads the notebook's
    /// splits: 49000 train, 1000 val, 1000 test, mean image subtracted.
    pub fn load(&self) -> Result<Cifar10, gradtape_data::DataError> {
        let mut download = DownloadOptions::from_env()?;
        download.offline |= self.no_download;
        let dir = find_or_download_cifar10(self.data.as_deref(), &download)?;
        get_cifar10_data(&dir, 49_000, 1_000, 1_000, true)
    }
}

/// `--out`, `--seed`, `--quiet`, `--detect-anomaly`: the flags of every
/// example that trains.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Where figures and results.json go (created if missing; checked
    /// before training starts).
    #[arg(long, value_name = "DIR", default_value = "target/notebook")]
    pub out: PathBuf,
    /// Seed for initialisation, dropout masks and minibatches.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub seed: u64,
    /// Print only the results, no training progress.
    #[arg(long)]
    pub quiet: bool,
    /// Check every op's values and gradients while training, and stop at
    /// the first NaN or infinity, naming the op (slower).
    #[arg(long)]
    pub detect_anomaly: bool,
}

impl RunArgs {
    /// Where progress goes: nothing with `--quiet`, else a bar or lines.
    pub fn output(&self) -> Output {
        Output::choose(self.quiet)
    }

    /// Creates `--out` (with its parents) and checks that files can be
    /// written there, so a run does not lose its results at the end.
    pub fn prepare_out(&self) -> Result<(), BoxError> {
        std::fs::create_dir_all(&self.out).map_err(|e| {
            format!(
                "--out {}: cannot create the directory: {e}",
                self.out.display()
            )
        })?;
        gradtape_checkpoint::check_writable_dir(&self.out).map_err(|e| format!("--out {e}"))?;
        Ok(())
    }
}

/// A count flag's value: a whole number of at least 1. Negative numbers
/// reach this parser (rather than being taken for a flag) so the message
/// says what is wrong with them.
///
/// ```
/// use gradtape_notebook::cli::positive;
/// assert_eq!(positive("20"), Ok(20));
/// assert!(positive("0").is_err());
/// assert!(positive("-1").unwrap_err().contains("must be a positive whole number"));
/// ```
pub fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("must be a positive whole number (1 or more)".into()),
    }
}

/// The final net's settings as flags; unset flags keep the default.
#[derive(Args, Clone, Debug, Default)]
pub struct FinalArgs {
    /// Use the notebook's exact configuration as the base instead of the tuned default.
    #[arg(long)]
    pub notebook_config: bool,
    /// Epochs of the final run.
    #[arg(long, value_parser = positive, allow_negative_numbers = true)]
    pub epochs: Option<usize>,
    /// Adam's initial learning rate.
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Learning-rate factor per epoch.
    #[arg(long, allow_negative_numbers = true)]
    pub lr_decay: Option<f64>,
    /// Keep probability of dropout.
    #[arg(long, allow_negative_numbers = true)]
    pub dropout: Option<f64>,
    /// Weight initialisation scale.
    #[arg(long, allow_negative_numbers = true)]
    pub weight_scale: Option<f64>,
    /// Hidden widths, comma-separated (e.g. 500,500,500).
    #[arg(long, value_delimiter = ',', value_parser = positive, allow_negative_numbers = true)]
    pub hidden: Option<Vec<usize>>,
}

impl FinalArgs {
    /// The options these flags select, with the run's seed and anomaly mode.
    pub fn options(&self, run: &RunArgs) -> FinalOptions {
        let mut o = if self.notebook_config {
            FinalOptions::notebook()
        } else {
            FinalOptions::default()
        };
        o.seed = run.seed;
        o.detect_anomaly = run.detect_anomaly;
        o.epochs = self.epochs.unwrap_or(o.epochs);
        o.learning_rate = self.lr.unwrap_or(o.learning_rate);
        o.lr_decay = self.lr_decay.unwrap_or(o.lr_decay);
        o.dropout = self.dropout.unwrap_or(o.dropout);
        o.weight_scale = self.weight_scale.unwrap_or(o.weight_scale);
        if let Some(h) = &self.hidden {
            o.hidden_dims = h.clone();
        }
        o
    }
}

/// `--save`, `--resume` and `--overwrite` for a long training run.
#[derive(Args, Clone, Debug, Default)]
pub struct CheckpointArgs {
    /// Write a training checkpoint (safetensors) here at the end of every
    /// epoch, replacing the previous one atomically: an interrupted run
    /// loses at most the epoch it was in. The directory must exist. An
    /// existing file is replaced only if it is this run's own checkpoint
    /// (same configuration, seed and settings), unless --overwrite.
    #[arg(long, value_name = "PATH")]
    pub save: Option<PathBuf>,
    /// Continue the run saved in this training checkpoint (from the end of
    /// its last epoch), exactly as if it had not stopped. Pass the flags the
    /// saved run had: a configuration or setting that differs (--lr,
    /// --lr-decay, --seed, --hidden, ...) is refused, since the resumed run
    /// could not honour it exactly; --epochs may be larger, to train further.
    #[arg(long, value_name = "PATH")]
    pub resume: Option<PathBuf>,
    /// Let --save replace a file that is not this run's checkpoint.
    #[arg(long)]
    pub overwrite: bool,
}

impl CheckpointArgs {
    /// What the final run should save and resume.
    pub fn checkpointing(&self) -> Checkpointing {
        Checkpointing {
            save: self.save.clone(),
            resume: self.resume.clone(),
            overwrite: self.overwrite,
        }
    }
}

/// How every example ends: runs `body`, and on an error prints it as a
/// sentence (its `Display`, with its causes) to stderr and exits with
/// code 1. Output to a closed pipe (`| head -1`) ends the process quietly,
/// by SIGPIPE, as other command-line tools end, instead of a panic from
/// `println!`.
pub fn main<E: std::fmt::Display>(body: impl FnOnce() -> Result<(), E>) {
    restore_sigpipe();
    if let Err(e) = body() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Rust ignores SIGPIPE, so writing to a closed pipe returns an error that
/// `println!` turns into a panic; the default action ends the process
/// silently instead.
#[cfg(unix)]
fn restore_sigpipe() {
    // SAFETY: `SIG_DFL` installs no handler (none of our code runs in
    // signal context); it resets the SIG_IGN Rust's runtime set, and a
    // disposition change is process-wide and thread-safe by POSIX.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn restore_sigpipe() {}
