//! Lowering of input generators and projections (synapse models bound to
//! two populations).

use crate::ode::{self, Builder, Class, Method, System};
use crate::{Lowerer, ModelScope, Scope, c, sym, topo};
use circ_diag::{Diagnostic, FileId};
use circ_ir::{Bin, Dist, Domain, Expr, Kernel, PopKernels, ProjKernels, Stmt, VarId};
use circ_runtime::connect::Rule;
use circ_runtime::layout::{Connect, PopLayout, ProjLayout, ProjVar, Space, VarLayout, VarRole};
use circ_sema::ItemKind;
use circ_syntax::ast::{
    self, AssignOp, Event, ExprKind, Item, MemberKind, RuleKind, StateLoc, StmtKind, Target,
};
use std::collections::HashMap;

fn kernel(name: &str, domain: Domain, b: Builder) -> Kernel {
    Kernel {
        name: name.into(),
        domain,
        temps: b.temps,
        body: b.body,
    }
}

impl Lowerer<'_> {
    /// `timed(from "file", dt, unit)`: the file's values, one per `dt`,
    /// times `unit`; `values(from "file", unit, column = "c")`: one per
    /// neuron (the population checks the count). Read when the network is
    /// built.
    pub(crate) fn timed(
        &mut self,
        s: &Scope<'_>,
        name: &str,
        args: &[ast::Arg],
        span: circ_syntax::Span,
    ) -> Option<Expr> {
        let names = circ_sema::builtin_param_names(name);
        let mut vals: Vec<Option<&ast::Expr>> = vec![None; names.len()];
        let mut positional = 0;
        for a in args {
            let idx = match &a.name {
                Some(n) => names.iter().position(|x| *x == n.node)?,
                None => {
                    positional += 1;
                    positional - 1
                }
            };
            if let Some(slot) = vals.get_mut(idx) {
                *slot = Some(&a.value);
            }
        }
        let ExprKind::File(path) = &vals.first().copied().flatten()?.node else {
            return None;
        };
        let per_neuron = name == "values";
        let (step, unit, column) = if per_neuron {
            let column = match vals.get(2).copied().flatten().map(|e| &e.node) {
                Some(ExprKind::Str(c)) => c.clone(),
                _ => "values".into(),
            };
            (None, self.expr(s, vals.get(1).copied().flatten()?)?, column)
        } else {
            (
                Some(sym::simplify(
                    &self.expr(s, vals.get(1).copied().flatten()?)?,
                )),
                self.expr(s, vals.get(2).copied().flatten()?)?,
                "values".into(),
            )
        };
        let (line, col) = self.map.line_col(s.file, span.start);
        let fname = self
            .map
            .get(s.file)
            .map_or_else(String::new, |f| f.name.clone());
        self.tables.push((
            circ_runtime::layout::Column {
                path: path.clone(),
                column: Some(column),
                rows: None,
            },
            format!("{fname}:{line}:{col}"),
        ));
        let k = (self.tables.len() - 1) as u32;
        let position = match step {
            Some(step) => Expr::bin(Bin::Div, Expr::Time, step),
            None => Expr::Index,
        };
        Some(Expr::bin(
            Bin::Mul,
            Expr::Table(k, Box::new(position)),
            unit,
        ))
    }

    /// Adds the position variables `x`, `y`, `z` (metres, per neuron) of
    /// `at grid(...)`, `at line(...)` or `at random_positions(...)`.
    pub(crate) fn add_positions(
        &mut self,
        scope: &Scope<'_>,
        pos: &ast::Expr,
        vars: &mut Vec<VarLayout>,
        kernels: &mut PopKernels,
    ) -> Option<()> {
        let ExprKind::Call { func, args } = &pos.node else {
            return None;
        };
        let names = circ_sema::builtin_param_names(&func.node);
        let mut vals: Vec<Option<Expr>> = vec![None; names.len()];
        let mut positional = 0;
        for a in args {
            let idx = match &a.name {
                Some(n) => names.iter().position(|x| *x == n.node)?,
                None => {
                    positional += 1;
                    positional - 1
                }
            };
            let v = sym::simplify(&self.expr(scope, &a.value)?);
            if let Some(slot) = vals.get_mut(idx) {
                *slot = Some(v);
            }
        }
        let arg = |k: usize| vals.get(k).cloned().flatten();
        let i = Expr::Index;
        let (x, y, z) = match func.node.as_str() {
            "grid" => {
                let (cols, spacing) = (arg(0)?, arg(1)?);
                let col = Expr::bin(Bin::Rem, i.clone(), cols.clone());
                let row = Expr::Call(circ_ir::Func::Floor, vec![Expr::bin(Bin::Div, i, cols)]);
                (
                    Expr::bin(Bin::Mul, col, spacing.clone()),
                    Expr::bin(Bin::Mul, row, spacing),
                    c(0.0),
                )
            }
            "line" => (Expr::bin(Bin::Mul, i, arg(0)?), c(0.0), c(0.0)),
            "random_positions" => {
                let extent = arg(0)?;
                let dims = match arg(1) {
                    Some(Expr::Const(d)) => d,
                    _ => 2.0,
                };
                let mut draw = || {
                    Expr::bin(
                        Bin::Mul,
                        extent.clone(),
                        Expr::Rand(Dist::Uniform, self.next_stream()),
                    )
                };
                let x = draw();
                let y = if dims >= 2.0 { draw() } else { c(0.0) };
                let z = if dims >= 3.0 { draw() } else { c(0.0) };
                (x, y, z)
            }
            _ => return None,
        };
        for (name, e) in [("x", x), ("y", y), ("z", z)] {
            if vars.iter().any(|v| v.name == name) {
                self.diags.push(Diagnostic::error("unsupported", format!("the model already has a variable `{name}`, which positions would replace"), scope.file, pos.span, "positions").with_help("rename the model's variable"));
                return None;
            }
            let v = vars.len() as VarId;
            vars.push(VarLayout {
                name: name.into(),
                role: VarRole::Param,
                scalar: false,
            });
            kernels.init.domain = Domain::Each;
            kernels.init.body.push(Stmt::Store(v, e));
        }
        Some(())
    }

    /// A Poisson population's spike condition: each neuron fires in a step
    /// with probability rate * dt (`rate`, variable 0, per neuron or one).
    fn poisson_threshold(&mut self) -> Kernel {
        let fire = Expr::bin(
            Bin::Lt,
            Expr::Rand(Dist::Uniform, self.next_stream()),
            Expr::bin(Bin::Mul, Expr::Load(0), Expr::Dt),
        );
        Kernel {
            name: "threshold".into(),
            domain: Domain::Each,
            temps: 0,
            body: vec![Stmt::Spike(fire)],
        }
    }

    /// `poisson[N](rate = r)` and `spikes[N](times = [...], indices = [...])`.
    pub(crate) fn generator(
        &mut self,
        scope: &Scope<'_>,
        p: &ast::Population,
        size: usize,
        dt: f64,
    ) -> Option<(PopLayout, PopKernels)> {
        let file = scope.file;
        let arg = |name: &str| {
            p.args
                .iter()
                .find(|a| a.name.as_ref().is_some_and(|n| n.node == name))
        };
        let mut layout = PopLayout {
            name: p.name.node.clone(),
            model: p.model.node.clone(),
            size,
            vars: vec![],
            schedule: vec![],
            schedule_source: None,
            held: vec![],
            poisson_rate: None,
            stream: self.streams.fresh(),
            rate_unit: false,
            refractory_flag: None,
            adaptive: None,
        };
        let mut kernels = PopKernels::default();
        if p.model.node == "poisson" {
            let rate_arg = &arg("rate")?.value;
            let set = self
                .overrides
                .iter()
                .find(|(pop, param, _)| *pop == p.name.node && param == "rate");
            let rate = match set {
                Some(&(_, _, r)) => Expr::Const(r),
                None => self.expr(scope, rate_arg)?,
            };
            if let Expr::Const(r) = sym::simplify(&rate)
                && !(r >= 0.0 && r.is_finite())
            {
                self.diags.push(
                    Diagnostic::error(
                        "invalid-value",
                        format!("a Poisson rate must be a finite rate from 0 Hz, but this is {r} Hz"),
                        file,
                        rate_arg.span,
                        "not a rate",
                    )
                    .with_help("a rate that varies with time may dip below 0: it then fires no spikes, as in Brian2"),
                );
                return None;
            }
            if let Expr::Const(r) = sym::simplify(&rate)
                && r * dt > 1.0
            {
                self.diags.push(
                    Diagnostic::error("invalid-value", format!("at {r} Hz a Poisson neuron would fire {:.2} times per step of {} ms, but it fires at most once", r * dt, dt * 1e3), file, rate_arg.span, "too fast for the step")
                        .with_help("use more neurons at a lower rate (and more synapses), or a smaller dt"),
                );
                return None;
            }
            // A rate per neuron (of `i`, a draw, `values(from ...)`): set
            // once (or every step, when it also changes in time) per neuron,
            // and each neuron fires with probability rate * dt.
            if crate::per_element(&rate, &|_| false) {
                let timed = sym::reads_time_or_random(&crate::strip_random(&rate));
                if timed && crate::any_random(&rate) {
                    self.unsupported(
                        file,
                        rate_arg.span,
                        "a Poisson rate drawn at random that also changes in time (it would be drawn again every step)",
                        "draw the random part with `values(...)` or an expression of `i`, or keep the rate constant in time",
                    );
                    return None;
                }
                layout.vars.push(VarLayout {
                    name: "rate".into(),
                    role: VarRole::Param,
                    scalar: false,
                });
                let store = vec![Stmt::Store(0, rate.clone())];
                kernels.init = Kernel {
                    name: "init".into(),
                    domain: Domain::Each,
                    temps: 0,
                    body: store.clone(),
                };
                if timed {
                    kernels.drive = Kernel {
                        name: "drive".into(),
                        domain: Domain::Each,
                        temps: 0,
                        body: store,
                    };
                }
                kernels.threshold = Some(self.poisson_threshold());
                kernels.solver_notes.push(format!(
                    "Poisson spikes at a rate per neuron, probability rate * dt per step (dt = {} ms)",
                    dt * 1e3
                ));
                return Some((layout, kernels));
            }
            layout.vars.push(VarLayout {
                name: "rate".into(),
                role: VarRole::Param,
                scalar: true,
            });
            kernels.dynamic = Kernel {
                name: "dynamic".into(),
                domain: Domain::Once,
                temps: 0,
                body: vec![Stmt::Store(0, rate.clone())],
            };
            // A constant rate: the runtime draws each neuron's next spike
            // (the same law, without a random number per neuron per step).
            if let Expr::Const(r) = sym::simplify(&rate) {
                layout.poisson_rate = Some(r);
                kernels.solver_notes.push(format!(
                    "Poisson spikes at {r} Hz: each neuron's next spike drawn as a geometric number of steps (probability rate * dt per step, dt = {} ms)",
                    dt * 1e3
                ));
                return Some((layout, kernels));
            }
            kernels.threshold = Some(self.poisson_threshold());
            kernels.solver_notes.push(format!(
                "Poisson spikes, probability rate * dt per step (dt = {} ms)",
                dt * 1e3
            ));
            return Some((layout, kernels));
        }
        // spikes from files: read when the network is built.
        if let Some(ExprKind::File(path)) = arg("times").map(|a| &a.value.node) {
            let indices = match arg("indices").map(|a| &a.value.node) {
                Some(ExprKind::File(ip)) => Some(circ_runtime::layout::Column {
                    rows: None,
                    path: ip.clone(),
                    column: Some("i".into()),
                }),
                Some(_) => {
                    let span = arg("indices").map_or(p.model.span, |a| a.value.span);
                    self.unsupported(
                        file,
                        span,
                        "indices inline with times from a file",
                        "give both from files: `times = from \"s.csv\", indices = from \"s.csv\"`",
                    );
                    return None;
                }
                None => None,
            };
            let (line, col) = self.map.line_col(file, p.name.span.start);
            let fname = self
                .map
                .get(file)
                .map_or_else(String::new, |f| f.name.clone());
            layout.schedule_source = Some(circ_runtime::layout::ScheduleSource {
                times: circ_runtime::layout::Column {
                    rows: None,
                    path: path.clone(),
                    column: Some("t".into()),
                },
                indices,
                origin: format!("{fname}:{line}:{col}"),
            });
            kernels
                .solver_notes
                .push(format!("spikes read from {path}"));
            return Some((layout, kernels));
        }
        // One spike per neuron at a time of its own (drawn, or of `i`):
        // kept per neuron, fired in the step it rounds to.
        if let Some(t) = arg("times").filter(|a| !matches!(a.value.node, ExprKind::Array(_))) {
            let e = self.expr(scope, &t.value)?;
            layout.vars.push(VarLayout {
                name: "t_spike".into(),
                role: VarRole::Param,
                scalar: false,
            });
            kernels.init = Kernel {
                name: "init".into(),
                domain: Domain::Each,
                temps: 0,
                body: vec![Stmt::Store(0, e)],
            };
            let step_of =
                |x: Expr| Expr::Call(circ_ir::Func::Round, vec![Expr::bin(Bin::Div, x, Expr::Dt)]);
            kernels.threshold = Some(Kernel {
                name: "threshold".into(),
                domain: Domain::Each,
                temps: 0,
                body: vec![Stmt::Spike(Expr::bin(
                    Bin::Eq,
                    step_of(Expr::Load(0)),
                    step_of(Expr::Time),
                ))],
            });
            kernels.solver_notes.push(
                "one spike per neuron, in the step its time rounds to (none for a time before 0 or after the run)".into(),
            );
            return Some((layout, kernels));
        }
        // spikes: arrays of constants.
        let consts = |this: &mut Self, e: &ast::Expr| -> Option<Vec<f64>> {
            match &e.node {
                ExprKind::Array(items) => items
                    .iter()
                    .map(|x| {
                        this.expr(scope, x)
                            .map(|v| sym::simplify(&v))
                            .and_then(|v| {
                                if let Expr::Const(k) = v {
                                    Some(k)
                                } else {
                                    None
                                }
                            })
                    })
                    .collect(),
                _ => {
                    this.unsupported(
                        file,
                        e.span,
                        "spike times from a file",
                        "give the times as an array: `times = [10 ms, 20 ms]`",
                    );
                    None
                }
            }
        };
        let times = consts(self, &arg("times")?.value)?;
        let indices = match arg("indices") {
            Some(a) => Some((consts(self, &a.value)?, a.value.span)),
            None => None,
        };
        let mut schedule: Vec<(u64, u32)> = vec![];
        for (k, &t) in times.iter().enumerate() {
            if !(t >= 0.0 && t.is_finite()) {
                self.diags.push(Diagnostic::error(
                    "invalid-value",
                    format!(
                        "spike time {k} is {} ms; times must be finite and not negative",
                        t * 1e3
                    ),
                    file,
                    p.model.span,
                    "a negative time",
                ));
                return None;
            }
            let step = (t / dt).round() as u64;
            match &indices {
                Some((idx, span)) => {
                    let Some(&i) = idx.get(k) else {
                        self.diags.push(Diagnostic::error(
                            "invalid-value",
                            format!(
                                "{} spike times but {} indices; give one index per time",
                                times.len(),
                                idx.len()
                            ),
                            file,
                            *span,
                            "too few indices",
                        ));
                        return None;
                    };
                    if i < 0.0 || i.fract() != 0.0 || i as usize >= size {
                        self.diags.push(Diagnostic::error(
                            "invalid-value",
                            format!(
                                "index {i} is not a neuron of `{}`, which has {size}",
                                p.name.node
                            ),
                            file,
                            *span,
                            "out of range",
                        ));
                        return None;
                    }
                    schedule.push((step, i as u32));
                }
                None => schedule.extend((0..size as u32).map(|i| (step, i))),
            }
        }
        schedule.sort_unstable();
        if let Some((step, i)) = circ_runtime::sim::spiking_twice(&schedule) {
            // Brian2's SpikeGeneratorGroup refuses the same; merging would
            // drop a spike silently.
            self.diags.push(
                Diagnostic::error(
                    "invalid-value",
                    format!(
                        "neuron {i} of `{}` would spike twice in the step at {} ms: two of its times round to the same step of {} ms",
                        p.name.node,
                        step as f64 * dt * 1e3,
                        dt * 1e3
                    ),
                    file,
                    arg("times")?.value.span,
                    "two spikes in one step",
                )
                .with_help("a neuron spikes at most once a step (as in Brian2): remove one, or use a smaller dt"),
            );
            return None;
        }
        layout.schedule = schedule;
        kernels.solver_notes.push("spikes given in advance".into());
        Some((layout, kernels))
    }

    /// One projection: the synapse model `pr.model` bound to `pre` → `post`.
    #[allow(clippy::too_many_arguments, clippy::too_many_lines)]
    pub(crate) fn projection(
        &mut self,
        circuit_scope: &Scope<'_>,
        module: usize,
        pr: &ast::Projection,
        name: String,
        origin: String,
        (pre, pre_layout): (usize, &PopLayout),
        (post, post_layout): (usize, &PopLayout),
        dt: f64,
        modulators: &HashMap<String, Expr>,
        recorded: &[String],
        (pre_sel, post_sel): (Option<Vec<u32>>, Option<Vec<u32>>),
    ) -> Option<(ProjLayout, ProjKernels)> {
        let cfile = circuit_scope.file;
        let (id, ItemKind::Synapse) = self.prog.resolve(module, &pr.model.node)? else {
            return None;
        };
        let Some(Item::Model(model)) = self.prog.item(id) else {
            return None;
        };
        let file: FileId = self.prog.file(id.module)?;
        // Variables: the model's, then views of the two populations' variables.
        let mut vars: Vec<ProjVar> = vec![];
        let mut ids: HashMap<String, VarId> = HashMap::new();
        let mut lets: HashMap<String, &ast::Expr> = HashMap::new();
        for m in &model.members {
            let (n, space, role) = match &m.node {
                MemberKind::Parameter(d) => (
                    &d.name,
                    if d.per.is_some() {
                        Space::Syn
                    } else {
                        Space::Scalar
                    },
                    VarRole::Param,
                ),
                MemberKind::State(StateLoc::Own, d) => (&d.name, Space::Syn, VarRole::State),
                MemberKind::State(StateLoc::Pre, d) => (&d.name, Space::PreState, VarRole::State),
                MemberKind::State(StateLoc::Post, d) => (&d.name, Space::PostState, VarRole::State),
                // A sum per postsynaptic (`post let`) or presynaptic
                // (`pre let`) neuron.
                MemberKind::SideLet { name, loc, .. } => (
                    name,
                    if *loc == StateLoc::Pre {
                        Space::PreState
                    } else {
                        Space::PostState
                    },
                    VarRole::State,
                ),
                MemberKind::Modulator { name, .. } => (name, Space::Scalar, VarRole::Param),
                MemberKind::Let { name, value } => {
                    lets.insert(name.node.clone(), value);
                    continue;
                }
                _ => continue,
            };
            ids.insert(n.node.clone(), vars.len() as VarId);
            vars.push(ProjVar {
                name: n.node.clone(),
                space,
                role,
            });
        }
        let mut fields: HashMap<String, VarId> = HashMap::new();
        for (side, layout) in [("pre", pre_layout), ("post", post_layout)] {
            for (k, v) in layout.vars.iter().enumerate() {
                let key = format!("{side}.{}", v.name);
                fields.insert(key.clone(), vars.len() as VarId);
                let space = if side == "pre" {
                    Space::PreNeuron(k)
                } else {
                    Space::PostNeuron(k)
                };
                vars.push(ProjVar {
                    name: key,
                    space,
                    role: v.role,
                });
            }
        }
        let delay_var = pr.delay.as_ref().map(|_| {
            vars.push(ProjVar {
                name: "delay".into(),
                space: Space::Syn,
                role: VarRole::Internal,
            });
            (vars.len() - 1) as VarId
        });
        let space_of = |v: VarId, vars: &[ProjVar]| vars[v as usize].space;
        let ms = ModelScope {
            file,
            fields,
            vars: ids.clone(),
            lets,
        };
        let scope = Scope {
            file,
            model: Some(&ms),
            locals: vec![],
            pair: true,
        };
        let cscope = Scope {
            file: cfile,
            model: None,
            locals: circuit_scope.locals.clone(),
            pair: true,
        };

        // Values: the circuit's arguments, else the model's defaults.
        let given = |n: &str| {
            pr.args
                .iter()
                .find(|a| a.name.as_ref().is_some_and(|x| x.node == n))
                .map(|a| &a.value)
        };
        let init_given = |n: &str| pr.inits.iter().find(|(x, _)| x.node == n).map(|(_, e)| e);
        let mut promoted: Vec<(VarId, String)> = vec![];
        let mut scalar_vals: Vec<(VarId, Expr, bool)> = vec![];
        let mut syn_vals: Vec<(VarId, Expr, bool)> = vec![];
        let mut pre_vals: Vec<(VarId, Expr, bool)> = vec![];
        let mut post_vals: Vec<(VarId, Expr, bool)> = vec![];
        for m in &model.members {
            let (n, default, from_circuit) = match &m.node {
                MemberKind::Parameter(d) => (&d.name, d.init.as_ref(), given(&d.name.node)),
                MemberKind::State(_, d) => (&d.name, d.init.as_ref(), init_given(&d.name.node)),
                MemberKind::Modulator { name, .. } => {
                    let v = modulators.get(&name.node).cloned().unwrap_or(c(0.0));
                    scalar_vals.push((ids[&name.node], v, true));
                    continue;
                }
                _ => continue,
            };
            // `circ run --set exc.w=5nS` (and the REPL's `:set`).
            let set = pr.name.as_ref().and_then(|pn| {
                self.overrides
                    .iter()
                    .find(|(o, p, _)| *o == pn.node && *p == n.node)
                    .map(|o| c(o.2))
            });
            let value = match (set, from_circuit, default) {
                (Some(v), _, _) => v,
                (None, Some(e), _) => self.expr(&cscope, e)?,
                (None, None, Some(d)) => self.expr(&scope, d)?,
                (None, None, None) => c(0.0),
            };
            let v = ids[&n.node];
            // A parameter given a value that differs between synapses (of
            // `i`, `j`, a draw, another per-synapse value) is one per
            // synapse in this projection, as in Brian2 and NEST.
            let per_syn = |e: &Expr| {
                fn walk(e: &Expr, per: &dyn Fn(VarId) -> bool) -> bool {
                    match e {
                        Expr::PreIndex | Expr::PostIndex | Expr::Rand(..) => true,
                        Expr::Load(v) => per(*v),
                        Expr::Un(_, a) | Expr::Table(_, a) => walk(a, per),
                        Expr::Bin(_, a, b) => walk(a, per) || walk(b, per),
                        Expr::Call(_, args) => args.iter().any(|a| walk(a, per)),
                        Expr::Select(k, a, b) => walk(k, per) || walk(a, per) || walk(b, per),
                        _ => false,
                    }
                }
                walk(e, &|w| !matches!(vars[w as usize].space, Space::Scalar))
            };
            if space_of(v, &vars) == Space::Scalar
                && matches!(m.node, MemberKind::Parameter(_))
                && per_syn(&value)
            {
                if sym::reads_time_or_random(&crate::strip_random(&value)) {
                    self.unsupported(
                        cfile,
                        pr.model.span,
                        &format!(
                            "a value of `{}` that differs between synapses and changes in time",
                            n.node
                        ),
                        "give each synapse a constant value",
                    );
                    return None;
                }
                vars[v as usize].space = Space::Syn;
                promoted.push((v, n.node.clone()));
            }
            match space_of(v, &vars) {
                Space::Scalar => scalar_vals.push((v, value, true)),
                Space::Syn => syn_vals.push((v, value, false)),
                Space::PreState => pre_vals.push((v, value, false)),
                _ => post_vals.push((v, value, false)),
            }
        }
        let mut delay_bound = None;
        if let (Some(d), Some(dv)) = (&pr.delay, delay_var) {
            let e = self.expr(&cscope, d)?;
            if let Expr::Const(k) = sym::simplify(&e) {
                // A fixed delay: its ring's size is known now, and one
                // longer than any ring can be is refused here.
                let steps = (k / dt).round();
                if !(k >= 0.0 && k.is_finite()) || steps > f64::from(u32::MAX) {
                    self.diags.push(
                        Diagnostic::error(
                            "invalid-value",
                            format!(
                                "a delay of {k} s is {steps:.3e} steps of {} ms; delays are finite, not negative and at most {} steps",
                                dt * 1e3,
                                u32::MAX
                            ),
                            cfile,
                            d.span,
                            "impossible delay",
                        )
                        .with_help("a delay is the time a spike takes to arrive; check its unit"),
                    );
                    return None;
                }
                delay_bound = Some(k);
            }
            syn_vals.push((dv, e, false));
        }
        // The whole `on pre` happens when the spike reaches the synapse
        // (Brian2's delayed on_pre). With one delay for every synapse the
        // runtime runs the pre-state part at arrival; with delays that differ
        // (an expression or a file column), each synapse sees its own
        // arrivals, so pre states are kept per synapse.
        let file_delays = matches!(&pr.rule.kind.node, RuleKind::File { args, .. }
            if args.iter().any(|a| a.name.as_ref().is_some_and(|n| n.node == "delay")));
        let varying_delays = file_delays || (pr.delay.is_some() && delay_bound.is_none());
        let mut per_synapse_note = None;
        // A dendritic delay (NEST's): the spike reaches the synapse at once
        // and the soma after the delay; a post spike reaches the synapse
        // after the delay. `on pre` runs when the spike reaches the soma, so
        // `on post` runs twice the delay after the post spike: the same
        // intervals, seen from the synapse.
        let mut on_post_delay = 0.0;
        if let Some(side) = pr.delay_side.as_ref().filter(|s| s.node == "dendritic") {
            match delay_bound {
                Some(d) if !file_delays => on_post_delay = 2.0 * d,
                _ => {
                    self.unsupported(
                        cfile,
                        side.span,
                        "a dendritic delay that differs between synapses",
                        "give the projection one constant delay (`delay 1.5 ms dendritic`), as NEST's stdp_synapse has",
                    );
                    return None;
                }
            }
        }
        if varying_delays {
            let moved: Vec<String> = vars
                .iter()
                .filter(|v| v.space == Space::PreState)
                .map(|v| v.name.clone())
                .collect();
            for v in &mut vars {
                if v.space == Space::PreState {
                    v.space = Space::Syn;
                }
            }
            syn_vals.append(&mut pre_vals);
            if !moved.is_empty() {
                per_synapse_note = Some(format!(
                    "pre state {} kept per synapse: delays differ between synapses, and each synapse sees its own spike arrivals",
                    moved.join(", ")
                ));
            }
        }
        let mut known: HashMap<VarId, f64> = HashMap::new();
        let mut time_dependent: Vec<VarId> = vec![];
        let mut dynamic = Builder::default();
        for (v, e, _) in topo(&scalar_vals) {
            if let Expr::Const(k) =
                sym::simplify(&sym::subst(&e, &|w| known.get(&w).copied().map(c), None))
            {
                known.insert(v, k);
            }
            if sym::reads_time_or_random(&e) || sym::depends(&e, &|w| time_dependent.contains(&w)) {
                time_dependent.push(v);
            }
            dynamic.body.push(Stmt::Store(v, e));
        }
        let store_all = |vals: &[(VarId, Expr, bool)]| {
            let mut b = Builder::default();
            for (v, e, _) in topo(vals) {
                b.body.push(Stmt::Store(v, e));
            }
            b
        };
        let mut kernels = ProjKernels {
            init: vec![
                kernel(
                    "init_scalar",
                    Domain::Once,
                    Builder {
                        body: dynamic.body.clone(),
                        temps: 0,
                    },
                ),
                kernel("init_pre", Domain::PreNeurons, store_all(&pre_vals)),
                kernel("init_post", Domain::PostNeurons, store_all(&post_vals)),
                kernel("init_synapses", Domain::Synapses, store_all(&syn_vals)),
            ],
            dynamic: kernel("dynamic", Domain::Once, dynamic),
            ..ProjKernels::default()
        };
        kernels.solver_notes.extend(per_synapse_note);

        // Equations, one system per place the states live.
        let varying = |v: VarId| {
            let var = &vars[v as usize];
            var.role == VarRole::State
                || var.role == VarRole::Input
                || matches!(var.space, Space::PreNeuron(_) | Space::PostNeuron(_))
                || time_dependent.contains(&v)
        };
        let mut requested: Option<&circ_syntax::Ident> = None;
        let mut systems: Vec<(Space, System)> = vec![];
        for m in &model.members {
            match &m.node {
                MemberKind::Ode {
                    var, rhs, noise, ..
                } => {
                    let Some(&v) = ids.get(&var.node) else {
                        continue;
                    };
                    let space = space_of(v, &vars);
                    let r = self.expr(&scope, rhs)?;
                    let n = match noise {
                        Some(n) => Some(self.expr(&scope, n)?),
                        None => None,
                    };
                    let sys = match systems.iter_mut().find(|(s, _)| *s == space) {
                        Some((_, sys)) => sys,
                        None => {
                            systems.push((
                                space,
                                System {
                                    states: vec![],
                                    rhs: vec![],
                                    noise: vec![],
                                    held: vec![],
                                },
                            ));
                            &mut systems.last_mut()?.1
                        }
                    };
                    sys.states.push((v, var.node.clone()));
                    sys.rhs.push(sym::simplify(&r));
                    sys.noise.push(n);
                    sys.held.push(false);
                }
                MemberKind::Method(n) => requested = Some(n),
                _ => {}
            }
        }
        // Event-driven states (Brian2's `(event-driven)`): a per-synapse
        // state whose equation is a pure exponential (dx/dt = a x, a fixed
        // in time), that no other equation reads and that is not recorded,
        // matters only when a handler reads it. It is solved exactly from
        // the synapse's last event when one comes, not every step; a
        // continuous coupling or sum that reads it (known below) puts it
        // back to every step.
        let mut lazy: Vec<(VarId, String, Expr)> = vec![];
        let explicit_method = requested.is_some_and(|n| n.node != "exact");
        for (space, sys) in &mut systems {
            if *space != Space::Syn || explicit_method {
                continue;
            }
            let mut k = 0;
            while k < sys.states.len() {
                let (v, ref vname) = sys.states[k];
                let rate = sym::diff(&sys.rhs[k], v);
                let read_elsewhere = sys
                    .rhs
                    .iter()
                    .enumerate()
                    .any(|(i, r)| i != k && sym::depends(r, &|w| w == v));
                let pure = rate.as_ref().is_some_and(|a| {
                    !sym::depends(a, &|w| w == v || varying(w))
                        && !sym::reads_time_or_random(a)
                        && sym::simplify(&sym::subst(
                            &sys.rhs[k],
                            &|w| (w == v).then(|| c(0.0)),
                            None,
                        )) == c(0.0)
                });
                if pure
                    && sys.noise[k].is_none()
                    && !read_elsewhere
                    && !recorded.contains(vname)
                    && !self.final_state
                {
                    let (v, name) = sys.states.remove(k);
                    sys.rhs.remove(k);
                    sys.noise.remove(k);
                    sys.held.remove(k);
                    lazy.push((v, name, rate.unwrap_or(c(0.0))));
                } else {
                    if pure && sys.noise[k].is_none() {
                        let why = if read_elsewhere {
                            "another equation reads it"
                        } else {
                            "it is recorded"
                        };
                        kernels.solver_notes.push(format!(
                            "{vname} (per synapse) integrated every step, not event-driven: {why}"
                        ));
                    }
                    k += 1;
                }
            }
        }
        systems.retain(|(_, sys)| !sys.states.is_empty());
        for (space, sys) in &systems {
            let class = ode::classify(sys, &varying);
            let has_noise = sys.noise.iter().any(Option::is_some);
            let method = match (requested.map(|n| n.node.as_str()), &class) {
                (Some("euler"), _) => Method::Euler,
                (Some("rk2"), _) => Method::Rk2,
                (Some("heun"), _) => Method::Heun,
                (Some("rk4"), _) => Method::Rk4,
                (Some("euler_maruyama"), _) => Method::EulerMaruyama,
                (Some("exponential_euler"), Class::Linear | Class::ConditionallyLinear { .. }) => {
                    Method::ExponentialEuler
                }
                (Some("exact"), Class::Linear) => Method::Exact,
                (Some("rk45"), _) => {
                    let span = requested.map_or(model.name.span, |n| n.span);
                    self.unsupported(
                        file,
                        span,
                        "`method rk45` in a synapse model",
                        "adaptive substeps integrate neuron models; a synapse's equations take a fixed-step method such as `rk4`",
                    );
                    return None;
                }
                (Some(other), _) => {
                    let span = requested.map_or(model.name.span, |n| n.span);
                    self.diags.push(
                        Diagnostic::error(
                            "method-not-applicable",
                            format!(
                                "`method {other}` does not apply to the equations of `{}`",
                                model.name.node
                            ),
                            file,
                            span,
                            "requested here",
                        )
                        .with_help("remove `method` to let the compiler choose"),
                    );
                    return None;
                }
                (None, _) if has_noise => Method::EulerMaruyama,
                (None, Class::Linear) => Method::Exact,
                (None, Class::ConditionallyLinear { .. }) => Method::ExponentialEuler,
                (None, Class::Nonlinear { .. }) => Method::Rk4,
            };
            let (domain, place) = match space {
                Space::PreState => (Domain::PreNeurons, "per presynaptic neuron"),
                Space::PostState => (Domain::PostNeurons, "per postsynaptic neuron"),
                _ => (Domain::Synapses, "per synapse"),
            };
            let names: Vec<&str> = sys.states.iter().map(|s| s.1.as_str()).collect();
            kernels.solver_notes.push(format!(
                "{} ({place}) integrated with {}",
                names.join(", "),
                method.name()
            ));
            let mut b = Builder::default();
            let scalar_value = |v: VarId| known.get(&v).copied();
            let streams = &mut self.streams;
            let mut next = || streams.fresh();
            if let Err(why) = ode::emit(sys, method, &mut b, &scalar_value, &mut next, dt, None) {
                self.diags.push(
                    Diagnostic::error(
                        "method-not-applicable",
                        format!("`{}` cannot be integrated exactly: {why}", model.name.node),
                        file,
                        model.name.span,
                        "exact integration",
                    )
                    .with_help("use `method rk4`"),
                );
                return None;
            }
            kernels.update.push(kernel("update", domain, b));
        }

        // Continuous couplings: per synapse when they read per-synapse or
        // presynaptic values, else once per postsynaptic neuron.
        let per_syn = |e: &Expr, vars: &[ProjVar]| {
            sym::depends(e, &|v| {
                matches!(
                    vars[v as usize].space,
                    Space::Syn | Space::PreState | Space::PreNeuron(_)
                )
            })
        };
        let (mut by_syn, mut by_post) = (Builder::default(), Builder::default());
        for m in &model.members {
            let MemberKind::Coupling(st) = &m.node else {
                continue;
            };
            let StmtKind::Assign { target, op, value } = &st.node else {
                continue;
            };
            let Target::Post(n) = &target.node else {
                continue;
            };
            let Some(&tv) = ms.fields.get(&format!("post.{}", n.node)) else {
                continue;
            };
            let mut e = self.expr(&scope, value)?;
            if *op == AssignOp::Sub {
                e = Expr::Un(circ_ir::Un::Neg, Box::new(e));
            }
            let b = if per_syn(&e, &vars) {
                &mut by_syn
            } else {
                &mut by_post
            };
            b.body.push(Stmt::AddTo(tv, e));
        }
        // Sums over each postsynaptic neuron's synapses (`post let x =
        // sum(e)`): zeroed, then added to in increasing synapse order, before
        // the couplings, which may read them (spec/synapse.md).
        // Sums over each presynaptic neuron's outgoing synapses (`pre let`)
        // likewise, zeroed per presynaptic neuron.
        let (mut zero, mut zero_pre, mut sums) =
            (Builder::default(), Builder::default(), Builder::default());
        for m in &model.members {
            let MemberKind::SideLet { name, value, loc } = &m.node else {
                continue;
            };
            let (Some(&v), ast::ExprKind::Call { args, .. }) = (ids.get(&name.node), &value.node)
            else {
                continue;
            };
            let Some(arg) = args.first() else { continue };
            let e = self.expr(&scope, &arg.value)?;
            let z = if *loc == StateLoc::Pre {
                &mut zero_pre
            } else {
                &mut zero
            };
            z.body.push(Stmt::Store(v, c(0.0)));
            sums.body.push(Stmt::AddTo(v, e));
        }
        kernels.couple = vec![
            kernel("sum_zero", Domain::PostNeurons, zero),
            kernel("sum_zero_pre", Domain::PreNeurons, zero_pre),
            kernel("sum_synapses", Domain::Synapses, sums),
            kernel("couple_post", Domain::PostNeurons, by_post),
            kernel("couple_synapses", Domain::Synapses, by_syn),
        ];

        // Handlers: the neuron-level part (once per spike), then the per-synapse part.
        for m in &model.members {
            let MemberKind::On { event, body } = &m.node else {
                continue;
            };
            let (own_state, d_neuron, d_syn) = match event.node {
                Event::Pre => (Space::PreState, Domain::SpikingPre, Domain::Arriving),
                Event::Post => (
                    Space::PostState,
                    Domain::SpikingPost,
                    Domain::PostSpikeSynapses,
                ),
            };
            let (mut nb, mut sb) = (Builder::default(), Builder::default());
            let mut locals: Vec<(String, Expr)> = vec![];
            self.handler(&ms, body, own_state, &vars, &mut nb, &mut sb, &mut locals)?;
            let ks = vec![
                kernel("neuron_part", d_neuron, nb),
                kernel("synapse_part", d_syn, sb),
            ];
            match event.node {
                Event::Pre => kernels.on_pre = ks,
                Event::Post => kernels.on_post = ks,
            }
        }

        self.event_driven(&mut kernels, &mut vars, lazy, &known, dt);
        hoist_neuron_terms(&mut kernels, &mut vars);
        // A parameter made per synapse above cannot feed what lives per
        // neuron (a pre or post state's equation, initial value or update).
        for (v, name) in &promoted {
            let per_neuron = kernels
                .init
                .iter()
                .chain(&kernels.update)
                .chain(&kernels.couple)
                .chain(&kernels.on_pre)
                .chain(&kernels.on_post)
                .filter(|k| !k.domain.has_synapse() && k.domain != Domain::Once)
                .any(|k| {
                    let mut named = vec![];
                    circ_ir::named_vars(&k.body, &mut named);
                    named.contains(v)
                });
            if per_neuron {
                let span = pr
                    .args
                    .iter()
                    .find(|a| a.name.as_ref().is_some_and(|x| &x.node == name))
                    .map_or(pr.model.span, |a| a.value.span);
                self.diags.push(
                    Diagnostic::error(
                        "per-synapse-dependency",
                        format!("`{name}` is given a value per synapse here, but `{}` uses it for a value kept per neuron (a pre or post state)", model.name.node),
                        cfile,
                        span,
                        "differs between synapses",
                    )
                    .with_help(format!("give `{name}` one value for the projection")),
                );
                return None;
            }
        }

        // Connectivity.
        let fold = |this: &mut Self, e: &ast::Expr| -> Option<f64> {
            let v = this.expr(&cscope, e).map(|x| sym::simplify(&x))?;
            if let Expr::Const(k) = v {
                Some(k)
            } else {
                None
            }
        };
        let mut distance_filter: Option<Expr> = None;
        let (connect, filter) = match &pr.rule.kind.node {
            RuleKind::FileNamed { name, .. } => {
                // Lowering puts the circuit's strings in place first; sema
                // refuses a name that is not one.
                self.unsupported(
                    file,
                    name.span,
                    "a file named by something other than a string constant of the circuit",
                    "name the file in the circuit: `let edges = \"edges.csv\"`",
                );
                return None;
            }
            RuleKind::Named { name: rname, args } => {
                let a0 = args.first().map(|a| &a.value);
                let rule = match rname.node.as_str() {
                    "all_to_all" => Rule::AllToAll,
                    "one_to_one" => Rule::OneToOne,
                    "bernoulli" => Rule::Bernoulli(fold(self, a0?)?),
                    "fixed_indegree" | "fixed_outdegree" | "fixed_total" => {
                        let k = fold(self, a0?)?;
                        if !self.whole_count(
                            cfile,
                            a0?,
                            k,
                            &format!("the count of `{}`", rname.node),
                            0.0,
                        ) {
                            return None;
                        }
                        let k = k as u64;
                        match rname.node.as_str() {
                            "fixed_indegree" => Rule::FixedIndegree(k),
                            "fixed_outdegree" => Rule::FixedOutdegree(k),
                            _ => Rule::FixedTotal(k),
                        }
                    }
                    "matrix" => {
                        let ExprKind::Array(rows) = &a0?.node else {
                            let ExprKind::File(path) = &a0?.node else {
                                return None;
                            };
                            let user = match pr.rule.filter.as_ref() {
                                Some(f) => Some(sym::simplify(&self.expr(&cscope, f)?)),
                                None => None,
                            };
                            kernels.filter = user;
                            let delay_var = vars
                                .iter()
                                .position(|v| v.name == "delay" && v.role == VarRole::Internal);
                            let layout = ProjLayout {
                                name,
                                origin,
                                pre,
                                post,
                                vars,
                                connect: Connect::Matrix { path: path.clone() },
                                autapses: pr.autapses,
                                filtered: kernels.filter.is_some(),
                                delay_var,
                                delay_bound,
                                on_post_delay,
                                post_added: vec![],
                                stream: self.streams.fresh(),
                                pre_sel: None,
                                post_sel: None,
                            };
                            if pre_sel.is_some() || post_sel.is_some() {
                                self.unsupported(
                                    cfile,
                                    pr.rule.kind.span,
                                    "a connectivity matrix between subgroups",
                                    "give the matrix for the whole populations (rows: presynaptic neurons)",
                                );
                                return None;
                            }
                            return Some((layout, kernels));
                        };
                        let mut pairs = vec![];
                        for (i, row) in rows.iter().enumerate() {
                            let ExprKind::Array(cells) = &row.node else {
                                return None;
                            };
                            for (j, cell) in cells.iter().enumerate() {
                                if fold(self, cell)? != 0.0 {
                                    pairs.push((i as u32, j as u32));
                                }
                            }
                        }
                        Rule::Pairs(pairs)
                    }
                    "distance" => {
                        // Each pair with probability p(d), d the distance of their positions.
                        let axis = |a: &str| {
                            (
                                ms.fields.get(&format!("pre.{a}")).copied(),
                                ms.fields.get(&format!("post.{a}")).copied(),
                            )
                        };
                        let mut sq: Option<Expr> = None;
                        for a in ["x", "y", "z"] {
                            let (Some(pv), Some(qv)) = axis(a) else {
                                self.diags.push(
                                    Diagnostic::error("missing-parameter", format!("`distance` needs positions for `{}` and `{}`", pre_layout.name, post_layout.name), cfile, pr.rule.kind.span, "no positions")
                                        .with_help("give each population positions: `population E = LIF[100] at grid(10, 20 um)`"),
                                );
                                return None;
                            };
                            let diff = Expr::bin(Bin::Sub, Expr::Load(pv), Expr::Load(qv));
                            let term = Expr::bin(Bin::Mul, diff.clone(), diff);
                            sq = Some(match sq {
                                None => term,
                                Some(acc) => Expr::bin(Bin::Add, acc, term),
                            });
                        }
                        let d = Expr::Call(circ_ir::Func::Sqrt, vec![sq?]);
                        let mut dscope = Scope {
                            file: cfile,
                            model: Some(&ms),
                            locals: circuit_scope.locals.clone(),
                            pair: true,
                        };
                        dscope.locals.push(("d".into(), d));
                        let prob = self.expr(&dscope, a0?)?;
                        distance_filter = Some(Expr::bin(
                            Bin::Lt,
                            Expr::Rand(Dist::Uniform, self.next_stream()),
                            prob,
                        ));
                        Rule::AllToAll
                    }
                    _ => return None,
                };
                (Connect::Rule(rule), pr.rule.filter.as_ref())
            }
            RuleKind::Where(cond) => (Connect::Rule(Rule::AllToAll), Some(cond)),
            RuleKind::File { path, args } => {
                let mut source = String::new();
                let mut target = String::new();
                let mut columns = vec![];
                for a in args {
                    let (Some(n), ExprKind::Str(col)) = (&a.name, &a.value.node) else {
                        continue;
                    };
                    match n.node.as_str() {
                        "source" => source = col.clone(),
                        "target" => target = col.clone(),
                        "delay" => match delay_var {
                            Some(dv) => columns.push((col.clone(), dv as usize)),
                            None => {
                                vars.push(ProjVar {
                                    name: "delay".into(),
                                    space: Space::Syn,
                                    role: VarRole::Internal,
                                });
                                columns.push((col.clone(), vars.len() - 1));
                            }
                        },
                        other => {
                            if let Some(&v) = ids.get(other) {
                                columns.push((col.clone(), v as usize));
                            }
                        }
                    }
                }
                (
                    Connect::File {
                        path: path.node.clone(),
                        source,
                        target,
                        columns,
                    },
                    pr.rule.filter.as_ref(),
                )
            }
        };
        let user = match filter {
            Some(f) => Some(sym::simplify(&self.expr(&cscope, f)?)),
            None => None,
        };
        kernels.filter = match (distance_filter, user) {
            (Some(a), Some(b)) => Some(Expr::bin(Bin::And, a, b)),
            (a, b) => a.or(b),
        };
        let delay_var = vars
            .iter()
            .position(|v| v.name == "delay" && v.role == VarRole::Internal);
        let layout = ProjLayout {
            name,
            origin,
            pre,
            post,
            vars,
            connect,
            autapses: pr.autapses,
            filtered: kernels.filter.is_some(),
            delay_var,
            delay_bound,
            on_post_delay,
            post_added: vec![],
            stream: self.streams.fresh(),
            pre_sel,
            post_sel,
        };
        // `i` and `j` are population indices, also between subgroups
        // (Brian2 counts them from the subgroup's start): say so where it
        // matters, a subgroup that does not start at 0 whose index is read.
        for (sel, side, index) in [
            (&layout.pre_sel, "i", Expr::PreIndex),
            (&layout.post_sel, "j", Expr::PostIndex),
        ] {
            let offset = sel
                .as_ref()
                .and_then(|s| s.first())
                .is_some_and(|&f| f != 0);
            let reads = |e: &Expr| *e == index;
            let read = kernels
                .init
                .iter()
                .chain(&kernels.update)
                .chain(&kernels.on_pre)
                .chain(&kernels.on_post)
                .chain(&kernels.couple)
                .any(|k| circ_ir::any_expr(&k.body, &reads))
                || kernels
                    .filter
                    .as_ref()
                    .is_some_and(|f| circ_ir::any_expr(&[Stmt::Let(0, f.clone())], &reads));
            if offset && read {
                self.warnings.push(
                    Diagnostic::warning(
                        "subgroup-index",
                        format!("`{side}` here is the neuron's index in its whole population, not in the subgroup (Brian2 counts from the subgroup's start)"),
                        cfile,
                        pr.model.span,
                        format!("reads `{side}`"),
                    )
                    .with_help("subtract the subgroup's first index where you meant the position in the subgroup"),
                );
            }
        }
        if matches!(layout.connect, Connect::File { .. })
            && (layout.pre_sel.is_some() || layout.post_sel.is_some())
        {
            self.unsupported(
                cfile,
                pr.rule.kind.span,
                "an edge list between subgroups",
                "an edge list names neurons of the whole populations: connect the populations (`E -> I`)",
            );
            return None;
        }
        Some((layout, kernels))
    }

    /// Settles the event-driven states `lazy` chose: one that a continuous
    /// coupling or a sum reads is integrated every step after all (exactly,
    /// in a kernel of its own: it reads only itself); the others get the
    /// synapse's time of last event (`lastupdate`, as in Brian2) and are
    /// advanced to the handler's time, `t + dt` (handlers run after the
    /// step's update), in every handler that names one, before its body.
    fn event_driven(
        &mut self,
        kernels: &mut ProjKernels,
        vars: &mut Vec<ProjVar>,
        lazy: Vec<(VarId, String, Expr)>,
        known: &HashMap<VarId, f64>,
        dt: f64,
    ) {
        let names = |k: &Kernel| {
            let mut out = vec![];
            circ_ir::named_vars(&k.body, &mut out);
            out
        };
        let continuous: Vec<VarId> = kernels.couple.iter().flat_map(names).collect();
        let (every_step, lazy): (Vec<_>, Vec<_>) = lazy
            .into_iter()
            .partition(|(v, _, _)| continuous.contains(v));
        for (v, name, rate) in every_step {
            let sys = System {
                states: vec![(v, name.clone())],
                rhs: vec![sym::simplify(&Expr::bin(Bin::Mul, rate, Expr::Load(v)))],
                noise: vec![None],
                held: vec![false],
            };
            let mut b = Builder::default();
            let scalar_value = |v: VarId| known.get(&v).copied();
            let streams = &mut self.streams;
            let mut next = || streams.fresh();
            if ode::emit(
                &sys,
                Method::Exact,
                &mut b,
                &scalar_value,
                &mut next,
                dt,
                None,
            )
            .is_ok()
            {
                kernels.solver_notes.push(format!(
                    "{name} (per synapse) integrated with exact every step: a continuous coupling or sum reads it"
                ));
                kernels.update.push(kernel("update", Domain::Synapses, b));
            }
        }
        if lazy.is_empty() {
            return;
        }
        let last = vars.len() as VarId;
        vars.push(ProjVar {
            name: "lastupdate".into(),
            space: Space::Syn,
            role: VarRole::Internal,
        });
        if let Some(init) = kernels
            .init
            .iter_mut()
            .find(|k| k.domain == Domain::Synapses)
        {
            init.body.push(Stmt::Store(last, c(0.0)));
        }
        let now = || Expr::bin(Bin::Add, Expr::Time, Expr::Dt);
        let mut prefix: Vec<Stmt> = lazy
            .iter()
            .map(|(v, _, rate)| {
                let elapsed = Expr::bin(Bin::Sub, now(), Expr::Load(last));
                let decay = Expr::Call(
                    circ_ir::Func::Exp,
                    vec![sym::simplify(&Expr::bin(Bin::Mul, rate.clone(), elapsed))],
                );
                Stmt::Store(*v, Expr::bin(Bin::Mul, Expr::Load(*v), decay))
            })
            .collect();
        prefix.push(Stmt::Store(last, now()));
        for k in kernels.on_pre.iter_mut().chain(kernels.on_post.iter_mut()) {
            let named = names(k);
            if k.domain.has_synapse() && lazy.iter().any(|(v, _, _)| named.contains(v)) {
                k.body.splice(0..0, prefix.iter().cloned());
            }
        }
        let list: Vec<&str> = lazy.iter().map(|(_, n, _)| n.as_str()).collect();
        kernels.solver_notes.push(format!(
            "{} (per synapse) event-driven: dx/dt = a*x with a fixed in time is solved exactly (x*exp(a*elapsed)) when a spike reaches the synapse or its postsynaptic neuron spikes, not every step (Brian2's `(event-driven)`)",
            list.join(", ")
        ));
    }

    /// Splits a handler into the part on the spiking neuron's own state
    /// (`own`: pre state for `on pre`) and the per-synapse part. Writes to
    /// state shared between synapses are scatter-adds.
    #[allow(clippy::too_many_arguments)]
    fn handler(
        &mut self,
        ms: &ModelScope<'_>,
        body: &[ast::Stmt],
        own: Space,
        vars: &[ProjVar],
        nb: &mut Builder,
        sb: &mut Builder,
        locals: &mut Vec<(String, Expr)>,
    ) -> Option<()> {
        let depth = locals.len();
        for st in body {
            let scope = Scope {
                file: ms.file,
                model: Some(ms),
                locals: locals.clone(),
                pair: true,
            };
            match &st.node {
                StmtKind::Let { name, value } => {
                    // Inlined where used: both parts may read it.
                    let v = self.expr(&scope, value)?;
                    locals.push((name.node.clone(), v));
                }
                StmtKind::Assign { target, op, value } => {
                    let key = match &target.node {
                        Target::Local(n) => n.node.clone(),
                        Target::Post(n) => format!("post.{}", n.node),
                        Target::Pre(n) => format!("pre.{}", n.node),
                    };
                    let var = match &target.node {
                        Target::Local(n) => ms.vars.get(&n.node).copied(),
                        _ => ms.fields.get(&key).copied(),
                    }?;
                    let space = vars[var as usize].space;
                    let e = self.expr(&scope, value)?;
                    let neuron_part = space == own;
                    let shared = !neuron_part && !matches!(space, Space::Syn);
                    let stmt = match (op, shared) {
                        (AssignOp::Add, true) => Stmt::AddTo(var, e),
                        (AssignOp::Sub, true) => {
                            Stmt::AddTo(var, Expr::Un(circ_ir::Un::Neg, Box::new(e)))
                        }
                        (AssignOp::Set, _) => Stmt::Store(var, e),
                        (AssignOp::Add, false) => {
                            Stmt::Store(var, Expr::bin(Bin::Add, Expr::Load(var), e))
                        }
                        (AssignOp::Sub, false) => {
                            Stmt::Store(var, Expr::bin(Bin::Sub, Expr::Load(var), e))
                        }
                        (AssignOp::Mul, _) => {
                            Stmt::Store(var, Expr::bin(Bin::Mul, Expr::Load(var), e))
                        }
                    };
                    if neuron_part {
                        nb.body.push(stmt)
                    } else {
                        sb.body.push(stmt)
                    }
                }
                StmtKind::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let k = self.expr(&scope, cond)?;
                    let (mut tn, mut ts, mut en, mut es) = (
                        Builder::default(),
                        Builder::default(),
                        Builder::default(),
                        Builder::default(),
                    );
                    self.handler(ms, then, own, vars, &mut tn, &mut ts, locals)?;
                    self.handler(ms, otherwise, own, vars, &mut en, &mut es, locals)?;
                    if !tn.body.is_empty() || !en.body.is_empty() {
                        nb.body.push(Stmt::If(k.clone(), tn.body, en.body));
                    }
                    if !ts.body.is_empty() || !es.body.is_empty() {
                        sb.body.push(Stmt::If(k, ts.body, es.body));
                    }
                }
                StmtKind::Error => return None,
            }
        }
        locals.truncate(depth);
        Some(())
    }
}

