//! What to download and where to: an explicit struct, filled from the
//! environment by [`DownloadOptions::from_env`] or built directly (tests,
//! library users), so nothing below reads process-global state.

use std::ffi::OsString;
use std::path::PathBuf;

use super::ARCHIVE_FOLDER;
use crate::{DownloadError, Result};

/// The official CIFAR-10 binary archive.
pub const CIFAR10_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/// SHA-256 of the official archive, lowercase hex.
pub const CIFAR10_SHA256: &str = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd";
/// Size of the official archive in bytes.
pub const CIFAR10_ARCHIVE_BYTES: u64 = 170_052_171;

/// Environment variable: the archive's address (a mirror or a repacked archive).
pub const URL_ENV: &str = "CIFAR10_URL";
/// Environment variable: the archive's SHA-256 (for a repacked archive).
pub const SHA256_ENV: &str = "CIFAR10_SHA256";
/// Environment variable: the cache directory (default: the platform's cache
/// directory, e.g. `~/.cache/gradtape`).
pub const DATA_DIR_ENV: &str = "GRADTAPE_DATA_DIR";
/// Environment variable: `1` turns downloading off.
pub const OFFLINE_ENV: &str = "GRADTAPE_OFFLINE";

/// How the download reports its progress (always on standard error).
///
/// ```
/// use gradtape_data::Progress;
/// assert_eq!(Progress::default(), Progress::Auto);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// A bar when standard error is a terminal, else plain lines.
    #[default]
    Auto,
    /// A progress bar.
    Bar,
    /// Plain lines, for a log or a pipe.
    Lines,
    /// Nothing.
    Silent,
}

/// Where the archive comes from, how it is checked, and where it goes.
///
/// ```
/// use gradtape_data::{DownloadOptions, CIFAR10_ARCHIVE_BYTES, CIFAR10_URL};
/// let options = DownloadOptions::official("/tmp/cache");
/// assert_eq!(options.url, CIFAR10_URL);
/// assert_eq!(options.expected_bytes, Some(CIFAR10_ARCHIVE_BYTES));
/// assert!(options.data_dir().ends_with("cifar-10-batches-bin"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadOptions {
    /// The archive's address (`http://` or `https://`).
    pub url: String,
    /// The archive's SHA-256, 64 hex digits. Checked before anything is unpacked.
    pub sha256: String,
    /// The archive's size in bytes, when known; checked too.
    pub expected_bytes: Option<u64>,
    /// The cache directory: the archive is unpacked into
    /// `cache_dir/cifar-10-batches-bin`.
    pub cache_dir: PathBuf,
    /// Never download: a missing directory is an error giving the manual steps.
    pub offline: bool,
    /// How progress is shown.
    pub progress: Progress,
}

impl DownloadOptions {
    /// The official archive, unpacked into `cache_dir`, online, progress
    /// shown as suits standard error.
    pub fn official(cache_dir: impl Into<PathBuf>) -> Self {
        DownloadOptions {
            url: CIFAR10_URL.to_string(),
            sha256: CIFAR10_SHA256.to_string(),
            expected_bytes: Some(CIFAR10_ARCHIVE_BYTES),
            cache_dir: cache_dir.into(),
            offline: false,
            progress: Progress::Auto,
        }
    }

