//! The `download` feature against a server on 127.0.0.1 started here, serving
//! small archives built here: never the internet.

#![cfg(feature = "download")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::{record, TempDir};
use flate2::write::GzEncoder;
use gradtape_data::{
    ensure_cifar10, get_cifar10_data, DataError, DownloadError, DownloadOptions, Progress,
    TEST_FILE, TRAIN_FILES,
};

// ---------------------------------------------------------------------------
// A tiny HTTP/1.1 server: one connection at a time, `Connection: close`.

/// What the server does with the next requests.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// 200, or 206 for a `Range: bytes=N-` request (416 past the end).
    Serve,
    /// Like `Serve`, but ignores `Range` and always sends the whole body.
    IgnoreRange,
    /// Announces the full length, sends only this many body bytes, closes.
    CutAfter(usize),
    /// 404 for everything.
    NotFound,
}

struct Server {
    url: String,
    state: Arc<Mutex<State>>,
}

struct State {
    mode: Mode,
    body: Vec<u8>,
    /// The `Range` header of each request received (None: no range).
    requests: Vec<Option<String>>,
}

impl Server {
    fn start(body: Vec<u8>, mode: Mode) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/cifar-10-binary.tar.gz",
            listener.local_addr().unwrap()
        );
        let state = Arc::new(Mutex::new(State {
            mode,
            body,
            requests: Vec::new(),
        }));
        let shared = Arc::clone(&state);
        // Detached: it ends with the test process.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = answer(stream, &shared);
            }
        });
        Server { url, state }
    }

    fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    fn requests(&self) -> Vec<Option<String>> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn answer(mut stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_string());
            }
        }
    }
    let (mode, body) = {
        let mut s = state.lock().unwrap();
        s.requests.push(range.clone());
        (s.mode, s.body.clone())
    };
    let len = body.len();
    let start = match (mode, &range) {
        (Mode::IgnoreRange | Mode::NotFound, _) | (_, None) => None,
        (_, Some(r)) => r
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok()),
    };
    let head = |status: &str, extra: String, length: usize| {
        format!("HTTP/1.1 {status}\r\nContent-Length: {length}\r\n{extra}Connection: close\r\n\r\n")
    };
    match (mode, start) {
        (Mode::NotFound, _) => {
            stream.write_all(head("404 Not Found", String::new(), 9).as_bytes())?;
            stream.write_all(b"not found")?;
        }
        (_, Some(s)) if s >= len => {
            let extra = format!("Content-Range: bytes */{len}\r\n");
            stream.write_all(head("416 Range Not Satisfiable", extra, 0).as_bytes())?;
        }
        (_, Some(s)) => {
            let extra = format!("Content-Range: bytes {s}-{}/{len}\r\n", len - 1);
            stream.write_all(head("206 Partial Content", extra, len - s).as_bytes())?;
            let end = match mode {
                Mode::CutAfter(k) => (s + k).min(len),
                _ => len,
            };
            stream.write_all(&body[s..end])?;
        }
        (_, None) => {
            stream.write_all(head("200 OK", String::new(), len).as_bytes())?;
            let end = match mode {
                Mode::CutAfter(k) => k.min(len),
                _ => len,
            };
            stream.write_all(&body[..end])?;
        }
    }
    stream.flush()?;
    stream.shutdown(Shutdown::Both)
}

// ---------------------------------------------------------------------------
// Archives.

/// A member: its stored path and its bytes.
type Member = (String, Vec<u8>);

/// Small fake CIFAR-10 files: 4 records per training batch, 3 test records,
/// the class names, and a readme that must not be unpacked.
fn fake_members() -> Vec<Member> {
    let mut members = Vec::new();
    for (k, name) in TRAIN_FILES.iter().enumerate() {
        let bytes = (k * 4..k * 4 + 4).flat_map(record).collect();
        members.push((format!("cifar-10-batches-bin/{name}"), bytes));
    }
    let test = (100_000..100_003).flat_map(record).collect();
    members.push((format!("cifar-10-batches-bin/{TEST_FILE}"), test));
    let names = gradtape_data::DEFAULT_CLASS_NAMES.join("\n") + "\n";
    members.push((
        "cifar-10-batches-bin/batches.meta.txt".into(),
        names.into_bytes(),
    ));
    members.push((
        "cifar-10-batches-bin/readme.html".into(),
        b"<p>hi</p>".to_vec(),
    ));
    members
}

