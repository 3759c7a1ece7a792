//! Every op with an input that feeds two ops: one backward closure gets the
//! input's gradient buffer fresh (it must overwrite every element), the other
//! gets it holding the first contribution (it must add). Each graph is
//! checked against centered finite differences, so an op that overwrote on
//! its second contribution, or added to stale values on its first, fails.
//!
//! Backward runs in reverse tape order, so in `f(x)` then `g(x)`, `g` writes
//! first (fresh) and `f` adds; using the op twice covers both of its paths.

use gradtape::gradcheck::check_gradients;
use gradtape::{rng_from_seed, BatchNormStats, Mode, Result, Tape, Tensor, Var};

/// Smooth graphs agree with finite differences to about 1e-9 (see
/// tests/op_gradients.rs); a lost or doubled contribution gives errors
/// near 0.1 or larger.
const SMOOTH: f64 = 1e-7;

fn randn(dims: &[usize], seed: u64) -> Tensor {
    Tensor::randn(dims, &mut rng_from_seed(seed))
}

/// Random values at least 0.1 away from 0 (no kink of relu is probed).
fn away_from_zero(dims: &[usize], seed: u64) -> Tensor {
    randn(dims, seed).map(|v| if v >= 0.0 { v + 0.1 } else { v - 0.1 })
}

/// Checks `build` on `inputs`, every input's error below `tol`.
fn check(
    what: &str,
    inputs: &[Tensor],
    build: impl Fn(&mut Tape, &[Var]) -> Result<Var>,
    tol: f64,
) {
    let errors = check_gradients(inputs, build, 7).unwrap();
    println!("{what}: {errors:?}");
    for (i, e) in errors.iter().enumerate() {
        assert!(
            *e < tol,
            "{what}: input {i} relative error {e:e} >= {tol:e}"
        );
    }
}

/// `0.7 * a + b` for two outputs of one shape: both paths get distinct,
/// non-uniform upstream gradients.
fn blend(t: &mut Tape, a: Var, b: Var) -> Result<Var> {
    let a = t.scale(a, 0.7)?;
    t.add(a, b)
}

#[test]
fn two_affines_on_one_input_and_one_weight() {
    // x, W and b each feed both affines: dx, dW and db all take the
    // accumulate path once.
    let inputs = [
        randn(&[3, 4], 1),
        randn(&[4, 5], 2),
        randn(&[5], 3),
        randn(&[4, 5], 4),
    ];
    check(
        "affine x2",
        &inputs,
        |t, v| {
            let y1 = t.affine(v[0], v[1], v[2])?;
            let w2 = t.tanh(v[3])?;
            let w = t.add(v[1], w2)?;
            let y2 = t.affine(v[0], w, v[2])?;
            blend(t, y1, y2)
        },
        SMOOTH,
    );
}

#[test]
fn relu_twice_and_beside_another_op() {
    check(
        "relu x2",
        &[away_from_zero(&[2, 3], 10)],
        |t, v| {
            let a = t.relu(v[0])?;
            let s = t.scale(v[0], -1.3)?;
            let b = t.relu(s)?;
            blend(t, a, b)
        },
        SMOOTH,
    );
}

#[test]
fn two_dropouts_on_one_input() {
    check(
        "dropout x2",
        &[randn(&[4, 5], 20)],
        |t, v| {
            let a = t.dropout(v[0], 0.6, Mode::Train, &mut rng_from_seed(1))?;
            let b = t.dropout(v[0], 0.8, Mode::Train, &mut rng_from_seed(2))?;
            blend(t, a, b)
        },
        1e-9,
    );
}

#[test]
fn two_batchnorms_on_one_input_sharing_gamma_and_beta() {
    for mode in [Mode::Train, Mode::Test] {
        let inputs = [
            randn(&[5, 3], 30).map(|v| 2.0 * v + 1.0),
            randn(&[3], 31),
            randn(&[3], 32),
        ];
        check(
            &format!("batchnorm x2 {mode:?}"),
            &inputs,
            move |t, v| {
                let mut s1 = BatchNormStats::new(3);
                let mut s2 = BatchNormStats::new(3);
                s2.running_mean = Tensor::full(&[3], 0.4);
                s2.running_var = Tensor::full(&[3], 2.0);
                let a = t.batchnorm(v[0], v[1], v[2], mode, &mut s1)?;
                let x2 = t.tanh(v[0])?;
                let b = t.batchnorm(x2, v[1], v[2], mode, &mut s2)?;
                blend(t, a, b)
            },
            SMOOTH,
        );
    }
}

#[test]
fn two_layernorms_on_one_input_sharing_gamma_and_beta() {
    let inputs = [
        randn(&[1, 4], 40).map(|v| 2.0 * v),
        randn(&[4], 41),
        randn(&[4], 42),
    ];
    check(
        "layernorm x2",
        &inputs,
        |t, v| {
            let a = t.layernorm(v[0], v[1], v[2], 1e-5)?;
            let x2 = t.tanh(v[0])?;
            let b = t.layernorm(x2, v[1], v[2], 1e-3)?;
            blend(t, a, b)
        },
        SMOOTH,
    );
}

