//! Where the CIFAR-10 files live: an explicit path, `$CIFAR10_DIR`, or one of
//! two conventional places relative to the working directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::{DataError, Result};

/// The environment variable naming the CIFAR-10 directory.
pub const CIFAR10_DIR_ENV: &str = "CIFAR10_DIR";

/// The conventional places tried, relative to the working directory, when
/// neither an explicit path nor `$CIFAR10_DIR` is given.
const DEFAULT_DIRS: [&str; 2] = [
    "./data/cifar-10-batches-bin",
    "../shared/data/cifar-10-batches-bin",
];

/// Finds the directory holding the CIFAR-10 binary files.
///
/// In order:
/// 1. `explicit` (e.g. a `--data` flag), if given: it must be a directory,
///    and nothing else is tried;
/// 2. else `$CIFAR10_DIR`, if set and non-empty: likewise authoritative, so a
///    misspelt setting is reported rather than silently ignored;
/// 3. else `./data/cifar-10-batches-bin`, then
///    `../shared/data/cifar-10-batches-bin`, relative to the working directory.
///
/// Only the directory's existence is checked here; [`crate::get_cifar10_data`]
/// reports missing or malformed files. On failure,
/// [`DataError::DirNotFound`] lists every place looked at and how to get the
/// official files.
///
/// ```
/// use gradtape_data::{find_cifar10_dir, DataError};
/// let err = find_cifar10_dir(Some("/no/such/dir".as_ref())).unwrap_err();
/// assert!(matches!(err, DataError::DirNotFound { .. }));
/// assert!(err.to_string().contains("cifar-10-binary.tar.gz"));
/// ```
pub fn find_cifar10_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    resolve(explicit, std::env::var_os(CIFAR10_DIR_ENV), &cwd)
}

/// [`find_cifar10_dir`] with the environment and working directory passed in,
/// so it can be tested without touching process-global state.
pub(crate) fn resolve(
    explicit: Option<&Path>,
    env: Option<OsString>,
    cwd: &Path,
) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return only(path.to_path_buf(), "explicit path (--data)");
    }
    if let Some(value) = env.filter(|v| !v.is_empty()) {
        return only(PathBuf::from(value), &format!("${CIFAR10_DIR_ENV}"));
    }
    let mut tried = vec![format!("${CIFAR10_DIR_ENV}: not set")];
    for rel in DEFAULT_DIRS {
        let path = cwd.join(rel);
        if path.is_dir() {
            return Ok(path);
        }
        tried.push(format!("{rel} (from {}): {}", cwd.display(), state(&path)));
    }
    Err(DataError::DirNotFound { tried })
}

/// `path` if it is a directory, else a [`DataError::DirNotFound`] naming it.
fn only(path: PathBuf, origin: &str) -> Result<PathBuf> {
    if path.is_dir() {
        Ok(path)
    } else {
        let tried = vec![format!("{origin}: {}: {}", path.display(), state(&path))];
        Err(DataError::DirNotFound { tried })
    }
}

/// Why `path` is not usable as the data directory.
fn state(path: &Path) -> &'static str {
    if path.exists() {
        "not a directory"
    } else {
        "does not exist"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gradtape-data-dir-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn explicit_path_wins_and_must_exist() {
        let root = scratch("explicit");
        let env = Some(OsString::from(root.as_os_str()));
        assert_eq!(resolve(Some(&root), None, &root).unwrap(), root);
        let missing = root.join("missing");
        let err = resolve(Some(&missing), env, &root).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("explicit path (--data)"), "{msg}");
        assert!(msg.contains("missing: does not exist"), "{msg}");
        assert!(
            !msg.contains("CIFAR10_DIR:"),
            "env must not be consulted: {msg}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn env_var_is_authoritative() {
        let root = scratch("env");
        let found = resolve(None, Some(OsString::from(root.as_os_str())), &root).unwrap();
        assert_eq!(found, root);
        let err = resolve(None, Some(OsString::from("/no/such/cifar")), &root).unwrap_err();
        assert!(err
            .to_string()
            .contains("$CIFAR10_DIR: /no/such/cifar: does not exist"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn defaults_in_order_then_full_report() {
        let root = scratch("defaults");
        let cwd = root.join("a/b");
        std::fs::create_dir_all(&cwd).unwrap();

        let err = resolve(None, Some(OsString::new()), &cwd).unwrap_err();
        let msg = err.to_string();
        for needle in [
            "$CIFAR10_DIR: not set",
            "./data/cifar-10-batches-bin",
            "../shared/data/cifar-10-batches-bin",
            "CIFAR-10 binary version",
            "cifar-10-binary.tar.gz",
            "University of Toronto",
            "CIFAR10_DIR=",
            "--data",
        ] {
            assert!(msg.contains(needle), "missing {needle:?} in {msg}");
        }

        let shared = cwd.join("../shared/data/cifar-10-batches-bin");
        std::fs::create_dir_all(&shared).unwrap();
        assert_eq!(resolve(None, None, &cwd).unwrap(), shared);
        let local = cwd.join("./data/cifar-10-batches-bin");
        std::fs::create_dir_all(&local).unwrap();
        assert_eq!(resolve(None, None, &cwd).unwrap(), local);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_file_is_not_a_directory() {
        let root = scratch("file");
        let file = root.join("f");
        std::fs::write(&file, b"x").unwrap();
        let err = resolve(Some(&file), None, &root).unwrap_err();
        assert!(err.to_string().contains("not a directory"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
