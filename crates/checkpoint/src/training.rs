//! Training files: a net file plus the best net (`best.`), the optimizer
//! (its scalars in the `optimizer` entry, its buffers as
//! `<rule>.<param>.<buffer>` tensors) and the Solver's progress (its
//! position and generators in the `progress` entry, its histories as
//! `history.<name>` tensors).

use crate::format::{self, Parsed, RawTensor};
use crate::metadata::{self, check_tensors, checked_values, FileContents, Kind, Values};
use crate::net::{self, check_fits, decode_net, expected_net, invalid, net_tensors};
use crate::run::{read_run_settings, RunSettings, SOLVER};
use crate::{CheckpointError, Result};
use gradtape_core::Rng;
use gradtape_nn::{FcConfig, NetLayout, NetState};
use gradtape_optim::{OptimState, ParamState, UpdateRule};
use gradtape_train::{History, SolverProgress};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// What a training checkpoint holds: enough to resume a
/// [`gradtape_train::Solver`] exactly.
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

/// Saves everything a [`gradtape_train::Solver`] needs to resume: the net,
/// the optimizer state and the Solver's progress (see [`TrainingState`]).
/// The file is replaced atomically.
pub fn save_training(
    path: impl AsRef<Path>,
    config: &FcConfig,
    net: &NetState,
    optim: &OptimState,
    progress: &SolverProgress,
) -> Result<()> {
    save_training_impl(path.as_ref(), config, net, optim, progress, None, None)
}

/// [`save_training`], with the run's settings when known, and a write
/// error injected after `fail_after` bytes (tests only).
pub(crate) fn save_training_impl(
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
    match metadata::kind(&file)? {
        Kind::Training => decode_training_file(&file),
        Kind::Net => Err(CheckpointError::NotACheckpoint {
            path: path.into(),
            msg: "this is a net checkpoint (kind \"net\"); resuming needs a training checkpoint"
                .into(),
        }),
    }
}

/// The optimizer's scalars; its buffers are tensors.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OptimJson {
    rule: UpdateRule,
    learning_rate: f64,
    hyperparameters: BTreeMap<String, f64>,
    params: BTreeMap<String, OptimParamJson>,
}

/// One parameter's step count and the names of its buffers.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OptimParamJson {
    step: u64,
    buffers: Vec<String>,
}

/// The Solver's position and generators; its histories and best net are
/// tensors.
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

/// The prefix of the best net's tensors.
const BEST: &str = "best.";
/// The tensor of the best validation accuracy.
const HISTORY_BEST: &str = "history.best_val_acc";

/// The tensor of history `name` (one of [`History::SERIES`]).
fn history_tensor(name: &str) -> String {
    format!("history.{name}")
}

fn optim_tensor_name(rule: UpdateRule, param: &str, buffer: &str) -> String {
    format!("{}.{param}.{buffer}", rule.name())
}

/// The element count of parameter `name` of `layout`, which its optimizer
/// buffers must have; an error when the layout has no such parameter or
/// the count overflows (a configuration read from a file can name any
/// widths).
fn param_numel(layout: &NetLayout, name: &str) -> std::result::Result<usize, String> {
    let shape = layout.param(name).ok_or_else(|| {
        format!(
            "the optimizer has state for '{name}', which the configuration has no parameter for"
        )
    })?;
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("parameter '{name}' of shape {shape:?} is too large to count"))
}

pub(crate) fn training_file<'a>(
    path: &Path,
    config: &FcConfig,
    net: &'a NetState,
    optim: &'a OptimState,
    progress: &'a SolverProgress,
) -> Result<FileContents<'a>> {
    let (mut metadata, mut tensors) = net::net_file(path, config, net)?;
    metadata.insert("kind".into(), Kind::Training.name().into());
    let p = progress;
    p.check().map_err(|e| CheckpointError::invalid(path, e))?;
    if let Some(best) = &p.best {
        check_fits(path, config, best, "the best net")?;
        let (best_tensors, bn) = net_tensors(BEST, config, best);
        tensors.extend(best_tensors);
        metadata.insert("best_batchnorm".into(), bn);
    }
    for (name, values) in p.history.series() {
        tensors.push(RawTensor::f64(
            history_tensor(name),
            &[values.len()],
            values,
        ));
    }
    tensors.push(RawTensor::f64(
        HISTORY_BEST,
        &[],
        std::slice::from_ref(&p.history.best_val_acc),
    ));

    // The optimizer: scalars in the metadata, buffers as tensors.
    let layout = config.param_layout();
    let mut params = BTreeMap::new();
    for (name, ps) in &optim.params {
        let numel = param_numel(&layout, name).map_err(|msg| invalid(path, msg))?;
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
    if !optim.learning_rate.is_finite() || optim.hyperparameters.values().any(|v| !v.is_finite()) {
        return Err(invalid(
            path,
            "the optimizer's learning rate and hyperparameters must be finite".into(),
        ));
    }
    let optim_json = OptimJson {
        rule: optim.rule,
        learning_rate: optim.learning_rate,
        hyperparameters: optim.hyperparameters.clone(),
        params,
    };
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

pub(crate) fn decode_training_file(file: &Parsed) -> Result<TrainingState> {
    let meta_err = |key: &str, msg: String| CheckpointError::Metadata {
        path: file.path.clone(),
        key: key.into(),
        msg,
    };
    let config = metadata::read_config(file)?;
    let p: ProgressJson = file.json("progress")?;
    SolverProgress::check_position(p.iteration, p.epoch, p.iterations_per_epoch)
        .map_err(|e| meta_err("progress", e.to_string()))?;
    let o: OptimJson = file.json("optimizer")?;
    let rule = o.rule;

    // Every tensor the metadata implies, before reading any.
    let mut expected = expected_net("", &config);
    if p.has_best {
        expected.extend(expected_net(BEST, &config));
    }
    let lens = SolverProgress::history_lens(p.iteration, p.epoch, p.iterations_per_epoch);
    for (name, len) in History::SERIES.into_iter().zip(lens) {
        expected.push((history_tensor(name), vec![len]));
    }
    expected.push((HISTORY_BEST.into(), vec![]));
    let layout = config.param_layout();
    for (name, ps) in &o.params {
        let numel = param_numel(&layout, name).map_err(|msg| meta_err("optimizer", msg))?;
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
    let [loss_history, train_acc_history, val_acc_history, epoch_seconds] =
        History::SERIES.map(|name| file.values(&history_tensor(name)));
    let history = History {
        loss_history,
        train_acc_history,
        val_acc_history,
        epoch_seconds,
        best_val_acc: file.values(HISTORY_BEST)[0],
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
