//! The notebook's `FullyConnectedNet`, composed from the layer kit.

use crate::{
    BatchNorm, Dropout, FcConfig, Layer, LayerNorm, Linear, Misfit, Model, NetLayout, NetState,
    Normalization, ParamUpdate,
};
use gradtape_core::{rng_from_seed, BatchNormStats, Error, Mode, Result, Rng, Tape, Tensor, Var};
use gradtape_optim::Optimizer;

/// The normalisation layer after a hidden affine layer.
#[derive(Clone, Debug)]
enum Norm {
    Batch(BatchNorm),
    Layer(LayerNorm),
}

impl Norm {
    fn layer(&self) -> &dyn Layer {
        match self {
            Norm::Batch(bn) => bn,
            Norm::Layer(ln) => ln,
        }
    }

    fn layer_mut(&mut self) -> &mut dyn Layer {
        match self {
            Norm::Batch(bn) => bn,
            Norm::Layer(ln) => ln,
        }
    }
}

/// One hidden block: `affine - [norm] - relu - [dropout]` (the dropout is
/// the net's one shared [`Dropout`]).
#[derive(Clone, Debug)]
struct Hidden {
    linear: Linear,
    norm: Option<Norm>,
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

/// `{affine - [batchnorm | layernorm] - relu - [dropout]} x (L - 1) - affine -
/// softmax`, with parameters named as in the notebook: `W1, b1, gamma1,
/// beta1, ..., WL, bL`. Built from the layer kit: a [`Linear`] per layer, a
/// [`BatchNorm`] or [`LayerNorm`] per hidden layer, and one [`Dropout`]
/// applied after every hidden ReLU (so all masks come, in layer order, from
/// one random stream).
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
    hidden: Vec<Hidden>,
    output: Linear,
    dropout: Dropout,
    /// The configuration's layout: parameter names and shapes, batchnorm
    /// layers.
    layout: NetLayout,
    /// Each parameter's handle, in the layout's order.
    vars: Vec<Var>,
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
        let mut vars = Vec::new();
        let mut d_in = config.input_dim;
        let mut hidden = Vec::with_capacity(config.hidden_dims.len());
        for &d_out in &config.hidden_dims {
            let linear = Linear::new(&mut tape, d_in, d_out, config.weight_scale, &mut rng)?;
            let norm = match config.normalization {
                Normalization::None => None,
                Normalization::BatchNorm => Some(Norm::Batch(BatchNorm::new(&mut tape, d_out)?)),
                Normalization::LayerNorm => Some(Norm::Layer(LayerNorm::new(&mut tape, d_out)?)),
            };
            let norm_params = norm.iter().flat_map(|n| n.layer().params());
            vars.extend(
                linear
                    .params()
                    .into_iter()
                    .chain(norm_params)
                    .map(|(_, v)| v),
            );
            hidden.push(Hidden { linear, norm });
            d_in = d_out;
        }
        let output = Linear::new(
            &mut tape,
            d_in,
            config.num_classes,
            config.weight_scale,
            &mut rng,
        )?;
        vars.extend(output.params().into_iter().map(|(_, v)| v));
        // The layers were created in the layout's order (W, b, gamma, beta
        // per layer); the names come from the layout.
        let layout = config.param_layout();
        debug_assert!(layout
            .params
            .iter()
            .zip(&vars)
            .all(|((_, dims), v)| tape.value(*v).is_ok_and(|t| t.dims() == dims.as_slice())));
        debug_assert_eq!(layout.params.len(), vars.len());
        Ok(FullyConnectedNet {
            dropout: Dropout::new(config.dropout, rng_from_seed(config.seed ^ DROPOUT_STREAM))?,
            config,
            tape,
            hidden,
            output,
            layout,
            vars,
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
        self.dropout.set_rng(rng_from_seed(seed ^ DROPOUT_STREAM));
    }

    /// Parameter names in creation order (W1, b1, gamma1, beta1, W2, ...).
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.layout.params.iter().map(|(n, _)| n.as_str())
    }

    /// `(name, handle)` of every parameter, in the layout's order.
    fn named_vars(&self) -> impl Iterator<Item = (&str, Var)> {
        self.param_names().zip(self.vars.iter().copied())
    }

