//! Adam, `optim.py`'s `adam`, with optional decoupled weight decay (AdamW).

use rayon::prelude::*;

use gradtape_core::{GradFill, Result};

use crate::check;
use crate::rule::Rule;
use crate::state::{OptimState, ParamState};
use crate::{Optim, UpdateRule};

const OP: &str = "adam";
const M: &str = "m";
const V: &str = "v";

/// Hyperparameters of [`Adam`].
///
/// ```
/// use gradtape_optim::{Adam, AdamConfig};
/// let adamw = Adam::new(AdamConfig { learning_rate: 5e-4, weight_decay: 1e-2, ..AdamConfig::default() });
/// assert!(adamw.is_ok());
/// let err = Adam::new(AdamConfig { beta2: 1.0, ..AdamConfig::default() }).unwrap_err();
/// assert_eq!(err.to_string(), "adam: beta2 must be in [0, 1), got 1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// Step size; finite and `>= 0`. Default `1e-3`.
    pub learning_rate: f64,
    /// Decay of the first moment, in `[0, 1)`. Default `0.9`.
    pub beta1: f64,
    /// Decay of the second moment, in `[0, 1)`. Default `0.999`.
    pub beta2: f64,
    /// Smoothing term added to the root of the corrected second moment;
    /// finite and `> 0`. Default `1e-8`.
    pub epsilon: f64,
    /// Decoupled (AdamW) weight decay; finite and `>= 0`. Default `0.0`
    /// (off: plain `optim.py` Adam).
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    /// The `optim.py` defaults: `learning_rate = 1e-3`, `beta1 = 0.9`,
    /// `beta2 = 0.999`, `epsilon = 1e-8`; `weight_decay = 0`.
    fn default() -> Self {
        AdamConfig {
            learning_rate: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl AdamConfig {
    /// Errors, naming the hyperparameter, if any value is out of range.
    pub fn validate(&self) -> Result<()> {
        check::learning_rate(OP, self.learning_rate)?;
        check::unit_interval(OP, "beta1", self.beta1)?;
        check::unit_interval(OP, "beta2", self.beta2)?;
        check::positive(OP, "epsilon", self.epsilon)?;
        check::non_negative(OP, "weight_decay", self.weight_decay)
    }
}

/// First and second moments and the step count of one parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    m: Vec<f64>,
    v: Vec<f64>,
    t: u64,
}

/// The scalars of one Adam step, computed once per call.
#[derive(Clone, Copy)]
struct Step {
    lr: f64,
    beta1: f64,
    beta2: f64,
    one_minus_beta1: f64,
    one_minus_beta2: f64,
    /// `1 - beta1^t`
    correction1: f64,
    /// `1 - beta2^t`
    correction2: f64,
    epsilon: f64,
    /// `1 - lr * weight_decay`
    keep: f64,
}

/// Adam as in `optim.py`, with the step count `t` kept per parameter.
///
/// For each update of a parameter (state `m`, `v` zero and `t = 0` on
/// first use), with scalars computed once per call:
///
/// ```text
/// t  += 1
/// m   = beta1 * m + (1 - beta1) * dw
/// v   = beta2 * v + (1 - beta2) * (dw * dw)
/// mt  = m / (1 - beta1^t)
/// vt  = v / (1 - beta2^t)
/// w   = w - lr * mt / (sqrt(vt) + epsilon)
/// ```
///
/// in exactly this operation order (so results match the NumPy code bit for
/// bit; `beta^t` is `f64::powf`, the C `pow` that Python's `**` also calls).
/// The whole update is one fused pass over the parameter.
///
/// With `weight_decay > 0` this is AdamW (decoupled weight decay, as
/// `torch.optim.AdamW`): before the Adam step each weight is shrunk,
/// `w = w * (1 - lr * weight_decay)` (the scalar `1 - lr * weight_decay`
/// computed once per call, with the current learning rate), and the Adam step
/// above is then subtracted from that shrunk weight. The decay never enters
/// `m` or `v`. With `weight_decay == 0` the shrink is skipped entirely.
///
/// ```
/// use gradtape_optim::{Adam, Optimizer};
/// let mut opt = Adam::default();
/// let mut w = vec![0.5, -0.5];
/// opt.update("W1", &mut w, &[2.0, -3.0]).unwrap();
/// // Step 1: mt = dw and vt = dw², so each weight moves by lr * dw / (|dw| + eps).
/// assert!((w[0] - (0.5 - 1e-3)).abs() < 1e-10);
/// assert!((w[1] - (-0.5 + 1e-3)).abs() < 1e-10);
/// assert_eq!(opt.step_count("W1"), Some(1));
/// ```
pub type Adam = Optim<AdamConfig>;

impl Adam {
    /// How many times parameter `name` has been updated (its `t`), if ever.
    pub fn step_count(&self, name: &str) -> Option<u64> {
        self.state_by_name(name).map(|s| s.t)
    }

    /// The first and second moments `(m, v)` of parameter `name`, if it has
    /// been updated.
    pub fn moments(&self, name: &str) -> Option<(&[f64], &[f64])> {
        self.state_by_name(name)
            .map(|s| (s.m.as_slice(), s.v.as_slice()))
    }
}

/// Values per part of a parameter that one thread updates at a time: 256 KB
/// per buffer, so a part of the gradient just computed is still in L2.
const CHUNK: usize = 1 << 15;

impl Moments {
    /// `w`, `m` and `v` in parts of `part` values, one thread's at a time:
    /// the update is elementwise, so splitting it changes no bit of the
    /// result, and a parameter of one part stays on the calling thread.
    fn parts<'a>(
        &'a mut self,
        w: &'a mut [f64],
        part: usize,
    ) -> impl IndexedParallelIterator<Item = ((&'a mut [f64], &'a mut [f64]), &'a mut [f64])> {
        w.par_chunks_mut(part)
            .zip(self.m.par_chunks_mut(part))
            .zip(self.v.par_chunks_mut(part))
    }
}

