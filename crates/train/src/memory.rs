//! How much memory a training run will need, estimated from its
//! configuration before anything is allocated, so a run too large for the
//! machine is refused with a message instead of being killed by the
//! allocator (or climbing into swap) minutes in.

use gradtape_core::{Error, Result};
use gradtape_nn::{FcConfig, Normalization};
use gradtape_optim::UpdateRule;
use std::fmt;

/// Bytes a training run of a [`gradtape_nn::FullyConnectedNet`] needs,
/// part by part (the training data aside). Every count is made with checked
/// arithmetic: a configuration whose sizes overflow is an error.
///
/// ```
/// use gradtape_nn::FcConfig;
/// use gradtape_optim::UpdateRule;
/// use gradtape_train::MemoryEstimate;
/// let config = FcConfig { hidden_dims: vec![100, 100], ..FcConfig::default() };
/// let e = MemoryEstimate::fc_training(&config, 100, UpdateRule::Adam).unwrap();
/// assert_eq!(e.parameters, 8 * (3072 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10));
/// assert!(e.check_against(Some(1 << 30)).is_ok());
/// assert!(e.check_against(Some(1 << 20)).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// The parameters' values.
    pub parameters: u64,
    /// Their gradients (one per parameter, kept on the tape).
    pub gradients: u64,
    /// The update rule's buffers: none for SGD, one per parameter for
    /// momentum and RMSProp, two for Adam.
    pub optimizer: u64,
    /// Copies of the net: the best validation epoch's, and one taken at
    /// every accuracy check (to check it is finite) or checkpoint.
    pub snapshots: u64,
    /// One training step's values, gradients and caches (the minibatch and
    /// its copy on the tape, each layer's output, batchnorm's normalised
    /// input, the softmax probabilities; dropout stores no mask: its
    /// backward recomputes it from the call's key).
    pub activations: u64,
    /// The tape's pool of buffers kept for the next step: up to one step's
    /// worth.
    pub pool: u64,
}

/// `a * b`, or the error every overflow here gives.
fn mul(a: u64, b: u64) -> Result<u64> {
    a.checked_mul(b).ok_or_else(too_large)
}

fn add(a: u64, b: u64) -> Result<u64> {
    a.checked_add(b).ok_or_else(too_large)
}

fn too_large() -> Error {
    Error::invalid(
        "memory estimate",
        "the configuration's sizes are too large to count (the number of bytes overflows 64 bits)",
    )
}

fn bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.1} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else {
        format!("{:.1} kB", n / 1e3)
    }
}

impl MemoryEstimate {
    /// The estimate for training a net of `config` on minibatches of
    /// `batch_size` with `rule`.
    pub fn fc_training(config: &FcConfig, batch_size: usize, rule: UpdateRule) -> Result<Self> {
        const F64: u64 = 8;
        let u = |n: usize| n as u64;
        let batch = u(batch_size);
        let norm = config.normalization != Normalization::None;
        let bn = config.normalization == Normalization::BatchNorm;
        let dropout = config.dropout < 1.0;
        // Values per step for each hidden layer, per example and unit:
        // affine output and its gradient; batchnorm's or layernorm's output,
        // gradient and normalised input; ReLU's output and gradient;
        // dropout's output and gradient (its mask is recomputed, not kept).
        let per_unit = 4 + if norm { 3 } else { 0 } + if dropout { 2 } else { 0 };

        let mut params = 0u64;
        let mut stats = 0u64;
        let mut step = mul(2, mul(batch, u(config.input_dim))?)?;
        let mut d_in = u(config.input_dim);
        for &d in &config.hidden_dims {
            let d = u(d);
            params = add(params, add(mul(d_in, d)?, d)?)?;
            if norm {
                params = add(params, mul(2, d)?)?;
            }
            if bn {
                stats = add(stats, mul(2, d)?)?;
            }
            step = add(step, mul(mul(batch, d)?, per_unit)?)?;
            d_in = d;
        }
        let classes = u(config.num_classes);
        params = add(params, add(mul(d_in, classes)?, classes)?)?;
        // Scores, their gradient, and the softmax probabilities.
        step = add(step, mul(3, mul(batch, classes)?)?)?;

        let buffers = match rule {
            UpdateRule::Sgd => 0,
            UpdateRule::SgdMomentum | UpdateRule::RmsProp => 1,
            UpdateRule::Adam => 2,
        };
        let parameters = mul(F64, params)?;
        let activations = mul(F64, step)?;
        let e = MemoryEstimate {
            parameters,
            gradients: parameters,
            optimizer: mul(buffers, parameters)?,
            snapshots: mul(2, mul(F64, add(params, stats)?)?)?,
            activations,
            pool: activations,
        };
        e.checked_total()?;
        Ok(e)
    }

    fn checked_total(&self) -> Result<u64> {
        [
            self.gradients,
            self.optimizer,
            self.snapshots,
            self.activations,
            self.pool,
        ]
        .into_iter()
        .try_fold(self.parameters, add)
    }

    /// All parts together, in bytes.
    pub fn total(&self) -> u64 {
        self.checked_total().unwrap_or(u64::MAX)
    }

    /// Refuses the run if it needs more than the memory available now
    /// ([`available_memory`]); where that is unknown, accepts it.
    pub fn check(&self) -> Result<()> {
        self.check_against(available_memory())
    }

    /// Refuses the run if it needs more than `available` bytes, with a
    /// message giving the estimate, its parts and `available`; `None`
    /// (unknown) accepts it.
    pub fn check_against(&self, available: Option<u64>) -> Result<()> {
        match available {
            Some(a) if self.total() > a => Err(Error::invalid(
                "memory estimate",
                format!(
                    "this run {self}, but {} is available (MemAvailable); use narrower hidden layers or smaller batches",
                    bytes(a)
                ),
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for MemoryEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "needs about {} (parameters {}, gradients {}, optimizer {}, snapshots {}, activations {}, pool {})",
            bytes(self.total()),
            bytes(self.parameters),
            bytes(self.gradients),
            bytes(self.optimizer),
            bytes(self.snapshots),
            bytes(self.activations),
            bytes(self.pool)
        )
    }
}

/// The memory available to a new allocation now, in bytes: `MemAvailable`
/// of `/proc/meminfo` on Linux; `None` elsewhere, or if it cannot be read.
///
/// ```
/// let available = gradtape_train::available_memory();
/// if cfg!(target_os = "linux") {
///     assert!(available.is_some());
/// }
/// ```
pub fn available_memory() -> Option<u64> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line
        .trim_start_matches("MemAvailable:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kb.checked_mul(1024)
}
