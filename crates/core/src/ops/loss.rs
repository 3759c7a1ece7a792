//! Losses of a prediction against a target of the same shape, each the mean
//! over all elements, as a rank-0 tensor. (The softmax cross-entropy, which
//! takes class labels, lives with softmax.)

use crate::{Error, Result, Tape, Var};

impl Tape {
    /// The shared checks: both live, one shape, not empty. Returns the
    /// element count.
    fn pair_loss_shapes(
        &self,
        op: &'static str,
        pred: Var,
        target: Var,
        names: [&'static str; 2],
    ) -> Result<usize> {
        self.check(op, pred)?;
        self.check(op, target)?;
        let (tp, tt) = (self.value(pred)?, self.value(target)?);
        if tp.shape() != tt.shape() {
            return Err(Error::shapes(
                op,
                names[0],
                tp.shape(),
                names[1],
                tt.shape(),
            ));
        }
        if tp.is_empty() {
            return Err(Error::invalid(
                op,
                format!(
                    "{} is {}: the mean over no elements is undefined",
                    names[0],
                    tp.shape()
                ),
            ));
        }
        Ok(tp.len())
    }

    /// Mean squared error `mean((pred - target)^2)`, as a rank-0 tensor.
    /// `dpred = 2 g (pred - target) / n`, `dtarget = -dpred`.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let p = t.param(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3, 1]).unwrap()).unwrap();
    /// let y = t.input(Tensor::from_vec(vec![1.0, 0.0, 6.0], &[3, 1]).unwrap());
    /// let loss = t.mse_loss(p, y).unwrap();
    /// assert_eq!(t.value(loss).unwrap().item().unwrap(), (0.0 + 4.0 + 9.0) / 3.0);
    /// t.backward(loss).unwrap();
    /// assert_eq!(t.grad(p).unwrap().data(), &[0.0, 4.0 / 3.0, -2.0]);
    /// ```
    pub fn mse_loss(&mut self, pred: Var, target: Var) -> Result<Var> {
        const OP: &str = "mse_loss";
        let n = self.pair_loss_shapes(OP, pred, target, ["pred", "target"])?;
        let (tp, tt) = (self.value(pred)?.data(), self.value(target)?.data());
        let total: f64 = tp.iter().zip(tt).map(|(p, t)| (p - t) * (p - t)).sum();
        let nf = n as f64;
        let loss = self.scalar(total / nf);
        self.record(OP, loss, &[pred, target], move |ctx, grads| {
            let k = 2.0 * ctx.grad_out().data()[0] / nf;
            for (v, sign) in [(pred, k), (target, -k)] {
                if let Some(slot) = grads.slot(v) {
                    let pt = ctx.value(pred).data().iter().zip(ctx.value(target).data());
                    slot.write(pt.map(|(p, t)| sign * (p - t)));
                }
            }
        })
    }

    /// Binary cross-entropy of `sigmoid(logits)` against `targets` (in [0, 1],
    /// same shape), the mean over all elements, as a rank-0 tensor. Computed
    /// as `max(x, 0) - x t + log(1 + exp(-|x|))`, which neither overflows
    /// nor loses the loss to `log(0)` for large `|x|`.
    /// `dlogits = g (sigmoid(x) - t) / n`, `dtargets = -g x / n`.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.param(Tensor::from_vec(vec![0.0, 800.0, -800.0], &[3]).unwrap()).unwrap();
    /// let y = t.input(Tensor::from_vec(vec![1.0, 0.0, 0.0], &[3]).unwrap());
    /// let loss = t.bce_with_logits(x, y).unwrap();
    /// // ln 2, then 800 (a confident mistake), then ~0
    /// let l = t.value(loss).unwrap().item().unwrap();
    /// assert!((l - (2f64.ln() + 800.0) / 3.0).abs() < 1e-12);
    /// t.backward(loss).unwrap();
    /// assert_eq!(t.grad(x).unwrap().data(), &[-0.5 / 3.0, 1.0 / 3.0, 0.0]);
    /// ```
    pub fn bce_with_logits(&mut self, logits: Var, targets: Var) -> Result<Var> {
        const OP: &str = "bce_with_logits";
        let n = self.pair_loss_shapes(OP, logits, targets, ["logits", "targets"])?;
        let (tx, tt) = (self.value(logits)?.data(), self.value(targets)?.data());
        let total: f64 = tx
            .iter()
            .zip(tt)
            .map(|(&x, &t)| x.max(0.0) - x * t + (-x.abs()).exp().ln_1p())
            .sum();
        let nf = n as f64;
        let loss = self.scalar(total / nf);
        self.record(OP, loss, &[logits, targets], move |ctx, grads| {
            let k = ctx.grad_out().data()[0] / nf;
            if let Some(slot) = grads.slot(logits) {
                let xt = ctx
                    .value(logits)
                    .data()
                    .iter()
                    .zip(ctx.value(targets).data());
                slot.write(xt.map(|(&x, &t)| k * (super::unary::sigmoid(x) - t)));
            }
            if let Some(slot) = grads.slot(targets) {
                slot.write(ctx.value(logits).data().iter().map(|x| -k * x));
            }
        })
    }
}
