//! Notebook section 1: dropout's forward statistics for keep probabilities
//! 0.3, 0.6 and 0.75 on x = randn(500, 500) + 10.
//!
//! cargo run --release --example dropout_forward -- [--seed N]

use clap::Parser;
use gradtape::notebook::cli;

/// Dropout forward pass: means and fractions of zeros, train vs test.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Seed for the input and the masks.
    #[arg(long, default_value_t = 231)]
    seed: u64,
}

fn main() {
    cli::main(|| {
        let args = Args::parse();
        gradtape::notebook::dropout_forward::run(&[0.3, 0.6, 0.75], 500, args.seed, true)
            .map(|_| ())
    });
}