/// A .tar.gz of `members`. Paths are written into the header as raw bytes,
/// so that unsafe ones (which the tar crate refuses to set) can be built.
fn tar_gz(members: &[Member]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (path, bytes) in members {
        let mut header = tar::Header::new_old();
        let name = &mut header.as_old_mut().name;
        assert!(path.len() < name.len());
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append(&header, bytes.as_slice()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// Options for `archive` served at `url`, unpacked into `cache`.
fn options(url: &str, archive: &[u8], cache: &Path) -> DownloadOptions {
    DownloadOptions {
        url: url.to_string(),
        sha256: sha256_hex(archive),
        expected_bytes: Some(archive.len() as u64),
        cache_dir: cache.to_path_buf(),
        offline: false,
        progress: Progress::Silent,
    }
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

fn download_error(result: gradtape_data::Result<PathBuf>) -> DownloadError {
    match result {
        Err(DataError::Download(e)) => *e,
        other => panic!("expected a download error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------

#[test]
fn downloads_checks_and_unpacks_only_the_expected_files() {
    let members = fake_members();
    let archive = tar_gz(&members);
    let server = Server::start(archive.clone(), Mode::Serve);
    let cache = TempDir::new("dl-ok");
    let opts = options(&server.url, &archive, cache.path());

    let dir = ensure_cifar10(&opts).unwrap();
    assert_eq!(dir, cache.path().join("cifar-10-batches-bin"));
    let mut expected: Vec<String> = TRAIN_FILES.iter().map(|s| s.to_string()).collect();
    expected.extend(["batches.meta.txt".to_string(), TEST_FILE.to_string()]);
    expected.sort();
    assert_eq!(listing(&dir), expected, "readme.html must not be unpacked");
    for (path, bytes) in &members[..7] {
        let name = path.strip_prefix("cifar-10-batches-bin/").unwrap();
        assert_eq!(&std::fs::read(dir.join(name)).unwrap(), bytes, "{name}");
    }
    // Only the data directory is left: no archive, no partial, no temporary.
    assert_eq!(listing(cache.path()), ["cifar-10-batches-bin"]);
    assert_eq!(server.requests(), [None]);

    // The unpacked files load.
    let data = get_cifar10_data(&dir, 18, 2, 3, true).unwrap();
    assert_eq!(data.train.len(), 18);
    assert_eq!(data.test.len(), 3);

    // A rerun uses the cache and does not ask the server again.
    assert_eq!(ensure_cifar10(&opts).unwrap(), dir);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn unknown_size_relies_on_the_checksum() {
    let archive = tar_gz(&fake_members());
    let server = Server::start(archive.clone(), Mode::Serve);
    let cache = TempDir::new("dl-nosize");
    let mut opts = options(&server.url, &archive, cache.path());
    opts.expected_bytes = None;
    opts.progress = Progress::Lines;
    assert!(ensure_cifar10(&opts)
        .unwrap()
        .join("test_batch.bin")
        .is_file());
}

#[test]
fn the_progress_bar_style_downloads_too() {
    let archive = tar_gz(&fake_members());
    let server = Server::start(archive.clone(), Mode::Serve);
    let cache = TempDir::new("dl-bar");
    let mut opts = options(&server.url, &archive, cache.path());
    opts.progress = Progress::Bar;
    assert!(ensure_cifar10(&opts).unwrap().join(TEST_FILE).is_file());
}

#[test]
fn wrong_checksum_leaves_nothing_behind() {
    let archive = tar_gz(&fake_members());
    let server = Server::start(archive.clone(), Mode::Serve);
    let cache = TempDir::new("dl-sha");
    let mut opts = options(&server.url, &archive, cache.path());
    let wrong = "0".repeat(64);
    opts.sha256 = wrong.clone();

    let err = download_error(ensure_cifar10(&opts));
    let msg = err.to_string();
    match err {
        DownloadError::ChecksumMismatch {
            url,
            bytes,
            expected,
            actual,
            ..
        } => {
            assert_eq!(url, server.url);
            assert_eq!(bytes, archive.len() as u64);
            assert_eq!(expected, wrong);
            assert_eq!(actual, sha256_hex(&archive));
        }
        other => panic!("wrong error: {other}"),
    }
    assert!(msg.contains(&server.url) && msg.contains(&wrong), "{msg}");
    assert_eq!(listing(cache.path()), Vec::<String>::new());
}

#[test]
fn wrong_size_is_refused_before_the_transfer() {
    let archive = tar_gz(&fake_members());
    let server = Server::start(archive.clone(), Mode::Serve);
    let cache = TempDir::new("dl-size");
    let mut opts = options(&server.url, &archive, cache.path());
    opts.expected_bytes = Some(archive.len() as u64 + 1);
    match download_error(ensure_cifar10(&opts)) {
        DownloadError::SizeMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, archive.len() as u64 + 1);
            assert_eq!(actual, archive.len() as u64);
        }
        other => panic!("wrong error: {other}"),
    }
    assert_eq!(listing(cache.path()), Vec::<String>::new());
}

#[test]
fn a_cut_transfer_is_resumed_and_never_used_before() {
    let archive = tar_gz(&fake_members());
    let half = archive.len() / 2;
    let server = Server::start(archive.clone(), Mode::CutAfter(half));
    let cache = TempDir::new("dl-cut");
    let opts = options(&server.url, &archive, cache.path());

    match download_error(ensure_cifar10(&opts)) {
        DownloadError::Interrupted {
            received, total, ..
        } => {
            assert_eq!(received, half as u64);
            assert_eq!(total, Some(archive.len() as u64));
        }
        other => panic!("wrong error: {other}"),
    }
    // Only the partial file, holding exactly what arrived: nothing that
    // looks like data.
    let part = opts.partial_path();
    assert_eq!(std::fs::read(&part).unwrap(), &archive[..half]);
    assert!(!opts.data_dir().exists());

    // Offline, the partial file is not taken for the data.
    let mut offline = opts.clone();
    offline.offline = true;
    let err = download_error(ensure_cifar10(&offline));
    assert!(matches!(err, DownloadError::Offline { .. }), "{err}");

    // A second cut: the resume asked for the rest, and got a bit more.
    let quarter = archive.len() / 4;
    server.set_mode(Mode::CutAfter(quarter));
    let err = download_error(ensure_cifar10(&opts));
    assert!(matches!(err, DownloadError::Interrupted { .. }), "{err}");
    assert_eq!(std::fs::read(&part).unwrap(), &archive[..half + quarter]);

    // The rerun resumes where it stopped, checks and unpacks.
    server.set_mode(Mode::Serve);
    let dir = ensure_cifar10(&opts).unwrap();
    assert!(dir.join("data_batch_5.bin").is_file());
    assert_eq!(listing(cache.path()), ["cifar-10-batches-bin"]);
    assert_eq!(
        server.requests(),
        [
            None,
            Some(format!("bytes={half}-")),
            Some(format!("bytes={}-", half + quarter)),
        ]
    );
}

#[test]
fn a_server_without_ranges_restarts_from_zero() {
    let archive = tar_gz(&fake_members());
    let server = Server::start(archive.clone(), Mode::CutAfter(100));
    let cache = TempDir::new("dl-norange");
    let opts = options(&server.url, &archive, cache.path());
    assert!(ensure_cifar10(&opts).is_err());
    server.set_mode(Mode::IgnoreRange);
    let dir = ensure_cifar10(&opts).unwrap();
    assert_eq!(
        std::fs::read(dir.join(TEST_FILE)).unwrap(),
        (100_000..100_003).flat_map(record).collect::<Vec<u8>>()
    );
    assert_eq!(server.requests(), [None, Some("bytes=100-".into())]);
}

#[test]
fn a_corrupt_partial_file_is_never_used() {
    let archive = tar_gz(&fake_members());
    let len = archive.len();
    let mut corrupt = archive.clone();
    corrupt[len / 2] ^= 0xff;
    let server = Server::start(archive.clone(), Mode::Serve);

    // One byte short, size unknown: resumed for the last byte, then the
    // SHA-256 fails and the file is removed; the next run starts from zero.
    let cache = TempDir::new("dl-corrupt-short");
    let mut opts = options(&server.url, &archive, cache.path());
    opts.expected_bytes = None;
    std::fs::write(opts.partial_path(), &corrupt[..len - 1]).unwrap();
    let err = download_error(ensure_cifar10(&opts));
    assert!(
        matches!(err, DownloadError::ChecksumMismatch { .. }),
        "{err}"
    );
    assert_eq!(listing(cache.path()), Vec::<String>::new());
    assert!(ensure_cifar10(&opts).unwrap().join(TEST_FILE).is_file());
    assert_eq!(
        server.requests(),
        [Some(format!("bytes={}-", len - 1)), None]
    );

    // Full length, size known: it cannot be a prefix, so it is dropped
    // before any request and the download starts from zero.
    let cache = TempDir::new("dl-corrupt-known");
    let opts = options(&server.url, &archive, cache.path());
    std::fs::write(opts.partial_path(), &corrupt).unwrap();
    assert!(ensure_cifar10(&opts).unwrap().join(TEST_FILE).is_file());
    assert_eq!(server.requests()[2..], [None]);

    // Full length, size unknown: the resume is refused (416), and the
    // download starts over.
    let cache = TempDir::new("dl-corrupt-unknown");
    let mut opts = options(&server.url, &archive, cache.path());
    opts.expected_bytes = None;
    std::fs::write(opts.partial_path(), &corrupt).unwrap();
    assert!(ensure_cifar10(&opts).unwrap().join(TEST_FILE).is_file());
    assert_eq!(
        server.requests()[3..],
        [Some(format!("bytes={len}-")), None]
    );
    assert_eq!(listing(cache.path()), ["cifar-10-batches-bin"]);
}

#[test]
fn a_rerun_after_an_interrupted_unpack_uses_the_checked_download() {
    // A run killed while unpacking leaves the complete partial file and a
    // temporary directory; the rerun checks the file, unpacks, and does not
    // download again.
    let archive = tar_gz(&fake_members());
    let server = Server::start(archive.clone(), Mode::Serve);
    let cache = TempDir::new("dl-rerun");
    let opts = options(&server.url, &archive, cache.path());
    std::fs::write(opts.partial_path(), &archive).unwrap();
    let stale = cache
        .path()
        .join(".cifar-10-extract-killed/cifar-10-batches-bin");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("data_batch_1.bin"), b"half").unwrap();

    let dir = ensure_cifar10(&opts).unwrap();
    assert_eq!(server.requests(), Vec::<Option<String>>::new());
    assert_eq!(dir, opts.data_dir());
    assert!(get_cifar10_data(&dir, 18, 2, 3, false).is_ok());
    assert!(!opts.partial_path().exists());
}

#[test]
fn not_found_is_an_http_error_naming_the_url() {
    let server = Server::start(Vec::new(), Mode::NotFound);
    let cache = TempDir::new("dl-404");
    let opts = options(&server.url, b"whatever", cache.path());
    let err = download_error(ensure_cifar10(&opts));
    let msg = err.to_string();
    assert!(
        matches!(err, DownloadError::Http { status: 404, .. }),
        "{msg}"
    );
    assert!(
        msg.contains(&server.url) && msg.contains("404 Not Found"),
        "{msg}"
    );
    assert_eq!(listing(cache.path()), Vec::<String>::new());
}

#[test]
fn connection_refused_names_the_url() {
    // Bind then drop a listener: the port is (almost surely) closed.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cache = TempDir::new("dl-refused");
    let url = format!("http://{addr}/x.tar.gz");
    let err = download_error(ensure_cifar10(&options(&url, b"x", cache.path())));
    assert!(matches!(err, DownloadError::Connect { .. }), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
}

#[test]
fn a_member_climbing_out_is_refused_by_name() {
    let mut members = fake_members();
    let evil = "cifar-10-batches-bin/../../escaped.bin".to_string();
    members.insert(2, (evil.clone(), b"gotcha".to_vec()));
    let archive = tar_gz(&members);
    let server = Server::start(archive.clone(), Mode::Serve);
    let root = TempDir::new("dl-evil");
    let cache = root.path().join("a/cache");
    let opts = options(&server.url, &archive, &cache);

    let err = download_error(ensure_cifar10(&opts));
    let msg = err.to_string();
    match err {
        DownloadError::UnsafeMember { member, .. } => assert_eq!(member, evil),
        other => panic!("wrong error: {other}"),
    }
    assert!(msg.contains(&evil), "{msg}");
    // Nothing escaped, nothing was kept.
    assert!(!root.path().join("a/escaped.bin").exists());
    assert!(!root.path().join("escaped.bin").exists());
    assert_eq!(listing(&cache), Vec::<String>::new());
}

#[test]
fn an_absolute_member_is_refused() {
    let mut members = fake_members();
    members.push(("/tmp/gradtape-absolute.bin".into(), b"x".to_vec()));
    let archive = tar_gz(&members);
    let server = Server::start(archive.clone(), Mode::Serve);
    let cache = TempDir::new("dl-abs");
    let err = download_error(ensure_cifar10(&options(
        &server.url,
        &archive,
        cache.path(),
    )));
    assert!(matches!(err, DownloadError::UnsafeMember { .. }), "{err}");
    assert_eq!(listing(cache.path()), Vec::<String>::new());
}

#[test]
fn an_archive_without_the_test_batch_is_refused() {
    let members: Vec<Member> = fake_members()
        .into_iter()
        .filter(|(p, _)| !p.ends_with(TEST_FILE))
        .collect();
    let archive = tar_gz(&members);
    let server = Server::start(archive.clone(), Mode::Serve);
    let cache = TempDir::new("dl-missing");
    let err = download_error(ensure_cifar10(&options(
        &server.url,
        &archive,
        cache.path(),
    )));
    match &err {
        DownloadError::MissingMembers { missing, .. } => {
            assert_eq!(missing, &["cifar-10-batches-bin/test_batch.bin"])
        }
        other => panic!("wrong error: {other}"),
    }
    assert_eq!(listing(cache.path()), Vec::<String>::new());
}

#[test]
fn not_a_gzip_archive_is_refused() {
    let archive = b"this is not a tar.gz archive".to_vec();
    let server = Server::start(archive.clone(), Mode::Serve);
    let cache = TempDir::new("dl-notgz");
    let err = download_error(ensure_cifar10(&options(
        &server.url,
        &archive,
        cache.path(),
    )));
    assert!(matches!(err, DownloadError::BadArchive { .. }), "{err}");
    assert_eq!(listing(cache.path()), Vec::<String>::new());
}

#[test]
fn offline_refuses_with_the_manual_steps_and_no_request() {
    let archive = tar_gz(&fake_members());
    let server = Server::start(archive.clone(), Mode::Serve);
    let cache = TempDir::new("dl-offline");
    let mut opts = options(&server.url, &archive, cache.path());
    opts.offline = true;
    let err = download_error(ensure_cifar10(&opts));
    let msg = err.to_string();
    assert!(matches!(err, DownloadError::Offline { .. }), "{msg}");
    for needle in [
        server.url.as_str(),
        opts.sha256.as_str(),
        "--no-download",
        "GRADTAPE_OFFLINE=1",
        "tar xzf",
        &cache.path().display().to_string(),
        "CIFAR10_DIR",
    ] {
        assert!(msg.contains(needle), "missing {needle:?} in {msg}");
    }
    assert!(server.requests().is_empty());
    assert_eq!(listing(cache.path()), Vec::<String>::new());
}

/// SHA-256 of `bytes`, lowercase hex.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
