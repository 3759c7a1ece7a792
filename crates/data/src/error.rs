//! The one error type of gradtape-data: every variant names the file or
//! request at fault and what was found there.

use std::path::PathBuf;

/// Everything that can go wrong locating, reading or slicing CIFAR-10.
///
/// ```
/// use gradtape_data::{get_cifar10_data, DataError};
/// let err = get_cifar10_data("/no/such/dir".as_ref(), 10, 0, 0, true).unwrap_err();
/// assert!(matches!(err, DataError::DirNotFound { .. }));
/// assert!(err.to_string().contains("/no/such/dir"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// No CIFAR-10 directory where one was expected. `tried` has one line per
    /// place looked at, saying where the candidate came from and its path.
    #[error(
        "CIFAR-10 data directory not found. Looked in:\n{}\n{}",
        bullet_list(tried),
        HOW_TO_GET_DATA
    )]
    DirNotFound {
        /// One line per place looked at.
        tried: Vec<String>,
    },

    /// A batch file the request needs is not in the directory.
    #[error(
        "{path}: file not found, but it is needed for {needed} (a complete CIFAR-10 binary \
         version directory holds data_batch_1.bin .. data_batch_5.bin and test_batch.bin)",
        path = path.display()
    )]
    FileMissing {
        /// The file that is not there.
        path: PathBuf,
        /// What it was needed for.
        needed: String,
    },

    /// The path exists but is a directory or another non-regular file.
    #[error("{path}: not a regular file", path = path.display())]
    NotAFile {
        /// The path that is not a regular file.
        path: PathBuf,
    },

    /// A batch file of zero bytes.
    #[error(
        "{path}: the file is empty (0 bytes); expected whole {record}-byte records",
        path = path.display(),
        record = crate::RECORD_BYTES
    )]
    EmptyFile {
        /// The empty file.
        path: PathBuf,
    },

    /// A batch file whose size is not a multiple of the record size, i.e.
    /// truncated (or padded) mid-record.
    #[error(
        "{path}: {bytes} bytes is not a whole number of {record}-byte records \
         ({whole} whole records, then {remainder} bytes of a truncated one)",
        path = path.display(),
        record = crate::RECORD_BYTES
    )]
    PartialRecord {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        bytes: u64,
        /// The whole records it holds.
        whole: u64,
        /// The bytes left over after them.
        remainder: u64,
    },

    /// The files hold fewer records than the request needs.
    #[error("{files}: found {found} records but {needed} are needed for {purpose}")]
    TooFewRecords {
        /// The files read.
        files: String,
        /// The records they hold.
        found: usize,
        /// The records the request needs.
        needed: usize,
        /// What the request wanted them for.
        purpose: String,
    },

    /// A label byte outside `0..=9`.
    #[error(
        "{path}: record {record} (byte offset {offset}) has label byte {label}; labels must be 0-9",
        path = path.display()
    )]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// The record's index in the file.
        record: usize,
        /// The label byte's offset in the file.
        offset: u64,
        /// The label byte found.
        label: u8,
    },

    /// `batches.meta.txt` exists but does not hold the 10 class names.
    #[error("{path}: {msg}", path = path.display())]
    BadClassNames {
        /// The meta file.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },

    /// An operating-system error while reading `path`.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A request that cannot be met whatever the files hold (too many records,
    /// a mean image over zero images, mismatched buffers...).
    #[error("{0}")]
    InvalidRequest(String),

    /// An image index past the end of a split.
    #[error("image index {index} is out of range for a split of {len} images")]
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The split's length.
        len: usize,
    },

    /// An error from gradtape-core while building a tensor (boxed: it is
    /// several times larger than every other variant).
    #[error(transparent)]
    Tensor(Box<gradtape_core::Error>),

    /// Fetching or unpacking the CIFAR-10 archive failed (the `download`
    /// feature). Boxed to keep `DataError` small.
    #[error(transparent)]
    Download(Box<DownloadError>),
}

