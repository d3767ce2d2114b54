//! circ-ir owns the kernel IR: backend-neutral, unitless (SI) kernels that
//! run data-parallel over the elements of a population, with a text form
//! (`circ run --emit ir`) and a verifier. Every backend (the interpreter,
//! Cranelift, LLVM, SPIR-V) consumes exactly this. It must not know the
//! source language: lowering produces it.
//!
//! Kernels read and write variables of their own population only, by index,
//! at the loop's element (or the single value of a scalar variable): no
//! pointers to chase, so every element is independent and the loops can be
//! vectorised, threaded or mapped to GPU lanes.

pub mod eval;
pub mod math;
mod parse;
pub mod plan;
mod print;
mod verify;

pub use circ_runtime::layout::{
    Connect, NetLayout, PopLayout, ProjLayout, ProjVar, Record, RecordKind, Space, VarLayout,
    VarRole,
};
pub use parse::{ParseError, parse};
pub use print::print;
pub use verify::{VerifyError, verify};

/// A variable of the kernel's population (index into `PopLayout::vars`).
pub type VarId = u32;
/// A kernel-local temporary.
pub type Temp = u32;

/// A whole network: the runtime layout plus the kernels of each population.
#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Network {
    /// Populations, variables and recorders as the runtime sees them.
    pub layout: NetLayout,
    /// Kernels, one set per population (same order as `layout.pops`).
    pub pops: Vec<PopKernels>,
    /// Kernels, one set per projection (same order as `layout.projs`).
    pub projs: Vec<ProjKernels>,
}

/// The kernels of one projection. Each list runs in order; each kernel
/// names its own domain. Variables are the projection's (`ProjLayout::vars`).
#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct ProjKernels {
    /// Initial values: scalar, pre state, post state, then per synapse (and delays).
    pub init: Vec<Kernel>,
    /// Time-dependent scalar parameters (domain `Once`).
    pub dynamic: Kernel,
    /// Continuous couplings: `AddTo` a postsynaptic variable.
    pub couple: Vec<Kernel>,
    /// Equations of pre state, post state and synapses.
    pub update: Vec<Kernel>,
    /// `on pre`: the pre-state part (`SpikingPre`), then the per-synapse part (`Arriving`).
    pub on_pre: Vec<Kernel>,
    /// `on post`: the post-state part (`SpikingPost`), then the per-synapse part (`PostSpikeSynapses`).
    pub on_post: Vec<Kernel>,
    /// The `where` condition over `PreIndex` and `PostIndex`.
    pub filter: Option<Expr>,
    /// How each equation system is integrated, and why.
    pub solver_notes: Vec<String>,
}

/// The kernels of one population.
#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct PopKernels {
    /// Initial values (per-element parameters, states), over every element.
    pub init: Kernel,
    /// Time-dependent parameters, once per step (scalar).
    pub dynamic: Kernel,
    /// Per-element inputs that evolve on their own (Ornstein–Uhlenbeck
    /// parameters), over every element, right after `dynamic`.
    pub drive: Kernel,
    /// One integration step, over every element.
    pub update: Kernel,
    /// The spike condition, over every non-refractory element; ends in `Spike`.
    pub threshold: Option<Kernel>,
    /// The reset, over spiking elements; may `SetRefractory`.
    pub reset: Option<Kernel>,
    /// Why each equation system is integrated the way it is.
    pub solver_notes: Vec<String>,
}

/// Which elements a kernel runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Domain {
    /// Once, with no element: reads and writes scalar variables only.
    #[default]
    Once,
    /// Every element of the population.
    Each,
    /// Every element that spiked this step.
    Spiking,
    /// Every presynaptic neuron of a projection (pre state).
    PreNeurons,
    /// Every postsynaptic neuron of a projection (post state).
    PostNeurons,
    /// Every synapse of a projection.
    Synapses,
    /// Presynaptic neurons that spiked this step.
    SpikingPre,
    /// Synapses a spike reaches this step.
    Arriving,
    /// Postsynaptic neurons that spiked this step.
    SpikingPost,
    /// The synapses onto postsynaptic neurons that spiked this step.
    PostSpikeSynapses,
}

