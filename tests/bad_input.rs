//! Every bad input a user can hand gradtape, through the public facade: each
//! is refused with an error that names the op, option, file, tensor or byte
//! at fault, never a panic, and never a silent NaN. Edge cases that are
//! defined (a batch of one through batchnorm) are checked to stay finite.
//!
//! Each group counts the bad inputs it tries and prints the count
//! (`cargo test --release --test bad_input -- --nocapture`); the counts are
//! asserted so the suite cannot shrink unnoticed.

use gradtape::checkpoint::{load_net, load_net_into, load_training, save_net, CheckpointError};
use gradtape::data::{get_cifar10_data, IMAGE_BYTES, RECORD_BYTES};
use gradtape::nn::{FcConfig, FullyConnectedNet, Model, NetOutput, Normalization};
use gradtape::optim::{
    build, Adam, AdamConfig, RmsProp, RmsPropConfig, SgdMomentum, SgdMomentumConfig, UpdateRule,
};
use gradtape::train::{InMemory, Solver, SolverOptions};
use gradtape::{rng_from_seed, BatchNormStats, Error, Mode, Tape, Tensor, Var};
use std::fmt::Display;
use std::path::Path;

/// Counts bad inputs and checks each error's message.
struct Tally {
    group: &'static str,
    n: usize,
}

impl Tally {
    fn new(group: &'static str) -> Self {
        Tally { group, n: 0 }
    }

    /// `r` must be an error whose message contains every one of `expect`.
    fn err<T, E: Display>(&mut self, what: &str, r: Result<T, E>, expect: &[&str]) -> String {
        self.n += 1;
        let msg = match r {
            Ok(_) => panic!("{}: {what}: accepted", self.group),
            Err(e) => e.to_string(),
        };
        for s in expect {
            assert!(
                msg.contains(s),
                "{}: {what}: {msg:?} does not mention {s:?}",
                self.group
            );
        }
        msg
    }

    fn done(self, expected: usize) {
        println!("{}: {} bad inputs, each a clear error", self.group, self.n);
        assert_eq!(self.n, expected, "{}: the count changed", self.group);
    }
}

fn randn(dims: &[usize]) -> Tensor {
    Tensor::randn(dims, &mut rng_from_seed(0))
}

