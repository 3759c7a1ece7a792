//! Scores a saved net on CIFAR-10 without training: loads a checkpoint
//! (a net checkpoint, or a training checkpoint from `cifar10_fc --save`),
//! checks it whole (a diverged or forged one, with NaN parameters or a
//! negative running variance, is refused), and prints its validation and
//! test accuracy. Any error exits with code 1.
//!
//! cargo run --release --example evaluate -- run.safetensors [--last] [--data DIR]
//!
//! From a training checkpoint the best validation epoch's net is scored,
//! as `cifar10_fc` scores it at the end of training; `--last` scores the net
//! of the last saved epoch instead.

use clap::Parser;
use gradtape::checkpoint::{load_best_net, load_net};
use gradtape::nn::{FullyConnectedNet, Model};
use gradtape::notebook::cli::{self, CommonArgs};
use gradtape::rng_from_seed;
use gradtape::train::check_accuracy;
use std::path::PathBuf;

/// Score a gradtape checkpoint on the CIFAR-10 validation and test splits.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The checkpoint (.safetensors) to score.
    checkpoint: PathBuf,
    /// From a training checkpoint, score the last epoch's net rather than
    /// the best validation epoch's.
    #[arg(long)]
    last: bool,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() {
    cli::main(run);
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // The checkpoint first: a bad file fails before the data is read.
    let (config, state) = if args.last {
        load_net(&args.checkpoint)?
    } else {
        load_best_net(&args.checkpoint)?
    };
    let mut net = FullyConnectedNet::new(config.clone())?;
    net.restore(&state)?;
    println!("{}: {config:?}", args.checkpoint.display());
    let data = args.common.load()?;
    // Unused: every example of both splits is scored, in order.
    let mut rng = rng_from_seed(0);
    let val_acc = check_accuracy(&mut net, &data.val, None, 100, &mut rng)?;
    let test_acc = check_accuracy(&mut net, &data.test, None, 100, &mut rng)?;
    println!("Validation set accuracy: {val_acc}");
    println!("Test set accuracy: {test_acc}");
    Ok(())
}
