//! gradtape-core: a flat `f64` [`Tensor`] and a reverse-mode [`Tape`] whose
//! ops each record a hand-written backward closure: the notebook's layers
//! (affine, ReLU, dropout, batchnorm, softmax cross-entropy), layernorm,
//! `matmul`, `transpose`, `reshape`, broadcasting `add`/`sub`/`mul`/`div`,
//! elementwise functions (`exp`, `log`, `sqrt`, `powf`, `tanh`, `sigmoid`,
//! `leaky_relu`, ...), reductions (whole-tensor and along an axis),
//! `log_softmax`, `mse_loss` and `bce_with_logits`. A user adds an op with
//! [`Tape::record`]. [`gradcheck`] checks any of them against centered
//! finite differences.
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
mod grads;
mod matmul;
mod ops;
mod random;
mod shape;
mod tape;
mod tensor;
mod update;

pub use error::{Error, Result};
pub use grads::{BackwardCtx, GradSlot, Grads};
pub use matmul::{gemm, try_gemm, try_gemm_with, GemmError, GemmPath};
pub use ops::{softmax_rows, BatchNormStats};
pub use rand::RngExt;
pub use random::{fill_normal, rng_from_seed, uniform, CounterRng, Rng};
pub use shape::Shape;
pub use tape::{Mode, OpTiming, Profile, Tape, Var};
pub use tensor::Tensor;
pub use update::{GradFill, ParamUpdate};
