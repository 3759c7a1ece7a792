//! Property-based tests (proptest):
//!
//! - every op's backward against centered finite differences
//!   ([`gradtape::gradcheck::check_gradients`], relative error < 1e-6) on
//!   random shapes, batch of one included, and random values: affine, ReLU
//!   (inputs kept 1e-3 away from its kink), batchnorm (N >= 3, columns not
//!   constant), softmax cross-entropy, softmax, dropout with a fixed mask,
//!   and the elementwise arithmetic (mul, add, scale, sum_squares, mean);
//! - the CIFAR-10 reader and the checkpoint loader on random and mutated
//!   bytes: never a panic, never an allocation out of proportion to the
//!   input (a counting global allocator watches each call), and never a
//!   silently different result (a checkpoint that loads after mutation
//!   holds exactly what was saved).
//!
//! Each property runs 64 cases from a fixed seed, so CI is reproducible; set
//! GRADTAPE_PROPTEST_CASES and GRADTAPE_PROPTEST_SEED to explore further.

use gradtape::checkpoint::raw::{load_bytes, Loaded};
use gradtape::checkpoint::{save_net, save_training};
use gradtape::data::{get_cifar10_data, RECORD_BYTES};
use gradtape::gradcheck::check_gradients;
use gradtape::nn::{FcConfig, FullyConnectedNet, Model, Normalization};
use gradtape::optim::UpdateRule;
use gradtape::train::{InMemory, Solver, SolverOptions};
use gradtape::{rng_from_seed, BatchNormStats, Mode, Result, Tape, Tensor, Var};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

// ---------------------------------------------------------------------------
// The largest single allocation on this thread since the last reset.

struct Watching;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: GlobalAlloc's contract (a block valid for the layout, or null;
// never unwinding) holds because every method passes its arguments unchanged
// to `System`, which keeps it, and returns System's result; `note` only
// updates a thread-local Cell (`try_with`: no allocation, no panic, even
// while a thread's locals are being torn down). Each `unsafe fn` body's
// calls into `System` are sound by the same forwarding: our caller's
// guarantees for `layout` and `ptr` are exactly System's requirements.
unsafe impl GlobalAlloc for Watching {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static WATCHING: Watching = Watching;

/// Runs `f`, returning its result and the largest single allocation it made.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let out = f();
    (out, LARGEST.with(|l| l.get()))
}

// ---------------------------------------------------------------------------

/// Cases per property.
const CASES: u32 = 64;
/// The tolerance of every gradient check.
const TOL: f64 = 1e-6;

fn runner() -> TestRunner {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    TestRunner::new(Config {
        cases: env("GRADTAPE_PROPTEST_CASES").map_or(CASES, |c| c as u32),
        rng_seed: RngSeed::Fixed(env("GRADTAPE_PROPTEST_SEED").unwrap_or(231)),
        failure_persistence: None,
        ..Config::default()
    })
}

/// A tensor of `dims` with values from `values`.
fn tensor(dims: Vec<usize>, values: impl Strategy<Value = f64>) -> impl Strategy<Value = Tensor> {
    let n: usize = dims.iter().product();
    prop::collection::vec(values, n).prop_map(move |v| Tensor::from_vec(v, &dims).unwrap())
}

/// The finite differences' rounding is about `1e-16 |f| / h = 1e-11 |f|`
/// (f = sum(y * dout), h = 1e-5): a gradient element below
/// `TINY * max(1, |f|)` (but not exactly 0) would make the course's relative
/// error measure that rounding, not the backward, so such cases are
/// skipped. A random upstream gradient makes them rare: an element of
/// `dW = X^T dY` or of the softmax backward that nearly cancels.
const TINY: f64 = 1e-4;

