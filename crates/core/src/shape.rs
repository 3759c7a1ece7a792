//! A tensor's dimensions: inline storage up to rank 4, so shapes never touch
//! the heap in the nets this engine trains.

use smallvec::SmallVec;
use std::fmt;

/// The dimensions of a tensor, outermost first (row-major).
///
/// ```
/// use gradtape_core::Shape;
/// let s = Shape::from(&[2, 3, 4][..]);
/// assert_eq!(s.numel(), 24);
/// assert_eq!(s.to_string(), "(2, 3, 4)");
/// assert_eq!(s.as_matrix(), (2, 12));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(SmallVec<[usize; 4]>);

impl Shape {
    /// The number of elements a tensor of this shape holds (1 for rank 0).
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }

    /// The dimensions as a slice.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// The number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Reads the shape as a matrix `(N, D)`: the first dimension is the batch,
    /// the rest are flattened (`D = d1 * ... * dk`). A rank-0 shape is `(1, 1)`.
    pub fn as_matrix(&self) -> (usize, usize) {
        match self.0.split_first() {
            None => (1, 1),
            Some((n, rest)) => (*n, rest.iter().product()),
        }
    }
}

impl From<&[usize]> for Shape {
    fn from(d: &[usize]) -> Self {
        Shape(SmallVec::from_slice(d))
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(d: [usize; N]) -> Self {
        Shape(SmallVec::from_slice(&d))
    }
}

impl std::ops::Deref for Shape {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        &self.0
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        if self.0.len() == 1 {
            write!(f, ",")?;
        }
        write!(f, ")")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
