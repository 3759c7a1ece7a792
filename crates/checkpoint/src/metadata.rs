//! The metadata every gradtape checkpoint carries (`format`,
//! `format_version`, `kind`, `config`), and what every load checks of the
//! tensors the metadata implies.

use crate::format::{Parsed, RawTensor};
use crate::{CheckpointError, Result};
use gradtape_nn::FcConfig;
use std::collections::BTreeMap;

/// The `format` metadata entry of every gradtape checkpoint.
pub const FORMAT: &str = "gradtape-checkpoint";
/// The `format_version` this crate writes and reads.
pub const FORMAT_VERSION: &str = "1";

/// The two kinds of checkpoint file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Net,
    Training,
}

impl Kind {
    /// The `kind` metadata entry.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Net => "net",
            Kind::Training => "training",
        }
    }
}

/// The metadata and tensors of a file to write.
pub(crate) type FileContents<'a> = (BTreeMap<String, String>, Vec<RawTensor<'a>>);

/// Reads the file's format, version and kind; anything else is not a
/// gradtape checkpoint.
pub(crate) fn kind(file: &Parsed) -> Result<Kind> {
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
    let kind = file.entry("kind")?;
    [Kind::Net, Kind::Training]
        .into_iter()
        .find(|k| k.name() == kind)
        .ok_or_else(|| not(format!("unknown kind {kind:?}")))
}

/// `format`, `format_version`, `kind` and `config`.
pub(crate) fn base_metadata(config: &FcConfig, kind: Kind) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("format".into(), FORMAT.into());
    m.insert("format_version".into(), FORMAT_VERSION.into());
    m.insert("kind".into(), kind.name().into());
    m.insert("config".into(), crate::format::to_json(config));
    m
}

/// Reads and validates the configuration entry.
pub(crate) fn read_config(file: &Parsed) -> Result<FcConfig> {
    let config: FcConfig = file.json("config")?;
    config.validate().map_err(|e| CheckpointError::Metadata {
        path: file.path.clone(),
        key: "config".into(),
        msg: e.to_string(),
    })?;
    Ok(config)
}

/// Checks every expected tensor (presence, F64, shape), that there is no
/// other, then both checksums.
pub(crate) fn check_tensors(file: &Parsed, expected: &[(String, Vec<usize>)]) -> Result<()> {
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

/// What a tensor's values must be to be loaded.
#[derive(Clone, Copy)]
pub(crate) enum Values {
    /// Finite (parameters, running means, optimizer buffers).
    Finite,
    /// Finite and >= 0 (running variances).
    Variance,
}

/// The values of tensor `name` (checked by [`Parsed::expect`]), refused if
/// one breaks `rule`: a NaN or infinite parameter or a negative variance
/// comes only from a diverged run or a forged file, and loading it would
/// score or train a dead net.
pub(crate) fn checked_values(file: &Parsed, name: &str, rule: Values) -> Result<Vec<f64>> {
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
