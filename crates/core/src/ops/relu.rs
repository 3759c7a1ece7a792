//! ReLU, `max(x, 0)`, and leaky ReLU: the gradient passes where the input
//! was positive (and is scaled by the slope elsewhere, for leaky ReLU).

use crate::{Result, Tape, Var};

impl Tape {
    /// `max(x, 0)`, elementwise; NaN stays NaN (as in NumPy), so a NaN
    /// input shows in the loss instead of vanishing.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.input(Tensor::from_vec(vec![-1.0, 2.0], &[2]).unwrap());
    /// let y = t.relu(x).unwrap();
    /// assert_eq!(t.value(y).unwrap().data(), &[0.0, 2.0]);
    /// let n = t.input(Tensor::from_vec(vec![f64::NAN], &[1]).unwrap());
    /// let m = t.relu(n).unwrap();
    /// assert!(t.value(m).unwrap().data()[0].is_nan());
    /// ```
    pub fn relu(&mut self, x: Var) -> Result<Var> {
        self.check("relu", x)?;
        let dims = self.value(x)?.shape().clone();
        let mut out = self.alloc_scratch(&dims);
        for (o, &v) in out.data_mut().iter_mut().zip(self.value(x)?.data()) {
            // Not `v.max(0.0)`: that turns NaN into 0 and would hide a NaN
            // input from the loss. Like NumPy's `np.maximum(0, x)`, NaN
            // passes through.
            *o = if v < 0.0 { 0.0 } else { v };
        }
        self.record("relu", out, &[x], move |ctx, grads| {
            if let Some(slot) = grads.slot(x) {
                let xs = ctx.value(x).data();
                // A select, not a branch: the sign pattern is random, and
                // mispredictions cost more than the arithmetic.
                let d = ctx.grad_out().data().iter().zip(xs);
                slot.write(d.map(|(&d, &x)| if x > 0.0 { d } else { 0.0 }));
            }
        })
    }

    /// Leaky ReLU: `x` where `x > 0`, `slope * x` elsewhere; `dx = g` where
    /// `x > 0`, `slope * g` elsewhere. NaN stays NaN. An error for a slope
    /// that is not finite.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.input(Tensor::from_vec(vec![-2.0, 3.0], &[2]).unwrap());
    /// let y = t.leaky_relu(x, 0.1).unwrap();
    /// assert_eq!(t.value(y).unwrap().data(), &[-0.2, 3.0]);
    /// ```
    pub fn leaky_relu(&mut self, x: Var, slope: f64) -> Result<Var> {
        super::unary::finite_arg("leaky_relu", "slope", slope)?;
        self.elementwise(
            "leaky_relu",
            x,
            move |v| if v > 0.0 { v } else { slope * v },
            move |x, _, g| if x > 0.0 { g } else { slope * g },
        )
    }
}
