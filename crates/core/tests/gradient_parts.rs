//! `Tape::backward_with_update` with an update that takes an `affine` (or
//! `matmul`) weight's gradient a part at a time (`ParamUpdate::update_filling`): the
//! parts, in any order and of any whole number of rows, give the bits of
//! the gradient `backward` computes, on odd shapes (a batch of one,
//! non-square, a weight also used by another op), and the update sees the
//! same gradient as one applied after backward.

use gradtape_core::{rng_from_seed, GradFill, ParamUpdate, Result, Tape, Tensor, Var};

/// Records each update; fills product-shaped gradients `rows` rows at a
/// time, last part first.
struct PartsBackwards {
    rows: usize,
    filled: Vec<Var>,
    seen: Vec<(Var, Vec<u64>)>,
}

impl ParamUpdate for PartsBackwards {
    fn update(&mut self, p: Var, value: &mut Tensor, grad: &Tensor) -> Result<()> {
        self.seen.push((p, bits(grad.data())));
        value.data_mut().iter_mut().for_each(|w| *w *= 0.5);
        Ok(())
    }

    fn update_filling(
        &mut self,
        p: Var,
        value: &mut Tensor,
        grad: &mut Tensor,
        fill: &GradFill<'_>,
    ) -> Result<()> {
        let part = self.rows * fill.row_len();
        let parts: Vec<(usize, &mut [f64])> = grad
            .data_mut()
            .chunks_mut(part)
            .enumerate()
            .map(|(i, g)| (i * part, g))
            .collect();
        for (start, g) in parts.into_iter().rev() {
            fill.fill(start, g);
        }
        self.filled.push(p);
        self.update(p, value, grad)
    }
}

fn bits(xs: &[f64]) -> Vec<u64> {
    xs.iter().map(|v| v.to_bits()).collect()
}

/// Back-propagates `loss`, with a [`PartsBackwards`] of `rows` rows when
/// `parts` (else plain `backward`); returns `w`'s gradient as bits and the
/// parameters the update took in parts.
fn grad_bits(tape: &mut Tape, loss: Var, w: Var, rows: usize, parts: bool) -> (Vec<u64>, Vec<Var>) {
    let mut update = PartsBackwards {
        rows,
        filled: Vec::new(),
        seen: Vec::new(),
    };
    if parts {
        tape.backward_with_update(loss, &mut update).unwrap();
    } else {
        tape.backward(loss).unwrap();
    }
    (bits(tape.grad(w).unwrap().data()), update.filled)
}

/// `(batch, d, m)`: a two-layer net `affine(x, w1, b1) -> relu ->
/// affine(., w2, b2)`, with `w1` also in a `sum(w1 * w1)` term when
/// `w1_twice`; returns the tape, its parameters and the loss.
fn net(batch: usize, d: usize, m: usize, w1_twice: bool) -> (Tape, [Var; 4], Var) {
    let mut rng = rng_from_seed(11);
    let mut tape = Tape::new();
    let w1 = tape.param(Tensor::randn(&[d, m], &mut rng)).unwrap();
    let b1 = tape.param(Tensor::randn(&[m], &mut rng)).unwrap();
    let w2 = tape.param(Tensor::randn(&[m, 3], &mut rng)).unwrap();
    let b2 = tape.param(Tensor::randn(&[3], &mut rng)).unwrap();
    let x = tape.input(Tensor::randn(&[batch, d], &mut rng));
    let h = tape.affine(x, w1, b1).unwrap();
    let h = tape.relu(h).unwrap();
    let y = tape.affine(h, w2, b2).unwrap();
    let mut loss = tape.softmax_cross_entropy(y, &vec![1; batch]).unwrap();
    if w1_twice {
        let sq = tape.mul(w1, w1).unwrap();
        let l2 = tape.sum(sq).unwrap();
        loss = tape.add(loss, l2).unwrap();
    }
    (tape, [w1, b1, w2, b2], loss)
}

