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
