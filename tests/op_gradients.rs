//! Every op's backward against centered finite differences (h = 1e-5), in f64,
//! on ordinary and odd shapes: a batch of one, non-square matrices, a rank-4
//! input to affine, and variables used more than once.

use gradtape::gradcheck::check_gradients;
use gradtape::{rng_from_seed, BatchNormStats, Mode, Result, Tape, Tensor, Var};

/// A graph to check: builds the loss from the input variables.
type Build = dyn Fn(&mut Tape, &[Var]) -> Result<Var>;

/// Smooth ops agree with finite differences to about 1e-9; 1e-7 leaves
/// room for rounding in the numeric side without hiding a wrong formula
/// (a wrong term gives errors near 1e-2 or larger).
const SMOOTH: f64 = 1e-7;

fn randn(dims: &[usize], seed: u64) -> Tensor {
    Tensor::randn(dims, &mut rng_from_seed(seed))
}

/// Random values at least 0.1 away from 0, so ReLU's kink is never probed.
fn away_from_zero(dims: &[usize], seed: u64) -> Tensor {
    randn(dims, seed).map(|v| if v >= 0.0 { v + 0.1 } else { v - 0.1 })
}

fn assert_all_below(errors: &[f64], tol: f64, what: &str) {
    println!("{what}: {errors:?}");
    for (i, e) in errors.iter().enumerate() {
        assert!(
            *e < tol,
            "{what}: input {i} relative error {e:e} >= {tol:e}"
        );
    }
}

#[test]
fn affine_matches_finite_differences_on_odd_shapes() {
    // (N, D, M): ordinary, batch of one, non-square both ways.
    for (i, &(n, d, m)) in [(4, 5, 3), (1, 7, 2), (3, 2, 9), (2, 15, 20)]
        .iter()
        .enumerate()
    {
        let s = 10 * i as u64;
        let inputs = [randn(&[n, d], s), randn(&[d, m], s + 1), randn(&[m], s + 2)];
        let errors = check_gradients(&inputs, |t, v| t.affine(v[0], v[1], v[2]), s + 3).unwrap();
        assert_all_below(&errors, SMOOTH, &format!("affine N={n} D={d} M={m}"));
    }
}

#[test]
fn affine_reads_rank4_input_as_a_matrix() {
    let inputs = [randn(&[3, 2, 3, 4], 1), randn(&[24, 5], 2), randn(&[5], 3)];
    let errors = check_gradients(&inputs, |t, v| t.affine(v[0], v[1], v[2]), 4).unwrap();
    assert_all_below(&errors, SMOOTH, "affine rank-4 x");
}

#[test]
fn relu_matches_finite_differences_away_from_the_kink() {
    for dims in [&[5, 4][..], &[1, 3], &[2, 3, 4]] {
        let errors = check_gradients(&[away_from_zero(dims, 5)], |t, v| t.relu(v[0]), 6).unwrap();
        assert_all_below(&errors, SMOOTH, "relu");
    }
}

#[test]
fn dropout_backward_matches_the_notebook_check() {
    // The notebook: x = randn(10, 10) + 10, p = 0.8, seed 123; dx error ~5e-11.
    let x = randn(&[10, 10], 123).map(|v| v + 10.0);
    let build =
        |t: &mut Tape, v: &[Var]| t.dropout(v[0], 0.8, Mode::Train, &mut rng_from_seed(123));
    let errors = check_gradients(&[x], build, 7).unwrap();
    assert_all_below(&errors, 1e-9, "dropout p=0.8");
}

#[test]
fn dropout_at_test_time_and_keep_one_is_the_identity_with_identity_gradient() {
    let x = randn(&[3, 4], 8);
    for (p, mode) in [(0.5, Mode::Test), (1.0, Mode::Train)] {
        let build = move |t: &mut Tape, v: &[Var]| {
            let y = t.dropout(v[0], p, mode, &mut rng_from_seed(1))?;
            t.scale(y, 1.0) // a fresh node, so the check sees the path through dropout
        };
        let errors = check_gradients(std::slice::from_ref(&x), build, 9).unwrap();
        assert_all_below(&errors, SMOOTH, "dropout identity");
    }
}

