//! `get_CIFAR10_data`: train / val / test splits carved from the binary batch
//! files, reading only as many files (and records) as the request needs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::records::{inspect, io, read_records, BatchFile};
use crate::{
    DataError, Result, Split, DEFAULT_CLASS_NAMES, IMAGE_BYTES, MAX_TEST_RECORDS,
    MAX_TRAIN_RECORDS, META_FILE, NUM_CLASSES, TEST_FILE, TRAIN_FILES,
};

/// Largest `batches.meta.txt` accepted (the real one is 60 to 90 bytes).
const MAX_META_BYTES: u64 = 4096;

/// How many images each split gets, and whether to subtract the mean image.
/// The default is the notebook's: 49000 / 1000 / 1000, mean subtracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cifar10Options {
    /// Training images: the first records of `data_batch_1.bin` .. `data_batch_5.bin`.
    pub num_training: usize,
    /// Validation images: the records right after the training ones.
    pub num_validation: usize,
    /// Test images: the first records of `test_batch.bin`.
    pub num_test: usize,
    /// Subtract the per-pixel mean of the training images from every split.
    pub subtract_mean: bool,
}

impl Default for Cifar10Options {
    fn default() -> Self {
        Cifar10Options {
            num_training: 49_000,
            num_validation: 1_000,
            num_test: 1_000,
            subtract_mean: true,
        }
    }
}

/// The loaded dataset: three splits sharing one mean image, plus class names.
#[derive(Debug, Clone)]
pub struct Cifar10 {
    /// The training split.
    pub train: Split,
    /// The validation split.
    pub val: Split,
    /// The test split.
    pub test: Split,
    /// The 10 class names in label order, from `batches.meta.txt` if present,
    /// else [`DEFAULT_CLASS_NAMES`].
    pub class_names: Vec<String>,
    /// The directory the files were read from.
    pub dir: PathBuf,
}

impl Cifar10 {
    /// Loads the splits `options` asks for from `dir`.
    ///
    /// Training and validation records come from `data_batch_1.bin` ..
    /// `data_batch_5.bin` read as one sequence (files may hold any whole
    /// number of records); only the files that sequence reaches are opened,
    /// and `test_batch.bin` only if `num_test > 0`. Every file needed is
    /// size-checked before any is read.
    ///
    /// Errors, before reading anything: more than 50000 training + validation
    /// or 10000 test images asked for; `subtract_mean` with `num_training == 0`
    /// (the mean image would be undefined; pass `subtract_mean: false`
    /// instead); `dir` not a directory. Then any file problem, named.
    ///
    /// ```no_run
    /// use gradtape_data::{find_cifar10_dir, Cifar10, Cifar10Options};
    /// let dir = find_cifar10_dir(None)?;
    /// let opts = Cifar10Options { num_training: 500, ..Default::default() };
    /// let data = Cifar10::load(&dir, &opts)?;
    /// assert_eq!((data.train.len(), data.val.len(), data.test.len()), (500, 1000, 1000));
    /// # Ok::<(), gradtape_data::DataError>(())
    /// ```
    pub fn load(dir: &Path, options: &Cifar10Options) -> Result<Cifar10> {
        let &Cifar10Options {
            num_training,
            num_validation,
            num_test,
            subtract_mean,
        } = options;
        check_request(options)?;
        if !dir.is_dir() {
            let state = if dir.exists() {
                "not a directory"
            } else {
                "does not exist"
            };
            return Err(DataError::DirNotFound {
                tried: vec![format!("data directory: {}: {state}", dir.display())],
            });
        }

        let train_files = plan_train_files(dir, num_training, num_validation)?;
        let test_file = plan_test_file(dir, num_test)?;
        let class_names = read_class_names(dir)?;

        let (mut train, mut val) = (Raw::new(num_training), Raw::new(num_validation));
        for (file, take) in &train_files {
            read_records(file, *take, |label, pixels| {
                let dest = if train.is_full() {
                    &mut val
                } else {
                    &mut train
                };
                dest.push(label, pixels);
            })?;
        }
        let mut test = Raw::new(num_test);
        if let Some((file, take)) = &test_file {
            read_records(file, *take, |label, pixels| test.push(label, pixels))?;
        }

        let train = train.into_split()?;
        // `check_request` guarantees a non-empty training split when subtracting.
        let mean: Option<Arc<[f64]>> = if subtract_mean {
            train.pixel_mean().map(Arc::from)
        } else {
            None
        };
        Ok(Cifar10 {
            train: train.with_mean(mean.clone())?,
            val: val.into_split()?.with_mean(mean.clone())?,
            test: test.into_split()?.with_mean(mean)?,
            class_names,
            dir: dir.to_path_buf(),
        })
    }

    /// The mean image (3072 values) subtracted from every split, if any.
    pub fn mean_image(&self) -> Option<&[f64]> {
        self.train.mean()
    }
}