impl Domain {
    /// Whether kernels of this domain know a synapse (and so `i` and `j`).
    pub fn has_synapse(self) -> bool {
        matches!(
            self,
            Domain::Synapses | Domain::Arriving | Domain::PostSpikeSynapses
        )
    }

    /// Whether kernels of this domain know a presynaptic neuron.
    pub fn has_pre(self) -> bool {
        self.has_synapse() || matches!(self, Domain::PreNeurons | Domain::SpikingPre)
    }

    /// Whether kernels of this domain know a postsynaptic neuron.
    pub fn has_post(self) -> bool {
        self.has_synapse() || matches!(self, Domain::PostNeurons | Domain::SpikingPost)
    }
}

/// A kernel: a straight-line body (with structured `if`) run per element.
#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Kernel {
    /// Its name, for dumps.
    pub name: String,
    /// Where it runs.
    pub domain: Domain,
    /// How many temporaries it uses.
    pub temps: u32,
    /// Its statements.
    pub body: Vec<Stmt>,
}

/// A statement.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Stmt {
    /// `temp = expr`.
    Let(Temp, Expr),
    /// `var[element] = expr` (or the scalar var).
    Store(VarId, Expr),
    /// Structured conditional.
    If(Expr, Vec<Stmt>, Vec<Stmt>),
    /// Repeats the statements while the condition is non-zero, tested
    /// before each pass (adaptive substeps). Lowering bounds every loop by
    /// a counter in its condition; inside, only `Let`, `Store` and `If`
    /// (no draws, spikes, scatter-adds or refractory periods: verified).
    While(Expr, Vec<Stmt>),
    /// The element spikes when the condition is non-zero (threshold kernels).
    Spike(Expr),
    /// `var += expr` where many elements may add to one value (post neuron
    /// inputs, shared pre/post state): a scatter-add, commutative, applied in
    /// element order so every backend gets the same sum.
    AddTo(VarId, Expr),
    /// The element is refractory for this many seconds (reset kernels).
    SetRefractory(Expr),
}

/// A unary operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Un {
    /// `-x`.
    Neg,
    /// Logical not (1 if x == 0 else 0).
    Not,
}

/// A binary operation. Comparisons and logic give 1.0 or 0.0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Bin {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// Remainder with the sign of the dividend (Rust's `%`).
    Rem,
    /// `powf`.
    Pow,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// Logical and.
    And,
    /// Logical or.
    Or,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
}

pub use circ_math::Func;

/// A distribution to draw from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Dist {
    /// Uniform in [0, 1).
    Uniform,
    /// Standard normal.
    Normal,
}

/// An expression over f64.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Expr {
    /// A constant.
    Const(f64),
    /// A variable at the current element (or a scalar variable).
    Load(VarId),
    /// A temporary.
    Temp(Temp),
    /// `t_n`, the time at the start of the step.
    Time,
    /// The time step.
    Dt,
    /// The element's index.
    Index,
    /// 1 if the element is refractory in this step, else 0.
    Refractory,
    /// The presynaptic index `i` (projection kernels, connection conditions).
    PreIndex,
    /// The postsynaptic index `j`.
    PostIndex,
    /// A unary operation.
    Un(Un, Box<Expr>),
    /// A binary operation.
    Bin(Bin, Box<Expr>, Box<Expr>),
    /// A math function.
    Call(Func, Vec<Expr>),
    /// `if c != 0 { a } else { b }`.
    Select(Box<Expr>, Box<Expr>, Box<Expr>),
    /// A random draw from its own stream ([`Streams`]): keyed by (seed,
    /// stream, element, step).
    Rand(Dist, u32),
    /// Entry `floor(position)` (clamped to the table) of data table `table`
    /// (`NetLayout::tables`).
    Table(u32, Box<Expr>),
}

impl Expr {
    /// `a op b`.
    pub fn bin(op: Bin, a: Expr, b: Expr) -> Expr {
        Expr::Bin(op, Box::new(a), Box::new(b))
    }

