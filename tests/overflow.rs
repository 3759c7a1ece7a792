//! Sizes never wrap (issue 11, section 1). A shape is checked once, when it
//! is made: the product of its dimensions (a zero counted as one) must not
//! exceed `Shape::MAX_NUMEL`, so every size derived from it is exact.
//!
//! - Regression tests for the report's cases: `Tensor::from_vec(vec![],
//!   &[1 << 32, 1 << 32])` and `Tensor::zeros` of it, and `affine` on x of
//!   shape `(2, 2^63)` (reached through a wrapped, zero, element count).
//! - Properties over huge and overflowing dimensions, for every constructor
//!   and every op on the tape (forward and backward): each returns a value
//!   of exactly the right size, or an error naming the op and the
//!   dimensions, or (the infallible constructors and allocators) panics
//!   with that message. A call that touched memory it does not own would
//!   crash this process instead.
//!
//! Shapes whose element count is valid but between 2^16 and 2^47 are left
//! out of the allocating calls: whether they fit is up to the machine, and
//! this test must not fill it. From 2^47 elements (2^50 bytes, more than
//! x86-64's user address space) the allocator always refuses, so those are
//! in: an error from the `try_` constructors, a clear panic elsewhere.

// The dimensions below (2^32, 2^63) are 64-bit sizes.
#![cfg(target_pointer_width = "64")]

use gradtape::{rng_from_seed, BatchNormStats, Error, Mode, Shape, Tape, Tensor};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The message a call panicked with, or its value.
fn outcome<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// The message a call panicked with (fails the test if it returned).
fn panic_message<T>(f: impl FnOnce() -> T) -> String {
    outcome(f).err().expect("expected a panic")
}

// ---------------------------------------------------------------------------
// The report's cases.

