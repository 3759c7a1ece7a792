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
#[derive(Clone, PartialEq)]
pub struct Tensor {
    /// Always `shape.numel()` elements: every constructor checks it.
    data: Vec<f64>,
    shape: Shape,
}

/// The empty tensor of shape `(0,)`. (Not the rank-0 shape `()`, which
/// holds one element: a default must keep `len() == shape().numel()`.)
///
/// ```
/// use gradtape_core::Tensor;
/// let t = Tensor::default();
/// assert_eq!((t.dims(), t.len()), (&[0][..], 0));
/// ```
impl Default for Tensor {
    fn default() -> Tensor {
        Tensor {
            data: Vec::new(),
            shape: Shape::from([0]),
        }
    }
}

/// A buffer of `shape.numel()` copies of `value`, or
/// [`Error::OutOfMemory`] naming `op` when the allocator refuses it (an
/// error, not the abort `vec!` would give).
pub(crate) fn filled_vec(op: &'static str, shape: &Shape, value: f64) -> Result<Vec<f64>> {
    let n = shape.numel();
    let mut data = Vec::new();
    data.try_reserve_exact(n).map_err(|_| Error::OutOfMemory {
        op,
        shape: shape.clone(),
        // Cannot overflow: a Shape holds at most isize::MAX bytes of f64.
        bytes: n * std::mem::size_of::<f64>(),
    })?;
    data.resize(n, value);
    Ok(data)
}

