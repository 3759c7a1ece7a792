//! Softmax, log-softmax and the softmax cross-entropy loss, all shifted by
//! the row max so that `exp` never overflows.

use crate::{Error, Result, Tape, Tensor, Var};

/// Row-wise softmax of `(N, C)` scores into `out` (same length), stable for
/// any finite scores.
fn softmax_into(scores: &[f64], c: usize, out: &mut [f64]) {
    for (sr, pr) in scores.chunks(c).zip(out.chunks_mut(c)) {
        let max = sr.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut z = 0.0;
        for (p, s) in pr.iter_mut().zip(sr) {
            *p = (s - max).exp();
            z += *p;
        }
        pr.iter_mut().for_each(|p| *p /= z);
    }
}

/// Row-wise softmax of a tensor read as `(N, C)`, outside any tape: class
/// probabilities for scoring.
///
/// ```
/// use gradtape_core::{softmax_rows, Tensor};
/// let s = Tensor::from_vec(vec![1000.0, 1000.0], &[1, 2]).unwrap();
/// assert_eq!(softmax_rows(&s).data(), &[0.5, 0.5]);
/// ```
pub fn softmax_rows(scores: &Tensor) -> Tensor {
    let (_, c) = scores.shape().as_matrix();
    let mut out = Tensor::zeros(scores.dims());
    if c > 0 {
        softmax_into(scores.data(), c, out.data_mut());
    }
    out
}

impl Tape {
    /// Row-wise softmax of `(N, C)` scores.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let s = t.input(Tensor::from_vec(vec![0.0, 0.0, 0.0, 0.0], &[1, 4]).unwrap());
    /// let p = t.softmax(s).unwrap();
    /// assert_eq!(t.value(p).unwrap().data(), &[0.25; 4]);
    /// ```
    pub fn softmax(&mut self, scores: Var) -> Result<Var> {
        const OP: &str = "softmax";
        let (_, c) = self.scores_shape(OP, scores)?;
        let dims = self.value(scores)?.shape().clone();
        let mut out = self.alloc_scratch(&dims);
        softmax_into(self.value(scores)?.data(), c, out.data_mut());
        self.record(OP, out, &[scores], move |ctx, grads| {
            if let Some(slot) = grads.slot(scores) {
                // ds = p * (g - sum(g * p)) per row, p the op's output
                let rows = ctx
                    .grad_out()
                    .data()
                    .chunks(c)
                    .zip(ctx.output().data().chunks(c));
                slot.write(rows.flat_map(|(dr, pr)| {
                    let dot: f64 = dr.iter().zip(pr).map(|(d, p)| d * p).sum();
                    dr.iter().zip(pr).map(move |(d, p)| p * (d - dot))
                }));
            }
        })
    }

    /// Row-wise log-softmax of `(N, C)` scores: `s - max - log(sum(exp(s - max)))`
    /// per row, finite for any finite scores. `ds = g - softmax(s) * sum(g)`
    /// per row, the softmax read back from the output as `exp(y)`.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let s = t.input(Tensor::from_vec(vec![0.0, 0.0, 1000.0, 0.0], &[2, 2]).unwrap());
    /// let y = t.log_softmax(s).unwrap();
    /// let y = t.value(y).unwrap().data();
    /// assert_eq!(y[0], -(2f64.ln()));
    /// assert_eq!((y[2], y[3]), (0.0, -1000.0)); // no overflow, no log(0)
    /// ```
    pub fn log_softmax(&mut self, scores: Var) -> Result<Var> {
        const OP: &str = "log_softmax";
        let (_, c) = self.scores_shape(OP, scores)?;
        let dims = self.value(scores)?.shape().clone();
        let mut out = self.alloc_scratch(&dims);
        let rows = self
            .value(scores)?
            .data()
            .chunks(c)
            .zip(out.data_mut().chunks_mut(c));
        for (sr, yr) in rows {
            let max = sr.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + sr.iter().map(|s| (s - max).exp()).sum::<f64>().ln();
            for (y, s) in yr.iter_mut().zip(sr) {
                *y = s - lse;
            }
        }
        self.record(OP, out, &[scores], move |ctx, grads| {
            if let Some(slot) = grads.slot(scores) {
                let rows = ctx
                    .grad_out()
                    .data()
                    .chunks(c)
                    .zip(ctx.output().data().chunks(c));
                slot.write(rows.flat_map(|(dr, yr)| {
                    let total: f64 = dr.iter().sum();
                    dr.iter().zip(yr).map(move |(d, y)| d - y.exp() * total)
                }));
            }
        })
    }