#[test]
fn every_op_refuses_shapes_that_do_not_fit() {
    let mut n = Tally::new("op shapes");
    let mut tape = Tape::new();
    let w = tape.param(randn(&[4, 3])).unwrap();
    let b = tape.param(randn(&[3])).unwrap();
    let b_bad = tape.param(randn(&[2])).unwrap();
    let w_vec = tape.param(randn(&[12])).unwrap();
    let gamma = tape.param(Tensor::ones(&[3])).unwrap();
    let beta = tape.param(Tensor::zeros(&[3])).unwrap();
    let gamma_bad = tape.param(Tensor::ones(&[4])).unwrap();
    let x = tape.input(randn(&[2, 4]));
    let x5 = tape.input(randn(&[2, 5]));
    let x0 = tape.input(Tensor::zeros(&[]));
    let h = tape.input(randn(&[2, 3]));
    let h3 = tape.input(randn(&[2, 3, 1]));
    let v3 = tape.input(randn(&[3]));
    let empty = tape.input(Tensor::zeros(&[0, 3]));
    let no_classes = tape.input(Tensor::zeros(&[2, 0]));
    let mut stats = BatchNormStats::new(3);
    let mut rng = rng_from_seed(1);

    // affine
    n.err(
        "affine x/w",
        tape.affine(x5, w, b),
        &["affine: x is (2, 5) but w is (4, 3)"],
    );
    n.err(
        "affine w/b",
        tape.affine(x, w, b_bad),
        &["affine: w is (4, 3) but b is (2,)"],
    );
    n.err(
        "affine w rank",
        tape.affine(x, w_vec, b),
        &["affine: w is (12,), not a matrix"],
    );
    n.err(
        "affine scalar x",
        tape.affine(x0, w, b),
        &["affine: x is (); it needs a batch dimension"],
    );
    // batchnorm
    let bn = |tape: &mut Tape, x: Var, g: Var, be: Var, s: &mut BatchNormStats| {
        tape.batchnorm(x, g, be, Mode::Train, s)
    };
    n.err(
        "batchnorm rank",
        bn(&mut tape, h3, gamma, beta, &mut stats),
        &["batchnorm: x is (2, 3, 1), not an (N, D) matrix"],
    );
    n.err(
        "batchnorm gamma",
        bn(&mut tape, h, gamma_bad, beta, &mut stats),
        &["batchnorm: x is (2, 3) but gamma is (4,)"],
    );
    n.err(
        "batchnorm beta",
        bn(&mut tape, h, gamma, gamma_bad, &mut stats),
        &["batchnorm: x is (2, 3) but beta is (4,)"],
    );
    n.err(
        "batchnorm stats",
        bn(&mut tape, h, gamma, beta, &mut BatchNormStats::new(5)),
        &["batchnorm: x is (2, 3) but running_mean is (5,)"],
    );
    n.err(
        "batchnorm empty batch",
        bn(&mut tape, empty, gamma, beta, &mut stats),
        &["batchnorm: x is an empty batch (N = 0)"],
    );
    n.err(
        "batchnorm test empty",
        tape.batchnorm(empty, gamma, beta, Mode::Test, &mut stats),
        &["empty batch"],
    );
    // softmax and the loss
    n.err(
        "softmax rank 1",
        tape.softmax(v3),
        &["softmax: scores are (3,); they must be (N, C) with N, C > 0"],
    );
    n.err(
        "softmax no classes",
        tape.softmax(no_classes),
        &["softmax: scores are (2, 0)"],
    );
    n.err(
        "softmax empty batch",
        tape.softmax(empty),
        &["softmax: scores are (0, 3)"],
    );
    n.err(
        "loss label count",
        tape.softmax_cross_entropy(h, &[0]),
        &["softmax_cross_entropy: scores are (2, 3) but there are 1 labels"],
    );
    n.err(
        "loss label range",
        tape.softmax_cross_entropy(h, &[0, 3]),
        &["softmax_cross_entropy: label 3 of row 1 is not below the 3 classes"],
    );
    n.err(
        "loss empty batch",
        tape.softmax_cross_entropy(empty, &[]),
        &["softmax_cross_entropy: scores are (0, 3)"],
    );
    n.err(
        "loss rank 1",
        tape.softmax_cross_entropy(v3, &[0, 1, 2]),
        &["softmax_cross_entropy: scores are (3,)"],
    );
    // elementwise
    n.err(
        "add shapes",
        tape.add(x, h),
        &["add: a is (2, 4) but b is (2, 3)"],
    );
    n.err(
        "mul shapes",
        tape.mul(h, x),
        &["mul: a is (2, 3) but b is (2, 4)"],
    );
    n.err(
        "mean empty",
        tape.mean(empty),
        &["mean: the mean of an empty tensor is undefined"],
    );
    // dropout
    for p in [0.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
        n.err(
            "dropout p",
            tape.dropout(h, p, Mode::Train, &mut rng),
            &["dropout: keep probability p =", "is outside (0, 1]"],
        );
    }
    // backward
    n.err(
        "backward non-scalar",
        tape.backward(h),
        &["backward: the loss must hold one element, but has shape (2, 3)"],
    );
    let s = tape.sum(h).unwrap();
    n.err(
        "backward no grad",
        tape.backward(s),
        &["backward: the loss depends on no parameter or leaf that needs a gradient"],
    );
    // the tape itself
    n.err(
        "param after ops",
        tape.param(Tensor::zeros(&[1])),
        &[
            "param: the tape holds",
            "add parameters before the first op or after reset()",
        ],
    );
    n.err(
        "param_mut of input",
        tape.param_mut(h),
        &["param_mut: node", "is not a parameter"],
    );
    tape.reset();
    for (op, r) in [
        ("relu", tape.relu(h)),
        ("scale", tape.scale(h, 2.0)),
        ("sum", tape.sum(h)),
        ("sum_squares", tape.sum_squares(h)),
    ] {
        let op = format!("{op}: variable #");
        n.err(
            "stale variable",
            r,
            &[
                &op,
                "is not on this tape (created before the last reset()?)",
            ],
        );
    }
    n.err(
        "stale dropout",
        tape.dropout(h, 0.5, Mode::Train, &mut rng),
        &["dropout: variable #"],
    );
    n.err(
        "stale affine",
        tape.affine(x, w, b),
        &["affine: variable #"],
    );
    n.err(
        "stale batchnorm",
        tape.batchnorm(h, gamma, beta, Mode::Train, &mut stats),
        &["batchnorm: variable #"],
    );
    n.err("stale softmax", tape.softmax(h), &["softmax: variable #"]);
    n.err(
        "stale loss",
        tape.softmax_cross_entropy(h, &[0, 1]),
        &["softmax_cross_entropy: variable #"],
    );
    n.err("stale add", tape.add(h, h), &["add: variable #"]);
    n.err("stale mul", tape.mul(h, h), &["mul: variable #"]);
    n.err("stale mean", tape.mean(h), &["mean: variable #"]);
    // tensors
    n.err(
        "from_vec",
        Tensor::from_vec(vec![1.0; 5], &[2, 3]),
        &["Tensor::from_vec: shape (2, 3) needs 6 elements but the buffer has 5"],
    );
    n.err(
        "reshape",
        randn(&[2, 3]).reshape(&[4, 2]),
        &["reshape: tensor is (2, 3) but target is (4, 2)"],
    );
    n.err(
        "matmul",
        randn(&[2, 3]).matmul(&randn(&[2, 3])),
        &["matmul: lhs is (2, 3) but rhs is (2, 3)"],
    );
    n.err(
        "matmul rank",
        randn(&[6]).matmul(&randn(&[6, 1])),
        &["matmul: lhs is (6,), not a matrix"],
    );
    n.err(
        "item",
        randn(&[2]).item(),
        &["Tensor::item: tensor of shape (2,) does not hold exactly one element"],
    );
    n.done(46);
}