impl AdamConfig {
    /// This update's constants, counting the step.
    fn step(&self, lr: f64, weight_decay: f64, st: &mut Moments) -> Step {
        st.t += 1;
        let t = st.t as f64;
        Step {
            lr,
            beta1: self.beta1,
            beta2: self.beta2,
            one_minus_beta1: 1.0 - self.beta1,
            one_minus_beta2: 1.0 - self.beta2,
            correction1: 1.0 - self.beta1.powf(t),
            correction2: 1.0 - self.beta2.powf(t),
            epsilon: self.epsilon,
            keep: 1.0 - lr * weight_decay,
        }
    }
}

/// The fused Adam pass: reads `dw` once and updates `m`, `v` and `w`
/// together. `DECAY` selects the AdamW shrink at compile time so the plain
/// Adam loop carries no branch.
#[inline(always)]
fn fused<const DECAY: bool>(w: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64], s: Step) {
    for (((w, &dw), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let mi = s.beta1 * *m + s.one_minus_beta1 * dw;
        let vi = s.beta2 * *v + s.one_minus_beta2 * (dw * dw);
        *m = mi;
        *v = vi;
        let mt = mi / s.correction1;
        let vt = vi / s.correction2;
        let wi = if DECAY { *w * s.keep } else { *w };
        *w = wi - s.lr * mt / (vt.sqrt() + s.epsilon);
    }
}

/// [`fused`] compiled for 4-wide AVX registers when the CPU has them: the
/// pass is bound by its three divisions and a square root per element, and
/// 4-wide `vdivpd`/`vsqrtpd` do twice the work of the baseline 2-wide SSE2
/// ones in about the same time. The same IEEE operations in the same order
/// (no FMA contraction), so the bits are those of the SSE2 build.
fn fused_best(decay: bool, w: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64], s: Step) {
    #[inline(always)]
    fn pass(decay: bool, w: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64], s: Step) {
        if decay {
            fused::<true>(w, g, m, v, s);
        } else {
            fused::<false>(w, g, m, v, s);
        }
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        #[target_feature(enable = "avx")]
        unsafe fn avx(
            decay: bool,
            w: &mut [f64],
            g: &[f64],
            m: &mut [f64],
            v: &mut [f64],
            s: Step,
        ) {
            pass(decay, w, g, m, v, s);
        }
        // SAFETY: `avx` is unsafe only for its `target_feature`, and
        // `is_x86_feature_detected!("avx")` returned true just above; its
        // arguments are safe slices and it does nothing `pass` would not.
        unsafe { avx(decay, w, g, m, v, s) };
        return;
    }
    pass(decay, w, g, m, v, s);
}

impl Rule for AdamConfig {
    type State = Moments;
    const RULE: UpdateRule = UpdateRule::Adam;
    const BUFFERS: &'static [&'static str] = &[M, V];
    const COUNTS_STEPS: bool = true;

    fn validate(&self) -> Result<()> {
        AdamConfig::validate(self)
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    fn learning_rate_mut(&mut self) -> &mut f64 {
        &mut self.learning_rate
    }

    fn weight_decay(&self) -> f64 {
        self.weight_decay
    }

    fn hyperparameters(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("beta1", self.beta1),
            ("beta2", self.beta2),
            ("epsilon", self.epsilon),
            ("weight_decay", self.weight_decay),
        ]
    }

    fn from_snapshot(state: &OptimState) -> Self {
        AdamConfig {
            learning_rate: state.learning_rate,
            beta1: state.hyper("beta1"),
            beta2: state.hyper("beta2"),
            epsilon: state.hyper("epsilon"),
            weight_decay: state.hyper("weight_decay"),
        }
    }

    fn zeros(len: usize) -> Moments {
        Moments {
            m: vec![0.0; len],
            v: vec![0.0; len],
            t: 0,
        }
    }

    fn state_len(s: &Moments) -> Option<usize> {
        Some(s.m.len())
    }

    fn export(s: &Moments) -> ParamState {
        ParamState {
            step: s.t,
            buffers: [(M.to_owned(), s.m.clone()), (V.to_owned(), s.v.clone())].into(),
        }
    }

    fn import(p: &ParamState) -> Moments {
        Moments {
            m: p.buffers[M].clone(),
            v: p.buffers[V].clone(),
            t: p.step,
        }
    }

    fn apply(&self, lr: f64, weight_decay: f64, w: &mut [f64], g: &[f64], st: &mut Moments) {
        let step = self.step(lr, weight_decay, st);
        let decay = weight_decay > 0.0;
        st.parts(w, CHUNK)
            .zip(g.par_chunks(CHUNK))
            .for_each(|(((w, m), v), g)| fused_best(decay, w, g, m, v, step));
    }

    /// Each part of the gradient (whole rows, about `CHUNK` values) is
    /// computed and at once applied, while it is in cache: the same
    /// elementwise arithmetic as `apply`, so the same bits.
    fn apply_filling(
        &self,
        lr: f64,
        weight_decay: f64,
        w: &mut [f64],
        g: &mut [f64],
        st: &mut Moments,
        fill: &GradFill<'_>,
    ) {
        let step = self.step(lr, weight_decay, st);
        let part = (CHUNK / fill.row_len()).max(1) * fill.row_len();
        let decay = weight_decay > 0.0;
        st.parts(w, part)
            .zip(g.par_chunks_mut(part))
            .enumerate()
            .for_each(|(i, (((w, m), v), g))| {
                fill.fill(i * part, g);
                fused_best(decay, w, g, m, v, step)
            });
    }
}
