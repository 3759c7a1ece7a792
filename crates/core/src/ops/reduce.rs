//! Reductions: over the whole tensor (`sum`, `mean`, `sum_squares`, each a
//! rank-0 tensor) and along one axis (`sum_axis`, `mean_axis`, `max_axis`,
//! keeping the axis as size 1 or dropping it).
//!
//! Along an axis, a tensor is read as `(outer, len, inner)`: `len` the axis's
//! size, `outer` the product of the sizes before it, `inner` after it. Output
//! element `(o, i)` reduces `x[o, 0..len, i]`.

use crate::tape::checked_numel;
use crate::{Error, Result, Shape, Tape, Var};

/// A tensor's shape read around one axis, and the reduced output's shape.
struct AxisView {
    outer: usize,
    len: usize,
    inner: usize,
    out: Shape,
}

impl Tape {
    fn axis_view(&self, op: &'static str, x: Var, axis: usize, keepdims: bool) -> Result<AxisView> {
        self.check(op, x)?;
        let s = self.value(x)?.shape();
        if axis >= s.rank() {
            return Err(Error::invalid(
                op,
                format!(
                    "axis {axis} is out of range for x of shape {s} (rank {})",
                    s.rank()
                ),
            ));
        }
        let mut out: Vec<usize> = s.dims().to_vec();
        if keepdims {
            out[axis] = 1;
        } else {
            out.remove(axis);
        }
        // Checked: with a zero-sized axis elsewhere, the tensor is empty
        // but these products need not fit.
        Ok(AxisView {
            outer: checked_numel(op, &s[..axis])?,
            len: s[axis],
            inner: checked_numel(op, &s[axis + 1..])?,
            out: Shape::from(&out[..]),
        })
    }

    /// `scale` times the sum along `axis`: `sum_axis` (1) and `mean_axis`
    /// (`1 / len`).
    fn sum_along(
        &mut self,
        op: &'static str,
        x: Var,
        axis: usize,
        keepdims: bool,
        mean: bool,
    ) -> Result<Var> {
        let AxisView {
            outer,
            len,
            inner,
            out,
        } = self.axis_view(op, x, axis, keepdims)?;
        if mean && len == 0 {
            return Err(Error::invalid(
                op,
                format!("axis {axis} of x is empty: the mean over it is undefined"),
            ));
        }
        let scale = if mean { 1.0 / len as f64 } else { 1.0 };
        let mut y = self.alloc(&out);
        let (xs, ys) = (self.value(x)?.data(), y.data_mut());
        for o in 0..outer {
            let yr = &mut ys[o * inner..(o + 1) * inner];
            for k in 0..len {
                super::add_assign(yr, &xs[(o * len + k) * inner..][..inner]);
            }
            if mean {
                yr.iter_mut().for_each(|v| *v *= scale);
            }
        }
        self.record(op, y, &[x], move |ctx, grads| {
            if let Some(slot) = grads.slot(x) {
                // Each input element receives its output element's gradient.
                let g = ctx.grad_out().data();
                slot.write((0..outer).flat_map(|o| {
                    let gr = &g[o * inner..(o + 1) * inner];
                    (0..len).flat_map(move |_| gr.iter().map(move |d| scale * d))
                }));
            }
        })
    }

    /// The sum along `axis`; with `keepdims` the axis stays as size 1,
    /// otherwise it is dropped. `dx = g`, repeated along the axis.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.input(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap());
    /// let cols = t.sum_axis(x, 0, false).unwrap();
    /// assert_eq!(t.value(cols).unwrap().dims(), &[3]);
    /// assert_eq!(t.value(cols).unwrap().data(), &[5.0, 7.0, 9.0]);
    /// let rows = t.sum_axis(x, 1, true).unwrap();
    /// assert_eq!(t.value(rows).unwrap().dims(), &[2, 1]);
    /// assert_eq!(t.value(rows).unwrap().data(), &[6.0, 15.0]);
    /// assert!(t.sum_axis(x, 2, false).is_err());
    /// ```
    pub fn sum_axis(&mut self, x: Var, axis: usize, keepdims: bool) -> Result<Var> {
        self.sum_along("sum_axis", x, axis, keepdims, false)
    }

    /// The mean along `axis` (an error when the axis is empty); `keepdims`
    /// as in [`Tape::sum_axis`]. `dx = g / len`, repeated along the axis.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.input(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap());
    /// let m = t.mean_axis(x, 1, false).unwrap();
    /// assert_eq!(t.value(m).unwrap().data(), &[2.0, 5.0]);
    /// ```
    pub fn mean_axis(&mut self, x: Var, axis: usize, keepdims: bool) -> Result<Var> {
        self.sum_along("mean_axis", x, axis, keepdims, true)
    }

