//! The one error type of gradtape-core: every variant names the op that
//! raised it and carries the shapes or values that were wrong.

use crate::shape::Dims;
use crate::Shape;

/// Everything a user can get wrong when building or running a graph.
///
/// ```
/// use gradtape_core::{Tape, Tensor, Error};
/// let mut tape = Tape::new();
/// let w = tape.param(Tensor::zeros(&[16, 20])).unwrap();
/// let b = tape.param(Tensor::zeros(&[20])).unwrap();
/// let x = tape.input(Tensor::zeros(&[2, 15]));
/// let err = tape.affine(x, w, b).unwrap_err();
/// assert_eq!(err.to_string(), "affine: x is (2, 15) but w is (16, 20)");
/// assert!(matches!(err, Error::ShapeMismatch { op: "affine", .. }));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Two operands whose shapes do not fit together. (The shapes are boxed
    /// to keep `Error`, and so every `Result`, small.)
    #[error("{op}: {lhs_name} is {lhs} but {rhs_name} is {rhs}")]
    ShapeMismatch {
        /// The op that raised it.
        op: &'static str,
        /// The first operand's name in the op's signature.
        lhs_name: &'static str,
        /// The first operand's shape.
        lhs: Box<Shape>,
        /// The second operand's name in the op's signature.
        rhs_name: &'static str,
        /// The second operand's shape.
        rhs: Box<Shape>,
    },
    /// A buffer whose length does not match the shape it was given.
    #[error("{op}: shape {shape} needs {expected} elements but the buffer has {len}")]
    LengthMismatch {
        /// The op (or constructor) that raised it.
        op: &'static str,
        /// The shape asked for.
        shape: Shape,
        /// The elements that shape holds.
        expected: usize,
        /// The elements the buffer holds.
        len: usize,
    },
    /// A shape too large for memory: the product of its dimensions (a zero
    /// counted as one) overflows or exceeds [`Shape::MAX_NUMEL`]. (`dims`,
    /// not a [`Shape`]: every `Shape` is valid.)
    #[error("{op}: shape {} is too large: the product of its dimensions exceeds {} elements (isize::MAX bytes of f64)", Dims(.dims), Shape::MAX_NUMEL)]
    ShapeTooLarge {
        /// The constructor or op that was asked for it.
        op: &'static str,
        /// The dimensions asked for.
        dims: Box<[usize]>,
    },
    /// The allocator could not provide a tensor's buffer.
    #[error("{op}: cannot allocate {bytes} bytes for a tensor of shape {shape}")]
    OutOfMemory {
        /// The constructor or op that allocated.
        op: &'static str,
        /// The tensor's shape.
        shape: Shape,
        /// The bytes asked of the allocator.
        bytes: usize,
    },
    /// An argument outside its valid range (a probability, a label, a rank...).
    #[error("{op}: {msg}")]
    InvalidArgument {
        /// The op that raised it.
        op: &'static str,
        /// What was wrong with the argument.
        msg: String,
    },
    /// A value or gradient became NaN or infinite while anomaly detection was on.
    #[error("{op} (tape node {node}, shape {shape}): {what} is not finite (first bad element at index {index})")]
    NonFinite {
        /// The op whose value or gradient is not finite.
        op: &'static str,
        /// Its node on the tape.
        node: usize,
        /// The shape of the offending tensor.
        shape: Shape,
        /// Which tensor: the op's value or a gradient.
        what: &'static str,
        /// The flat index of the first NaN or infinite element.
        index: usize,
    },
    /// An error raised while training, with the iteration it happened at.
    #[error("iteration {iteration}: {source}")]
    Training {
        /// The training iteration (0-based) at which it happened.
        iteration: usize,
        /// The error itself.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::InvalidArgument {
            op,
            msg: msg.into(),
        }
    }

    /// Shorthand for [`Error::ShapeMismatch`].
    pub fn shapes(
        op: &'static str,
        lhs_name: &'static str,
        lhs: &Shape,
        rhs_name: &'static str,
        rhs: &Shape,
    ) -> Self {
        Error::ShapeMismatch {
            op,
            lhs_name,
            lhs: Box::new(lhs.clone()),
            rhs_name,
            rhs: Box::new(rhs.clone()),
        }
    }
}

/// `Result` with gradtape's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
