//! The examples' library code on small inputs: the notebook's sections give
//! the figures the notebook shows, and the figures land on disk.

use gradtape::data::get_cifar10_data;
use gradtape::data::testing::cifar10_or_skip;
use gradtape::notebook::progress::Output;
use gradtape::notebook::regularization::{self, RegularizationOptions};
use gradtape::notebook::{dropout_backward, dropout_forward, fc_gradcheck};

#[test]
fn dropout_forward_keeps_the_mean_and_zeroes_one_minus_p() {
    let stats = dropout_forward::run(&[0.3, 0.6, 0.75], 500, 231, false).unwrap();
    for s in &stats {
        assert!((s.input_mean - 10.0).abs() < 0.01);
        assert!((s.train_mean - s.input_mean).abs() < 0.1, "{s:?}");
        assert_eq!(s.test_mean, s.input_mean);
        assert!((s.train_zero_fraction - (1.0 - s.p)).abs() < 0.01, "{s:?}");
        assert_eq!(s.test_zero_fraction, 0.0);
    }
}

#[test]
fn dropout_backward_error_is_as_small_as_the_notebooks() {
    let err = dropout_backward::run(0.8, 123, 231, false).unwrap();
    assert!(err < 1e-9, "{err:e}");
}

#[test]
fn the_net_gradient_checks_pass() {
    for case in fc_gradcheck::run(false).unwrap() {
        let tol = if case.use_batchnorm { 1e-4 } else { 1e-5 };
        assert!(case.max_rel_error() < tol, "{case:?}");
        assert!((case.initial_loss - 10f64.ln()).abs() < 0.2, "{case:?}");
    }
}

#[test]
fn the_regularization_section_trains_and_draws_its_figure() {
    let Some(dir) = cifar10_or_skip() else { return };
    let data = get_cifar10_data(&dir, 200, 100, 10, true).unwrap();
    let options = RegularizationOptions {
        num_train: 200,
        epochs: 3,
        hidden_dims: vec![20, 20],
        ..Default::default()
    };
    let runs = regularization::run(&data, &options, Output::Quiet).unwrap();
    assert_eq!(runs.len(), 2);
    for r in &runs {
        assert_eq!(r.train_acc_history.len(), 4, "epoch 0 and 3 epochs");
        assert_eq!(r.loss_history.len(), 6, "3 epochs of 2 batches");
    }
    let out = std::env::temp_dir().join(format!("gradtape-notebook-test-{}", std::process::id()));
    regularization::plot(&runs, &out).unwrap();
    for name in ["regularization.png", "regularization.svg"] {
        let len = std::fs::metadata(out.join(name)).unwrap().len();
        assert!(len > 1000, "{name} is {len} bytes");
    }
    std::fs::remove_dir_all(&out).ok();
}
