//! The real CIFAR-10 files. Skipped, with a line saying so, when they are
//! not found (see `gradtape_data::testing`); with GRADTAPE_REQUIRE_DATA=1
//! (as in CI) a missing directory fails the test.

use gradtape_data::testing::cifar10_or_skip;
use gradtape_data::{get_cifar10_data, IMAGE_BYTES, NUM_CLASSES, RECORD_BYTES};

#[test]
fn real_cifar10_small_load() {
    let Some(dir) = cifar10_or_skip() else { return };
    let data = get_cifar10_data(&dir, 500, 100, 100, true).unwrap();
    assert_eq!(
        (data.train.len(), data.val.len(), data.test.len()),
        (500, 100, 100)
    );
    assert_eq!(data.class_names.len(), NUM_CLASSES);
    assert_eq!(data.class_names[0], "airplane");
    assert_eq!(data.class_names[9], "truck");

    for split in [&data.train, &data.val, &data.test] {
        assert!(split.labels().iter().all(|&l| l < NUM_CLASSES));
    }
    // 500 images should cover every class.
    for c in 0..NUM_CLASSES {
        assert!(data.train.labels().contains(&c), "class {c} absent");
    }

    let (x, y) = data.train.range(0, 500).unwrap();
    assert_eq!(x.dims(), &[500, 3, 32, 32]);
    assert_eq!(y, data.train.labels());
    let mut worst: f64 = 0.0;
    for j in 0..IMAGE_BYTES {
        let avg = (0..500).map(|b| x.data()[b * IMAGE_BYTES + j]).sum::<f64>() / 500.0;
        worst = worst.max(avg.abs());
    }
    assert!(
        worst < 1e-9,
        "largest per-pixel mean after subtraction: {worst}"
    );
    // The mean image is a plausible natural-image mean, not all zeros.
    let mean = data.mean_image().unwrap();
    let overall = mean.iter().sum::<f64>() / mean.len() as f64;
    assert!((60.0..200.0).contains(&overall), "overall mean {overall}");

    let (xv, yv) = data.val.batch(&[0, 99]).unwrap();
    assert_eq!((xv.dims(), yv.len()), (&[2, 3, 32, 32][..], 2));

    // Raw bytes match the file: train is records 0..500 of data_batch_1,
    // val records 500..600, test the first 100 of test_batch.
    let train_bytes = std::fs::read(dir.join("data_batch_1.bin")).unwrap();
    let test_bytes = std::fs::read(dir.join("test_batch.bin")).unwrap();
    let rec = |bytes: &[u8], i: usize| bytes[i * RECORD_BYTES..(i + 1) * RECORD_BYTES].to_vec();
    for (split, bytes, i, r) in [
        (&data.train, &train_bytes, 0, 0),
        (&data.train, &train_bytes, 499, 499),
        (&data.val, &train_bytes, 0, 500),
        (&data.val, &train_bytes, 99, 599),
        (&data.test, &test_bytes, 99, 99),
    ] {
        let r = rec(bytes, r);
        assert_eq!(usize::from(r[0]), split.labels()[i]);
        assert_eq!(&r[1..], split.image(i).unwrap());
    }
}
