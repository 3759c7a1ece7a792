//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// Why a figure could not be produced.
///
/// Every variant that concerns a file names that file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// The caller asked for something that cannot be drawn (no panels, an
    /// empty or path-like file stem, an inverted or non-finite axis range).
    #[error("invalid plot input: {0}")]
    InvalidInput(String),

    /// The output directory could not be created.
    #[error("cannot create output directory {}: {source}", path.display())]
    CreateDir {
        /// The directory that was being created.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// plotters failed while drawing the figure destined for `path`.
    #[error("cannot render {}: {reason}", path.display())]
    Render {
        /// The file the figure was meant for.
        path: PathBuf,
        /// What went wrong, as reported by the drawing backend.
        reason: String,
    },

    /// The rendered pixels could not be encoded as PNG.
    #[error("cannot encode {} as PNG: {source}", path.display())]
    Encode {
        /// The file the image was meant for.
        path: PathBuf,
        /// The PNG encoder's error.
        #[source]
        source: png::EncodingError,
    },

    /// The finished file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file that could not be written.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// The embedded font could not be registered with plotters.
    #[error("cannot load the embedded font: {0}")]
    Font(String),
}
