//! The untyped AST, exactly as written: every node carries its span.
//! Sema turns it into checked models; nothing here knows about units.

pub use crate::span::{Ident, Span, Spanned};

/// An expression with its span.
pub type Expr = Spanned<ExprKind>;
/// A dimension annotation with its span.
pub type DimExpr = Spanned<DimKind>;
/// A unit expression with its span.
pub type UnitExpr = Spanned<UnitKind>;

/// One parsed file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Module {
    /// Its items, in source order (items that failed to parse are [`Item::Error`]).
    pub items: Vec<Item>,
}

/// A top-level item.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `use std::neurons::{LIF}`.
    Use(UseItem),
    /// `const NAME = value`.
    Const(ConstItem),
    /// `fn name(args) -> dim = body`.
    Fn(FnItem),
    /// `neuron Name { ... }` or `synapse Name { ... }`.
    Model(ModelItem),
    /// `circuit Name { ... }`.
    Circuit(CircuitItem),
    /// `run Circuit for T { ... }`.
    Run(RunItem),
    /// An item that could not be parsed (the syntax error was reported).
    Error(Span),
}

impl Item {
    /// The whole item's span.
    pub fn span(&self) -> Span {
        match self {
            Item::Use(u) => u.span,
            Item::Const(c) => c.span,
            Item::Fn(f) => f.span,
            Item::Model(m) => m.span,
            Item::Circuit(c) => c.span,
            Item::Run(r) => r.span,
            Item::Error(s) => *s,
        }
    }
}

/// Where a `use` takes names from.
#[derive(Clone, Debug, PartialEq)]
pub enum UsePath {
    /// A module path such as `std::neurons`.
    Module(Vec<Ident>),
    /// Another file, relative to the importing file.
    File(Spanned<String>),
}

/// One imported name, possibly renamed.
#[derive(Clone, Debug, PartialEq)]
pub struct UseName {
    /// The name in the source module.
    pub name: Ident,
    /// The local name (`as`), if any.
    pub alias: Option<Ident>,
}

/// `use PATH::{names}`, `use PATH::name` or `use PATH::*`.
#[derive(Clone, Debug, PartialEq)]
pub struct UseItem {
    /// The module.
    pub path: UsePath,
    /// The names (empty for a glob).
    pub names: Vec<UseName>,
    /// `use PATH::*`.
    pub glob: bool,
    /// The whole item.
    pub span: Span,
}

/// `const NAME (: dim)? = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstItem {
    /// Its name.
    pub name: Ident,
    /// Its declared dimension.
    pub ann: Option<DimExpr>,
    /// Its value.
    pub value: Expr,
    /// The whole item.
    pub span: Span,
}

/// A function parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Its name.
    pub name: Ident,
    /// Its dimension.
    pub dim: DimExpr,
}

/// `fn name(params) -> ret = body` (or a `{ let ...; expr }` body).
#[derive(Clone, Debug, PartialEq)]
pub struct FnItem {
    /// Its name.
    pub name: Ident,
    /// Its parameters.
    pub params: Vec<Param>,
    /// Its declared result dimension.
    pub ret: Option<DimExpr>,
    /// `let` bindings of a block body, in order.
    pub lets: Vec<(Ident, Expr)>,
    /// The result expression.
    pub body: Expr,
    /// The whole item.
    pub span: Span,
}

/// Whether a model is a neuron or a synapse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// `neuron`.
    Neuron,
    /// `synapse`.
    Synapse,
}

/// `neuron Name { members }` or `synapse Name { members }`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelItem {
    /// Neuron or synapse.
    pub kind: ModelKind,
    /// Its name.
    pub name: Ident,
    /// The model it extends (`neuron AdEx2 extends std::neurons::AdEx`):
    /// a name or a module path; sema merges the two before checking.
    pub extends: Option<Vec<Ident>>,
    /// Its members in source order.
    pub members: Vec<Member>,
    /// The whole item.
    pub span: Span,
}

/// Where a `state` lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateLoc {
    /// Per neuron (in a neuron) or per synapse (in a synapse).
    Own,
    /// `pre state`: one per presynaptic neuron of a projection.
    Pre,
    /// `post state`: one per postsynaptic neuron of a projection.
    Post,
}

/// `per neuron` / `per synapse`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerKind {
    /// `per neuron`.
    Neuron,
    /// `per synapse`.
    Synapse,
}

/// A `parameter` or `state` declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct VarDecl {
    /// Its name.
    pub name: Ident,
    /// Its declared dimension.
    pub ann: Option<DimExpr>,
    /// Its default / initial value.
    pub init: Option<Expr>,
    /// `per neuron` / `per synapse`.
    pub per: Option<Spanned<PerKind>>,
}

