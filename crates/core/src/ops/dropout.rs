//! Inverted dropout. `p` is the probability of KEEPING a unit: in training
//! the output is `x * mask` with `mask = (u < p) / p`, so the expected output
//! equals the input and test time needs no rescaling: it is the identity.
//!
//! The draws come from a counter-based generator ([`CounterRng`]) keyed by one
//! draw from the caller's [`Rng`]: element `i`'s draw depends only on the key
//! and `i`. So the mask loop vectorises, large tensors split across rayon
//! threads with bits that do not depend on the split, and backward
//! recomputes the mask from the key instead of keeping one.

use rayon::prelude::*;

use crate::grads::GradSlot;
use crate::random::{CounterRng, Rng};
use crate::{Error, Mode, Result, Tape, Var};

/// Elements per rayon task; tensors up to this size run on the calling
/// thread. A task of this size is tens of microseconds of mask, well above
/// what handing it to another thread costs; smaller splits (the notebook's
/// layers hold 50,000 units) measured no faster on a busy machine, where the
/// caller can end up waiting for a worker that is not running.
const PAR_CHUNK: usize = 1 << 16;

impl Tape {
    /// Inverted dropout with keep probability `p` in (0, 1]. In
    /// [`Mode::Test`], or with `p = 1`, it returns `x` itself. In training it
    /// takes one 64-bit key from `rng` and keeps element `i` when draw `i`
    /// of the [`CounterRng`] with that key is below `p`, so a seed
    /// reproduces the mask, whatever the thread count.
    ///
    /// ```
    /// use gradtape_core::{rng_from_seed, CounterRng, Mode, Tape, Tensor};
    /// let mut t = Tape::new();
    /// let mut rng = rng_from_seed(0);
    /// let x = t.input(Tensor::ones(&[100, 100]));
    /// let y = t.dropout(x, 0.25, Mode::Train, &mut rng).unwrap();
    /// let y = t.value(y).unwrap().data();
    /// let kept = y.iter().filter(|&&v| v != 0.0).count();
    /// assert!((kept as f64 / 10_000.0 - 0.25).abs() < 0.02);
    /// // Element i is kept when draw i of the call's stream is below p.
    /// let stream = CounterRng::from_rng(&mut rng_from_seed(0));
    /// assert!((0..10_000).all(|i| (y[i] == 4.0) == (stream.uniform(i as u64) < 0.25)));
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
        let mask = Mask {
            stream: CounterRng::from_rng(rng),
            threshold: CounterRng::threshold(p),
            inv_p: 1.0 / p,
        };
        let dims = self.value(x)?.shape().clone();
        let mut out = self.alloc_scratch(&dims);
        mask.run(Pass::Apply, out.data_mut(), self.value(x)?.data());
        // Nothing is cached: backward draws the same mask again from the key.
        self.record(OP, out, &[x], move |ctx, grads| {
            if let Some(slot) = grads.slot(x) {
                let d = ctx.grad_out().data();
                match slot {
                    GradSlot::Fresh(g) => mask.run(Pass::Scale, g, d),
                    GradSlot::Accumulate(g) => mask.run(Pass::ScaleAdd, g, d),
                }
            }
        })
    }
}

/// One call's mask: element `i` is `inv_p` when the stream's draw `i` is
/// below `p` (`threshold` is `p` on the draws' integer grid), else 0.
#[derive(Clone, Copy)]
struct Mask {
    stream: CounterRng,
    threshold: u64,
    inv_p: f64,
}

/// What a pass over the mask computes, `out` from `input`.
#[derive(Clone, Copy, Debug)]
enum Pass {
    /// Forward: `out = x * mask` (0 where dropped, whatever x is).
    Apply,
    /// Backward into a fresh gradient: `out = d * mask`.
    Scale,
    /// Backward into an accumulating gradient: `out += d * mask`.
    ScaleAdd,
}

