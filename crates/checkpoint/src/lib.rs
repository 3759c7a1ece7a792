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
//! `format_version` (`1`), `kind`, `config` (the [`FcConfig`]), `batchnorm`
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

mod error;
mod format;

pub use error::{CheckpointError, Result};

use format::{Parsed, RawTensor};
use gradtape_core::{BatchNormStats, Rng, Tensor};
use gradtape_nn::{FcConfig, FullyConnectedNet, Model, NetState, Normalization};
use gradtape_optim::{OptimState, ParamState, UpdateRule};
use gradtape_train::{Dataset, History, Solver, SolverOptions, SolverProgress};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The `format` metadata entry of every gradtape checkpoint.
pub const FORMAT: &str = "gradtape-checkpoint";
/// The `format_version` this crate writes and reads.
pub const FORMAT_VERSION: &str = "1";

/// What a training checkpoint holds: enough to resume a [`Solver`] exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingState {
    /// The net's configuration.
    pub config: FcConfig,
    /// The net as training left it (not the best epoch's: that is
    /// `progress.best`).
    pub net: NetState,
    /// The optimizer's hyperparameters, learning rate and per-parameter
    /// state.
    pub optim: OptimState,
    /// The Solver's position, generators, histories and best net.
    pub progress: SolverProgress,
    /// The settings of the run that saved it (`None` in files written by
    /// [`save_training`], which does not know them).
    pub settings: Option<RunSettings>,
}

/// Saves a net: its configuration, parameters and batchnorm statistics.
/// `state` must fit `config` (names, shapes, number of batchnorm layers);
/// the file is replaced atomically.
pub fn save_net(path: impl AsRef<Path>, config: &FcConfig, state: &NetState) -> Result<()> {
    let path = path.as_ref();
    let (metadata, tensors) = net_file(path, config, state)?;
    format::save_atomically(path, None, |w| format::write_to(w, metadata, tensors))
}

/// Writes what [`save_net`] writes to any writer (no atomicity).
pub fn write_net(w: &mut dyn Write, config: &FcConfig, state: &NetState) -> Result<()> {
    let path = Path::new("<writer>");
    let (metadata, tensors) = net_file(path, config, state)?;
    format::write_to(w, metadata, tensors).map_err(|source| CheckpointError::Io {
        path: path.into(),
        source,
    })
}

/// Loads a net saved by [`save_net`], or the current net of a training
/// checkpoint, after checking the whole file.
///
/// Build the net with `FullyConnectedNet::new(config)` and `restore` the
/// state, or use [`load_net_into`].
pub fn load_net(path: impl AsRef<Path>) -> Result<(FcConfig, NetState)> {
    load_net_file(path.as_ref(), |t| t.net)
}

/// Like [`load_net`], but from a training checkpoint gives the best
/// validation epoch's net (what [`Solver::train`] ends with) when there is
/// one.
pub fn load_best_net(path: impl AsRef<Path>) -> Result<(FcConfig, NetState)> {
    load_net_file(path.as_ref(), |t| t.progress.best.unwrap_or(t.net))
}

/// Reads and checks a net or training checkpoint; from a training one,
/// `pick` chooses which of its nets to return.
fn load_net_file(
    path: &Path,
    pick: impl FnOnce(TrainingState) -> NetState,
) -> Result<(FcConfig, NetState)> {
    let file = format::read(path)?;
    match kind(&file)? {
        Kind::Net => decode_net_file(&file),
        Kind::Training => {
            let t = decode_training_file(&file)?;
            Ok((t.config.clone(), pick(t)))
        }
    }
}

/// Loads [`load_net`]'s net into `net`, whose configuration must equal the
/// checkpoint's (the error names the first field that differs). On any
/// error `net` is unchanged.
pub fn load_net_into(path: impl AsRef<Path>, net: &mut FullyConnectedNet) -> Result<()> {
    let path = path.as_ref();
    let (config, state) = load_net(path)?;
    same_config(path, &config, net.config())?;
    net.restore(&state)
        .map_err(|source| CheckpointError::Invalid {
            path: path.into(),
            source: Box::new(source),
        })
}

/// Saves everything a [`Solver`] needs to resume: the net, the optimizer
/// state and the Solver's progress (see [`TrainingState`]). The file is
/// replaced atomically.
pub fn save_training(
    path: impl AsRef<Path>,
    config: &FcConfig,
    net: &NetState,
    optim: &OptimState,
    progress: &SolverProgress,
) -> Result<()> {
    save_training_impl(path.as_ref(), config, net, optim, progress, None, None)
}

fn save_training_impl(
    path: &Path,
    config: &FcConfig,
    net: &NetState,
    optim: &OptimState,
    progress: &SolverProgress,
    settings: Option<&RunSettings>,
    fail_after: Option<u64>,
) -> Result<()> {
    let (mut metadata, tensors) = training_file(path, config, net, optim, progress)?;
    if let Some(settings) = settings {
        metadata.insert(SOLVER.into(), format::to_json(settings));
    }
    format::save_atomically(path, fail_after, |w| format::write_to(w, metadata, tensors))
}

