//! The file layer: safetensors with two CRC-32 entries in `__metadata__`,
//! written atomically, read and checked before anything is decoded.
//!
//! A file is `u64` header length (little endian), the header JSON (padded
//! with spaces to a multiple of 8 bytes), then every tensor's bytes in name
//! order. The header is written here from `BTreeMap`s, so the same state
//! always gives the same bytes; its tensor entries are safetensors' own
//! [`TensorInfo`] and a written header is checked with safetensors' own
//! parser before a byte goes out.
//!
//! Two metadata entries guard the rest:
//! - `tensor_crc32`: a JSON object, tensor name -> CRC-32 of its bytes as 8
//!   hex digits;
//! - `header_crc32`: CRC-32 of every other metadata entry (`key\0value\0`,
//!   keys in order) followed by every tensor's `name\0dtype\0shape\0start\0end\0`
//!   (names in order; shape as comma-separated decimals), as 8 hex digits.

use crate::{CheckpointError, Result};
use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::{Dtype, SafeTensorError, SafeTensors};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Metadata entry: the per-tensor checksums.
pub(crate) const TENSOR_CRC: &str = "tensor_crc32";
/// Metadata entry: the header checksum.
pub(crate) const HEADER_CRC: &str = "header_crc32";
/// Bytes of the header-length prefix.
const N_LEN: usize = 8;
/// safetensors' own limit on the header.
const MAX_HEADER: u64 = 100_000_000;

/// A tensor's elements, borrowed for writing.
#[derive(Clone, Copy, Debug)]
pub enum RawData<'a> {
    /// `f64` values, written little endian.
    F64(&'a [f64]),
    /// Bytes written as they are (for any dtype).
    Bytes(&'a [u8]),
}

/// One tensor to write.
#[derive(Clone, Debug)]
pub struct RawTensor<'a> {
    /// The tensor's name in the file.
    pub name: String,
    /// Its element type.
    pub dtype: Dtype,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its elements.
    pub data: RawData<'a>,
}

impl<'a> RawTensor<'a> {
    /// An F64 tensor.
    pub fn f64(name: impl Into<String>, shape: &[usize], data: &'a [f64]) -> Self {
        RawTensor {
            name: name.into(),
            dtype: Dtype::F64,
            shape: shape.to_vec(),
            data: RawData::F64(data),
        }
    }

    fn byte_len(&self) -> usize {
        match self.data {
            RawData::F64(d) => d.len() * 8,
            RawData::Bytes(b) => b.len(),
        }
    }

    /// Feeds the tensor's bytes, in file order, to `f` in chunks.
    fn for_each_chunk(&self, mut f: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        match self.data {
            RawData::Bytes(b) => f(b),
            RawData::F64(d) => {
                let mut buf = Vec::with_capacity(8 * 4096);
                for chunk in d.chunks(4096) {
                    buf.clear();
                    for v in chunk {
                        buf.extend_from_slice(&v.to_le_bytes());
                    }
                    f(&buf)?;
                }
                Ok(())
            }
        }
    }
}

fn crc_hex(crc: u32) -> String {
    format!("{crc:08x}")
}

/// The header checksum over the metadata (less [`HEADER_CRC`]) and the
/// tensor table.
fn header_crc<'a>(
    metadata: &BTreeMap<String, String>,
    tensors: impl Iterator<Item = (&'a str, &'a TensorInfo)>,
) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for (k, v) in metadata.iter().filter(|(k, _)| k.as_str() != HEADER_CRC) {
        h.update(k.as_bytes());
        h.update(&[0]);
        h.update(v.as_bytes());
        h.update(&[0]);
    }
    for (name, info) in tensors {
        let shape: Vec<String> = info.shape.iter().map(|d| d.to_string()).collect();
        let (start, end) = info.data_offsets;
        let fields = [
            name.to_string(),
            info.dtype.to_string(),
            shape.join(","),
            start.to_string(),
            end.to_string(),
        ];
        for f in fields {
            h.update(f.as_bytes());
            h.update(&[0]);
        }
    }
    h.finalize()
}