fn check(
    inputs: &[Tensor],
    build: impl Fn(&mut Tape, &[Var]) -> Result<Var>,
    seed: u64,
) -> std::result::Result<(), TestCaseError> {
    let fail = |e: gradtape::Error| TestCaseError::fail(e.to_string());
    // The analytic side exactly as check_gradients computes it, to skip
    // ill-conditioned cases before comparing.
    let mut tape = Tape::new();
    let vars: Vec<Var> = inputs.iter().map(|t| tape.leaf(t.clone())).collect();
    let y = build(&mut tape, &vars).map_err(fail)?;
    let dout = Tensor::randn(
        tape.value(y).map_err(fail)?.dims(),
        &mut rng_from_seed(seed),
    );
    let d = tape.input(dout);
    let yd = tape.mul(y, d).map_err(fail)?;
    let loss = tape.sum(yd).map_err(fail)?;
    tape.backward(loss).map_err(fail)?;
    let f = tape.value(loss).map_err(fail)?.item().map_err(fail)?;
    let tiny = TINY * f.abs().max(1.0);
    for v in &vars {
        if let Some(g) = tape.grad(*v) {
            prop_assume!(g.data().iter().all(|x| *x == 0.0 || x.abs() >= tiny));
        }
    }
    let errors = check_gradients(inputs, build, seed).map_err(fail)?;
    for (i, e) in errors.iter().enumerate() {
        prop_assert!(
            *e < TOL,
            "input {i}: relative error {e:e} (all: {errors:?})"
        );
    }
    Ok(())
}

const V: std::ops::Range<f64> = -2.0..2.0;

#[test]
fn affine_backward_matches_finite_differences() {
    let shapes = (1usize..=4, 1usize..=5, 1usize..=4);
    let case = shapes.prop_flat_map(|(n, d, m)| {
        (
            tensor(vec![n, d], V),
            tensor(vec![d, m], V),
            tensor(vec![m], V),
            any::<u64>(),
        )
    });
    runner()
        .run(&case, |(x, w, b, seed)| {
            check(&[x, w, b], |t, v| t.affine(v[0], v[1], v[2]), seed)
        })
        .unwrap();
}

#[test]
fn relu_backward_matches_finite_differences_away_from_the_kink() {
    let away = (1e-3f64..2.0, any::<bool>()).prop_map(|(m, neg)| if neg { -m } else { m });
    let case = (1usize..=4, 1usize..=6)
        .prop_flat_map(move |(n, d)| (tensor(vec![n, d], away.clone()), any::<u64>()));
    runner()
        .run(&case, |(x, seed)| check(&[x], |t, v| t.relu(v[0]), seed))
        .unwrap();
}

#[test]
fn batchnorm_backward_matches_finite_differences() {
    let case = (3usize..=6, 1usize..=4).prop_flat_map(|(n, d)| {
        (
            tensor(vec![n, d], V),
            tensor(vec![d], 0.5f64..1.5),
            tensor(vec![d], -1.0f64..1.0),
            any::<u64>(),
        )
    });
    runner()
        .run(&case, |(x, gamma, beta, seed)| {
            // A column of near-equal values has a standard deviation close
            // to sqrt(eps), where h = 1e-5 is no longer small: keep columns
            // spread (the notebook's inputs are).
            let (n, d) = (x.dims()[0], x.dims()[1]);
            for j in 0..d {
                let col: Vec<f64> = (0..n).map(|i| x.at(&[i, j])).collect();
                let mean = col.iter().sum::<f64>() / n as f64;
                let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
                prop_assume!(var.sqrt() > 0.2);
            }
            check(
                &[x, gamma, beta],
                move |t, v| t.batchnorm(v[0], v[1], v[2], Mode::Train, &mut BatchNormStats::new(d)),
                seed,
            )
        })
        .unwrap();
}

#[test]
fn softmax_cross_entropy_backward_matches_finite_differences() {
    let case = (1usize..=5, 1usize..=6).prop_flat_map(|(n, c)| {
        (
            tensor(vec![n, c], -3.0f64..3.0),
            prop::collection::vec(0..c, n),
            any::<u64>(),
        )
    });
    runner()
        .run(&case, |(s, labels, seed)| {
            check(
                &[s],
                move |t, v| t.softmax_cross_entropy(v[0], &labels),
                seed,
            )
        })
        .unwrap();
}

#[test]
fn softmax_backward_matches_finite_differences() {
    let case = (1usize..=5, 1usize..=6)
        .prop_flat_map(|(n, c)| (tensor(vec![n, c], -3.0f64..3.0), any::<u64>()));
    runner()
        .run(&case, |(s, seed)| check(&[s], |t, v| t.softmax(v[0]), seed))
        .unwrap();
}

