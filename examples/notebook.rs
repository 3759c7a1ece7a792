//! The whole Dropout notebook, in order: dropout forward statistics, dropout
//! backward check, the net's gradient check, dropout as a regularizer, and the
//! final CIFAR-10 net. Ends with a table of this run's figures beside the
//! notebook's, and writes results.json, the figures and index.html (the
//! whole run on one page) under --out.
//!
//! cargo run --release --example notebook

use clap::Parser;
use gradtape::notebook::cli::{self, positive, CommonArgs, FinalArgs, RunArgs};
use gradtape::notebook::final_run::{BoxError, Checkpointing};
use gradtape::notebook::regularization::RegularizationOptions;
use gradtape::notebook::report::{summary_table, write_json, Results};
use gradtape::notebook::{
    dropout_backward, dropout_forward, fc_gradcheck, final_run, regularization,
};
use std::time::Instant;

/// Reproduce the CS231n Dropout notebook end to end.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    net: FinalArgs,
    /// Epochs of each regularization net.
    #[arg(long, default_value_t = 25, value_parser = positive, allow_negative_numbers = true)]
    regularization_epochs: usize,
}

fn section(title: &str) {
    println!("\n=== {title} ===\n");
}

fn main() {
    cli::main(run);
}

fn run() -> Result<(), BoxError> {
    let args = Args::parse();
    let output = args.run.output();
    let verbose = !args.run.quiet;
    let reg_options = RegularizationOptions {
        epochs: args.regularization_epochs,
        seed: args.run.seed,
        detect_anomaly: args.run.detect_anomaly,
        ..Default::default()
    };
    let final_options = args.net.options(&args.run);
    // Everything that can fail before the work, checked before it.
    reg_options.preflight()?;
    final_run::preflight(&final_options, &Checkpointing::default())?;
    args.run.prepare_out()?;
    let start = Instant::now();
    let mut times = Vec::new();
    let mut lap = |name: &str, t: Instant| {
        let s = t.elapsed().as_secs_f64();
        println!("[{name}: {s:.1} s]");
        times.push((name.to_string(), s));
    };

    // Load first, so a missing data directory fails before any work.
    let t = Instant::now();
    let data = args.common.load()?;
    lap("load data", t);

    section("1. Dropout forward pass");
    let t = Instant::now();
    let forward = dropout_forward::run(&[0.3, 0.6, 0.75], 500, 231, verbose)?;
    lap("dropout forward", t);

    section("2. Dropout backward pass");
    let t = Instant::now();
    let backward = dropout_backward::run(0.8, 123, 231, true)?;
    lap("dropout backward", t);

    section("3. Fully connected net with dropout: gradient check");
    let t = Instant::now();
    let gradcheck = fc_gradcheck::run(verbose)?;
    lap("gradient check", t);

    section("4. Regularization experiment");
    let t = Instant::now();
    let regularization = regularization::run(&data, &reg_options, output)?;
    regularization::plot(&regularization, &args.run.out)?;
    lap("regularization", t);

    section("5. Train a good model");
    let t = Instant::now();
    println!("{final_options:?}");
    let final_run = final_run::run(&data, &final_options, output)?;
    final_run::plot(&final_run, &args.run.out)?;
    lap("final net", t);

    let results = Results {
        dropout_forward: forward,
        dropout_backward_rel_error: backward,
        gradcheck,
        regularization,
        final_run,
        total_seconds: start.elapsed().as_secs_f64(),
        section_seconds: times,
    };
    let json = write_json(&args.run.out, "results.json", &results)?;
    let table = summary_table(&results);
    std::fs::write(args.run.out.join("summary.md"), &table)?;
    section("Notebook vs gradtape");
    println!("{table}");
    let page = gradtape::notebook::html::write_html(&args.run.out, &results)?;
    println!("results: {}", json.display());
    println!("page: {}", page.display());
    println!("figures: {}", args.run.out.display());
    Ok(())
}
