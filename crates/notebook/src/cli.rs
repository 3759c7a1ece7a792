//! Flags the data-driven examples share.

use crate::final_run::{Checkpointing, FinalOptions};
use clap::Args;
use gradtape_data::{find_or_download_cifar10, get_cifar10_data, Cifar10, DownloadOptions};
use std::path::PathBuf;

/// `--data`, `--out`, `--seed`, `--quiet`.
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
    /// Where figures and results.json go.
    #[arg(long, value_name = "DIR", default_value = "target/notebook")]
    pub out: PathBuf,
    /// Seed for initialisation, dropout masks and minibatches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print only the results, no training progress.
    #[arg(long)]
    pub quiet: bool,
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

/// The final net's settings as flags; unset flags keep the default.
#[derive(Args, Clone, Debug, Default)]
pub struct FinalArgs {
    /// Use the notebook's exact configuration as the base instead of the tuned default.
    #[arg(long)]
    pub notebook_config: bool,
    /// Epochs of the final run.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Adam's initial learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate factor per epoch.
    #[arg(long)]
    pub lr_decay: Option<f64>,
    /// Keep probability of dropout.
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Weight initialisation scale.
    #[arg(long)]
    pub weight_scale: Option<f64>,
    /// Hidden widths, comma-separated (e.g. 500,500,500).
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
}

impl FinalArgs {
    /// The options these flags select, with `seed`.
    pub fn options(&self, seed: u64) -> FinalOptions {
        let mut o = if self.notebook_config {
            FinalOptions::notebook()
        } else {
            FinalOptions::default()
        };
        o.seed = seed;
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

/// `--save` and `--resume` for a long training run.
#[derive(Args, Clone, Debug, Default)]
pub struct CheckpointArgs {
    /// Write a training checkpoint (safetensors) here at the end of every
    /// epoch, replacing the previous one atomically: an interrupted run
    /// loses at most the epoch it was in.
    #[arg(long, value_name = "PATH")]
    pub save: Option<PathBuf>,
    /// Continue the run saved in this training checkpoint (from the end of
    /// its last epoch), exactly as if it had not stopped. Pass the flags the
    /// saved run had (the net's configuration must match; --epochs may be
    /// larger, to train further).
    #[arg(long, value_name = "PATH")]
    pub resume: Option<PathBuf>,
}

impl CheckpointArgs {
    /// What the final run should save and resume.
    pub fn checkpointing(&self) -> Checkpointing {
        Checkpointing {
            save: self.save.clone(),
            resume: self.resume.clone(),
        }
    }
}
