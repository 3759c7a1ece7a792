//! Batch normalisation over the batch dimension of an `(N, D)` input.
//!
//! Train mode normalises each column with the batch mean and biased variance
//! (eps 1e-5) and updates the running statistics with momentum 0.9 as the
//! course code does: `running = 0.9 * running + 0.1 * batch`, starting from
//! zero, with the biased batch variance. (PyTorch and candle use the opposite
//! momentum convention and the unbiased variance.) Test mode normalises with
//! the running statistics. Backward is the full expression through the batch
//! statistics.

use crate::{Error, GradSlot, Mode, Result, Tape, Tensor, Var};

/// The running mean and variance a batchnorm layer keeps between batches,
/// with its momentum and epsilon.
///
/// ```
/// use gradtape_core::BatchNormStats;
/// let s = BatchNormStats::new(3);
/// assert_eq!(s.running_mean.data(), &[0.0; 3]);
/// assert_eq!((s.momentum, s.eps), (0.9, 1e-5));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormStats {
    /// Running mean per feature, `(D,)`.
    pub running_mean: Tensor,
    /// Running (biased) variance per feature, `(D,)`.
    pub running_var: Tensor,
    /// Weight of the old running value in each update.
    pub momentum: f64,
    /// Added to the variance before the square root.
    pub eps: f64,
}

impl BatchNormStats {
    /// Zeroed statistics for `d` features, momentum 0.9, eps 1e-5.
    pub fn new(d: usize) -> Self {
        BatchNormStats {
            running_mean: Tensor::zeros(&[d]),
            running_var: Tensor::zeros(&[d]),
            momentum: 0.9,
            eps: 1e-5,
        }
    }
}