fn small_config() -> FcConfig {
    FcConfig {
        hidden_dims: vec![8, 6],
        input_dim: 5,
        num_classes: 4,
        normalization: Normalization::BatchNorm,
        dropout: 0.5,
        weight_scale: 0.1,
        ..FcConfig::default()
    }
}

#[test]
fn the_net_refuses_bad_batches_and_bad_configurations() {
    let mut n = Tally::new("net");
    let mut net = FullyConnectedNet::new(small_config()).unwrap();
    n.err(
        "empty batch",
        net.loss(&Tensor::zeros(&[0, 5]), Some(&[])),
        &["batchnorm: x is an empty batch (N = 0)"],
    );
    n.err(
        "empty batch, test mode",
        net.loss(&Tensor::zeros(&[0, 5]), None),
        &["empty batch"],
    );
    n.err(
        "wrong width",
        net.loss(&randn(&[3, 6]), Some(&[0, 1, 2])),
        &["affine: x is (3, 6) but w is (5, 8)"],
    );
    n.err(
        "label out of range",
        net.loss(&randn(&[3, 5]), Some(&[0, 4, 1])),
        &["softmax_cross_entropy: label 4 of row 1 is not below the 4 classes"],
    );
    n.err(
        "labels too few",
        net.loss(&randn(&[3, 5]), Some(&[0, 1])),
        &["there are 2 labels"],
    );
    n.err(
        "unknown parameter",
        net.param("W7"),
        &["no parameter named \"W7\""],
    );

    // A batch of one through batchnorm in train mode is defined: the
    // variance is 0, the output is beta, every gradient is finite.
    let NetOutput::Loss(loss) = net.loss(&randn(&[1, 5]), Some(&[2])).unwrap() else {
        unreachable!()
    };
    assert!(loss.is_finite());
    for name in ["W1", "b1", "gamma1", "beta1", "W3", "b3"] {
        assert!(
            net.grad(name).unwrap().data().iter().all(|g| g.is_finite()),
            "{name}"
        );
    }
    assert!(net.batchnorm_stats().iter().all(|s| s
        .running_var
        .data()
        .iter()
        .all(|v| v.is_finite())));

    // A NaN in the input, anomaly detection on: the op that made it is named.
    net.set_detect_anomaly(true);
    let mut x = randn(&[3, 5]);
    x.data_mut()[7] = f64::NAN;
    n.err(
        "NaN input",
        net.loss(&x, Some(&[0, 1, 2])),
        &["affine (tape node", "forward value is not finite"],
    );
    x.data_mut()[7] = f64::INFINITY;
    n.err(
        "inf input, test mode",
        net.loss(&x, None),
        &["affine (tape node", "forward value is not finite"],
    );

    // Configurations.
    let bad = |f: fn(&mut FcConfig)| {
        let mut c = small_config();
        f(&mut c);
        FullyConnectedNet::new(c).map(|_| ())
    };
    for (what, f, expect) in [
        (
            "dropout 0",
            (|c: &mut FcConfig| c.dropout = 0.0) as fn(&mut FcConfig),
            "dropout (keep probability) 0 is outside (0, 1]",
        ),
        (
            "dropout -0.5",
            |c| c.dropout = -0.5,
            "dropout (keep probability) -0.5 is outside (0, 1]",
        ),
        (
            "dropout 1.5",
            |c| c.dropout = 1.5,
            "dropout (keep probability) 1.5 is outside (0, 1]",
        ),
        (
            "dropout NaN",
            |c| c.dropout = f64::NAN,
            "dropout (keep probability) NaN is outside (0, 1]",
        ),
        ("reg -1", |c| c.reg = -1.0, "reg -1 must be finite and >= 0"),
        (
            "reg NaN",
            |c| c.reg = f64::NAN,
            "reg NaN must be finite and >= 0",
        ),
        (
            "weight_scale inf",
            |c| c.weight_scale = f64::INFINITY,
            "weight_scale inf must be finite and >= 0",
        ),
        (
            "hidden 0",
            |c| c.hidden_dims = vec![8, 0],
            "hidden_dims[1] is 0",
        ),
        (
            "input_dim 0",
            |c| c.input_dim = 0,
            "input_dim and num_classes must be positive",
        ),
        (
            "num_classes 0",
            |c| c.num_classes = 0,
            "input_dim and num_classes must be positive",
        ),
    ] {
        n.err(what, bad(f), &["FcConfig: ", expect]);
    }

    // restore refuses a state of another net and changes nothing.
    let mut net = FullyConnectedNet::new(small_config()).unwrap();
    let before = net.snapshot();
    let other = FullyConnectedNet::new(FcConfig {
        hidden_dims: vec![8, 7],
        ..small_config()
    })
    .unwrap();
    n.err(
        "restore other net",
        net.restore(&other.snapshot()),
        &["restore: state has W2 (8, 7) where the net has W2 (8, 6)"],
    );
    assert_eq!(net.snapshot(), before);
    n.done(19);
}