/// The notebook's `get_CIFAR10_data(num_training, num_validation, num_test,
/// subtract_mean)`: shorthand for [`Cifar10::load`].
///
/// ```no_run
/// use gradtape_data::{find_cifar10_dir, get_cifar10_data};
/// let data = get_cifar10_data(&find_cifar10_dir(None)?, 49_000, 1_000, 1_000, true)?;
/// let (x, y) = data.val.range(0, 100)?;
/// assert_eq!((x.dims(), y.len()), (&[100, 3, 32, 32][..], 100));
/// # Ok::<(), gradtape_data::DataError>(())
/// ```
pub fn get_cifar10_data(
    dir: &Path,
    num_training: usize,
    num_validation: usize,
    num_test: usize,
    subtract_mean: bool,
) -> Result<Cifar10> {
    let options = Cifar10Options {
        num_training,
        num_validation,
        num_test,
        subtract_mean,
    };
    Cifar10::load(dir, &options)
}

/// Rejects requests no CIFAR-10 directory could satisfy.
fn check_request(o: &Cifar10Options) -> Result<()> {
    let train_val = o.num_training.checked_add(o.num_validation);
    if !matches!(train_val, Some(n) if n <= MAX_TRAIN_RECORDS) {
        return Err(DataError::InvalidRequest(format!(
            "num_training {} + num_validation {} exceeds the {MAX_TRAIN_RECORDS} CIFAR-10 training images",
            o.num_training, o.num_validation
        )));
    }
    if o.num_test > MAX_TEST_RECORDS {
        return Err(DataError::InvalidRequest(format!(
            "num_test {} exceeds the {MAX_TEST_RECORDS} CIFAR-10 test images",
            o.num_test
        )));
    }
    if o.subtract_mean && o.num_training == 0 {
        return Err(DataError::InvalidRequest(
            "subtract_mean needs num_training > 0: the mean image is taken over the training \
             images (use subtract_mean = false to load val/test alone)"
                .to_string(),
        ));
    }
    Ok(())
}

/// The training files the request reaches, each with how many of its records
/// to read; checks their sizes (and that enough records exist) before any read.
fn plan_train_files(
    dir: &Path,
    num_training: usize,
    num_validation: usize,
) -> Result<Vec<(BatchFile, usize)>> {
    let needed = num_training + num_validation;
    let purpose = format!("num_training {num_training} + num_validation {num_validation}");
    let mut plan = Vec::new();
    let mut found = 0;
    for name in TRAIN_FILES {
        if found >= needed {
            break;
        }
        let why = match found {
            0 => purpose.clone(),
            _ => {
                format!("{purpose}: the files before it hold only {found} of the {needed} records")
            }
        };
        let file = inspect(&dir.join(name), &why)?;
        let take = file.records.min(needed - found);
        found = found.saturating_add(file.records);
        plan.push((file, take));
    }
    if found < needed {
        return Err(DataError::TooFewRecords {
            files: format!(
                "{}/{}..{}",
                dir.display(),
                TRAIN_FILES[0],
                TRAIN_FILES[TRAIN_FILES.len() - 1]
            ),
            found,
            needed,
            purpose,
        });
    }
    Ok(plan)
}

/// `test_batch.bin` and how many of its records to read, if any are wanted.
fn plan_test_file(dir: &Path, num_test: usize) -> Result<Option<(BatchFile, usize)>> {
    if num_test == 0 {
        return Ok(None);
    }
    let purpose = format!("num_test {num_test}");
    let file = inspect(&dir.join(TEST_FILE), &purpose)?;
    if file.records < num_test {
        return Err(DataError::TooFewRecords {
            files: file.path.display().to_string(),
            found: file.records,
            needed: num_test,
            purpose,
        });
    }
    Ok(Some((file, num_test)))
}

/// The class names from `batches.meta.txt` (blank lines and surrounding
/// whitespace ignored; exactly 10 names required), or the standard names if
/// the file is absent.
fn read_class_names(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join(META_FILE);
    let bad = |msg: String| DataError::BadClassNames {
        path: path.clone(),
        msg,
    };
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(DEFAULT_CLASS_NAMES.map(String::from).to_vec())
        }
        Err(e) => return Err(io(&path, e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_META_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io(&path, e))?;
    if bytes.len() as u64 > MAX_META_BYTES {
        return Err(bad(format!(
            "more than {MAX_META_BYTES} bytes; expected {NUM_CLASSES} class names, one a line"
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8 text ({e})")))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != NUM_CLASSES {
        return Err(bad(format!(
            "expected {NUM_CLASSES} class names, one a line, but found {}",
            names.len()
        )));
    }
    Ok(names)
}

/// A split being filled: capacity fixed by the request, never by file contents.
struct Raw {
    pixels: Vec<u8>,
    labels: Vec<usize>,
    want: usize,
}

impl Raw {
    fn new(want: usize) -> Raw {
        Raw {
            pixels: Vec::with_capacity(want * IMAGE_BYTES),
            labels: Vec::with_capacity(want),
            want,
        }
    }

    fn is_full(&self) -> bool {
        self.labels.len() >= self.want
    }

    fn push(&mut self, label: usize, pixels: &[u8]) {
        self.pixels.extend_from_slice(pixels);
        self.labels.push(label);
    }

    fn into_split(self) -> Result<Split> {
        Split::new(self.pixels, self.labels, None)
    }
}
