//! `add`, `sub`, `mul`, `div` with NumPy broadcasting, up to rank 4.
//!
//! Shapes are aligned on their last axis; along each axis the two sizes must
//! be equal or one of them 1, and a size-1 (or missing) axis is repeated to
//! the other's size: a scalar `()` against anything, a row `(M,)` against
//! `(N, M)`, a column `(N, 1)` against `(N, M)`. An input's gradient is the
//! output gradient's contribution summed over the axes it was repeated
//! along. Two inputs of one shape take a plain elementwise loop.

use crate::tape::checked_numel;
use crate::{Error, GradSlot, Result, Shape, Tape, Var};

/// The highest rank broadcasting supports.
const MAX_RANK: usize = 4;

/// How two shapes broadcast: the output's dimensions padded to rank 4 on
/// the left, and each input's element strides along them (0 on an axis the
/// input is repeated along).
#[derive(Clone, Copy)]
struct Plan {
    dims: [usize; MAX_RANK],
    a: [usize; MAX_RANK],
    b: [usize; MAX_RANK],
}

impl Plan {
    fn new(op: &'static str, sa: &Shape, sb: &Shape) -> Result<(Plan, Shape)> {
        let rank = sa.rank().max(sb.rank());
        if rank > MAX_RANK {
            return Err(Error::invalid(
                op,
                format!("a is {sa} and b is {sb}: broadcasting supports rank <= {MAX_RANK}"),
            ));
        }
        let (pa, pb) = (padded(sa), padded(sb));
        let mut dims = [1; MAX_RANK];
        for i in 0..MAX_RANK {
            dims[i] = match (pa[i], pb[i]) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => return Err(Error::shapes(op, "a", sa, "b", sb)),
            };
        }
        checked_numel(op, &dims)?;
        let plan = Plan {
            dims,
            a: strides(op, &pa)?,
            b: strides(op, &pb)?,
        };
        Ok((plan, Shape::from(&dims[MAX_RANK - rank..])))
    }

    /// Calls `f(out, ia, ib)` for every output element in row-major order,
    /// with the element of `a` and of `b` it is computed from.
    fn for_each(&self, mut f: impl FnMut(usize, usize, usize)) {
        let [d0, d1, d2, d3] = self.dims;
        let (a, b) = (self.a, self.b);
        let mut o = 0;
        for i0 in 0..d0 {
            for i1 in 0..d1 {
                for i2 in 0..d2 {
                    let ia = i0 * a[0] + i1 * a[1] + i2 * a[2];
                    let ib = i0 * b[0] + i1 * b[1] + i2 * b[2];
                    for i3 in 0..d3 {
                        f(o, ia + i3 * a[3], ib + i3 * b[3]);
                        o += 1;
                    }
                }
            }
        }
    }
}

/// `dims` padded on the left with 1s to rank 4.
fn padded(s: &Shape) -> [usize; MAX_RANK] {
    let mut p = [1; MAX_RANK];
    p[MAX_RANK - s.rank()..].copy_from_slice(s.dims());
    p
}

/// Row-major element strides of padded dims, 0 on size-1 axes (they are the
/// ones repeated). Checked: an empty tensor's strides need not fit.
fn strides(op: &'static str, p: &[usize; MAX_RANK]) -> Result<[usize; MAX_RANK]> {
    let mut s = [0; MAX_RANK];
    let mut step = 1usize;
    for i in (0..MAX_RANK).rev() {
        s[i] = if p[i] == 1 { 0 } else { step };
        if i > 0 {
            step = step.checked_mul(p[i]).ok_or_else(|| {
                Error::invalid(
                    op,
                    format!("the strides of {} overflow", Shape::from(&p[..])),
                )
            })?;
        }
    }
    Ok(s)
}

/// The gradient of one side of a binary op: `d(x, y, g)` is its contribution
/// for one output element (x from a, y from b, g the output's gradient).
fn side_grad(
    slot: GradSlot<'_>,
    plan: Option<Plan>,
    repeated: bool,
    side_is_a: bool,
    (xa, xb, g): (&[f64], &[f64], &[f64]),
    d: impl Fn(f64, f64, f64) -> f64,
) {
    let Some(plan) = plan else {
        // One shape: elementwise.
        let v = xa.iter().zip(xb).zip(g).map(|((&x, &y), &g)| d(x, y, g));
        return slot.write(v);
    };
    if repeated {
        // Summed over the repeated axes: scatter-add into a zeroed buffer.
        let buf = slot.zeroed();
        plan.for_each(|o, ia, ib| {
            let i = if side_is_a { ia } else { ib };
            buf[i] += d(xa[ia], xb[ib], g[o]);
        });
    } else {
        // This side has the output's shape: element o is output element o.
        match slot {
            GradSlot::Fresh(buf) => plan.for_each(|o, ia, ib| buf[o] = d(xa[ia], xb[ib], g[o])),
            GradSlot::Accumulate(buf) => {
                plan.for_each(|o, ia, ib| buf[o] += d(xa[ia], xb[ib], g[o]))
            }
        }
    }
}