fn toy(n: usize, d: usize, classes: usize) -> InMemory {
    let x = Tensor::randn(&[n, d], &mut rng_from_seed(3));
    InMemory::new(x, (0..n).map(|i| i % classes).collect()).unwrap()
}

fn net() -> FullyConnectedNet {
    FullyConnectedNet::new(small_config()).unwrap()
}

fn quiet(o: SolverOptions) -> SolverOptions {
    SolverOptions {
        verbose: false,
        batch_size: 10,
        num_epochs: 1,
        ..o
    }
}

#[test]
fn the_solver_and_optimizers_refuse_bad_options_and_bad_data() {
    let mut n = Tally::new("solver and optimizers");
    let new =
        |o: SolverOptions| Solver::new(net(), toy(40, 5, 4), toy(10, 5, 4), quiet(o)).map(|_| ());
    let d = SolverOptions::default;
    for lr in [-1e-3, f64::NAN, f64::INFINITY] {
        for rule in UpdateRule::ALL {
            n.err(
                "learning rate",
                new(SolverOptions {
                    learning_rate: lr,
                    update_rule: rule,
                    ..d()
                }),
                &[rule.name(), "learning_rate must be finite and >= 0, got"],
            );
        }
    }
    for decay in [-0.5, f64::NAN, f64::INFINITY] {
        n.err(
            "lr_decay",
            new(SolverOptions {
                lr_decay: decay,
                ..d()
            }),
            &["Solver: lr_decay", "must be finite and >= 0"],
        );
    }
    n.err(
        "batch_size 0",
        Solver::new(
            net(),
            toy(40, 5, 4),
            toy(10, 5, 4),
            SolverOptions {
                batch_size: 0,
                verbose: false,
                ..d()
            },
        )
        .map(|_| ()),
        &["Solver: batch_size is 0"],
    );
    n.err(
        "batch_size > data",
        Solver::new(
            net(),
            toy(40, 5, 4),
            toy(10, 5, 4),
            SolverOptions {
                batch_size: 41,
                verbose: false,
                ..d()
            },
        )
        .map(|_| ()),
        &["Solver: batch_size 41 is larger than the 40 training examples"],
    );
    n.err(
        "no train samples",
        new(SolverOptions {
            num_train_samples: 0,
            ..d()
        }),
        &["Solver: accuracy needs at least one sample"],
    );
    n.err(
        "no val samples",
        new(SolverOptions {
            num_val_samples: Some(0),
            ..d()
        }),
        &["Solver: accuracy needs at least one sample"],
    );
    n.err(
        "empty val",
        Solver::new(
            net(),
            toy(40, 5, 4),
            InMemory::new(Tensor::zeros(&[0, 5]), vec![]).unwrap(),
            quiet(d()),
        )
        .map(|_| ()),
        &["Solver: the validation set is empty"],
    );
    n.err(
        "val dims",
        Solver::new(net(), toy(40, 5, 4), toy(10, 6, 4), quiet(d())).map(|_| ()),
        &["Solver: training examples are [5] but validation examples are [6]"],
    );
    n.err(
        "labels vs x",
        InMemory::new(Tensor::zeros(&[3, 5]), vec![0, 1]),
        &["InMemory::new: x is (3, 5) but there are 2 labels"],
    );
    n.err(
        "epoch past the end",
        Solver::new(net(), toy(40, 5, 4), toy(10, 5, 4), quiet(d()))
            .unwrap()
            .train_until_epoch(2),
        &["Solver::train_until_epoch: epoch 2 is past num_epochs = 1"],
    );

    // Data that does not fit the net: an error at iteration 1 naming the op.
    let train = |data: InMemory| {
        Solver::new(net(), data, toy(10, 5, 4), quiet(d()))
            .unwrap()
            .train()
    };
    n.err(
        "labels out of range",
        train(toy(40, 5, 6)),
        &[
            "iteration 1: softmax_cross_entropy: label",
            "is not below the 4 classes",
        ],
    );
    n.err(
        "examples too wide",
        Solver::new(net(), toy(40, 6, 4), toy(10, 6, 4), quiet(d()))
            .unwrap()
            .train(),
        &["iteration 1: affine: x is (10, 6) but w is (5, 8)"],
    );
    let mut x = Tensor::randn(&[40, 5], &mut rng_from_seed(3));
    x.data_mut().iter_mut().for_each(|v| *v = f64::NAN);
    let nan_data = InMemory::new(x, vec![0; 40]).unwrap();
    let err = Solver::new(
        net(),
        nan_data,
        toy(10, 5, 4),
        quiet(SolverOptions {
            detect_anomaly: true,
            ..d()
        }),
    )
    .unwrap()
    .train();
    let msg = n.err(
        "NaN data, anomaly mode",
        err,
        &[
            "iteration 1: affine (tape node",
            "forward value is not finite",
        ],
    );
    assert!(msg.contains("shape (10, 8)"), "{msg}");

    // Optimizer hyperparameters.
    for m in [-0.1, 1.0, f64::NAN] {
        n.err(
            "momentum",
            SgdMomentum::new(SgdMomentumConfig {
                momentum: m,
                ..Default::default()
            }),
            &["sgd_momentum: momentum must be in [0, 1), got"],
        );
    }
    for r in [-0.5, 1.0, f64::NAN] {
        n.err(
            "decay_rate",
            RmsProp::new(RmsPropConfig {
                decay_rate: r,
                ..Default::default()
            }),
            &["rmsprop: decay_rate must be in [0, 1), got"],
        );
    }
    for beta in [-0.1, 1.0, f64::NAN] {
        n.err(
            "beta1",
            Adam::new(AdamConfig {
                beta1: beta,
                ..Default::default()
            }),
            &["adam: beta1 must be in [0, 1), got"],
        );
    }
    n.err(
        "epsilon",
        Adam::new(AdamConfig {
            epsilon: 0.0,
            ..Default::default()
        }),
        &["adam: epsilon must be finite and > 0, got 0"],
    );
    let mut opt = build(UpdateRule::Adam, 1e-3).unwrap();
    for f in [-0.5, f64::NAN] {
        n.err(
            "decay factor",
            opt.decay_learning_rate(f),
            &["adam: lr decay factor must be finite and >= 0, got"],
        );
    }
    n.err(
        "update lengths",
        opt.update("W1", &mut [0.0; 3], &[0.0; 2]),
        &["adam: parameter 'W1' has 3 elements but its gradient has 2"],
    );
    n.err(
        "unknown rule",
        "adamw".parse::<UpdateRule>(),
        &["update_rule: unknown update rule 'adamw'"],
    );
    n.done(40);
}

