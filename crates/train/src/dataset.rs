//! What the Solver reads examples from: anything that can fill a minibatch
//! buffer from a list of indices, so pixels can stay compact (bytes) and be
//! converted one batch at a time.

use gradtape_core::{Error, Result, Tensor};

/// A labelled set of examples.
pub trait Dataset {
    /// Number of examples.
    fn len(&self) -> usize;

    /// True when there is no example.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shape of one example (`[3, 32, 32]` for a CIFAR image).
    fn example_dims(&self) -> Vec<usize>;

    /// Writes the examples at `indices` into `x` (row-major, one example
    /// after another, `indices.len() * prod(example_dims)` values) and their
    /// labels into `y` (cleared first).
    fn fill_batch(&self, indices: &[usize], x: &mut [f64], y: &mut Vec<usize>) -> Result<()>;
}

/// A borrowed dataset is a dataset: a Solver can train on `&split` without
/// copying the pixels (150 MB for CIFAR-10's training split).
impl<T: Dataset + ?Sized> Dataset for &T {
    fn len(&self) -> usize {
        (**self).len()
    }

    fn example_dims(&self) -> Vec<usize> {
        (**self).example_dims()
    }

    fn fill_batch(&self, indices: &[usize], x: &mut [f64], y: &mut Vec<usize>) -> Result<()> {
        (**self).fill_batch(indices, x, y)
    }
}

/// Examples held as an `(N, ...)` tensor beside their labels.
///
/// ```
/// use gradtape_core::Tensor;
/// use gradtape_train::{Dataset, InMemory};
/// let d = InMemory::new(Tensor::zeros(&[4, 2, 3]), vec![0, 1, 2, 3]).unwrap();
/// assert_eq!((d.len(), d.example_dims()), (4, vec![2, 3]));
/// ```
#[derive(Clone, Debug)]
pub struct InMemory {
    x: Tensor,
    y: Vec<usize>,
}

impl InMemory {
    /// Pairs `x` (first dimension = examples) with one label per example.
    pub fn new(x: Tensor, y: Vec<usize>) -> Result<Self> {
        if x.shape().rank() == 0 || x.dims()[0] != y.len() {
            return Err(Error::invalid(
                "InMemory::new",
                format!("x is {} but there are {} labels", x.shape(), y.len()),
            ));
        }
        Ok(InMemory { x, y })
    }
}

impl Dataset for InMemory {
    fn len(&self) -> usize {
        self.y.len()
    }

    fn example_dims(&self) -> Vec<usize> {
        self.x.dims()[1..].to_vec()
    }

    fn fill_batch(&self, indices: &[usize], x: &mut [f64], y: &mut Vec<usize>) -> Result<()> {
        let d = self.x.shape().as_matrix().1;
        if x.len() != indices.len() * d {
            return Err(Error::invalid(
                "fill_batch",
                format!(
                    "a buffer of {} values for {} examples of {d}",
                    x.len(),
                    indices.len()
                ),
            ));
        }
        y.clear();
        for (k, &i) in indices.iter().enumerate() {
            if i >= self.y.len() {
                return Err(Error::invalid(
                    "fill_batch",
                    format!("index {i} of {} examples", self.y.len()),
                ));
            }
            x[k * d..(k + 1) * d].copy_from_slice(&self.x.data()[i * d..(i + 1) * d]);
            y.push(self.y[i]);
        }
        Ok(())
    }
}

/// CIFAR-10 splits keep their pixels as bytes; a minibatch is converted (and
/// mean-subtracted) as it is filled.
impl Dataset for gradtape_data::Split {
    fn len(&self) -> usize {
        gradtape_data::Split::len(self)
    }

    fn example_dims(&self) -> Vec<usize> {
        gradtape_data::IMAGE_DIMS.to_vec()
    }

    fn fill_batch(&self, indices: &[usize], x: &mut [f64], y: &mut Vec<usize>) -> Result<()> {
        gradtape_data::Split::fill_batch(self, indices, x, y)
            .map_err(|e| Error::invalid("fill_batch", e.to_string()))
    }
}
