//! Layer normalisation, the course's convention: each row of an `(N, D)`
//! input is normalised over its D features with the row's mean and biased
//! variance, then scaled by `gamma` and shifted by `beta` (both `(D,)`).
//! Train and test time compute the same thing, so there is no mode and no
//! running statistics.

use crate::{Error, Result, Tape, Var};

impl Tape {
    /// `gamma * (x - mean) / sqrt(var + eps) + beta`, per row of `x (N, D)`.
    ///
    /// Backward, per row, with `dxhat = g * gamma`:
    /// `dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))`,
    /// `dgamma = sum over rows of g * xhat`, `dbeta = sum over rows of g`.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let gamma = t.param(Tensor::ones(&[3])).unwrap();
    /// let beta = t.param(Tensor::zeros(&[3])).unwrap();
    /// let x = t.input(Tensor::from_vec(vec![1.0, 2.0, 3.0, 10.0, 10.0, 40.0], &[2, 3]).unwrap());
    /// let y = t.layernorm(x, gamma, beta, 1e-5).unwrap();
    /// let y = t.value(y).unwrap();
    /// // each row has mean 0 and variance ~1 over its features
    /// for row in y.data().chunks(3) {
    ///     let mean = row.iter().sum::<f64>() / 3.0;
    ///     let var = row.iter().map(|v| v * v).sum::<f64>() / 3.0;
    ///     assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-4);
    /// }
    /// ```
    pub fn layernorm(&mut self, x: Var, gamma: Var, beta: Var, eps: f64) -> Result<Var> {
        const OP: &str = "layernorm";
        let (n, d) = self.normalization_shapes(OP, x, gamma, beta)?;
        let tx = self.value(x)?;
        if d == 0 {
            return Err(Error::invalid(
                OP,
                format!("x is {}: rows with no features", tx.shape()),
            ));
        }
        if !(eps >= 0.0 && eps.is_finite()) {
            return Err(Error::invalid(
                OP,
                format!("eps = {eps} is not a finite number >= 0"),
            ));
        }
        let mut xhat = self.alloc_scratch(&[n, d]);
        let mut inv_std = self.alloc_scratch(&[n]);
        let mut out = self.alloc_scratch(&[n, d]);
        let (tx, tg, tb) = (self.value(x)?, self.value(gamma)?, self.value(beta)?);
        let (gam, bet) = (tg.data(), tb.data());
        let df = d as f64;
        let rows = tx.data().chunks(d).zip(xhat.data_mut().chunks_mut(d));
        for (((xr, hr), or), s) in rows
            .zip(out.data_mut().chunks_mut(d))
            .zip(inv_std.data_mut())
        {
            // Two passes over the row, for accuracy.
            let mean = xr.iter().sum::<f64>() / df;
            let var = xr.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / df;
            *s = 1.0 / (var + eps).sqrt();
            // Zipped, not indexed: no bounds checks, so the loop vectorises.
            let row = hr
                .iter_mut()
                .zip(or.iter_mut())
                .zip(xr)
                .zip(gam.iter().zip(bet));
            for (((h, o), &x), (&g, &b)) in row {
                *h = (x - mean) * *s;
                *o = g * *h + b;
            }
        }
        let xhat = self.cache(xhat);
        let inv_std = self.cache(inv_std);
        self.record(OP, out, &[x, gamma, beta], move |ctx, grads| {
            let g = ctx.grad_out().data();
            let h = ctx.value(xhat).data();
            if let Some(slot) = grads.slot(beta) {
                let gb = slot.zeroed();
                for gr in g.chunks(d) {
                    super::add_assign(gb, gr);
                }
            }
            if let Some(slot) = grads.slot(gamma) {
                let gg = slot.zeroed();
                for (gr, hr) in g.chunks(d).zip(h.chunks(d)) {
                    for ((gg, &g), &h) in gg.iter_mut().zip(gr).zip(hr) {
                        *gg += g * h;
                    }
                }
            }
            if let Some(slot) = grads.slot(x) {
                let gam = ctx.value(gamma).data();
                let rows = g.chunks(d).zip(h.chunks(d)).zip(ctx.value(inv_std).data());
                slot.write(rows.flat_map(|((gr, hr), &s)| {
                    // Means over the row of dxhat and of dxhat * xhat.
                    let (mut m1, mut m2) = (0.0, 0.0);
                    for j in 0..d {
                        let dh = gr[j] * gam[j];
                        m1 += dh;
                        m2 += dh * hr[j];
                    }
                    let (m1, m2) = (m1 / df, m2 / df);
                    (0..d).map(move |j| s * (gr[j] * gam[j] - m1 - hr[j] * m2))
                }));
            }
        })
    }

    /// The checks batchnorm and layernorm share: `x` is an `(N, D)` matrix,
    /// `gamma` and `beta` are `(D,)`. Returns `(N, D)`.
    pub(super) fn normalization_shapes(
        &self,
        op: &'static str,
        x: Var,
        gamma: Var,
        beta: Var,
    ) -> Result<(usize, usize)> {
        for v in [x, gamma, beta] {
            self.check(op, v)?;
        }
        let (tx, tg, tb) = (self.value(x)?, self.value(gamma)?, self.value(beta)?);
        let (n, d) = match tx.dims() {
            [n, d] => (*n, *d),
            _ => {
                return Err(Error::invalid(
                    op,
                    format!("x is {}, not an (N, D) matrix", tx.shape()),
                ))
            }
        };
        if tg.dims() != [d] {
            return Err(Error::shapes(op, "x", tx.shape(), "gamma", tg.shape()));
        }
        if tb.dims() != [d] {
            return Err(Error::shapes(op, "x", tx.shape(), "beta", tb.shape()));
        }
        Ok((n, d))
    }
}