impl Tape {
    /// `gamma * (x - mean) / sqrt(var + eps) + beta`, per column of `x (N, D)`,
    /// with the batch's statistics in [`Mode::Train`] (updating `stats`) and
    /// the running ones in [`Mode::Test`].
    ///
    /// ```
    /// use gradtape_core::{BatchNormStats, Mode, Tape, Tensor};
    /// let mut t = Tape::new();
    /// let gamma = t.param(Tensor::ones(&[2])).unwrap();
    /// let beta = t.param(Tensor::zeros(&[2])).unwrap();
    /// let x = t.input(Tensor::from_vec(vec![1.0, 10.0, 3.0, 30.0], &[2, 2]).unwrap());
    /// let mut stats = BatchNormStats::new(2);
    /// let y = t.batchnorm(x, gamma, beta, Mode::Train, &mut stats).unwrap();
    /// let y = t.value(y).unwrap();
    /// assert!((y.at(&[0, 0]) + 1.0).abs() < 1e-4 && (y.at(&[1, 1]) - 1.0).abs() < 1e-4);
    /// let rm = stats.running_mean.data(); // 0.9 * 0 + 0.1 * batch mean
    /// assert!((rm[0] - 0.2).abs() < 1e-12 && (rm[1] - 2.0).abs() < 1e-12);
    /// ```
    pub fn batchnorm(
        &mut self,
        x: Var,
        gamma: Var,
        beta: Var,
        mode: Mode,
        stats: &mut BatchNormStats,
    ) -> Result<Var> {
        const OP: &str = "batchnorm";
        let (n, d) = self.normalization_shapes(OP, x, gamma, beta)?;
        let tx = self.value(x)?;
        if stats.running_mean.dims() != [d] || stats.running_var.dims() != [d] {
            return Err(Error::shapes(
                OP,
                "x",
                tx.shape(),
                "running_mean",
                stats.running_mean.shape(),
            ));
        }
        if n == 0 {
            return Err(Error::invalid(OP, "x is an empty batch (N = 0)"));
        }
        if d == 0 {
            return Err(Error::invalid(OP, "x has no features (D = 0)"));
        }
        // The statistics in pooled buffers, given back below: a training
        // step allocates nothing.
        let (mut mean, mut var) = (self.alloc(&[d]), self.alloc(&[d]));
        match mode {
            Mode::Train => {
                let tx = self.value(x)?;
                column_mean_var(tx.data(), n, d, mean.data_mut(), var.data_mut());
                let mo = stats.momentum;
                let rm = stats.running_mean.data_mut().iter_mut().zip(mean.data());
                rm.for_each(|(r, b)| *r = mo * *r + (1.0 - mo) * b);
                let rv = stats.running_var.data_mut().iter_mut().zip(var.data());
                rv.for_each(|(r, b)| *r = mo * *r + (1.0 - mo) * b);
            }
            Mode::Test => {
                mean.data_mut().copy_from_slice(stats.running_mean.data());
                var.data_mut().copy_from_slice(stats.running_var.data());
            }
        }
        let mut inv_std = self.alloc_scratch(&[d]);
        for (s, v) in inv_std.data_mut().iter_mut().zip(var.data()) {
            *s = 1.0 / (v + stats.eps).sqrt();
        }
        let mut xhat = self.alloc_scratch(&[n, d]);
        let mut out = self.alloc_scratch(&[n, d]);
        let (tx, tg, tb) = (self.value(x)?, self.value(gamma)?, self.value(beta)?);
        // Zipped slices, not indices: no bounds checks, so the loop
        // vectorises (indexing through the tensors reloaded every pointer
        // per element).
        let per_column = mean
            .data()
            .iter()
            .zip(inv_std.data())
            .zip(tg.data().iter().zip(tb.data()));
        let rows = tx.data().chunks(d).zip(xhat.data_mut().chunks_mut(d));
        for ((xr, hr), or) in rows.zip(out.data_mut().chunks_mut(d)) {
            let row = hr
                .iter_mut()
                .zip(or.iter_mut())
                .zip(xr)
                .zip(per_column.clone());
            for (((h, o), &x), ((&m, &s), (&g, &b))) in row {
                *h = (x - m) * s;
                *o = g * *h + b;
            }
        }
        self.recycle(mean);
        self.recycle(var);
        let xhat = self.cache(xhat);
        let inv_std = self.cache(inv_std);
        self.record(OP, out, &[x, gamma, beta], move |ctx, grads| {
            let g = ctx.grad_out().data();
            let h = ctx.value(xhat).data();
            // Column sums of dY and of dY * xhat: dbeta and dgamma, and the two
            // terms of the full batch-statistics backward.
            let mut sums = grads.scratch(2 * d);
            let (sum_g, sum_gh) = sums.split_at_mut(d);
            for (gr, hr) in g.chunks(d).zip(h.chunks(d)) {
                let sums = sum_g.iter_mut().zip(sum_gh.iter_mut());
                for ((sg, sgh), (&g, &h)) in sums.zip(gr.iter().zip(hr)) {
                    *sg += g;
                    *sgh += g * h;
                }
            }
            if let Some(slot) = grads.slot(beta) {
                super::add_assign(slot.zeroed(), sum_g);
            }
            if let Some(slot) = grads.slot(gamma) {
                super::add_assign(slot.zeroed(), sum_gh);
            }
            if let Some(slot) = grads.slot(x) {
                let gam = ctx.value(gamma).data();
                let s = ctx.value(inv_std).data();
                let nf = n as f64;
                // Indexed loops over each row (assign when fresh, else add:
                // the branch goes the same way for every element).
                let (gx, fresh) = match slot {
                    GradSlot::Fresh(gx) => (gx, true),
                    GradSlot::Accumulate(gx) => (gx, false),
                };
                let per_column = gam.iter().zip(s).zip(sum_g.iter().zip(&*sum_gh));
                for ((gxr, gr), hr) in gx.chunks_mut(d).zip(g.chunks(d)).zip(h.chunks(d)) {
                    let row = gxr.iter_mut().zip(gr).zip(hr).zip(per_column.clone());
                    for (((gx, &g), &h), ((&gam, &s), (&sg, &sgh))) in row {
                        let k = gam * s;
                        let v = match mode {
                            // dx = gamma/sigma * (dY - mean(dY) - xhat * mean(dY * xhat))
                            Mode::Train => k * (g - (sg + h * sgh) / nf),
                            Mode::Test => k * g,
                        };
                        if fresh {
                            *gx = v;
                        } else {
                            *gx += v;
                        }
                    }
                }
            }
            grads.recycle(sums);
        })
    }
}

/// Per-column mean and biased variance of an `(n, d)` row-major buffer
/// (two passes, for accuracy), into `mean` and `var` (`d` zeros each).
fn column_mean_var(x: &[f64], n: usize, d: usize, mean: &mut [f64], var: &mut [f64]) {
    let nf = n as f64;
    for row in x.chunks(d) {
        super::add_assign(mean, row);
    }
    mean.iter_mut().for_each(|m| *m /= nf);
    for row in x.chunks(d) {
        for ((v, &x), &m) in var.iter_mut().zip(row).zip(&*mean) {
            let c = x - m;
            *v += c * c;
        }
    }
    var.iter_mut().for_each(|v| *v /= nf);
}
