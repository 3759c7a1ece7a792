//! The net's hyperparameters, with the notebook's defaults.

use gradtape_core::{Error, Result};

/// The normalisation after each hidden affine layer, as the course's
/// `normalization` argument (`None`, `'batchnorm'`, `'layernorm'`).
///
/// ```
/// use gradtape_nn::{FcConfig, Normalization};
/// let c = FcConfig { normalization: Normalization::LayerNorm, ..FcConfig::default() };
/// assert_ne!(c, FcConfig::default());
/// assert_eq!(Normalization::default(), Normalization::None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Normalization {
    /// None: `affine - relu`.
    #[default]
    None,
    /// Batchnorm (batch statistics in training, running ones at test time),
    /// with `gamma<i>`, `beta<i>` and running statistics per hidden layer.
    BatchNorm,
    /// Layernorm (each row over its features, the same in both modes), with
    /// `gamma<i>`, `beta<i>` per hidden layer.
    LayerNorm,
}

/// Configuration of a [`crate::FullyConnectedNet`]; the defaults are the
/// notebook's (`input_dim` 3*32*32, 10 classes, no dropout, no
/// normalisation, no regularisation, `weight_scale` 1e-2).
///
/// ```
/// use gradtape_nn::FcConfig;
/// let c = FcConfig { hidden_dims: vec![100, 100], dropout: 0.5, ..FcConfig::default() };
/// assert!(c.validate().is_ok());
/// assert!(FcConfig { dropout: 0.0, ..c }.validate().is_err());
/// ```
///
/// With the `serde` feature it is `Serialize` and `Deserialize` as the JSON
/// object checkpoints store: the fields by name, except `normalization`,
/// which is the two flags `use_batchnorm` and `use_layernorm` (the latter
/// only when true, as files from before layernorm have it); unknown fields
/// are refused.
#[derive(Clone, Debug, PartialEq)]
pub struct FcConfig {
    /// Width of each hidden layer, input side first.
    pub hidden_dims: Vec<usize>,
    /// Number of input features (an image `(3, 32, 32)` gives 3072).
    pub input_dim: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// KEEP probability of the dropout after each hidden ReLU; 1.0 means no
    /// dropout layer at all.
    pub dropout: f64,
    /// Normalisation after each hidden affine layer.
    pub normalization: Normalization,
    /// L2 strength: the loss adds `0.5 * reg * sum(W^2)` for every weight
    /// matrix (not biases, gammas or betas).
    pub reg: f64,
    /// Weights are drawn from N(0, weight_scale^2); biases and betas start at
    /// 0, gammas at 1.
    pub weight_scale: f64,
    /// Fixes the initialisation and the stream of dropout masks.
    pub seed: u64,
}

impl Default for FcConfig {
    fn default() -> Self {
        FcConfig {
            hidden_dims: vec![100, 100],
            input_dim: 3 * 32 * 32,
            num_classes: 10,
            dropout: 1.0,
            normalization: Normalization::None,
            reg: 0.0,
            weight_scale: 1e-2,
            seed: 0,
        }
    }
}

impl FcConfig {
    /// Checks every field, naming the first one that is out of range.
    pub fn validate(&self) -> Result<()> {
        const OP: &str = "FcConfig";
        if self.input_dim == 0 || self.num_classes == 0 {
            return Err(Error::invalid(
                OP,
                "input_dim and num_classes must be positive",
            ));
        }
        if let Some(i) = self.hidden_dims.iter().position(|&d| d == 0) {
            return Err(Error::invalid(OP, format!("hidden_dims[{i}] is 0")));
        }
        if !(self.dropout > 0.0 && self.dropout <= 1.0) {
            return Err(Error::invalid(
                OP,
                format!(
                    "dropout (keep probability) {} is outside (0, 1]",
                    self.dropout
                ),
            ));
        }
        if !(self.reg >= 0.0 && self.reg.is_finite()) {
            return Err(Error::invalid(
                OP,
                format!("reg {} must be finite and >= 0", self.reg),
            ));
        }
        if !(self.weight_scale >= 0.0 && self.weight_scale.is_finite()) {
            return Err(Error::invalid(
                OP,
                format!("weight_scale {} must be finite and >= 0", self.weight_scale),
            ));
        }
        Ok(())
    }
}

/// [`FcConfig`]'s serde form (see its docs). Each conversion builds the
/// other struct whole, so a field added to one and not the other does not
/// compile.
#[cfg(feature = "serde")]
mod serde_form {
    use super::{FcConfig, Normalization};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Form {
        hidden_dims: Vec<usize>,
        input_dim: usize,
        num_classes: usize,
        dropout: f64,
        use_batchnorm: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        use_layernorm: bool,
        reg: f64,
        weight_scale: f64,
        seed: u64,
    }

    impl Serialize for FcConfig {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let n = self.normalization;
            Form {
                hidden_dims: self.hidden_dims.clone(),
                input_dim: self.input_dim,
                num_classes: self.num_classes,
                dropout: self.dropout,
                use_batchnorm: n == Normalization::BatchNorm,
                use_layernorm: n == Normalization::LayerNorm,
                reg: self.reg,
                weight_scale: self.weight_scale,
                seed: self.seed,
            }
            .serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for FcConfig {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let f = Form::deserialize(d)?;
            let normalization = match (f.use_batchnorm, f.use_layernorm) {
                (false, false) => Normalization::None,
                (true, false) => Normalization::BatchNorm,
                (false, true) => Normalization::LayerNorm,
                (true, true) => {
                    return Err(serde::de::Error::custom(
                        "use_batchnorm and use_layernorm are both true",
                    ))
                }
            };
            Ok(FcConfig {
                hidden_dims: f.hidden_dims,
                input_dim: f.input_dim,
                num_classes: f.num_classes,
                dropout: f.dropout,
                normalization,
                reg: f.reg,
                weight_scale: f.weight_scale,
                seed: f.seed,
            })
        }
    }
}