fn invalid_input(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Writes a whole checkpoint file to `w`: the checksums are added to
/// `metadata` here. Not atomic by itself (see [`save_atomically`]).
pub(crate) fn write_to(
    w: &mut dyn Write,
    mut metadata: BTreeMap<String, String>,
    mut tensors: Vec<RawTensor<'_>>,
) -> io::Result<()> {
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(pair) = tensors.windows(2).find(|p| p[0].name == p[1].name) {
        return Err(invalid_input(format!(
            "tensor '{}' given twice",
            pair[0].name
        )));
    }
    let mut infos: BTreeMap<&str, TensorInfo> = BTreeMap::new();
    let mut crcs = BTreeMap::new();
    let mut offset = 0usize;
    for t in &tensors {
        let numel = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let expected = numel.and_then(|n| n.checked_mul(t.dtype.bitsize()));
        if expected != Some(t.byte_len() * 8) {
            return Err(invalid_input(format!(
                "tensor '{}': {} bytes do not fit shape {:?} of {}",
                t.name,
                t.byte_len(),
                t.shape,
                t.dtype
            )));
        }
        let mut h = crc32fast::Hasher::new();
        t.for_each_chunk(|b| {
            h.update(b);
            Ok(())
        })?;
        crcs.insert(t.name.as_str(), crc_hex(h.finalize()));
        let end = offset + t.byte_len();
        infos.insert(
            &t.name,
            TensorInfo {
                dtype: t.dtype,
                shape: t.shape.clone(),
                data_offsets: (offset, end),
            },
        );
        offset = end;
    }
    metadata.insert(TENSOR_CRC.into(), to_json(&crcs));
    metadata.remove(HEADER_CRC);
    let crc = header_crc(&metadata, infos.iter().map(|(n, i)| (*n, i)));
    metadata.insert(HEADER_CRC.into(), crc_hex(crc));

    #[derive(serde::Serialize)]
    struct Header<'a> {
        #[serde(rename = "__metadata__")]
        metadata: &'a BTreeMap<String, String>,
        #[serde(flatten)]
        tensors: &'a BTreeMap<&'a str, TensorInfo>,
    }
    let mut header = serde_json::to_string(&Header {
        metadata: &metadata,
        tensors: &infos,
    })
    .map_err(io::Error::other)?;
    while header.len() % N_LEN != 0 {
        header.push(' ');
    }
    // What safetensors itself would accept (offsets contiguous, sizes right).
    serde_json::from_str::<Metadata>(&header).map_err(io::Error::other)?;
    if header.len() as u64 > MAX_HEADER {
        return Err(invalid_input("the header is over 100 MB".into()));
    }
    w.write_all(&(header.len() as u64).to_le_bytes())?;
    w.write_all(header.as_bytes())?;
    for t in &tensors {
        t.for_each_chunk(|b| w.write_all(b))?;
    }
    Ok(())
}

/// `value` as JSON (for metadata entries; cannot fail for the plain data
/// types used here).
pub(crate) fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("plain data serializes to JSON")
}

/// A temporary file beside `path` that no other save uses:
/// `<path>.<process id>-<n>.tmp`, `n` counting this process's saves. (One
/// shared `<path>.tmp` let two concurrent saves rename each other's file
/// away.)
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    static SAVES: AtomicU64 = AtomicU64::new(0);
    let n = SAVES.fetch_add(1, Ordering::Relaxed);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}-{n}{TMP_SUFFIX}", std::process::id()));
    PathBuf::from(name)
}

/// The suffix of every temporary file a save writes.
pub(crate) const TMP_SUFFIX: &str = ".tmp";

