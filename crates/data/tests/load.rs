//! Loading well-formed synthetic batch files: parsing, channel layout, split
//! boundaries, mean subtraction, class names and the `Split` accessors.

mod common;

use common::{label, pixel, write_batch, write_dataset, TempDir, TEST_ID0};
use gradtape_data::{
    get_cifar10_data, Cifar10, Cifar10Options, DataError, Split, DEFAULT_CLASS_NAMES, IMAGE_BYTES,
    RECORD_BYTES,
};

/// The raw image of synthetic record `id`, as f64.
fn raw(id: usize) -> Vec<f64> {
    (0..IMAGE_BYTES).map(|j| f64::from(pixel(id, j))).collect()
}

#[test]
fn parses_pixels_and_labels() {
    let dir = TempDir::new("parse");
    write_dataset(dir.path(), 6, 4);
    let data = get_cifar10_data(dir.path(), 4, 2, 3, false).unwrap();

    assert_eq!(data.train.labels(), &[0, 1, 2, 3]);
    assert_eq!(data.val.labels(), &[4, 5]);
    let test_labels: Vec<usize> = (0..3).map(|i| usize::from(label(TEST_ID0 + i))).collect();
    assert_eq!(data.test.labels(), &test_labels[..]);
    assert!(data.mean_image().is_none());

    for id in 0..4 {
        let bytes: Vec<u8> = (0..IMAGE_BYTES).map(|j| pixel(id, j)).collect();
        assert_eq!(data.train.image(id).unwrap(), &bytes[..]);
    }
    assert!(data.train.image(4).is_none());

    let (x, y) = data.train.batch(&[3, 0, 3]).unwrap();
    assert_eq!(x.dims(), &[3, 3, 32, 32]);
    assert_eq!(y, vec![3, 0, 3]);
    assert_eq!(&x.data()[..IMAGE_BYTES], &raw(3)[..]);
    assert_eq!(&x.data()[IMAGE_BYTES..2 * IMAGE_BYTES], &raw(0)[..]);
}

#[test]
fn channel_planes_map_to_nchw() {
    // One record whose planes are told apart: R = row, G = column, B = 200.
    let dir = TempDir::new("planes");
    let mut rec = vec![7u8];
    rec.extend((0..1024).map(|p| (p / 32) as u8));
    rec.extend((0..1024).map(|p| (p % 32) as u8));
    rec.extend(std::iter::repeat_n(200u8, 1024));
    assert_eq!(rec.len(), RECORD_BYTES);
    std::fs::write(dir.path().join("data_batch_1.bin"), &rec).unwrap();

    let data = get_cifar10_data(dir.path(), 1, 0, 0, false).unwrap();
    let (x, y) = data.train.batch(&[0]).unwrap();
    assert_eq!(y, vec![7]);
    for (row, col) in [(0, 0), (0, 31), (5, 9), (31, 0), (31, 31)] {
        assert_eq!(x.at(&[0, 0, row, col]), row as f64);
        assert_eq!(x.at(&[0, 1, row, col]), col as f64);
        assert_eq!(x.at(&[0, 2, row, col]), 200.0);
    }
}

#[test]
fn splits_follow_the_record_sequence_across_files() {
    // Five training files of 3 records: train takes ids 0..7 (files 1-3),
    // val ids 7..12 (files 3-4); file 5 is never needed.
    let dir = TempDir::new("boundaries");
    write_dataset(dir.path(), 3, 5);
    std::fs::remove_file(dir.path().join("data_batch_5.bin")).unwrap();
    let data = get_cifar10_data(dir.path(), 7, 5, 4, false).unwrap();

    assert_eq!(data.train.len(), 7);
    assert_eq!(data.val.len(), 5);
    assert_eq!(data.test.len(), 4);
    for (i, id) in (0..7).enumerate() {
        assert_eq!(data.train.image(i).unwrap()[100], pixel(id, 100));
        assert_eq!(data.train.labels()[i], usize::from(label(id)));
    }
    for (i, id) in (7..12).enumerate() {
        assert_eq!(data.val.image(i).unwrap()[3000], pixel(id, 3000));
        assert_eq!(data.val.labels()[i], usize::from(label(id)));
    }
    for i in 0..4 {
        assert_eq!(data.test.image(i).unwrap()[5], pixel(TEST_ID0 + i, 5));
    }
}

#[test]
fn reads_only_the_files_it_needs() {
    // Only data_batch_1 exists; the others are absent or broken but unneeded.
    let dir = TempDir::new("only-needed");
    write_batch(dir.path(), "data_batch_1.bin", 0..10);
    std::fs::write(dir.path().join("data_batch_2.bin"), b"").unwrap();
    let data = get_cifar10_data(dir.path(), 8, 2, 0, true).unwrap();
    assert_eq!(
        (data.train.len(), data.val.len(), data.test.len()),
        (8, 2, 0)
    );

    // num_test == 0 never touches the (absent) test file; zero training images
    // is fine without mean subtraction.
    let data = get_cifar10_data(dir.path(), 0, 3, 0, false).unwrap();
    assert!(data.train.is_empty());
    assert_eq!(data.val.labels(), &[0, 1, 2]);
}

