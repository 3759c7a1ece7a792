//! A tensor's dimensions: inline storage up to rank 4, so shapes never touch
//! the heap in the nets this engine trains.
//!
//! A `Shape` is checked once, when it is made: the product of its
//! dimensions (a zero counted as one) is at most [`Shape::MAX_NUMEL`]. Every
//! product of some of its dimensions (the element count, a matrix view's
//! `N` and `D`, a row's length, a byte count `numel * 8`) is no larger, so
//! sizes derived from a `Shape` never overflow and need no further checks.

use crate::{Error, Result};
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
/// // 2^32 * 2^32 elements do not fit in memory: an error, never a wrapped count
/// assert!(Shape::checked("example", &[1 << 32, 1 << 32]).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(SmallVec<[usize; 4]>);

impl Shape {
    /// The largest element count, and the largest product of any of a
    /// shape's dimensions: an `f64` buffer of this many elements is the
    /// largest Rust can allocate (`isize::MAX` bytes).
    pub const MAX_NUMEL: usize = isize::MAX as usize / std::mem::size_of::<f64>();

    /// The shape `dims`, or [`Error::ShapeTooLarge`] naming `op` when the
    /// product of the dimensions (a zero counted as one) exceeds
    /// [`Shape::MAX_NUMEL`]. (Counting zeros as ones rejects `(0, 2^62)`
    /// too: its element count is 0, but its second dimension alone could not
    /// be allocated, and products of its other dimensions would overflow.)
    ///
    /// ```
    /// use gradtape_core::{Error, Shape};
    /// assert_eq!(Shape::checked("mine", &[2, 3]).unwrap().numel(), 6);
    /// let err = Shape::checked("mine", &[0, 1 << 62]).unwrap_err();
    /// assert!(matches!(err, Error::ShapeTooLarge { op: "mine", .. }));
    /// ```
    pub fn checked(op: &'static str, dims: &[usize]) -> Result<Shape> {
        let mut bound = 1usize;
        for &d in dims {
            bound = match bound.checked_mul(d.max(1)) {
                Some(b) if b <= Shape::MAX_NUMEL => b,
                _ => {
                    return Err(Error::ShapeTooLarge {
                        op,
                        dims: dims.into(),
                    })
                }
            };
        }
        Ok(Shape(SmallVec::from_slice(dims)))
    }

    /// The number of elements a tensor of this shape holds (1 for rank 0).
    pub fn numel(&self) -> usize {
        // Cannot overflow: bounded by MAX_NUMEL when the shape was made.
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
            // Cannot overflow, as numel above, even when N is 0.
            Some((n, rest)) => (*n, rest.iter().product()),
        }
    }
}

/// Dimensions that need not form a valid [`Shape`] (an error's), displayed
/// as a shape is.
pub(crate) struct Dims<'a>(pub &'a [usize]);

impl fmt::Display for Dims<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_dims(f, self.0)
    }
}

/// Writes dimensions as a tuple: `(2, 3)`, `(5,)`, `()`.
fn fmt_dims(f: &mut fmt::Formatter<'_>, dims: &[usize]) -> fmt::Result {
    write!(f, "(")?;
    for (i, d) in dims.iter().enumerate() {
        if i > 0 {
            write!(f, ", ")?;
        }
        write!(f, "{d}")?;
    }
    if dims.len() == 1 {
        write!(f, ",")?;
    }
    write!(f, ")")
}

/// # Panics
/// If the shape is too large ([`Shape::checked`] says when), with a message
/// naming the dimensions. Use [`Shape::checked`] where the dimensions come
/// from a user. (Not `TryFrom`: it would clash with this `From`, which
/// callers with known-good dimensions keep.)
impl From<&[usize]> for Shape {
    #[track_caller]
    fn from(d: &[usize]) -> Self {
        match Shape::checked("Shape::from", d) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }
}

/// # Panics
/// As `From<&[usize]>`.
impl<const N: usize> From<[usize; N]> for Shape {
    #[track_caller]
    fn from(d: [usize; N]) -> Self {
        Shape::from(&d[..])
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
        fmt_dims(f, &self.0)
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