/// Loads a training checkpoint after checking the whole file, the
/// optimizer state included (it is imported into a scratch optimizer).
pub fn load_training(path: impl AsRef<Path>) -> Result<TrainingState> {
    let path = path.as_ref();
    let file = format::read(path)?;
    match kind(&file)? {
        Kind::Training => decode_training_file(&file),
        Kind::Net => Err(CheckpointError::NotACheckpoint {
            path: path.into(),
            msg: "this is a net checkpoint (kind \"net\"); resuming needs a training checkpoint"
                .into(),
        }),
    }
}

/// [`save_training`] for a Solver of a [`FullyConnectedNet`], with the
/// run's [`RunSettings`] (which [`resume_solver`] and
/// [`check_save_target`] compare): call it between epochs (after
/// [`Solver::train_until_epoch`]).
pub fn save_solver<D: Dataset>(
    path: impl AsRef<Path>,
    solver: &Solver<FullyConnectedNet, D>,
) -> Result<()> {
    let net = solver.model_ref();
    save_training_impl(
        path.as_ref(),
        net.config(),
        &net.snapshot(),
        &solver.optimizer().export_state(),
        &solver.progress(),
        Some(&RunSettings::from(solver.options())),
        None,
    )
}

/// Loads a training checkpoint into a freshly built Solver whose net has
/// the checkpoint's configuration and whose options have the saved run's
/// [`RunSettings`] (learning rate, decay, batch size, seeds, ...; only
/// `num_epochs` may differ, to train further): afterwards [`Solver::train`]
/// continues exactly where the saved run stopped. A differing setting is
/// refused ([`CheckpointError::ConfigMismatch`] names it) rather than
/// ignored, since the resumed run could not honour it bit for bit. On any
/// error the Solver is unchanged.
pub fn resume_solver<D: Dataset>(
    path: impl AsRef<Path>,
    solver: &mut Solver<FullyConnectedNet, D>,
) -> Result<TrainingState> {
    let path = path.as_ref();
    let state = load_training(path)?;
    same_run(
        path,
        &state.config,
        state.settings.as_ref(),
        solver.model_ref().config(),
        solver.options(),
    )?;
    solver
        .resume_from(&state.net, &state.optim, &state.progress)
        .map_err(|source| CheckpointError::Invalid {
            path: path.into(),
            source: Box::new(source),
        })?;
    Ok(state)
}

/// The right to save checkpoints to one path, held from the start of a run
/// to its end: a second run that asks for it gets
/// [`CheckpointError::Locked`] instead of taking turns replacing the first
/// run's file. It is an OS file lock on `<path>.lock` (a `flock` on Unix),
/// so it goes with its holder, however the holder ends (`kill -9`
/// included); the empty lock file stays behind.
#[derive(Debug)]
pub struct SaveLock {
    /// Held open: closing it releases the lock.
    _file: std::fs::File,
}

/// `<path>.lock`.
fn lock_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    name.into()
}

