//! The reverse-mode tape.
//!
//! Every value lives in one node of the tape. Parameters are the first nodes
//! and persist across iterations; everything after them (inputs, op outputs,
//! the caches ops keep for their backward) belongs to one iteration and is
//! dropped by [`Tape::reset`], its buffers kept in a pool for the next
//! iteration so memory stays flat however long training runs.
//!
//! An op is a method that computes its output, then [`Tape::record`]s it with
//! a closure that, given the output's gradient, writes its contribution to
//! each input's gradient through [`Grads::slot`]: it overwrites the buffer on
//! the first contribution ([`GradSlot::Fresh`](crate::GradSlot::Fresh)) and
//! adds on every later one ([`GradSlot::Accumulate`](crate::GradSlot::Accumulate)),
//! so a variable used twice receives the sum of both contributions.
//!
//! Every tape has an id, unique among the first 2^32 tapes of a process, and
//! every [`Var`] carries the id of the tape that made it: a `Var` used on
//! another tape is an error naming the op and both tapes.

use crate::grads::GradBuf;
use crate::matmul::RowsOfAtB;
use crate::update::{GradFill, ParamUpdate};
use crate::{BackwardCtx, Error, Grads, Result, Shape, Tensor};
use smallbox::space::S32;
use smallbox::{smallbox, SmallBox};
use smallvec::SmallVec;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The next tape's id. Ids are unique among the first 2^32 tapes a process
/// creates (then they wrap).
static NEXT_TAPE_ID: AtomicU32 = AtomicU32::new(0);

/// Where a tape's time went, per op name, when profiling is on
/// ([`Tape::set_profiling`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    /// One entry per op name, in first-seen order.
    pub ops: Vec<OpTiming>,
}

/// The time one op name took over the iterations profiled.
///
/// ```
/// use gradtape_core::{Tape, Tensor};
/// let mut tape = Tape::new();
/// let w = tape.param(Tensor::ones(&[2])).unwrap();
/// tape.set_profiling(true);
/// let y = tape.relu(w).unwrap();
/// let loss = tape.sum(y).unwrap();
/// tape.backward(loss).unwrap();
/// let relu = tape.profile().unwrap().ops.iter().find(|e| e.op == "relu").unwrap();
/// assert_eq!(relu.calls, 1);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OpTiming {
    /// The op's name (`"affine"`, `"relu"`, ...), or `"param update"`: the
    /// update [`Tape::backward_with`] runs on each parameter.
    pub op: &'static str,
    /// Time spent computing its outputs.
    pub forward: Duration,
    /// Time spent in its backward closures (or in the update).
    pub backward: Duration,
    /// How many times it was recorded (or a parameter was updated).
    pub calls: usize,
}

impl Profile {
    fn entry(&mut self, op: &'static str) -> &mut OpTiming {
        let i = match self.ops.iter().position(|e| e.op == op) {
            Some(i) => i,
            None => {
                self.ops.push(OpTiming {
                    op,
                    forward: Duration::ZERO,
                    backward: Duration::ZERO,
                    calls: 0,
                });
                self.ops.len() - 1
            }
        };
        &mut self.ops[i]
    }
}

/// A handle to a node on a [`Tape`]. Cheap to copy; valid on the tape that
/// made it until the next [`Tape::reset`] (parameters stay valid for the
/// tape's whole life).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Var {
    id: u32,
    /// 0 for parameters; otherwise the tape generation the node belongs to.
    generation: u32,
    /// The id of the tape that made it.
    tape: u32,
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

/// An op's backward closure, stored inline in its node when it fits in 32
/// words (every op of gradtape's does: they capture a few `Var`s and sizes,
/// a broadcast its index plan), so recording an op allocates nothing; a
/// larger closure goes to the heap as a `Box` would.
type BackwardFn = SmallBox<dyn Fn(&BackwardCtx<'_>, &mut Grads<'_>) + Send + Sync, S32>;

