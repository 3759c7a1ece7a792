//! Loads CIFAR-10 with the notebook's split and prints what was loaded and
//! how long it took.
//!
//! ```text
//! cargo run --release -p gradtape-data --example cifar10_summary [-- [--data] <dir>]
//! ```
//!
//! The directory is `--data DIR`, `--data=DIR` or just `DIR`, as the other
//! examples take it; without one it is looked for where they look.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Instant;

use gradtape_data::{find_cifar10_dir, Cifar10, Cifar10Options, NUM_CLASSES};

const USAGE: &str = "usage: cifar10_summary [--data] [DIR]";

fn main() {
    let dir = match data_dir(std::env::args_os().skip(1)) {
        Ok(dir) => dir,
        Err(msg) => {
            eprintln!(
                "error: {msg}
{USAGE}"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = run(dir) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The directory the arguments name, if any.
fn data_dir(mut args: impl Iterator<Item = OsString>) -> Result<Option<PathBuf>, String> {
    let dir = match args.next() {
        None => return Ok(None),
        Some(a) if a == "--help" || a == "-h" => {
            println!("{USAGE}");
            std::process::exit(0);
        }
        Some(a) if a == "--data" => args.next().ok_or("--data needs a directory")?,
        Some(a) => match a.to_str().and_then(|s| s.strip_prefix("--data=")) {
            Some(dir) => dir.into(),
            None if a.to_str().is_some_and(|s| s.starts_with('-')) => {
                return Err(format!("unknown flag {}", a.to_string_lossy()))
            }
            None => a,
        },
    };
    match args.next() {
        Some(extra) => Err(format!("unexpected argument {}", extra.to_string_lossy())),
        None => Ok(Some(dir.into())),
    }
}

fn run(explicit: Option<PathBuf>) -> gradtape_data::Result<()> {
    let dir = find_cifar10_dir(explicit.as_deref())?;
    let start = Instant::now();
    let data = Cifar10::load(&dir, &Cifar10Options::default())?;
    let elapsed = start.elapsed();

    println!("loaded {} in {:.3} s", dir.display(), elapsed.as_secs_f64());
    for (name, split) in [
        ("train", &data.train),
        ("val", &data.val),
        ("test", &data.test),
    ] {
        let mut counts = [0usize; NUM_CLASSES];
        for &l in split.labels() {
            counts[l] += 1;
        }
        println!("{name:>5}: {:>5} images, per class {counts:?}", split.len());
    }
    if let Some(mean) = data.mean_image() {
        let avg = mean.iter().sum::<f64>() / mean.len() as f64;
        println!("mean image: average pixel {avg:.3}");
    }
    println!("classes: {}", data.class_names.join(", "));
    Ok(())
}
