//! Fetching CIFAR-10 when it is not on disk (the `download` feature): the
//! official binary archive is downloaded into a cache directory, its size and
//! SHA-256 checked, and only the expected files unpacked.
//!
//! The cache directory holds at most:
//! - `cifar-10-batches-bin/`: the unpacked data. It appears only by a rename
//!   once every file is written, so its presence means a complete unpack;
//! - `cifar-10-<hash prefix>.tar.gz.part`: a download in progress or cut
//!   short. It is resumed (HTTP `Range`) or restarted, and used only once its
//!   SHA-256 is the expected one; it is removed after the unpack;
//! - `.cifar-10-extract-*`: a temporary directory while unpacking (removed
//!   on success and on error; a killed process may leave one, which nothing
//!   takes for data).
//!
//! Two processes filling the same cache at the same moment are not
//! coordinated: run one first.

mod extract;
mod fetch;
mod options;
mod progress;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use options::{
    DownloadOptions, Progress, CIFAR10_ARCHIVE_BYTES, CIFAR10_SHA256, CIFAR10_URL, DATA_DIR_ENV,
    OFFLINE_ENV, SHA256_ENV, URL_ENV,
};

use crate::dir::{resolve, CIFAR10_DIR_ENV};
use crate::{DataError, DownloadError, Result};

/// The folder the archive unpacks into, and the name of the unpacked data
/// directory in the cache.
pub const ARCHIVE_FOLDER: &str = "cifar-10-batches-bin";

/// Finds the CIFAR-10 directory as [`crate::find_cifar10_dir`] does and,
/// when none of the default places has it, falls back to
/// [`ensure_cifar10`]: the cache directory, filled by a download if needed.
///
/// A directory named explicitly (`explicit`, e.g. `--data`, or
/// `$CIFAR10_DIR`) is authoritative: if it is missing, that is the error and
/// nothing is downloaded.
///
/// ```
/// use gradtape_data::{find_or_download_cifar10, DownloadOptions};
/// let mut options = DownloadOptions::official(std::env::temp_dir().join("gradtape-doc-none"));
/// options.offline = true;
/// // An explicit directory that does not exist: reported, never downloaded.
/// let err = find_or_download_cifar10(Some("/no/such/dir".as_ref()), &options).unwrap_err();
/// assert!(err.to_string().contains("/no/such/dir"));
/// ```
pub fn find_or_download_cifar10(
    explicit: Option<&Path>,
    options: &DownloadOptions,
) -> Result<PathBuf> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let env = std::env::var_os(CIFAR10_DIR_ENV).filter(|v| !v.is_empty());
    find_or_download_in(explicit, env, &cwd, options)
}

/// [`find_or_download_cifar10`] with the environment and working directory
/// passed in.
fn find_or_download_in(
    explicit: Option<&Path>,
    env: Option<OsString>,
    cwd: &Path,
    options: &DownloadOptions,
) -> Result<PathBuf> {
    let named = explicit.is_some() || env.is_some();
    match resolve(explicit, env, cwd) {
        Err(DataError::DirNotFound { tried }) if !named => ensure_in_cache(options, tried),
        other => other,
    }
}

/// Returns the CIFAR-10 directory in `options.cache_dir`, downloading,
/// checking and unpacking the archive first if it is not there yet.
///
/// - An already unpacked `cache_dir/cifar-10-batches-bin` is returned as is,
///   with no network access.
/// - With `options.offline`, a missing directory is
///   [`DownloadError::Offline`], whose message gives the manual steps.
/// - Otherwise the archive is fetched from `options.url` (a partial file
///   from an earlier run is resumed), its size (when known) and SHA-256 are
///   checked, and only `data_batch_1..5.bin`, `test_batch.bin` and
///   `batches.meta.txt` under `cifar-10-batches-bin/` are unpacked. A member
///   with an absolute path or `..` is [`DownloadError::UnsafeMember`].
///
/// ```
/// use gradtape_data::{ensure_cifar10, DataError, DownloadError, DownloadOptions};
/// let cache = std::env::temp_dir().join(format!("gradtape-doc-{}", std::process::id()));
/// let mut options = DownloadOptions::official(&cache);
/// options.offline = true;
/// match ensure_cifar10(&options) {
///     Err(DataError::Download(e)) => {
///         assert!(matches!(*e, DownloadError::Offline { .. }));
///         assert!(e.to_string().contains("cifar-10-binary.tar.gz"));
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
pub fn ensure_cifar10(options: &DownloadOptions) -> Result<PathBuf> {
    ensure_in_cache(options, Vec::new())
}