impl Mask {
    /// Runs `pass` over `out` and `input` (equal lengths), in chunks of
    /// [`PAR_CHUNK`] on rayon's threads when there is more than one chunk.
    /// Each chunk knows its first element's index, so the bits do not depend
    /// on how the work was split.
    fn run(self, pass: Pass, out: &mut [f64], input: &[f64]) {
        debug_assert_eq!(out.len(), input.len());
        if out.len() <= PAR_CHUNK {
            self.run_chunk(pass, 0, out, input);
        } else {
            out.par_chunks_mut(PAR_CHUNK)
                .zip(input.par_chunks(PAR_CHUNK))
                .enumerate()
                .for_each(|(c, (out, input))| self.run_chunk(pass, c * PAR_CHUNK, out, input));
        }
    }

    /// One chunk starting at element `start`, with AVX2 when the CPU has it:
    /// the mixer's 64-bit multiplies then run four to a vector instead of two.
    fn run_chunk(self, pass: Pass, start: usize, out: &mut [f64], input: &[f64]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: `run_chunk_avx2` needs AVX2; the check just above found
            // it on this CPU.
            unsafe { self.run_chunk_avx2(pass, start, out, input) };
            return;
        }
        self.run_chunk_portable(pass, start, out, input);
    }

    /// [`Mask::run_chunk_portable`] compiled for AVX2. Same integer
    /// arithmetic and the same one multiply per element, so the same bits.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn run_chunk_avx2(self, pass: Pass, start: usize, out: &mut [f64], input: &[f64]) {
        self.run_chunk_portable(pass, start, out, input);
    }

    /// The loops. Each runs over equal-length slices with no branch and no
    /// state carried between elements, so LLVM vectorises it: the keep
    /// decision becomes an all-ones or all-zeros bit pattern ANDed onto the
    /// kept value, which gives +0.0 where dropped, as a select would (LLVM
    /// turns a select on random bits into a branch that mispredicts half the
    /// time at p = 0.5).
    #[inline(always)]
    fn run_chunk_portable(self, pass: Pass, start: usize, out: &mut [f64], input: &[f64]) {
        let input = &input[..out.len()];
        let pairs = out.iter_mut().zip(input).enumerate();
        match pass {
            Pass::Apply => {
                for (k, (o, &x)) in pairs {
                    *o = f64::from_bits((x * self.inv_p).to_bits() & self.bits(start + k));
                }
            }
            Pass::Scale => {
                for (k, (g, &d)) in pairs {
                    *g = d * self.value(start + k);
                }
            }
            Pass::ScaleAdd => {
                for (k, (g, &d)) in pairs {
                    *g += d * self.value(start + k);
                }
            }
        }
    }

    /// All ones when element `i` is kept, else zero.
    #[inline(always)]
    fn bits(self, i: usize) -> u64 {
        u64::from(self.stream.below(i as u64, self.threshold)).wrapping_neg()
    }

    /// The mask's value at element `i`: `1 / p` or 0.
    #[inline(always)]
    fn value(self, i: usize) -> f64 {
        f64::from_bits(self.inv_p.to_bits() & self.bits(i))
    }
}

#[cfg(test)]
mod tests {
    use super::{Mask, Pass};
    use crate::random::{rng_from_seed, uniform, CounterRng};

    /// The portable loops and the CPU's (AVX2 where it has it) give the same
    /// bits for every pass, including non-finite inputs and a tail shorter
    /// than a vector.
    #[test]
    fn the_portable_and_the_selected_kernels_agree() {
        let mut rng = rng_from_seed(1);
        let n = 1003;
        let mut input: Vec<f64> = (0..n).map(|_| uniform(&mut rng) - 0.5).collect();
        input[..4].copy_from_slice(&[f64::NAN, f64::INFINITY, -0.0, f64::NEG_INFINITY]);
        let start: Vec<f64> = (0..n).map(|_| uniform(&mut rng)).collect();
        for p in [0.1, 0.5, 0.8] {
            let mask = Mask {
                stream: CounterRng::from_rng(&mut rng),
                threshold: CounterRng::threshold(p),
                inv_p: 1.0 / p,
            };
            for pass in [Pass::Apply, Pass::Scale, Pass::ScaleAdd] {
                let (mut a, mut b) = (start.clone(), start.clone());
                mask.run_chunk_portable(pass, 12345, &mut a, &input);
                mask.run_chunk(pass, 12345, &mut b, &input);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&a), bits(&b), "p = {p}");
            }
        }
    }
}