/// Takes the save lock of checkpoint path `path` ([`SaveLock`]), then
/// removes temporary files that earlier saves to `path` left behind when
/// they were killed mid-write (no other gradtape run is saving to `path`
/// now).
///
/// ```
/// use gradtape_checkpoint::lock_for_saving;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("run.safetensors");
/// let lock = lock_for_saving(&path).unwrap();
/// assert!(lock_for_saving(&path).is_err()); // a second writer
/// drop(lock);
/// assert!(lock_for_saving(&path).is_ok());
/// ```
pub fn lock_for_saving(path: impl AsRef<Path>) -> Result<SaveLock> {
    let path = path.as_ref();
    let lock = lock_path(path);
    let io = |source| CheckpointError::Io {
        path: lock.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&lock)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            return Err(CheckpointError::Locked {
                path: path.into(),
                holder,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    // Who holds it, for the second writer's message.
    file.set_len(0).map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    remove_stale_tmp_files(path);
    Ok(SaveLock { _file: file })
}

/// Removes `<path>.<id>.tmp` files of saves that never finished.
fn remove_stale_tmp_files(path: &Path) {
    let Some(target) = path.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name()
            .to_str()
            .is_some_and(|n| format::is_tmp_of(n, target))
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The Solver settings that make a run what it is, besides the net's
/// configuration: two runs that agree on these and on the [`FcConfig`]
/// (its seed included) compute the same numbers, epoch for epoch. The
/// number of epochs is not among them (a run may be resumed to train
/// further), nor is how it reports progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    /// The update rule's name (`adam`, `sgd`, ...).
    pub update_rule: String,
    /// The initial learning rate.
    pub learning_rate: f64,
    /// The learning-rate factor per epoch.
    pub lr_decay: f64,
    /// The minibatch size.
    pub batch_size: usize,
    /// The Solver's seed (minibatches, accuracy subsamples).
    pub seed: u64,
    /// Train-accuracy sample size.
    pub num_train_samples: usize,
    /// Validation-accuracy sample size (`None`: all).
    pub num_val_samples: Option<usize>,
}

impl From<&SolverOptions> for RunSettings {
    fn from(o: &SolverOptions) -> Self {
        RunSettings {
            update_rule: o.update_rule.name().into(),
            learning_rate: o.learning_rate,
            lr_decay: o.lr_decay,
            batch_size: o.batch_size,
            seed: o.seed,
            num_train_samples: o.num_train_samples,
            num_val_samples: o.num_val_samples,
        }
    }
}

/// Checks that a run of `config` and `options` may save to `path`, before
/// it trains: the directory exists and takes a new file (one is written
/// and removed), `path` is not a directory, and unless `overwrite`, a file
/// already at `path` is a training checkpoint of this same run (same
/// configuration and seed, same [`RunSettings`]): a resumed or restarted
/// run replaces its own checkpoint, never another run's or a file that is
/// not a checkpoint ([`CheckpointError::WouldReplace`]).
///
/// ```
/// use gradtape_checkpoint::check_save_target;
/// use gradtape_nn::FcConfig;
/// use gradtape_train::SolverOptions;
/// let dir = tempfile::tempdir().unwrap();
/// let (config, options) = (FcConfig::default(), SolverOptions::default());
/// let notes = dir.path().join("notes.txt");
/// std::fs::write(&notes, "mine").unwrap();
/// assert!(check_save_target(&notes, &config, &options, false).is_err());
/// assert!(check_save_target(dir.path().join("new.safetensors"), &config, &options, false).is_ok());
/// assert!(check_save_target(dir.path().join("no/dir/run.safetensors"), &config, &options, false).is_err());
/// ```
pub fn check_save_target(
    path: impl AsRef<Path>,
    config: &FcConfig,
    options: &SolverOptions,
    overwrite: bool,
) -> Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let io = |path: &Path, kind, msg: &str| CheckpointError::Io {
        path: path.into(),
        source: std::io::Error::new(kind, msg),
    };
    if !dir.is_dir() {
        return Err(io(
            dir,
            std::io::ErrorKind::NotFound,
            "the directory for the checkpoint does not exist (create it first)",
        ));
    }
    if path.is_dir() {
        return Err(io(
            path,
            std::io::ErrorKind::IsADirectory,
            "is a directory; the checkpoint needs a file path",
        ));
    }
    check_writable_dir(dir)?;
    if overwrite || !path.exists() {
        return Ok(());
    }
    let replace = |why: String| CheckpointError::WouldReplace {
        path: path.into(),
        why,
    };
    let file = format::read(path).map_err(|_| replace("not a gradtape checkpoint".into()))?;
    match kind(&file) {
        Ok(Kind::Training) => {}
        Ok(Kind::Net) => return Err(replace("a net checkpoint, not this run's".into())),
        Err(_) => return Err(replace("not a gradtape checkpoint".into())),
    }
    let unreadable = |e: CheckpointError| replace(format!("a checkpoint that does not load ({e})"));
    file.check_header().map_err(unreadable)?;
    let file_config = read_config(&file).map_err(unreadable)?;
    let settings = read_run_settings(&file).map_err(unreadable)?;
    same_run(path, &file_config, settings.as_ref(), config, options).map_err(|e| match e {
        CheckpointError::ConfigMismatch {
            field,
            found,
            expected,
            ..
        } => replace(format!(
            "the checkpoint of another run: {field} is {found} in the checkpoint but {expected} here"
        )),
        other => other,
    })
}

/// Checks that files can be created in `dir` by writing and removing one.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// gradtape_checkpoint::check_writable_dir(dir.path()).unwrap();
/// assert!(gradtape_checkpoint::check_writable_dir(&dir.path().join("missing")).is_err());
/// ```
pub fn check_writable_dir(dir: &Path) -> Result<()> {
    let probe = dir.join(format!(".gradtape-probe-{}", std::process::id()));
    let written = std::fs::write(&probe, b"probe");
    let _ = std::fs::remove_file(&probe);
    written.map_err(|e| CheckpointError::Io {
        path: dir.into(),
        source: std::io::Error::new(e.kind(), format!("cannot write files here: {e}")),
    })
}

/// The `solver` metadata entry, if the file has one (files written by
/// [`save_training`] directly, and by gradtape before it recorded one, do
/// not).
fn read_run_settings(file: &Parsed) -> Result<Option<RunSettings>> {
    if file.metadata.contains_key(SOLVER) {
        file.json(SOLVER).map(Some)
    } else {
        Ok(None)
    }
}

/// Checks that a checkpoint (`file_config`, `file_settings`) was made by
/// the run `config` and `options` describe, naming the first field that
/// differs. Without recorded settings only the configuration is compared.
fn same_run(
    path: &Path,
    file_config: &FcConfig,
    file_settings: Option<&RunSettings>,
    config: &FcConfig,
    options: &SolverOptions,
) -> Result<()> {
    same_config(path, file_config, config)?;
    let Some(file) = file_settings else {
        return Ok(());
    };
    let here = RunSettings::from(options);
    let opt = |v: Option<usize>| v.map_or("all".to_string(), |n| n.to_string());
    let fields: [(&'static str, String, String); 7] = [
        ("update_rule", file.update_rule.clone(), here.update_rule),
        (
            "learning_rate",
            float(file.learning_rate),
            float(here.learning_rate),
        ),
        ("lr_decay", float(file.lr_decay), float(here.lr_decay)),
        (
            "batch_size",
            file.batch_size.to_string(),
            here.batch_size.to_string(),
        ),
        ("solver seed", file.seed.to_string(), here.seed.to_string()),
        (
            "num_train_samples",
            file.num_train_samples.to_string(),
            here.num_train_samples.to_string(),
        ),
        (
            "num_val_samples",
            opt(file.num_val_samples),
            opt(here.num_val_samples),
        ),
    ];
    first_difference(path, fields)
}

/// Checks that two configurations are equal, naming the first field that
/// is not.
fn same_config(path: &Path, file: &FcConfig, here: &FcConfig) -> Result<()> {
    let fields: [(&'static str, String, String); 8] = [
        (
            "hidden_dims",
            format!("{:?}", file.hidden_dims),
            format!("{:?}", here.hidden_dims),
        ),
        (
            "input_dim",
            file.input_dim.to_string(),
            here.input_dim.to_string(),
        ),
        (
            "num_classes",
            file.num_classes.to_string(),
            here.num_classes.to_string(),
        ),
        ("dropout", float(file.dropout), float(here.dropout)),
        (
            "normalization",
            format!("{:?}", file.normalization),
            format!("{:?}", here.normalization),
        ),
        ("reg", float(file.reg), float(here.reg)),
        (
            "weight_scale",
            float(file.weight_scale),
            float(here.weight_scale),
        ),
        ("seed", file.seed.to_string(), here.seed.to_string()),
    ];
    first_difference(path, fields)
}

/// [`CheckpointError::ConfigMismatch`] for the first `(field, in the
/// file, here)` whose two values differ.
fn first_difference<const N: usize>(
    path: &Path,
    fields: [(&'static str, String, String); N],
) -> Result<()> {
    match fields
        .into_iter()
        .find(|(_, found, expected)| found != expected)
    {
        Some((field, found, expected)) => Err(CheckpointError::ConfigMismatch {
            path: path.into(),
            field,
            found,
            expected,
        }),
        None => Ok(()),
    }
}

/// A float shown exactly (`{:?}` prints the shortest string that reads
/// back to the same bits).
fn float(v: f64) -> String {
    format!("{v:?}")
}

// ---------------------------------------------------------------------------
// Metadata JSON.

/// [`FcConfig`] as JSON.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigJson {
    hidden_dims: Vec<usize>,
    input_dim: usize,
    num_classes: usize,
    dropout: f64,
    use_batchnorm: bool,
    /// Written only when true, so files of nets without layernorm read as
    /// before layernorm existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    use_layernorm: bool,
    reg: f64,
    weight_scale: f64,
    seed: u64,
}

impl From<&FcConfig> for ConfigJson {
    fn from(c: &FcConfig) -> Self {
        ConfigJson {
            hidden_dims: c.hidden_dims.clone(),
            input_dim: c.input_dim,
            num_classes: c.num_classes,
            dropout: c.dropout,
            use_batchnorm: c.normalization == Normalization::BatchNorm,
            use_layernorm: c.normalization == Normalization::LayerNorm,
            reg: c.reg,
            weight_scale: c.weight_scale,
            seed: c.seed,
        }
    }
}

impl TryFrom<ConfigJson> for FcConfig {
    type Error = String;

    fn try_from(c: ConfigJson) -> std::result::Result<Self, String> {
        let normalization = match (c.use_batchnorm, c.use_layernorm) {
            (false, false) => Normalization::None,
            (true, false) => Normalization::BatchNorm,
            (false, true) => Normalization::LayerNorm,
            (true, true) => return Err("use_batchnorm and use_layernorm are both true".into()),
        };
        Ok(FcConfig {
            hidden_dims: c.hidden_dims,
            input_dim: c.input_dim,
            num_classes: c.num_classes,
            dropout: c.dropout,
            normalization,
            reg: c.reg,
            weight_scale: c.weight_scale,
            seed: c.seed,
        })
    }
}

/// A batchnorm layer's constants.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchNormJson {
    momentum: f64,
    eps: f64,
}

/// The optimizer's scalars; its buffers are tensors.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OptimJson {
    rule: String,
    learning_rate: f64,
    hyperparameters: BTreeMap<String, f64>,
    params: BTreeMap<String, OptimParamJson>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OptimParamJson {
    step: u64,
    buffers: Vec<String>,
}

/// The Solver's position; histories and the best net are tensors.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgressJson {
    iteration: usize,
    epoch: usize,
    iterations_per_epoch: usize,
    batch_size: usize,
    num_train: usize,
    /// `{"state": <u128>}`, rand_pcg's own serde form.
    rng: Rng,
    model_rng: Option<Rng>,
    has_best: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Net,
    Training,
}

const KIND_NET: &str = "net";
const KIND_TRAINING: &str = "training";
const BEST: &str = "best.";
const HISTORY_LOSS: &str = "history.loss";
const HISTORY_TRAIN: &str = "history.train_acc";
const HISTORY_VAL: &str = "history.val_acc";
const HISTORY_SECONDS: &str = "history.epoch_seconds";
const HISTORY_BEST: &str = "history.best_val_acc";
/// Metadata entry: the run's [`RunSettings`].
const SOLVER: &str = "solver";

fn kind(file: &Parsed) -> Result<Kind> {
    let not = |msg: String| CheckpointError::NotACheckpoint {
        path: file.path.clone(),
        msg,
    };
    match file.metadata.get("format") {
        Some(f) if f == FORMAT => {}
        Some(f) => return Err(not(format!("its format is {f:?}, not {FORMAT:?}"))),
        None => {
            return Err(not(
                "a safetensors file without gradtape's 'format' metadata".into(),
            ))
        }
    }
    let version = file.entry("format_version")?;
    if version != FORMAT_VERSION {
        return Err(not(format!(
            "format version {version:?}; this gradtape reads version {FORMAT_VERSION:?}"
        )));
    }
    match file.entry("kind")? {
        KIND_NET => Ok(Kind::Net),
        KIND_TRAINING => Ok(Kind::Training),
        other => Err(not(format!("unknown kind {other:?}"))),
    }
}

// ---------------------------------------------------------------------------
// The net's tensors.

/// The tensors a configuration implies: `(name, shape)` of each parameter
/// in the net's order, and the width of each batchnorm layer.
struct Layout {
    params: Vec<(String, Vec<usize>)>,
    batchnorm: Vec<(String, usize)>,
}

fn layout(config: &FcConfig) -> Layout {
    let mut dims = vec![config.input_dim];
    dims.extend(&config.hidden_dims);
    dims.push(config.num_classes);
    let layers = dims.len() - 1;
    let (mut params, mut batchnorm) = (Vec::new(), Vec::new());
    for i in 0..layers {
        let (d_in, d_out) = (dims[i], dims[i + 1]);
        params.push((format!("W{}", i + 1), vec![d_in, d_out]));
        params.push((format!("b{}", i + 1), vec![d_out]));
        if config.normalization != Normalization::None && i + 1 < layers {
            params.push((format!("gamma{}", i + 1), vec![d_out]));
            params.push((format!("beta{}", i + 1), vec![d_out]));
        }
        if config.normalization == Normalization::BatchNorm && i + 1 < layers {
            batchnorm.push((format!("bn{}", i + 1), d_out));
        }
    }
    Layout { params, batchnorm }
}

fn invalid(path: &Path, msg: String) -> CheckpointError {
    CheckpointError::Invalid {
        path: path.into(),
        source: Box::new(gradtape_core::Error::invalid("checkpoint", msg)),
    }
}

/// Checks, before saving, that `state` fits `config`.
fn check_state(path: &Path, config: &FcConfig, state: &NetState, what: &str) -> Result<()> {
    let l = layout(config);
    let names: Vec<&str> = state.params.iter().map(|(n, _)| n.as_str()).collect();
    let expected: Vec<&str> = l.params.iter().map(|(n, _)| n.as_str()).collect();
    if names != expected {
        return Err(invalid(
            path,
            format!("{what} has parameters {names:?} but the configuration implies {expected:?}"),
        ));
    }
    for ((name, t), (_, shape)) in state.params.iter().zip(&l.params) {
        if t.dims() != shape.as_slice() {
            return Err(invalid(
                path,
                format!(
                    "{what}: {name} is {} but the configuration implies {shape:?}",
                    t.shape()
                ),
            ));
        }
    }
    if state.batchnorm.len() != l.batchnorm.len() {
        return Err(invalid(
            path,
            format!(
                "{what} has {} batchnorm layers but the configuration implies {}",
                state.batchnorm.len(),
                l.batchnorm.len()
            ),
        ));
    }
    for (s, (name, d)) in state.batchnorm.iter().zip(&l.batchnorm) {
        if s.running_mean.dims() != [*d] || s.running_var.dims() != [*d] {
            return Err(invalid(
                path,
                format!("{what}: {name} statistics are not ({d},)"),
            ));
        }
    }
    Ok(())
}

/// The tensors of `state` under `prefix`, and its batchnorm constants.
fn net_tensors<'a>(
    prefix: &str,
    config: &FcConfig,
    state: &'a NetState,
) -> (Vec<RawTensor<'a>>, String) {
    let l = layout(config);
    let mut tensors = Vec::new();
    for (name, t) in &state.params {
        tensors.push(RawTensor::f64(
            format!("{prefix}{name}"),
            t.dims(),
            t.data(),
        ));
    }
    let mut constants = Vec::new();
    for (s, (name, _)) in state.batchnorm.iter().zip(&l.batchnorm) {
        let mean = &s.running_mean;
        let var = &s.running_var;
        tensors.push(RawTensor::f64(
            format!("{prefix}{name}.running_mean"),
            mean.dims(),
            mean.data(),
        ));
        tensors.push(RawTensor::f64(
            format!("{prefix}{name}.running_var"),
            var.dims(),
            var.data(),
        ));
        constants.push(BatchNormJson {
            momentum: s.momentum,
            eps: s.eps,
        });
    }
    (tensors, format::to_json(&constants))
}

fn base_metadata(config: &FcConfig, kind: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("format".into(), FORMAT.into());
    m.insert("format_version".into(), FORMAT_VERSION.into());
    m.insert("kind".into(), kind.into());
    m.insert("config".into(), format::to_json(&ConfigJson::from(config)));
    m
}

type FileContents<'a> = (BTreeMap<String, String>, Vec<RawTensor<'a>>);

