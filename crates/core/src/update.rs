//! What [`Tape::backward_with_update`](crate::Tape::backward_with_update)
//! hands each parameter to: an update applied during backward, the moment
//! the parameter's gradient is final.
//!
//! A weight's gradient that is a matrix product (`dW = X^T dY` for
//! `affine`, `dB = A^T dY` for `matmul`) can also be handed over *before*
//! it is computed, with a [`GradFill`] that computes any rows of it: an
//! update that works element by element (every optimizer here) then
//! computes one part of the gradient and updates that part of the weight
//! while the part is still in cache, instead of reading the whole gradient
//! back from memory after the product has written all of it. The bits are
//! the same either way.

use crate::{Result, Tensor, Var};

/// An update of the parameters during backward
/// ([`Tape::backward_with_update`]).
///
/// Any `FnMut(Var, &mut Tensor, &Tensor) -> Result<()>` is one (what
/// [`Tape::backward_with`] takes); implement the trait yourself to also take
/// gradients part by part ([`ParamUpdate::update_filling`]).
///
/// [`Tape::backward_with`]: crate::Tape::backward_with
/// [`Tape::backward_with_update`]: crate::Tape::backward_with_update
///
/// ```
/// use gradtape_core::{GradFill, ParamUpdate, Result, Tape, Tensor, Var};
/// /// Plain SGD, a part of each product-shaped gradient at a time.
/// struct Sgd(f64);
/// impl ParamUpdate for Sgd {
///     fn update(&mut self, _: Var, value: &mut Tensor, grad: &Tensor) -> Result<()> {
///         value.data_mut().iter_mut().zip(grad.data()).for_each(|(w, g)| *w -= self.0 * g);
///         Ok(())
///     }
///     fn update_filling(&mut self, _: Var, value: &mut Tensor, grad: &mut Tensor, fill: &GradFill<'_>) -> Result<()> {
///         let part = fill.row_len(); // one row at a time
///         for (i, (w, g)) in value.data_mut().chunks_mut(part).zip(grad.data_mut().chunks_mut(part)).enumerate() {
///             fill.fill(i * part, g);
///             w.iter_mut().zip(g.iter()).for_each(|(w, g)| *w -= self.0 * g);
///         }
///         Ok(())
///     }
/// }
/// let mut tape = Tape::new();
/// let w = tape.param(Tensor::full(&[3, 2], 1.0)).unwrap();
/// let b = tape.param(Tensor::zeros(&[2])).unwrap();
/// let x = tape.input(Tensor::full(&[4, 3], 0.5));
/// let y = tape.affine(x, w, b).unwrap();
/// let loss = tape.sum(y).unwrap();
/// tape.backward_with_update(loss, &mut Sgd(0.1)).unwrap();
/// assert_eq!(tape.grad(w).unwrap().data(), &[2.0; 6]); // 4 rows of x, each 0.5
/// assert_eq!(tape.value(w).unwrap().data(), &[0.8; 6]);
/// ```
pub trait ParamUpdate {
    /// Updates `param`, whose value is `value` (changed in place), from its
    /// final gradient `grad`.
    fn update(&mut self, param: Var, value: &mut Tensor, grad: &Tensor) -> Result<()>;

    /// Updates `param` from a gradient not yet computed: `fill` computes it
    /// into `grad` (as a whole, or rows at a time, each row once); after
    /// that `grad` is final, as in [`ParamUpdate::update`]. The default
    /// fills all of it, then calls `update`. An implementation fills every
    /// row before it returns `Ok`; after an error the rows it did not fill
    /// hold no gradient ([`Tape::grad`](crate::Tape::grad) shows them as
    /// they were).
    fn update_filling(
        &mut self,
        param: Var,
        value: &mut Tensor,
        grad: &mut Tensor,
        fill: &GradFill<'_>,
    ) -> Result<()> {
        fill.fill_all(grad.data_mut());
        self.update(param, value, grad)
    }
}

impl<F> ParamUpdate for F
where
    F: FnMut(Var, &mut Tensor, &Tensor) -> Result<()>,
{
    fn update(&mut self, param: Var, value: &mut Tensor, grad: &Tensor) -> Result<()> {
        self(param, value, grad)
    }
}

/// Computes rows of a parameter's gradient (a row is the parameter's last
/// dimension: `M` values of a `(D, M)` weight), given to
/// [`ParamUpdate::update_filling`]. Each element comes out exactly as the
/// whole product computes it, whichever parts it is computed in; the rows
/// already hold an earlier op's contribution when the parameter feeds
/// several ops, and the product adds to it, so each row is filled once.
pub struct GradFill<'a> {
    row_len: usize,
    len: usize,
    /// `(first row, the rows' buffer, may split over threads)`.
    rows: &'a (dyn Fn(usize, &mut [f64], bool) + Sync),
}

impl<'a> GradFill<'a> {
    pub(crate) fn new(
        row_len: usize,
        len: usize,
        rows: &'a (dyn Fn(usize, &mut [f64], bool) + Sync),
    ) -> GradFill<'a> {
        GradFill { row_len, len, rows }
    }

    /// Values per row (at least 1).
    pub fn row_len(&self) -> usize {
        self.row_len.max(1)
    }

    /// Computes the gradient's values `start .. start + part.len()` into
    /// `part`, on this thread (call it from several threads for several
    /// parts). Panics unless the range is whole rows inside the gradient.
    pub fn fill(&self, start: usize, part: &mut [f64]) {
        self.check(start, part.len());
        (self.rows)(start / self.row_len(), part, false);
    }

    /// Computes the whole gradient into `grad` (threaded as any product).
    /// Panics unless `grad` has the gradient's length.
    pub fn fill_all(&self, grad: &mut [f64]) {
        assert_eq!(
            grad.len(),
            self.len,
            "GradFill::fill_all: the gradient's length"
        );
        (self.rows)(0, grad, true);
    }

    fn check(&self, start: usize, len: usize) {
        let row = self.row_len();
        assert!(
            start.is_multiple_of(row)
                && len.is_multiple_of(row)
                && start.checked_add(len).is_some_and(|e| e <= self.len),
            "GradFill::fill: values {start}..+{len} are not whole rows of {row} within {}",
            self.len
        );
    }
}
