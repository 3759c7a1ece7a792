//! The notebook's `FullyConnectedNet`.

use crate::{FcConfig, Model, NetState, ParamUpdate};
use gradtape_core::{rng_from_seed, BatchNormStats, Error, Mode, Result, Rng, Tape, Tensor, Var};

/// One hidden or output layer's parameter handles.
#[derive(Clone, Copy, Debug)]
struct Layer {
    w: Var,
    b: Var,
    /// gamma and beta, when batchnorm follows this (hidden) layer.
    norm: Option<(Var, Var)>,
}

/// What [`FullyConnectedNet::loss`] gives back, as the notebook's `loss(X, y)`
/// does: the loss when labels are given, the class scores when not.
#[derive(Clone, Debug, PartialEq)]
pub enum NetOutput {
    /// Train mode: the loss; gradients are available through
    /// [`FullyConnectedNet::grad`].
    Loss(f64),
    /// Test mode: class scores `(N, C)`.
    Scores(Tensor),
}

/// `{affine - [batchnorm] - relu - [dropout]} x (L - 1) - affine - softmax`,
/// with parameters named as in the notebook: `W1, b1, gamma1, beta1, ...,
/// WL, bL`.
///
/// ```
/// use gradtape_core::Tensor;
/// use gradtape_nn::{FcConfig, FullyConnectedNet, NetOutput};
/// let config = FcConfig { hidden_dims: vec![20, 30], input_dim: 15, seed: 123, ..FcConfig::default() };
/// let mut net = FullyConnectedNet::new(config).unwrap();
/// let x = Tensor::zeros(&[2, 15]);
/// let NetOutput::Loss(loss) = net.loss(&x, Some(&[0, 1])).unwrap() else { unreachable!() };
/// assert!((loss - 10f64.ln()).abs() < 0.1);
/// assert_eq!(net.grad("W1").unwrap().dims(), &[15, 20]);
/// ```
pub struct FullyConnectedNet {
    config: FcConfig,
    tape: Tape,
    layers: Vec<Layer>,
    /// `(name, handle)` in creation order: W1, b1, gamma1, beta1, W2, ...
    names: Vec<(String, Var)>,
    batchnorm: Vec<BatchNormStats>,
    dropout_rng: Rng,
}

/// Seed offset for the dropout stream, so masks and initial weights come
/// from independent generators of one user seed.
const DROPOUT_STREAM: u64 = 0x9E37_79B9_7F4A_7C15;

impl FullyConnectedNet {
    /// A freshly initialised net: weights ~ N(0, weight_scale^2), biases and
    /// betas 0, gammas 1, drawn in the order W1, W2, ... from the seed.
    pub fn new(config: FcConfig) -> Result<Self> {
        config.validate()?;
        let mut rng = rng_from_seed(config.seed);
        let mut tape = Tape::new();
        let mut dims = vec![config.input_dim];
        dims.extend(&config.hidden_dims);
        dims.push(config.num_classes);
        let num_layers = dims.len() - 1;
        let (mut layers, mut names, mut batchnorm) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..num_layers {
            let (d_in, d_out) = (dims[i], dims[i + 1]);
            let w = Tensor::randn(&[d_in, d_out], &mut rng).map(|v| v * config.weight_scale);
            let w = tape.param(w)?;
            let b = tape.param(Tensor::zeros(&[d_out]))?;
            names.push((format!("W{}", i + 1), w));
            names.push((format!("b{}", i + 1), b));
            let hidden = i + 1 < num_layers;
            let norm = if hidden && config.use_batchnorm {
                let gamma = tape.param(Tensor::ones(&[d_out]))?;
                let beta = tape.param(Tensor::zeros(&[d_out]))?;
                names.push((format!("gamma{}", i + 1), gamma));
                names.push((format!("beta{}", i + 1), beta));
                batchnorm.push(BatchNormStats::new(d_out));
                Some((gamma, beta))
            } else {
                None
            };
            layers.push(Layer { w, b, norm });
        }
        Ok(FullyConnectedNet {
            dropout_rng: rng_from_seed(config.seed ^ DROPOUT_STREAM),
            config,
            tape,
            layers,
            names,
            batchnorm,
        })
    }

    /// The configuration the net was built from.
    pub fn config(&self) -> &FcConfig {
        &self.config
    }

    /// The notebook's `loss(X, y)`: with labels, a train-mode forward and
    /// backward returning [`NetOutput::Loss`]; without, a test-mode forward
    /// returning [`NetOutput::Scores`].
    pub fn loss(&mut self, x: &Tensor, y: Option<&[usize]>) -> Result<NetOutput> {
        match y {
            Some(y) => self.train_loss(x, y).map(NetOutput::Loss),
            None => self.scores(x).map(NetOutput::Scores),
        }
    }

    /// Restarts the dropout mask stream from `seed`. Calling it before every
    /// loss evaluation gives the same masks each time, which is what a
    /// finite-difference check of a net with dropout needs (the notebook
    /// passes a fixed seed to its dropout layers for the same reason).
    pub fn set_dropout_seed(&mut self, seed: u64) {
        self.dropout_rng = rng_from_seed(seed ^ DROPOUT_STREAM);
    }