/// Synthetic CIFAR-10 records: label `id % 10`, pixels from the id.
fn records(ids: std::ops::Range<usize>) -> Vec<u8> {
    ids.flat_map(|id| {
        let mut r = vec![(id % 10) as u8];
        r.extend((0..IMAGE_BYTES).map(|j| ((id * 31 + j * 7) % 256) as u8));
        r
    })
    .collect()
}

fn write_cifar(dir: &Path, per_file: usize, test: usize) {
    for k in 0..5 {
        let bytes = records(k * per_file..(k + 1) * per_file);
        std::fs::write(dir.join(format!("data_batch_{}.bin", k + 1)), bytes).unwrap();
    }
    std::fs::write(dir.join("test_batch.bin"), records(100..100 + test)).unwrap();
}

#[test]
fn cifar_files_missing_empty_truncated_or_mislabelled_are_named() {
    let mut n = Tally::new("CIFAR-10 files");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let load = |train, val, test| get_cifar10_data(dir, train, val, test, true).map(|_| ());
    let nowhere = dir.join("nope");
    n.err(
        "missing directory",
        get_cifar10_data(&nowhere, 1, 0, 0, true).map(|_| ()),
        &[
            "CIFAR-10 data directory not found",
            "nope: does not exist",
            "cifar-10-binary.tar.gz",
        ],
    );
    n.err(
        "empty directory",
        load(2, 1, 1),
        &["data_batch_1.bin: file not found"],
    );
    std::fs::write(dir.join("data_batch_1.bin"), records(0..3)).unwrap();
    n.err(
        "partial directory",
        load(4, 1, 0),
        &[
            "data_batch_2.bin: file not found",
            "the files before it hold only 3 of the 5 records",
        ],
    );
    n.err(
        "no test file",
        load(2, 1, 1),
        &["test_batch.bin: file not found, but it is needed for num_test 1"],
    );
    write_cifar(dir, 3, 2);
    load(10, 2, 2).unwrap();
    std::fs::write(dir.join("data_batch_2.bin"), b"").unwrap();
    n.err(
        "empty file",
        load(10, 2, 2),
        &["data_batch_2.bin: the file is empty (0 bytes)"],
    );
    let mut cut = records(3..6);
    cut.truncate(2 * RECORD_BYTES + 10);
    std::fs::write(dir.join("data_batch_2.bin"), cut).unwrap();
    n.err("truncated file", load(10, 2, 2), &["data_batch_2.bin: 6156 bytes is not a whole number of 3073-byte records (2 whole records, then 10 bytes of a truncated one)"]);
    write_cifar(dir, 3, 2);
    let mut bad_label = records(100..102);
    bad_label[RECORD_BYTES] = 200;
    std::fs::write(dir.join("test_batch.bin"), bad_label).unwrap();
    n.err(
        "bad label",
        load(10, 2, 2),
        &["test_batch.bin: record 1 (byte offset 3073) has label byte 200; labels must be 0-9"],
    );
    write_cifar(dir, 3, 2);
    n.err(
        "too few records",
        load(14, 2, 0),
        &["found 15 records but 16 are needed"],
    );
    n.err("too many asked", load(50_001, 0, 0), &["50001"]);
    n.err("mean of nothing", load(0, 2, 0), &["num_training"]);
    std::fs::remove_file(dir.join("data_batch_3.bin")).unwrap();
    std::fs::create_dir(dir.join("data_batch_3.bin")).unwrap();
    n.err(
        "directory as file",
        load(10, 2, 0),
        &["data_batch_3.bin: not a regular file"],
    );
    n.done(11);
}

