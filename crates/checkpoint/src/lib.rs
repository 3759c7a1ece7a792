//! gradtape-checkpoint: nets and training runs saved in the
//! [safetensors](https://github.com/huggingface/safetensors) format, saved
//! atomically, loaded only after every byte has been checked, and resumed
//! bit for bit.
//!
//! Two kinds of file, both plain safetensors (Python's `safetensors.numpy`
//! reads them; every tensor is F64, little endian):
//!
//! | kind       | written by          | tensors |
//! |------------|---------------------|---------|
//! | `net`      | [`save_net`]        | `W1`, `b1`, `gamma1`, `beta1`, ..., `bn1.running_mean`, `bn1.running_var`, ... |
//! | `training` | [`save_training`]   | the net's, plus `best.<name>` (best validation epoch's net), `<rule>.<param>.<buffer>` (optimizer state: `adam.W1.m`, `adam.W1.v`, `sgd_momentum.b2.velocity`, ...), `history.loss`, `history.train_acc`, `history.val_acc`, `history.epoch_seconds`, `history.best_val_acc` |
//!
//! `__metadata__` holds JSON strings: `format` (`gradtape-checkpoint`),
//! `format_version` (`1`), `kind`, `config` (the [`FcConfig`](gradtape_nn::FcConfig)), `batchnorm`
//! (momentum and eps per layer), and for a training file `optimizer` (rule,
//! learning rate, hyperparameters, per-parameter step counts and buffer
//! names), `progress` (iteration, epoch, both generators' 128-bit states,
//! ...), `best_batchnorm` and, when [`save_solver`] wrote it, `solver` (the
//! run's [`RunSettings`]); plus `tensor_crc32` and `header_crc32`, CRC-32
//! checksums of every tensor and of the header.
//!
//! **Saving** writes a temporary file of its own (`<path>.<pid>-<n>.tmp`)
//! beside the target, flushes it, syncs it to disk and renames it over
//! `path`: a crash or a full disk mid-save leaves the previous checkpoint as
//! it was, and two saves never share a temporary file. A training run
//! holds [`lock_for_saving`]'s lock for its whole length, so a second run
//! saving to the same path is refused, and checks [`check_save_target`]
//! before it trains, so it never replaces another run's checkpoint or a
//! file that is not a checkpoint.
//!
//! **Loading** reads the file, checks its safetensors structure, its format
//! and kind, the configuration, that every tensor the configuration implies
//! is there (and nothing else), F64, of the right shape, then both checksums,
//! and only then decodes; every error ([`CheckpointError`]) names the file
//! and the tensor, metadata entry or byte offset at fault. Parameters,
//! batchnorm running means and optimizer buffers must be finite, running
//! variances finite and >= 0 ([`CheckpointError::BadValue`]): a file saved
//! from a diverged run, or forged with valid checksums, is not loaded.
//! Nothing is allocated from a size the file claims before the file is
//! known to be that long.
//!
//! ```
//! use gradtape_checkpoint::{load_net, save_net};
//! use gradtape_nn::{FcConfig, FullyConnectedNet, Model, Normalization};
//! let config = FcConfig { hidden_dims: vec![8], input_dim: 5, num_classes: 3, normalization: Normalization::BatchNorm, ..FcConfig::default() };
//! let net = FullyConnectedNet::new(config.clone()).unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("net.safetensors");
//! save_net(&path, &config, &net.snapshot()).unwrap();
//! let (loaded_config, state) = load_net(&path).unwrap();
//! assert_eq!((loaded_config, state), (config, net.snapshot()));
//! ```

#![warn(missing_docs)]

// The map: one file per idea.
mod error; // CheckpointError
mod format; // safetensors with checksums: atomic writes, checked reads
mod lock; // the save lock of a checkpoint path
mod metadata; // format, version, kind, config; the checks every load runs
mod net; // net files
mod run; // run settings, saving and resuming a Solver, save-target checks
mod training; // training files

#[doc(hidden)]
pub mod raw;

pub use error::{CheckpointError, Result};
pub use lock::{lock_for_saving, SaveLock};
pub use metadata::{FORMAT, FORMAT_VERSION};
pub use net::{load_best_net, load_net, load_net_into, save_net, write_net};
pub use run::{check_save_target, check_writable_dir, resume_solver, save_solver, RunSettings};
pub use training::{load_training, save_training, TrainingState};

#[cfg(test)]
mod tests;