fn batchnorm_graph(mode: Mode) -> impl Fn(&mut Tape, &[Var]) -> Result<Var> {
    move |t: &mut Tape, v: &[Var]| {
        let d = t.value(v[0])?.dims()[1];
        let mut stats = BatchNormStats::new(d);
        // Non-trivial running statistics for test mode.
        stats.running_mean = Tensor::full(&[d], 0.3);
        stats.running_var = Tensor::full(&[d], 1.7);
        t.batchnorm(v[0], v[1], v[2], mode, &mut stats)
    }
}

#[test]
fn batchnorm_train_mode_backward_is_the_full_expression() {
    // Not N = 2: there each normalised column is exactly (-1, +1) up to eps,
    // so d out / d x is ~1e-6 and a relative error measures only rounding.
    for (i, &(n, d)) in [(4, 5), (10, 3), (3, 7)].iter().enumerate() {
        let s = 20 + 10 * i as u64;
        let inputs = [
            randn(&[n, d], s).map(|v| 3.0 * v + 5.0),
            randn(&[d], s + 1),
            randn(&[d], s + 2),
        ];
        let errors = check_gradients(&inputs, batchnorm_graph(Mode::Train), s + 3).unwrap();
        assert_all_below(&errors, SMOOTH, &format!("batchnorm train N={n} D={d}"));
    }
}

#[test]
fn batchnorm_test_mode_backward() {
    let inputs = [randn(&[3, 4], 60), randn(&[4], 61), randn(&[4], 62)];
    let errors = check_gradients(&inputs, batchnorm_graph(Mode::Test), 63).unwrap();
    assert_all_below(&errors, SMOOTH, "batchnorm test");
}

#[test]
fn batchnorm_on_a_batch_of_one_is_defined() {
    // Variance 0: the output is beta, the gradient wrt x is 0, nothing is NaN.
    let inputs = [randn(&[1, 4], 70), randn(&[4], 71), randn(&[4], 72)];
    let errors = check_gradients(&inputs, batchnorm_graph(Mode::Train), 73).unwrap();
    assert_all_below(&errors, SMOOTH, "batchnorm N=1");
    let mut t = Tape::new();
    let v: Vec<Var> = inputs.iter().map(|x| t.leaf(x.clone())).collect();
    let y = batchnorm_graph(Mode::Train)(&mut t, &v).unwrap();
    assert_eq!(
        t.value(y).unwrap(),
        &inputs[2].clone().reshape(&[1, 4]).unwrap()
    );
}

#[test]
fn softmax_cross_entropy_matches_finite_differences() {
    for (n, c) in [(5, 7), (1, 10), (3, 2)] {
        let labels: Vec<usize> = (0..n).map(|i| (3 * i + 1) % c).collect();
        let build = move |t: &mut Tape, v: &[Var]| t.softmax_cross_entropy(v[0], &labels);
        let errors = check_gradients(&[randn(&[n, c], 80)], build, 81).unwrap();
        assert_all_below(
            &errors,
            SMOOTH,
            &format!("softmax_cross_entropy N={n} C={c}"),
        );
    }
}

#[test]
fn softmax_matches_finite_differences() {
    let errors = check_gradients(&[randn(&[3, 5], 90)], |t, v| t.softmax(v[0]), 91).unwrap();
    assert_all_below(&errors, SMOOTH, "softmax");
}