    /// The options the environment selects:
    /// - `CIFAR10_URL`: the address (default [`CIFAR10_URL`]);
    /// - `CIFAR10_SHA256`: the checksum (default [`CIFAR10_SHA256`]). The
    ///   size is checked only for the official checksum; for another one the
    ///   server's announced size is all there is, and the SHA-256 is the check;
    /// - `GRADTAPE_DATA_DIR`: the cache directory (default: the platform's
    ///   cache directory + `gradtape`, e.g. `~/.cache/gradtape`; if the
    ///   platform has none, it is left empty and using it is an error
    ///   asking for `GRADTAPE_DATA_DIR`);
    /// - `GRADTAPE_OFFLINE`: `1` (or `true`, `yes`) turns downloading off.
    ///
    /// ```
    /// use gradtape_data::DownloadOptions;
    /// let options = DownloadOptions::from_env()?;
    /// assert_eq!(options.sha256.len(), 64);
    /// # Ok::<(), gradtape_data::DataError>(())
    /// ```
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|name| std::env::var_os(name), dirs::cache_dir())
    }

    /// [`Self::from_env`] with the variables and the platform cache
    /// directory passed in.
    pub(crate) fn from_vars(
        var: impl Fn(&str) -> Option<OsString>,
        platform_cache: Option<PathBuf>,
    ) -> Result<Self> {
        let text = |name: &str| -> Result<Option<String>> {
            match var(name).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => v.into_string().map(Some).map_err(|v| {
                    DownloadError::BadSetting(format!("${name}={v:?} is not valid UTF-8")).into()
                }),
            }
        };
        let url = text(URL_ENV)?.unwrap_or_else(|| CIFAR10_URL.to_string());
        let sha256 = match text(SHA256_ENV)? {
            Some(s) => normalized_sha256(&s, SHA256_ENV)?,
            None => CIFAR10_SHA256.to_string(),
        };
        let expected_bytes = (sha256 == CIFAR10_SHA256).then_some(CIFAR10_ARCHIVE_BYTES);
        // Empty when there is none: reported by `check` only if the cache
        // is needed, so `--data DIR` works on such a platform.
        let cache_dir = match var(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => platform_cache.map_or_else(PathBuf::new, |d| d.join("gradtape")),
        };
        let offline = match text(OFFLINE_ENV)? {
            None => false,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "0" | "false" | "no" | "off" => false,
                "1" | "true" | "yes" | "on" => true,
                _ => {
                    return Err(DownloadError::BadSetting(format!(
                        "${OFFLINE_ENV}={v:?}: expected 1 (no download) or 0"
                    ))
                    .into())
                }
            },
        };
        Ok(DownloadOptions {
            url,
            sha256,
            expected_bytes,
            cache_dir,
            offline,
            progress: Progress::Auto,
        })
    }

    /// Where the archive is unpacked: `cache_dir/cifar-10-batches-bin`.
    pub fn data_dir(&self) -> PathBuf {
        self.cache_dir.join(ARCHIVE_FOLDER)
    }

    /// Where the archive is downloaded to before it is checked. Named after
    /// the expected SHA-256, so a partial file of another archive is never
    /// resumed into this one.
    ///
    /// ```
    /// use gradtape_data::DownloadOptions;
    /// let part = DownloadOptions::official("/c").partial_path();
    /// assert_eq!(part.to_str(), Some("/c/cifar-10-c4a38c50a1bc5f3a.tar.gz.part"));
    /// ```
    pub fn partial_path(&self) -> PathBuf {
        let prefix: String = self.sha256.chars().take(16).collect();
        self.cache_dir.join(format!(
            "cifar-10-{}.tar.gz.part",
            prefix.to_ascii_lowercase()
        ))
    }

    /// Rejects a malformed checksum or address before any work.
    pub(crate) fn check(&self) -> Result<()> {
        if self.cache_dir.as_os_str().is_empty() {
            return Err(DownloadError::BadSetting(format!(
                "no cache directory for CIFAR-10: this platform has none, so set \
                 ${DATA_DIR_ENV} to the directory it should be downloaded into"
            ))
            .into());
        }
        normalized_sha256(&self.sha256, "the expected SHA-256")?;
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(DownloadError::BadSetting(format!(
                "{:?}: the archive's address must start with http:// or https:// \
                 (set by ${URL_ENV}?)",
                self.url
            ))
            .into());
        }
        Ok(())
    }
}

/// `s` as 64 lowercase hex digits, or an error naming `what`.
fn normalized_sha256(s: &str, what: &str) -> Result<String> {
    let s = s.trim();
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(
            DownloadError::BadSetting(format!("{what} {s:?} is not a SHA-256 (64 hex digits)"))
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)], platform: Option<&str>) -> Result<DownloadOptions> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        DownloadOptions::from_vars(|k| map.get(k).cloned(), platform.map(PathBuf::from))
    }

    #[test]
    fn defaults_are_the_official_archive_in_the_platform_cache() {
        let o = from(&[], Some("/home/u/.cache")).unwrap();
        assert_eq!(o, DownloadOptions::official("/home/u/.cache/gradtape"));
    }

    #[test]
    fn variables_override_each_setting() {
        let sha = "AB".repeat(32);
        let o = from(
            &[
                (URL_ENV, "http://127.0.0.1:8000/x.tar.gz"),
                (SHA256_ENV, &sha),
                (DATA_DIR_ENV, "/data/cache"),
                (OFFLINE_ENV, "1"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(o.url, "http://127.0.0.1:8000/x.tar.gz");
        assert_eq!(o.sha256, "ab".repeat(32));
        assert_eq!(
            o.expected_bytes, None,
            "a repacked archive's size is unknown"
        );
        assert_eq!(o.cache_dir, PathBuf::from("/data/cache"));
        assert!(o.offline);
    }

    #[test]
    fn a_mirror_of_the_official_archive_keeps_its_size() {
        let o = from(&[(URL_ENV, "http://mirror/c.tar.gz")], Some("/c")).unwrap();
        assert_eq!(o.expected_bytes, Some(CIFAR10_ARCHIVE_BYTES));
    }

    #[test]
    fn empty_and_zero_mean_unset_and_online() {
        let o = from(&[(URL_ENV, ""), (OFFLINE_ENV, "0")], Some("/c")).unwrap();
        assert_eq!(o.url, CIFAR10_URL);
        assert!(!o.offline);
    }

    #[test]
    fn bad_settings_are_named() {
        let msg = from(&[(SHA256_ENV, "abc")], Some("/c"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("CIFAR10_SHA256") && msg.contains("64 hex digits"),
            "{msg}"
        );
        let msg = from(&[(OFFLINE_ENV, "maybe")], Some("/c"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("GRADTAPE_OFFLINE=\"maybe\""), "{msg}");
        let no_cache = from(&[], None).unwrap();
        let msg = no_cache.check().unwrap_err().to_string();
        assert!(msg.contains("GRADTAPE_DATA_DIR"), "{msg}");
        let mut o = DownloadOptions::official("/c");
        o.url = "ftp://x/y.tar.gz".into();
        assert!(o
            .check()
            .unwrap_err()
            .to_string()
            .contains("ftp://x/y.tar.gz"));
    }
}
