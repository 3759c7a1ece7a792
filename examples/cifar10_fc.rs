//! Notebook section 5: the [500, 500, 500] net with batchnorm and dropout,
//! Adam with learning-rate decay, on 49000 CIFAR-10 images; prints the
//! validation and test accuracy of the best epoch and writes final.png/.svg.
//!
//! cargo run --release --example cifar10_fc -- [--notebook-config] [--epochs N] [--seed N]
//!     [--save run.safetensors] [--resume run.safetensors]
//!
//! With `--save PATH` a training checkpoint (safetensors: net, Adam state,
//! the Solver's position, generators, histories and best net) replaces PATH
//! atomically at the end of every epoch. `--resume PATH` continues such a
//! run from its last saved epoch, bit for bit as if it had not stopped; pass
//! the same flags as the saved run (a larger --epochs trains further).
//! `cargo run --release --example evaluate -- PATH` scores a checkpoint on
//! the test split without training.

use clap::Parser;
use gradtape::notebook::cli::{CheckpointArgs, CommonArgs, FinalArgs};
use gradtape::notebook::final_run;
use gradtape::notebook::progress::Output;
use gradtape::notebook::report::write_json;

/// Train the notebook's final fully connected net on CIFAR-10.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    net: FinalArgs,
    #[command(flatten)]
    checkpoint: CheckpointArgs,
}

fn main() {
    // Errors in full sentences (their Display), not as Debug structs.
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let data = args.common.load()?;
    let options = args.net.options(args.common.seed);
    println!("final net: {options:?}");
    let result = final_run::run_checkpointed(
        &data,
        &options,
        Output::choose(args.common.quiet),
        &args.checkpoint.checkpointing(),
    )?;
    println!(
        "val {:.4} test {:.4} in {:.1} s ({:.2} s per epoch)",
        result.val_acc,
        result.test_acc,
        result.run.seconds,
        result.run.seconds / options.epochs.max(1) as f64
    );
    final_run::plot(&result, &args.common.out)?;
    let json = write_json(&args.common.out, "cifar10_fc.json", &result)?;
    println!("figure: {}", args.common.out.join("final.png").display());
    println!("results: {}", json.display());
    if let Some(path) = &args.checkpoint.save {
        println!("checkpoint: {}", path.display());
    }
    Ok(())
}
