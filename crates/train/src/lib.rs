//! gradtape-train: the course's `Solver`, which trains a [`gradtape_nn::Model`]
//! with minibatch updates, decays the learning rate each epoch, records loss
//! and accuracy histories, and restores the best model by validation accuracy.

mod dataset;
mod memory;
mod resume;
mod solver;

pub use dataset::{Dataset, InMemory};
pub use memory::{available_memory, MemoryEstimate};
pub use resume::SolverProgress;
pub use solver::{check_accuracy, Event, History, Solver, SolverOptions};
