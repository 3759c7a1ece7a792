//! gradtape-core: a flat `f64` [`Tensor`] and a reverse-mode [`Tape`] whose
//! ops (affine, ReLU, dropout, batchnorm, softmax cross-entropy, and the small
//! arithmetic a loss needs) each record a hand-written backward closure.
//! [`gradcheck`] checks any of them against centered finite differences.
//!
//! ```
//! use gradtape_core::{Tape, Tensor};
//! let mut tape = Tape::new();
//! let w = tape.param(Tensor::from_vec(vec![0.5, -1.0, 2.0, 0.0], &[2, 2]).unwrap()).unwrap();
//! let b = tape.param(Tensor::zeros(&[2])).unwrap();
//! let x = tape.input(Tensor::from_vec(vec![1.0, 2.0], &[1, 2]).unwrap());
//! let h = tape.affine(x, w, b).unwrap();
//! let h = tape.relu(h).unwrap();
//! let loss = tape.softmax_cross_entropy(h, &[1]).unwrap();
//! tape.backward(loss).unwrap();
//! assert_eq!(tape.grad(w).unwrap().dims(), &[2, 2]);
//! ```

mod error;
pub mod gradcheck;
mod matmul;
mod ops;
mod random;
mod shape;
mod tape;
mod tensor;

pub use error::{Error, Result};
pub use matmul::{gemm, try_gemm, try_gemm_with, GemmError, GemmPath};
pub use ops::{softmax_rows, BatchNormStats};
pub use rand::RngExt;
pub use random::{fill_normal, rng_from_seed, uniform, Rng};
pub use shape::Shape;
pub use tape::{accumulate, BackwardCtx, Grads, Mode, Profile, Tape, Var};
pub use tensor::Tensor;