#[test]
fn mean_is_over_training_images_and_subtracted_everywhere() {
    let dir = TempDir::new("mean");
    write_dataset(dir.path(), 4, 3);
    let data = get_cifar10_data(dir.path(), 5, 2, 3, true).unwrap();

    let expected: Vec<f64> = (0..IMAGE_BYTES)
        .map(|j| (0..5).map(|id| f64::from(pixel(id, j))).sum::<f64>() / 5.0)
        .collect();
    let mean = data.mean_image().unwrap();
    for (m, e) in mean.iter().zip(&expected) {
        assert!((m - e).abs() < 1e-12);
    }
    assert_eq!(data.val.mean(), Some(mean));
    assert_eq!(data.test.mean(), Some(mean));

    // Training images average to zero per pixel after subtraction.
    let (x, _) = data.train.range(0, 5).unwrap();
    for j in 0..IMAGE_BYTES {
        let avg: f64 = (0..5).map(|b| x.data()[b * IMAGE_BYTES + j]).sum::<f64>() / 5.0;
        assert!(avg.abs() < 1e-12, "pixel {j}: {avg}");
    }
    // Val and test are their raw bytes minus the *training* mean.
    let (xv, _) = data.val.range(1, 2).unwrap();
    let (xt, _) = data.test.range(2, 3).unwrap();
    let (raw_v, raw_t) = (raw(6), raw(TEST_ID0 + 2));
    for (j, e) in expected.iter().enumerate() {
        assert!((xv.data()[j] - (raw_v[j] - e)).abs() < 1e-12);
        assert!((xt.data()[j] - (raw_t[j] - e)).abs() < 1e-12);
    }
    // The stored bytes themselves are untouched.
    assert_eq!(data.val.image(1).unwrap()[0], pixel(6, 0));
}

#[test]
fn fill_batch_reuses_buffers_and_rejects_bad_input() {
    let dir = TempDir::new("fill");
    write_dataset(dir.path(), 4, 0);
    let data = get_cifar10_data(dir.path(), 4, 0, 0, true).unwrap();
    let (expected, _) = data.train.batch(&[2, 1]).unwrap();

    let mut x = vec![f64::NAN; 2 * IMAGE_BYTES];
    let mut y = vec![9, 9, 9];
    data.train.fill_batch(&[2, 1], &mut x, &mut y).unwrap();
    assert_eq!(&x[..], expected.data());
    assert_eq!(y, vec![2, 1]);

    let before = x.clone();
    let err = data.train.fill_batch(&[0, 4], &mut x, &mut y).unwrap_err();
    assert!(matches!(
        err,
        DataError::IndexOutOfRange { index: 4, len: 4 }
    ));
    assert_eq!(x, before, "nothing written on error");
    let err = data.train.fill_batch(&[0], &mut x, &mut y).unwrap_err();
    assert!(err
        .to_string()
        .contains("need a buffer of 3072 values but it has 6144"));
    assert!(data.train.batch(&[5]).is_err());
    assert!(data.train.range(3, 2).is_err());
    assert!(data.train.range(0, 5).is_err());
    let (empty, y) = data.train.range(4, 4).unwrap();
    assert_eq!((empty.dims(), y.len()), (&[0, 3, 32, 32][..], 0));
}

#[test]
fn head_keeps_the_shared_mean() {
    let dir = TempDir::new("head");
    write_dataset(dir.path(), 4, 0);
    let data = get_cifar10_data(dir.path(), 6, 0, 0, true).unwrap();
    let small = data.train.head(2);
    assert_eq!(small.len(), 2);
    assert_eq!(small.mean(), data.mean_image());
    assert_eq!(
        small.batch(&[1]).unwrap().0,
        data.train.batch(&[1]).unwrap().0
    );
    assert_eq!(data.train.head(100).len(), 6);
}

#[test]
fn class_names_from_meta_file_or_defaults() {
    let dir = TempDir::new("names");
    write_dataset(dir.path(), 2, 0);
    let data = get_cifar10_data(dir.path(), 1, 0, 0, false).unwrap();
    assert_eq!(data.class_names, DEFAULT_CLASS_NAMES);

    let names: Vec<String> = (0..10).map(|i| format!("class{i}")).collect();
    let text = format!("{}\r\n\n", names.join("\r\n"));
    std::fs::write(dir.path().join("batches.meta.txt"), text).unwrap();
    let data = get_cifar10_data(dir.path(), 1, 0, 0, false).unwrap();
    assert_eq!(data.class_names, names);

    std::fs::write(dir.path().join("batches.meta.txt"), "a\nb\nc\n").unwrap();
    let err = get_cifar10_data(dir.path(), 1, 0, 0, false).unwrap_err();
    assert!(matches!(err, DataError::BadClassNames { .. }));
    assert!(err
        .to_string()
        .contains("expected 10 class names, one a line, but found 3"));
}

#[test]
fn options_default_to_the_notebook_split() {
    let o = Cifar10Options::default();
    assert_eq!(
        (
            o.num_training,
            o.num_validation,
            o.num_test,
            o.subtract_mean
        ),
        (49_000, 1_000, 1_000, true)
    );
    let dir = TempDir::new("options");
    write_dataset(dir.path(), 3, 2);
    let opts = Cifar10Options {
        num_training: 3,
        num_validation: 1,
        num_test: 2,
        subtract_mean: false,
    };
    let data = Cifar10::load(dir.path(), &opts).unwrap();
    assert_eq!(data.dir, dir.path());
    assert_eq!(
        (data.train.len(), data.val.len(), data.test.len()),
        (3, 1, 2)
    );
}

#[test]
fn split_new_validates_its_parts() {
    assert!(Split::new(vec![0; IMAGE_BYTES], vec![0, 1], None).is_err());
    assert!(Split::new(vec![0; IMAGE_BYTES], vec![10], None).is_err());
    assert!(Split::new(vec![0; IMAGE_BYTES], vec![9], Some(vec![0.0; 5].into())).is_err());
    let s = Split::new(Vec::new(), Vec::new(), None).unwrap();
    assert!(s.is_empty() && s.pixel_mean().is_none());
}
