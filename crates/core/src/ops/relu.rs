//! ReLU: `max(x, 0)`; its gradient passes where the input was positive.

use crate::{Result, Tape, Var};

impl Tape {
    /// `max(x, 0)`, elementwise.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.input(Tensor::from_vec(vec![-1.0, 2.0], &[2]).unwrap());
    /// let y = t.relu(x).unwrap();
    /// assert_eq!(t.value(y).unwrap().data(), &[0.0, 2.0]);
    /// ```
    pub fn relu(&mut self, x: Var) -> Result<Var> {
        let mut out = self.alloc_like(x)?;
        for (o, v) in out.data_mut().iter_mut().zip(self.value(x)?.data()) {
            *o = v.max(0.0);
        }
        self.record("relu", out, &[x], move |ctx, grads| {
            if let Some(g) = grads.get(x) {
                let xs = ctx.value(x).data();
                for ((gi, di), xi) in g.iter_mut().zip(ctx.grad_out().data()).zip(xs) {
                    if *xi > 0.0 {
                        *gi += di;
                    }
                }
            }
        })
    }
}
