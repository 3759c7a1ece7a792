//! Notebook section 5: the [500, 500, 500] net with batchnorm and dropout,
//! Adam with learning-rate decay, on 49000 CIFAR-10 images; prints the
//! validation and test accuracy of the best epoch and writes final.png/.svg.
//!
//! cargo run --release --example cifar10_fc -- [--notebook-config] [--epochs N] [--seed N]
//!     [--save run.safetensors [--overwrite]] [--resume run.safetensors] [--detect-anomaly]
//!
//! With `--save PATH` a training checkpoint (safetensors: net, Adam state,
//! the Solver's position, generators, histories and best net) replaces PATH
//! atomically at the end of every epoch; PATH's directory must exist, and a
//! file already there is replaced only if it is this run's own checkpoint
//! (or with `--overwrite`). `--resume PATH` continues such a run from its
//! last saved epoch, bit for bit as if it had not stopped; pass the same
//! flags as the saved run (a larger --epochs trains further; any other
//! difference is refused). `cargo run --release --example evaluate -- PATH`
//! scores a checkpoint on the test split without training.
//!
//! Everything that can be checked is checked before the data is loaded:
//! the flags, the memory the net needs, --out and --save. A run whose loss
//! or parameters stop being finite stops with an error. Any error exits
//! with code 1.

use clap::Parser;
use gradtape::notebook::cli::{self, CheckpointArgs, CommonArgs, FinalArgs, RunArgs};
use gradtape::notebook::final_run::{self, BoxError};
use gradtape::notebook::report::write_json;

/// Train the notebook's final fully connected net on CIFAR-10.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    net: FinalArgs,
    #[command(flatten)]
    checkpoint: CheckpointArgs,
}

fn main() {
    cli::main(run);
}

fn run() -> Result<(), BoxError> {
    let args = Args::parse();
    let options = args.net.options(&args.run);
    let checkpointing = args.checkpoint.checkpointing();
    final_run::preflight(&options, &checkpointing)?;
    args.run.prepare_out()?;
    let data = args.common.load()?;
    println!("final net: {options:?}");
    let result = final_run::run_checkpointed(&data, &options, args.run.output(), &checkpointing)?;
    println!(
        "val {:.4} test {:.4} in {:.1} s ({:.2} s per epoch, {} epoch{} run)",
        result.val_acc,
        result.test_acc,
        result.run.seconds,
        result.seconds_per_epoch(),
        result.epochs_run,
        if result.epochs_run == 1 { "" } else { "s" }
    );
    let out = &args.run.out;
    final_run::plot(&result, out)?;
    let json = write_json(out, "cifar10_fc.json", &result)?;
    println!("figure: {}", out.join("final.png").display());
    println!("results: {}", json.display());
    if let Some(path) = &args.checkpoint.save {
        println!("checkpoint: {}", path.display());
    }
    Ok(())
}
