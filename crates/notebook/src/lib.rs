//! The CS231n "Dropout" notebook, one section per module. Each section is a
//! library function that returns its figures as data (serialisable to the
//! results JSON) and prints the notebook's lines when asked; the examples in
//! `examples/` are thin command-line wrappers around them, and the
//! integration tests drive them on small inputs.

pub mod cli;
pub mod dropout_backward;
pub mod dropout_forward;
pub mod fc_gradcheck;
pub mod final_run;
pub mod html;
pub mod progress;
pub mod regularization;
pub mod report;

pub use report::RunSummary;