/// Which side of a synapse an expression depends on, for hoisting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Constants, scalars, the time: the same for every synapse.
    Any,
    /// The presynaptic neuron (and the above).
    Pre,
    /// The postsynaptic neuron (and the above).
    Post,
    /// The synapse itself, or both neurons.
    Syn,
}

fn side_of(e: &Expr, vars: &[ProjVar], temps: &HashMap<u32, (Side, Expr)>) -> Side {
    let join = |a: Side, b: Side| match (a, b) {
        (Side::Any, x) | (x, Side::Any) => x,
        (x, y) if x == y => x,
        _ => Side::Syn,
    };
    match e {
        Expr::Const(_) | Expr::Dt | Expr::Time => Side::Any,
        Expr::Load(v) => match vars.get(*v as usize).map(|x| x.space) {
            Some(Space::Scalar) => Side::Any,
            Some(Space::PreNeuron(_) | Space::PreState) => Side::Pre,
            Some(Space::PostNeuron(_) | Space::PostState) => Side::Post,
            // Per synapse, or a value hoisted just now.
            _ => Side::Syn,
        },
        // A temporary of one side is that side (its value is inlined
        // where hoisted).
        Expr::Temp(t) => temps.get(t).map_or(Side::Syn, |x| x.0),
        Expr::Un(_, a) => side_of(a, vars, temps),
        Expr::Bin(_, a, b) => join(side_of(a, vars, temps), side_of(b, vars, temps)),
        Expr::Call(_, args) => args
            .iter()
            .fold(Side::Any, |s, a| join(s, side_of(a, vars, temps))),
        Expr::Select(k, a, b) => join(
            join(side_of(k, vars, temps), side_of(a, vars, temps)),
            side_of(b, vars, temps),
        ),
        // Indices, draws, tables, temporaries and the refractory flag stay.
        _ => Side::Syn,
    }
}

