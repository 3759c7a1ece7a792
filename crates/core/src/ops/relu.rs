//! ReLU: `max(x, 0)`; its gradient passes where the input was positive.

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
}
