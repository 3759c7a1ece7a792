//! gradtape-nn: a small layer kit on the [`gradtape_core::Tape`]
//! ([`Linear`], [`BatchNorm`], [`LayerNorm`], [`Dropout`]), and the
//! notebook's fully connected net composed from it
//! (`{affine - [norm] - relu - [dropout]} x (L - 1) - affine - softmax`),
//! whose parameters persist across iterations on its tape.

mod config;
mod fc_net;
mod gradcheck;
mod layers;
mod layout;
mod model;

pub use config::{FcConfig, Normalization};
pub use fc_net::{FullyConnectedNet, NetOutput};
pub use gradcheck::{check_net_gradients, ParamCheck};
pub use layers::{BatchNorm, Dropout, Layer, LayerNorm, Linear};
pub use layout::{Misfit, NetLayout};
pub use model::{Model, NetState, ParamUpdate};
