//! Ops that move elements without changing them: `transpose` of a matrix
//! and `reshape`. Each output is a copy in a pooled buffer (a node owns its
//! value); the gradient moves back the same way.

use crate::tape::checked_numel;
use crate::{Error, GradSlot, Result, Shape, Tape, Var};

impl Tape {
    /// The transpose of a 2-D `x (N, M)`: an `(M, N)` output; `dx = g^T`.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.input(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap());
    /// let y = t.transpose(x).unwrap();
    /// assert_eq!(t.value(y).unwrap().dims(), &[3, 2]);
    /// assert_eq!(t.value(y).unwrap().data(), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    /// ```
    pub fn transpose(&mut self, x: Var) -> Result<Var> {
        const OP: &str = "transpose";
        self.check(OP, x)?;
        let tx = self.value(x)?;
        let (n, m) = match tx.dims() {
            &[n, m] => (n, m),
            _ => {
                return Err(Error::invalid(
                    OP,
                    format!("x is {}, not a matrix", tx.shape()),
                ))
            }
        };
        let mut out = self.alloc_scratch(&[m, n]);
        transpose_into(self.value(x)?.data(), n, m, out.data_mut());
        self.record(OP, out, &[x], move |ctx, grads| {
            let g = ctx.grad_out().data(); // (M, N)
            match grads.slot(x) {
                Some(GradSlot::Fresh(gx)) => transpose_into(g, m, n, gx),
                Some(GradSlot::Accumulate(gx)) => {
                    for (i, row) in gx.chunks_mut(m.max(1)).enumerate() {
                        for (j, v) in row.iter_mut().enumerate() {
                            *v += g[j * n + i];
                        }
                    }
                }
                None => {}
            }
        })
    }

    /// `x` with new dimensions `dims` holding the same number of elements, in
    /// the same row-major order; `dx = g` read with `x`'s dimensions.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.input(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap());
    /// let y = t.reshape(x, &[3, 1, 2]).unwrap();
    /// assert_eq!(t.value(y).unwrap().at(&[2, 0, 1]), 6.0);
    /// let err = t.reshape(x, &[4, 2]).unwrap_err();
    /// assert_eq!(err.to_string(), "reshape: x is (2, 3), 6 elements, but the new shape (4, 2) holds 8");
    /// ```
    pub fn reshape(&mut self, x: Var, dims: &[usize]) -> Result<Var> {
        const OP: &str = "reshape";
        self.check(OP, x)?;
        let n = checked_numel(OP, dims)?;
        let tx = self.value(x)?;
        if n != tx.len() {
            return Err(Error::invalid(
                OP,
                format!(
                    "x is {}, {} elements, but the new shape {} holds {n}",
                    tx.shape(),
                    tx.len(),
                    Shape::from(dims)
                ),
            ));
        }
        let mut out = self.alloc_scratch(dims);
        out.data_mut().copy_from_slice(self.value(x)?.data());
        self.record(OP, out, &[x], move |ctx, grads| {
            if let Some(slot) = grads.slot(x) {
                slot.write(ctx.grad_out().data().iter().copied());
            }
        })
    }
}

/// Writes the transpose of row-major `src (rows, cols)` into `dst (cols, rows)`.
fn transpose_into(src: &[f64], rows: usize, cols: usize, dst: &mut [f64]) {
    for (i, row) in src.chunks(cols.max(1)).take(rows).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            dst[j * rows + i] = v;
        }
    }
}