fn net_file<'a>(path: &Path, config: &FcConfig, state: &'a NetState) -> Result<FileContents<'a>> {
    config
        .validate()
        .map_err(|source| CheckpointError::Invalid {
            path: path.into(),
            source: Box::new(source),
        })?;
    check_state(path, config, state, "the net")?;
    let mut metadata = base_metadata(config, KIND_NET);
    let (tensors, bn) = net_tensors("", config, state);
    metadata.insert("batchnorm".into(), bn);
    Ok((metadata, tensors))
}

/// Reads and validates the configuration entry.
fn read_config(file: &Parsed) -> Result<FcConfig> {
    let bad = |msg: String| CheckpointError::Metadata {
        path: file.path.clone(),
        key: "config".into(),
        msg,
    };
    let config = FcConfig::try_from(file.json::<ConfigJson>("config")?).map_err(bad)?;
    config.validate().map_err(|e| bad(e.to_string()))?;
    Ok(config)
}

/// The names and shapes of a net's tensors under `prefix`.
fn expected_net(prefix: &str, config: &FcConfig) -> Vec<(String, Vec<usize>)> {
    let l = layout(config);
    let mut out: Vec<(String, Vec<usize>)> = l
        .params
        .into_iter()
        .map(|(n, s)| (format!("{prefix}{n}"), s))
        .collect();
    for (name, d) in l.batchnorm {
        out.push((format!("{prefix}{name}.running_mean"), vec![d]));
        out.push((format!("{prefix}{name}.running_var"), vec![d]));
    }
    out
}