    /// Parameter names in creation order (W1, b1, gamma1, beta1, W2, ...).
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|(n, _)| n.as_str())
    }

    fn var(&self, name: &str) -> Result<Var> {
        self.names
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                Error::invalid("FullyConnectedNet", format!("no parameter named {name:?}"))
            })
    }

    /// A parameter's value by name.
    pub fn param(&self, name: &str) -> Result<&Tensor> {
        self.tape.value(self.var(name)?)
    }

    /// A parameter's value by name, mutably (to load weights, or to probe
    /// it for a finite-difference check).
    pub fn param_mut(&mut self, name: &str) -> Result<&mut Tensor> {
        let v = self.var(name)?;
        self.tape.param_mut(v)
    }

    /// The gradient of the last train-mode loss with respect to a parameter.
    pub fn grad(&self, name: &str) -> Option<&Tensor> {
        self.tape.grad(self.var(name).ok()?)
    }

    /// The batchnorm running statistics, one per hidden layer (empty without
    /// batchnorm).
    pub fn batchnorm_stats(&self) -> &[BatchNormStats] {
        &self.batchnorm
    }

    /// The tape the net records on (to inspect its size, or turn on anomaly
    /// detection).
    pub fn tape_mut(&mut self) -> &mut Tape {
        &mut self.tape
    }

    /// Records the forward pass on a fresh iteration of the tape; returns
    /// the scores node.
    fn forward(&mut self, x: &Tensor, mode: Mode) -> Result<Var> {
        self.tape.reset();
        let mut input = self.tape.alloc(x.dims());
        input.data_mut().copy_from_slice(x.data());
        let mut h = self.tape.input(input);
        let (last, hidden) = self
            .layers
            .split_last()
            .expect("a net has at least one layer");
        let keep = self.config.dropout;
        for (i, layer) in hidden.iter().enumerate() {
            h = self.tape.affine(h, layer.w, layer.b)?;
            if let Some((gamma, beta)) = layer.norm {
                h = self
                    .tape
                    .batchnorm(h, gamma, beta, mode, &mut self.batchnorm[i])?;
            }
            h = self.tape.relu(h)?;
            if keep < 1.0 {
                h = self.tape.dropout(h, keep, mode, &mut self.dropout_rng)?;
            }
        }
        self.tape.affine(h, last.w, last.b)
    }
}

impl Model for FullyConnectedNet {
    fn train_loss(&mut self, x: &Tensor, y: &[usize]) -> Result<f64> {
        let scores = self.forward(x, Mode::Train)?;
        let mut loss = self.tape.softmax_cross_entropy(scores, y)?;
        if self.config.reg > 0.0 {
            for i in 0..self.layers.len() {
                let sq = self.tape.sum_squares(self.layers[i].w)?;
                let penalty = self.tape.scale(sq, 0.5 * self.config.reg)?;
                loss = self.tape.add(loss, penalty)?;
            }
        }
        self.tape.backward(loss)?;
        self.tape.value(loss)?.item()
    }

    fn scores(&mut self, x: &Tensor) -> Result<Tensor> {
        self.tape.set_grad_enabled(false);
        let scores = self.forward(x, Mode::Test);
        self.tape.set_grad_enabled(true);
        Ok(self.tape.value(scores?)?.clone())
    }

    fn update_params(&mut self, f: &mut ParamUpdate<'_>) -> Result<()> {
        // Check every gradient first, so an error leaves no parameter updated.
        for (name, var) in &self.names {
            if self.tape.grad(*var).is_none() {
                return Err(Error::invalid(
                    "update_params",
                    format!("{name} has no gradient yet: call train_loss first"),
                ));
            }
        }
        for (name, var) in &self.names {
            let (value, grad) = self.tape.param_and_grad_mut(*var)?;
            let grad = grad.expect("checked above");
            f(name, value.data_mut(), grad.data())?;
        }
        Ok(())
    }

    fn snapshot(&self) -> NetState {
        NetState {
            params: self
                .names
                .iter()
                .map(|(n, v)| {
                    (
                        n.clone(),
                        self.tape.value(*v).expect("parameters are live").clone(),
                    )
                })
                .collect(),
            batchnorm: self.batchnorm.clone(),
        }
    }

    fn restore(&mut self, state: &NetState) -> Result<()> {
        const OP: &str = "restore";
        if state.params.len() != self.names.len() || state.batchnorm.len() != self.batchnorm.len() {
            return Err(Error::invalid(
                OP,
                format!(
                    "the state has {} parameters and {} batchnorm layers; the net has {} and {}",
                    state.params.len(),
                    state.batchnorm.len(),
                    self.names.len(),
                    self.batchnorm.len()
                ),
            ));
        }
        for ((name, value), (own, var)) in state.params.iter().zip(&self.names) {
            let current = self.tape.value(*var)?;
            if name != own || value.shape() != current.shape() {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "state has {name} {} where the net has {own} {}",
                        value.shape(),
                        current.shape()
                    ),
                ));
            }
        }
        for (s, own) in state.batchnorm.iter().zip(&self.batchnorm) {
            if s.running_mean.shape() != own.running_mean.shape()
                || s.running_var.shape() != own.running_var.shape()
            {
                return Err(Error::shapes(
                    OP,
                    "state running_mean",
                    s.running_mean.shape(),
                    "net running_mean",
                    own.running_mean.shape(),
                ));
            }
        }
        for ((_, value), (_, var)) in state.params.iter().zip(&self.names) {
            self.tape
                .param_mut(*var)?
                .data_mut()
                .copy_from_slice(value.data());
        }
        self.batchnorm.clone_from(&state.batchnorm);
        Ok(())
    }

    fn rng_state(&self) -> Option<Rng> {
        Some(self.dropout_rng.clone())
    }

    fn set_rng_state(&mut self, rng: Rng) {
        self.dropout_rng = rng;
    }

    fn set_detect_anomaly(&mut self, on: bool) {
        self.tape.set_detect_anomaly(on);
    }
}
