//! The tensor: a flat, row-major `f64` buffer and its shape.

use crate::random::{fill_normal, uniform, Rng};
use crate::{matmul, Error, Result, Shape};

/// A dense row-major `f64` tensor.
///
/// ```
/// use gradtape_core::Tensor;
/// let t = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
/// assert_eq!(t.dims(), &[2, 3]);
/// assert_eq!(t.at(&[1, 2]), 6.0);
/// assert!(Tensor::from_vec(vec![1.0; 5], &[2, 3]).is_err());
/// ```
#[derive(Clone, PartialEq, Default)]
pub struct Tensor {
    data: Vec<f64>,
    shape: Shape,
}

impl Tensor {
    /// A tensor over `data` with shape `dims`; the lengths must agree.
    pub fn from_vec(data: Vec<f64>, dims: &[usize]) -> Result<Tensor> {
        let shape = Shape::from(dims);
        if shape.numel() != data.len() {
            return Err(Error::LengthMismatch {
                op: "Tensor::from_vec",
                expected: shape.numel(),
                shape,
                len: data.len(),
            });
        }
        Ok(Tensor { data, shape })
    }

    /// A tensor of `dims` with every element `value`.
    ///
    /// ```
    /// use gradtape_core::Tensor;
    /// assert_eq!(Tensor::full(&[2], 3.5).data(), &[3.5, 3.5]);
    /// ```
    pub fn full(dims: &[usize], value: f64) -> Tensor {
        let shape = Shape::from(dims);
        Tensor {
            data: vec![value; shape.numel()],
            shape,
        }
    }

    /// A tensor of zeros.
    pub fn zeros(dims: &[usize]) -> Tensor {
        Tensor::full(dims, 0.0)
    }

    /// A tensor of ones.
    pub fn ones(dims: &[usize]) -> Tensor {
        Tensor::full(dims, 1.0)
    }

    /// A rank-0 tensor holding `value`.
    ///
    /// ```
    /// use gradtape_core::Tensor;
    /// assert_eq!(Tensor::scalar(2.0).item().unwrap(), 2.0);
    /// ```
    pub fn scalar(value: f64) -> Tensor {
        Tensor::full(&[], value)
    }

    /// Independent N(0, 1) draws from `rng`.
    ///
    /// ```
    /// use gradtape_core::{rng_from_seed, Tensor};
    /// let a = Tensor::randn(&[3, 4], &mut rng_from_seed(1));
    /// let b = Tensor::randn(&[3, 4], &mut rng_from_seed(1));
    /// assert_eq!(a, b); // same seed, same numbers
    /// ```
    pub fn randn(dims: &[usize], rng: &mut Rng) -> Tensor {
        let mut t = Tensor::zeros(dims);
        fill_normal(rng, &mut t.data);
        t
    }