#[test]
fn dropout_backward_with_a_fixed_mask_matches_finite_differences() {
    let case = (1usize..=4, 1usize..=6).prop_flat_map(|(n, d)| {
        (
            tensor(vec![n, d], V),
            0.2f64..=1.0,
            any::<u64>(),
            any::<u64>(),
        )
    });
    runner()
        .run(&case, |(x, p, mask_seed, seed)| {
            check(
                &[x],
                move |t, v| t.dropout(v[0], p, Mode::Train, &mut rng_from_seed(mask_seed)),
                seed,
            )
        })
        .unwrap();
}

#[test]
fn elementwise_arithmetic_backward_matches_finite_differences() {
    let shape = prop::collection::vec(1usize..=3, 1..=3);
    let case = shape.prop_flat_map(|dims| {
        (
            tensor(dims.clone(), V),
            tensor(dims, V),
            -2.0f64..2.0,
            any::<u64>(),
        )
    });
    runner()
        .run(&case, |(a, b, c, seed)| {
            // (a * b + a) * c, a used twice; then through the reductions,
            // mean(a * b) + c / n * sum(b^2) (kept O(1), so the finite
            // differences' rounding stays small).
            let n = a.len() as f64;
            check(
                &[a.clone(), b.clone()],
                move |t, v| {
                    let ab = t.mul(v[0], v[1])?;
                    let s = t.add(ab, v[0])?;
                    t.scale(s, c)
                },
                seed,
            )?;
            check(
                &[a, b],
                move |t, v| {
                    let ab = t.mul(v[0], v[1])?;
                    let m = t.mean(ab)?;
                    let sq = t.sum_squares(v[1])?;
                    let sq = t.scale(sq, c / n)?;
                    t.add(m, sq)
                },
                seed,
            )
        })
        .unwrap();
}

// ---------------------------------------------------------------------------
// Readers on random bytes.

