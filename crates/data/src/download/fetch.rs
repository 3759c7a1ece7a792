//! The HTTP transfer into the partial file, resumed with `Range` when the
//! server allows it, with the size and SHA-256 checks at the end.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::progress::Reporter;
use super::{hex, io_err, DownloadOptions};
use crate::{DownloadError, Result};

/// Read and write chunk size.
const CHUNK: usize = 64 << 10;

/// Downloads `options.url` into [`DownloadOptions::partial_path`] and
/// returns that path once its size and SHA-256 are the expected ones.
///
/// An existing partial file is hashed first: if it already is the whole
/// archive (a run killed while unpacking) nothing is downloaded; otherwise
/// the transfer resumes after its last byte, or restarts from zero when the
/// server does not honour the range. A file that fails a check is removed;
/// a transfer cut short keeps its partial file for the next run.
pub(crate) fn fetch(options: &DownloadOptions, report: &mut Reporter) -> Result<PathBuf> {
    let part = options.partial_path();
    let expected_sha = options.sha256.to_ascii_lowercase();
    let mut hasher = Sha256::new();
    let mut have = 0u64;
    if part.is_file() {
        have = hash_file(&part, &mut hasher)?;
        if hex(&hasher.clone().finalize()) == expected_sha {
            report.line(&format!("using the complete download {}", part.display()));
            check_size(options, &part, have)?;
            return Ok(part);
        }
        if options.expected_bytes.is_some_and(|e| have >= e) {
            // Too long to be a prefix of the archive.
            remove(&part)?;
            hasher = Sha256::new();
            have = 0;
        }
    }

    // The environment's proxy (HTTP(S)_PROXY, NO_PROXY) applies, except to
    // a server on this machine, which a proxy could not reach.
    let proxy = if is_loopback(&options.url) {
        None
    } else {
        ureq::Proxy::try_from_env()
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .proxy(proxy)
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .user_agent(concat!("gradtape-data/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();

    // At most two requests: a resume, then a restart if the server refuses it.
    let (response, total) = loop {
        let mut request = agent.get(&options.url);
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let response = request.call().map_err(|e| DownloadError::Connect {
            url: options.url.clone(),
            msg: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let length = response.body().content_length();
        match status {
            206 if have > 0 => {
                let range = response
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_content_range);
                match range {
                    Some((start, total)) if start == have => break (response, total),
                    // Not the range asked for: start over.
                    _ => restart(&part, &mut hasher, &mut have)?,
                }
            }
            200 => {
                if have > 0 {
                    report.line("the server does not resume downloads; starting over");
                    restart(&part, &mut hasher, &mut have)?;
                }
                break (response, length);
            }
            // The partial file is not a prefix of what the server has.
            416 if have > 0 => restart(&part, &mut hasher, &mut have)?,
            _ => {
                return Err(DownloadError::Http {
                    url: options.url.clone(),
                    status,
                }
                .into())
            }
        }
    };

    if let (Some(expected), Some(total)) = (options.expected_bytes, total) {
        if expected != total {
            let _ = std::fs::remove_file(&part);
            return Err(DownloadError::SizeMismatch {
                url: options.url.clone(),
                file: part,
                expected,
                actual: total,
            }
            .into());
        }
    }

    if have > 0 {
        report.line(&format!(
            "resuming the download of {} at byte {have}\n  into {}",
            options.url,
            part.display()
        ));
    } else {
        report.line(&format!(
            "downloading {}{}\n  into {}",
            options.url,
            total.map_or_else(String::new, |t| format!(" ({t} bytes)")),
            part.display()
        ));
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&part)
        .map_err(|source| io_err(&part, source))?;
    report.start(have, total);
    let mut body = response.into_body().into_reader();
    let mut buf = vec![0u8; CHUNK];
    let cut = loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Some(e.to_string()),
        };
        file.write_all(&buf[..n])
            .map_err(|source| io_err(&part, source))?;
        hasher.update(&buf[..n]);
        have += n as u64;
        report.at(have);
    };
    report.done();
    file.sync_all().map_err(|source| io_err(&part, source))?;
    drop(file);

    let short = total.is_some_and(|t| have < t);
    if cut.is_some() || short {
        return Err(DownloadError::Interrupted {
            url: options.url.clone(),
            file: part,
            received: have,
            total,
            msg: cut.unwrap_or_else(|| "the connection closed early".to_string()),
        }
        .into());
    }

    report.line(&format!(
        "downloaded {have} bytes; checking size and SHA-256"
    ));
    check_size(options, &part, have)?;
    let actual = hex(&hasher.finalize());
    if actual != expected_sha {
        let _ = std::fs::remove_file(&part);
        return Err(DownloadError::ChecksumMismatch {
            url: options.url.clone(),
            file: part,
            bytes: have,
            expected: expected_sha,
            actual,
        }
        .into());
    }
    Ok(part)
}

/// Size check against `options.expected_bytes`; removes `part` on mismatch.
fn check_size(options: &DownloadOptions, part: &Path, have: u64) -> Result<()> {
    match options.expected_bytes {
        Some(expected) if expected != have => {
            let _ = std::fs::remove_file(part);
            Err(DownloadError::SizeMismatch {
                url: options.url.clone(),
                file: part.to_path_buf(),
                expected,
                actual: have,
            }
            .into())
        }
        _ => Ok(()),
    }
}

/// Drops the partial file to download from byte 0.
fn restart(part: &Path, hasher: &mut Sha256, have: &mut u64) -> Result<()> {
    remove(part)?;
    *hasher = Sha256::new();
    *have = 0;
    Ok(())
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(path, e)),
        _ => Ok(()),
    }
}

/// Feeds the whole of `path` to `hasher`; returns its length.
fn hash_file(path: &Path, hasher: &mut Sha256) -> Result<u64> {
    let mut file = File::open(path).map_err(|source| io_err(path, source))?;
    let mut buf = vec![0u8; CHUNK];
    let mut len = 0u64;
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(len),
            Ok(n) => {
                hasher.update(&buf[..n]);
                len += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(path, e)),
        }
    }
}

/// Whether `url`'s host is this machine (`localhost`, `127.x.x.x`, `[::1]`).
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`) as `(START, TOTAL)`.
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("http://127.0.0.1:8000/x.tar.gz"));
        assert!(is_loopback("http://localhost/x"));
        assert!(is_loopback("http://[::1]:80/x"));
        assert!(is_loopback("http://u:p@127.0.0.2:1/x"));
        assert!(!is_loopback(
            "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
        ));
        assert!(!is_loopback("http://10.0.0.1/x"));
    }

    #[test]
    fn content_range_forms() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, Some(200)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("bytes */200"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }
}
