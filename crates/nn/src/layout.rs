//! The net's layout, derived once from its configuration: every parameter's
//! name and shape, and which layers carry batchnorm running statistics.
//! The net names its parameters from it, `restore` and the Solver check
//! states against it, and checkpoints name their tensors after it.

use crate::{FcConfig, NetState, Normalization};
use gradtape_core::Shape;
use std::fmt;

/// What a net's [`NetState`] holds: `(name, shape)` of every parameter in
/// the net's order (`W1`, `b1`, `gamma1`, `beta1`, `W2`, ..., `WL`, `bL`),
/// and `(name, shape)` of each batchnorm layer's running statistics
/// (`bn1`, `bn2`, ...; mean and variance have the same shape).
///
/// ```
/// use gradtape_nn::{FcConfig, FullyConnectedNet, Model, Normalization};
/// let config = FcConfig { hidden_dims: vec![4], input_dim: 3, num_classes: 2, normalization: Normalization::BatchNorm, ..FcConfig::default() };
/// let layout = config.param_layout();
/// let names: Vec<&str> = layout.params.iter().map(|(n, _)| n.as_str()).collect();
/// assert_eq!(names, ["W1", "b1", "gamma1", "beta1", "W2", "b2"]);
/// assert_eq!(layout.params[0].1, [3, 4]);
/// assert_eq!(layout.batchnorm, [("bn1".to_string(), vec![4])]);
/// let tensors: Vec<String> = layout.tensors().map(|(n, _)| n).collect();
/// assert_eq!(tensors[6..], ["bn1.running_mean", "bn1.running_var"]);
///
/// // A state fits the layout of its own configuration, and no other.
/// let state = FullyConnectedNet::new(config.clone()).unwrap().snapshot();
/// assert!(layout.check(&state).is_ok());
/// let wider = FcConfig { hidden_dims: vec![5], ..config };
/// let misfit = wider.param_layout().check(&state).unwrap_err();
/// assert_eq!(misfit.to_string(), "state has W1 (3, 4) where the net has W1 (3, 5)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetLayout {
    /// `(name, shape)` of every parameter, in the net's order.
    pub params: Vec<(String, Vec<usize>)>,
    /// `(name, shape)` of each batchnorm layer's running mean and variance,
    /// input side first.
    pub batchnorm: Vec<(String, Vec<usize>)>,
}

impl FcConfig {
    /// The layout of the net this configuration builds (see [`NetLayout`]).
    /// Widths are not checked here: a configuration read from a file may
    /// name any (see [`FcConfig::validate`]).
    ///
    /// ```
    /// use gradtape_nn::{FcConfig, Normalization};
    /// let c = FcConfig { hidden_dims: vec![7], normalization: Normalization::LayerNorm, ..FcConfig::default() };
    /// let layout = c.param_layout();
    /// assert_eq!(layout.params.len(), 6); // W1 b1 gamma1 beta1 W2 b2
    /// assert!(layout.batchnorm.is_empty()); // layernorm keeps no running statistics
    /// ```
    pub fn param_layout(&self) -> NetLayout {
        let mut dims = vec![self.input_dim];
        dims.extend(&self.hidden_dims);
        dims.push(self.num_classes);
        let layers = dims.len() - 1;
        let mut layout = NetLayout {
            params: Vec::new(),
            batchnorm: Vec::new(),
        };
        for i in 0..layers {
            let (d_in, d_out, n) = (dims[i], dims[i + 1], i + 1);
            layout.params.push((format!("W{n}"), vec![d_in, d_out]));
            layout.params.push((format!("b{n}"), vec![d_out]));
            let hidden = n < layers;
            if hidden && self.normalization != Normalization::None {
                layout.params.push((format!("gamma{n}"), vec![d_out]));
                layout.params.push((format!("beta{n}"), vec![d_out]));
            }
            if hidden && self.normalization == Normalization::BatchNorm {
                layout.batchnorm.push((format!("bn{n}"), vec![d_out]));
            }
        }
        layout
    }
}

