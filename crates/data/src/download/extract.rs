//! Unpacking the checked archive: only the expected members, each written to
//! a path chosen here (never one taken from the archive), into a temporary
//! directory that is renamed into place once complete.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Component, Path};

use flate2::read::GzDecoder;

use super::{io_err, ARCHIVE_FOLDER};
use crate::{DataError, DownloadError, Result, META_FILE, TEST_FILE, TRAIN_FILES};

/// What a member's stored path means for the unpack.
#[derive(Debug, PartialEq, Eq)]
enum Member {
    /// `cifar-10-batches-bin/<one of the expected files>`.
    Wanted(&'static str),
    /// Anything else inside the archive (readme.html, other folders): skipped.
    Other,
    /// Absolute, or with a `..` component: the archive is refused.
    Unsafe,
}

/// The files taken from the archive: the batches (all required) and the
/// class names (optional, as for the loader).
fn wanted() -> impl Iterator<Item = &'static str> {
    TRAIN_FILES.iter().copied().chain([TEST_FILE, META_FILE])
}

fn classify(stored: &str) -> Member {
    let mut parts = Vec::new();
    for c in Path::new(stored).components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Member::Unsafe
            }
        }
    }
    match parts.as_slice() {
        [folder, name] if *folder == ARCHIVE_FOLDER => wanted()
            .find(|w| *name == *w)
            .map_or(Member::Other, Member::Wanted),
        _ => Member::Other,
    }
}

/// Unpacks the wanted members of `archive` into `target` (which must not
/// exist yet), going through a temporary directory in `cache_dir`.
pub(crate) fn extract(archive: &Path, cache_dir: &Path, target: &Path) -> Result<()> {
    let bad = |e: std::io::Error| -> DataError {
        DownloadError::BadArchive {
            archive: archive.to_path_buf(),
            msg: e.to_string(),
        }
        .into()
    };
    let tmp = tempfile::Builder::new()
        .prefix(".cifar-10-extract-")
        .tempdir_in(cache_dir)
        .map_err(|source| io_err(cache_dir, source))?;
    let staging = tmp.path().join(ARCHIVE_FOLDER);
    std::fs::create_dir(&staging).map_err(|source| io_err(&staging, source))?;

    let file = File::open(archive).map_err(|source| io_err(archive, source))?;
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    let mut found = BTreeSet::new();
    let mut buf = vec![0u8; 64 << 10];
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let stored = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = match classify(&stored) {
            Member::Other => continue,
            Member::Unsafe => {
                return Err(DownloadError::UnsafeMember {
                    archive: archive.to_path_buf(),
                    member: stored,
                }
                .into())
            }
            Member::Wanted(name) => name,
        };
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            return Err(DownloadError::BadMember {
                archive: archive.to_path_buf(),
                member: stored,
                msg: format!("is a {kind:?} entry, not a regular file"),
            }
            .into());
        }
        if !found.insert(name) {
            return Err(DownloadError::BadMember {
                archive: archive.to_path_buf(),
                member: stored,
                msg: "appears twice".to_string(),
            }
            .into());
        }
        let dest = staging.join(name);
        let mut out = File::create_new(&dest).map_err(|source| io_err(&dest, source))?;
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(bad(e)),
            };
            out.write_all(&buf[..n])
                .map_err(|source| io_err(&dest, source))?;
        }
        // On disk before the rename makes the directory look complete.
        out.sync_all().map_err(|source| io_err(&dest, source))?;
    }

    let missing: Vec<String> = TRAIN_FILES
        .iter()
        .chain([&TEST_FILE])
        .filter(|name| !found.contains(*name))
        .map(|name| format!("{ARCHIVE_FOLDER}/{name}"))
        .collect();
    if !missing.is_empty() {
        return Err(DownloadError::MissingMembers {
            archive: archive.to_path_buf(),
            missing,
        }
        .into());
    }

    if let Err(source) = std::fs::rename(&staging, target) {
        // Another process finished first: its directory is as good as ours.
        if !target.is_dir() {
            return Err(io_err(target, source));
        }
    }
    // The rename itself on disk (best effort: not every platform can open a
    // directory to sync it).
    if let Ok(dir) = File::open(cache_dir) {
        let _ = dir.sync_all();
    }
    drop(tmp);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_classified_by_their_components() {
        use Member::*;
        assert_eq!(
            classify("cifar-10-batches-bin/data_batch_1.bin"),
            Wanted("data_batch_1.bin")
        );
        assert_eq!(
            classify("./cifar-10-batches-bin/test_batch.bin"),
            Wanted("test_batch.bin")
        );
        assert_eq!(
            classify("cifar-10-batches-bin/batches.meta.txt"),
            Wanted("batches.meta.txt")
        );
        assert_eq!(classify("cifar-10-batches-bin/readme.html"), Other);
        assert_eq!(classify("cifar-10-batches-bin/"), Other);
        assert_eq!(classify("data_batch_1.bin"), Other);
        assert_eq!(classify("x/cifar-10-batches-bin/data_batch_1.bin"), Other);
        assert_eq!(classify("cifar-10-batches-bin/../data_batch_1.bin"), Unsafe);
        assert_eq!(classify("../x"), Unsafe);
        assert_eq!(classify("/etc/passwd"), Unsafe);
        assert_eq!(classify("cifar-10-batches-bin/sub/../../../x"), Unsafe);
    }
}
