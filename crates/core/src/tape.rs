//! The reverse-mode tape.
//!
//! Every value lives in one node of the tape. Parameters are the first nodes
//! and persist across iterations; everything after them (inputs, op outputs,
//! the caches ops keep for their backward) belongs to one iteration and is
//! dropped by [`Tape::reset`], its buffers kept in a pool for the next
//! iteration so memory stays flat however long training runs.
//!
//! An op is a method that computes its output, then [`Tape::record`]s it with
//! a closure that, given the output's gradient, *adds* its contribution to each
//! input's gradient. Accumulating (never overwriting) is what makes a variable
//! used twice receive the sum of both contributions.

use crate::{Error, Result, Shape, Tensor};
use smallvec::SmallVec;
use std::time::{Duration, Instant};

/// Where a tape's time went, per op name, when profiling is on
/// ([`Tape::set_profiling`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    /// `(op, forward time, backward time, calls)`, in first-seen order.
    pub ops: Vec<(&'static str, Duration, Duration, usize)>,
}

impl Profile {
    fn entry(&mut self, op: &'static str) -> &mut (&'static str, Duration, Duration, usize) {
        let i = match self.ops.iter().position(|e| e.0 == op) {
            Some(i) => i,
            None => {
                self.ops.push((op, Duration::ZERO, Duration::ZERO, 0));
                self.ops.len() - 1
            }
        };
        &mut self.ops[i]
    }
}

/// A handle to a node on a [`Tape`]. Cheap to copy; valid until the next
/// [`Tape::reset`] (parameters stay valid for the tape's whole life).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Var {
    id: u32,
    /// 0 for parameters; otherwise the tape generation the node belongs to.
    generation: u32,
}

impl Var {
    /// The node's position on the tape.
    pub fn index(self) -> usize {
        self.id as usize
    }
}

/// Whether dropout and batchnorm behave as in training or at test time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Dropout masks units, batchnorm uses batch statistics and updates the
    /// running ones.
    Train,
    /// Dropout is the identity, batchnorm uses the running statistics.
    Test,
}

/// What a backward closure reads: every value on the tape and the gradient of
/// the op's output.
pub struct BackwardCtx<'a> {
    values: &'a [Tensor],
    grad_out: &'a Tensor,
}

impl BackwardCtx<'_> {
    /// The forward value of a node the op recorded as an input or cache.
    pub fn value(&self, v: Var) -> &Tensor {
        &self.values[v.index()]
    }

    /// The gradient of the loss with respect to the op's output.
    pub fn grad_out(&self) -> &Tensor {
        self.grad_out
    }
}

/// Where a backward closure adds its contributions: the gradient buffers of
/// the nodes before the op's output.
///
/// A buffer starts *empty*: reused from the pool with stale values, not yet
/// zeroed. [`Grads::get`] zeroes it on first use, so adding into it is always
/// right; [`Grads::contribute`] lets an op that writes every element skip the
/// zeroing (a matrix product with `beta = 0`, `=` instead of `+=`), which
/// saves a pass over each buffer, 16 MB of parameter gradients per step for
/// the notebook's net.
pub struct Grads<'a> {
    slots: &'a mut [Option<Tensor>],
    empty: &'a mut [bool],
}