/// Which spikes a handler reacts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// `on pre`.
    Pre,
    /// `on post`.
    Post,
}

/// A member of a neuron or synapse body.
#[derive(Clone, Debug, PartialEq)]
pub enum MemberKind {
    /// `parameter x = ...`.
    Parameter(VarDecl),
    /// `state x = ...`, `pre state x = ...`, `post state x = ...`.
    State(StateLoc, VarDecl),
    /// `input NAME: dim`.
    Input {
        /// Port name.
        name: Ident,
        /// Its dimension.
        dim: DimExpr,
    },
    /// `let x = expr`.
    Let {
        /// Name.
        name: Ident,
        /// Value.
        value: Expr,
    },
    /// `post let x = sum(expr)` (or `pre let`): one value per neuron of the
    /// projection, the sum of `expr` over that neuron's synapses; `value` is
    /// the whole right side (sema checks it is a `sum`).
    SideLet {
        /// `Pre` or `Post`.
        loc: StateLoc,
        /// Name.
        name: Ident,
        /// Value.
        value: Expr,
    },
    /// `dx/dt = rhs (noise sigma)? (unless refractory)?`.
    Ode {
        /// The variable `x` of `dx/dt`.
        var: Ident,
        /// The drift.
        rhs: Expr,
        /// The diffusion coefficient sigma: `dx = rhs dt + sigma dW`.
        noise: Option<Expr>,
        /// `unless refractory`.
        unless_refractory: Option<Span>,
    },
    /// `spike when cond { reset } refractory T`.
    Spike {
        /// Threshold condition.
        cond: Expr,
        /// Reset statements.
        body: Vec<Stmt>,
        /// Refractory period (a time), or with `refractory_while` a
        /// condition: refractory while it holds (Brian2's string form).
        refractory: Option<Expr>,
        /// `refractory while COND`.
        refractory_while: bool,
    },
    /// `method name`.
    Method(Ident),
    /// `on pre { ... }` / `on post { ... }`.
    On {
        /// Which event.
        event: Spanned<Event>,
        /// The handler.
        body: Vec<Stmt>,
    },
    /// `modulator NAME (: dim)?`: reads a circuit-level signal.
    Modulator {
        /// Its name.
        name: Ident,
        /// Its dimension (dimensionless when absent).
        dim: Option<DimExpr>,
    },
    /// A statement at body level: a continuous coupling `post.I += expr`.
    Coupling(Stmt),
    /// A member that failed to parse.
    Error,
}

/// A member with its span.
pub type Member = Spanned<MemberKind>;

/// What an assignment writes.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A variable of the model itself.
    Local(Ident),
    /// `pre.x`.
    Pre(Ident),
    /// `post.x`.
    Post(Ident),
}

impl Target {
    /// The variable name written.
    pub fn name(&self) -> &Ident {
        match self {
            Target::Local(n) | Target::Pre(n) | Target::Post(n) => n,
        }
    }
}

/// `=`, `+=`, `-=` or `*=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignOp {
    /// `=`.
    Set,
    /// `+=`.
    Add,
    /// `-=`.
    Sub,
    /// `*=`.
    Mul,
}

/// A statement in a handler or reset block.
#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `target op value`.
    Assign {
        /// What is written.
        target: Spanned<Target>,
        /// How.
        op: AssignOp,
        /// The value.
        value: Expr,
    },
    /// `let x = value`.
    Let {
        /// Name.
        name: Ident,
        /// Value.
        value: Expr,
    },
    /// `if cond { ... } else { ... }`.
    If {
        /// Condition.
        cond: Expr,
        /// Then branch.
        then: Vec<Stmt>,
        /// Else branch (empty when absent).
        otherwise: Vec<Stmt>,
    },
    /// A statement that failed to parse.
    Error,
}

/// A statement with its span.
pub type Stmt = Spanned<StmtKind>;

/// A call or population argument, positional or named.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// `name =`, if named.
    pub name: Option<Ident>,
    /// The value.
    pub value: Expr,
}

/// A unary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `-x`.
    Neg,
    /// `+x`.
    Plus,
    /// `not x`.
    Not,
}

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Rem,
    /// `^`.
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
    /// `and`.
    And,
    /// `or`.
    Or,
}

impl BinOp {
    /// How the operator is written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Pow => "^",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
}