/// Whether `name` is a temporary file of a save to a file named `target`
/// (this process's or another's, the pre-0.1 `<target>.tmp` included).
pub(crate) fn is_tmp_of(name: &str, target: &str) -> bool {
    name.strip_prefix(target)
        .and_then(|rest| rest.strip_suffix(TMP_SUFFIX))
        .is_some_and(|mid| {
            mid.is_empty()
                || mid.strip_prefix('.').is_some_and(|id| {
                    !id.is_empty() && id.chars().all(|c| c.is_ascii_digit() || c == '-')
                })
        })
}

/// A writer that fails once `left` bytes have gone through: how the tests
/// cut a save short (a full disk, a crash mid-write).
pub(crate) struct FailAfter<W> {
    inner: W,
    left: u64,
}

impl<W: Write> Write for FailAfter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other("injected write failure"));
        }
        let n = buf.len().min(self.left as usize);
        let n = self.inner.write(&buf[..n])?;
        self.left -= n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `path` atomically: everything goes to a temporary file of its
/// own ([`tmp_path`]) in the same directory, which is flushed, synced to disk and only then renamed over
/// `path` (and the directory synced). If anything fails, the temporary file is
/// removed and `path` is untouched: a reader sees the old file or the new
/// one, never a mix. `fail_after` injects a write error after that many
/// bytes (tests only).
pub(crate) fn save_atomically(
    path: &Path,
    fail_after: Option<u64>,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    let tmp = tmp_path(path);
    let io_err = |source| CheckpointError::Io {
        path: tmp.clone(),
        source,
    };
    let written = (|| {
        let mut file = File::create(&tmp)?;
        {
            let mut buffered = BufWriter::with_capacity(1 << 20, &mut file);
            let mut limited = FailAfter {
                inner: &mut buffered,
                left: fail_after.unwrap_or(u64::MAX),
            };
            body(&mut limited)?;
            limited.flush()?;
        }
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(e));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(CheckpointError::Io {
            path: path.to_path_buf(),
            source: e,
        });
    }
    // Make the rename itself durable; not every platform can open a
    // directory for this, and the file is complete either way.
    if let Ok(d) = File::open(dir_of(path)) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The directory a file `path` is in (`.` for a bare file name).
pub(crate) fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// One tensor of a parsed file: where its bytes are (absolute offsets).
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub start: usize,
    pub end: usize,
}

/// A file whose safetensors structure is sound; nothing decoded yet.
pub(crate) struct Parsed {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub header_end: usize,
    pub metadata: BTreeMap<String, String>,
    pub tensors: BTreeMap<String, Entry>,
}

/// Reads `path` and checks its safetensors structure: header length,
/// header JSON, tensor table, and that the data exactly fills the rest.
pub(crate) fn read(path: &Path) -> Result<Parsed> {
    use std::io::Read;
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    // Reserved fallibly: a file larger than memory is an error naming its
    // size, not an abort.
    let mut bytes = Vec::new();
    usize::try_from(len)
        .ok()
        .and_then(|n| bytes.try_reserve_exact(n).ok())
        .ok_or_else(|| {
            io(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!(
                    "the file is {len} bytes, which does not fit in memory (not a checkpoint?)"
                ),
            ))
        })?;
    file.read_to_end(&mut bytes).map_err(io)?;
    parse(path, bytes)
}