#[test]
fn arithmetic_ops_match_finite_differences() {
    let (a, b) = (randn(&[3, 4], 100), randn(&[3, 4], 101));
    let pair = [a.clone(), b];
    let cases: Vec<(&str, Box<Build>)> = vec![
        ("add", Box::new(|t, v| t.add(v[0], v[1]))),
        ("mul", Box::new(|t, v| t.mul(v[0], v[1]))),
        ("scale", Box::new(|t, v| t.scale(v[0], -2.5))),
        ("sum", Box::new(|t, v| t.sum(v[0]))),
        ("mean", Box::new(|t, v| t.mean(v[1]))),
        ("sum_squares", Box::new(|t, v| t.sum_squares(v[0]))),
    ];
    for (name, build) in cases {
        let errors = check_gradients(&pair, build, 102).unwrap();
        // An input the graph does not use gets a zero gradient on both sides.
        assert_all_below(&errors, SMOOTH, name);
    }
}

#[test]
fn a_variable_used_twice_gets_both_contributions() {
    let x = away_from_zero(&[2, 3], 110);
    let cases: Vec<(&str, Box<Build>)> = vec![
        ("mul(x, x)", Box::new(|t, v| t.mul(v[0], v[0]))),
        ("add(x, x)", Box::new(|t, v| t.add(v[0], v[0]))),
        (
            "relu(x) + x * x",
            Box::new(|t, v| {
                let r = t.relu(v[0])?;
                let sq = t.mul(v[0], v[0])?;
                t.add(r, sq)
            }),
        ),
        (
            "sum(relu(x)^2) * sum(x)",
            Box::new(|t, v| {
                let h = t.relu(v[0])?;
                let s = t.sum_squares(h)?;
                let sx = t.sum(v[0])?;
                t.mul(s, sx)
            }),
        ),
    ];
    for (name, build) in cases {
        let errors = check_gradients(std::slice::from_ref(&x), build, 111).unwrap();
        assert_all_below(&errors, SMOOTH, name);
    }
}

#[test]
fn a_whole_layer_stack_matches_finite_differences() {
    // affine - batchnorm - relu - dropout - affine - softmax loss, every input checked.
    let inputs = [
        randn(&[6, 5], 120),
        randn(&[5, 4], 121),
        randn(&[4], 122),
        randn(&[4], 123).map(|v| v + 1.0),
        randn(&[4], 124),
        randn(&[4, 3], 125),
        randn(&[3], 126),
    ];
    let build = |t: &mut Tape, v: &[Var]| {
        let mut stats = BatchNormStats::new(4);
        let mut rng = rng_from_seed(5);
        let h = t.affine(v[0], v[1], v[2])?;
        let h = t.batchnorm(h, v[3], v[4], Mode::Train, &mut stats)?;
        let h = t.relu(h)?;
        let h = t.dropout(h, 0.75, Mode::Train, &mut rng)?;
        let s = t.affine(h, v[5], v[6])?;
        t.softmax_cross_entropy(s, &[0, 1, 2, 0, 1, 2])
    };
    let errors = check_gradients(&inputs, build, 127).unwrap();
    assert_all_below(&errors, 1e-6, "layer stack");
}