    /// The maximum along `axis` (an error when the axis is empty);
    /// `keepdims` as in [`Tape::sum_axis`]. A NaN is the maximum of any
    /// slice it is in, as in NumPy. The gradient goes to the first maximum of
    /// each slice only.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.param(Tensor::from_vec(vec![3.0, 1.0, 3.0, 0.0, 5.0, 2.0], &[2, 3]).unwrap()).unwrap();
    /// let m = t.max_axis(x, 1, false).unwrap();
    /// assert_eq!(t.value(m).unwrap().data(), &[3.0, 5.0]);
    /// let loss = t.sum(m).unwrap();
    /// t.backward(loss).unwrap();
    /// assert_eq!(t.grad(x).unwrap().data(), &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]); // first 3 only
    /// ```
    pub fn max_axis(&mut self, x: Var, axis: usize, keepdims: bool) -> Result<Var> {
        const OP: &str = "max_axis";
        let AxisView {
            outer,
            len,
            inner,
            out,
        } = self.axis_view(OP, x, axis, keepdims)?;
        if len == 0 {
            return Err(Error::invalid(
                OP,
                format!("axis {axis} of x is empty: the maximum over it is undefined"),
            ));
        }
        let mut y = self.alloc_scratch(&out);
        // Where each maximum was, as the index along the axis.
        let mut arg = self.alloc_scratch(&out);
        let xs = self.value(x)?.data();
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| xs[(o * len + k) * inner + i];
                let (mut best, mut m) = (0, at(0));
                for k in 1..len {
                    let v = at(k);
                    if v > m || (v.is_nan() && !m.is_nan()) {
                        (best, m) = (k, v);
                    }
                }
                y.data_mut()[o * inner + i] = m;
                arg.data_mut()[o * inner + i] = best as f64;
            }
        }
        let arg = self.cache(arg);
        self.record(OP, y, &[x], move |ctx, grads| {
            if let Some(slot) = grads.slot(x) {
                let gx = slot.zeroed();
                let (g, arg) = (ctx.grad_out().data(), ctx.value(arg).data());
                for o in 0..outer {
                    for i in 0..inner {
                        let k = arg[o * inner + i] as usize;
                        gx[(o * len + k) * inner + i] += g[o * inner + i];
                    }
                }
            }
        })
    }

    /// The sum of all elements, as a rank-0 tensor.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let a = t.input(Tensor::full(&[2, 3], 2.0));
    /// let s = t.sum(a).unwrap();
    /// assert_eq!(t.value(s).unwrap().item().unwrap(), 12.0);
    /// ```
    pub fn sum(&mut self, x: Var) -> Result<Var> {
        self.check("sum", x)?;
        let total = self.value(x)?.sum();
        let total = self.scalar(total);
        self.record("sum", total, &[x], move |ctx, grads| {
            if let Some(slot) = grads.slot(x) {
                slot.write(std::iter::repeat(ctx.grad_out().data()[0]));
            }
        })
    }

    /// The mean of all elements, as a rank-0 tensor; an error for an empty
    /// tensor.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let a = t.input(Tensor::from_vec(vec![1.0, 2.0, 6.0], &[3]).unwrap());
    /// let m = t.mean(a).unwrap();
    /// assert_eq!(t.value(m).unwrap().item().unwrap(), 3.0);
    /// ```
    pub fn mean(&mut self, x: Var) -> Result<Var> {
        self.check("mean", x)?;
        let n = self.value(x)?.len();
        if n == 0 {
            return Err(Error::invalid(
                "mean",
                "the mean of an empty tensor is undefined",
            ));
        }
        let s = self.sum(x)?;
        self.scale(s, 1.0 / n as f64)
    }

    /// `sum(x^2)`, as a rank-0 tensor: with [`Tape::scale`], the L2 penalty
    /// `0.5 * reg * sum(W^2)`.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let w = t.input(Tensor::from_vec(vec![1.0, -2.0], &[2]).unwrap());
    /// let s = t.sum_squares(w).unwrap();
    /// assert_eq!(t.value(s).unwrap().item().unwrap(), 5.0);
    /// ```
    pub fn sum_squares(&mut self, x: Var) -> Result<Var> {
        self.check("sum_squares", x)?;
        let total: f64 = self.value(x)?.data().iter().map(|v| v * v).sum();
        let total = self.scalar(total);
        self.record("sum_squares", total, &[x], move |ctx, grads| {
            if let Some(slot) = grads.slot(x) {
                let d = ctx.grad_out().data()[0];
                slot.write(ctx.value(x).data().iter().map(|x| 2.0 * d * x));
            }
        })
    }
}