pub(crate) fn parse(path: &Path, bytes: Vec<u8>) -> Result<Parsed> {
    let format = |offset: u64, msg: String| CheckpointError::Format {
        path: path.to_path_buf(),
        offset,
        msg,
    };
    let len = bytes.len() as u64;
    let Some(prefix) = bytes.get(..N_LEN) else {
        return Err(format(
            0,
            format!("the file is {len} bytes, too short for the 8-byte header length"),
        ));
    };
    let n = u64::from_le_bytes(prefix.try_into().expect("8 bytes"));
    if n > MAX_HEADER {
        return Err(format(
            0,
            format!(
                "header length {n} is over safetensors' 100 MB limit (not a safetensors file?)"
            ),
        ));
    }
    if N_LEN as u64 + n > len {
        return Err(format(
            0,
            format!(
                "header length {n} runs past the end of the {len}-byte file (truncated, or not a safetensors file)"
            ),
        ));
    }
    let header_end = N_LEN + n as usize;
    let metadata = match SafeTensors::read_metadata(&bytes) {
        Ok((_, m)) => m,
        Err(e) => return Err(structure_error(path, &bytes, header_end, e)),
    };
    let mut tensors = BTreeMap::new();
    for (name, info) in metadata.tensors() {
        let (s, e) = info.data_offsets;
        tensors.insert(
            name,
            Entry {
                dtype: info.dtype,
                shape: info.shape.clone(),
                start: header_end + s,
                end: header_end + e,
            },
        );
    }
    let metadata: BTreeMap<String, String> = metadata
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    Ok(Parsed {
        path: path.to_path_buf(),
        bytes,
        header_end,
        metadata,
        tensors,
    })
}

/// A safetensors structure error, with the byte offset or tensor it is at.
fn structure_error(
    path: &Path,
    bytes: &[u8],
    header_end: usize,
    e: SafeTensorError,
) -> CheckpointError {
    let format = |offset: usize, msg: String| CheckpointError::Format {
        path: path.to_path_buf(),
        offset: offset as u64,
        msg,
    };
    let header = &bytes[N_LEN..header_end];
    match e {
        SafeTensorError::InvalidHeader(u) => format(
            N_LEN + u.valid_up_to(),
            "the header is not valid UTF-8".into(),
        ),
        SafeTensorError::InvalidHeaderDeserialization(j) => {
            // The header JSON is one line when gradtape writes it.
            let offset = if j.line() == 1 {
                N_LEN + j.column().saturating_sub(1)
            } else {
                N_LEN
            };
            format(
                offset,
                format!("the header is not a safetensors header: {j}"),
            )
        }
        SafeTensorError::InvalidOffset(name) => format(
            N_LEN,
            format!("tensor '{name}': its data_offsets do not follow the previous tensor's"),
        ),
        SafeTensorError::TensorInvalidInfo | SafeTensorError::ValidationOverflow => {
            let what = std::str::from_utf8(header)
                .ok()
                .and_then(find_bad_info)
                .map(|n| format!("tensor '{n}': "))
                .unwrap_or_default();
            format(
                N_LEN,
                format!("{what}shape, dtype and data_offsets disagree (or overflow)"),
            )
        }
        SafeTensorError::MetadataIncompleteBuffer => {
            let parsed = std::str::from_utf8(header)
                .ok()
                .and_then(|h| serde_json::from_str::<Metadata>(h).ok());
            let Some(m) = parsed else {
                return format(N_LEN, "incomplete tensor data".into());
            };
            let expected = header_end + m.data_len();
            if expected > bytes.len() {
                let available = bytes.len() - header_end;
                let cut = m
                    .offset_keys()
                    .into_iter()
                    .find(|k| m.info(k).is_some_and(|i| i.data_offsets.1 > available));
                CheckpointError::Truncated {
                    path: path.to_path_buf(),
                    expected: expected as u64,
                    len: bytes.len() as u64,
                    tensor: cut,
                }
            } else {
                format(
                    expected,
                    format!(
                        "{} bytes after the end of the tensor data",
                        bytes.len() - expected
                    ),
                )
            }
        }
        other => format(N_LEN, format!("unreadable header: {other}")),
    }
}

/// The first tensor entry whose byte range does not match its shape and
/// dtype (for naming it in an error).
fn find_bad_info(header: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(header).ok()?;
    for (name, entry) in v.as_object()? {
        if name == "__metadata__" {
            continue;
        }
        let info: std::result::Result<TensorInfo, _> = serde_json::from_value(entry.clone());
        let Ok(info) = info else {
            return Some(name.clone());
        };
        let bits = info
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .and_then(|n| n.checked_mul(info.dtype.bitsize()));
        let (s, e) = info.data_offsets;
        if e < s || bits != Some((e - s) * 8) {
            return Some(name.clone());
        }
    }
    None
}

