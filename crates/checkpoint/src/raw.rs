//! Writing files of any content with gradtape's checksums, for tests that
//! need a well-formed file gradtape would not write (another dtype, a
//! missing tensor, a shape that does not fit). Not a stable API.

pub use crate::format::{RawData, RawTensor};
use crate::metadata::{self, Kind};
use crate::{format, net, training, TrainingState};
use gradtape_nn::{FcConfig, NetState};
pub use safetensors::Dtype;
use std::collections::BTreeMap;
use std::path::Path;

/// Writes `tensors` and `metadata` (plus both checksums) to `path`.
pub fn write(
    path: &Path,
    metadata: BTreeMap<String, String>,
    tensors: Vec<RawTensor<'_>>,
) -> crate::Result<()> {
    format::save_atomically(path, None, |w| format::write_to(w, metadata, tensors))
}

/// The `__metadata__` of a checkpoint file, checked for structure only.
pub fn metadata(path: &Path) -> crate::Result<BTreeMap<String, String>> {
    Ok(format::read(path)?.metadata)
}

/// A tensor as `(name, shape, values)`.
pub type NamedValues = (String, Vec<usize>, Vec<f64>);

/// The F64 tensors of a checkpoint file, checked for structure only.
pub fn tensors(path: &Path) -> crate::Result<Vec<NamedValues>> {
    let file = format::read(path)?;
    Ok(file
        .tensors
        .iter()
        .filter(|(_, e)| e.dtype == Dtype::F64)
        .map(|(n, e)| (n.clone(), e.shape.clone(), file.values(n)))
        .collect())
}

/// The tensor's byte range in the file.
pub fn byte_range(path: &Path, name: &str) -> crate::Result<Option<(u64, u64)>> {
    let file = format::read(path)?;
    Ok(file
        .tensors
        .get(name)
        .map(|e| (e.start as u64, e.end as u64)))
}

/// What [`load_bytes`] found.
#[derive(Clone, Debug, PartialEq)]
pub enum Loaded {
    /// A net checkpoint.
    Net(FcConfig, NetState),
    /// A training checkpoint.
    Training(Box<TrainingState>),
}

/// Loads checkpoint bytes held in memory (as [`crate::load_net`] and
/// [`crate::load_training`] would load them from a file); for fuzzing.
pub fn load_bytes(bytes: Vec<u8>) -> crate::Result<Loaded> {
    let file = format::parse(Path::new("<memory>"), bytes)?;
    match metadata::kind(&file)? {
        Kind::Net => net::decode_net_file(&file).map(|(c, s)| Loaded::Net(c, s)),
        Kind::Training => {
            training::decode_training_file(&file).map(|t| Loaded::Training(Box::new(t)))
        }
    }
}
