//! Synthetic CIFAR-10 batch files in a throwaway directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use gradtape_data::{IMAGE_BYTES, RECORD_BYTES};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("gradtape-data-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The synthetic pixel byte `j` (0..3072) of the record with global id `id`.
pub fn pixel(id: usize, j: usize) -> u8 {
    ((id * 31 + j * 7 + j / 1024 * 13) % 256) as u8
}

/// The synthetic label of record `id`.
pub fn label(id: usize) -> u8 {
    (id % 10) as u8
}

/// One record: its label byte, then the synthetic image.
pub fn record(id: usize) -> Vec<u8> {
    let mut r = Vec::with_capacity(RECORD_BYTES);
    r.push(label(id));
    r.extend((0..IMAGE_BYTES).map(|j| pixel(id, j)));
    r
}

/// Writes `name` in `dir` holding the records with the given ids, in order.
pub fn write_batch(dir: &Path, name: &str, ids: impl IntoIterator<Item = usize>) {
    let bytes: Vec<u8> = ids.into_iter().flat_map(record).collect();
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// Writes data_batch_1..5 with `per_file` records each (ids 0, 1, 2, ...
/// across files) and test_batch.bin with `test` records (ids from 100000).
pub fn write_dataset(dir: &Path, per_file: usize, test: usize) {
    for k in 0..5 {
        let name = format!("data_batch_{}.bin", k + 1);
        write_batch(dir, &name, k * per_file..(k + 1) * per_file);
    }
    write_batch(dir, "test_batch.bin", 100_000..100_000 + test);
}

/// Test-record ids start here.
pub const TEST_ID0: usize = 100_000;
