//! What a backward closure sees ([`BackwardCtx`]) and where it writes
//! ([`Grads`], one [`GradSlot`] per input).
//!
//! A gradient buffer is drawn from the tape's pool at the start of
//! [`Tape::backward`](crate::Tape::backward) and holds stale values until the
//! first op writes into it. [`Grads::slot`] says which case the op is in:
//! [`GradSlot::Fresh`] for the first contribution (overwrite every element,
//! no need to zero the buffer first: a matrix product runs with `beta = 0`)
//! and [`GradSlot::Accumulate`] for every later one (add). A variable used
//! twice thus receives the sum of both contributions, and the common case of
//! one contribution costs no zeroing pass.

use crate::{Tensor, Var};

/// What a backward closure reads: every value on the tape, its op's own
/// output and the gradient of that output.
pub struct BackwardCtx<'a> {
    pub(crate) values: &'a [Tensor],
    pub(crate) output: usize,
    pub(crate) grad_out: &'a Tensor,
    /// The op's inputs, and how many parameters lead the tape: a parameter
    /// that is not an input may already have been updated by
    /// [`Tape::backward_with`](crate::Tape::backward_with).
    pub(crate) inputs: &'a [Var],
    pub(crate) n_params: usize,
}

impl BackwardCtx<'_> {
    /// The forward value of a node the op recorded as an input or cache.
    /// (A parameter read here must be one of the op's inputs: in
    /// [`Tape::backward_with`](crate::Tape::backward_with) any other may
    /// already have been updated. Debug builds check this.)
    pub fn value(&self, v: Var) -> &Tensor {
        debug_assert!(
            v.index() >= self.n_params || self.inputs.contains(&v),
            "a backward closure read parameter #{} without recording it as an input",
            v.index()
        );
        &self.values[v.index()]
    }

    /// The op's own forward value (what [`Tape::record`](crate::Tape::record)
    /// stored), borrowed: `exp`, `tanh`, `sigmoid` and softmax write their
    /// gradient from it without caching a copy.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.param(Tensor::from_vec(vec![0.0, 1.0], &[2]).unwrap()).unwrap();
    /// // y = exp(x) as a custom op: dy/dx = y
    /// let y = t.value(x).unwrap().map(f64::exp);
    /// let y = t.record("my_exp", y, &[x], move |ctx, grads| {
    ///     if let Some(slot) = grads.slot(x) {
    ///         let out = ctx.output().data().iter();
    ///         slot.write(ctx.grad_out().data().iter().zip(out).map(|(g, y)| g * y));
    ///     }
    /// }).unwrap();
    /// let loss = t.sum(y).unwrap();
    /// t.backward(loss).unwrap();
    /// assert_eq!(t.grad(x).unwrap().data(), &[1.0, 1f64.exp()]);
    /// ```
    pub fn output(&self) -> &Tensor {
        &self.values[self.output]
    }

    /// The gradient of the loss with respect to the op's output.
    pub fn grad_out(&self) -> &Tensor {
        self.grad_out
    }
}

/// One node's gradient buffer during backward; see the module doc.
pub(crate) struct GradBuf {
    pub(crate) value: Tensor,
    /// No op has written yet: the buffer holds stale pool values.
    pub(crate) fresh: bool,
}

/// The gradient buffers of the nodes before the op being back-propagated,
/// and the tape's spare buffers for an op's intermediate results.
pub struct Grads<'a> {
    pub(crate) slots: &'a mut [Option<GradBuf>],
    /// The tape's spare scratch buffers.
    pub(crate) scratch: &'a mut Vec<Vec<f64>>,
}