/// The tensor, or a panic with the error's message at the caller's line:
/// the infallible constructors' way to fail.
#[track_caller]
fn or_panic(t: Result<Tensor>) -> Tensor {
    match t {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

impl Tensor {
    /// A tensor over `data` with shape `dims`; the lengths must agree, and
    /// the shape must fit in memory ([`Shape::checked`]).
    pub fn from_vec(data: Vec<f64>, dims: &[usize]) -> Result<Tensor> {
        const OP: &str = "Tensor::from_vec";
        let shape = Shape::checked(OP, dims)?;
        if shape.numel() != data.len() {
            return Err(Error::LengthMismatch {
                op: OP,
                expected: shape.numel(),
                shape,
                len: data.len(),
            });
        }
        Ok(Tensor { data, shape })
    }

    /// `dims` filled with `value`, the error naming `op`.
    fn full_in(op: &'static str, dims: &[usize], value: f64) -> Result<Tensor> {
        let shape = Shape::checked(op, dims)?;
        let data = filled_vec(op, &shape, value)?;
        Ok(Tensor { data, shape })
    }

    /// A tensor of `dims` with every element `value`.
    ///
    /// ```
    /// use gradtape_core::Tensor;
    /// assert_eq!(Tensor::full(&[2], 3.5).data(), &[3.5, 3.5]);
    /// ```
    ///
    /// # Panics
    /// If the shape is too large ([`Shape::checked`]) or its buffer cannot
    /// be allocated, with a message naming the shape; [`Tensor::try_full`]
    /// returns these as errors. (The infallible constructors stay so that
    /// the common `Tensor::zeros(&[2, 3])` needs no `?`.)
    #[track_caller]
    pub fn full(dims: &[usize], value: f64) -> Tensor {
        or_panic(Tensor::full_in("Tensor::full", dims, value))
    }

    /// [`Tensor::full`], with a shape too large
    /// ([`Error::ShapeTooLarge`]) or a failed allocation
    /// ([`Error::OutOfMemory`]) as an error.
    ///
    /// ```
    /// use gradtape_core::Tensor;
    /// assert_eq!(Tensor::try_full(&[2], 3.5).unwrap().data(), &[3.5, 3.5]);
    /// assert!(Tensor::try_full(&[1 << 32, 1 << 32], 0.0).is_err());
    /// ```
    pub fn try_full(dims: &[usize], value: f64) -> Result<Tensor> {
        Tensor::full_in("Tensor::try_full", dims, value)
    }

    /// A tensor of zeros.
    ///
    /// # Panics
    /// As [`Tensor::full`]; [`Tensor::try_zeros`] returns an error instead.
    #[track_caller]
    pub fn zeros(dims: &[usize]) -> Tensor {
        or_panic(Tensor::full_in("Tensor::zeros", dims, 0.0))
    }

    /// [`Tensor::zeros`], with a shape too large or a failed allocation as
    /// an error.
    ///
    /// ```
    /// use gradtape_core::Tensor;
    /// assert_eq!(Tensor::try_zeros(&[2, 0]).unwrap().len(), 0);
    /// assert!(Tensor::try_zeros(&[0, 1 << 63]).is_err());
    /// ```
    pub fn try_zeros(dims: &[usize]) -> Result<Tensor> {
        Tensor::full_in("Tensor::try_zeros", dims, 0.0)
    }

    /// A tensor of ones.
    ///
    /// # Panics
    /// As [`Tensor::full`]; [`Tensor::try_ones`] returns an error instead.
    #[track_caller]
    pub fn ones(dims: &[usize]) -> Tensor {
        or_panic(Tensor::full_in("Tensor::ones", dims, 1.0))
    }

    /// [`Tensor::ones`], with a shape too large or a failed allocation as
    /// an error.
    ///
    /// ```
    /// use gradtape_core::Tensor;
    /// assert_eq!(Tensor::try_ones(&[2]).unwrap().data(), &[1.0, 1.0]);
    /// assert!(Tensor::try_ones(&[usize::MAX]).is_err());
    /// ```
    pub fn try_ones(dims: &[usize]) -> Result<Tensor> {
        Tensor::full_in("Tensor::try_ones", dims, 1.0)
    }

    /// A rank-0 tensor holding `value`.
    ///
    /// ```
    /// use gradtape_core::Tensor;
    /// assert_eq!(Tensor::scalar(2.0).item().unwrap(), 2.0);
    /// ```
    pub fn scalar(value: f64) -> Tensor {
        Tensor {
            data: vec![value],
            shape: Shape::default(),
        }
    }

    /// Independent N(0, 1) draws from `rng`.
    ///
    /// ```
    /// use gradtape_core::{rng_from_seed, Tensor};
    /// let a = Tensor::randn(&[3, 4], &mut rng_from_seed(1));
    /// let b = Tensor::randn(&[3, 4], &mut rng_from_seed(1));
    /// assert_eq!(a, b); // same seed, same numbers
    /// ```
    ///
    /// # Panics
    /// As [`Tensor::full`]; [`Tensor::try_randn`] returns an error instead.
    #[track_caller]
    pub fn randn(dims: &[usize], rng: &mut Rng) -> Tensor {
        or_panic(Tensor::randn_in("Tensor::randn", dims, rng))
    }

    /// [`Tensor::randn`], with a shape too large or a failed allocation as
    /// an error (and no draw taken from `rng`).
    ///
    /// ```
    /// use gradtape_core::{rng_from_seed, Tensor};
    /// let mut rng = rng_from_seed(1);
    /// assert_eq!(Tensor::try_randn(&[3], &mut rng).unwrap().len(), 3);
    /// assert!(Tensor::try_randn(&[1 << 32, 1 << 32], &mut rng).is_err());
    /// ```
    pub fn try_randn(dims: &[usize], rng: &mut Rng) -> Result<Tensor> {
        Tensor::randn_in("Tensor::try_randn", dims, rng)
    }

    fn randn_in(op: &'static str, dims: &[usize], rng: &mut Rng) -> Result<Tensor> {
        let mut t = Tensor::full_in(op, dims, 0.0)?;
        fill_normal(rng, &mut t.data);
        Ok(t)
    }

    /// Independent U[0, 1) draws from `rng`.
    ///
    /// ```
    /// use gradtape_core::{rng_from_seed, Tensor};
    /// let u = Tensor::rand_uniform(&[100], &mut rng_from_seed(1));
    /// assert!(u.data().iter().all(|&v| (0.0..1.0).contains(&v)));
    /// ```
    ///
    /// # Panics
    /// As [`Tensor::full`]; [`Tensor::try_rand_uniform`] returns an error
    /// instead.
    #[track_caller]
    pub fn rand_uniform(dims: &[usize], rng: &mut Rng) -> Tensor {
        or_panic(Tensor::rand_uniform_in("Tensor::rand_uniform", dims, rng))
    }

    /// [`Tensor::rand_uniform`], with a shape too large or a failed
    /// allocation as an error (and no draw taken from `rng`).
    ///
    /// ```
    /// use gradtape_core::{rng_from_seed, Tensor};
    /// let mut rng = rng_from_seed(1);
    /// assert_eq!(Tensor::try_rand_uniform(&[3], &mut rng).unwrap().len(), 3);
    /// assert!(Tensor::try_rand_uniform(&[usize::MAX, 2], &mut rng).is_err());
    /// ```
    pub fn try_rand_uniform(dims: &[usize], rng: &mut Rng) -> Result<Tensor> {
        Tensor::rand_uniform_in("Tensor::try_rand_uniform", dims, rng)
    }

    fn rand_uniform_in(op: &'static str, dims: &[usize], rng: &mut Rng) -> Result<Tensor> {
        let mut t = Tensor::full_in(op, dims, 0.0)?;
        t.data.iter_mut().for_each(|v| *v = uniform(rng));
        Ok(t)
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
        let shape = Shape::checked("reshape", dims)?;
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
        // (m, k) and (k, n) are valid shapes, but (m, n) need not be.
        let mut out = Tensor::full_in("matmul", &[m, n], 0.0)?;
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
    ///
    /// # Panics
    /// If the rows are empty (`C = 0`) but there are some (`N > 0`): an
    /// empty row has no largest element.
    pub fn argmax_rows(&self) -> Vec<usize> {
        let (n, c) = self.shape.as_matrix();
        if c == 0 {
            // Not `vec![0; n]`: N may be huge here, the tensor being empty.
            assert!(
                n == 0,
                "argmax_rows: the rows of a tensor of shape {} are empty",
                self.shape
            );
            return Vec::new();
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
