//! gradtape-data: the CIFAR-10 "binary version" loader behind the CS231n
//! `get_CIFAR10_data` step.
//!
//! Images stay as `u8` in memory (3072 bytes each, so the default 49000 /
//! 1000 / 1000 split takes about 157 MB instead of 1.2 GB as `f64`); a
//! [`Split`] converts only the minibatch it is asked for to `f64`, subtracting
//! the training mean image on the fly.
//!
//! ```no_run
//! use gradtape_data::{find_cifar10_dir, get_cifar10_data};
//! let dir = find_cifar10_dir(None)?;
//! let data = get_cifar10_data(&dir, 49_000, 1_000, 1_000, true)?;
//! let (x, y) = data.train.batch(&[0, 1, 2])?;
//! assert_eq!(x.dims(), &[3, 3, 32, 32]);
//! assert_eq!(y.len(), 3);
//! # Ok::<(), gradtape_data::DataError>(())
//! ```
//!
//! With the `download` feature, `find_or_download_cifar10` falls back to
//! fetching the official archive into a cache directory (checked with its
//! SHA-256, unpacked safely) when no directory is found.

mod cifar10;
mod dir;
#[cfg(feature = "download")]
mod download;
mod error;
mod records;
mod split;
pub mod testing;

pub use cifar10::{get_cifar10_data, Cifar10, Cifar10Options};
pub use dir::{find_cifar10_dir, CIFAR10_DIR_ENV};
#[cfg(feature = "download")]
pub use download::{
    ensure_cifar10, find_or_download_cifar10, DownloadOptions, Progress, ARCHIVE_FOLDER,
    CIFAR10_ARCHIVE_BYTES, CIFAR10_SHA256, CIFAR10_URL, DATA_DIR_ENV, OFFLINE_ENV, SHA256_ENV,
    URL_ENV,
};
pub use error::{DataError, DownloadError, Result};
pub use split::Split;

/// Colour channels per image (red, green, blue planes, in that order).
pub const CHANNELS: usize = 3;
/// Image height in pixels.
pub const HEIGHT: usize = 32;
/// Image width in pixels.
pub const WIDTH: usize = 32;
/// The dims of one image as a tensor: `(3, 32, 32)`.
pub const IMAGE_DIMS: [usize; 3] = [CHANNELS, HEIGHT, WIDTH];
/// Pixel bytes per image: 1024 red, then 1024 green, then 1024 blue, each
/// plane row-major.
pub const IMAGE_BYTES: usize = CHANNELS * HEIGHT * WIDTH;
/// Bytes per record in a batch file: one label byte, then the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// Number of classes; labels are `0..NUM_CLASSES`.
pub const NUM_CLASSES: usize = 10;
/// The training files, read in this order as one sequence of records.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// The test file.
pub const TEST_FILE: &str = "test_batch.bin";
/// The optional file of class names, one a line, in label order.
pub const META_FILE: &str = "batches.meta.txt";
/// The most training + validation records a request may ask for (5 x 10000).
pub const MAX_TRAIN_RECORDS: usize = 50_000;
/// The most test records a request may ask for.
pub const MAX_TEST_RECORDS: usize = 10_000;
/// The standard class names, used when [`META_FILE`] is absent.
pub const DEFAULT_CLASS_NAMES: [&str; NUM_CLASSES] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];