impl Parsed {
    /// Checks the header checksum.
    pub fn check_header(&self) -> Result<()> {
        let path = &self.path;
        let Some(recorded) = self.metadata.get(HEADER_CRC) else {
            return Err(CheckpointError::Metadata {
                path: path.clone(),
                key: HEADER_CRC.into(),
                msg: "missing".into(),
            });
        };
        let infos: BTreeMap<&str, TensorInfo> = self
            .tensors
            .iter()
            .map(|(n, e)| {
                let info = TensorInfo {
                    dtype: e.dtype,
                    shape: e.shape.clone(),
                    data_offsets: (e.start - self.header_end, e.end - self.header_end),
                };
                (n.as_str(), info)
            })
            .collect();
        let crc = header_crc(&self.metadata, infos.iter().map(|(n, i)| (*n, i)));
        if *recorded != crc_hex(crc) {
            return Err(CheckpointError::HeaderCorrupted {
                path: path.clone(),
                end: self.header_end as u64,
            });
        }
        Ok(())
    }

    /// Checks every tensor's checksum.
    pub fn check_tensors(&self) -> Result<()> {
        let path = &self.path;
        let crcs: BTreeMap<String, String> = self.json(TENSOR_CRC)?;
        for (name, e) in &self.tensors {
            let Some(recorded) = crcs.get(name) else {
                return Err(CheckpointError::Metadata {
                    path: path.clone(),
                    key: TENSOR_CRC.into(),
                    msg: format!("no checksum for tensor '{name}'"),
                });
            };
            if *recorded != crc_hex(crc32fast::hash(&self.bytes[e.start..e.end])) {
                return Err(CheckpointError::Corrupted {
                    path: path.clone(),
                    name: name.clone(),
                    start: e.start as u64,
                    end: e.end as u64,
                });
            }
        }
        if let Some(extra) = crcs.keys().find(|k| !self.tensors.contains_key(*k)) {
            return Err(CheckpointError::Metadata {
                path: path.clone(),
                key: TENSOR_CRC.into(),
                msg: format!("a checksum for tensor '{extra}', which is not in the file"),
            });
        }
        Ok(())
    }

    /// A metadata entry as a string.
    pub fn entry(&self, key: &str) -> Result<&str> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| CheckpointError::Metadata {
                path: self.path.clone(),
                key: key.into(),
                msg: "missing".into(),
            })
    }

    /// A metadata entry parsed from JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<T> {
        serde_json::from_str(self.entry(key)?).map_err(|e| CheckpointError::Metadata {
            path: self.path.clone(),
            key: key.into(),
            msg: e.to_string(),
        })
    }

    /// Checks that tensor `name` is there, F64, of shape `shape`.
    pub fn expect(&self, name: &str, shape: &[usize]) -> Result<()> {
        let path = self.path.clone();
        let e = self
            .tensors
            .get(name)
            .ok_or_else(|| CheckpointError::MissingTensor {
                path: path.clone(),
                name: name.into(),
            })?;
        if e.dtype != Dtype::F64 {
            return Err(CheckpointError::WrongDtype {
                path,
                name: name.into(),
                dtype: e.dtype.to_string(),
            });
        }
        if e.shape != shape {
            return Err(CheckpointError::WrongShape {
                path,
                name: name.into(),
                expected: shape.to_vec(),
                found: e.shape.clone(),
            });
        }
        Ok(())
    }

    /// The values of an F64 tensor already checked by [`Parsed::expect`].
    pub fn values(&self, name: &str) -> Vec<f64> {
        let e = &self.tensors[name];
        self.bytes[e.start..e.end]
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect()
    }
}