#[test]
fn checkpoints_missing_truncated_corrupted_or_of_another_net_are_named() {
    let mut n = Tally::new("checkpoints");
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("net.safetensors");
    let bad = tmp.path().join("bad.safetensors");
    let mut net = FullyConnectedNet::new(small_config()).unwrap();
    net.loss(&randn(&[4, 5]), Some(&[0, 1, 2, 3])).unwrap();
    save_net(&good, &small_config(), &net.snapshot()).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let before = net.snapshot();
    let mut try_load = |what: &str, content: &[u8], expect: &[&str]| {
        std::fs::write(&bad, content).unwrap();
        n.err(what, load_net_into(&bad, &mut net), expect);
        assert_eq!(
            net.snapshot(),
            before,
            "{what}: a failed load changed the net"
        );
    };
    try_load(
        "empty",
        b"",
        &["bad.safetensors: byte offset 0: the file is 0 bytes"],
    );
    try_load(
        "too short",
        &bytes[..6],
        &["byte offset 0: the file is 6 bytes"],
    );
    try_load(
        "cut in the header",
        &bytes[..200],
        &[
            "byte offset 0: header length",
            "runs past the end of the 200-byte file",
        ],
    );
    try_load(
        "cut in the data",
        &bytes[..bytes.len() - 100],
        &[
            "the header says the tensor data ends at byte offset",
            "is cut off",
        ],
    );
    let mut flipped = bytes.clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 0x40;
    try_load(
        "flipped bit",
        &flipped,
        &[
            "fails its CRC-32 check: the file is corrupted",
            "tensor 'gamma2'",
        ],
    );
    try_load(
        "not safetensors",
        b"PK\x03\x04 this is a zip file, or anything else",
        &["bad.safetensors: byte offset 0: header length"],
    );
    let mut junk_header = bytes.clone();
    junk_header[10] = 0xFF;
    try_load(
        "header not UTF-8",
        &junk_header,
        &["byte offset 10: the header is not valid UTF-8"],
    );
    // A net of another shape.
    let other = FcConfig {
        hidden_dims: vec![9, 6],
        ..small_config()
    };
    let other_net = FullyConnectedNet::new(other.clone()).unwrap();
    save_net(&bad, &other, &other_net.snapshot()).unwrap();
    let other_bytes = std::fs::read(&bad).unwrap();
    try_load(
        "another net",
        &other_bytes,
        &["configuration mismatch: hidden_dims is [9, 6] in the checkpoint but [8, 6] here"],
    );
    n.err(
        "missing file",
        load_net(tmp.path().join("none.safetensors")),
        &["none.safetensors: No such file"],
    );
    n.err(
        "net as training",
        load_training(&good),
        &[
            "net.safetensors: not a gradtape checkpoint",
            "resuming needs a training checkpoint",
        ],
    );
    let state = net.snapshot();
    let err = save_net(&bad, &other, &state);
    n.err(
        "save a state of another config",
        err,
        &["W1 is (5, 8) but the configuration implies [5, 9]"],
    );
    let e = load_net(&good).map(|_| ());
    assert!(e.is_ok());
    assert!(matches!(
        load_net(tmp.path()).unwrap_err(),
        CheckpointError::Io { .. }
    ));
    n.done(11);
    let _ = Error::invalid("unused", ""); // the facade's error type is reachable
}