struct Node {
    op: &'static str,
    inputs: SmallVec<[Var; 3]>,
    requires_grad: bool,
    backward: Option<BackwardFn>,
    /// An input whose gradient is a product the tape can compute rows at a
    /// time (see [`ProductGrad`]).
    product_grad: Option<ProductGrad>,
}

/// An op's parameter input `param` whose gradient is `A^T dY`: A is the
/// op's input `a` read as a `(k, m)` matrix, dY the op's output gradient
/// `(k, n)`, the gradient `(m, n)` (`affine`'s `dW = X^T dY`, `matmul`'s
/// `dB = A^T dY`). When the gradient is handed to an update during
/// backward, the tape computes it instead of the op's closure (which finds
/// no slot for `param` then), so that the update may take it a part at a
/// time ([`GradFill`]).
#[derive(Clone, Copy)]
pub(crate) struct ProductGrad {
    pub param: Var,
    pub a: Var,
    pub dims: [usize; 3],
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
    /// This tape's process-unique id, carried by every [`Var`] it makes.
    id: u32,
    values: Vec<Tensor>,
    /// Per node: its gradient buffer, when it needs one (see [`Grads`]).
    grads: Vec<Option<GradBuf>>,
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
    /// Spare buffers for ops' backward scratch ([`Grads::scratch`]), kept
    /// apart from `pool` so that trimming the pool at reset never drops them.
    scratch: Vec<Vec<f64>>,
    /// Per parameter, during [`Tape::backward_with`]: the node after whose
    /// backward its gradient is final ([`NOT_USED`], [`HANDED_OVER`]).
    /// Kept to reuse its allocation.
    ready_at: Vec<usize>,
    /// The packed output gradient of the weight gradient being taken in
    /// parts ([`Tape::hand_over_filling`]), kept to reuse its allocation.
    packed_dy: Vec<f64>,
}

/// `ready_at`: no op between the parameters and the loss uses it.
const NOT_USED: usize = usize::MAX;
/// `ready_at`: already handed to the update.
const HANDED_OVER: usize = usize::MAX - 1;

/// What [`Tape::backward_with`] calls per parameter: `(parameter, its
/// value, its final gradient)`.
type ParamHook<'a> = dyn ParamUpdate + 'a;

impl Default for Tape {
    fn default() -> Self {
        Tape::new()
    }
}

impl Tape {
    /// An empty tape, recording gradients, anomaly detection off.
    ///
    /// ```
    /// use gradtape_core::Tape;
    /// let tape = Tape::new();
    /// assert!(tape.is_empty() && tape.grad_enabled());
    /// ```
    pub fn new() -> Tape {
        Tape {
            id: NEXT_TAPE_ID.fetch_add(1, Ordering::Relaxed),
            values: Vec::new(),
            grads: Vec::new(),
            nodes: Vec::new(),
            n_params: 0,
            generation: 1,
            grad_enabled: true,
            detect_anomaly: false,
            pool: Vec::new(),
            profile: None,
            scratch: Vec::new(),
            ready_at: Vec::new(),
            packed_dy: Vec::new(),
        }
    }

    /// Adds a parameter: a leaf that needs a gradient and survives
    /// [`Tape::reset`]. Parameters come before any per-iteration node, so
    /// call this on a fresh tape or right after a reset.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut tape = Tape::new();
    /// let w = tape.param(Tensor::ones(&[3, 2])).unwrap();
    /// assert_eq!(tape.value(w).unwrap().dims(), &[3, 2]);
    /// let x = tape.input(Tensor::ones(&[1, 3]));
    /// assert!(tape.param(Tensor::ones(&[2])).is_err()); // after an input: reset first
    /// # let _ = x;
    /// ```
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

    /// Adds a per-iteration leaf that needs no gradient (a batch of data),
    /// taking the tensor. [`Tape::input_from`] copies from a borrowed one
    /// into a pooled buffer instead.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut tape = Tape::new();
    /// let x = tape.input(Tensor::full(&[2, 2], 3.0));
    /// assert_eq!(tape.value(x).unwrap().data(), &[3.0; 4]);
    /// assert!(!tape.requires_grad(x));
    /// ```
    pub fn input(&mut self, value: Tensor) -> Var {
        self.push(value, "input", SmallVec::new(), false, None)
    }