/// [`ensure_cifar10`], with the places already looked at (for the offline
/// error's message).
fn ensure_in_cache(options: &DownloadOptions, mut tried: Vec<String>) -> Result<PathBuf> {
    options.check()?;
    let target = options.data_dir();
    if target.is_dir() {
        return Ok(target);
    }
    if options.offline {
        tried.push(format!(
            "{} (the download cache): does not exist",
            target.display()
        ));
        return Err(DownloadError::Offline {
            url: options.url.clone(),
            sha256: options.sha256.clone(),
            expected_bytes: options.expected_bytes,
            cache_dir: options.cache_dir.clone(),
            tried,
        }
        .into());
    }
    std::fs::create_dir_all(&options.cache_dir).map_err(|source| DataError::Io {
        path: options.cache_dir.clone(),
        source,
    })?;
    let mut report = progress::Reporter::new(options.progress);
    let archive = fetch::fetch(options, &mut report)?;
    report.line(&format!(
        "unpacking {} into {}",
        archive.display(),
        target.display()
    ));
    match extract::extract(&archive, &options.cache_dir, &target) {
        Ok(()) => {}
        // A write failure (disk full...) may pass: keep the checked archive
        // so the next run need not download it again.
        Err(e @ DataError::Io { .. }) => return Err(e),
        // The archive itself is unusable: do not keep it.
        Err(e) => {
            let _ = std::fs::remove_file(&archive);
            return Err(e);
        }
    }
    // The unpacked files are all that is needed from now on.
    let _ = std::fs::remove_file(&archive);
    report.line(&format!("CIFAR-10 is ready in {}", target.display()));
    Ok(target)
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// An I/O error on `path`, for the fetch and the unpacking alike.
fn io_err(path: &Path, source: std::io::Error) -> DataError {
    DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gradtape-download-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn hex_is_lowercase_two_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
    }

    #[test]
    fn a_found_default_directory_wins_over_the_cache() {
        let root = scratch("found");
        let local = root.join("data/cifar-10-batches-bin");
        std::fs::create_dir_all(&local).unwrap();
        let mut options = DownloadOptions::official(root.join("cache"));
        options.offline = true;
        assert_eq!(
            find_or_download_in(None, None, &root, &options).unwrap(),
            local
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_cache_is_used_when_no_default_directory_exists() {
        let root = scratch("cache");
        let cwd = root.join("cwd");
        std::fs::create_dir_all(&cwd).unwrap();
        let mut options = DownloadOptions::official(root.join("cache"));
        options.offline = true;

        // Offline with an empty cache: the manual steps, listing every place.
        let msg = find_or_download_in(None, None, &cwd, &options)
            .unwrap_err()
            .to_string();
        for needle in [
            "$CIFAR10_DIR: not set",
            "../shared/data/cifar-10-batches-bin",
            "(the download cache): does not exist",
            CIFAR10_URL,
            CIFAR10_SHA256,
            "170052171 bytes",
            "tar xzf",
            "--no-download",
            "GRADTAPE_OFFLINE=1",
        ] {
            assert!(msg.contains(needle), "missing {needle:?} in {msg}");
        }

        // A filled cache is found offline.
        std::fs::create_dir_all(options.data_dir()).unwrap();
        assert_eq!(
            find_or_download_in(None, None, &cwd, &options).unwrap(),
            options.data_dir()
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_named_directory_is_never_replaced_by_the_cache() {
        let root = scratch("named");
        let mut options = DownloadOptions::official(root.join("cache"));
        options.offline = true;
        std::fs::create_dir_all(options.data_dir()).unwrap();
        let missing = root.join("missing");
        let err =
            find_or_download_in(None, Some(missing.clone().into()), &root, &options).unwrap_err();
        assert!(matches!(err, DataError::DirNotFound { .. }), "{err}");
        let err = find_or_download_in(Some(&missing), None, &root, &options).unwrap_err();
        assert!(matches!(err, DataError::DirNotFound { .. }), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