impl Grads<'_> {
    /// The gradient buffer of `v` to add into, or `None` when `v` needs no
    /// gradient (an input, a cache, or a value computed only from those).
    pub fn get(&mut self, v: Var) -> Option<&mut [f64]> {
        let (buf, overwrite) = self.contribute(v)?;
        if overwrite {
            buf.fill(0.0);
        }
        Some(buf)
    }

    /// The gradient buffer of `v`, and `true` when nothing has been added to
    /// it yet: then it holds stale values and the caller must write every
    /// element instead of adding ([`accumulate`] does either). `None` as in
    /// [`Grads::get`].
    ///
    /// ```
    /// use gradtape_core::{accumulate, Tape, Tensor};
    /// let mut t = Tape::new();
    /// let x = t.param(Tensor::ones(&[2])).unwrap();
    /// // y = 2x, written to overwrite on the first contribution
    /// let y = t.value(x).unwrap().map(|v| 2.0 * v);
    /// let y = t.record("double", y, &[x], move |ctx, grads| {
    ///     if let Some((gx, overwrite)) = grads.contribute(x) {
    ///         accumulate(gx, overwrite, ctx.grad_out().data().iter().map(|d| 2.0 * d));
    ///     }
    /// }).unwrap();
    /// let z = t.add(y, y).unwrap(); // y used twice: its gradient adds up
    /// let loss = t.sum(z).unwrap();
    /// t.backward(loss).unwrap();
    /// assert_eq!(t.grad(x).unwrap().data(), &[4.0, 4.0]);
    /// ```
    pub fn contribute(&mut self, v: Var) -> Option<(&mut [f64], bool)> {
        let i = v.index();
        let buf = self.slots[i].as_mut()?.data_mut();
        Some((buf, std::mem::replace(&mut self.empty[i], false)))
    }
}

/// Writes `values` into `dst` when `overwrite`, adds them otherwise: the two
/// cases of a gradient contribution (see [`Grads::contribute`]).
///
/// ```
/// let mut g = [1.0, 2.0];
/// gradtape_core::accumulate(&mut g, false, [10.0, 20.0]);
/// assert_eq!(g, [11.0, 22.0]);
/// gradtape_core::accumulate(&mut g, true, [5.0, 6.0]);
/// assert_eq!(g, [5.0, 6.0]);
/// ```
pub fn accumulate(dst: &mut [f64], overwrite: bool, values: impl IntoIterator<Item = f64>) {
    if overwrite {
        for (d, v) in dst.iter_mut().zip(values) {
            *d = v;
        }
    } else {
        for (d, v) in dst.iter_mut().zip(values) {
            *d += v;
        }
    }
}

type BackwardFn = Box<dyn Fn(&BackwardCtx<'_>, &mut Grads<'_>) + Send + Sync>;

struct Node {
    op: &'static str,
    inputs: SmallVec<[Var; 3]>,
    requires_grad: bool,
    backward: Option<BackwardFn>,
}

/// A reverse-mode autograd tape.
///
/// ```
/// use gradtape_core::{Tape, Tensor};
/// let mut tape = Tape::new();
/// let w = tape.param(Tensor::from_vec(vec![3.0], &[1]).unwrap()).unwrap();
/// for _ in 0..3 {
///     tape.reset(); // one iteration = one fresh graph over the same parameters
///     let y = tape.mul(w, w).unwrap(); // w used twice: dy/dw = 2w
///     let loss = tape.sum(y).unwrap();
///     tape.backward(loss).unwrap();
///     assert_eq!(tape.grad(w).unwrap().data(), &[6.0]);
/// }
/// ```
pub struct Tape {
    values: Vec<Tensor>,
    grads: Vec<Option<Tensor>>,
    /// Per node: its gradient buffer holds stale values (see [`Grads`]).
    grad_empty: Vec<bool>,
    nodes: Vec<Node>,
    n_params: usize,
    generation: u32,
    grad_enabled: bool,
    detect_anomaly: bool,
    /// Buffers of dropped nodes, reused by [`Tape::alloc`].
    pool: Vec<Vec<f64>>,
    /// Per-op timings, and when the last op was recorded (an op's forward
    /// time is the time since the previous record).
    profile: Option<(Profile, Instant)>,
}

impl Default for Tape {
    fn default() -> Self {
        Tape::new()
    }
}

impl Tape {
    /// An empty tape, recording gradients, anomaly detection off.
    pub fn new() -> Tape {
        Tape {
            values: Vec::new(),
            grads: Vec::new(),
            grad_empty: Vec::new(),
            nodes: Vec::new(),
            n_params: 0,
            generation: 1,
            grad_enabled: true,
            detect_anomaly: false,
            pool: Vec::new(),
            profile: None,
        }
    }

