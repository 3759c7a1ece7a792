//! Notebook section 3: every parameter of the fully connected net checked
//! against finite differences, for dropout 0.5, 0.75 and 1.0 (N = 2), and
//! again with batchnorm (N = 10).
//!
//! cargo run --release --example fc_gradcheck

use clap::Parser;
use gradtape::notebook::cli;

/// FullyConnectedNet gradient check with dropout (and batchnorm).
#[derive(Parser)]
#[command(version)]
struct Args {}

fn main() {
    cli::main(|| {
        Args::parse();
        let cases = gradtape::notebook::fc_gradcheck::run(true)?;
        let worst = cases.iter().map(|c| c.max_rel_error()).fold(0.0, f64::max);
        println!("Largest relative error over all checks: {worst:.2e}");
        Ok::<_, gradtape::Error>(())
    });
}
