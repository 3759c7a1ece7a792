//! Malformed or missing inputs: each is a named error, never a panic.

mod common;

use common::{record, write_batch, write_dataset, TempDir};
use gradtape_data::{get_cifar10_data, DataError, RECORD_BYTES};

#[test]
fn missing_directory() {
    let dir = TempDir::new("nodir");
    let missing = dir.path().join("nope");
    let err = get_cifar10_data(&missing, 1, 0, 0, false).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::DirNotFound { .. }), "{msg}");
    assert!(
        msg.contains(&format!("{}: does not exist", missing.display())),
        "{msg}"
    );
    assert!(msg.contains("cifar-10-binary.tar.gz"), "{msg}");
}

#[test]
fn missing_test_file() {
    let dir = TempDir::new("notest");
    write_batch(dir.path(), "data_batch_1.bin", 0..3);
    let err = get_cifar10_data(dir.path(), 2, 1, 1, false).unwrap_err();
    let msg = err.to_string();
    match err {
        DataError::FileMissing { path, .. } => assert!(path.ends_with("test_batch.bin")),
        other => panic!("wrong error: {other}"),
    }
    assert!(
        msg.contains("file not found, but it is needed for num_test 1"),
        "{msg}"
    );
}

#[test]
fn only_some_training_batches_present() {
    let dir = TempDir::new("partial-set");
    write_batch(dir.path(), "data_batch_1.bin", 0..5);
    let err = get_cifar10_data(dir.path(), 6, 2, 0, false).unwrap_err();
    let msg = err.to_string();
    match &err {
        DataError::FileMissing { path, .. } => assert!(path.ends_with("data_batch_2.bin")),
        other => panic!("wrong error: {other}"),
    }
    assert!(
        msg.contains(
            "num_training 6 + num_validation 2: the files before it hold only 5 of the 8 records"
        ),
        "{msg}"
    );
}

#[test]
fn empty_file() {
    let dir = TempDir::new("empty");
    std::fs::write(dir.path().join("data_batch_1.bin"), b"").unwrap();
    let err = get_cifar10_data(dir.path(), 1, 0, 0, false).unwrap_err();
    assert!(matches!(err, DataError::EmptyFile { .. }));
    assert!(err
        .to_string()
        .contains("data_batch_1.bin: the file is empty (0 bytes)"));
}

#[test]
fn truncated_mid_record() {
    let dir = TempDir::new("truncated");
    write_dataset(dir.path(), 3, 0);
    let path = dir.path().join("data_batch_2.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(2 * RECORD_BYTES + 100);
    std::fs::write(&path, &bytes).unwrap();

    let err = get_cifar10_data(dir.path(), 4, 0, 0, false).unwrap_err();
    assert!(matches!(
        err,
        DataError::PartialRecord {
            bytes: 6246,
            whole: 2,
            remainder: 100,
            ..
        }
    ));
    assert!(err.to_string().ends_with(
        "data_batch_2.bin: 6246 bytes is not a whole number of 3073-byte records \
         (2 whole records, then 100 bytes of a truncated one)"
    ));
    // The broken file is not needed for 3 records.
    assert!(get_cifar10_data(dir.path(), 3, 0, 0, false).is_ok());
}

#[test]
fn label_byte_ten() {
    let dir = TempDir::new("label");
    let mut bytes: Vec<u8> = (0..4).flat_map(record).collect();
    bytes[2 * RECORD_BYTES] = 10;
    std::fs::write(dir.path().join("test_batch.bin"), &bytes).unwrap();
    write_batch(dir.path(), "data_batch_1.bin", 0..2);

    let err = get_cifar10_data(dir.path(), 2, 0, 4, false).unwrap_err();
    assert!(matches!(
        err,
        DataError::BadLabel {
            record: 2,
            offset: 6146,
            label: 10,
            ..
        }
    ));
    assert!(err.to_string().ends_with(
        "test_batch.bin: record 2 (byte offset 6146) has label byte 10; labels must be 0-9"
    ));
    // Records before the bad one load fine.
    assert!(get_cifar10_data(dir.path(), 2, 0, 2, false).is_ok());
}

#[test]
fn fewer_records_than_asked() {
    let dir = TempDir::new("few");
    write_dataset(dir.path(), 2, 3);
    let err = get_cifar10_data(dir.path(), 9, 2, 0, false).unwrap_err();
    assert!(matches!(
        err,
        DataError::TooFewRecords {
            found: 10,
            needed: 11,
            ..
        }
    ));
    assert!(err.to_string().contains(
        "data_batch_1.bin..data_batch_5.bin: found 10 records but 11 are needed for \
         num_training 9 + num_validation 2"
    ));

    let err = get_cifar10_data(dir.path(), 1, 0, 5, false).unwrap_err();
    assert!(matches!(
        err,
        DataError::TooFewRecords {
            found: 3,
            needed: 5,
            ..
        }
    ));
    assert!(err
        .to_string()
        .contains("test_batch.bin: found 3 records but 5 are needed for num_test 5"));
}

#[test]
fn impossible_requests_fail_before_reading() {
    // The directory does not even exist: the request is rejected first.
    let nowhere = std::path::Path::new("/definitely/not/here");
    let cases = [
        (
            49_001,
            1_000,
            0,
            true,
            "exceeds the 50000 CIFAR-10 training images",
        ),
        (
            usize::MAX,
            1,
            0,
            false,
            "exceeds the 50000 CIFAR-10 training images",
        ),
        (
            10,
            0,
            10_001,
            true,
            "num_test 10001 exceeds the 10000 CIFAR-10 test images",
        ),
        (0, 10, 10, true, "subtract_mean needs num_training > 0"),
    ];
    for (ntr, nval, ntest, sub, needle) in cases {
        let err = get_cifar10_data(nowhere, ntr, nval, ntest, sub).unwrap_err();
        assert!(matches!(err, DataError::InvalidRequest(_)), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
}

#[test]
fn a_directory_where_a_file_should_be() {
    let dir = TempDir::new("notafile");
    std::fs::create_dir(dir.path().join("data_batch_1.bin")).unwrap();
    let err = get_cifar10_data(dir.path(), 1, 0, 0, false).unwrap_err();
    assert!(matches!(err, DataError::NotAFile { .. }), "{err}");
}