    /// Adds a per-iteration input holding a copy of `value`, in a buffer
    /// from the tape's pool: a training loop feeds the same (or a reused)
    /// batch tensor every iteration without cloning it.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let batch = Tensor::full(&[4, 3], 0.5);
    /// let mut tape = Tape::new();
    /// for _ in 0..3 {
    ///     tape.reset(); // the previous iteration's input buffer goes back to the pool
    ///     let x = tape.input_from(&batch);
    ///     assert_eq!(tape.value(x).unwrap(), &batch);
    /// }
    /// ```
    pub fn input_from(&mut self, value: &Tensor) -> Var {
        let mut t = self.alloc_scratch(value.dims());
        t.data_mut().copy_from_slice(value.data());
        self.input(t)
    }

    /// Adds a per-iteration input holding a copy of `data`, read as `dims`
    /// (row-major), in a pooled buffer; an error when the lengths differ.
    ///
    /// ```
    /// use gradtape_core::Tape;
    /// let mut tape = Tape::new();
    /// let x = tape.input_from_slice(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
    /// assert_eq!(tape.value(x).unwrap().at(&[1, 0]), 4.0);
    /// let err = tape.input_from_slice(&[1.0, 2.0], &[2, 3]).unwrap_err();
    /// assert_eq!(err.to_string(), "input_from_slice: shape (2, 3) needs 6 elements but the buffer has 2");
    /// ```
    pub fn input_from_slice(&mut self, data: &[f64], dims: &[usize]) -> Result<Var> {
        const OP: &str = "input_from_slice";
        let n = checked_numel(OP, dims)?;
        if n != data.len() {
            return Err(Error::LengthMismatch {
                op: OP,
                shape: Shape::from(dims),
                expected: n,
                len: data.len(),
            });
        }
        let mut t = self.alloc_scratch(dims);
        t.data_mut().copy_from_slice(data);
        Ok(self.input(t))
    }

    /// Adds a per-iteration leaf that needs a gradient (for checking the
    /// gradient of an op with respect to its input).
    pub fn leaf(&mut self, value: Tensor) -> Var {
        self.push(value, "leaf", SmallVec::new(), true, None)
    }