/// An expression.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A number, with its unit if one was written.
    Num {
        /// The number as written (before the unit's scale).
        value: f64,
        /// Written without a fraction or exponent.
        int: bool,
        /// The unit after it.
        unit: Option<UnitExpr>,
    },
    /// `true` / `false`.
    Bool(bool),
    /// A string (file names).
    Str(String),
    /// A name.
    Name(Ident),
    /// `pre.x`, `post.x` or `a.b`.
    Field {
        /// `pre`, `post` or a name.
        base: Ident,
        /// The field.
        field: Ident,
    },
    /// `f(args)`.
    Call {
        /// The function.
        func: Ident,
        /// Its arguments.
        args: Vec<Arg>,
    },
    /// A prefix operator.
    Unary(UnOp, Box<Expr>),
    /// A binary operator.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `if c then a else b`.
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `a..b`, `a..`, `..b` (in selections and `clip`).
    Range(Option<Box<Expr>>, Option<Box<Expr>>),
    /// `[a, b, c]`.
    Array(Vec<Expr>),
    /// `value clip lo..hi`.
    Clip(Box<Expr>, Box<Expr>),
    /// `from "file"`.
    File(String),
    /// `from NAME`: the file a string constant of the circuit names (a
    /// `let` or a circuit parameter), put in place before lowering.
    FileNamed(Ident),
    /// An expression that failed to parse.
    Error,
}

/// A unit expression: unit names joined by `*`, `/` and `^`.
#[derive(Clone, Debug, PartialEq)]
pub enum UnitKind {
    /// A unit name, possibly with an exponent written together (`cm^2`).
    Name(String),
    /// The number `1` (as in `[1/ms]`).
    One,
    /// `a * b`.
    Mul(Box<UnitExpr>, Box<UnitExpr>),
    /// `a / b`.
    Div(Box<UnitExpr>, Box<UnitExpr>),
    /// `a ^ n` (n = numerator / denominator).
    Pow(Box<UnitExpr>, i64, i64),
}

/// A dimension annotation: dimension names, bracketed units, `*`, `/`, `^`.
#[derive(Clone, Debug, PartialEq)]
pub enum DimKind {
    /// `voltage`, `time`, `dimensionless`, ...
    Name(String),
    /// `[mV/ms]`: the dimension of a unit.
    Unit(UnitExpr),
    /// `1`: dimensionless.
    One,
    /// `a * b`.
    Mul(Box<DimExpr>, Box<DimExpr>),
    /// `a / b`.
    Div(Box<DimExpr>, Box<DimExpr>),
    /// `a ^ n` (n = numerator / denominator).
    Pow(Box<DimExpr>, i64, i64),
}

/// A population in a circuit.
#[derive(Clone, Debug, PartialEq)]
pub struct Population {
    /// Its name.
    pub name: Ident,
    /// The neuron model (or input generator) it instantiates.
    pub model: Ident,
    /// Its size.
    pub size: Expr,
    /// Parameter values `(p = v, ...)`.
    pub args: Vec<Arg>,
    /// Initial values of state `{ v = ... }`.
    pub inits: Vec<(Ident, Expr)>,
    /// Positions `at grid(...)`.
    pub positions: Option<Expr>,
    /// `method euler`: the integration method for this population, instead
    /// of the model's (or the compiler's choice).
    pub method: Option<Ident>,
}

/// How a projection connects its neurons.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleKind {
    /// `all_to_all`, `bernoulli(p)`, `fixed_indegree(k)`, ...
    Named {
        /// Rule name.
        name: Ident,
        /// Its arguments.
        args: Vec<Arg>,
    },
    /// `where cond(i, j)`: every pair for which the condition holds.
    Where(Expr),
    /// `from "edges.csv"(source = "src", target = "dst", w = "weight")`.
    File {
        /// The file.
        path: Spanned<String>,
        /// Column bindings.
        args: Vec<Arg>,
    },
    /// `from edges(...)` where `edges` is a string constant of the circuit.
    FileNamed {
        /// The constant's name.
        name: Ident,
        /// Column bindings.
        args: Vec<Arg>,
    },
}

/// A connection rule with an optional extra condition.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectRule {
    /// The rule.
    pub kind: Spanned<RuleKind>,
    /// `... where cond` after a named rule.
    pub filter: Option<Expr>,
}

/// A projection in a circuit.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    /// Its name (`project ee = E -> E ...`).
    pub name: Option<Ident>,
    /// Source populations.
    pub sources: Vec<Ident>,
    /// Target populations.
    pub targets: Vec<Ident>,
    /// The subgroup of each source (`E[0..5]`), if one.
    pub source_sel: Vec<Option<Expr>>,
    /// The subgroup of each target, if one.
    pub target_sel: Vec<Option<Expr>>,
    /// The synapse model.
    pub model: Ident,
    /// Parameter values.
    pub args: Vec<Arg>,
    /// Initial values of synaptic state.
    pub inits: Vec<(Ident, Expr)>,
    /// The connection rule.
    pub rule: ConnectRule,
    /// Synaptic delay.
    pub delay: Option<Expr>,
    /// Where the delay lies, written after it: `axonal` (the default) or
    /// `dendritic` (sema checks the word).
    pub delay_side: Option<Ident>,
    /// `autapses`: self-connections allowed.
    pub autapses: bool,
}

