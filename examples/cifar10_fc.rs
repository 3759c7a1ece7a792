//! Notebook section 5: the [500, 500, 500] net with batchnorm and dropout,
//! Adam with learning-rate decay, on 49000 CIFAR-10 images; prints the
//! validation and test accuracy of the best epoch and writes final.png/.svg.
//!
//! cargo run --release --example cifar10_fc -- [--notebook-config] [--epochs N] [--seed N]

use clap::Parser;
use gradtape::notebook::cli::{CommonArgs, FinalArgs};
use gradtape::notebook::final_run;
use gradtape::notebook::progress::Output;
use gradtape::notebook::report::write_json;

/// Train the notebook's final fully connected net on CIFAR-10.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    net: FinalArgs,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let data = args.common.load()?;
    let options = args.net.options(args.common.seed);
    println!("final net: {options:?}");
    let result = final_run::run(&data, &options, Output::choose(args.common.quiet))?;
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
    Ok(())
}