impl Grads<'_> {
    /// A zeroed buffer of `len` elements for the op's intermediate results
    /// (column sums, say), taken from the tape's spare scratch buffers. Give it back
    /// with [`Grads::recycle`] when done, so the next iteration reuses it
    /// instead of allocating.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.param(Tensor::from_vec(vec![1.0, 2.0, 3.0, 5.0], &[2, 2]).unwrap()).unwrap();
    /// // y = x minus its column means, as a custom op: dx = g minus g's column means
    /// let xv = t.value(x).unwrap();
    /// let means = [(xv.at(&[0, 0]) + xv.at(&[1, 0])) / 2.0, (xv.at(&[0, 1]) + xv.at(&[1, 1])) / 2.0];
    /// let y = xv.data().iter().enumerate().map(|(i, v)| v - means[i % 2]).collect();
    /// let y = Tensor::from_vec(y, &[2, 2]).unwrap();
    /// let y = t.record("center", y, &[x], move |ctx, grads| {
    ///     let g = ctx.grad_out().data();
    ///     let mut means = grads.scratch(2);
    ///     for row in g.chunks(2) {
    ///         means.iter_mut().zip(row).for_each(|(m, g)| *m += g / 2.0);
    ///     }
    ///     if let Some(slot) = grads.slot(x) {
    ///         slot.write(g.iter().enumerate().map(|(i, g)| g - means[i % 2]));
    ///     }
    ///     grads.recycle(means);
    /// }).unwrap();
    /// let c = t.input(Tensor::from_vec(vec![1.0, 0.0, 0.0, 0.0], &[2, 2]).unwrap());
    /// let yc = t.mul(y, c).unwrap();
    /// let loss = t.sum(yc).unwrap(); // = y[0][0] = (x[0][0] - x[1][0]) / 2
    /// t.backward(loss).unwrap();
    /// assert_eq!(t.grad(x).unwrap().data(), &[0.5, 0.0, -0.5, 0.0]);
    /// ```
    pub fn scratch(&mut self, len: usize) -> Vec<f64> {
        // A spare of the same size if there is one, else any spare (grown
        // if it must be), else a new buffer: the spares never outnumber
        // the scratch buffers an op held at once.
        let spare = match self.scratch.iter().rposition(|b| b.capacity() >= len) {
            Some(i) => Some(self.scratch.swap_remove(i)),
            None => self.scratch.pop(),
        };
        let mut b = spare.unwrap_or_default();
        b.clear();
        b.resize(len, 0.0);
        b
    }

    /// Gives a buffer from [`Grads::scratch`] back to the tape.
    pub fn recycle(&mut self, buf: Vec<f64>) {
        self.scratch.push(buf);
    }

    /// Where to write the gradient of `v`, or `None` when `v` needs none
    /// (an input, a cache, or a value computed only from those).
    ///
    /// The first call for `v` in a backward pass returns
    /// [`GradSlot::Fresh`], every later one [`GradSlot::Accumulate`]: the
    /// op must write every element of a fresh slot, and add to an
    /// accumulating one. [`GradSlot::write`] and [`GradSlot::zeroed`] do
    /// the right thing for either.
    ///
    /// ```
    /// use gradtape_core::{GradSlot, Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.param(Tensor::ones(&[2])).unwrap();
    /// // y = 2x, writing each case explicitly
    /// let y = t.value(x).unwrap().map(|v| 2.0 * v);
    /// let y = t.record("double", y, &[x], move |ctx, grads| {
    ///     let d = ctx.grad_out().data();
    ///     match grads.slot(x) {
    ///         Some(GradSlot::Fresh(g)) => g.iter_mut().zip(d).for_each(|(g, d)| *g = 2.0 * d),
    ///         Some(GradSlot::Accumulate(g)) => g.iter_mut().zip(d).for_each(|(g, d)| *g += 2.0 * d),
    ///         None => {}
    ///     }
    /// }).unwrap();
    /// let z = t.add(y, y).unwrap(); // y used twice: its gradient adds up
    /// let loss = t.sum(z).unwrap();
    /// t.backward(loss).unwrap();
    /// assert_eq!(t.grad(x).unwrap().data(), &[4.0, 4.0]);
    /// ```
    pub fn slot(&mut self, v: Var) -> Option<GradSlot<'_>> {
        let buf = self.slots.get_mut(v.index())?.as_mut()?;
        let data = buf.value.data_mut();
        Some(if std::mem::replace(&mut buf.fresh, false) {
            GradSlot::Fresh(data)
        } else {
            GradSlot::Accumulate(data)
        })
    }
}

/// A gradient buffer to write into, and how (see [`Grads::slot`]).
#[derive(Debug)]
pub enum GradSlot<'a> {
    /// The first contribution: the buffer holds stale values and every
    /// element must be overwritten.
    Fresh(&'a mut [f64]),
    /// A later contribution: add to what the buffer holds.
    Accumulate(&'a mut [f64]),
}

impl<'a> GradSlot<'a> {
    /// Writes `values` (one per element, in order): overwrites a fresh
    /// buffer, adds to an accumulating one.
    ///
    /// ```
    /// use gradtape_core::GradSlot;
    /// let mut g = [1.0, 2.0];
    /// GradSlot::Accumulate(&mut g).write([10.0, 20.0]);
    /// assert_eq!(g, [11.0, 22.0]);
    /// GradSlot::Fresh(&mut g).write([5.0, 6.0]);
    /// assert_eq!(g, [5.0, 6.0]);
    /// ```
    pub fn write(self, values: impl IntoIterator<Item = f64>) {
        match self {
            GradSlot::Fresh(g) => g.iter_mut().zip(values).for_each(|(g, v)| *g = v),
            GradSlot::Accumulate(g) => g.iter_mut().zip(values).for_each(|(g, v)| *g += v),
        }
    }

    /// The buffer, ready to be *added* into: a fresh one is zeroed first.
    /// For ops that scatter their gradient (a sum over broadcast axes, the
    /// first maximum) or whose buffer is too small for the zeroing to matter.
    ///
    /// ```
    /// use gradtape_core::GradSlot;
    /// let mut g = [7.0, 7.0];
    /// GradSlot::Fresh(&mut g).zeroed()[1] += 3.0;
    /// assert_eq!(g, [0.0, 3.0]);
    /// ```
    pub fn zeroed(self) -> &'a mut [f64] {
        match self {
            GradSlot::Fresh(g) => {
                g.fill(0.0);
                g
            }
            GradSlot::Accumulate(g) => g,
        }
    }

    /// The buffer and the `beta` of a matrix product
    /// `c = alpha * a * b + beta * c` that writes into it: 0 for a fresh
    /// buffer (its stale values are not read), 1 to add.
    ///
    /// ```
    /// use gradtape_core::{gemm, GradSlot};
    /// let mut g = [f64::NAN; 1]; // stale
    /// let (buf, beta) = GradSlot::Fresh(&mut g).gemm_target();
    /// gemm(1, 1, 1, 1.0, &[2.0], false, &[3.0], false, beta, buf);
    /// assert_eq!(g, [6.0]);
    /// ```
    pub fn gemm_target(self) -> (&'a mut [f64], f64) {
        match self {
            GradSlot::Fresh(g) => (g, 0.0),
            GradSlot::Accumulate(g) => (g, 1.0),
        }
    }
}
