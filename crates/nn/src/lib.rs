//! gradtape-nn: the notebook's fully connected net,
//! `{affine - [batchnorm] - relu - [dropout]} x (L - 1) - affine - softmax`,
//! built on a [`gradtape_core::Tape`] whose parameters persist across
//! iterations.

mod config;
mod fc_net;
mod gradcheck;
mod model;

pub use config::FcConfig;
pub use fc_net::{FullyConnectedNet, NetOutput};
pub use gradcheck::{check_net_gradients, ParamCheck};
pub use model::{Model, NetState, ParamUpdate};