/// A population or projection and an optional index range.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    /// The population or projection.
    pub name: Ident,
    /// `[0..10]`, `[3]`.
    pub index: Option<Expr>,
}

/// `record what of sel, sel every T window T`.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// `spikes`, `rate` or a variable name.
    pub what: Ident,
    /// What is recorded.
    pub of: Vec<Selection>,
    /// Sampling period.
    pub every: Option<Expr>,
    /// Rate window.
    pub window: Option<Expr>,
    /// Sampling times instead of a period (`at 0 ms, end`): times, or the
    /// name `end` (the end of the run).
    pub at: Vec<Expr>,
}

/// A member of a circuit.
#[derive(Clone, Debug, PartialEq)]
pub enum CircuitMemberKind {
    /// `population ...`.
    Population(Population),
    /// `project ...`.
    Project(Box<Projection>),
    /// `record ...`.
    Record(Record),
    /// `modulator NAME = expr`.
    Modulator {
        /// Its name.
        name: Ident,
        /// Its value, a function of time.
        value: Expr,
    },
    /// `let NAME = expr`: a circuit-local constant.
    Let {
        /// Name.
        name: Ident,
        /// Value.
        value: Expr,
    },
    /// A member that failed to parse.
    Error,
}

/// A circuit member with its span.
pub type CircuitMember = Spanned<CircuitMemberKind>;

/// `circuit Name { ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct CircuitItem {
    /// Its name.
    pub name: Ident,
    /// Its parameters with their defaults (`circuit Coba(N = 4000)`).
    pub params: Vec<(Ident, Expr)>,
    /// Its members.
    pub members: Vec<CircuitMember>,
    /// The whole item.
    pub span: Span,
}

/// `run Circuit for T { dt = ..., seed = ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunItem {
    /// The circuit to run.
    pub circuit: Ident,
    /// Values of the circuit's parameters (`run Coba(N = 8000) for 1 s`).
    pub args: Vec<Arg>,
    /// How long.
    pub duration: Expr,
    /// Settings.
    pub settings: Vec<(Ident, Expr)>,
    /// The whole item.
    pub span: Span,
}

impl ExprKind {
    /// Calls `f` on each direct sub-expression, in order.
    pub fn children_mut(&mut self, f: &mut dyn FnMut(&mut Expr)) {
        match self {
            ExprKind::Unary(_, a) => f(a),
            ExprKind::Binary(_, a, b) | ExprKind::Clip(a, b) => {
                f(a);
                f(b);
            }
            ExprKind::If(a, b, c) => {
                f(a);
                f(b);
                f(c);
            }
            ExprKind::Range(a, b) => {
                if let Some(a) = a {
                    f(a);
                }
                if let Some(b) = b {
                    f(b);
                }
            }
            ExprKind::Array(items) => items.iter_mut().for_each(f),
            ExprKind::Call { args, .. } => args.iter_mut().for_each(|a| f(&mut a.value)),
            _ => {}
        }
    }
}

impl Drop for ExprKind {
    /// Drops a tree without recursing once per level: a chain of 20,000
    /// operators (the parser's limit) must not overflow a small stack.
    fn drop(&mut self) {
        let mut stack: Vec<Expr> = Vec::new();
        take_children(self, &mut stack);
        while let Some(mut e) = stack.pop() {
            take_children(&mut e.node, &mut stack);
        }
    }
}

/// Moves the sub-expressions of `k` to `out`, leaving cheap placeholders.
fn take_children(k: &mut ExprKind, out: &mut Vec<Expr>) {
    let mut take = |b: &mut Box<Expr>| {
        out.push(std::mem::replace(
            &mut **b,
            Spanned::new(ExprKind::Error, Span::default()),
        ))
    };
    match k {
        ExprKind::Unary(_, a) => take(a),
        ExprKind::Binary(_, a, b) | ExprKind::Clip(a, b) => {
            take(a);
            take(b);
        }
        ExprKind::If(a, b, c) => {
            take(a);
            take(b);
            take(c);
        }
        ExprKind::Range(a, b) => {
            if let Some(a) = a {
                take(a);
            }
            if let Some(b) = b {
                take(b);
            }
        }
        ExprKind::Array(items) => out.append(items),
        ExprKind::Call { args, .. } => out.extend(args.drain(..).map(|a| a.value)),
        _ => {}
    }
}
