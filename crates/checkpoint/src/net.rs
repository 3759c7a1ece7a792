//! Net files: a net's parameters and batchnorm statistics under the names
//! of its [`NetLayout`], its batchnorm constants in the metadata. A
//! training file holds two nets this way (the current one, and the best
//! under `best.`).

use crate::format::{self, Parsed, RawTensor};
use crate::metadata::{self, check_tensors, checked_values, FileContents, Kind, Values};
use crate::training::{decode_training_file, TrainingState};
use crate::{CheckpointError, Result};
use gradtape_core::{BatchNormStats, Tensor};
use gradtape_nn::{FcConfig, FullyConnectedNet, Misfit, Model, NetState};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

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
/// validation epoch's net (what [`gradtape_train::Solver::train`] ends
/// with) when there is one.
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
    match metadata::kind(&file)? {
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
    crate::run::same_config(path, &config, net.config())?;
    net.restore(&state)
        .map_err(|e| CheckpointError::invalid(path, e))
}

/// A batchnorm layer's constants (its statistics are tensors).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchNormJson {
    momentum: f64,
    eps: f64,
}

/// [`CheckpointError::Invalid`] with gradtape-checkpoint's own message.
pub(crate) fn invalid(path: &Path, msg: String) -> CheckpointError {
    CheckpointError::invalid(path, gradtape_core::Error::invalid("checkpoint", msg))
}

/// Checks, before saving, that `state` (`what`: the net, the best net)
/// fits `config`.
pub(crate) fn check_fits(
    path: &Path,
    config: &FcConfig,
    state: &NetState,
    what: &str,
) -> Result<()> {
    let layout = config.param_layout();
    let implies = "the configuration implies";
    let msg = match layout.check(state) {
        Ok(()) => return Ok(()),
        Err(Misfit::Shape {
            name,
            found,
            expected,
        }) => format!("{what}: {name} is {found} but {implies} {expected:?}"),
        Err(Misfit::Count { found, expected }) if found.0 == expected.0 => format!(
            "{what} has {} batchnorm layers but {implies} {}",
            found.1, expected.1
        ),
        Err(Misfit::Count { .. } | Misfit::Name { .. }) => {
            let found: Vec<&str> = state.params.iter().map(|(n, _)| n.as_str()).collect();
            let expected: Vec<&str> = layout.params.iter().map(|(n, _)| n.as_str()).collect();
            format!("{what} has parameters {found:?} but {implies} {expected:?}")
        }
        Err(Misfit::BatchNorm {
            layer,
            found,
            expected,
        }) => format!("{what}: {layer} statistics are {found} but {implies} {expected:?}"),
    };
    Err(invalid(path, msg))
}

/// The tensors of `state` (checked by [`check_fits`]) under `prefix`, and
/// its batchnorm constants as JSON.
pub(crate) fn net_tensors<'a>(
    prefix: &str,
    config: &FcConfig,
    state: &'a NetState,
) -> (Vec<RawTensor<'a>>, String) {
    let layout = config.param_layout();
    let stats = state
        .batchnorm
        .iter()
        .flat_map(|s| [&s.running_mean, &s.running_var]);
    let values = state.params.iter().map(|(_, t)| t).chain(stats);
    let tensors = layout
        .tensors()
        .zip(values)
        .map(|((name, _), t)| RawTensor::f64(format!("{prefix}{name}"), t.dims(), t.data()))
        .collect();
    let constants: Vec<BatchNormJson> = state
        .batchnorm
        .iter()
        .map(|s| BatchNormJson {
            momentum: s.momentum,
            eps: s.eps,
        })
        .collect();
    (tensors, format::to_json(&constants))
}

/// A net file's metadata and tensors, after checking that `state` fits
/// `config`.
pub(crate) fn net_file<'a>(
    path: &Path,
    config: &FcConfig,
    state: &'a NetState,
) -> Result<FileContents<'a>> {
    config
        .validate()
        .map_err(|e| CheckpointError::invalid(path, e))?;
    check_fits(path, config, state, "the net")?;
    let mut metadata = metadata::base_metadata(config, Kind::Net);
    let (tensors, bn) = net_tensors("", config, state);
    metadata.insert("batchnorm".into(), bn);
    Ok((metadata, tensors))
}

/// The names and shapes of a net's tensors under `prefix`.
pub(crate) fn expected_net(prefix: &str, config: &FcConfig) -> Vec<(String, Vec<usize>)> {
    config
        .param_layout()
        .tensors()
        .map(|(n, s)| (format!("{prefix}{n}"), s))
        .collect()
}

/// Decodes the net under `prefix`, whose batchnorm constants are in
/// metadata entry `bn_key`, from a file checked by [`check_tensors`].
pub(crate) fn decode_net(
    file: &Parsed,
    prefix: &str,
    config: &FcConfig,
    bn_key: &str,
) -> Result<NetState> {
    let layout = config.param_layout();
    let constants: Vec<BatchNormJson> = file.json(bn_key)?;
    let bad = |msg: String| CheckpointError::Metadata {
        path: file.path.clone(),
        key: bn_key.into(),
        msg,
    };
    if constants.len() != layout.batchnorm.len() {
        return Err(bad(format!(
            "{} batchnorm layers where the configuration implies {}",
            constants.len(),
            layout.batchnorm.len()
        )));
    }
    if let Some(c) = constants
        .iter()
        .find(|c| !(c.momentum.is_finite() && c.eps.is_finite() && c.eps >= 0.0))
    {
        return Err(bad(format!(
            "momentum {} and eps {} must be finite, eps >= 0",
            c.momentum, c.eps
        )));
    }
    let tensor = |name: &str, shape: &[usize], values: Values| {
        let name = format!("{prefix}{name}");
        let data = checked_values(file, &name, values)?;
        Ok(Tensor::from_vec(data, shape).expect("shape checked against the data length"))
    };
    // The layout's tensors: its parameters, then each batchnorm layer's
    // running mean and variance.
    let mut names = layout.tensors();
    let params = names
        .by_ref()
        .take(layout.params.len())
        .map(|(name, shape)| Ok((name.clone(), tensor(&name, &shape, Values::Finite)?)))
        .collect::<Result<_>>()?;
    let stats: Vec<(String, Vec<usize>)> = names.collect();
    let batchnorm = stats
        .chunks_exact(2)
        .zip(constants)
        .map(|(pair, c)| {
            let [(mean, dims), (var, _)] = pair else {
                unreachable!("chunks of two")
            };
            Ok(BatchNormStats {
                running_mean: tensor(mean, dims, Values::Finite)?,
                running_var: tensor(var, dims, Values::Variance)?,
                momentum: c.momentum,
                eps: c.eps,
            })
        })
        .collect::<Result<_>>()?;
    Ok(NetState { params, batchnorm })
}

/// Decodes a whole net file.
pub(crate) fn decode_net_file(file: &Parsed) -> Result<(FcConfig, NetState)> {
    let config = metadata::read_config(file)?;
    check_tensors(file, &expected_net("", &config))?;
    let state = decode_net(file, "", &config, "batchnorm")?;
    Ok((config, state))
}