#[test]
fn softmax_and_its_losses_twice() {
    let s = randn(&[3, 4], 50);
    check(
        "softmax x2",
        std::slice::from_ref(&s),
        |t, v| {
            let a = t.softmax(v[0])?;
            let h = t.tanh(v[0])?;
            let b = t.softmax(h)?;
            blend(t, a, b)
        },
        SMOOTH,
    );
    check(
        "softmax_cross_entropy x2",
        std::slice::from_ref(&s),
        |t, v| {
            let a = t.softmax_cross_entropy(v[0], &[0, 3, 1])?;
            let b = t.softmax_cross_entropy(v[0], &[2, 2, 0])?;
            blend(t, a, b)
        },
        SMOOTH,
    );
}

#[test]
fn the_arithmetic_ops_twice() {
    let (a, b) = (randn(&[2, 3], 60), randn(&[2, 3], 61));
    let pair = [a.clone(), b];
    check(
        "add x2",
        &pair,
        |t, v| {
            let p = t.add(v[0], v[1])?;
            let q = t.add(v[1], v[0])?;
            let q = t.mul(q, v[0])?;
            blend(t, p, q)
        },
        SMOOTH,
    );
    check(
        "mul x2",
        &pair,
        |t, v| {
            let p = t.mul(v[0], v[1])?;
            let q = t.mul(v[0], v[0])?;
            blend(t, p, q)
        },
        SMOOTH,
    );
    check(
        "scale x2",
        &pair,
        |t, v| {
            let p = t.scale(v[0], 2.0)?;
            let q = t.scale(v[0], -0.3)?;
            let q = t.mul(q, v[1])?;
            blend(t, p, q)
        },
        SMOOTH,
    );
    check(
        "sum x2",
        &pair,
        |t, v| {
            let p = t.sum(v[0])?;
            let q = t.sum_squares(v[0])?;
            let r = t.sum(v[0])?;
            let pq = t.mul(p, q)?;
            blend(t, pq, r)
        },
        SMOOTH,
    );
    check(
        "mean x2",
        &pair,
        |t, v| {
            let p = t.mean(v[0])?;
            let q = t.sum_squares(v[0])?;
            let r = t.mean(v[0])?;
            let pq = t.mul(p, q)?;
            blend(t, pq, r)
        },
        SMOOTH,
    );
    check(
        "sum_squares x2",
        &pair,
        |t, v| {
            let p = t.sum_squares(v[0])?;
            let h = t.tanh(v[0])?;
            let q = t.sum_squares(h)?;
            let r = t.sum_squares(v[0])?;
            let pq = t.mul(p, q)?;
            blend(t, pq, r)
        },
        SMOOTH,
    );
}

#[test]
fn the_smooth_unary_ops_twice() {
    let x = randn(&[1, 5], 70);
    check(
        "tanh x2",
        std::slice::from_ref(&x),
        |t, v| {
            let a = t.tanh(v[0])?;
            let s = t.scale(v[0], 0.5)?;
            let b = t.tanh(s)?;
            let b = t.mul(b, v[0])?;
            blend(t, a, b)
        },
        SMOOTH,
    );
    check(
        "sigmoid x2",
        std::slice::from_ref(&x),
        |t, v| {
            let a = t.sigmoid(v[0])?;
            let s = t.scale(v[0], -2.0)?;
            let b = t.sigmoid(s)?;
            let b = t.mul(b, v[0])?;
            blend(t, a, b)
        },
        SMOOTH,
    );
}

#[test]
fn matmul_with_one_matrix_used_twice() {
    // The same (3, 3) matrix on both sides, then a second product with it.
    let inputs = [randn(&[3, 3], 80), randn(&[2, 3], 81)];
    check(
        "matmul x2",
        &inputs,
        |t, v| {
            let a = t.matmul(v[0], v[0])?;
            let b = t.matmul(v[1], v[0])?;
            let b = t.matmul(b, a)?;
            let c = t.matmul(v[1], a)?;
            blend(t, b, c)
        },
        SMOOTH,
    );
}

#[test]
fn the_losses_with_an_input_used_twice() {
    let (p, y) = (randn(&[3, 2], 90), randn(&[3, 2], 91));
    check(
        "mse_loss x2",
        &[p.clone(), y.clone()],
        |t, v| {
            let a = t.mse_loss(v[0], v[1])?;
            let h = t.tanh(v[0])?;
            let b = t.mse_loss(v[1], h)?;
            blend(t, a, b)
        },
        SMOOTH,
    );
    let y01 = y.map(|v| 1.0 / (1.0 + (-v).exp()));
    check(
        "bce_with_logits x2",
        &[p, y01],
        |t, v| {
            let a = t.bce_with_logits(v[0], v[1])?;
            let h = t.scale(v[0], -1.5)?;
            let b = t.bce_with_logits(h, v[1])?;
            blend(t, a, b)
        },
        SMOOTH,
    );
}

