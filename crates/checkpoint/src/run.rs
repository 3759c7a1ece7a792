//! A training run's checkpoint: the settings that make a run what it is
//! ([`RunSettings`]), saving and resuming a [`Solver`] with them, and the
//! checks that a checkpoint belongs to the run that would replace or resume
//! it.

use crate::format::{self, Parsed};
use crate::metadata::{self, Kind};
use crate::training::{load_training, save_training_impl, TrainingState};
use crate::{CheckpointError, Result};
use gradtape_nn::{FcConfig, FullyConnectedNet, Model};
use gradtape_train::{Dataset, Solver, SolverOptions};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Metadata entry: the run's [`RunSettings`].
pub(crate) const SOLVER: &str = "solver";

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

/// [`crate::save_training`] for a Solver of a [`FullyConnectedNet`], with
/// the run's [`RunSettings`] (which [`resume_solver`] and
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
        .map_err(|e| CheckpointError::invalid(path, e))?;
    Ok(state)
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
    let dir = format::dir_of(path);
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
    match metadata::kind(&file) {
        Ok(Kind::Training) => {}
        Ok(Kind::Net) => return Err(replace("a net checkpoint, not this run's".into())),
        Err(_) => return Err(replace("not a gradtape checkpoint".into())),
    }
    let unreadable = |e: CheckpointError| replace(format!("a checkpoint that does not load ({e})"));
    file.check_header().map_err(unreadable)?;
    let file_config = metadata::read_config(&file).map_err(unreadable)?;
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
/// [`crate::save_training`] directly, and by gradtape before it recorded
/// one, do not).
pub(crate) fn read_run_settings(file: &Parsed) -> Result<Option<RunSettings>> {
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
    let here = &RunSettings::from(options);
    if file == here {
        return Ok(());
    }
    // Destructured whole: a field added to RunSettings does not compile
    // until it is compared here.
    let RunSettings {
        update_rule,
        learning_rate,
        lr_decay,
        batch_size,
        seed,
        num_train_samples,
        num_val_samples,
    } = file;
    let all = |v: &Option<usize>| v.map_or("all".to_string(), |n| n.to_string());
    first_difference(
        path,
        [
            differs("update_rule", update_rule, &here.update_rule, String::clone),
            differs("learning_rate", learning_rate, &here.learning_rate, float),
            differs("lr_decay", lr_decay, &here.lr_decay, float),
            differs("batch_size", batch_size, &here.batch_size, usize::to_string),
            differs("solver seed", seed, &here.seed, u64::to_string),
            differs(
                "num_train_samples",
                num_train_samples,
                &here.num_train_samples,
                usize::to_string,
            ),
            differs(
                "num_val_samples",
                num_val_samples,
                &here.num_val_samples,
                all,
            ),
        ],
    )
}

/// Checks that two configurations are equal, naming the first field that
/// is not.
pub(crate) fn same_config(path: &Path, file: &FcConfig, here: &FcConfig) -> Result<()> {
    if file == here {
        return Ok(());
    }
    // Destructured whole: a field added to FcConfig does not compile until
    // it is compared here.
    let FcConfig {
        hidden_dims,
        input_dim,
        num_classes,
        dropout,
        normalization,
        reg,
        weight_scale,
        seed,
    } = file;
    let debug = |v: &_| format!("{v:?}");
    first_difference(
        path,
        [
            differs("hidden_dims", hidden_dims, &here.hidden_dims, debug),
            differs("input_dim", input_dim, &here.input_dim, usize::to_string),
            differs(
                "num_classes",
                num_classes,
                &here.num_classes,
                usize::to_string,
            ),
            differs("dropout", dropout, &here.dropout, float),
            differs("normalization", normalization, &here.normalization, |n| {
                format!("{n:?}")
            }),
            differs("reg", reg, &here.reg, float),
            differs("weight_scale", weight_scale, &here.weight_scale, float),
            differs("seed", seed, &here.seed, u64::to_string),
        ],
    )
}

/// `(field, in the file, here)`, shown by `show`, when the two values
/// differ.
type Difference = Option<(&'static str, String, String)>;

fn differs<T: PartialEq>(
    field: &'static str,
    file: &T,
    here: &T,
    show: impl Fn(&T) -> String,
) -> Difference {
    (file != here).then(|| (field, show(file), show(here)))
}

/// [`CheckpointError::ConfigMismatch`] for the first difference.
fn first_difference<const N: usize>(path: &Path, fields: [Difference; N]) -> Result<()> {
    match fields.into_iter().flatten().next() {
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
fn float(v: &f64) -> String {
    format!("{v:?}")
}