/// Hoists work that depends on one neuron only out of the per-synapse
/// kernels that run every step (equations and continuous couplings): a
/// subexpression that reads only the presynaptic neuron (or only the
/// postsynaptic one) and calls a function or divides is computed once per
/// neuron, in a kernel just before, into a variable of that side, and read
/// by every synapse (`exp(-pre.r / 0.5)` over 1,560 synapses of 91 units
/// is 91 exponentials, not 1,560). The same operations on the same values
/// in the same order: results are the same bits.
fn hoist_neuron_terms(kernels: &mut ProjKernels, vars: &mut Vec<ProjVar>) {
    fn costly(e: &Expr) -> bool {
        match e {
            Expr::Call(..) | Expr::Bin(Bin::Div | Bin::Pow, ..) => true,
            Expr::Un(_, a) => costly(a),
            Expr::Bin(_, a, b) => costly(a) || costly(b),
            Expr::Select(k, a, b) => costly(k) || costly(a) || costly(b),
            _ => false,
        }
    }
    // Replaces maximal one-sided costly subtrees of `e`, collecting them.
    fn rewrite(
        e: &mut Expr,
        vars: &[ProjVar],
        temps: &HashMap<u32, (Side, Expr)>,
        found: &mut Vec<(Side, Expr)>,
        first_new: usize,
    ) {
        let side = side_of(e, vars, temps);
        if matches!(side, Side::Pre | Side::Post) && costly(e) {
            let inlined = subst_temps(e, temps);
            let e2 = &inlined;
            let k = match found.iter().position(|(s, x)| *s == side && x == e2) {
                Some(k) => k,
                None => {
                    found.push((side, inlined.clone()));
                    found.len() - 1
                }
            };
            *e = Expr::Load((first_new + k) as VarId);
            return;
        }
        match e {
            Expr::Un(_, a) => rewrite(a, vars, temps, found, first_new),
            Expr::Bin(_, a, b) => {
                rewrite(a, vars, temps, found, first_new);
                rewrite(b, vars, temps, found, first_new);
            }
            Expr::Call(_, args) => args
                .iter_mut()
                .for_each(|a| rewrite(a, vars, temps, found, first_new)),
            Expr::Select(k, a, b) => {
                rewrite(k, vars, temps, found, first_new);
                rewrite(a, vars, temps, found, first_new);
                rewrite(b, vars, temps, found, first_new);
            }
            _ => {}
        }
    }
    fn subst_temps(e: &Expr, temps: &HashMap<u32, (Side, Expr)>) -> Expr {
        match e {
            Expr::Temp(t) => temps.get(t).map_or_else(|| e.clone(), |x| x.1.clone()),
            Expr::Un(op, a) => Expr::Un(*op, Box::new(subst_temps(a, temps))),
            Expr::Bin(op, a, b) => Expr::bin(*op, subst_temps(a, temps), subst_temps(b, temps)),
            Expr::Call(f, args) => {
                Expr::Call(*f, args.iter().map(|a| subst_temps(a, temps)).collect())
            }
            Expr::Select(k, a, b) => Expr::Select(
                Box::new(subst_temps(k, temps)),
                Box::new(subst_temps(a, temps)),
                Box::new(subst_temps(b, temps)),
            ),
            other => other.clone(),
        }
    }
    fn stmts(
        body: &mut [Stmt],
        vars: &[ProjVar],
        temps: &mut HashMap<u32, (Side, Expr)>,
        found: &mut Vec<(Side, Expr)>,
        first_new: usize,
    ) {
        for st in body {
            match st {
                Stmt::Let(t, e) => {
                    // Its side and value as written, before hoisting inside it.
                    let side = side_of(e, vars, temps);
                    let value = subst_temps(e, temps);
                    rewrite(e, vars, temps, found, first_new);
                    if matches!(side, Side::Pre | Side::Post | Side::Any) {
                        temps.insert(*t, (side, value));
                    }
                }
                Stmt::Store(_, e) | Stmt::AddTo(_, e) => {
                    rewrite(e, vars, temps, found, first_new);
                }
                // Conditions choose per synapse; their branches may hoist.
                Stmt::If(_, a, b) => {
                    stmts(a, vars, temps, found, first_new);
                    stmts(b, vars, temps, found, first_new);
                }
                _ => {}
            }
        }
    }
    for list in [&mut kernels.couple, &mut kernels.update] {
        let mut out: Vec<Kernel> = vec![];
        for mut k in std::mem::take(list) {
            if k.domain != Domain::Synapses {
                out.push(k);
                continue;
            }
            let first_new = vars.len();
            let mut found: Vec<(Side, Expr)> = vec![];
            let mut temps = HashMap::new();
            stmts(&mut k.body, vars, &mut temps, &mut found, first_new);
            // A value a kernel computes and then reads again in the same
            // kernel (written before the use) must not be hoisted above it.
            let mut written = vec![];
            circ_ir::written_vars(&k.body, &mut written);
            let stale = found
                .iter()
                .any(|(_, e)| sym::depends(e, &|v| written.contains(&v)));
            if found.is_empty() || stale {
                if stale {
                    // Undo: lower the kernel again is not possible here, so
                    // keep the original (the rewrite only read `found`).
                    for (k2, (_, e)) in found.iter().enumerate() {
                        let at = (first_new + k2) as VarId;
                        let put = |x: &Expr| (*x == Expr::Load(at)).then(|| e.clone());
                        k.body = crate::subst_stmts(&k.body, &put);
                    }
                }
                out.push(k);
                continue;
            }
            for side in [Side::Pre, Side::Post] {
                let mut b = Builder::default();
                for (n, (s, e)) in found.iter().enumerate() {
                    if *s == side {
                        b.body
                            .push(Stmt::Store((first_new + n) as VarId, e.clone()));
                    }
                }
                if b.body.is_empty() {
                    continue;
                }
                let (domain, name) = if side == Side::Pre {
                    (Domain::PreNeurons, "hoisted_pre")
                } else {
                    (Domain::PostNeurons, "hoisted_post")
                };
                out.push(kernel(name, domain, b));
            }
            for (n, (s, _)) in found.iter().enumerate() {
                vars.push(ProjVar {
                    name: format!("hoisted.{}", first_new + n),
                    space: if *s == Side::Pre {
                        Space::PreState
                    } else {
                        Space::PostState
                    },
                    role: VarRole::Internal,
                });
            }
            out.push(k);
        }
        *list = out;
    }
}