#[test]
fn from_vec_of_a_shape_whose_element_count_overflows_is_an_error() {
    // 2^32 * 2^32 wrapped to 0, so an empty buffer was accepted.
    let err = Tensor::from_vec(vec![], &[1 << 32, 1 << 32]).unwrap_err();
    assert!(
        err.to_string().contains("(4294967296, 4294967296)"),
        "{err}"
    );
    assert!(
        matches!(
            err,
            Error::ShapeTooLarge {
                op: "Tensor::from_vec",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn zeros_of_a_shape_whose_element_count_overflows_panics_clearly() {
    let msg = panic_message(|| Tensor::zeros(&[1 << 32, 1 << 32]));
    assert!(
        msg.contains("Tensor::zeros") && msg.contains("(4294967296, 4294967296)"),
        "{msg}"
    );
    let err = Tensor::try_zeros(&[1 << 32, 1 << 32]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeTooLarge {
                op: "Tensor::try_zeros",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn affine_is_never_reached_with_a_wrapped_shape() {
    // The report's x of shape (2, 2^63): its element count wrapped to 0, so
    // an empty buffer passed as x (and one as w, (2^63, 2)), and affine then
    // called gemm(2, 2^63, 2) on them, which read out of bounds. (0, 2^63)
    // has a true count of 0, but 2^63 elements per row.
    for (xd, wd) in [([2, 1 << 63], [1 << 63, 2]), ([0, 1 << 63], [1 << 63, 0])] {
        let x = Tensor::from_vec(vec![], &xd);
        let w = Tensor::from_vec(vec![], &wd);
        match (x, w) {
            (Ok(x), Ok(w)) => {
                let mut tape = Tape::new();
                let w = tape.param(w).unwrap();
                let b = tape.param(Tensor::zeros(&[wd[1]])).unwrap();
                let x = tape.input(x);
                assert!(tape.affine(x, w, b).is_err(), "x {xd:?}, w {wd:?}");
            }
            (x, w) => assert!(x.is_err() && w.is_err(), "x {xd:?}: {x:?}, w {wd:?}: {w:?}"),
        }
    }
}

#[test]
fn every_tensor_holds_as_many_elements_as_its_shape_says() {
    // The default was shape () (one element) over an empty buffer.
    let t = Tensor::default();
    assert_eq!(t.len(), t.shape().numel());
}

#[test]
fn affine_whose_output_would_overflow_is_an_error() {
    // x (2^50, 0) and w (0, 2^14) are empty, but the output would hold 2^64.
    let mut tape = Tape::new();
    let w = tape.param(Tensor::zeros(&[0, 1 << 14])).unwrap();
    let b = tape.param(Tensor::zeros(&[1 << 14])).unwrap();
    let x = tape.input(Tensor::zeros(&[1 << 50, 0]));
    let err = tape.affine(x, w, b).unwrap_err();
    assert!(
        matches!(err, Error::ShapeTooLarge { op: "affine", .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("(1125899906842624, 16384)"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Properties.

fn runner() -> TestRunner {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    TestRunner::new(Config {
        cases: env("GRADTAPE_PROPTEST_CASES").map_or(256, |c| c as u32),
        rng_seed: RngSeed::Fixed(env("GRADTAPE_PROPTEST_SEED").unwrap_or(11)),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Up to this many elements a shape is allocated for real.
const SMALL: u128 = 1 << 16;
/// From this many elements no allocator on x86-64 can provide the buffer.
const UNALLOCATABLE: u128 = 1 << 47;

/// What a shape is, worked out independently in u128.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Size {
    /// Valid, at most `SMALL` elements.
    Small(usize),
    /// Valid, between `SMALL` and `UNALLOCATABLE` elements: left out of
    /// allocating calls.
    Middle,
    /// Valid, at least `UNALLOCATABLE` elements: the allocator refuses.
    Unallocatable,
    /// The product of the dimensions, zeros counted as ones, exceeds
    /// `Shape::MAX_NUMEL` (or u128).
    TooLarge,
}

fn size(dims: &[usize]) -> Size {
    let mut bound: u128 = 1;
    let mut numel: u128 = 1;
    for &d in dims {
        match bound.checked_mul(d.max(1) as u128) {
            Some(b) if b <= Shape::MAX_NUMEL as u128 => bound = b,
            _ => return Size::TooLarge,
        }
        numel *= d as u128; // at most bound: cannot overflow
    }
    if numel <= SMALL {
        Size::Small(numel as usize)
    } else if numel < UNALLOCATABLE {
        Size::Middle
    } else {
        Size::Unallocatable
    }
}

/// A dimension: small ones, powers of two (and neighbours) up to 2^63,
/// anything, and the extremes.
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0usize..4,
        3 => (8u32..64).prop_map(|k| 1usize << k),
        1 => (8u32..64, -1i8..=1).prop_map(|(k, o)| (1usize << k).wrapping_add_signed(o as isize)),
        1 => any::<usize>(),
        1 => Just(usize::MAX),
    ]
}

fn dims() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(dim(), 0..=5)
}

/// Dimensions of a tensor this test allocates: at most `SMALL` elements,
/// often a zero beside huge dimensions.
fn small_dims(max_rank: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(dim(), 1..=max_rank)
        .prop_filter("allocated for real", |d| matches!(size(d), Size::Small(_)))
}

/// The infallible form of a constructor: a value of `dims`, or a panic
/// naming `op` and the dimensions.
fn check_panicking(
    op: &str,
    dims: &[usize],
    r: Result<Tensor, String>,
) -> Result<(), TestCaseError> {
    match (size(dims), r) {
        (Size::Small(n), Ok(t)) => {
            prop_assert_eq!(t.dims(), dims);
            prop_assert_eq!(t.len(), n);
        }
        (Size::TooLarge, Err(msg)) => {
            prop_assert!(msg.starts_with(op) && msg.contains("too large"), "{}", msg);
        }
        (Size::Unallocatable, Err(msg)) => {
            prop_assert!(
                msg.starts_with(op) && msg.contains("cannot allocate"),
                "{}",
                msg
            );
        }
        (s, r) => prop_assert!(
            false,
            "{} of {:?} ({:?}): {:?}",
            op,
            dims,
            s,
            r.map(|t| t.len())
        ),
    }
    Ok(())
}

/// The fallible form: a value, or the error naming `op` and the dimensions.
fn check_fallible(
    op: &str,
    dims: &[usize],
    r: Result<gradtape::Result<Tensor>, String>,
) -> Result<(), TestCaseError> {
    let r = r.map_err(|msg| TestCaseError::fail(format!("{op} of {dims:?} panicked: {msg}")))?;
    match (size(dims), r) {
        (Size::Small(n), Ok(t)) => {
            prop_assert_eq!(t.dims(), dims);
            prop_assert_eq!(t.len(), n);
        }
        (Size::TooLarge, Err(e @ Error::ShapeTooLarge { .. })) => {
            prop_assert!(e.to_string().starts_with(op), "{}", e);
            let named = matches!(&e, Error::ShapeTooLarge { dims: d, .. } if &d[..] == dims);
            prop_assert!(named, "{:?}", e);
        }
        (Size::Unallocatable, Err(e @ Error::OutOfMemory { .. })) => {
            prop_assert!(e.to_string().starts_with(op), "{}", e);
        }
        (s, r) => prop_assert!(
            false,
            "{} of {:?} ({:?}): {:?}",
            op,
            dims,
            s,
            r.map(|t| t.len())
        ),
    }
    Ok(())
}

#[test]
fn every_constructor_refuses_huge_and_overflowing_shapes() {
    runner()
        .run(&dims(), |dims| {
            let d = &dims[..];
            let s = size(d);
            // Shape itself.
            match (s, Shape::checked("test", d)) {
                (Size::TooLarge, Err(Error::ShapeTooLarge { op: "test", .. })) => {}
                (Size::TooLarge, r) => prop_assert!(false, "{:?}: {:?}", d, r),
                (_, r) => {
                    let shape = r.unwrap();
                    prop_assert_eq!(shape.dims(), d)
                }
            }
            match outcome(|| Shape::from(d)) {
                Ok(shape) => prop_assert!(s != Size::TooLarge && shape.dims() == d),
                Err(msg) => {
                    prop_assert!(s == Size::TooLarge && msg.contains("too large"), "{}", msg)
                }
            }
            // from_vec and reshape check the shape before the length.
            let n = match s {
                Size::Small(n) => n,
                _ => 0,
            };
            let from_vec = outcome(|| Tensor::from_vec(vec![0.5; n], d));
            let reshape = outcome(|| Tensor::from_vec(vec![0.5; n], &[n]).unwrap().reshape(d));
            for (op, r) in [("Tensor::from_vec", from_vec), ("reshape", reshape)] {
                let r = r.map_err(|m| TestCaseError::fail(format!("{op} panicked: {m}")))?;
                match (s, r) {
                    (Size::Small(n), Ok(t)) => prop_assert!(t.dims() == d && t.len() == n),
                    (Size::TooLarge, Err(Error::ShapeTooLarge { op: o, .. })) => {
                        prop_assert_eq!(o, op)
                    }
                    (Size::Middle | Size::Unallocatable, Err(e)) => {
                        prop_assert!(!matches!(e, Error::ShapeTooLarge { .. }), "{}", e)
                    }
                    (s, r) => prop_assert!(false, "{} of {:?} ({:?}): {:?}", op, d, s, r),
                }
            }
            if s == Size::Middle {
                return Ok(()); // not allocated: see the module comment
            }
            let rng = &mut rng_from_seed(0);
            check_fallible("Tensor::try_zeros", d, outcome(|| Tensor::try_zeros(d)))?;
            check_fallible("Tensor::try_ones", d, outcome(|| Tensor::try_ones(d)))?;
            check_fallible("Tensor::try_full", d, outcome(|| Tensor::try_full(d, 2.0)))?;
            check_fallible(
                "Tensor::try_randn",
                d,
                outcome(|| Tensor::try_randn(d, rng)),
            )?;
            let u = outcome(|| Tensor::try_rand_uniform(d, rng));
            check_fallible("Tensor::try_rand_uniform", d, u)?;
            check_panicking("Tensor::zeros", d, outcome(|| Tensor::zeros(d)))?;
            check_panicking("Tensor::ones", d, outcome(|| Tensor::ones(d)))?;
            check_panicking("Tensor::full", d, outcome(|| Tensor::full(d, 2.0)))?;
            check_panicking("Tensor::randn", d, outcome(|| Tensor::randn(d, rng)))?;
            let u = outcome(|| Tensor::rand_uniform(d, rng));
            check_panicking("Tensor::rand_uniform", d, u)?;
            let mut tape = Tape::new();
            check_panicking(
                "Shape::from",
                d,
                outcome(|| tape.alloc(d)).map_err(|m| {
                    // The allocator's own failure names the tape.
                    m.replace("Tape::alloc", "Shape::from")
                }),
            )?;
            if let [d0] = d {
                let stats = outcome(|| BatchNormStats::new(*d0).running_var);
                check_panicking("Tensor::zeros", d, stats)?;
            }
            Ok(())
        })
        .unwrap();
}

/// What one op did: a value (checked for size and then back-propagated),
/// an error, or a panic message.
fn run_op(
    tape: &mut Tape,
    f: impl FnOnce(&mut Tape) -> gradtape::Result<gradtape::Var>,
) -> Result<gradtape::Result<Tensor>, String> {
    outcome(|| {
        let y = f(tape)?;
        let out = tape.value(y)?.clone();
        if tape.requires_grad(y) {
            let s = tape.sum(y)?;
            tape.backward(s)?;
        }
        Ok(out)
    })
}

#[test]
fn every_op_on_the_tape_refuses_or_handles_huge_dimensions() {
    let case = (small_dims(4), small_dims(4), small_dims(2), 0usize..4);
    runner()
        .run(&case, |(a, b, c, m)| {
            let ta = Tensor::full(&a, 0.5);
            let tb = Tensor::full(&b, 0.25);
            let tc = Tensor::full(&c, 1.5);
            let (n, d) = ta.shape().as_matrix();
            // Every op on every combination of these operands, as leaves
            // that need a gradient: an error is fine, a panic is not.
            type Op = Box<dyn Fn(&mut Tape, [gradtape::Var; 3]) -> gradtape::Result<gradtape::Var>>;
            let labels = vec![0; n.min(16)];
            let ops: Vec<(&str, Op)> = vec![
                ("relu", Box::new(|t, v| t.relu(v[0]))),
                ("add", Box::new(|t, v| t.add(v[0], v[1]))),
                ("mul", Box::new(|t, v| t.mul(v[0], v[0]))),
                ("scale", Box::new(|t, v| t.scale(v[0], 3.0))),
                ("sum", Box::new(|t, v| t.sum(v[0]))),
                ("mean", Box::new(|t, v| t.mean(v[0]))),
                ("sum_squares", Box::new(|t, v| t.sum_squares(v[0]))),
                ("softmax", Box::new(|t, v| t.softmax(v[0]))),
                (
                    "softmax_cross_entropy",
                    Box::new(move |t, v| t.softmax_cross_entropy(v[0], &labels)),
                ),
                (
                    "dropout",
                    Box::new(|t, v| t.dropout(v[0], 0.5, Mode::Train, &mut rng_from_seed(1))),
                ),
                ("affine", Box::new(|t, v| t.affine(v[0], v[1], v[2]))),
                (
                    "batchnorm",
                    Box::new(|t, v| {
                        let dd = t.value(v[1])?.len();
                        t.batchnorm(v[0], v[1], v[2], Mode::Train, &mut BatchNormStats::new(dd))
                    }),
                ),
            ];
            // affine's output is (N of a, M of b): never allocate one of
            // a size up to the machine (see the module comment).
            let m_b = if let [_, m_b] = b[..] { m_b } else { 0 };
            let affine_out_middle = size(&[n, m_b]) == Size::Middle;
            for (name, op) in &ops {
                if *name == "affine" && affine_out_middle {
                    continue;
                }
                let mut tape = Tape::new();
                let v = [
                    tape.leaf(ta.clone()),
                    tape.leaf(tb.clone()),
                    tape.leaf(tc.clone()),
                ];
                let r = run_op(&mut tape, |t| op(t, v));
                prop_assert!(
                    r.is_ok(),
                    "{} on {:?}, {:?}, {:?} panicked: {:?}",
                    name,
                    a,
                    b,
                    c,
                    r.err()
                );
            }

            // affine with operands that fit together: x (N, D) read from a,
            // w (D, m), b (m,). Only a zero somewhere makes D huge here.
            let fits = |dims: &[usize]| matches!(size(dims), Size::Small(_));
            let run = fits(&[d, m]) && size(&[n, m]) != Size::Middle;
            if run {
                let mut tape = Tape::new();
                let w = tape.param(Tensor::full(&[d, m], 0.5)).unwrap();
                let bias = tape.param(Tensor::full(&[m], 1.0)).unwrap();
                let x = tape.leaf(ta.clone());
                let r = run_op(&mut tape, |t| t.affine(x, w, bias));
                check_output("affine", &[n, m], r)?;
            }
            // The same through Tensor::matmul: a read as (N, D).
            if run {
                let lhs = ta.clone().reshape(&[n, d]).unwrap();
                let r = outcome(|| lhs.matmul(&Tensor::full(&[d, m], 0.5)));
                check_output("matmul", &[n, m], r)?;
            }
            // Reductions and views of a as (N, D) outside the tape.
            let r = outcome(|| gradtape::softmax_rows(&ta));
            prop_assert!(r.is_ok(), "softmax_rows of {:?}: {:?}", a, r.err());
            match outcome(|| ta.argmax_rows()) {
                Ok(rows) => prop_assert_eq!(rows.len(), if d == 0 { 0 } else { n }),
                Err(msg) => prop_assert!(d == 0 && n > 0 && msg.contains("argmax_rows"), "{}", msg),
            }
            Ok(())
        })
        .unwrap();
}

/// An op whose output is `(n, m)`: the value, or (when that shape is too
/// large) the op's `ShapeTooLarge`, or (when it cannot be allocated) a panic
/// saying so.
fn check_output(
    op: &str,
    out: &[usize],
    r: Result<gradtape::Result<Tensor>, String>,
) -> Result<(), TestCaseError> {
    match (size(out), r) {
        (Size::Small(n), Ok(Ok(t))) => prop_assert!(t.dims() == out && t.len() == n),
        (Size::TooLarge, Ok(Err(Error::ShapeTooLarge { op: o, .. }))) => prop_assert_eq!(o, op),
        (Size::Unallocatable, Ok(Err(Error::OutOfMemory { .. }))) => {}
        (Size::Unallocatable, Err(msg)) => prop_assert!(msg.contains("cannot allocate"), "{}", msg),
        (s, r) => prop_assert!(
            false,
            "{} to {:?} ({:?}): {:?}",
            op,
            out,
            s,
            r.map(|r| r.map(|t| t.len()))
        ),
    }
    Ok(())
}
