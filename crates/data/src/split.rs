//! One split (train, val or test): images kept as `u8`, converted to `f64`
//! and mean-subtracted only for the minibatch asked for.

use std::fmt;
use std::sync::Arc;

use gradtape_core::Tensor;

use crate::{DataError, Result, IMAGE_BYTES, IMAGE_DIMS, NUM_CLASSES};

/// A set of CIFAR-10 images and labels, stored compactly as `u8`
/// (3072 bytes per image, channel-planar `(3, 32, 32)` order), with an
/// optional mean image that every conversion to `f64` subtracts.
///
/// ```
/// use std::sync::Arc;
/// use gradtape_data::Split;
/// let pixels: Vec<u8> = (0..2 * 3072).map(|i| (i % 256) as u8).collect();
/// let mean: Arc<[f64]> = vec![1.0; 3072].into();
/// let split = Split::new(pixels, vec![3, 7], Some(mean)).unwrap();
/// let (x, y) = split.batch(&[1]).unwrap();
/// assert_eq!(x.dims(), &[1, 3, 32, 32]);
/// assert_eq!(y, vec![7]);
/// assert_eq!(x.at(&[0, 0, 0, 0]), 0.0 - 1.0); // byte 3072 % 256 = 0, minus the mean
/// ```
#[derive(Clone)]
pub struct Split {
    pixels: Vec<u8>,
    labels: Vec<usize>,
    mean: Option<Arc<[f64]>>,
}

impl Split {
    /// A split over `pixels` (`labels.len() * 3072` bytes) and `labels`
    /// (each below 10), subtracting `mean` (3072 values) on conversion if given.
    pub fn new(pixels: Vec<u8>, labels: Vec<usize>, mean: Option<Arc<[f64]>>) -> Result<Split> {
        let expected = labels.len().checked_mul(IMAGE_BYTES);
        if expected != Some(pixels.len()) {
            return Err(DataError::InvalidRequest(format!(
                "Split::new: {} labels need {} pixel bytes but {} were given",
                labels.len(),
                labels.len().saturating_mul(IMAGE_BYTES),
                pixels.len()
            )));
        }
        if let Some((i, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= NUM_CLASSES) {
            return Err(DataError::InvalidRequest(format!(
                "Split::new: label {label} at index {i} is not below {NUM_CLASSES}"
            )));
        }
        Split {
            pixels,
            labels,
            mean: None,
        }
        .with_mean(mean)
    }

    /// The same images with `mean` (3072 values, or none) as the image
    /// subtracted on conversion.
    pub fn with_mean(mut self, mean: Option<Arc<[f64]>>) -> Result<Split> {
        if let Some(m) = &mean {
            if m.len() != IMAGE_BYTES {
                return Err(DataError::InvalidRequest(format!(
                    "Split::with_mean: a mean image has {IMAGE_BYTES} values, not {}",
                    m.len()
                )));
            }
        }
        self.mean = mean;
        Ok(self)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split holds no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// All labels, in image order.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// All raw pixel bytes: image `i` is `pixels()[i * 3072..(i + 1) * 3072]`.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The raw 3072 bytes of image `i` (red plane, green plane, blue plane),
    /// or `None` past the end.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let start = i.checked_mul(IMAGE_BYTES)?;
        self.pixels.get(start..start.checked_add(IMAGE_BYTES)?)
    }

    /// The mean image subtracted on conversion, if any.
    pub fn mean(&self) -> Option<&[f64]> {
        self.mean.as_deref()
    }

    /// The per-pixel mean of this split's raw bytes (3072 values), or `None`
    /// for an empty split. Summed exactly in integers, then divided once.
    pub fn pixel_mean(&self) -> Option<Vec<f64>> {
        if self.is_empty() {
            return None;
        }
        let mut sums = vec![0u64; IMAGE_BYTES];
        for img in self.pixels.chunks_exact(IMAGE_BYTES) {
            for (s, &p) in sums.iter_mut().zip(img) {
                *s += u64::from(p);
            }
        }
        let n = self.len() as f64;
        Some(sums.into_iter().map(|s| s as f64 / n).collect())
    }

    /// The images at `indices` (repeats allowed) as an `f64` tensor of shape
    /// `(B, 3, 32, 32)`, mean-subtracted, with their labels. Allocates the
    /// tensor; see [`Split::fill_batch`] to reuse a buffer instead.
    pub fn batch(&self, indices: &[usize]) -> Result<(Tensor, Vec<usize>)> {
        let mut x = vec![0.0; indices.len() * IMAGE_BYTES];
        let mut y = Vec::with_capacity(indices.len());
        self.fill_batch(indices, &mut x, &mut y)?;
        Ok((Tensor::from_vec(x, &batch_dims(indices.len()))?, y))
    }

    /// Like [`Split::batch`], but writes the images into `x` (exactly
    /// `indices.len() * 3072` values, e.g. a reused tensor's `data_mut()`)
    /// and replaces the contents of `y` with their labels, so a training loop
    /// that keeps both buffers allocates nothing per step. Nothing is written
    /// if an index is out of range or `x` has the wrong length.
    ///
    /// ```
    /// use gradtape_data::Split;
    /// let split = Split::new(vec![200; 2 * 3072], vec![0, 1], None).unwrap();
    /// let (mut x, mut y) = (vec![0.0; 2 * 3072], Vec::with_capacity(2));
    /// split.fill_batch(&[1, 1], &mut x, &mut y).unwrap();
    /// assert_eq!((x[0], y), (200.0, vec![1, 1]));
    /// assert!(split.fill_batch(&[2], &mut x[..3072], &mut Vec::new()).is_err());
    /// ```
    pub fn fill_batch(&self, indices: &[usize], x: &mut [f64], y: &mut Vec<usize>) -> Result<()> {
        if let Some(&index) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(DataError::IndexOutOfRange {
                index,
                len: self.len(),
            });
        }
        if Some(x.len()) != indices.len().checked_mul(IMAGE_BYTES) {
            return Err(DataError::InvalidRequest(format!(
                "Split::fill_batch: {} images need a buffer of {} values but it has {}",
                indices.len(),
                indices.len().saturating_mul(IMAGE_BYTES),
                x.len()
            )));
        }
        for (row, &i) in x.chunks_exact_mut(IMAGE_BYTES).zip(indices) {
            let img = &self.pixels[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES];
            match &self.mean {
                Some(mean) => {
                    for ((o, &p), &m) in row.iter_mut().zip(img).zip(mean.iter()) {
                        *o = f64::from(p) - m;
                    }
                }
                None => {
                    for (o, &p) in row.iter_mut().zip(img) {
                        *o = f64::from(p);
                    }
                }
            }
        }
        y.clear();
        y.extend(indices.iter().map(|&i| self.labels[i]));
        Ok(())
    }

