//! Inverted dropout. `p` is the probability of KEEPING a unit: in training
//! the output is `x * mask` with `mask = (u < p) / p`, so the expected output
//! equals the input and test time needs no rescaling: it is the identity.

use crate::random::{uniform, Rng};
use crate::{Error, Mode, Result, Tape, Var};

impl Tape {
    /// Inverted dropout with keep probability `p` in (0, 1]. In
    /// [`Mode::Test`], or with `p = 1`, it returns `x` itself. The mask draws
    /// one uniform per element from `rng`, in row-major order, so a seed
    /// reproduces it.
    ///
    /// ```
    /// use gradtape_core::{rng_from_seed, Mode, Tape, Tensor};
    /// let mut t = Tape::new();
    /// let mut rng = rng_from_seed(0);
    /// let x = t.input(Tensor::ones(&[100, 100]));
    /// let y = t.dropout(x, 0.25, Mode::Train, &mut rng).unwrap();
    /// let kept = t.value(y).unwrap().data().iter().filter(|&&v| v != 0.0).count();
    /// assert!((kept as f64 / 10_000.0 - 0.25).abs() < 0.02);
    /// assert_eq!(t.dropout(x, 0.25, Mode::Test, &mut rng).unwrap(), x);
    /// assert!(t.dropout(x, 0.0, Mode::Train, &mut rng).is_err());
    /// ```
    pub fn dropout(&mut self, x: Var, p: f64, mode: Mode, rng: &mut Rng) -> Result<Var> {
        const OP: &str = "dropout";
        self.check(OP, x)?;
        if !(p > 0.0 && p <= 1.0) {
            return Err(Error::invalid(
                OP,
                format!("keep probability p = {p} is outside (0, 1]"),
            ));
        }
        if mode == Mode::Test || p == 1.0 {
            return Ok(x);
        }
        let dims = self.value(x)?.shape().clone();
        let mut mask = self.alloc_scratch(&dims);
        let mut out = self.alloc_scratch(&dims);
        // Two passes: draw every uniform into the mask buffer (the generator
        // is sequential), then turn draws into mask and output with selects,
        // which vectorise; one fused loop branched on a random pattern.
        for m in mask.data_mut() {
            *m = uniform(rng);
        }
        apply_mask(mask.data_mut(), out.data_mut(), self.value(x)?.data(), p);
        let mask = self.cache(mask);
        self.record(OP, out, &[x], move |ctx, grads| {
            if let Some(slot) = grads.slot(x) {
                let d = ctx.grad_out().data().iter().zip(ctx.value(mask).data());
                slot.write(d.map(|(d, m)| d * m));
            }
        })
    }
}

/// Turns uniform draws `u` into the mask `(u < p) / p` in place and writes
/// `out = x * mask` (0 where dropped, whatever x is). Selects on equal-length
/// slices, so the loop vectorises.
fn apply_mask(mask: &mut [f64], out: &mut [f64], x: &[f64], p: f64) {
    let inv_p = 1.0 / p;
    let n = mask.len();
    let (out, x) = (&mut out[..n], &x[..n]);
    for i in 0..n {
        let keep = mask[i] < p;
        mask[i] = if keep { inv_p } else { 0.0 };
        out[i] = if keep { x[i] * inv_p } else { 0.0 };
    }
}