    /// Mean softmax cross-entropy of `(N, C)` scores against `labels` (one per
    /// row, each below C), as a rank-0 tensor.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let s = t.input(Tensor::zeros(&[3, 10]));
    /// let loss = t.softmax_cross_entropy(s, &[0, 5, 9]).unwrap();
    /// let l = t.value(loss).unwrap().item().unwrap();
    /// assert!((l - 10f64.ln()).abs() < 1e-12);
    /// assert!(t.softmax_cross_entropy(s, &[0, 5, 10]).is_err()); // label 10 of 10 classes
    /// ```
    pub fn softmax_cross_entropy(&mut self, scores: Var, labels: &[usize]) -> Result<Var> {
        const OP: &str = "softmax_cross_entropy";
        let (n, c) = self.scores_shape(OP, scores)?;
        if labels.len() != n {
            return Err(Error::invalid(
                OP,
                format!(
                    "scores are {} but there are {} labels",
                    self.value(scores)?.shape(),
                    labels.len()
                ),
            ));
        }
        if let Some((i, &y)) = labels.iter().enumerate().find(|(_, &y)| y >= c) {
            return Err(Error::invalid(
                OP,
                format!("label {y} of row {i} is not below the {c} classes"),
            ));
        }
        let dims = self.value(scores)?.shape().clone();
        let mut probs = self.alloc(&dims);
        let mut loss = 0.0;
        for ((sr, pr), &y) in self
            .value(scores)?
            .data()
            .chunks(c)
            .zip(probs.data_mut().chunks_mut(c))
            .zip(labels)
        {
            let max = sr.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut z = 0.0;
            for (p, s) in pr.iter_mut().zip(sr) {
                *p = (s - max).exp();
                z += *p;
            }
            // -log p_y = log z - (s_y - max)
            loss += z.ln() - (sr[y] - max);
            pr.iter_mut().for_each(|p| *p /= z);
        }
        let nf = n as f64;
        let probs = self.cache(probs);
        // The labels, kept for backward as a pooled cache node rather than a
        // copy the closure owns (which would allocate every step). A label
        // is below c, and the (n, c) scores fit in memory, so it is far below
        // 2^53 and exact as an f64.
        let mut label_values = self.alloc_scratch(&[n]);
        for (l, &y) in label_values.data_mut().iter_mut().zip(labels) {
            *l = y as f64;
        }
        let labels = self.cache(label_values);
        let loss = self.scalar(loss / nf);
        self.record(OP, loss, &[scores], move |ctx, grads| {
            if let Some(slot) = grads.slot(scores) {
                // ds = k * (p - onehot(y)), k = dL / N
                let k = ctx.grad_out().data()[0] / nf;
                let rows = ctx.value(probs).data().chunks(c);
                let rows = rows.zip(ctx.value(labels).data());
                slot.write(rows.flat_map(|(pr, &y)| {
                    let y = y as usize;
                    pr.iter()
                        .enumerate()
                        .map(move |(j, p)| if j == y { k * p - k } else { k * p })
                }));
            }
        })
    }

    fn scores_shape(&self, op: &'static str, scores: Var) -> Result<(usize, usize)> {
        self.check(op, scores)?;
        let t = self.value(scores)?;
        match t.dims() {
            [n, c] if *n > 0 && *c > 0 => Ok((*n, *c)),
            _ => Err(Error::invalid(
                op,
                format!(
                    "scores are {}; they must be (N, C) with N, C > 0",
                    t.shape()
                ),
            )),
        }
    }
}