/// Uniform values in (lo, hi).
fn uniform_in(dims: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor {
    Tensor::rand_uniform(dims, &mut rng_from_seed(seed)).map(|u| lo + (hi - lo) * u)
}

#[test]
fn tanh_and_sigmoid_match_finite_differences() {
    for (i, dims) in [&[1, 3][..], &[4, 5], &[2, 3, 2], &[7]].iter().enumerate() {
        let x = randn(dims, 200 + i as u64).map(|v| 2.0 * v);
        let e = check_gradients(std::slice::from_ref(&x), |t, v| t.tanh(v[0]), 201).unwrap();
        assert_all_below(&e, SMOOTH, &format!("tanh {dims:?}"));
        let e = check_gradients(&[x], |t, v| t.sigmoid(v[0]), 202).unwrap();
        assert_all_below(&e, SMOOTH, &format!("sigmoid {dims:?}"));
    }
}

#[test]
fn matmul_matches_finite_differences_on_odd_shapes() {
    for (i, &(n, k, m)) in [(1, 3, 2), (4, 5, 3), (2, 7, 1), (3, 1, 4)]
        .iter()
        .enumerate()
    {
        let s = 210 + 10 * i as u64;
        let inputs = [randn(&[n, k], s), randn(&[k, m], s + 1)];
        let e = check_gradients(&inputs, |t, v| t.matmul(v[0], v[1]), s + 2).unwrap();
        assert_all_below(&e, SMOOTH, &format!("matmul N={n} K={k} M={m}"));
    }
}

#[test]
fn layernorm_matches_finite_differences_on_odd_shapes() {
    // A batch of one is ordinary here: each row is normalised on its own.
    // Not D = 2: there each normalised row is exactly (-1, +1) up to eps,
    // so d out / d x is ~1e-6 and a relative error measures only rounding
    // (as for batchnorm with N = 2).
    for (i, &(n, d)) in [(1, 5), (4, 3), (3, 7), (2, 9)].iter().enumerate() {
        let s = 260 + 10 * i as u64;
        let inputs = [
            randn(&[n, d], s).map(|v| 3.0 * v + 5.0),
            randn(&[d], s + 1),
            randn(&[d], s + 2),
        ];
        let build = |t: &mut Tape, v: &[Var]| t.layernorm(v[0], v[1], v[2], 1e-5);
        let e = check_gradients(&inputs, build, s + 3).unwrap();
        assert_all_below(&e, SMOOTH, &format!("layernorm N={n} D={d}"));
    }
}

#[test]
fn layernorm_is_the_course_layernorm_forward() {
    // The course's layernorm_forward on a small case, by hand: row means
    // (2, 20), biased variances (2/3, 200), then gamma * xhat + beta.
    let mut t = Tape::new();
    let x = t.input(Tensor::from_vec(vec![1.0, 2.0, 3.0, 10.0, 10.0, 40.0], &[2, 3]).unwrap());
    let g = t.input(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]).unwrap());
    let b = t.input(Tensor::from_vec(vec![0.5, 0.0, -0.5], &[3]).unwrap());
    let y = t.layernorm(x, g, b, 1e-5).unwrap();
    let s0 = 1.0 / (2.0f64 / 3.0 + 1e-5).sqrt();
    let s1 = 1.0 / (200.0f64 + 1e-5).sqrt();
    let want = [
        -s0 + 0.5,
        0.0,
        3.0 * s0 - 0.5,
        -10.0 * s1 + 0.5,
        2.0 * -10.0 * s1,
        3.0 * 20.0 * s1 - 0.5,
    ];
    for (got, want) in t.value(y).unwrap().data().iter().zip(want) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
}

#[test]
fn mse_loss_matches_finite_differences() {
    for (i, dims) in [&[1, 1][..], &[4, 3], &[2, 5, 1]].iter().enumerate() {
        let s = 300 + 10 * i as u64;
        let inputs = [randn(dims, s), randn(dims, s + 1)];
        let e = check_gradients(&inputs, |t, v| t.mse_loss(v[0], v[1]), s + 2).unwrap();
        assert_all_below(&e, SMOOTH, &format!("mse_loss {dims:?}"));
    }
}

#[test]
fn bce_with_logits_matches_finite_differences_also_for_large_logits() {
    for (i, (dims, scale)) in [(&[1, 4][..], 1.0), (&[3, 5], 2.0), (&[2, 3], 30.0)]
        .iter()
        .enumerate()
    {
        let s = 330 + 10 * i as u64;
        let inputs = [
            randn(dims, s).map(|v| scale * v),
            uniform_in(dims, 0.0, 1.0, s + 1),
        ];
        let e = check_gradients(&inputs, |t, v| t.bce_with_logits(v[0], v[1]), s + 2).unwrap();
        assert_all_below(&e, SMOOTH, &format!("bce_with_logits {dims:?} x{scale}"));
    }
}