#[test]
fn the_cifar_reader_never_panics_on_random_files() {
    // Whole records with random labels (some valid), or any length at all.
    let file = prop_oneof![
        (0usize..=3, any::<u64>()).prop_map(|(records, seed)| {
            let mut rng = rng_from_seed(seed);
            let mut bytes = Tensor::rand_uniform(&[records * RECORD_BYTES], &mut rng)
                .data()
                .iter()
                .map(|u| (u * 256.0) as u8)
                .collect::<Vec<u8>>();
            for r in 0..records {
                bytes[r * RECORD_BYTES] %= 12; // labels 0..11: 10 and 11 are bad
            }
            bytes
        }),
        prop::collection::vec(any::<u8>(), 0..2 * RECORD_BYTES + 2),
    ];
    let case = (file, 0usize..=3, 0usize..=2, any::<bool>());
    let dir = tempfile::tempdir().unwrap();
    runner()
        .run(&case, |(bytes, train, val, as_test)| {
            let name = if as_test {
                "test_batch.bin"
            } else {
                "data_batch_1.bin"
            };
            let _ = std::fs::remove_file(dir.path().join("test_batch.bin"));
            std::fs::write(dir.path().join("data_batch_1.bin"), &bytes).unwrap();
            std::fs::write(dir.path().join(name), &bytes).unwrap();
            let test = if as_test { 1 } else { 0 };
            let (result, largest) =
                largest_allocation(|| get_cifar10_data(dir.path(), train, val, test, train > 0));
            prop_assert!(
                largest <= 16 * bytes.len() + (1 << 20),
                "{largest} bytes allocated at once for a {}-byte file",
                bytes.len()
            );
            let whole = bytes.len() / RECORD_BYTES;
            let needed = train + val;
            match result {
                Ok(data) => {
                    // Only the files the request needs are read.
                    if needed > 0 || as_test {
                        prop_assert!(bytes.len() % RECORD_BYTES == 0);
                    }
                    prop_assert!(whole >= needed && (!as_test || whole >= 1));
                    prop_assert_eq!(data.train.len(), train);
                    prop_assert_eq!(data.val.len(), val);
                    let labels = data.train.labels().iter().chain(data.val.labels());
                    for (i, &l) in labels.enumerate() {
                        prop_assert!(l < 10);
                        prop_assert_eq!(l, bytes[i * RECORD_BYTES] as usize);
                    }
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
            Ok(())
        })
        .unwrap();
}

/// A small net and a training checkpoint of it, as bytes.
fn checkpoints() -> (Vec<u8>, Vec<u8>, Loaded, Loaded) {
    let config = FcConfig {
        hidden_dims: vec![5, 4],
        input_dim: 3,
        num_classes: 3,
        normalization: Normalization::BatchNorm,
        dropout: 0.8,
        weight_scale: 0.2,
        ..FcConfig::default()
    };
    let x = Tensor::randn(&[30, 3], &mut rng_from_seed(1));
    let data = InMemory::new(x, (0..30).map(|i| i % 3).collect()).unwrap();
    let net = FullyConnectedNet::new(config.clone()).unwrap();
    let options = SolverOptions {
        num_epochs: 2,
        batch_size: 10,
        update_rule: UpdateRule::Adam,
        verbose: false,
        ..SolverOptions::default()
    };
    let mut s = Solver::new(net, data.clone(), data, options).unwrap();
    s.train_until_epoch(1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (n, t) = (dir.path().join("n"), dir.path().join("t"));
    let state = s.model_ref().snapshot();
    save_net(&n, &config, &state).unwrap();
    let optim = s.optimizer().export_state();
    save_training(&t, &config, &state, &optim, &s.progress()).unwrap();
    let (nb, tb) = (std::fs::read(n).unwrap(), std::fs::read(t).unwrap());
    let (nl, tl) = (
        load_bytes(nb.clone()).unwrap(),
        load_bytes(tb.clone()).unwrap(),
    );
    (nb, tb, nl, tl)
}

#[test]
fn the_checkpoint_loader_never_panics_and_never_loads_a_changed_file() {
    let (net_bytes, training_bytes, net, training) = checkpoints();
    // Random bytes; a checkpoint with bytes overwritten; one cut short.
    let edits = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4);
    let case = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512).prop_map(|b| (b, None)),
        (any::<bool>(), edits)
            .prop_map(|(which, edits)| (edits, which))
            .prop_map(move |(edits, which)| {
                let mut b = if which {
                    training_bytes.clone()
                } else {
                    net_bytes.clone()
                };
                for (i, v) in edits {
                    let i = i.index(b.len());
                    b[i] = v;
                }
                (b, Some(which))
            }),
        (any::<bool>(), any::<prop::sample::Index>()).prop_map({
            let (n, t) = checkpoints_bytes();
            move |(which, cut)| {
                let b = if which { &t } else { &n };
                (b[..cut.index(b.len())].to_vec(), Some(which))
            }
        }),
    ];
    // A header length prefix claiming a huge header, on a short file.
    let mut huge = (1u64 << 40).to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    assert!(load_bytes(huge).is_err());
    runner()
        .run(&case, |(bytes, origin)| {
            let len = bytes.len();
            let (result, largest) = largest_allocation(|| load_bytes(bytes));
            prop_assert!(
                largest <= 16 * len + (1 << 20),
                "{largest} bytes allocated at once for {len} bytes of input"
            );
            if let Ok(loaded) = result {
                // Only a change that means nothing (a space in the header's
                // padding made another space) may load; it must load the
                // same state.
                let expected = match origin {
                    Some(true) => &training,
                    Some(false) => &net,
                    None => panic!("random bytes loaded as a checkpoint"),
                };
                prop_assert!(
                    same(&loaded, expected),
                    "a changed file loaded a different state"
                );
            }
            Ok(())
        })
        .unwrap();
}

fn checkpoints_bytes() -> (Vec<u8>, Vec<u8>) {
    let (n, t, _, _) = checkpoints();
    (n, t)
}

/// Equal, with NaN equal to NaN (compares the histories by bits).
fn same(a: &Loaded, b: &Loaded) -> bool {
    match (a, b) {
        (Loaded::Training(x), Loaded::Training(y)) => {
            let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            let hx = &x.progress.history;
            let hy = &y.progress.history;
            bits(&hx.loss_history) == bits(&hy.loss_history) && x == y
        }
        _ => a == b,
    }
}
