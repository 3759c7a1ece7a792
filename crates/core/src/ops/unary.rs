//! Elementwise functions of one tensor. Each is `y = f(x)` with its
//! derivative written beside it as `dx = g * f'(x)`, where `f'` may read the
//! output `y` (`exp`, `tanh`, `sigmoid` reuse it instead of recomputing).

use crate::{Result, Tape, Var};

impl Tape {
    /// Records `y = f(x)` elementwise; `df(x, y, g)` is the input's gradient
    /// given the input, the output and the output's gradient.
    fn elementwise(
        &mut self,
        op: &'static str,
        x: Var,
        f: impl Fn(f64) -> f64,
        df: impl Fn(f64, f64, f64) -> f64 + Send + Sync + 'static,
    ) -> Result<Var> {
        self.check(op, x)?;
        let dims = self.value(x)?.shape().clone();
        let mut out = self.alloc_scratch(&dims);
        for (o, &v) in out.data_mut().iter_mut().zip(self.value(x)?.data()) {
            *o = f(v);
        }
        self.record(op, out, &[x], move |ctx, grads| {
            if let Some(slot) = grads.slot(x) {
                let xy = ctx.value(x).data().iter().zip(ctx.output().data());
                let g = ctx.grad_out().data().iter().zip(xy);
                slot.write(g.map(|(&g, (&x, &y))| df(x, y, g)));
            }
        })
    }

    /// `tanh(x)`, elementwise; `dx = g * (1 - y^2)`.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.param(Tensor::from_vec(vec![0.0, 1.0], &[2]).unwrap()).unwrap();
    /// let y = t.tanh(x).unwrap();
    /// assert_eq!(t.value(y).unwrap().data(), &[0.0, 1f64.tanh()]);
    /// let loss = t.sum(y).unwrap();
    /// t.backward(loss).unwrap();
    /// assert_eq!(t.grad(x).unwrap().data()[0], 1.0);
    /// ```
    pub fn tanh(&mut self, x: Var) -> Result<Var> {
        self.elementwise("tanh", x, f64::tanh, |_, y, g| g * (1.0 - y * y))
    }

    /// The logistic sigmoid `1 / (1 + exp(-x))`, elementwise, computed without
    /// overflow for any `x`; `dx = g * y * (1 - y)`.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.input(Tensor::from_vec(vec![0.0, -1000.0, 1000.0], &[3]).unwrap());
    /// let y = t.sigmoid(x).unwrap();
    /// assert_eq!(t.value(y).unwrap().data(), &[0.5, 0.0, 1.0]);
    /// ```
    pub fn sigmoid(&mut self, x: Var) -> Result<Var> {
        self.elementwise("sigmoid", x, sigmoid, |_, y, g| g * y * (1.0 - y))
    }
}

/// `1 / (1 + exp(-x))`, evaluated so that `exp` never overflows: for
/// negative `x` as `exp(x) / (1 + exp(x))`.
pub(crate) fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}
