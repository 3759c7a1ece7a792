//! Affine layer: `x W + b`, with `x` of shape `(N, d1, ..., dk)` read as
//! `(N, D)`. Both backward products pass transposes as strides, so no matrix
//! is copied, and write straight into the gradient buffers: overwriting on a
//! gradient's first contribution (beta = 0), adding on later ones (beta = 1).

use crate::tape::ProductGrad;
use crate::{gemm, Error, Result, Shape, Tape, Var};

impl Tape {
    /// `x W + b`: `x` is `(N, d1, ..., dk)` with `D = d1 * ... * dk`, `w` is
    /// `(D, M)`, `b` is `(M,)`; the output is `(N, M)`.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let w = t.param(Tensor::full(&[6, 4], 0.5)).unwrap();
    /// let b = t.param(Tensor::full(&[4], 1.0)).unwrap();
    /// let x = t.input(Tensor::ones(&[2, 3, 2])); // read as (2, 6)
    /// let y = t.affine(x, w, b).unwrap();
    /// assert_eq!(t.value(y).unwrap().dims(), &[2, 4]);
    /// assert_eq!(t.value(y).unwrap().at(&[1, 3]), 4.0); // 6 * 0.5 + 1
    /// ```
    pub fn affine(&mut self, x: Var, w: Var, b: Var) -> Result<Var> {
        const OP: &str = "affine";
        for v in [x, w, b] {
            self.check(OP, v)?;
        }
        let (tx, tw, tb) = (self.value(x)?, self.value(w)?, self.value(b)?);
        if tx.shape().rank() < 1 {
            return Err(Error::invalid(
                OP,
                format!("x is {}; it needs a batch dimension", tx.shape()),
            ));
        }
        let (n, d) = tx.shape().as_matrix();
        let (dw, m) = match tw.dims() {
            [dw, m] => (*dw, *m),
            _ => {
                return Err(Error::invalid(
                    OP,
                    format!("w is {}, not a matrix", tw.shape()),
                ))
            }
        };
        if dw != d {
            return Err(Error::shapes(OP, "x", tx.shape(), "w", tw.shape()));
        }
        if tb.dims() != [m] {
            return Err(Error::shapes(OP, "w", tw.shape(), "b", tb.shape()));
        }
        // x and w fit in memory, but (N, M) need not.
        Shape::checked(OP, &[n, m])?;
        let mut out = self.alloc_scratch(&[n, m]);
        let (tx, tw, tb) = (self.value(x)?, self.value(w)?, self.value(b)?);
        for row in out.data_mut().chunks_mut(m.max(1)) {
            row.copy_from_slice(tb.data());
        }
        gemm(
            n,
            d,
            m,
            1.0,
            tx.data(),
            false,
            tw.data(),
            false,
            1.0,
            out.data_mut(),
        );

        // dW = X^T dY: when an update takes W during backward, the tape
        // computes it (a part at a time, see `ParamUpdate`), not the closure.
        let dw = ProductGrad {
            param: w,
            a: x,
            dims: [d, n, m],
        };
        self.record_product(OP, out, &[x, w, b], dw, move |ctx, grads| {
            let g = ctx.grad_out().data();
            if let Some(slot) = grads.slot(x) {
                // dx (N, D) = dY (N, M) * W^T, + the old dx unless fresh
                let (gx, beta) = slot.gemm_target();
                gemm(n, m, d, 1.0, g, false, ctx.value(w).data(), true, beta, gx);
            }
            if let Some(slot) = grads.slot(w) {
                // dW (D, M) = X^T (D, N) * dY (N, M), + the old dW unless fresh
                let (gw, beta) = slot.gemm_target();
                gemm(d, n, m, 1.0, ctx.value(x).data(), true, g, false, beta, gw);
            }
            // db (M values) is too small for skipping its zeroing to matter.
            if let Some(slot) = grads.slot(b) {
                let gb = slot.zeroed();
                for row in g.chunks(m.max(1)) {
                    super::add_assign(gb, row);
                }
            }
        })
    }
}