/// Checks every expected tensor (presence, F64, shape), that there is no
/// other, then both checksums.
fn check_tensors(file: &Parsed, expected: &[(String, Vec<usize>)]) -> Result<()> {
    for (name, shape) in expected {
        file.expect(name, shape)?;
    }
    if let Some(extra) = file
        .tensors
        .keys()
        .find(|k| !expected.iter().any(|(n, _)| n == *k))
    {
        return Err(CheckpointError::UnexpectedTensor {
            path: file.path.clone(),
            name: extra.clone(),
        });
    }
    file.check_header()?;
    file.check_tensors()
}

/// Decodes a net checked by [`check_tensors`].
fn decode_net(file: &Parsed, prefix: &str, config: &FcConfig, bn_key: &str) -> Result<NetState> {
    let l = layout(config);
    let constants: Vec<BatchNormJson> = file.json(bn_key)?;
    if constants.len() != l.batchnorm.len() {
        return Err(CheckpointError::Metadata {
            path: file.path.clone(),
            key: bn_key.into(),
            msg: format!(
                "{} batchnorm layers where the configuration implies {}",
                constants.len(),
                l.batchnorm.len()
            ),
        });
    }
    if let Some(c) = constants
        .iter()
        .find(|c| !(c.momentum.is_finite() && c.eps.is_finite() && c.eps >= 0.0))
    {
        return Err(CheckpointError::Metadata {
            path: file.path.clone(),
            key: bn_key.into(),
            msg: format!(
                "momentum {} and eps {} must be finite, eps >= 0",
                c.momentum, c.eps
            ),
        });
    }
    let tensor = |name: &str, shape: &[usize], values: Values| {
        let name = format!("{prefix}{name}");
        let data = checked_values(file, &name, values)?;
        Ok(Tensor::from_vec(data, shape).expect("shape checked against the data length"))
    };
    let params = l
        .params
        .iter()
        .map(|(name, shape)| Ok((name.clone(), tensor(name, shape, Values::Finite)?)))
        .collect::<Result<_>>()?;
    let batchnorm = l
        .batchnorm
        .iter()
        .zip(constants)
        .map(|((name, d), c)| {
            Ok(BatchNormStats {
                running_mean: tensor(&format!("{name}.running_mean"), &[*d], Values::Finite)?,
                running_var: tensor(&format!("{name}.running_var"), &[*d], Values::Variance)?,
                momentum: c.momentum,
                eps: c.eps,
            })
        })
        .collect::<Result<_>>()?;
    Ok(NetState { params, batchnorm })
}