#[test]
fn gradients_filled_in_parts_have_the_bits_of_backward() {
    // (A batch of 300 is more than one block of the product's k.)
    let shapes = [
        (1, 7, 5, false),
        (4, 13, 3, true),
        (9, 300, 200, false),
        (300, 10, 9, true),
    ];
    for (batch, d, m, twice) in shapes {
        let (mut reference, params, loss) = net(batch, d, m, twice);
        reference.backward(loss).unwrap();
        for rows in [1, 2, 5, 1000] {
            let (mut tape, mine, loss) = net(batch, d, m, twice);
            let mut update = PartsBackwards {
                rows,
                filled: Vec::new(),
                seen: Vec::new(),
            };
            tape.backward_with_update(loss, &mut update).unwrap();
            // Both weights go through the parts; the biases do not.
            assert_eq!(update.filled, [mine[2], mine[0]], "{batch}x{d}x{m}");
            for (p, q) in params.into_iter().zip(mine) {
                let want = bits(reference.grad(p).unwrap().data());
                assert_eq!(
                    bits(tape.grad(q).unwrap().data()),
                    want,
                    "{p:?}, {rows} rows"
                );
                let seen = update.seen.iter().find(|(v, _)| *v == q).unwrap();
                assert_eq!(seen.1, want, "what the update saw for {p:?}");
                let before = reference.value(p).unwrap().data();
                let after = tape.value(q).unwrap().data();
                assert!(after.iter().zip(before).all(|(a, b)| *a == 0.5 * b));
            }
        }
    }
}

#[test]
fn a_matmul_weight_is_taken_in_parts_too() {
    let run = |parts: bool| {
        let mut rng = rng_from_seed(5);
        let mut tape = Tape::new();
        let w = tape.param(Tensor::randn(&[7, 3], &mut rng)).unwrap();
        let x = tape.input(Tensor::randn(&[4, 7], &mut rng));
        let y = tape.matmul(x, w).unwrap();
        let sq = tape.mul(y, y).unwrap();
        let loss = tape.sum(sq).unwrap();
        let (grad, filled) = grad_bits(&mut tape, loss, w, 2, parts);
        (grad, filled == [w])
    };
    let (with_parts, filled) = run(true);
    assert!(filled);
    assert_eq!(with_parts, run(false).0);
}

#[test]
fn a_closure_update_sees_the_whole_product_gradient() {
    // (The second net's weight gradients are large enough to be filled
    // whole over several threads, from the one packed dY.)
    for (batch, d, m) in [(3, 10, 4), (100, 301, 200)] {
        let (mut reference, params, loss) = net(batch, d, m, true);
        reference.backward(loss).unwrap();
        let (mut tape, _, loss) = net(batch, d, m, true);
        let mut seen = Vec::new();
        tape.backward_with(loss, |p, _, g| {
            seen.push((p, bits(g.data())));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 4);
        for (p, g) in seen {
            let q = params[p.index()];
            assert_eq!(g, bits(reference.grad(q).unwrap().data()), "{p:?}");
        }
    }
}

#[test]
fn a_weight_that_is_also_the_input_is_not_taken_in_parts() {
    // affine(w, w, b): the product reads w while its update would change
    // it, so the update gets w's gradient whole, after the product.
    let w0 = Tensor::from_vec(vec![0.5, -1.0, 2.0, 0.25], &[2, 2]).unwrap();
    let run = |parts: bool| {
        let mut tape = Tape::new();
        let w = tape.param(w0.clone()).unwrap();
        let b = tape.param(Tensor::zeros(&[2])).unwrap();
        let y = tape.affine(w, w, b).unwrap();
        let loss = tape.sum(y).unwrap();
        grad_bits(&mut tape, loss, w, 1, parts)
    };
    let (with_update, filled) = run(true);
    assert!(filled.is_empty());
    assert_eq!(with_update, run(false).0);
}

#[test]
fn with_anomaly_detection_nothing_is_taken_in_parts() {
    let (mut tape, params, loss) = net(2, 6, 4, false);
    tape.set_detect_anomaly(true);
    let mut update = PartsBackwards {
        rows: 1,
        filled: Vec::new(),
        seen: Vec::new(),
    };
    tape.backward_with_update(loss, &mut update).unwrap();
    assert!(update.filled.is_empty());
    assert_eq!(update.seen.len(), params.len());
}

#[test]
#[should_panic(expected = "not whole rows")]
fn a_part_that_is_not_whole_rows_is_refused() {
    struct Ragged;
    impl ParamUpdate for Ragged {
        fn update(&mut self, _: Var, _: &mut Tensor, _: &Tensor) -> Result<()> {
            Ok(())
        }
        fn update_filling(
            &mut self,
            _: Var,
            _: &mut Tensor,
            grad: &mut Tensor,
            fill: &GradFill<'_>,
        ) -> Result<()> {
            fill.fill(1, &mut grad.data_mut()[1..]);
            Ok(())
        }
    }
    let (mut tape, _, loss) = net(2, 6, 4, false);
    tape.backward_with_update(loss, &mut Ragged).unwrap();
}
