//! For tests that need the real CIFAR-10 files: find them, or skip with one
//! visible line, or (under CI) fail.
//!
//! Every test in the workspace that reads the real files starts with
//! [`cifar10_or_skip`], so a fresh clone without the data passes
//! `cargo test` and says what it skipped, while CI sets
//! [`REQUIRE_DATA_ENV`]` = 1` so that nothing is skipped silently. The
//! tests never download anything.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::dir::resolve;
use crate::CIFAR10_DIR_ENV;

/// The environment variable that turns a skipped data test into a failure:
/// set it to `1` (CI does) and a missing CIFAR-10 directory fails the test.
pub const REQUIRE_DATA_ENV: &str = "GRADTAPE_REQUIRE_DATA";

/// The CIFAR-10 directory for a test, or `None` after printing one line
/// saying the test was skipped and how to run it.
///
/// Looks where [`crate::find_cifar10_dir`] looks, with the workspace root
/// (the nearest ancestor of the working directory that holds `Cargo.lock`;
/// cargo runs tests from their package's directory) in place of the working
/// directory: `$CIFAR10_DIR`, then `<workspace>/data/cifar-10-batches-bin`,
/// then `<workspace>/../shared/data/cifar-10-batches-bin`.
///
/// The skip line goes straight to the process's standard error, which the
/// test harness does not capture, so it shows in `cargo test` output even
/// when the test passes.
///
/// # Panics
///
/// When the directory is not found and `$GRADTAPE_REQUIRE_DATA` is `1`, or
/// when `$CIFAR10_DIR` is set but names no directory (a misspelt setting is
/// reported, not skipped).
///
/// ```
/// use gradtape_data::testing::cifar10_or_skip;
/// let Some(dir) = cifar10_or_skip() else { return };
/// assert!(dir.join("data_batch_1.bin").exists());
/// ```
pub fn cifar10_or_skip() -> Option<PathBuf> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let root = workspace_root(&cwd);
    let env = std::env::var_os(CIFAR10_DIR_ENV).filter(|v| !v.is_empty());
    let env_set = env.is_some();
    let err = match resolve(None, env, &root) {
        Ok(dir) => return Some(dir),
        Err(e) => e,
    };
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("this test")
        .to_string();
    if env_set {
        panic!("{test} needs the CIFAR-10 files, and {CIFAR10_DIR_ENV} is set: {err}");
    }
    if required(std::env::var_os(REQUIRE_DATA_ENV)) {
        panic!("{test} needs the CIFAR-10 files, and {REQUIRE_DATA_ENV} is set: {err}");
    }
    let line = format!(
        "SKIPPED {test}: no CIFAR-10 found ({CIFAR10_DIR_ENV} not set, none under {}); \
         set {CIFAR10_DIR_ENV}=<cifar-10-batches-bin> to run it, {REQUIRE_DATA_ENV}=1 to fail instead\n",
        root.display()
    );
    // Not `eprintln!`: the harness captures that for passing tests.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    None
}

/// Whether the value of `$GRADTAPE_REQUIRE_DATA` asks for the data.
fn required(value: Option<OsString>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "0")
}

/// The nearest ancestor of `dir` (itself included) holding `Cargo.lock`,
/// else `dir`.
fn workspace_root(dir: &Path) -> PathBuf {
    dir.ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or(dir)
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_data_is_on_for_any_value_but_empty_and_zero() {
        assert!(!required(None));
        assert!(!required(Some("".into())));
        assert!(!required(Some("0".into())));
        assert!(required(Some("1".into())));
        assert!(required(Some("yes".into())));
    }

    #[test]
    fn the_workspace_root_is_the_directory_with_the_lock_file() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = workspace_root(here);
        assert!(root.join("Cargo.lock").is_file());
        assert!(here.starts_with(&root));
        let nowhere = Path::new("/no/such/place");
        assert_eq!(workspace_root(nowhere), nowhere);
    }
}