/// What a tensor's values must be to be loaded.
#[derive(Clone, Copy)]
enum Values {
    /// Finite (parameters, running means, optimizer buffers).
    Finite,
    /// Finite and >= 0 (running variances).
    Variance,
}

/// The values of tensor `name` (checked by [`Parsed::expect`]), refused if
/// one breaks `rule`: a NaN or infinite parameter or a negative variance
/// comes only from a diverged run or a forged file, and loading it would
/// score or train a dead net.
fn checked_values(file: &Parsed, name: &str, rule: Values) -> Result<Vec<f64>> {
    let values = file.values(name);
    let (ok, what): (fn(f64) -> bool, _) = match rule {
        Values::Finite => (f64::is_finite, "a trained net's values are finite"),
        Values::Variance => (
            |v: f64| v.is_finite() && v >= 0.0,
            "a running variance is finite and >= 0",
        ),
    };
    match values.iter().position(|&v| !ok(v)) {
        None => Ok(values),
        Some(index) => Err(CheckpointError::BadValue {
            path: file.path.clone(),
            name: name.into(),
            index,
            value: values[index],
            rule: what,
        }),
    }
}

fn decode_net_file(file: &Parsed) -> Result<(FcConfig, NetState)> {
    let config = read_config(file)?;
    check_tensors(file, &expected_net("", &config))?;
    let state = decode_net(file, "", &config, "batchnorm")?;
    Ok((config, state))
}

// ---------------------------------------------------------------------------
// Training files.

fn optim_tensor_name(rule: UpdateRule, param: &str, buffer: &str) -> String {
    format!("{}.{param}.{buffer}", rule.name())
}