impl Tape {
    /// Records `f(a, b)` with broadcasting; `da(x, y, g)` and `db(x, y, g)`
    /// are the per-element contributions to each input's gradient.
    fn broadcast_binary(
        &mut self,
        op: &'static str,
        a: Var,
        b: Var,
        f: impl Fn(f64, f64) -> f64,
        da: impl Fn(f64, f64, f64) -> f64 + Copy + Send + Sync + 'static,
        db: impl Fn(f64, f64, f64) -> f64 + Copy + Send + Sync + 'static,
    ) -> Result<Var> {
        self.check(op, a)?;
        self.check(op, b)?;
        let (sa, sb) = (
            self.value(a)?.shape().clone(),
            self.value(b)?.shape().clone(),
        );
        let (plan, out_shape) = if sa == sb {
            (None, sa.clone())
        } else {
            let (plan, shape) = Plan::new(op, &sa, &sb)?;
            (Some(plan), shape)
        };
        let mut out = self.alloc_scratch(&out_shape);
        let (xa, xb) = (self.value(a)?.data(), self.value(b)?.data());
        let o = out.data_mut();
        match plan {
            None => {
                for ((o, x), y) in o.iter_mut().zip(xa).zip(xb) {
                    *o = f(*x, *y);
                }
            }
            Some(plan) => plan.for_each(|i, ia, ib| o[i] = f(xa[ia], xb[ib])),
        }
        let a_repeated = sa != out_shape;
        let b_repeated = sb != out_shape;
        self.record(op, out, &[a, b], move |ctx, grads| {
            let vals = (
                ctx.value(a).data(),
                ctx.value(b).data(),
                ctx.grad_out().data(),
            );
            if let Some(slot) = grads.slot(a) {
                side_grad(slot, plan, a_repeated, true, vals, da);
            }
            if let Some(slot) = grads.slot(b) {
                side_grad(slot, plan, b_repeated, false, vals, db);
            }
        })
    }

    /// `a + b`, elementwise with broadcasting (see the module doc); `da = g`,
    /// `db = g`, each summed over the axes its input was repeated along.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let b = t.param(Tensor::from_vec(vec![10.0, 20.0, 30.0], &[3]).unwrap()).unwrap();
    /// let x = t.input(Tensor::ones(&[2, 3]));
    /// let y = t.add(x, b).unwrap(); // a row against each row of x
    /// assert_eq!(t.value(y).unwrap().data(), &[11.0, 21.0, 31.0, 11.0, 21.0, 31.0]);
    /// let loss = t.sum(y).unwrap();
    /// t.backward(loss).unwrap();
    /// assert_eq!(t.grad(b).unwrap().data(), &[2.0, 2.0, 2.0]); // summed over the 2 rows
    /// let z = t.input(Tensor::ones(&[2, 4]));
    /// assert_eq!(t.add(x, z).unwrap_err().to_string(), "add: a is (2, 3) but b is (2, 4)");
    /// ```
    pub fn add(&mut self, a: Var, b: Var) -> Result<Var> {
        self.broadcast_binary("add", a, b, |x, y| x + y, |_, _, g| g, |_, _, g| g)
    }

    /// `a - b`, elementwise with broadcasting; `da = g`, `db = -g`.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.input(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap());
    /// let m = t.input(Tensor::from_vec(vec![1.0, 3.0], &[2, 1]).unwrap());
    /// let y = t.sub(x, m).unwrap(); // a column: one value per row
    /// assert_eq!(t.value(y).unwrap().data(), &[0.0, 1.0, 0.0, 1.0]);
    /// ```
    pub fn sub(&mut self, a: Var, b: Var) -> Result<Var> {
        self.broadcast_binary("sub", a, b, |x, y| x - y, |_, _, g| g, |_, _, g| -g)
    }

    /// `a * b`, elementwise with broadcasting; `da = g b`, `db = g a`.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let a = t.input(Tensor::full(&[2], 3.0));
    /// let c = t.mul(a, a).unwrap();
    /// assert_eq!(t.value(c).unwrap().data(), &[9.0, 9.0]);
    /// let s = t.input(Tensor::scalar(0.5));
    /// let d = t.mul(s, a).unwrap(); // a scalar against anything
    /// assert_eq!(t.value(d).unwrap().data(), &[1.5, 1.5]);
    /// ```
    pub fn mul(&mut self, a: Var, b: Var) -> Result<Var> {
        self.broadcast_binary("mul", a, b, |x, y| x * y, |_, y, g| g * y, |x, _, g| g * x)
    }

    /// `a / b`, elementwise with broadcasting; `da = g / b`,
    /// `db = -g a / b^2`. Division by zero gives infinities or NaN, as in
    /// NumPy (anomaly mode names the op).
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut t = Tape::new();
    /// let a = t.param(Tensor::from_vec(vec![1.0, 4.0], &[2]).unwrap()).unwrap();
    /// let b = t.param(Tensor::scalar(2.0)).unwrap();
    /// let y = t.div(a, b).unwrap();
    /// assert_eq!(t.value(y).unwrap().data(), &[0.5, 2.0]);
    /// let loss = t.sum(y).unwrap();
    /// t.backward(loss).unwrap();
    /// assert_eq!(t.grad(a).unwrap().data(), &[0.5, 0.5]);
    /// assert_eq!(t.grad(b).unwrap().data(), &[-(1.0 + 4.0) / 4.0]);
    /// ```
    pub fn div(&mut self, a: Var, b: Var) -> Result<Var> {
        self.broadcast_binary(
            "div",
            a,
            b,
            |x, y| x / y,
            |_, y, g| g / y,
            |x, y, g| -g * x / (y * y),
        )
    }
}
