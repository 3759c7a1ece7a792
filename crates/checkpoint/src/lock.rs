//! The save lock: one run at a time saves to a checkpoint path.

use crate::format;
use crate::{CheckpointError, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The right to save checkpoints to one path, held from the start of a run
/// to its end: a second run that asks for it gets
/// [`CheckpointError::Locked`] instead of taking turns replacing the first
/// run's file. It is an OS file lock on `<path>.lock` (a `flock` on Unix),
/// so it goes with its holder, however the holder ends (`kill -9`
/// included); the empty lock file stays behind.
#[derive(Debug)]
pub struct SaveLock {
    /// Held open: closing it releases the lock.
    _file: std::fs::File,
}

/// `<path>.lock`.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    name.into()
}

/// Takes the save lock of checkpoint path `path` ([`SaveLock`]), then
/// removes temporary files that earlier saves to `path` left behind when
/// they were killed mid-write (no other gradtape run is saving to `path`
/// now).
///
/// ```
/// use gradtape_checkpoint::lock_for_saving;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("run.safetensors");
/// let lock = lock_for_saving(&path).unwrap();
/// assert!(lock_for_saving(&path).is_err()); // a second writer
/// drop(lock);
/// assert!(lock_for_saving(&path).is_ok());
/// ```
pub fn lock_for_saving(path: impl AsRef<Path>) -> Result<SaveLock> {
    let path = path.as_ref();
    let lock = lock_path(path);
    let io = |source| CheckpointError::Io {
        path: lock.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&lock)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            return Err(CheckpointError::Locked {
                path: path.into(),
                holder,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    // Who holds it, for the second writer's message.
    file.set_len(0).map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    remove_stale_tmp_files(path);
    Ok(SaveLock { _file: file })
}

/// Removes `<path>.<id>.tmp` files of saves that never finished.
fn remove_stale_tmp_files(path: &Path) {
    let Some(target) = path.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(format::dir_of(path)) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name()
            .to_str()
            .is_some_and(|n| format::is_tmp_of(n, target))
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