    /// Drops every per-iteration node, keeping parameters and their
    /// gradients. Buffers go to a pool that later ops draw from. Handles to
    /// the dropped nodes are refused from now on.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut tape = Tape::new();
    /// let w = tape.param(Tensor::ones(&[2])).unwrap();
    /// let x = tape.input(Tensor::ones(&[2]));
    /// tape.reset();
    /// assert_eq!(tape.len(), 1); // only the parameter is left
    /// assert!(tape.value(w).is_ok());
    /// assert!(tape.value(x).is_err()); // dropped with the iteration
    /// ```
    pub fn reset(&mut self) {
        let n = self.n_params;
        // Enough spares for one more iteration like this one (a value and a
        // gradient per node); older spares beyond that are freed, so inputs
        // the caller allocates afresh each iteration do not pile up here.
        let keep = 2 * (self.values.len() - n);
        for t in self.values.drain(n..) {
            self.pool.push(t.into_vec());
        }
        for g in self.grads.drain(n..).flatten() {
            self.pool.push(g.value.into_vec());
        }
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
    /// The iterator does not borrow the tape.
    pub fn vars(&self) -> impl ExactSizeIterator<Item = Var> + use<> {
        let (n_params, generation, tape) = (self.n_params, self.generation, self.id);
        (0..self.values.len()).map(move |i| Var {
            id: i as u32,
            generation: if i < n_params { 0 } else { generation },
            tape,
        })
    }

    /// The parameters, in the order they were added. The iterator does not
    /// borrow the tape, so a loop over it can update each parameter.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut tape = Tape::new();
    /// let w = tape.param(Tensor::full(&[2], 1.0)).unwrap();
    /// let loss = tape.sum_squares(w).unwrap();
    /// tape.backward(loss).unwrap();
    /// for v in tape.params() {
    ///     let (p, g) = tape.param_and_grad_mut(v).unwrap();
    ///     let g = g.unwrap(); // d sum(w^2) / dw = 2w
    ///     for (p, g) in p.data_mut().iter_mut().zip(g.data()) {
    ///         *p -= 0.25 * g;
    ///     }
    /// }
    /// assert_eq!(tape.value(w).unwrap().data(), &[0.5, 0.5]);
    /// ```
    pub fn params(&self) -> impl ExactSizeIterator<Item = Var> + use<> {
        let tape = self.id;
        (0..self.n_params).map(move |i| Var {
            id: i as u32,
            generation: 0,
            tape,
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
        let grad = self.grads[v.index()].as_ref().map(|g| &g.value);
        Ok((&mut self.values[v.index()], grad))
    }

    /// The gradient of the last backward's loss with respect to `v`, if `v`
    /// needed one (`None` for an input, or before the first backward).
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut tape = Tape::new();
    /// let w = tape.param(Tensor::from_vec(vec![1.0, -3.0], &[2]).unwrap()).unwrap();
    /// let x = tape.input(Tensor::from_vec(vec![2.0, 5.0], &[2]).unwrap());
    /// assert!(tape.grad(w).is_none()); // no backward yet
    /// let y = tape.mul(w, x).unwrap();
    /// let loss = tape.sum(y).unwrap();
    /// tape.backward(loss).unwrap();
    /// assert_eq!(tape.grad(w).unwrap().data(), &[2.0, 5.0]); // d sum(w x) / dw = x
    /// assert!(tape.grad(x).is_none()); // inputs need no gradient
    /// ```
    pub fn grad(&self, v: Var) -> Option<&Tensor> {
        self.check("grad", v).ok()?;
        self.grads[v.index()].as_ref().map(|g| &g.value)
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
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut a = Tape::new();
    /// let mut b = Tape::new();
    /// let x = a.input(Tensor::ones(&[2]));
    /// let _y = b.input(Tensor::ones(&[2]));
    /// let err = b.relu(x).unwrap_err().to_string();
    /// assert!(err.starts_with("relu: variable #0 belongs to tape "), "{err}");
    /// ```
    pub fn check(&self, op: &'static str, v: Var) -> Result<()> {
        let i = v.index();
        if v.tape != self.id {
            return Err(Error::invalid(
                op,
                format!(
                    "variable #{i} belongs to tape {}, not to this tape ({})",
                    v.tape, self.id
                ),
            ));
        }
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

    /// A rank-0 tensor holding `value`, in a pooled buffer (an op's scalar
    /// output, such as a loss).
    pub(crate) fn scalar(&mut self, value: f64) -> Tensor {
        let mut t = self.alloc_scratch(&[]);
        t.data_mut()[0] = value;
        t
    }

    /// Gives a buffer from [`Tape::alloc`] that an op used only while
    /// recording (not kept on the tape) back to the pool.
    pub(crate) fn recycle(&mut self, t: Tensor) {
        self.pool.push(t.into_vec());
    }

    /// A zeroed tensor of the same shape as node `v`, from the pool.
    pub fn alloc_like(&mut self, v: Var) -> Result<Tensor> {
        let shape = self.value(v)?.shape().clone();
        Ok(self.alloc(&shape))
    }

    /// Records an op's output. `backward` is called once during
    /// [`Tape::backward`], after every op that used the output has run its
    /// own: it reads the output's gradient ([`BackwardCtx::grad_out`]), the
    /// values of the inputs and caches ([`BackwardCtx::value`]) and its own
    /// output ([`BackwardCtx::output`]), and writes each input's gradient
    /// through [`Grads::slot`]: overwriting every element on a
    /// [`GradSlot::Fresh`](crate::GradSlot::Fresh) slot, adding on a
    /// [`GradSlot::Accumulate`](crate::GradSlot::Accumulate) one
    /// ([`GradSlot::write`](crate::GradSlot::write) does either). Ops that
    /// need no gradient (recording off, or no input needing one) keep no
    /// closure. This is how every op in gradtape is built, and how a user
    /// adds one.
    ///
    /// A parameter the closure reads must be one of `inputs`: under
    /// [`Tape::backward_with`] a parameter is updated right after its
    /// earliest consumer's closure, so one read by an earlier op without
    /// being its input could already hold its new value. Intermediate
    /// buffers come from [`Grads::scratch`], so that a backward allocates
    /// nothing.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor, Var, Result};
    /// // y = 3x, written as a custom op
    /// fn triple(tape: &mut Tape, x: Var) -> Result<Var> {
    ///     let out = tape.value(x)?.map(|v| 3.0 * v);
    ///     tape.record("triple", out, &[x], move |ctx, grads| {
    ///         if let Some(slot) = grads.slot(x) {
    ///             slot.write(ctx.grad_out().data().iter().map(|d| 3.0 * d));
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
            e.forward += now - *last;
            e.calls += 1;
            *last = now;
        }
        let requires_grad =
            self.grad_enabled && inputs.iter().any(|v| self.nodes[v.index()].requires_grad);
        let backward: Option<BackwardFn> = if requires_grad {
            Some(smallbox!(backward))
        } else {
            None
        };
        Ok(self.push(value, op, inputs.into(), requires_grad, backward))
    }

    /// [`Tape::record`] for an op one of whose parameter inputs has a
    /// product for its gradient ([`ProductGrad`]); its closure must still
    /// compute that gradient whenever it finds the parameter's slot.
    pub(crate) fn record_product(
        &mut self,
        op: &'static str,
        value: Tensor,
        inputs: &[Var],
        product_grad: ProductGrad,
        backward: impl Fn(&BackwardCtx<'_>, &mut Grads<'_>) + Send + Sync + 'static,
    ) -> Result<Var> {
        let v = self.record(op, value, inputs, backward)?;
        self.nodes[v.index()].product_grad = Some(product_grad);
        Ok(v)
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
        self.nodes.push(Node {
            op,
            inputs,
            requires_grad,
            backward,
            product_grad: None,
        });
        Var {
            id: id as u32,
            generation: self.generation,
            tape: self.id,
        }
    }

    /// Back-propagates from a one-element `loss`: afterwards [`Tape::grad`]
    /// gives d loss / d v for every node that needs a gradient (zero for a
    /// parameter the loss does not use). Walks the tape once, in reverse.
    /// Each call computes the gradients afresh; it does not add to the last
    /// call's.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut tape = Tape::new();
    /// let w = tape.param(Tensor::from_vec(vec![3.0], &[1]).unwrap()).unwrap();
    /// let y = tape.mul(w, w).unwrap();
    /// let loss = tape.sum(y).unwrap();
    /// tape.backward(loss).unwrap();
    /// assert_eq!(tape.grad(w).unwrap().data(), &[6.0]);
    /// assert!(tape.backward(y).is_ok()); // y has one element too
    /// let z = tape.input(Tensor::ones(&[2]));
    /// assert!(tape.backward(z).is_err()); // two elements, and no gradient
    /// ```
    pub fn backward(&mut self, loss: Var) -> Result<()> {
        let l = self.start_backward("backward", loss)?;
        let result = self.run_backward(l, None);
        self.finish_backward();
        result
    }

    /// [`Tape::backward`] that also hands each parameter to `update` the
    /// moment its gradient is final, while that gradient is still warm in
    /// cache: an optimizer applied during backward instead of in a pass of
    /// its own afterwards (`Optimizer::backward_step` in gradtape-optim).
    ///
    /// `update(p, value, grad)` is called exactly once for every parameter
    /// `p`, in this order:
    ///
    /// - right after the backward closure of the earliest op (in recording
    ///   order) that takes `p` as an input has run. Ops run in reverse, so
    ///   that op is the last to add to `p`'s gradient: `grad` is the sum of
    ///   every contribution, final. A parameter used by several ops is
    ///   handed over once, after the earliest of them;
    /// - then, in the order they were added, the parameters no op between
    ///   them and the loss uses, with a zero gradient (what
    ///   [`Tape::backward`] leaves for them).
    ///
    /// `value` may be changed in place (its shape is fixed); ops run later
    /// in the walk never read it, because a backward closure reads only its
    /// op's inputs, caches and output (as every op of gradtape does, and as
    /// [`Tape::record`] asks of a user's op). Afterwards [`Tape::grad`]
    /// still gives every gradient.
    ///
    /// Errors are those of [`Tape::backward`], found before any parameter is
    /// handed over. If `update` returns an error, the walk stops there and
    /// returns it; parameters handed over before keep what `update` did to
    /// them (validate anything that can fail first). With anomaly detection
    /// on, every parameter is handed over only after the whole walk has
    /// succeeded, so an anomaly leaves all of them unchanged.
    ///
    /// ```
    /// use gradtape_core::{Tape, Tensor};
    /// let mut tape = Tape::new();
    /// let w = tape.param(Tensor::from_vec(vec![1.0, -2.0], &[2]).unwrap()).unwrap();
    /// let b = tape.param(Tensor::from_vec(vec![0.5, 0.5], &[2]).unwrap()).unwrap();
    /// let unused = tape.param(Tensor::ones(&[1])).unwrap();
    /// let y = tape.mul(w, w).unwrap(); // w used twice: dy/dw = 2w
    /// let z = tape.add(y, b).unwrap();
    /// let loss = tape.sum(z).unwrap();
    /// let mut seen = Vec::new();
    /// tape.backward_with(loss, |p, value, grad| {
    ///     seen.push((p, grad.data().to_vec()));
    ///     for (v, g) in value.data_mut().iter_mut().zip(grad.data()) {
    ///         *v -= 0.25 * g; // plain SGD, applied during backward
    ///     }
    ///     Ok(())
    /// }).unwrap();
    /// // b's gradient is final after `add`, w's after `mul`, and `unused` comes last.
    /// assert_eq!(seen, vec![(b, vec![1.0, 1.0]), (w, vec![2.0, -4.0]), (unused, vec![0.0])]);
    /// assert_eq!(tape.value(w).unwrap().data(), &[0.5, -1.0]);
    /// assert_eq!(tape.grad(w).unwrap().data(), &[2.0, -4.0]);
    /// ```
    pub fn backward_with<F>(&mut self, loss: Var, update: F) -> Result<()>
    where
        F: FnMut(Var, &mut Tensor, &Tensor) -> Result<()>,
    {
        self.backward_with_update(loss, &mut { update })
    }

    /// [`Tape::backward_with`] with any [`ParamUpdate`]: one that takes the
    /// gradient of an `affine` or `matmul` weight a part at a time
    /// ([`ParamUpdate::update_filling`]) updates each part while it is
    /// still in cache. The order and guarantees are `backward_with`'s; see
    /// [`ParamUpdate`] for an example.
    pub fn backward_with_update<U: ParamUpdate>(
        &mut self,
        loss: Var,
        update: &mut U,
    ) -> Result<()> {
        let l = self.start_backward("backward_with", loss)?;
        self.ready_at.clear();
        self.ready_at.resize(self.n_params, NOT_USED);
        let result = if self.detect_anomaly {
            // Nothing may change before the walk is known to be clean.
            self.run_backward(l, None)
        } else {
            self.mark_ready_at(l);
            self.run_backward(l, Some(update))
        };
        self.finish_backward();
        result?;
        // The parameters no op wrote to (all of them, with anomaly detection
        // on), in order; their gradient is final now.
        for p in 0..self.n_params {
            if self.ready_at[p] != HANDED_OVER {
                self.hand_over(p, update)?;
            }
        }
        Ok(())
    }

    /// Checks `loss` and gives every node that needs a gradient a fresh
    /// buffer; returns the loss's node.
    fn start_backward(&mut self, op: &'static str, loss: Var) -> Result<usize> {
        self.check(op, loss)?;
        let l = loss.index();
        if self.values[l].len() != 1 {
            return Err(Error::invalid(
                op,
                format!(
                    "the loss must hold one element, but has shape {}",
                    self.values[l].shape()
                ),
            ));
        }
        if !self.nodes[l].requires_grad {
            return Err(Error::invalid(
                op,
                "the loss depends on no parameter or leaf that needs a gradient (was it computed under no_grad?)",
            ));
        }
        // A gradient buffer for every node that needs one, up to the loss,
        // fresh (stale values) until an op writes into it; see `Grads`.
        for i in 0..self.values.len() {
            if let Some(old) = self.grads[i].take() {
                self.pool.push(old.value.into_vec());
            }
            if i <= l && self.nodes[i].requires_grad {
                let dims: Shape = self.values[i].shape().clone();
                let value = self.alloc_scratch(&dims);
                self.grads[i] = Some(GradBuf { value, fresh: true });
            }
        }
        if let Some(g) = self.grads[l].as_mut() {
            g.value.data_mut()[0] = 1.0;
            g.fresh = false;
        }
        Ok(l)
    }

    /// Whatever no op reached (an unused parameter; everything after an
    /// anomaly) has gradient zero, not stale values.
    fn finish_backward(&mut self) {
        for g in self.grads.iter_mut().flatten() {
            if std::mem::replace(&mut g.fresh, false) {
                g.value.data_mut().fill(0.0);
            }
        }
    }

    /// Fills `ready_at`: per parameter, the first node up to `l` that runs a
    /// backward closure with it as an input.
    fn mark_ready_at(&mut self, l: usize) {
        for i in self.n_params..=l {
            let node = &self.nodes[i];
            if node.backward.is_none() {
                continue;
            }
            for v in &node.inputs {
                let p = v.index();
                if p < self.n_params && self.ready_at[p] == NOT_USED {
                    self.ready_at[p] = i;
                }
            }
        }
    }

    /// Calls `update` on parameter `p` with its gradient (zero if no op
    /// wrote it), timed as `"param update"` when profiling.
    fn hand_over(&mut self, p: usize, update: &mut ParamHook<'_>) -> Result<()> {
        self.ready_at[p] = HANDED_OVER;
        let var = self.param_var(p);
        let Some(g) = self.grads[p].as_mut() else {
            return Ok(());
        };
        if std::mem::replace(&mut g.fresh, false) {
            g.value.data_mut().fill(0.0);
        }
        let started = self.profile.is_some().then(Instant::now);
        let result = update.update(var, &mut self.values[p], &g.value);
        self.time_param_update(started);
        result
    }

    /// Parameter `p` as a `Var`.
    fn param_var(&self, p: usize) -> Var {
        Var {
            id: p as u32,
            generation: 0,
            tape: self.id,
        }
    }

    /// Adds the time since `started` (set when profiling) to `"param
    /// update"`.
    fn time_param_update(&mut self, started: Option<Instant>) {
        if let (Some(t), Some((profile, _))) = (started, self.profile.as_mut()) {
            let e = profile.entry("param update");
            e.backward += t.elapsed();
            e.calls += 1;
        }
    }

    /// [`Tape::hand_over`] for a parameter whose gradient node `i`'s op
    /// left to the tape: `update` gets a [`GradFill`] that computes it from
    /// node `i`'s output gradient, a part at a time if it likes.
    fn hand_over_filling(
        &mut self,
        pg: ProductGrad,
        i: usize,
        update: &mut ParamHook<'_>,
    ) -> Result<()> {
        let (var, p) = (pg.param, pg.param.index());
        self.ready_at[p] = HANDED_OVER;
        let (params, rest) = self.values.split_at_mut(self.n_params);
        let a = pg.a.index();
        // Split so that the parameter's value is mutable while A (another
        // node: a != p) is read.
        let (value, a) = if a >= self.n_params {
            (&mut params[p], &rest[a - self.n_params])
        } else if a < p {
            let (lo, hi) = params.split_at_mut(p);
            (&mut hi[0], &lo[a])
        } else {
            let (lo, hi) = params.split_at_mut(a);
            (&mut lo[p], &hi[0])
        };
        // The node's output gradient (i > p: parameters come first).
        let (lo, hi) = self.grads.split_at_mut(i);
        let dy = &hi[0]
            .as_ref()
            .expect("a node that ran backward has a gradient")
            .value;
        let g = lo[p].as_mut().expect("held for this hand-over");
        let beta = if std::mem::replace(&mut g.fresh, false) {
            0.0
        } else {
            1.0
        };
        let [m, _, n] = pg.dims;
        // dY packed once for every part.
        let product = RowsOfAtB::new(pg.dims, a.data(), dy.data(), beta, &mut self.packed_dy);
        let rows = |first: usize, part: &mut [f64], parallel: bool| {
            product.rows(first..first + part.len() / n.max(1), part, parallel);
        };
        let fill = GradFill::new(n, m * n, &rows);
        let started = self.profile.is_some().then(Instant::now);
        let result = update.update_filling(var, value, &mut g.value, &fill);
        self.time_param_update(started);
        result
    }

    /// The backward closures from node `l` down, each once its output's
    /// gradient is complete; with `update`, each parameter is handed to it
    /// right after the node `ready_at` names.
    fn run_backward(&mut self, l: usize, mut update: Option<&mut ParamHook<'_>>) -> Result<()> {
        for i in (0..=l).rev() {
            let node = &self.nodes[i];
            let Some(backward) = node.backward.as_ref() else {
                continue;
            };
            let (lo, hi) = self.grads.split_at_mut(i);
            let Some(grad_out) = hi[0].as_mut() else {
                continue;
            };
            if std::mem::replace(&mut grad_out.fresh, false) {
                // Nothing downstream used this node: its gradient is zero.
                grad_out.value.data_mut().fill(0.0);
            }
            // A parameter whose gradient the update may take a part at a
            // time: the tape computes it below, so the closure finds no
            // slot for it. (Not when A is the parameter itself: the update
            // would change A while the product reads it.)
            let product_grad = node.product_grad.filter(|pg| {
                let p = pg.param.index();
                update.is_some() && pg.a != pg.param && self.ready_at.get(p) == Some(&i)
            });
            let held = product_grad.and_then(|pg| lo[pg.param.index()].take());
            let ctx = BackwardCtx {
                values: &self.values,
                output: i,
                grad_out: &grad_out.value,
                inputs: &node.inputs,
                n_params: self.n_params,
            };
            let started = self.profile.is_some().then(Instant::now);
            backward(
                &ctx,
                &mut Grads {
                    slots: lo,
                    scratch: &mut self.scratch,
                },
            );
            if let (Some(t), Some((profile, _))) = (started, self.profile.as_mut()) {
                profile.entry(node.op).backward += t.elapsed();
            }
            let filled = match (product_grad, held) {
                (Some(pg), Some(buf)) => {
                    lo[pg.param.index()] = Some(buf);
                    Some(pg)
                }
                _ => None,
            };
            if self.detect_anomaly {
                for v in &node.inputs {
                    if let Some(g) = lo[v.index()].as_ref().filter(|g| !g.fresh) {
                        if let Some(index) = first_non_finite(g.value.data()) {
                            return Err(Error::NonFinite {
                                op: node.op,
                                node: i,
                                shape: g.value.shape().clone(),
                                what: "gradient of an input",
                                index,
                            });
                        }
                    }
                }
            }
            if let Some(update) = update.as_deref_mut() {
                if let Some(pg) = filled {
                    self.hand_over_filling(pg, i, update)?;
                }
                for k in 0..self.nodes[i].inputs.len() {
                    let p = self.nodes[i].inputs[k].index();
                    if p < self.n_params && self.ready_at[p] == i {
                        self.hand_over(p, update)?;
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

/// The element count of `dims`, or [`Error::ShapeTooLarge`] naming `op`:
/// the one bound [`Shape::checked`] enforces, for ops that size a part of a
/// shape (the rows before an axis) or a shape they are about to build.
pub(crate) fn checked_numel(op: &'static str, dims: &[usize]) -> Result<usize> {
    Ok(Shape::checked(op, dims)?.numel())
}