    /// Adds a parameter: a leaf that needs a gradient and survives
    /// [`Tape::reset`]. Parameters come before any per-iteration node, so
    /// call this on a fresh tape or right after a reset.
    pub fn param(&mut self, value: Tensor) -> Result<Var> {
        if self.values.len() != self.n_params {
            return Err(Error::invalid(
                "param",
                format!(
                    "the tape holds {} per-iteration nodes; add parameters before the first op or after reset()",
                    self.values.len() - self.n_params
                ),
            ));
        }
        let var = self.push(value, "param", SmallVec::new(), true, None);
        self.n_params += 1;
        Ok(Var {
            generation: 0,
            ..var
        })
    }

    /// Adds a per-iteration leaf that needs no gradient (a batch of data).
    pub fn input(&mut self, value: Tensor) -> Var {
        self.push(value, "input", SmallVec::new(), false, None)
    }

    /// Adds a per-iteration leaf that needs a gradient (for checking the
    /// gradient of an op with respect to its input).
    pub fn leaf(&mut self, value: Tensor) -> Var {
        self.push(value, "leaf", SmallVec::new(), true, None)
    }

    /// Drops every per-iteration node, keeping parameters and their
    /// gradients. Buffers go to a pool that later ops draw from.
    pub fn reset(&mut self) {
        let n = self.n_params;
        // Enough spares for one more iteration like this one (a value and a
        // gradient per node); older spares beyond that are freed, so inputs
        // the caller allocates afresh each iteration do not pile up here.
        let keep = 2 * (self.values.len() - n);
        for t in self.values.drain(n..) {
            self.pool.push(t.into_vec());
        }
        for t in self.grads.drain(n..).flatten() {
            self.pool.push(t.into_vec());
        }
        self.grad_empty.truncate(n);
        self.nodes.truncate(n);
        if self.pool.len() > keep {
            self.pool.drain(..self.pool.len() - keep);
        }
        self.generation = self.generation.wrapping_add(1).max(1);
        if let Some((_, last)) = self.profile.as_mut() {
            *last = Instant::now();
        }
    }

