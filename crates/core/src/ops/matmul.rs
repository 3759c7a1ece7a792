//! The matrix product of two 2-D tensors, with no bias. Forward and both
//! backward products call [`gemm`] with transposes passed as strides.

use crate::tape::{checked_numel, ProductGrad};
use crate::{gemm, Error, Result, Tape, Var};

impl Tape {
    /// `a b` for `a` of shape `(N, K)` and `b` of shape `(K, M)`: an `(N, M)`
    /// output. `da = g b^T`, `db = a^T g`.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let b = t.param(Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0], &[3, 2]).unwrap()).unwrap();
    /// let a = t.input(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap());
    /// let c = t.matmul(a, b).unwrap();
    /// assert_eq!(t.value(c).unwrap().data(), &[4.0, 5.0, 10.0, 11.0]);
    /// let err = t.matmul(a, a).unwrap_err();
    /// assert_eq!(err.to_string(), "matmul: a is (2, 3) but b is (2, 3)");
    /// ```
    pub fn matmul(&mut self, a: Var, b: Var) -> Result<Var> {
        const OP: &str = "matmul";
        self.check(OP, a)?;
        self.check(OP, b)?;
        let (ta, tb) = (self.value(a)?, self.value(b)?);
        let (n, k, kb, m) = match (ta.dims(), tb.dims()) {
            (&[n, k], &[kb, m]) => (n, k, kb, m),
            (&[_, _], _) => {
                return Err(Error::invalid(
                    OP,
                    format!("b is {}, not a matrix", tb.shape()),
                ))
            }
            _ => {
                return Err(Error::invalid(
                    OP,
                    format!("a is {}, not a matrix", ta.shape()),
                ))
            }
        };
        if k != kb {
            return Err(Error::shapes(OP, "a", ta.shape(), "b", tb.shape()));
        }
        // gemm checks its buffers against these products.
        for dims in [[n, k], [k, m], [n, m]] {
            checked_numel(OP, &dims)?;
        }
        let mut out = self.alloc_scratch(&[n, m]);
        let (ta, tb) = (self.value(a)?, self.value(b)?);
        gemm(
            n,
            k,
            m,
            1.0,
            ta.data(),
            false,
            tb.data(),
            false,
            0.0,
            out.data_mut(),
        );
        // db = A^T dY: when an update takes b during backward, the tape
        // computes it (a part at a time, see `ParamUpdate`), not the closure.
        let db = ProductGrad {
            param: b,
            a,
            dims: [k, n, m],
        };
        self.record_product(OP, out, &[a, b], db, move |ctx, grads| {
            let g = ctx.grad_out().data();
            if let Some(slot) = grads.slot(a) {
                // da (N, K) = dY (N, M) * B^T
                let (ga, beta) = slot.gemm_target();
                gemm(n, m, k, 1.0, g, false, ctx.value(b).data(), true, beta, ga);
            }
            if let Some(slot) = grads.slot(b) {
                // db (K, M) = A^T (K, N) * dY (N, M)
                let (gb, beta) = slot.gemm_target();
                gemm(k, n, m, 1.0, ctx.value(a).data(), true, g, false, beta, gb);
            }
        })
    }
}
