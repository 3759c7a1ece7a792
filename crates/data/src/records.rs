//! The binary batch format: checking a file's size against whole records and
//! streaming its first records out in fixed-size chunks.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::{DataError, Result, IMAGE_BYTES, NUM_CLASSES, RECORD_BYTES};

/// Records read per `read` call: about 1.5 MB of buffer, whatever the file size.
const CHUNK_RECORDS: usize = 512;

/// A batch file whose size has been checked: a whole, non-zero number of records.
#[derive(Debug, Clone)]
pub(crate) struct BatchFile {
    pub path: PathBuf,
    pub records: usize,
}

/// Checks that `path` is a regular, non-empty file of whole records, from its
/// metadata alone. `needed` says what the file is for, for the missing-file
/// message.
pub(crate) fn inspect(path: &Path, needed: &str) -> Result<BatchFile> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(DataError::FileMissing {
                path: path.to_path_buf(),
                needed: needed.to_string(),
            })
        }
        Err(source) => return Err(io(path, source)),
    };
    if !meta.is_file() {
        return Err(DataError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let bytes = meta.len();
    let record = RECORD_BYTES as u64;
    if bytes == 0 {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    if bytes % record != 0 {
        return Err(DataError::PartialRecord {
            path: path.to_path_buf(),
            bytes,
            whole: bytes / record,
            remainder: bytes % record,
        });
    }
    Ok(BatchFile {
        path: path.to_path_buf(),
        // Only ever compared with a bounded request, so saturating is exact enough.
        records: usize::try_from(bytes / record).unwrap_or(usize::MAX),
    })
}

/// Reads the first `count` records of `file` (which must hold at least that
/// many), checks each label, and hands `(label, pixels)` to `on_record`.
/// Memory use is one chunk of [`CHUNK_RECORDS`] records, not the file.
pub(crate) fn read_records(
    file: &BatchFile,
    count: usize,
    mut on_record: impl FnMut(usize, &[u8]),
) -> Result<()> {
    debug_assert!(count <= file.records);
    let path = &file.path;
    let mut reader = File::open(path).map_err(|e| io(path, e))?;
    let mut buf = vec![0u8; count.min(CHUNK_RECORDS) * RECORD_BYTES];
    let mut done = 0;
    while done < count {
        let n = (count - done).min(CHUNK_RECORDS);
        let chunk = &mut buf[..n * RECORD_BYTES];
        // An EOF here means the file shrank after `inspect`; report it as IO.
        reader.read_exact(chunk).map_err(|e| io(path, e))?;
        for (k, rec) in chunk.chunks_exact(RECORD_BYTES).enumerate() {
            let record = done + k;
            let label = rec[0];
            if usize::from(label) >= NUM_CLASSES {
                return Err(DataError::BadLabel {
                    path: path.clone(),
                    record,
                    offset: record as u64 * RECORD_BYTES as u64,
                    label,
                });
            }
            on_record(usize::from(label), &rec[1..1 + IMAGE_BYTES]);
        }
        done += n;
    }
    Ok(())
}

/// Wraps an IO error with the path it happened on.
pub(crate) fn io(path: &Path, source: std::io::Error) -> DataError {
    DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}
