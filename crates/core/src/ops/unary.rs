//! Elementwise functions of one tensor. Each is `y = f(x)` with its
//! derivative written beside it as `dx = g * f'(x)`, where `f'` may read the
//! output `y` (`exp`, `tanh`, `sigmoid` reuse it instead of recomputing).

use crate::{Error, Result, Tape, Var};

impl Tape {
    /// Records `y = f(x)` elementwise; `df(x, y, g)` is the input's gradient
    /// given the input, the output and the output's gradient.
    pub(super) fn elementwise(
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

    /// `-x`, elementwise; `dx = -g`.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.input(Tensor::from_vec(vec![1.0, -2.0], &[2]).unwrap());
    /// let y = t.neg(x).unwrap();
    /// assert_eq!(t.value(y).unwrap().data(), &[-1.0, 2.0]);
    /// ```
    pub fn neg(&mut self, x: Var) -> Result<Var> {
        self.elementwise("neg", x, |v| -v, |_, _, g| -g)
    }

    /// `x + c` for a constant `c`; `dx = g`.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.input(Tensor::full(&[2], 1.5));
    /// let y = t.add_scalar(x, 2.0).unwrap();
    /// assert_eq!(t.value(y).unwrap().data(), &[3.5, 3.5]);
    /// ```
    pub fn add_scalar(&mut self, x: Var, c: f64) -> Result<Var> {
        self.elementwise("add_scalar", x, move |v| v + c, |_, _, g| g)
    }

    /// `c * x` for a constant `c`; `dx = c g`.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.input(Tensor::full(&[2], 3.0));
    /// let y = t.mul_scalar(x, 0.5).unwrap();
    /// assert_eq!(t.value(y).unwrap().data(), &[1.5, 1.5]);
    /// ```
    pub fn mul_scalar(&mut self, x: Var, c: f64) -> Result<Var> {
        self.elementwise("mul_scalar", x, move |v| c * v, move |_, _, g| c * g)
    }

    /// [`Tape::mul_scalar`] under its older name (its errors and profile
    /// entries say `scale`).
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let a = t.input(Tensor::full(&[2], 3.0));
    /// let c = t.scale(a, 0.5).unwrap();
    /// assert_eq!(t.value(c).unwrap().data(), &[1.5, 1.5]);
    /// ```
    pub fn scale(&mut self, x: Var, c: f64) -> Result<Var> {
        self.elementwise("scale", x, move |v| c * v, move |_, _, g| c * g)
    }

    /// `exp(x)`, elementwise; `dx = g y`.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.input(Tensor::from_vec(vec![0.0, 1.0], &[2]).unwrap());
    /// let y = t.exp(x).unwrap();
    /// assert_eq!(t.value(y).unwrap().data(), &[1.0, 1f64.exp()]);
    /// ```
    pub fn exp(&mut self, x: Var) -> Result<Var> {
        self.elementwise("exp", x, f64::exp, |_, y, g| g * y)
    }

    /// The natural logarithm, elementwise; `dx = g / x`. As in NumPy, `x = 0`
    /// gives `-inf` and `x < 0` NaN (anomaly mode names the op).
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.input(Tensor::from_vec(vec![1.0, 1f64.exp()], &[2]).unwrap());
    /// let y = t.log(x).unwrap();
    /// assert_eq!(t.value(y).unwrap().data(), &[0.0, 1.0]);
    /// ```
    pub fn log(&mut self, x: Var) -> Result<Var> {
        self.elementwise("log", x, f64::ln, |x, _, g| g / x)
    }

    /// `sqrt(x)`, elementwise; `dx = g / (2 y)`. NaN for `x < 0`, as in
    /// NumPy.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.input(Tensor::from_vec(vec![4.0, 9.0], &[2]).unwrap());
    /// let y = t.sqrt(x).unwrap();
    /// assert_eq!(t.value(y).unwrap().data(), &[2.0, 3.0]);
    /// ```
    pub fn sqrt(&mut self, x: Var) -> Result<Var> {
        self.elementwise("sqrt", x, f64::sqrt, |_, y, g| g * 0.5 / y)
    }

    /// `x^p` for a constant exponent `p`, elementwise (`f64::powf`: NaN for
    /// a negative `x` and a non-integer `p`); `dx = g p x^(p-1)`. An error
    /// for a `p` that is not finite.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.param(Tensor::from_vec(vec![2.0, 3.0], &[2]).unwrap()).unwrap();
    /// let y = t.powf(x, 3.0).unwrap();
    /// assert_eq!(t.value(y).unwrap().data(), &[8.0, 27.0]);
    /// let loss = t.sum(y).unwrap();
    /// t.backward(loss).unwrap();
    /// assert_eq!(t.grad(x).unwrap().data(), &[12.0, 27.0]);
    /// assert!(t.powf(x, f64::NAN).is_err());
    /// ```
    pub fn powf(&mut self, x: Var, p: f64) -> Result<Var> {
        finite_arg("powf", "p", p)?;
        self.elementwise(
            "powf",
            x,
            move |v| v.powf(p),
            move |x, _, g| g * p * x.powf(p - 1.0),
        )
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

/// An error unless the constant argument `name = c` of `op` is finite.
pub(crate) fn finite_arg(op: &'static str, name: &str, c: f64) -> Result<()> {
    if c.is_finite() {
        Ok(())
    } else {
        Err(Error::invalid(op, format!("{name} = {c} is not finite")))
    }
}
