//! Loads CIFAR-10 with the notebook's split and prints what was loaded and
//! how long it took.
//!
//! ```text
//! cargo run --release -p gradtape-data --example cifar10_summary [-- <dir>]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use gradtape_data::{find_cifar10_dir, Cifar10, Cifar10Options, NUM_CLASSES};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> gradtape_data::Result<()> {
    let explicit = std::env::args_os().nth(1).map(PathBuf::from);
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
