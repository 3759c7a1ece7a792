//! The recorded ops, one family per file; each states its forward and its
//! hand-written backward side by side, as methods on [`crate::Tape`].

mod affine;
mod arith;
mod batchnorm;
mod dropout;
mod relu;
mod softmax;

pub use batchnorm::BatchNormStats;
pub use softmax::softmax_rows;
