//! gradtape: a small reverse-mode autograd tape over flat `f64` tensors.
//!
//! This facade re-exports the member crates so that `use gradtape::...` is all
//! a user needs.
//!
//! ```
//! use gradtape::{Tape, Tensor};
//! let mut tape = Tape::new();
//! let x = tape.param(Tensor::from_vec(vec![1.0, -2.0, 3.0], &[1, 3]).unwrap());
//! let y = tape.relu(x).unwrap();
//! let loss = tape.sum(y).unwrap();
//! tape.backward(loss).unwrap();
//! assert_eq!(tape.grad(x).unwrap().data(), &[1.0, 0.0, 1.0]);
//! ```

pub use gradtape_core::*;