/// What went wrong fetching, checking or unpacking the CIFAR-10 archive.
///
/// The type exists with or without the `download` feature, so matching on
/// [`DataError`] does not depend on features; only the `download` feature
/// produces it.
///
/// ```
/// use gradtape_data::DownloadError;
/// let err = DownloadError::ChecksumMismatch {
///     url: "http://mirror/x.tar.gz".into(),
///     file: "/cache/x.tar.gz.part".into(),
///     bytes: 10,
///     expected: "ab".repeat(32),
///     actual: "cd".repeat(32),
/// };
/// let msg = err.to_string();
/// assert!(msg.contains("http://mirror/x.tar.gz") && msg.contains(&"cd".repeat(32)));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// Downloading is turned off (`--no-download`, `GRADTAPE_OFFLINE=1`)
    /// and no data directory was found. The message gives the manual steps.
    #[error(
        "CIFAR-10 data directory not found, and downloading is turned off \
         (--no-download or GRADTAPE_OFFLINE=1).{looked}\n\
         To get the data by hand:\n  \
         1. download {url} ({size}SHA-256 {sha256}), e.g. `curl -LO {url}`;\n  \
         2. unpack it into the cache: `mkdir -p {cache} && tar xzf <the archive> -C {cache}` \
         (this creates {cache}/cifar-10-batches-bin/), or anywhere else and pass \
         --data <the cifar-10-batches-bin directory> or set CIFAR10_DIR to it.",
        looked = looked_in(tried),
        size = size_note(*expected_bytes),
        cache = cache_dir.display()
    )]
    Offline {
        /// Where the archive would have come from.
        url: String,
        /// Its expected SHA-256, lowercase hex.
        sha256: String,
        /// Its expected size, when known.
        expected_bytes: Option<u64>,
        /// Where it would have been unpacked.
        cache_dir: PathBuf,
        /// The places looked at before, one line each.
        tried: Vec<String>,
    },

    /// The server answered with an HTTP status other than success.
    #[error("GET {url}: the server answered HTTP {status}{reason}", reason = reason(*status))]
    Http {
        /// The requested address.
        url: String,
        /// The HTTP status code.
        status: u16,
    },

    /// No answer: bad address, name not resolved, connection refused, TLS...
    #[error("GET {url}: {msg}")]
    Connect {
        /// The requested address.
        url: String,
        /// The client's description of the failure.
        msg: String,
    },

    /// The transfer stopped before the whole archive arrived. The partial
    /// file is kept (never used as is) and the next run resumes it.
    #[error(
        "GET {url}: the transfer stopped after {received} of {total} bytes ({msg}); \
         the partial file {file} is kept and the next run resumes it",
        total = total.map_or_else(|| "an unknown number of".to_string(), |t| t.to_string()),
        file = file.display()
    )]
    Interrupted {
        /// The requested address.
        url: String,
        /// The partial file on disk.
        file: PathBuf,
        /// Bytes in the partial file.
        received: u64,
        /// The full size, when the server said it.
        total: Option<u64>,
        /// Why it stopped.
        msg: String,
    },

    /// The archive (or the server's announced size of it) is not the
    /// expected size. The file is removed.
    #[error(
        "{url}: the archive is {actual} bytes but {expected} were expected; \
         {file} is not kept (a wrong or changed file: check CIFAR10_URL / CIFAR10_SHA256)",
        file = file.display()
    )]
    SizeMismatch {
        /// The requested address.
        url: String,
        /// The downloaded file (removed).
        file: PathBuf,
        /// The size expected.
        expected: u64,
        /// The size found.
        actual: u64,
    },

    /// The archive's SHA-256 is not the expected one. The file is removed.
    #[error(
        "{url}: SHA-256 mismatch for {file} ({bytes} bytes): expected {expected}, got {actual}; \
         the file was removed (a corrupted download, or a different archive: if it is a \
         repacked mirror, set CIFAR10_SHA256 to its checksum)",
        file = file.display()
    )]
    ChecksumMismatch {
        /// The requested address.
        url: String,
        /// The downloaded file (removed).
        file: PathBuf,
        /// Its size in bytes.
        bytes: u64,
        /// The SHA-256 expected, lowercase hex.
        expected: String,
        /// The SHA-256 found, lowercase hex.
        actual: String,
    },

    /// A member whose path is absolute or climbs out with `..`. Nothing of
    /// the archive is kept.
    #[error(
        "{archive}: archive member {member:?} has a path outside the target directory \
         (absolute or with `..`); refusing to extract anything",
        archive = archive.display()
    )]
    UnsafeMember {
        /// The archive file.
        archive: PathBuf,
        /// The member's path as stored in the archive.
        member: String,
    },

    /// An expected member is not a regular file, or appears twice.
    #[error("{archive}: archive member {member:?}: {msg}", archive = archive.display())]
    BadMember {
        /// The archive file.
        archive: PathBuf,
        /// The member's path as stored in the archive.
        member: String,
        /// What is wrong with it.
        msg: String,
    },

    /// Files CIFAR-10 needs are not in the archive.
    #[error(
        "{archive}: the archive lacks {}; expected them under cifar-10-batches-bin/",
        missing.join(", "),
        archive = archive.display()
    )]
    MissingMembers {
        /// The archive file.
        archive: PathBuf,
        /// The member names not found.
        missing: Vec<String>,
    },

    /// The archive is not a readable gzip-compressed tar file.
    #[error("{archive}: not a readable .tar.gz archive: {msg}", archive = archive.display())]
    BadArchive {
        /// The archive file.
        archive: PathBuf,
        /// The decoder's message.
        msg: String,
    },

    /// A setting that cannot be used (a malformed `CIFAR10_SHA256`, no
    /// cache directory...). The message names the setting.
    #[error("{0}")]
    BadSetting(String),
}

impl From<DownloadError> for DataError {
    fn from(e: DownloadError) -> Self {
        DataError::Download(Box::new(e))
    }
}

fn looked_in(tried: &[String]) -> String {
    if tried.is_empty() {
        String::new()
    } else {
        format!(" Looked in:\n{}", bullet_list(tried))
    }
}

fn size_note(bytes: Option<u64>) -> String {
    bytes.map_or_else(String::new, |b| format!("{b} bytes, "))
}

/// The reason phrase of the statuses a download is likely to meet.
fn reason(status: u16) -> &'static str {
    match status {
        403 => " Forbidden",
        404 => " Not Found",
        410 => " Gone",
        416 => " Range Not Satisfiable",
        429 => " Too Many Requests",
        500 => " Internal Server Error",
        502 => " Bad Gateway",
        503 => " Service Unavailable",
        504 => " Gateway Timeout",
        _ => "",
    }
}

/// `Result` with gradtape-data's [`DataError`].
pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl From<gradtape_core::Error> for DataError {
    fn from(e: gradtape_core::Error) -> Self {
        DataError::Tensor(Box::new(e))
    }
}

/// How to obtain the data, appended to [`DataError::DirNotFound`].
const HOW_TO_GET_DATA: &str = "To get the data: download the official \"CIFAR-10 binary version\" \
(cifar-10-binary.tar.gz, the one for C programs) from Alex Krizhevsky's CIFAR-10 page at the \
University of Toronto, unpack it (`tar xzf cifar-10-binary.tar.gz` creates cifar-10-batches-bin/), \
then pass --data <that directory> or set CIFAR10_DIR=<that directory>.";

fn bullet_list(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("  - {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
