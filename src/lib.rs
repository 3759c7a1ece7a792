//! gradtape: a small reverse-mode autograd tape over flat `f64` tensors,
//! and the CS231n Dropout notebook reproduced on it.
//!
//! This facade re-exports the member crates so that `use gradtape::...` is all
//! a user needs: the core (tensor, tape, ops, finite differences) at the top
//! level, and the rest as modules: [`nn`] (the fully connected net),
//! [`optim`] (Adam and friends), [`data`] (CIFAR-10), [`train`] (the
//! Solver), [`checkpoint`] (safetensors checkpoints and exact resume),
//! [`plot`] (figures) and [`notebook`] (the notebook's sections).
//!
//! ```
//! use gradtape::{Tape, Tensor};
//! let mut tape = Tape::new();
//! let x = tape.param(Tensor::from_vec(vec![1.0, -2.0, 3.0], &[1, 3]).unwrap()).unwrap();
//! let y = tape.relu(x).unwrap();
//! let loss = tape.sum(y).unwrap();
//! tape.backward(loss).unwrap();
//! assert_eq!(tape.grad(x).unwrap().data(), &[1.0, 0.0, 1.0]);
//! ```

pub use gradtape_checkpoint as checkpoint;
pub use gradtape_core::*;
pub use gradtape_data as data;
pub use gradtape_nn as nn;
pub use gradtape_notebook as notebook;
pub use gradtape_optim as optim;
pub use gradtape_plot as plot;
pub use gradtape_train as train;
