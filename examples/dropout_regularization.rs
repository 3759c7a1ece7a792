//! Notebook section 4: dropout as a regularizer. Two [100, 100, 100] nets,
//! keep probability 0.6 and 1.0, trained on 500 images for 25 epochs; writes
//! the notebook's figure (regularization.png / .svg) under --out.
//!
//! cargo run --release --example dropout_regularization -- [--epochs N] [--out DIR]

use clap::Parser;
use gradtape::notebook::cli::CommonArgs;
use gradtape::notebook::progress::Output;
use gradtape::notebook::regularization::{self, RegularizationOptions};
use gradtape::notebook::report::write_json;

/// Dropout as a regularizer: train/val accuracy with and without dropout.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Epochs per net.
    #[arg(long, default_value_t = 25)]
    epochs: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let data = args.common.load()?;
    let options = RegularizationOptions {
        epochs: args.epochs,
        seed: args.common.seed,
        ..Default::default()
    };
    let runs = regularization::run(&data, &options, Output::choose(args.common.quiet))?;
    for r in &runs {
        let (tr, va) = r.final_accuracies();
        println!(
            "{}: final train acc {tr:.3}, val acc {va:.3} ({:.1} s)",
            r.label, r.seconds
        );
    }
    regularization::plot(&runs, &args.common.out)?;
    let json = write_json(&args.common.out, "regularization.json", &runs)?;
    println!(
        "figure: {}",
        args.common.out.join("regularization.png").display()
    );
    println!("results: {}", json.display());
    Ok(())
}