    /// The number of nodes in the tree (without recursion: trees from
    /// inlining may be deep).
    pub fn size(&self) -> usize {
        let mut n = 0;
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            n += 1;
            match e {
                Expr::Un(_, a) | Expr::Table(_, a) => stack.push(a),
                Expr::Bin(_, a, b) => stack.extend([&**a, &**b]),
                Expr::Select(a, b, c) => stack.extend([&**a, &**b, &**c]),
                Expr::Call(_, args) => stack.extend(args.iter()),
                _ => {}
            }
        }
        n
    }
}

/// e^x, the definition every backend uses ([`math`]).
pub fn exp(x: f64) -> f64 {
    math::eval(Func::Exp, &[x])
}

/// Evaluates a math function: the one definition every backend uses
/// ([`math`]: IR-level algorithms, not the platform's libm).
pub fn eval_func(f: Func, a: &[f64]) -> f64 {
    math::eval(f, a)
}

/// Hands out random streams. Every draw of a network (each `Expr::Rand`
/// node, each projection's connection rule, each Poisson input) gets its
/// own stream from the one allocator of its lowering, so no two can share
/// numbers: a draw is keyed by (seed, stream, element, step), and two
/// populations of one model, or two noisy states, never see the same ones.
/// The verifier checks that a stream belongs to one kernel or one runtime
/// draw only.
#[derive(Clone, Debug, Default)]
pub struct Streams {
    next: u64,
}

impl Streams {
    /// A fresh stream. Past `u32::MAX` streams it keeps returning the last
    /// one, which the verifier reports as shared (no network comes near).
    pub fn fresh(&mut self) -> u32 {
        self.next += 1;
        u32::try_from(self.next).unwrap_or(u32::MAX)
    }

    /// How many streams have been handed out.
    pub fn count(&self) -> u64 {
        self.next
    }
}

/// Reads a data table at a position (the one definition every backend follows):
/// entry `floor(x)` clamped to the table; NaN for an empty table or NaN position.
pub fn table_at(table: &[f64], x: f64) -> f64 {
    if table.is_empty() || x.is_nan() {
        return f64::NAN;
    }
    let k = x.floor().max(0.0) as usize;
    table[k.min(table.len() - 1)]
}

/// Applies a binary operation (the one definition every backend follows).
pub fn eval_bin(op: Bin, a: f64, b: f64) -> f64 {
    let truth = |c: bool| if c { 1.0 } else { 0.0 };
    match op {
        Bin::Add => a + b,
        Bin::Sub => a - b,
        Bin::Mul => a * b,
        Bin::Div => a / b,
        Bin::Rem => a % b,
        Bin::Pow | Bin::Min | Bin::Max => math::eval_bin(op, a, b).unwrap_or(f64::NAN),
        Bin::Lt => truth(a < b),
        Bin::Le => truth(a <= b),
        Bin::Gt => truth(a > b),
        Bin::Ge => truth(a >= b),
        Bin::Eq => truth(a == b),
        Bin::Ne => truth(a != b),
        Bin::And => truth(a != 0.0 && b != 0.0),
        Bin::Or => truth(a != 0.0 || b != 0.0),
    }
}

/// Appends the variables that statements store or add to, nested ones
/// included, in statement order (repeats kept).
pub fn written_vars(body: &[Stmt], out: &mut Vec<VarId>) {
    for s in body {
        match s {
            Stmt::Store(v, _) | Stmt::AddTo(v, _) => out.push(*v),
            Stmt::If(_, a, b) => {
                written_vars(a, out);
                written_vars(b, out);
            }
            Stmt::While(_, a) => written_vars(a, out),
            _ => {}
        }
    }
}

/// Appends the variables statements read or write, nested ones included
/// (repeats kept).
pub fn named_vars(body: &[Stmt], out: &mut Vec<VarId>) {
    fn expr(e: &Expr, out: &mut Vec<VarId>) {
        match e {
            Expr::Load(v) => out.push(*v),
            Expr::Un(_, a) | Expr::Table(_, a) => expr(a, out),
            Expr::Bin(_, a, b) => {
                expr(a, out);
                expr(b, out);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| expr(a, out)),
            Expr::Select(c, a, b) => {
                expr(c, out);
                expr(a, out);
                expr(b, out);
            }
            _ => {}
        }
    }
    for s in body {
        match s {
            Stmt::Let(_, e) | Stmt::Spike(e) | Stmt::SetRefractory(e) => expr(e, out),
            Stmt::Store(v, e) | Stmt::AddTo(v, e) => {
                out.push(*v);
                expr(e, out);
            }
            Stmt::If(c, a, b) => {
                expr(c, out);
                named_vars(a, out);
                named_vars(b, out);
            }
            Stmt::While(c, a) => {
                expr(c, out);
                named_vars(a, out);
            }
        }
    }
}