    /// Images `start..end` as a `(end - start, 3, 32, 32)` tensor with their
    /// labels: for evaluating a split in batches.
    ///
    /// ```
    /// use gradtape_data::Split;
    /// let split = Split::new(vec![0; 5 * 3072], vec![0, 1, 2, 3, 4], None).unwrap();
    /// let (x, y) = split.range(3, 5).unwrap();
    /// assert_eq!((x.dims()[0], y), (2, vec![3, 4]));
    /// assert!(split.range(4, 6).is_err());
    /// ```
    pub fn range(&self, start: usize, end: usize) -> Result<(Tensor, Vec<usize>)> {
        if start > end || end > self.len() {
            return Err(DataError::InvalidRequest(format!(
                "Split::range: {start}..{end} is not a range within a split of {} images",
                self.len()
            )));
        }
        let indices: Vec<usize> = (start..end).collect();
        self.batch(&indices)
    }

    /// The first `n` images (all of them if `n > len()`), sharing this
    /// split's mean image, like the notebook's `X_train[:n]`.
    pub fn head(&self, n: usize) -> Split {
        let n = n.min(self.len());
        Split {
            pixels: self.pixels[..n * IMAGE_BYTES].to_vec(),
            labels: self.labels[..n].to_vec(),
            mean: self.mean.clone(),
        }
    }
}

impl fmt::Debug for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Split")
            .field("len", &self.len())
            .field("mean_subtracted", &self.mean.is_some())
            .finish()
    }
}

/// `(b, 3, 32, 32)`.
fn batch_dims(b: usize) -> [usize; 4] {
    [b, IMAGE_DIMS[0], IMAGE_DIMS[1], IMAGE_DIMS[2]]
}
