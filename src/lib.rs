#![doc = include_str!("../README.md")]
//!
//! # The facade
//!
//! This crate re-exports the member crates so that `use gradtape::...` is all
//! a user needs: the core (tensor, tape, ops, finite differences) at the top
//! level, [`nn`] (the fully connected net) and [`optim`] (Adam and friends)
//! always, and the rest behind cargo features, all on by default:
//!
//! | feature | module | what it adds |
//! | --- | --- | --- |
//! | `data` | `data` | the CIFAR-10 reader |
//! | `train` | `train` | the Solver (implies `data`) |
//! | `checkpoint` | `checkpoint` | safetensors checkpoints and exact resume (implies `train`) |
//! | `plot` | `plot` | the figures (plotters, PNG and SVG, an embedded font) |
//! | `notebook` | `notebook` | the notebook's sections and the examples' command line (implies all of the above) |
//!
//! With `default-features = false` a user gets the tape, the ops, `nn` and
//! `optim`, and none of the plotting, command-line or serialisation crates.
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

pub use gradtape_core::*;
pub use gradtape_nn as nn;
pub use gradtape_optim as optim;

#[cfg(feature = "checkpoint")]
pub use gradtape_checkpoint as checkpoint;
#[cfg(feature = "data")]
pub use gradtape_data as data;
#[cfg(feature = "notebook")]
pub use gradtape_notebook as notebook;
#[cfg(feature = "plot")]
pub use gradtape_plot as plot;
#[cfg(feature = "train")]
pub use gradtape_train as train;