fn training_file<'a>(
    path: &Path,
    config: &FcConfig,
    net: &'a NetState,
    optim: &'a OptimState,
    progress: &'a SolverProgress,
) -> Result<FileContents<'a>> {
    let (mut metadata, mut tensors) = net_file(path, config, net)?;
    metadata.insert("kind".into(), KIND_TRAINING.into());
    let p = progress;
    if p.iterations_per_epoch == 0 || p.iteration != p.epoch * p.iterations_per_epoch {
        return Err(invalid(
            path,
            format!(
                "progress at iteration {} is not the end of epoch {} ({} iterations per epoch): save between epochs",
                p.iteration, p.epoch, p.iterations_per_epoch
            ),
        ));
    }
    if let Some(best) = &p.best {
        check_state(path, config, best, "the best net")?;
        let (best_tensors, bn) = net_tensors(BEST, config, best);
        tensors.extend(best_tensors);
        metadata.insert("best_batchnorm".into(), bn);
    }
    let h = &p.history;
    let checks = SolverProgress::expected_checks(p.iteration, p.iterations_per_epoch);
    let lens = [
        (HISTORY_LOSS, &h.loss_history, p.iteration),
        (HISTORY_TRAIN, &h.train_acc_history, checks),
        (HISTORY_VAL, &h.val_acc_history, checks),
        (HISTORY_SECONDS, &h.epoch_seconds, p.epoch),
    ];
    for (name, values, len) in lens {
        if values.len() != len {
            return Err(invalid(
                path,
                format!(
                    "{name} holds {} values; iteration {} implies {len}",
                    values.len(),
                    p.iteration
                ),
            ));
        }
        tensors.push(RawTensor::f64(name, &[len], values));
    }
    tensors.push(RawTensor::f64(
        HISTORY_BEST,
        &[],
        std::slice::from_ref(&h.best_val_acc),
    ));

    // The optimizer: scalars in the metadata, buffers as tensors.
    let l = layout(config);
    let mut params = BTreeMap::new();
    for (name, ps) in &optim.params {
        let Some((_, shape)) = l.params.iter().find(|(n, _)| n == name) else {
            return Err(invalid(
                path,
                format!("the optimizer has state for '{name}', which the net does not have"),
            ));
        };
        let numel = checked_product(shape).ok_or_else(|| {
            invalid(
                path,
                format!("parameter '{name}' of shape {shape:?} is too large to count"),
            )
        })?;
        for (buffer, values) in &ps.buffers {
            if values.len() != numel || buffer.is_empty() || buffer.contains('.') {
                return Err(invalid(
                    path,
                    format!(
                        "optimizer buffer '{buffer}' of '{name}' holds {} values for a parameter of {numel}",
                        values.len()
                    ),
                ));
            }
            tensors.push(RawTensor::f64(
                optim_tensor_name(optim.rule, name, buffer),
                &[numel],
                values,
            ));
        }
        params.insert(
            name.clone(),
            OptimParamJson {
                step: ps.step,
                buffers: ps.buffers.keys().cloned().collect(),
            },
        );
    }
    let optim_json = OptimJson {
        rule: optim.rule.name().into(),
        learning_rate: optim.learning_rate,
        hyperparameters: optim.hyperparameters.clone(),
        params,
    };
    if !optim.learning_rate.is_finite() || optim.hyperparameters.values().any(|v| !v.is_finite()) {
        return Err(invalid(
            path,
            "the optimizer's learning rate and hyperparameters must be finite".into(),
        ));
    }
    metadata.insert("optimizer".into(), format::to_json(&optim_json));
    let progress_json = ProgressJson {
        iteration: p.iteration,
        epoch: p.epoch,
        iterations_per_epoch: p.iterations_per_epoch,
        batch_size: p.batch_size,
        num_train: p.num_train,
        rng: p.rng.clone(),
        model_rng: p.model_rng.clone(),
        has_best: p.best.is_some(),
    };
    metadata.insert("progress".into(), format::to_json(&progress_json));
    Ok((metadata, tensors))
}

