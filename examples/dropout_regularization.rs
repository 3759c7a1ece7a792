//! Notebook section 4: dropout as a regularizer. Two [100, 100, 100] nets,
//! keep probability 0.6 and 1.0, trained on 500 images for 25 epochs; writes
//! the notebook's figure (regularization.png / .svg) under --out.
//!
//! cargo run --release --example dropout_regularization -- [--epochs N] [--out DIR]

use clap::Parser;
use gradtape::notebook::cli::{self, positive, CommonArgs, RunArgs};
use gradtape::notebook::final_run::BoxError;
use gradtape::notebook::regularization::{self, RegularizationOptions};
use gradtape::notebook::report::write_json;

/// Dropout as a regularizer: train/val accuracy with and without dropout.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    run: RunArgs,
    /// Epochs per net.
    #[arg(long, default_value_t = 25, value_parser = positive, allow_negative_numbers = true)]
    epochs: usize,
}

fn main() {
    cli::main(run);
}

fn run() -> Result<(), BoxError> {
    let args = Args::parse();
    let options = RegularizationOptions {
        epochs: args.epochs,
        seed: args.run.seed,
        detect_anomaly: args.run.detect_anomaly,
        ..Default::default()
    };
    options.preflight()?;
    args.run.prepare_out()?;
    let data = args.common.load()?;
    let runs = regularization::run(&data, &options, args.run.output())?;
    for r in &runs {
        let (tr, va) = r.final_accuracies();
        println!(
            "{}: final train acc {tr:.3}, val acc {va:.3} ({:.1} s)",
            r.label, r.seconds
        );
    }
    let out = &args.run.out;
    regularization::plot(&runs, out)?;
    let json = write_json(out, "regularization.json", &runs)?;
    println!("figure: {}", out.join("regularization.png").display());
    println!("results: {}", json.display());
    Ok(())
}