#[test]
fn the_broadcasting_ops_twice_with_a_repeated_operand() {
    // b is a row: its gradient is a sum over the rows of each use, and
    // the two uses' sums must add up. Such a sum of terms with random signs
    // can cancel: for div, one entry of db is 4.8e-5, where the centered
    // difference's own error (1.2e-11 absolute: h^2 truncation and rounding)
    // is 1.3e-7 in the course's relative error. Hence 1e-6 here, still five
    // orders below what a lost contribution gives (> 0.1).
    let inputs = [
        randn(&[3, 4], 100),
        away_from_zero(&[4], 101).map(|v| 2.0 * v),
    ];
    for (name, op) in [
        ("add", Tape::add as fn(&mut Tape, Var, Var) -> Result<Var>),
        ("sub", Tape::sub),
        ("mul", Tape::mul),
        ("div", Tape::div),
    ] {
        check(
            &format!("{name} x2 broadcast"),
            &inputs,
            move |t, v| {
                let p = op(t, v[0], v[1])?;
                let h = t.tanh(v[0])?;
                let q = op(t, h, v[1])?;
                let r = op(t, v[0], v[0])?;
                let pq = blend(t, p, q)?;
                blend(t, pq, r)
            },
            1e-6,
        );
    }
}

#[test]
fn the_scalar_and_unary_ops_twice() {
    type Unary = Box<dyn Fn(&mut Tape, Var) -> Result<Var> + Send + Sync>;
    let cases: Vec<(&str, Unary, f64, f64)> = vec![
        ("neg", Box::new(|t, x| t.neg(x)), -2.0, 2.0),
        (
            "add_scalar",
            Box::new(|t, x| t.add_scalar(x, 0.3)),
            -2.0,
            2.0,
        ),
        (
            "mul_scalar",
            Box::new(|t, x| t.mul_scalar(x, -1.7)),
            -2.0,
            2.0,
        ),
        ("exp", Box::new(|t, x| t.exp(x)), -2.0, 2.0),
        ("log", Box::new(|t, x| t.log(x)), 0.5, 3.0),
        ("sqrt", Box::new(|t, x| t.sqrt(x)), 0.5, 3.0),
        ("powf", Box::new(|t, x| t.powf(x, 1.5)), 0.5, 3.0),
        (
            "leaky_relu",
            Box::new(|t, x| t.leaky_relu(x, 0.1)),
            -2.0,
            2.0,
        ),
    ];
    for (name, op, lo, hi) in cases {
        // Away from 0 (leaky_relu's kink): |x| >= 0.1 in every range.
        let x = Tensor::rand_uniform(&[2, 3], &mut rng_from_seed(110))
            .map(|u| lo + (hi - lo) * u)
            .map(|v| if v.abs() < 0.1 { v + 0.3 } else { v });
        check(
            &format!("{name} x2"),
            &[x],
            move |t, v| {
                let a = op(t, v[0])?;
                let s = t.mul_scalar(v[0], 0.8)?;
                let b = op(t, s)?;
                let b = t.mul(b, v[0])?;
                blend(t, a, b)
            },
            SMOOTH,
        );
    }
}

#[test]
fn the_axis_reductions_twice() {
    let x = randn(&[3, 4], 120);
    type Reduce = fn(&mut Tape, Var, usize, bool) -> Result<Var>;
    for (name, op) in [
        ("sum_axis", Tape::sum_axis as Reduce),
        ("mean_axis", Tape::mean_axis),
        ("max_axis", Tape::max_axis),
    ] {
        check(
            &format!("{name} x2"),
            std::slice::from_ref(&x),
            move |t, v| {
                let a = op(t, v[0], 1, true)?; // (3, 1)
                let b = op(t, v[0], 0, true)?; // (1, 4)
                let c = op(t, v[0], 1, false)?; // (3,)
                let ab = t.mul(a, b)?; // (3, 4)
                let c = t.reshape(c, &[3, 1])?;
                t.add(ab, c)
            },
            SMOOTH,
        );
    }
}

#[test]
fn transpose_reshape_and_log_softmax_twice() {
    let x = randn(&[2, 3], 130);
    check(
        "transpose x2",
        std::slice::from_ref(&x),
        |t, v| {
            let a = t.transpose(v[0])?; // (3, 2)
            let b = t.transpose(v[0])?;
            let b = t.tanh(b)?;
            let ab = t.mul(a, b)?;
            let c = t.transpose(ab)?; // (2, 3)
            blend(t, c, v[0])
        },
        SMOOTH,
    );
    check(
        "reshape x2",
        std::slice::from_ref(&x),
        |t, v| {
            let a = t.reshape(v[0], &[3, 2])?;
            let b = t.reshape(v[0], &[6])?;
            let b = t.reshape(b, &[3, 2])?;
            let b = t.tanh(b)?;
            blend(t, a, b)
        },
        SMOOTH,
    );
    check(
        "log_softmax x2",
        std::slice::from_ref(&x),
        |t, v| {
            let a = t.log_softmax(v[0])?;
            let h = t.mul_scalar(v[0], 2.0)?;
            let b = t.log_softmax(h)?;
            let b = t.mul(b, v[0])?;
            blend(t, a, b)
        },
        SMOOTH,
    );
}