    fn var(&self, name: &str) -> Result<Var> {
        self.named_vars()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
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
    pub fn batchnorm_stats(&self) -> Vec<&BatchNormStats> {
        self.batchnorms().map(BatchNorm::stats).collect()
    }

    fn batchnorms(&self) -> impl Iterator<Item = &BatchNorm> {
        self.hidden.iter().filter_map(|h| match &h.norm {
            Some(Norm::Batch(bn)) => Some(bn),
            _ => None,
        })
    }

    fn batchnorms_mut(&mut self) -> impl Iterator<Item = &mut BatchNorm> {
        self.hidden.iter_mut().filter_map(|h| match &mut h.norm {
            Some(Norm::Batch(bn)) => Some(bn),
            _ => None,
        })
    }

    /// Errors unless every parameter has a gradient (from `train_loss`).
    fn check_grads(&self, op: &'static str) -> Result<()> {
        for (name, var) in self.named_vars() {
            if self.tape.grad(var).is_none() {
                return Err(Error::invalid(
                    op,
                    format!("{name} has no gradient yet: call train_loss first"),
                ));
            }
        }
        Ok(())
    }

    /// The tape the net records on (to inspect its size, or turn on anomaly
    /// detection).
    pub fn tape_mut(&mut self) -> &mut Tape {
        &mut self.tape
    }

    /// Records the forward pass on a fresh iteration of the tape; returns
    /// the scores node.
    fn forward(&mut self, x: &Tensor, mode: Mode) -> Result<Var> {
        let tape = &mut self.tape;
        tape.reset();
        let mut h = tape.input_from(x);
        for layer in &mut self.hidden {
            h = layer.linear.forward(tape, h, mode)?;
            if let Some(norm) = &mut layer.norm {
                h = norm.layer_mut().forward(tape, h, mode)?;
            }
            h = tape.relu(h)?;
            h = self.dropout.forward(tape, h, mode)?;
        }
        self.output.forward(tape, h, mode)
    }

    /// Records the train-mode forward pass and the loss (with the L2
    /// penalty); returns the loss node.
    fn forward_loss(&mut self, x: &Tensor, y: &[usize]) -> Result<Var> {
        let scores = self.forward(x, Mode::Train)?;
        let mut loss = self.tape.softmax_cross_entropy(scores, y)?;
        if self.config.reg > 0.0 {
            for i in 0..=self.hidden.len() {
                let layer = self.hidden.get(i).map_or(&self.output, |h| &h.linear);
                let sq = self.tape.sum_squares(layer.weight())?;
                let penalty = self.tape.scale(sq, 0.5 * self.config.reg)?;
                loss = self.tape.add(loss, penalty)?;
            }
        }
        Ok(loss)
    }
}

impl Model for FullyConnectedNet {
    fn train_loss(&mut self, x: &Tensor, y: &[usize]) -> Result<f64> {
        let loss = self.forward_loss(x, y)?;
        self.tape.backward(loss)?;
        self.tape.value(loss)?.item()
    }

    fn train_step(&mut self, x: &Tensor, y: &[usize], opt: &mut dyn Optimizer) -> Result<f64> {
        let loss = self.forward_loss(x, y)?;
        let value = self.tape.value(loss)?.item()?;
        if !value.is_finite() {
            return Ok(value);
        }
        for (name, var) in self.named_vars() {
            opt.name_param(var, name)?;
        }
        opt.backward_step(&mut self.tape, loss)?;
        Ok(value)
    }

    fn scores(&mut self, x: &Tensor) -> Result<Tensor> {
        self.tape.set_grad_enabled(false);
        let scores = self.forward(x, Mode::Test);
        self.tape.set_grad_enabled(true);
        Ok(self.tape.value(scores?)?.clone())
    }

    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        self.check_grads("step")?;
        for (name, var) in self.named_vars() {
            opt.name_param(var, name)?;
        }
        opt.step(&mut self.tape)
    }

    fn update_params(&mut self, f: &mut ParamUpdate<'_>) -> Result<()> {
        self.check_grads("update_params")?;
        for ((name, _), var) in self.layout.params.iter().zip(&self.vars) {
            let (value, grad) = self.tape.param_and_grad_mut(*var)?;
            let grad = grad.expect("checked above");
            f(name, value.data_mut(), grad.data())?;
        }
        Ok(())
    }

    fn snapshot(&self) -> NetState {
        NetState {
            params: self
                .named_vars()
                .map(|(n, v)| {
                    let value = self.tape.value(v).expect("parameters are live");
                    (n.to_string(), value.clone())
                })
                .collect(),
            batchnorm: self.batchnorms().map(|bn| bn.stats().clone()).collect(),
        }
    }

    fn check_state(&self, state: &NetState) -> std::result::Result<(), Misfit> {
        self.layout.check(state)
    }

    fn restore(&mut self, state: &NetState) -> Result<()> {
        self.check_state(state)
            .map_err(|m| Error::invalid("restore", m.to_string()))?;
        for ((_, value), var) in state.params.iter().zip(&self.vars) {
            self.tape
                .param_mut(*var)?
                .data_mut()
                .copy_from_slice(value.data());
        }
        for (s, own) in state.batchnorm.iter().zip(self.batchnorms_mut()) {
            own.stats_mut().clone_from(s);
        }
        Ok(())
    }

    fn rng_state(&self) -> Option<Rng> {
        Some(self.dropout.rng().clone())
    }

    fn set_rng_state(&mut self, rng: Rng) {
        self.dropout.set_rng(rng);
    }

    fn set_detect_anomaly(&mut self, on: bool) {
        self.tape.set_detect_anomaly(on);
    }
}