fn decode_training_file(file: &Parsed) -> Result<TrainingState> {
    let path = &file.path;
    let meta_err = |key: &str, msg: String| CheckpointError::Metadata {
        path: path.clone(),
        key: key.into(),
        msg,
    };
    let config = read_config(file)?;
    let p: ProgressJson = file.json("progress")?;
    if p.iterations_per_epoch == 0
        || p.epoch.checked_mul(p.iterations_per_epoch) != Some(p.iteration)
    {
        return Err(meta_err(
            "progress",
            format!(
                "iteration {} is not the end of epoch {} ({} iterations per epoch)",
                p.iteration, p.epoch, p.iterations_per_epoch
            ),
        ));
    }
    let o: OptimJson = file.json("optimizer")?;
    let rule: UpdateRule = o
        .rule
        .parse()
        .map_err(|e: gradtape_core::Error| meta_err("optimizer", e.to_string()))?;

    // Every tensor the metadata implies, before reading any.
    let mut expected = expected_net("", &config);
    if p.has_best {
        expected.extend(expected_net(BEST, &config));
    }
    let checks = SolverProgress::expected_checks(p.iteration, p.iterations_per_epoch);
    expected.push((HISTORY_LOSS.into(), vec![p.iteration]));
    expected.push((HISTORY_TRAIN.into(), vec![checks]));
    expected.push((HISTORY_VAL.into(), vec![checks]));
    expected.push((HISTORY_SECONDS.into(), vec![p.epoch]));
    expected.push((HISTORY_BEST.into(), vec![]));
    let l = layout(&config);
    for (name, ps) in &o.params {
        let Some((_, shape)) = l.params.iter().find(|(n, _)| n == name) else {
            return Err(meta_err(
                "optimizer",
                format!("state for '{name}', which the configuration has no parameter for"),
            ));
        };
        let numel = checked_product(shape).ok_or_else(|| {
            meta_err(
                "optimizer",
                format!("parameter '{name}' of shape {shape:?} is too large to count"),
            )
        })?;
        for buffer in &ps.buffers {
            expected.push((optim_tensor_name(rule, name, buffer), vec![numel]));
        }
    }
    check_tensors(file, &expected)?;

    let net = decode_net(file, "", &config, "batchnorm")?;
    let best = if p.has_best {
        Some(decode_net(file, BEST, &config, "best_batchnorm")?)
    } else {
        None
    };
    let optim = OptimState {
        rule,
        learning_rate: o.learning_rate,
        hyperparameters: o.hyperparameters,
        params: o
            .params
            .iter()
            .map(|(name, ps)| {
                let buffers = ps
                    .buffers
                    .iter()
                    .map(|b| {
                        let tensor = optim_tensor_name(rule, name, b);
                        Ok((b.clone(), checked_values(file, &tensor, Values::Finite)?))
                    })
                    .collect::<Result<_>>()?;
                let state = ParamState {
                    step: ps.step,
                    buffers,
                };
                Ok((name.clone(), state))
            })
            .collect::<Result<_>>()?,
    };
    // The optimizer's own validation (rule, hyperparameters, buffers), on a
    // scratch optimizer.
    let mut scratch = gradtape_optim::build(rule, o.learning_rate)
        .map_err(|e| meta_err("optimizer", e.to_string()))?;
    scratch
        .import_state(&optim)
        .map_err(|e| meta_err("optimizer", e.to_string()))?;
    let settings = read_run_settings(file)?;
    let best_val_acc = file.values(HISTORY_BEST)[0];
    let history = History {
        loss_history: file.values(HISTORY_LOSS),
        train_acc_history: file.values(HISTORY_TRAIN),
        val_acc_history: file.values(HISTORY_VAL),
        epoch_seconds: file.values(HISTORY_SECONDS),
        best_val_acc,
    };
    let progress = SolverProgress {
        iteration: p.iteration,
        epoch: p.epoch,
        iterations_per_epoch: p.iterations_per_epoch,
        batch_size: p.batch_size,
        num_train: p.num_train,
        rng: p.rng,
        model_rng: p.model_rng,
        history,
        best,
    };
    Ok(TrainingState {
        config,
        net,
        optim,
        progress,
        settings,
    })
}

/// Writing files of any content with gradtape's checksums, for tests that
/// need a well-formed file gradtape would not write (another dtype, a
/// missing tensor, a shape that does not fit). Not a stable API.
#[doc(hidden)]
pub mod raw {
    pub use crate::format::{RawData, RawTensor};
    pub use safetensors::Dtype;
    use std::collections::BTreeMap;
    use std::path::Path;

    /// Writes `tensors` and `metadata` (plus both checksums) to `path`.
    pub fn write(
        path: &Path,
        metadata: BTreeMap<String, String>,
        tensors: Vec<RawTensor<'_>>,
    ) -> crate::Result<()> {
        crate::format::save_atomically(path, None, |w| {
            crate::format::write_to(w, metadata, tensors)
        })
    }

    /// The `__metadata__` of a checkpoint file, checked for structure only.
    pub fn metadata(path: &Path) -> crate::Result<BTreeMap<String, String>> {
        Ok(crate::format::read(path)?.metadata)
    }

    /// A tensor as `(name, shape, values)`.
    pub type NamedValues = (String, Vec<usize>, Vec<f64>);

    /// The F64 tensors of a checkpoint file, checked for structure only.
    pub fn tensors(path: &Path) -> crate::Result<Vec<NamedValues>> {
        let file = crate::format::read(path)?;
        Ok(file
            .tensors
            .iter()
            .filter(|(_, e)| e.dtype == safetensors::Dtype::F64)
            .map(|(n, e)| (n.clone(), e.shape.clone(), file.values(n)))
            .collect())
    }

    /// The tensor's byte range in the file.
    pub fn byte_range(path: &Path, name: &str) -> crate::Result<Option<(u64, u64)>> {
        let file = crate::format::read(path)?;
        Ok(file
            .tensors
            .get(name)
            .map(|e| (e.start as u64, e.end as u64)))
    }

    /// What [`load_bytes`] found.
    #[derive(Clone, Debug, PartialEq)]
    pub enum Loaded {
        /// A net checkpoint.
        Net(crate::FcConfig, crate::NetState),
        /// A training checkpoint.
        Training(Box<crate::TrainingState>),
    }

    /// Loads checkpoint bytes held in memory (as [`crate::load_net`] and
    /// [`crate::load_training`] would load them from a file); for fuzzing.
    pub fn load_bytes(bytes: Vec<u8>) -> crate::Result<Loaded> {
        let path = Path::new("<memory>");
        let file = crate::format::parse(path, bytes)?;
        match crate::kind(&file)? {
            crate::Kind::Net => crate::decode_net_file(&file).map(|(c, s)| Loaded::Net(c, s)),
            crate::Kind::Training => {
                crate::decode_training_file(&file).map(|t| Loaded::Training(Box::new(t)))
            }
        }
    }
}

/// The product of `dims`, or `None` when it overflows (a configuration read
/// from a file can name any widths).
fn checked_product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

#[cfg(test)]
mod tests;
