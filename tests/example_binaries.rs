//! The examples as a user runs them: errors exit non-zero with a message
//! (and before any training when a flag is wrong), a closed pipe ends them
//! quietly, and each `--help` lists only the flags that example uses.
//!
//! None of these needs CIFAR-10: every case fails (or finishes) before the
//! data would be read. The examples are built (by cargo, once, if they are
//! not up to date) next to this test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `target/<profile>/examples/<name>`, beside this test's `deps/`, built
/// (once per test run) from the current sources: `cargo test --test
/// example_binaries` alone does not build the examples, and a stale binary
/// would test old code.
fn example(name: &str) -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().unwrap().parent().unwrap();
    BUILT.call_once(|| {
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args([
                "build",
                "-q",
                "--examples",
                "-p",
                "gradtape",
                "-p",
                "gradtape-data",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("CARGO_TARGET_DIR", profile.parent().unwrap());
        if profile.file_name().is_some_and(|p| p == "release") {
            cargo.arg("--release");
        }
        assert!(
            cargo.status().unwrap().success(),
            "building the examples failed"
        );
    });
    let path = profile
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Runs example `name` with `args` in `cwd`, with no CIFAR-10 in sight.
fn run(name: &str, args: &[&str], cwd: &Path) -> Output {
    Command::new(example(name))
        .args(args)
        .current_dir(cwd)
        .env_remove("CIFAR10_DIR")
        // Never a download, should a case reach the data.
        .env("GRADTAPE_OFFLINE", "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Exit code 1, no panic, nothing trained, and stderr containing `expect`.
fn fails_before_training(out: &Output, expect: &[&str]) -> String {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stdout.contains("Iteration"), "{stdout}");
    for e in expect {
        assert!(stderr.contains(e), "{stderr:?} does not mention {e:?}");
    }
    stderr
}

#[test]
fn save_into_a_missing_directory_fails_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        "cifar10_fc",
        &["--epochs", "1", "--save", "no/such/dir/run.safetensors"],
        dir.path(),
    );
    let stderr = fails_before_training(&out, &["no/such/dir", "does not exist"]);
    assert!(!stderr.contains(".tmp"), "{stderr}");
}

#[test]
fn an_out_that_is_a_file_or_read_only_fails_before_training() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("taken"), "a file").unwrap();
    let out = run("cifar10_fc", &["--out", "taken"], dir.path());
    fails_before_training(&out, &["taken"]);
    let out = run(
        "dropout_regularization",
        &["--out", "taken/sub"],
        dir.path(),
    );
    fails_before_training(&out, &["taken/sub"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("taken")).unwrap(),
        "a file"
    );
}

#[test]
fn save_onto_an_unrelated_file_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let out = run("cifar10_fc", &["--save", "notes.txt"], dir.path());
    fails_before_training(
        &out,
        &["notes.txt", "not a gradtape checkpoint", "--overwrite"],
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn hidden_widths_that_overflow_or_exceed_memory_are_refused_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        "cifar10_fc",
        &["--hidden", "18446744073709551615"],
        dir.path(),
    );
    fails_before_training(&out, &["too large to count"]);
    let out = run("cifar10_fc", &["--hidden", "100000,100000"], dir.path());
    let stderr = fails_before_training(&out, &["needs about", "is available"]);
    println!("{stderr}");
}

#[test]
fn epochs_of_minus_one_or_zero_say_the_value_must_be_positive() {
    let dir = tempfile::tempdir().unwrap();
    for (name, flag) in [
        ("cifar10_fc", "--epochs"),
        ("dropout_regularization", "--epochs"),
        ("notebook", "--epochs"),
        ("notebook", "--regularization-epochs"),
    ] {
        for value in ["-1", "0"] {
            let out = run(name, &[flag, value], dir.path());
            let stderr = text(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{name} {flag} {value}: {stderr}"
            );
            assert!(
                stderr.contains(&format!("invalid value '{value}' for '{flag}"))
                    && stderr.contains("must be a positive whole number"),
                "{name} {flag} {value}: {stderr}"
            );
        }
    }
}

#[test]
fn each_examples_help_lists_only_its_own_flags() {
    let dir = tempfile::tempdir().unwrap();
    let flags = |name: &str| -> Vec<String> {
        let out = run(name, &["--help"], dir.path());
        assert!(out.status.success());
        text(&out.stdout)
            .lines()
            .filter_map(|l| {
                l.trim_start()
                    .split([' ', ','])
                    .find(|w| w.starts_with("--"))
            })
            .map(str::to_string)
            .collect()
    };
    // Training flags, and what only the final net or a checkpointed run has.
    let run = ["--out", "--seed", "--quiet", "--detect-anomaly", "--epochs"];
    let net = [
        "--notebook-config",
        "--lr",
        "--lr-decay",
        "--dropout",
        "--weight-scale",
        "--hidden",
    ];
    let checkpoint = ["--save", "--resume", "--overwrite"];
    let cases: [(&str, Vec<&str>, Vec<&str>); 6] = [
        (
            "evaluate",
            vec!["--data", "--last"],
            [&run[..], &net, &checkpoint].concat(),
        ),
        (
            "cifar10_fc",
            [&["--data"][..], &run, &net, &checkpoint].concat(),
            vec![],
        ),
        (
            "notebook",
            [&["--data", "--regularization-epochs"][..], &run, &net].concat(),
            checkpoint.to_vec(),
        ),
        (
            "dropout_regularization",
            [&["--data"][..], &run].concat(),
            [&net[..], &checkpoint].concat(),
        ),
        (
            "dropout_forward",
            vec!["--seed"],
            [&["--data", "--out", "--quiet", "--epochs"][..], &checkpoint].concat(),
        ),
        (
            "fc_gradcheck",
            vec![],
            [&["--data", "--out", "--seed", "--quiet"][..], &checkpoint].concat(),
        ),
    ];
    for (name, have, not) in cases {
        let listed = flags(name);
        for f in have {
            assert!(
                listed.iter().any(|l| l == f),
                "{name} --help lacks {f}: {listed:?}"
            );
        }
        for f in not {
            assert!(
                !listed.iter().any(|l| l == f),
                "{name} --help lists {f}: {listed:?}"
            );
        }
    }
}

#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_an_example_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    // As `| head -1` does once it has its line: the reading end is gone.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(example("dropout_forward"))
        .current_dir(dir.path())
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(stderr.is_empty(), "{stderr}");
    // Ended by SIGPIPE, as `yes | head -1` ends `yes`.
    assert_eq!(out.status.signal(), Some(13), "{:?}", out.status);
}

#[test]
fn cifar10_summary_reads_the_directory_given_after_data() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--data", "nowhere"][..],
        &["--data=nowhere"],
        &["nowhere"],
    ] {
        let out = run("cifar10_summary", args, dir.path());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        // Before: "explicit path (--data): --data: does not exist".
        assert!(
            stderr.contains("nowhere: does not exist"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("--data: "), "{args:?}: {stderr}");
    }
    let out = run("cifar10_summary", &["--data"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