#[test]
fn transpose_and_reshape_match_finite_differences() {
    for (i, dims) in [&[1, 4][..], &[3, 5], &[5, 1]].iter().enumerate() {
        let x = randn(dims, 400 + i as u64);
        let e = check_gradients(&[x], |t, v| t.transpose(v[0]), 401).unwrap();
        assert_all_below(&e, SMOOTH, &format!("transpose {dims:?}"));
    }
    for (i, (from, to)) in [
        (&[2, 3][..], &[3, 2][..]),
        (&[1, 5], &[5]),
        (&[2, 3, 4], &[4, 1, 6]),
    ]
    .iter()
    .enumerate()
    {
        let x = randn(from, 410 + i as u64);
        let to = to.to_vec();
        let e = check_gradients(&[x], move |t, v| t.reshape(v[0], &to), 411).unwrap();
        assert_all_below(&e, SMOOTH, &format!("reshape {from:?}"));
    }
}

/// Shape pairs that broadcast: one shape, a row, a column, a scalar, either
/// side repeated, both sides repeated, a batch of one, rank 4.
const BROADCAST_PAIRS: [(&[usize], &[usize]); 9] = [
    (&[3, 4], &[3, 4]),
    (&[3, 4], &[4]),
    (&[4], &[3, 4]),
    (&[3, 4], &[3, 1]),
    (&[3, 4], &[]),
    (&[], &[2, 3]),
    (&[3, 1], &[1, 4]),
    (&[1, 3], &[3]),
    (&[2, 1, 3, 1], &[1, 4, 1, 5]),
];

#[test]
fn broadcasting_arithmetic_matches_finite_differences() {
    let cases: Vec<(&str, Box<Build>)> = vec![
        ("add", Box::new(|t, v| t.add(v[0], v[1]))),
        ("sub", Box::new(|t, v| t.sub(v[0], v[1]))),
        ("mul", Box::new(|t, v| t.mul(v[0], v[1]))),
        ("div", Box::new(|t, v| t.div(v[0], v[1]))),
    ];
    for (name, build) in &cases {
        for (i, (da, db)) in BROADCAST_PAIRS.iter().enumerate() {
            let s = 500 + 10 * i as u64;
            // b away from zero, for div
            let inputs = [randn(da, s), away_from_zero(db, s + 1).map(|v| 2.0 * v)];
            let e = check_gradients(&inputs, build, s + 2).unwrap();
            assert_all_below(&e, SMOOTH, &format!("{name} {da:?} {db:?}"));
        }
    }
}

#[test]
fn broadcasting_gives_numpys_output_shapes() {
    let mut t = Tape::new();
    for (da, db) in BROADCAST_PAIRS {
        let (a, b) = (t.input(Tensor::ones(da)), t.input(Tensor::ones(db)));
        let y = t.add(a, b).unwrap();
        let want: &[usize] = match (da, db) {
            (&[3, 4], _) | (_, &[3, 4]) | (&[3, 1], &[1, 4]) => &[3, 4],
            (&[], _) => &[2, 3],
            (&[1, 3], _) => &[1, 3],
            _ => &[2, 4, 3, 5],
        };
        assert_eq!(t.value(y).unwrap().dims(), want, "{da:?} with {db:?}");
    }
}

#[test]
fn the_elementwise_ops_match_finite_differences() {
    let cases: Vec<(&str, Box<Build>, f64, f64)> = vec![
        ("neg", Box::new(|t, v| t.neg(v[0])), -2.0, 2.0),
        (
            "add_scalar",
            Box::new(|t, v| t.add_scalar(v[0], 1.7)),
            -2.0,
            2.0,
        ),
        (
            "mul_scalar",
            Box::new(|t, v| t.mul_scalar(v[0], -0.6)),
            -2.0,
            2.0,
        ),
        ("exp", Box::new(|t, v| t.exp(v[0])), -2.0, 2.0),
        ("log", Box::new(|t, v| t.log(v[0])), 0.5, 3.0),
        ("sqrt", Box::new(|t, v| t.sqrt(v[0])), 0.5, 3.0),
        ("powf 2.5", Box::new(|t, v| t.powf(v[0], 2.5)), 0.5, 3.0),
        ("powf -1.5", Box::new(|t, v| t.powf(v[0], -1.5)), 0.5, 3.0),
        // Negative bases with an integer exponent. Not near 0: there the
        // centered difference of x^3 is 3x^2 + h^2, so its relative error
        // grows as 1/x^2 whatever the backward does.
        ("powf 3", Box::new(|t, v| t.powf(v[0], 3.0)), -2.0, -0.5),
    ];
    for (name, build, lo, hi) in &cases {
        for (i, dims) in [&[1, 3][..], &[4, 5], &[2, 1, 3]].iter().enumerate() {
            let x = uniform_in(dims, *lo, *hi, 600 + i as u64);
            let e = check_gradients(&[x], build, 601).unwrap();
            assert_all_below(&e, SMOOTH, &format!("{name} {dims:?}"));
        }
    }
}

