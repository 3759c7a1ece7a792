//! Small elementwise pieces and reductions: what losses and penalties are
//! built from.

use crate::{Error, Result, Tape, Tensor, Var};

impl Tape {
    fn same_shape(&self, op: &'static str, a: Var, b: Var) -> Result<()> {
        self.check(op, a)?;
        self.check(op, b)?;
        let (ta, tb) = (self.value(a)?, self.value(b)?);
        if ta.shape() != tb.shape() {
            return Err(Error::shapes(op, "a", ta.shape(), "b", tb.shape()));
        }
        Ok(())
    }

    /// `a + b`, elementwise, for tensors of one shape.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let a = t.input(Tensor::ones(&[2]));
    /// let b = t.input(Tensor::full(&[2], 2.0));
    /// let c = t.add(a, b).unwrap();
    /// assert_eq!(t.value(c).unwrap().data(), &[3.0, 3.0]);
    /// ```
    pub fn add(&mut self, a: Var, b: Var) -> Result<Var> {
        self.same_shape("add", a, b)?;
        let mut out = self.alloc_like(a)?;
        let (ta, tb) = (self.value(a)?.data(), self.value(b)?.data());
        for ((o, x), y) in out.data_mut().iter_mut().zip(ta).zip(tb) {
            *o = x + y;
        }
        self.record("add", out, &[a, b], move |ctx, grads| {
            for v in [a, b] {
                if let Some(slot) = grads.slot(v) {
                    slot.write(ctx.grad_out().data().iter().copied());
                }
            }
        })
    }

    /// `a * b`, elementwise, for tensors of one shape.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let a = t.input(Tensor::full(&[2], 3.0));
    /// let c = t.mul(a, a).unwrap();
    /// assert_eq!(t.value(c).unwrap().data(), &[9.0, 9.0]);
    /// ```
    pub fn mul(&mut self, a: Var, b: Var) -> Result<Var> {
        self.same_shape("mul", a, b)?;
        let mut out = self.alloc_like(a)?;
        let (ta, tb) = (self.value(a)?.data(), self.value(b)?.data());
        for ((o, x), y) in out.data_mut().iter_mut().zip(ta).zip(tb) {
            *o = x * y;
        }
        self.record("mul", out, &[a, b], move |ctx, grads| {
            let d = ctx.grad_out().data();
            // Each side in turn, so `mul(x, x)` adds both contributions to x.
            for (v, other) in [(a, b), (b, a)] {
                if let Some(slot) = grads.slot(v) {
                    slot.write(d.iter().zip(ctx.value(other).data()).map(|(d, o)| d * o));
                }
            }
        })
    }

    /// `c * x` for a constant `c`.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let a = t.input(Tensor::full(&[2], 3.0));
    /// let c = t.scale(a, 0.5).unwrap();
    /// assert_eq!(t.value(c).unwrap().data(), &[1.5, 1.5]);
    /// ```
    pub fn scale(&mut self, x: Var, c: f64) -> Result<Var> {
        self.check("scale", x)?;
        let mut out = self.alloc_like(x)?;
        for (o, v) in out.data_mut().iter_mut().zip(self.value(x)?.data()) {
            *o = c * v;
        }
        self.record("scale", out, &[x], move |ctx, grads| {
            if let Some(slot) = grads.slot(x) {
                slot.write(ctx.grad_out().data().iter().map(|d| c * d));
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
        self.record("sum", Tensor::scalar(total), &[x], move |ctx, grads| {
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
        self.record(
            "sum_squares",
            Tensor::scalar(total),
            &[x],
            move |ctx, grads| {
                if let Some(slot) = grads.slot(x) {
                    let d = ctx.grad_out().data()[0];
                    slot.write(ctx.value(x).data().iter().map(|x| 2.0 * d * x));
                }
            },
        )
    }
}
