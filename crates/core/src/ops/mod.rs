//! The recorded ops, one family per file; each states its forward and its
//! hand-written backward side by side, as methods on [`crate::Tape`].

mod affine;
mod batchnorm;
mod broadcast;
mod dropout;
mod layernorm;
mod loss;
mod matmul;
mod reduce;
mod relu;
mod shape_ops;
mod softmax;
mod unary;

pub use batchnorm::BatchNormStats;
pub use softmax::softmax_rows;

/// `dst += src`, elementwise.
pub(crate) fn add_assign(dst: &mut [f64], src: &[f64]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}