#[test]
fn leaky_relu_matches_finite_differences_away_from_the_kink() {
    for dims in [&[5, 4][..], &[1, 3], &[2, 3, 4]] {
        let x = away_from_zero(dims, 610);
        let e = check_gradients(&[x], |t, v| t.leaky_relu(v[0], 0.05), 611).unwrap();
        assert_all_below(&e, SMOOTH, &format!("leaky_relu {dims:?}"));
    }
}

#[test]
fn axis_reductions_match_finite_differences() {
    for (i, dims) in [&[2, 3, 4][..], &[1, 5], &[3, 1]].iter().enumerate() {
        for axis in 0..dims.len() {
            for keepdims in [false, true] {
                let x = randn(dims, 700 + i as u64);
                let what = |op: &str| format!("{op} {dims:?} axis {axis} keepdims {keepdims}");
                let e = check_gradients(
                    std::slice::from_ref(&x),
                    move |t, v| t.sum_axis(v[0], axis, keepdims),
                    701,
                )
                .unwrap();
                assert_all_below(&e, SMOOTH, &what("sum_axis"));
                let e = check_gradients(
                    std::slice::from_ref(&x),
                    move |t, v| t.mean_axis(v[0], axis, keepdims),
                    702,
                )
                .unwrap();
                assert_all_below(&e, SMOOTH, &what("mean_axis"));
                // Random normals: no ties, and the gap to the runner-up is
                // far above h, so max is smooth where it is probed.
                let e = check_gradients(&[x], move |t, v| t.max_axis(v[0], axis, keepdims), 703)
                    .unwrap();
                assert_all_below(&e, SMOOTH, &what("max_axis"));
            }
        }
    }
}

#[test]
fn max_axis_sends_the_gradient_to_the_first_maximum_only() {
    let mut t = Tape::new();
    let x = t
        .param(Tensor::from_vec(vec![1.0, 4.0, 4.0, 2.0, 7.0, 7.0, 7.0, 0.0], &[2, 4]).unwrap())
        .unwrap();
    let m = t.max_axis(x, 1, true).unwrap();
    assert_eq!(t.value(m).unwrap().dims(), &[2, 1]);
    let w = t.input(Tensor::from_vec(vec![2.0, 3.0], &[2, 1]).unwrap());
    let y = t.mul(m, w).unwrap();
    let loss = t.sum(y).unwrap();
    t.backward(loss).unwrap();
    assert_eq!(
        t.grad(x).unwrap().data(),
        &[0.0, 2.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0]
    );
    // A NaN is the maximum, as in NumPy.
    let n = t.input(Tensor::from_vec(vec![1.0, f64::NAN, 3.0], &[3]).unwrap());
    let m = t.max_axis(n, 0, false).unwrap();
    assert!(t.value(m).unwrap().item().unwrap().is_nan());
}

#[test]
fn log_softmax_matches_finite_differences() {
    for (i, &(n, c)) in [(1, 5), (3, 2), (4, 7)].iter().enumerate() {
        let s = randn(&[n, c], 800 + i as u64).map(|v| 3.0 * v);
        let e = check_gradients(&[s], |t, v| t.log_softmax(v[0]), 801).unwrap();
        assert_all_below(&e, SMOOTH, &format!("log_softmax N={n} C={c}"));
    }
}
