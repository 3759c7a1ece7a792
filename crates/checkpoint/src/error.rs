//! The one error type of gradtape-checkpoint: every variant names the file,
//! and the tensor, metadata entry or byte offset at fault.

use std::path::{Path, PathBuf};

/// Everything that can go wrong saving or loading a checkpoint.
///
/// Loading checks the whole file before it builds anything, so an error
/// leaves every net, optimizer and Solver as it was.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// An operating-system error on `path` (for a save, the `.tmp` file
    /// written before the rename).
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },

    /// Not a readable safetensors file: a bad header length, header JSON or
    /// tensor offsets. `offset` is the byte where the problem is.
    #[error("{path}: byte offset {offset}: {msg}", path = path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// Where in the file.
        offset: u64,
        /// What is wrong there.
        msg: String,
    },

    /// The file ends before the data its header describes (or goes on
    /// after it).
    #[error(
        "{path}: the header says the tensor data ends at byte offset {expected} but the file is {len} bytes{}",
        tensor.as_ref().map(|t| format!(" (tensor '{t}' is cut off)")).unwrap_or_default(),
        path = path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where the data should end.
        expected: u64,
        /// The file's length.
        len: u64,
        /// The first tensor whose bytes are missing, if any.
        tensor: Option<String>,
    },

    /// A safetensors file that gradtape did not write, or of another
    /// format version or kind.
    #[error("{path}: not a gradtape checkpoint: {msg}", path = path.display())]
    NotACheckpoint {
        /// The file.
        path: PathBuf,
        /// Why not.
        msg: String,
    },

    /// A `__metadata__` entry missing or unreadable.
    #[error("{path}: metadata entry '{key}': {msg}", path = path.display())]
    Metadata {
        /// The file.
        path: PathBuf,
        /// The entry.
        key: String,
        /// What is wrong with it.
        msg: String,
    },

    /// A tensor the configuration needs is not in the file.
    #[error("{path}: tensor '{name}' is missing", path = path.display())]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
    },

    /// A tensor in the file that the configuration has no place for.
    #[error("{path}: unexpected tensor '{name}' (not part of this configuration)", path = path.display())]
    UnexpectedTensor {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
    },

    /// A tensor of another element type than F64.
    #[error("{path}: tensor '{name}' has dtype {dtype}; gradtape checkpoints hold F64 only", path = path.display())]
    WrongDtype {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Its dtype, as safetensors names it.
        dtype: String,
    },

    /// A tensor whose shape is not the one the configuration implies.
    #[error("{path}: tensor '{name}' has shape {found:?} but {expected:?} is expected", path = path.display())]
    WrongShape {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// The shape the configuration implies.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },

    /// A tensor's bytes do not match the CRC-32 recorded when it was saved.
    #[error(
        "{path}: tensor '{name}' (bytes {start}..{end}) fails its CRC-32 check: the file is corrupted",
        path = path.display()
    )]
    Corrupted {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// First byte of the tensor's data in the file.
        start: u64,
        /// One past its last byte.
        end: u64,
    },

    /// The header (configuration, optimizer and progress metadata, tensor
    /// table) does not match the CRC-32 recorded when it was saved.
    #[error(
        "{path}: the header (bytes 8..{end}) fails its CRC-32 check: the file is corrupted",
        path = path.display()
    )]
    HeaderCorrupted {
        /// The file.
        path: PathBuf,
        /// One past the header's last byte.
        end: u64,
    },

    /// A tensor holding a value no trained net has: NaN or an infinity in
    /// a parameter, a batchnorm statistic or the optimizer's state, or a
    /// negative running variance. The file is intact (its checksums pass)
    /// but it was saved from a diverged run, or forged.
    #[error(
        "{path}: tensor '{name}' holds {value:?} at index {index}: {rule}",
        path = path.display()
    )]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// The first bad element's index (row-major).
        index: usize,
        /// Its value.
        value: f64,
        /// What the tensor's values must be.
        rule: &'static str,
    },

    /// Another run holds the save lock of this checkpoint path.
    #[error(
        "{path}: another run{} is saving checkpoints to this path; wait for it to end, or save elsewhere",
        holder.map(|pid| format!(" (process {pid})")).unwrap_or_default(),
        path = path.display()
    )]
    Locked {
        /// The checkpoint path.
        path: PathBuf,
        /// The process id the holder wrote into the lock file, if readable.
        holder: Option<u32>,
    },

    /// Saving would replace a file that is not this run's checkpoint.
    #[error(
        "{path} exists and is {why}: not replacing it (pass --overwrite to replace it, or save elsewhere)",
        path = path.display()
    )]
    WouldReplace {
        /// The file.
        path: PathBuf,
        /// What the file is.
        why: String,
    },

    /// The checkpoint's configuration is not the one asked for.
    #[error(
        "{path}: configuration mismatch: {field} is {found} in the checkpoint but {expected} here",
        path = path.display()
    )]
    ConfigMismatch {
        /// The file.
        path: PathBuf,
        /// The field of `FcConfig`.
        field: &'static str,
        /// The checkpoint's value.
        found: String,
        /// The value asked for.
        expected: String,
    },

    /// A state that the net, optimizer or Solver refuses (a configuration
    /// out of range, a learning rate that is negative, a state that does not
    /// fit), with gradtape's own error.
    #[error("{path}: {source}", path = path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What gradtape said (boxed: it is larger than every other
        /// variant).
        #[source]
        source: Box<gradtape_core::Error>,
    },
}

/// `Result` with [`CheckpointError`].
pub type Result<T, E = CheckpointError> = std::result::Result<T, E>;

impl CheckpointError {
    /// [`CheckpointError::Invalid`]: what gradtape said about the state of
    /// (or for) `path`.
    pub(crate) fn invalid(path: &Path, source: gradtape_core::Error) -> Self {
        CheckpointError::Invalid {
            path: path.into(),
            source: Box::new(source),
        }
    }
}