impl NetLayout {
    /// The layout `state` has (its batchnorm layers named `bn1`, `bn2`, ...
    /// in order): what a state must match to be put back into the model
    /// `state` was taken from.
    ///
    /// ```
    /// use gradtape_nn::{FcConfig, FullyConnectedNet, Model, NetLayout, Normalization};
    /// let config = FcConfig { normalization: Normalization::BatchNorm, ..FcConfig::default() };
    /// let net = FullyConnectedNet::new(config.clone()).unwrap();
    /// assert_eq!(NetLayout::of(&net.snapshot()), config.param_layout());
    /// ```
    pub fn of(state: &NetState) -> NetLayout {
        NetLayout {
            params: state
                .params
                .iter()
                .map(|(n, t)| (n.clone(), t.dims().to_vec()))
                .collect(),
            batchnorm: state
                .batchnorm
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("bn{}", i + 1), s.running_mean.dims().to_vec()))
                .collect(),
        }
    }

    /// Every tensor of a state of this layout, `(name, shape)`: the
    /// parameters, then `<bn>.running_mean` and `<bn>.running_var` of each
    /// batchnorm layer (the names checkpoints store them under).
    pub fn tensors(&self) -> impl Iterator<Item = (String, Vec<usize>)> + '_ {
        let stats = self.batchnorm.iter().flat_map(|(name, dims)| {
            ["running_mean", "running_var"].map(|s| (format!("{name}.{s}"), dims.clone()))
        });
        self.params.iter().cloned().chain(stats)
    }

    /// The shape of parameter `name`, if the layout has it.
    ///
    /// ```
    /// use gradtape_nn::FcConfig;
    /// let layout = FcConfig { hidden_dims: vec![7], input_dim: 4, ..FcConfig::default() }.param_layout();
    /// assert_eq!(layout.param("W1"), Some(&[4, 7][..]));
    /// assert_eq!(layout.param("gamma1"), None);
    /// ```
    pub fn param(&self, name: &str) -> Option<&[usize]> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.as_slice())
    }

    /// Checks that `state` has exactly this layout: the same parameters in
    /// the same order with the same shapes, and as many batchnorm layers
    /// with statistics of the same shapes. The error is the first
    /// difference.
    pub fn check(&self, state: &NetState) -> Result<(), Misfit> {
        let (params, batchnorm) = (state.params.len(), state.batchnorm.len());
        if params != self.params.len() || batchnorm != self.batchnorm.len() {
            return Err(Misfit::Count {
                found: (params, batchnorm),
                expected: (self.params.len(), self.batchnorm.len()),
            });
        }
        for ((name, t), (own, dims)) in state.params.iter().zip(&self.params) {
            if name != own {
                return Err(Misfit::Name {
                    found: name.clone(),
                    expected: own.clone(),
                });
            }
            if t.dims() != dims.as_slice() {
                return Err(Misfit::Shape {
                    name: name.clone(),
                    found: t.shape().clone(),
                    expected: dims.clone(),
                });
            }
        }
        for (s, (layer, dims)) in state.batchnorm.iter().zip(&self.batchnorm) {
            for found in [s.running_mean.shape(), s.running_var.shape()] {
                if found.dims() != dims.as_slice() {
                    return Err(Misfit::BatchNorm {
                        layer: layer.clone(),
                        found: found.clone(),
                        expected: dims.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The first way a [`NetState`] does not fit a [`NetLayout`]
/// ([`NetLayout::check`]); its message speaks of the state and the net.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Misfit {
    /// Another number of parameters or of batchnorm layers.
    Count {
        /// `(parameters, batchnorm layers)` in the state.
        found: (usize, usize),
        /// The same in the layout.
        expected: (usize, usize),
    },
    /// A parameter of another name at the same position.
    Name {
        /// The name in the state.
        found: String,
        /// The name in the layout.
        expected: String,
    },
    /// A parameter of another shape.
    Shape {
        /// The parameter.
        name: String,
        /// Its shape in the state.
        found: Shape,
        /// Its shape in the layout.
        expected: Vec<usize>,
    },
    /// Batchnorm statistics of another shape.
    BatchNorm {
        /// The layer (`bn1`, ...).
        layer: String,
        /// The statistics' shape in the state.
        found: Shape,
        /// Their shape in the layout.
        expected: Vec<usize>,
    },
}

impl fmt::Display for Misfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misfit::Count { found, expected } => write!(
                f,
                "the state has {} parameters and {} batchnorm layers; the net has {} and {}",
                found.0, found.1, expected.0, expected.1
            ),
            Misfit::Name { found, expected } => {
                write!(f, "state has {found} where the net has {expected}")
            }
            Misfit::Shape {
                name,
                found,
                expected,
            } => write!(
                f,
                "state has {name} {found} where the net has {name} {}",
                tuple(expected)
            ),
            Misfit::BatchNorm {
                layer,
                found,
                expected,
            } => write!(
                f,
                "state has {layer} statistics of shape {found} where the net has {}",
                tuple(expected)
            ),
        }
    }
}

impl std::error::Error for Misfit {}

/// Dims as a tuple, the way [`Shape`] shows them: `(3, 4)`, `(4,)` (a
/// layout's dims are not checked to fit in memory, so they are no `Shape`).
fn tuple(dims: &[usize]) -> String {
    let d: Vec<String> = dims.iter().map(usize::to_string).collect();
    match d.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", d.join(", ")),
    }
}