    /// Independent U[0, 1) draws from `rng`.
    pub fn rand_uniform(dims: &[usize], rng: &mut Rng) -> Tensor {
        let mut t = Tensor::zeros(dims);
        t.data.iter_mut().for_each(|v| *v = uniform(rng));
        t
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The dimensions as a slice.
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the tensor holds no element (some dimension is 0).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The elements in row-major order.
    pub fn data(&self) -> &[f64] {
        &self.data
    }

    /// The elements in row-major order, mutably.
    pub fn data_mut(&mut self) -> &mut [f64] {
        &mut self.data
    }

    /// Gives the buffer back.
    pub fn into_vec(self) -> Vec<f64> {
        self.data
    }

    /// The element at a multi-index.
    ///
    /// # Panics
    /// If the index has the wrong rank or is out of bounds (this is an
    /// indexing operator, like `slice[i]`).
    pub fn at(&self, index: &[usize]) -> f64 {
        assert_eq!(index.len(), self.shape.rank(), "Tensor::at: rank of index");
        let mut flat = 0;
        for (i, (&ix, &d)) in index.iter().zip(self.dims()).enumerate() {
            assert!(
                ix < d,
                "Tensor::at: index {ix} out of bounds for dim {i} of size {d}"
            );
            flat = flat * d + ix;
        }
        self.data[flat]
    }

    /// The single element of a one-element tensor.
    pub fn item(&self) -> Result<f64> {
        match self.data.as_slice() {
            [v] => Ok(*v),
            _ => Err(Error::invalid(
                "Tensor::item",
                format!(
                    "tensor of shape {} does not hold exactly one element",
                    self.shape
                ),
            )),
        }
    }

    /// The same elements under another shape with as many elements.
    ///
    /// ```
    /// use gradtape_core::Tensor;
    /// let t = Tensor::zeros(&[2, 3, 4]).reshape(&[2, 12]).unwrap();
    /// assert_eq!(t.dims(), &[2, 12]);
    /// ```
    pub fn reshape(self, dims: &[usize]) -> Result<Tensor> {
        let shape = Shape::from(dims);
        if shape.numel() != self.data.len() {
            return Err(Error::shapes(
                "reshape",
                "tensor",
                &self.shape,
                "target",
                &shape,
            ));
        }
        Ok(Tensor {
            data: self.data,
            shape,
        })
    }

    /// The matrix product of two rank-2 tensors.
    ///
    /// ```
    /// use gradtape_core::Tensor;
    /// let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    /// let i = Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0], &[2, 2]).unwrap();
    /// assert_eq!(a.matmul(&i).unwrap(), a);
    /// ```
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        let (m, k) = match self.dims() {
            [m, k] => (*m, *k),
            _ => {
                return Err(Error::invalid(
                    "matmul",
                    format!("lhs is {}, not a matrix", self.shape),
                ))
            }
        };
        let n = match rhs.dims() {
            [k2, n] if *k2 == k => *n,
            _ => {
                return Err(Error::shapes(
                    "matmul",
                    "lhs",
                    &self.shape,
                    "rhs",
                    &rhs.shape,
                ))
            }
        };
        let mut out = Tensor::zeros(&[m, n]);
        matmul::gemm(
            m,
            k,
            n,
            1.0,
            &self.data,
            false,
            &rhs.data,
            false,
            0.0,
            &mut out.data,
        );
        Ok(out)
    }

    /// Sum of all elements.
    pub fn sum(&self) -> f64 {
        self.data.iter().sum()
    }

    /// Mean of all elements (NaN for an empty tensor).
    pub fn mean(&self) -> f64 {
        self.sum() / self.data.len() as f64
    }

    /// A new tensor with `f` applied to every element.
    pub fn map(&self, f: impl Fn(f64) -> f64) -> Tensor {
        Tensor {
            data: self.data.iter().map(|&v| f(v)).collect(),
            shape: self.shape.clone(),
        }
    }

    /// Index of the largest element of each row of an `(N, C)` view
    /// (the predicted class of each row of scores).
    ///
    /// ```
    /// use gradtape_core::Tensor;
    /// let s = Tensor::from_vec(vec![0.1, 0.9, 0.5, 0.2], &[2, 2]).unwrap();
    /// assert_eq!(s.argmax_rows(), vec![1, 0]);
    /// ```
    pub fn argmax_rows(&self) -> Vec<usize> {
        let (n, c) = self.shape.as_matrix();
        if c == 0 {
            return vec![0; n];
        }
        self.data
            .chunks(c)
            .map(|row| {
                let mut best = 0;
                for (j, &v) in row.iter().enumerate() {
                    if v > row[best] {
                        best = j;
                    }
                }
                best
            })
            .collect()
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: usize = 8;
        write!(f, "Tensor{} [", self.shape)?;
        for (i, v) in self.data.iter().take(SHOWN).enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{v}")?;
        }
        if self.data.len() > SHOWN {
            write!(f, ", ... ({} more)", self.data.len() - SHOWN)?;
        }
        write!(f, "]")
    }
}