/// Whether a kernel computes the same values at every step: straight-line
/// stores of expressions that read no time, draw, table or index, and only
/// variables it stored earlier (so a `dynamic` kernel of constant parameters
/// need only run at the start).
pub fn step_invariant(k: &Kernel) -> bool {
    fn pure(e: &Expr, stored: &[VarId]) -> bool {
        match e {
            Expr::Const(_) | Expr::Dt => true,
            Expr::Load(v) => stored.contains(v),
            Expr::Un(_, a) => pure(a, stored),
            Expr::Bin(_, a, b) => pure(a, stored) && pure(b, stored),
            Expr::Call(_, args) => args.iter().all(|a| pure(a, stored)),
            Expr::Select(c, a, b) => pure(c, stored) && pure(a, stored) && pure(b, stored),
            _ => false,
        }
    }
    let mut stored = vec![];
    k.domain == Domain::Once
        && k.body.iter().all(|s| match s {
            Stmt::Store(v, e) if pure(e, &stored) => {
                stored.push(*v);
                true
            }
            _ => false,
        })
}

/// Whether any expression of `body` (or any part of one) satisfies `pred`.
pub fn any_expr(body: &[Stmt], pred: &dyn Fn(&Expr) -> bool) -> bool {
    fn walk(e: &Expr, pred: &dyn Fn(&Expr) -> bool) -> bool {
        pred(e)
            || match e {
                Expr::Un(_, a) | Expr::Table(_, a) => walk(a, pred),
                Expr::Bin(_, a, b) => walk(a, pred) || walk(b, pred),
                Expr::Call(_, args) => args.iter().any(|a| walk(a, pred)),
                Expr::Select(c, a, b) => walk(c, pred) || walk(a, pred) || walk(b, pred),
                _ => false,
            }
    }
    body.iter().any(|s| match s {
        Stmt::Let(_, e)
        | Stmt::Spike(e)
        | Stmt::SetRefractory(e)
        | Stmt::Store(_, e)
        | Stmt::AddTo(_, e) => walk(e, pred),
        Stmt::If(c, a, b) => walk(c, pred) || any_expr(a, pred) || any_expr(b, pred),
        Stmt::While(c, a) => walk(c, pred) || any_expr(a, pred),
    })
}

/// Whether an expression reads a temporary or a variable for which `own` holds.
pub fn reads_own_vars(e: &Expr, own: &dyn Fn(VarId) -> bool) -> bool {
    match e {
        Expr::Load(v) => own(*v),
        Expr::Temp(_) => true,
        Expr::Un(_, a) => reads_own_vars(a, own),
        Expr::Bin(_, a, b) => reads_own_vars(a, own) || reads_own_vars(b, own),
        Expr::Call(_, args) => args.iter().any(|a| reads_own_vars(a, own)),
        Expr::Select(c, a, b) => {
            reads_own_vars(c, own) || reads_own_vars(a, own) || reads_own_vars(b, own)
        }
        _ => false,
    }
}

/// Whether an expression reads any variable or temporary.
pub fn reads_vars(e: &Expr) -> bool {
    match e {
        Expr::Load(_) | Expr::Temp(_) => true,
        Expr::Un(_, a) => reads_vars(a),
        Expr::Bin(_, a, b) => reads_vars(a) || reads_vars(b),
        Expr::Call(_, args) => args.iter().any(reads_vars),
        Expr::Select(c, a, b) => reads_vars(c) || reads_vars(a) || reads_vars(b),
        Expr::Table(_, a) => reads_vars(a),
        _ => false,
    }
}
