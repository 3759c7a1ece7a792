//! Notebook section 2: dropout's backward against finite differences
//! (x = randn(10, 10) + 10, keep probability 0.8, mask seed 123).
//!
//! cargo run --release --example dropout_backward

use clap::Parser;
use gradtape::notebook::cli;

/// Dropout backward pass checked with centered differences.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Keep probability.
    #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
    p: f64,
    /// Seed of the dropout mask (fixed for every probe).
    #[arg(long, default_value_t = 123)]
    seed: u64,
}

fn main() {
    cli::main(|| {
        let args = Args::parse();
        gradtape::notebook::dropout_backward::run(args.p, args.seed, 231, true).map(|_| ())
    });
}