    /// Number of nodes on the tape (parameters included).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the tape holds no node at all.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.n_params
    }

    /// Every live node, in tape order (for inspecting a recorded graph).
    pub fn vars(&self) -> impl Iterator<Item = Var> + '_ {
        (0..self.values.len()).map(|i| Var {
            id: i as u32,
            generation: if i < self.n_params {
                0
            } else {
                self.generation
            },
        })
    }

    /// The parameters, in the order they were added.
    pub fn params(&self) -> impl Iterator<Item = Var> + '_ {
        (0..self.n_params).map(|i| Var {
            id: i as u32,
            generation: 0,
        })
    }

    /// Capacity of the node list: flat across iterations when buffers are
    /// reused (tests watch it).
    pub fn capacity(&self) -> usize {
        self.values.capacity()
    }

    /// Number of spare buffers waiting in the pool.
    pub fn pooled_buffers(&self) -> usize {
        self.pool.len()
    }

    /// Turns gradient recording on or off. With it off, ops compute values
    /// only and keep no backward closure (the user's `no_grad`).
    pub fn set_grad_enabled(&mut self, enabled: bool) {
        self.grad_enabled = enabled;
    }

    /// Whether ops record backward closures.
    pub fn grad_enabled(&self) -> bool {
        self.grad_enabled
    }

    /// Runs `f` with gradient recording off, then restores the previous
    /// setting.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut tape = Tape::new();
    /// let w = tape.param(Tensor::ones(&[2])).unwrap();
    /// let y = tape.no_grad(|t| t.relu(w)).unwrap();
    /// assert!(!tape.requires_grad(y));
    /// ```
    pub fn no_grad<T>(&mut self, f: impl FnOnce(&mut Tape) -> T) -> T {
        let before = self.grad_enabled;
        self.grad_enabled = false;
        let out = f(self);
        self.grad_enabled = before;
        out
    }

    /// Turns anomaly detection on or off: when on, the first op whose output,
    /// or whose contribution to a gradient, is NaN or infinite fails with
    /// [`Error::NonFinite`] naming the op, its node and its shape.
    pub fn set_detect_anomaly(&mut self, on: bool) {
        self.detect_anomaly = on;
    }

    /// Turns per-op timing on (from now) or off. An op's forward time is
    /// measured from the previous op's record (or the last reset) to its own,
    /// so time the caller spends between ops is charged to the next op.
    pub fn set_profiling(&mut self, on: bool) {
        self.profile = on.then(|| (Profile::default(), Instant::now()));
    }

    /// The timings gathered since profiling was turned on.
    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref().map(|(p, _)| p)
    }

    /// The value of a node.
    pub fn value(&self, v: Var) -> Result<&Tensor> {
        self.check("value", v)?;
        Ok(&self.values[v.index()])
    }

    /// The value of a parameter, mutably (for an optimizer, or to load
    /// weights).
    pub fn param_mut(&mut self, v: Var) -> Result<&mut Tensor> {
        self.check("param_mut", v)?;
        if v.index() >= self.n_params {
            return Err(Error::invalid(
                "param_mut",
                format!("node {} is not a parameter", v.index()),
            ));
        }
        Ok(&mut self.values[v.index()])
    }

    /// A parameter's value, mutably, beside its gradient from the last
    /// [`Tape::backward`] (`None` before the first backward).
    pub fn param_and_grad_mut(&mut self, v: Var) -> Result<(&mut Tensor, Option<&Tensor>)> {
        self.param_mut(v)?;
        Ok((&mut self.values[v.index()], self.grads[v.index()].as_ref()))
    }

    /// The gradient of the last backward's loss with respect to `v`, if `v`
    /// needed one.
    pub fn grad(&self, v: Var) -> Option<&Tensor> {
        self.check("grad", v).ok()?;
        self.grads[v.index()].as_ref()
    }

    /// Whether the node needs a gradient.
    pub fn requires_grad(&self, v: Var) -> bool {
        self.check("requires_grad", v).is_ok() && self.nodes[v.index()].requires_grad
    }

    /// The name of the op that produced a node (`"param"`, `"input"`, ...).
    pub fn op_name(&self, v: Var) -> Result<&'static str> {
        self.check("op_name", v)?;
        Ok(self.nodes[v.index()].op)
    }

    /// The inputs an op node was computed from.
    pub fn inputs(&self, v: Var) -> Result<&[Var]> {
        self.check("inputs", v)?;
        Ok(&self.nodes[v.index()].inputs)
    }

    /// Fails unless `v` is a live node of this tape.
    pub fn check(&self, op: &'static str, v: Var) -> Result<()> {
        let i = v.index();
        let live = if v.generation == 0 {
            i < self.n_params
        } else {
            v.generation == self.generation && i >= self.n_params && i < self.values.len()
        };
        if live {
            Ok(())
        } else {
            Err(Error::invalid(
                op,
                format!("variable #{i} is not on this tape (created before the last reset()?)"),
            ))
        }
    }

    /// A zeroed tensor of the given shape, drawn from the pool when a buffer
    /// of the right size is there.
    pub fn alloc(&mut self, dims: &[usize]) -> Tensor {
        let mut t = self.alloc_scratch(dims);
        t.data_mut().fill(0.0);
        t
    }

    /// A tensor of the given shape whose values are unspecified (a pooled
    /// buffer keeps its old values), for an op that writes every element:
    /// it saves [`Tape::alloc`]'s zeroing pass.
    ///
    /// ```
    /// use gradtape_core::Tape;
    /// let mut t = Tape::new();
    /// let mut out = t.alloc_scratch(&[2, 3]);
    /// out.data_mut().fill(7.0); // the op's job: write every element
    /// assert_eq!(out.dims(), &[2, 3]);
    /// ```
    pub fn alloc_scratch(&mut self, dims: &[usize]) -> Tensor {
        let shape = Shape::from(dims);
        let n = shape.numel();
        let data = match self.pool.iter().rposition(|b| b.capacity() == n) {
            Some(i) => {
                let mut b = self.pool.swap_remove(i);
                b.resize(n, 0.0);
                b
            }
            None => crate::tensor::filled_vec("Tape::alloc", &shape, 0.0)
                .unwrap_or_else(|e| panic!("{e}")),
        };
        Tensor::from_vec(data, shape.dims()).expect("alloc: length matches shape")
    }

    /// A zeroed tensor of the same shape as node `v`, from the pool.
    pub fn alloc_like(&mut self, v: Var) -> Result<Tensor> {
        let shape = self.value(v)?.shape().clone();
        Ok(self.alloc(&shape))
    }

    /// Records an op's output. `backward` is called during [`Tape::backward`]
    /// with the output's gradient and must *add* the gradient of each input
    /// that needs one. Ops that need no gradient (recording off, or no input
    /// needing one) keep no closure. This is how every op in gradtape is
    /// built, and how a user adds one.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor, Var, Result};
    /// // y = 3x, written as a custom op
    /// fn triple(tape: &mut Tape, x: Var) -> Result<Var> {
    ///     let out = tape.value(x)?.map(|v| 3.0 * v);
    ///     tape.record("triple", out, &[x], move |ctx, grads| {
    ///         if let Some(gx) = grads.get(x) {
    ///             for (g, d) in gx.iter_mut().zip(ctx.grad_out().data()) {
    ///                 *g += 3.0 * d;
    ///             }
    ///         }
    ///     })
    /// }
    /// let mut tape = Tape::new();
    /// let x = tape.param(Tensor::ones(&[2])).unwrap();
    /// let y = triple(&mut tape, x).unwrap();
    /// let loss = tape.sum(y).unwrap();
    /// tape.backward(loss).unwrap();
    /// assert_eq!(tape.grad(x).unwrap().data(), &[3.0, 3.0]);
    /// ```
    pub fn record(
        &mut self,
        op: &'static str,
        value: Tensor,
        inputs: &[Var],
        backward: impl Fn(&BackwardCtx<'_>, &mut Grads<'_>) + Send + Sync + 'static,
    ) -> Result<Var> {
        for &v in inputs {
            self.check(op, v)?;
        }
        if self.detect_anomaly {
            if let Some(index) = first_non_finite(value.data()) {
                return Err(Error::NonFinite {
                    op,
                    node: self.values.len(),
                    shape: value.shape().clone(),
                    what: "forward value",
                    index,
                });
            }
        }
        if let Some((profile, last)) = self.profile.as_mut() {
            let now = Instant::now();
            let e = profile.entry(op);
            e.1 += now - *last;
            e.3 += 1;
            *last = now;
        }
        let requires_grad =
            self.grad_enabled && inputs.iter().any(|v| self.nodes[v.index()].requires_grad);
        let backward: Option<BackwardFn> = if requires_grad {
            Some(Box::new(backward))
        } else {
            None
        };
        Ok(self.push(value, op, inputs.into(), requires_grad, backward))
    }

    /// Adds a value an op keeps for its backward (a mask, a normalised
    /// input); it needs no gradient and is dropped at reset.
    pub fn cache(&mut self, value: Tensor) -> Var {
        self.push(value, "cache", SmallVec::new(), false, None)
    }

    fn push(
        &mut self,
        value: Tensor,
        op: &'static str,
        inputs: SmallVec<[Var; 3]>,
        requires_grad: bool,
        backward: Option<BackwardFn>,
    ) -> Var {
        let id = self.values.len();
        self.values.push(value);
        self.grads.push(None);
        self.grad_empty.push(false);
        self.nodes.push(Node {
            op,
            inputs,
            requires_grad,
            backward,
        });
        Var {
            id: id as u32,
            generation: self.generation,
        }
    }

    /// Back-propagates from a one-element `loss`: afterwards [`Tape::grad`]
    /// gives d loss / d v for every node that needs a gradient. Walks the tape
    /// once, in reverse.
    pub fn backward(&mut self, loss: Var) -> Result<()> {
        self.check("backward", loss)?;
        let l = loss.index();
        if self.values[l].len() != 1 {
            return Err(Error::invalid(
                "backward",
                format!(
                    "the loss must hold one element, but has shape {}",
                    self.values[l].shape()
                ),
            ));
        }
        if !self.nodes[l].requires_grad {
            return Err(Error::invalid(
                "backward",
                "the loss depends on no parameter or leaf that needs a gradient (was it computed under no_grad?)",
            ));
        }
        // A gradient buffer for every node that needs one, up to the loss,
        // left empty (stale values) until an op contributes; see `Grads`.
        for i in 0..self.values.len() {
            if let Some(old) = self.grads[i].take() {
                self.pool.push(old.into_vec());
            }
            self.grad_empty[i] = false;
            if i <= l && self.nodes[i].requires_grad {
                let dims: Shape = self.values[i].shape().clone();
                self.grads[i] = Some(self.alloc_scratch(&dims));
                self.grad_empty[i] = true;
            }
        }
        if let Some(g) = self.grads[l].as_mut() {
            g.data_mut()[0] = 1.0;
            self.grad_empty[l] = false;
        }
        let result = self.run_backward(l);
        // Whatever no op reached (an unused parameter; everything after an
        // anomaly) has gradient zero, not stale values.
        for (g, empty) in self.grads.iter_mut().zip(&mut self.grad_empty) {
            if std::mem::replace(empty, false) {
                if let Some(g) = g.as_mut() {
                    g.data_mut().fill(0.0);
                }
            }
        }
        result
    }

    /// The backward closures from node `l` down, each once its output's
    /// gradient is complete.
    fn run_backward(&mut self, l: usize) -> Result<()> {
        for i in (0..=l).rev() {
            let node = &self.nodes[i];
            let Some(backward) = node.backward.as_ref() else {
                continue;
            };
            let (lo, hi) = self.grads.split_at_mut(i);
            let Some(grad_out) = hi[0].as_mut() else {
                continue;
            };
            let (empty_lo, empty_hi) = self.grad_empty.split_at_mut(i);
            if std::mem::replace(&mut empty_hi[0], false) {
                // Nothing downstream used this node: its gradient is zero.
                grad_out.data_mut().fill(0.0);
            }
            let ctx = BackwardCtx {
                values: &self.values,
                grad_out,
            };
            let started = self.profile.is_some().then(Instant::now);
            backward(
                &ctx,
                &mut Grads {
                    slots: lo,
                    empty: empty_lo,
                },
            );
            if let (Some(t), Some((profile, _))) = (started, self.profile.as_mut()) {
                profile.entry(node.op).2 += t.elapsed();
            }
            if self.detect_anomaly {
                for v in &node.inputs {
                    if let (Some(g), false) = (lo[v.index()].as_ref(), empty_lo[v.index()]) {
                        if let Some(index) = first_non_finite(g.data()) {
                            return Err(Error::NonFinite {
                                op: node.op,
                                node: i,
                                shape: g.shape().clone(),
                                what: "gradient of an input",
                                index,
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Index of the first NaN or infinity in `xs`. The scan multiplies by zero
/// into eight independent lanes (`x * 0` is NaN exactly when `x` is not
/// finite), which the compiler vectorises; only a buffer that fails is
/// searched element by element. This keeps anomaly mode cheap.
fn first_non_finite(xs: &[f64]) -> Option<usize> {
    let mut lanes = [0.0f64; 8];
    let chunks = xs.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for j in 0..8 {
            lanes[j] += c[j] * 0.0;
        }
    }
    let clean = lanes.iter().chain(tail).all(|x| x.is_finite());
    if clean {
        None
    } else {
        xs.iter().position(|x| !x.is_finite())
    }
}
