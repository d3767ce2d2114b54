//! circ-lower turns a checked program into kernel IR for one run: it
//! resolves every name to a variable, constant or inlined function, erases
//! units (everything becomes SI), analyses each model's equations (linear,
//! conditionally linear or nonlinear), chooses or checks the integration
//! method, derives exact propagators, and emits the kernels of each
//! population. It must not execute anything or touch files; errors are
//! diagnostics pointing at the model.

pub mod linalg;
pub mod ode;
mod proj;
pub mod sym;

use circ_diag::{Diagnostic, FileId, SourceMap};
use circ_ir::{
    Bin, Dist, Domain, Expr, Func, Kernel, Network, PopKernels, ProjKernels, Space, Stmt, Un, VarId,
};
use circ_runtime::layout::{AT_END, NetLayout, PopLayout, Record, RecordKind, VarLayout, VarRole};
use circ_sema::{Analysis, ItemId, ItemKind, Program, Res};
use circ_syntax::Span;
use circ_syntax::ast::{
    self, AssignOp, CircuitMemberKind, ExprKind, Item, MemberKind, ModelKind, StmtKind, Target,
};
use ode::{Builder, Class, Method, System};
use std::collections::HashMap;

/// What the command line overrides of a file's `run` item.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Run this circuit instead of the `run` item's.
    pub circuit: Option<String>,
    /// Duration in seconds.
    pub duration: Option<f64>,
    /// Time step in seconds.
    pub dt: Option<f64>,
    /// Seed.
    pub seed: Option<u64>,
    /// Parameters set from outside (the REPL's `:set`): population,
    /// parameter and value in SI units, replacing the circuit's argument or
    /// the model's default. The caller checks names and dimensions.
    pub overrides: Vec<(String, String, f64)>,
    /// Record every state at the end (`circ run --final-state`).
    pub final_state: bool,
    /// Values of the circuit's parameters in SI units (`circ run --set
    /// N=8000`), checked by [`resolve_sets`].
    pub circuit_args: Vec<(String, f64)>,
    /// Values of the circuit's string parameters (`--set edges=b.csv`:
    /// file names), checked by [`resolve_sets`].
    pub circuit_strings: Vec<(String, String)>,
}

/// A network ready to run, with the run's settings.
#[derive(Clone, Debug)]
pub struct Lowered {
    /// Layout and kernels.
    pub net: Network,
    /// The circuit's name.
    pub circuit: String,
    /// Biological time, seconds.
    pub duration: f64,
    /// Time step, seconds.
    pub dt: f64,
    /// Seed.
    pub seed: u64,
    /// Warnings about the run: `circ check` and `circ run` report them.
    pub warnings: Vec<Diagnostic>,
}

/// Whether `e` differs between the elements of a population: it reads the
/// index, draws at random, reads a data table at a position of the index,
/// or reads a variable for which `per_elem` holds.
pub(crate) fn per_element(e: &Expr, per_elem: &dyn Fn(VarId) -> bool) -> bool {
    match e {
        Expr::Index | Expr::Rand(..) => true,
        Expr::Load(v) => per_elem(*v),
        Expr::Un(_, a) | Expr::Table(_, a) => per_element(a, per_elem),
        Expr::Bin(_, a, b) => per_element(a, per_elem) || per_element(b, per_elem),
        Expr::Call(_, args) => args.iter().any(|a| per_element(a, per_elem)),
        Expr::Select(k, a, b) => {
            per_element(k, per_elem) || per_element(a, per_elem) || per_element(b, per_elem)
        }
        _ => false,
    }
}

/// Whether `e` draws a random number.
pub(crate) fn any_random(e: &Expr) -> bool {
    match e {
        Expr::Rand(..) => true,
        Expr::Un(_, a) | Expr::Table(_, a) => any_random(a),
        Expr::Bin(_, a, b) => any_random(a) || any_random(b),
        Expr::Call(_, args) => args.iter().any(any_random),
        Expr::Select(k, a, b) => any_random(k) || any_random(a) || any_random(b),
        _ => false,
    }
}

/// `e` with its draws replaced by 0 (what is left says whether it reads the time).
pub(crate) fn strip_random(e: &Expr) -> Expr {
    match e {
        Expr::Rand(..) => c(0.0),
        Expr::Un(op, a) => Expr::Un(*op, Box::new(strip_random(a))),
        Expr::Table(k, a) => Expr::Table(*k, Box::new(strip_random(a))),
        Expr::Bin(op, a, b) => Expr::bin(*op, strip_random(a), strip_random(b)),
        Expr::Call(f, args) => Expr::Call(*f, args.iter().map(strip_random).collect()),
        Expr::Select(k, a, b) => Expr::Select(
            Box::new(strip_random(k)),
            Box::new(strip_random(a)),
            Box::new(strip_random(b)),
        ),
        other => other.clone(),
    }
}

/// Common subexpressions within one statement: a call, division or power
/// written more than once in the same expression (`$t1 / $t0` in both
/// branches of exponential Euler's guard) is computed once, into a
/// temporary just before the statement. Nothing runs between the two uses,
/// so the value is the same; the same operations give the same bits.
fn shared_subexpressions(k: &mut Kernel) {
    fn costly(e: &Expr) -> bool {
        matches!(e, Expr::Call(..) | Expr::Bin(Bin::Div | Bin::Pow, ..)) && !any_random(e)
    }
    fn count<'a>(e: &'a Expr, seen: &mut Vec<(&'a Expr, usize)>) {
        if costly(e) {
            match seen.iter_mut().find(|(x, _)| *x == e) {
                Some(entry) => {
                    entry.1 += 1;
                    // Its insides are counted with it once.
                    return;
                }
                None => seen.push((e, 1)),
            }
        }
        match e {
            Expr::Un(_, a) | Expr::Table(_, a) => count(a, seen),
            Expr::Bin(_, a, b) => {
                count(a, seen);
                count(b, seen);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| count(a, seen)),
            Expr::Select(c, a, b) => {
                count(c, seen);
                count(a, seen);
                count(b, seen);
            }
            _ => {}
        }
    }
    fn replace(e: &mut Expr, what: &Expr, by: &Expr) {
        if e == what {
            *e = by.clone();
            return;
        }
        match e {
            Expr::Un(_, a) | Expr::Table(_, a) => replace(a, what, by),
            Expr::Bin(_, a, b) => {
                replace(a, what, by);
                replace(b, what, by);
            }
            Expr::Call(_, args) => args.iter_mut().for_each(|a| replace(a, what, by)),
            Expr::Select(c, a, b) => {
                replace(c, what, by);
                replace(a, what, by);
                replace(b, what, by);
            }
            _ => {}
        }
    }
    fn body(stmts: Vec<Stmt>, temps: &mut u32) -> Vec<Stmt> {
        let mut out = Vec::with_capacity(stmts.len());
        for st in stmts {
            let mut st = match st {
                Stmt::If(c, a, b) => Stmt::If(c, body(a, temps), body(b, temps)),
                Stmt::While(c, a) => Stmt::While(c, body(a, temps)),
                other => other,
            };
            let e = match &mut st {
                Stmt::Let(_, e) | Stmt::Store(_, e) | Stmt::AddTo(_, e) => e,
                _ => {
                    out.push(st);
                    continue;
                }
            };
            // Outermost repeats first; each pass may reveal none further.
            loop {
                let mut seen = vec![];
                count(e, &mut seen);
                let Some(what) = seen.iter().find(|(_, n)| *n > 1).map(|(x, _)| (*x).clone())
                else {
                    break;
                };
                let t = *temps;
                *temps += 1;
                replace(e, &what, &Expr::Temp(t));
                out.push(Stmt::Let(t, what));
            }
            out.push(st);
        }
        out
    }
    let mut temps = k.temps;
    k.body = body(std::mem::take(&mut k.body), &mut temps);
    k.temps = temps;
}

/// The variable `refractory while` keeps its flag in (`PopLayout::refractory_flag`).
const REFRACTORY_VAR: &str = "refractory?";

/// The per-neuron variables of `method rk45` (`PopLayout::adaptive`): the
/// substep last proposed, substeps accepted and rejected, the smallest
/// accepted.
const RK45_VARS: [&str; 4] = [
    "rk45.step",
    "rk45.accepted",
    "rk45.rejected",
    "rk45.smallest",
];

/// `rk45`'s absolute tolerance, in the unit [`unit_scale`] gives a state's
/// dimension (NEST's adaptive models use 1e-6 in mV, pA, nS).
const RK45_ATOL: f64 = 1e-6;

/// `rk45`'s relative tolerance.
const RK45_RTOL: f64 = 1e-6;

/// The unit (in SI) a neuroscientist states a dimension's values in, as
/// NEST and NESTML do: mV, pA, nS, ms, mM, µm; 1 for dimensionless or other
/// dimensions.
fn unit_scale(dim: Option<circ_units::Dim>) -> f64 {
    const SCALES: [(&str, f64); 8] = [
        ("voltage", 1e-3),
        ("current", 1e-12),
        ("conductance", 1e-9),
        ("time", 1e-3),
        ("concentration", 1e-3),
        ("length", 1e-6),
        // µA/cm² and mS/cm²
        ("current_density", 1e-2),
        ("conductance_density", 10.0),
    ];
    let Some(dim) = dim else { return 1.0 };
    SCALES
        .iter()
        .find(|(name, _)| circ_units::dim_by_name(name) == Some(dim))
        .map_or(1.0, |s| s.1)
}

/// `body` with expressions replaced where `f` gives a replacement.
pub(crate) fn subst_stmts(body: &[Stmt], f: &dyn Fn(&Expr) -> Option<Expr>) -> Vec<Stmt> {
    fn ex(e: &Expr, f: &dyn Fn(&Expr) -> Option<Expr>) -> Expr {
        if let Some(r) = f(e) {
            return r;
        }
        match e {
            Expr::Un(op, a) => Expr::Un(*op, Box::new(ex(a, f))),
            Expr::Bin(op, a, b) => Expr::bin(*op, ex(a, f), ex(b, f)),
            Expr::Call(func, args) => Expr::Call(*func, args.iter().map(|a| ex(a, f)).collect()),
            Expr::Select(k, a, b) => {
                Expr::Select(Box::new(ex(k, f)), Box::new(ex(a, f)), Box::new(ex(b, f)))
            }
            Expr::Table(t, a) => Expr::Table(*t, Box::new(ex(a, f))),
            other => other.clone(),
        }
    }
    body.iter()
        .map(|s| match s {
            Stmt::Let(t, e) => Stmt::Let(*t, ex(e, f)),
            Stmt::Store(v, e) => Stmt::Store(*v, ex(e, f)),
            Stmt::AddTo(v, e) => Stmt::AddTo(*v, ex(e, f)),
            Stmt::Spike(e) => Stmt::Spike(ex(e, f)),
            Stmt::SetRefractory(e) => Stmt::SetRefractory(ex(e, f)),
            Stmt::If(c, a, b) => Stmt::If(ex(c, f), subst_stmts(a, f), subst_stmts(b, f)),
            Stmt::While(c, a) => Stmt::While(ex(c, f), subst_stmts(a, f)),
        })
        .collect()
}

/// Adds `circ run --final-state`'s recordings: at the end of the run, every
/// state and per-element parameter of every population, every state and
/// per-synapse parameter of every projection, and every projection's
/// synapses, in files that start with `final_`.
fn final_state_records(layout: &mut NetLayout) {
    let mut extra = vec![];
    for (p, pop) in layout.pops.iter().enumerate() {
        for (v, var) in pop.vars.iter().enumerate() {
            if var.role == VarRole::State || (var.role == VarRole::Param && !var.scalar) {
                extra.push(Record {
                    pop: p,
                    kind: RecordKind::Var {
                        var: v,
                        first: 0,
                        last: pop.size,
                        every: 1,
                    },
                    at: vec![AT_END],
                    prefix: "final_".into(),
                    unit: String::new(),
                });
            }
        }
    }
    for (k, proj) in layout.projs.iter().enumerate() {
        for (v, var) in proj.vars.iter().enumerate() {
            let own = matches!(var.space, Space::Syn | Space::PreState | Space::PostState);
            if own && (var.role == VarRole::State || var.role == VarRole::Param) {
                extra.push(Record {
                    pop: proj.post,
                    kind: RecordKind::Synapses {
                        proj: k,
                        var: v,
                        first: 0,
                        last: usize::MAX,
                        every: 1,
                    },
                    at: vec![AT_END],
                    prefix: "final_".into(),
                    unit: String::new(),
                });
            }
        }
        extra.push(Record {
            pop: proj.post,
            kind: RecordKind::Connectivity { proj: k },
            at: vec![],
            prefix: "final_".into(),
            unit: String::new(),
        });
    }
    layout.records.extend(extra);
}

/// Lowers the run of module 0 (the checked file). `analysis` must be free of errors.
pub fn lower(
    analysis: &Analysis,
    map: &SourceMap,
    opts: &Options,
) -> Result<Lowered, Vec<Diagnostic>> {
    let mut l = Lowerer::new(analysis, map, opts);
    let out = l.lower_run(opts);
    match out {
        Some(x) if l.diags.is_empty() => {
            // Always: a walk of the kernels, and the only guard against
            // two draws sharing a stream.
            if let Err(e) = circ_ir::verify(&x.net) {
                let file = analysis.program.file(0).unwrap_or(FileId(0));
                return Err(vec![Diagnostic::error(
                    "unsupported",
                    format!("internal error: {e}"),
                    file,
                    Span::default(),
                    "",
                )]);
            }
            Ok(x)
        }
        _ => Err(l.diags),
    }
}

/// The problems lowering finds in the models of the checked file without
/// running anything: integration methods that do not apply to their
/// equations. `circ check` reports these with sema's diagnostics.
pub fn check_models(analysis: &Analysis, map: &SourceMap) -> Vec<Diagnostic> {
    let mut l = Lowerer::new(analysis, map, &Options::default());
    let Some(ast) = analysis.program.ast(0) else {
        return vec![];
    };
    for (idx, item) in ast.items.iter().enumerate() {
        if let Item::Model(m) = item
            && m.kind == ModelKind::Neuron
        {
            l.model_kernels(
                ItemId { module: 0, idx },
                &HashMap::new(),
                &HashMap::new(),
                1e-4,
                None,
                None,
            );
        }
    }
    l.diags.retain(|d| d.code == "method-not-applicable");
    l.diags
}

/// Everything `circ check` reports about a checked program, as `circ run`
/// would find it before reading data files: the models' integration
/// methods, and, when the file has a `run` item, the whole lowering (with
/// `opts`) and the runtime's static checks (connection rules, memory for
/// `memory_limit` bytes or what the system has, runs of 10^10 steps or
/// more). The diagnostics, and the lowered run when there is one without
/// errors.
pub fn check(
    analysis: &Analysis,
    map: &SourceMap,
    opts: &Options,
    memory_limit: Option<u64>,
) -> (Vec<Diagnostic>, Option<Lowered>) {
    let mut ds = check_models(analysis, map);
    if analysis.has_errors() || ds.iter().any(Diagnostic::is_error) {
        return (ds, None);
    }
    // A file without a `run` item is a library (of models or circuits):
    // there is no run to check.
    let Some(module) = analysis.program.ast(0) else {
        return (ds, None);
    };
    let items = &module.items;
    let Some(run_span) = items.iter().find_map(|i| {
        if let Item::Run(r) = i {
            Some(r.span)
        } else {
            None
        }
    }) else {
        return (ds, None);
    };
    let file = analysis.program.file(0).unwrap_or(FileId(0));
    let Err(why) = choose_run(module, opts.circuit.as_deref()) else {
        let lowered = check_run(analysis, map, opts, memory_limit, run_span, &mut ds);
        return (ds, lowered);
    };
    // Several `run` items: each is checked as `--circuit NAME` runs it, and
    // running without `--circuit` is refused (a warning here).
    let mut circuits: Vec<(String, Span)> = vec![];
    for i in items {
        if let Item::Run(r) = i
            && !circuits.iter().any(|c| c.0 == r.circuit.node)
        {
            circuits.push((r.circuit.node.clone(), r.span));
        }
    }
    for (c, span) in circuits {
        let one = Options {
            circuit: Some(c),
            ..opts.clone()
        };
        check_run(analysis, map, &one, memory_limit, span, &mut ds);
    }
    if circuits_ambiguous(module) {
        ds.push(
            Diagnostic::warning(
                "ambiguous-run",
                format!("{why}: `circ run` needs --circuit NAME"),
                file,
                run_span,
                "one of several `run` items",
            )
            .with_help("each was checked as `circ run FILE --circuit NAME` runs it"),
        );
    }
    (ds, None)
}

/// Whether the file's `run` items name more than one circuit (and no two
/// name the same one: that is an error of its own).
fn circuits_ambiguous(ast: &ast::Module) -> bool {
    let names: Vec<&str> = ast
        .items
        .iter()
        .filter_map(|i| {
            if let Item::Run(r) = i {
                Some(r.circuit.node.as_str())
            } else {
                None
            }
        })
        .collect();
    let distinct: std::collections::HashSet<&str> = names.iter().copied().collect();
    distinct.len() > 1 && distinct.len() == names.len()
}

/// `circ check` on one text without imports from files (`name` in
/// messages; the standard library is there): sema's diagnostics, then, when
/// clean, [`check`]'s with default options and `memory_limit`. For tests and
/// fuzzers that need what the command reports without its file system.
pub fn check_text(
    name: &str,
    src: &str,
    memory_limit: Option<u64>,
) -> (SourceMap, Vec<Diagnostic>) {
    let (map, mut analysis) = circ_sema::check_source(name, src);
    if !analysis.has_errors() {
        let (ds, _) = check(&analysis, &map, &Options::default(), memory_limit);
        analysis.diagnostics.extend(ds);
    }
    (map, analysis.diagnostics)
}

/// Lowers one run (as `opts` chooses it) and runs the runtime's static
/// checks on it, adding to `ds` what is new; the run if it has no errors.
fn check_run(
    analysis: &Analysis,
    map: &SourceMap,
    opts: &Options,
    memory_limit: Option<u64>,
    run_span: Span,
    ds: &mut Vec<Diagnostic>,
) -> Option<Lowered> {
    let file = analysis.program.file(0).unwrap_or(FileId(0));
    match lower(analysis, map, opts) {
        Err(more) => {
            for d in more {
                if !ds
                    .iter()
                    .any(|x| x.code == d.code && x.message == d.message)
                {
                    ds.push(d);
                }
            }
            None
        }
        Ok(l) => {
            ds.extend(l.warnings.iter().cloned());
            for issue in
                circ_runtime::sim::check_static(&l.net.layout, l.dt, l.duration, memory_limit, 1)
            {
                use circ_runtime::sim::Issue;
                let (code, label) = match &issue {
                    Issue::TooLarge(_) => ("too-large", "this run does not fit in memory"),
                    Issue::Impossible(_) => {
                        ("invalid-value", "this run cannot connect its network")
                    }
                    Issue::LongRun(_) => ("long-run", "this run is very long"),
                    Issue::LargeRecording(_) => ("large-recording", "this run records a lot"),
                };
                let d = if matches!(issue, Issue::LongRun(_) | Issue::LargeRecording(_)) {
                    Diagnostic::warning(code, issue.message(), file, run_span, label)
                } else {
                    Diagnostic::error(code, issue.message(), file, run_span, label)
                };
                ds.push(d);
            }
            let ok = !ds.iter().any(Diagnostic::is_error);
            ok.then_some(l)
        }
    }
}

/// Resolves `--set TARGET=VALUE`s against the circuit a run would use
/// (`circuit`, else the `run` item's): `N=8000` sets a parameter of the
/// circuit, `E.tau_m=10ms` a parameter of population `E`'s model, and
/// `exc.w=5nS` one of projection `exc`'s synapse model. Values are constant
/// expressions with units, checked against the parameter's dimension.
/// A string parameter (a file name) takes the text as it is. Puts the
/// circuit's values and the populations' and projections' into `opts`;
/// `Err` says what is wrong, for the command line.
pub fn resolve_sets(
    analysis: &Analysis,
    circuit: Option<&str>,
    sets: &[String],
    opts: &mut Options,
) -> Result<(), String> {
    let (mut args, mut overrides) = (vec![], vec![]);
    if sets.is_empty() {
        return Ok(());
    }
    let ast = analysis.program.ast(0).ok_or("nothing to run")?;
    let name = match (circuit, choose_run(ast, circuit)?) {
        (Some(c), _) => c.to_string(),
        (None, Some(r)) => r.circuit.node.clone(),
        (None, None) => {
            return Err("the file has no `run` item to choose a circuit: pass --circuit".into());
        }
    };
    let Some((cid, ItemKind::Circuit)) = analysis.program.resolve(0, &name) else {
        return Err(format!("there is no circuit `{name}`"));
    };
    let Some(Item::Circuit(c)) = analysis.program.item(cid) else {
        return Err(format!("there is no circuit `{name}`"));
    };
    for set in sets {
        let (target, text) = set.split_once('=').ok_or_else(|| {
            format!("--set {set}: write TARGET=VALUE, e.g. `--set N=8000` or `--set exc.w=5nS`")
        })?;
        let target = target.trim();
        if !target.contains('.')
            && let Some((_, circ_sema::Ty::Str)) = analysis
                .program
                .circuit_params(cid)
                .iter()
                .find(|p| p.0 == target)
        {
            let text = text.trim();
            let text = text
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(text);
            opts.circuit_strings
                .push((target.to_string(), text.to_string()));
            continue;
        }
        let (value, dim) =
            circ_sema::constant_value(text.trim()).map_err(|e| format!("--set {set}: {e}"))?;
        let want = if let Some((owner, param)) = target.split_once('.') {
            // A population's or a named projection's model.
            let model = c.members.iter().find_map(|m| match &m.node {
                CircuitMemberKind::Population(p) if p.name.node == owner => Some(&p.model),
                CircuitMemberKind::Project(pr)
                    if pr.name.as_ref().is_some_and(|n| n.node == owner) =>
                {
                    Some(&pr.model)
                }
                _ => None,
            });
            let model = model.ok_or_else(|| {
                format!(
                    "--set {set}: circuit `{name}` has no population or named projection `{owner}`"
                )
            })?;
            let info = analysis
                .program
                .resolve(cid.module, &model.node)
                .and_then(|(id, _)| analysis.program.model_info(id))
                .ok_or_else(|| format!("--set {set}: `{owner}` has no parameters to set (an input's rate is set in the file)"))?;
            let var = info.param(param).ok_or_else(|| {
                format!(
                    "--set {set}: `{}` has no parameter `{param}`; its parameters: {}",
                    info.name,
                    info.param_names().join(", ")
                )
            })?;
            overrides.push((owner.to_string(), param.to_string(), value));
            Some(var.dim)
        } else {
            let params = analysis.program.circuit_params(cid);
            let (_, ty) = params.iter().find(|p| p.0 == target).ok_or_else(|| {
                let names: Vec<&str> = params.iter().map(|p| p.0.as_str()).collect();
                if names.is_empty() {
                    format!("--set {set}: circuit `{name}` has no parameters; declare them: `circuit {name}({target} = ...) {{ ... }}`")
                } else {
                    format!("--set {set}: circuit `{name}` has no parameter `{target}`; its parameters: {}", names.join(", "))
                }
            })?;
            args.push((target.to_string(), value));
            ty.dim()
        };
        if let Some(w) = want
            && w != dim
        {
            return Err(format!(
                "--set {set}: `{target}` is {}, but the value is {}",
                w.describe(),
                dim.describe()
            ));
        }
    }
    opts.circuit_args = args;
    opts.overrides = overrides;
    Ok(())
}

/// The `run` item a run uses: the one for `circuit` when it is named (none:
/// the circuit runs with default settings), else the file's only one.
/// `Err` says why it is ambiguous (two items for the circuit, or several
/// without `--circuit`), listing them. `circ run`, `circ check`, `circ
/// build` and the REPL all choose with this.
pub fn choose_run<'a>(
    ast: &'a ast::Module,
    circuit: Option<&str>,
) -> Result<Option<&'a ast::RunItem>, String> {
    let runs: Vec<&ast::RunItem> = ast
        .items
        .iter()
        .filter_map(|i| if let Item::Run(r) = i { Some(r) } else { None })
        .filter(|r| circuit.is_none_or(|c| r.circuit.node == c))
        .collect();
    match runs.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|r| format!("`run {}`", r.circuit.node))
                .collect();
            Err(match circuit {
                Some(c) => format!(
                    "the file has {} `run` items for `{c}` ({}); keep one",
                    many.len(),
                    names.join(", ")
                ),
                None => format!(
                    "the file has {} `run` items ({}); say which circuit to run",
                    many.len(),
                    names.join(", ")
                ),
            })
        }
    }
}

/// Why each neuron model of the checked file is integrated as it is, and
/// how the projections of its run are (their states' methods, pre states
/// kept per synapse), as lines of text (`circ check --explain-solver`).
pub fn explain_solvers(analysis: &Analysis, map: &SourceMap) -> Vec<String> {
    let mut l = Lowerer::new(analysis, map, &Options::default());
    let mut out = vec![];
    let Some(ast) = analysis.program.ast(0) else {
        return out;
    };
    for (idx, item) in ast.items.iter().enumerate() {
        let Item::Model(m) = item else { continue };
        if m.kind != ModelKind::Neuron {
            out.push(format!(
                "{}: a synapse model; its equations are lowered with its projections",
                m.name.node
            ));
            continue;
        }
        let id = ItemId { module: 0, idx };
        match l.model_kernels(id, &HashMap::new(), &HashMap::new(), 1e-4, None, None) {
            Some((_, kernels)) => {
                for note in kernels.solver_notes {
                    out.push(format!("{}: {note}", m.name.node));
                }
                if !m
                    .members
                    .iter()
                    .any(|x| matches!(x.node, MemberKind::Ode { .. }))
                {
                    out.push(format!("{}: no equations", m.name.node));
                }
            }
            None => out.push(format!(
                "{}: {}",
                m.name.node,
                l.diags
                    .drain(..)
                    .map(|d| d.message)
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        }
    }
    // The populations and projections of each circuit the file runs, as
    // they are lowered for it (named by circuit when it runs several).
    let runs: Vec<String> = ast
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Run(r) => Some(r.circuit.node.clone()),
            _ => None,
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for circuit in &runs {
        if !seen.insert(circuit) {
            continue;
        }
        let opts = Options {
            circuit: Some(circuit.clone()),
            ..Options::default()
        };
        let Ok(lowered) = lower(analysis, map, &opts) else {
            continue;
        };
        let prefix = if seen.len() > 1 || runs.iter().any(|r| r != circuit) {
            format!("circuit `{circuit}`, ")
        } else {
            String::new()
        };
        // Populations that choose their own method.
        for (pop, k) in lowered.net.layout.pops.iter().zip(&lowered.net.pops) {
            for note in k
                .solver_notes
                .iter()
                .filter(|n| n.contains("population's `method`"))
            {
                out.push(format!("{prefix}population `{}`: {note}", pop.name));
            }
        }
        for (proj, k) in lowered.net.layout.projs.iter().zip(&lowered.net.projs) {
            for note in &k.solver_notes {
                out.push(format!("{prefix}projection `{}`: {note}", proj.name));
            }
        }
    }
    out
}

/// What a model name means while lowering its expressions.
struct ModelScope<'m> {
    file: FileId,
    /// `pre.x` / `post.x` of a synapse bound to two populations.
    fields: HashMap<String, VarId>,
    vars: HashMap<String, VarId>,
    lets: HashMap<String, &'m ast::Expr>,
}

struct Scope<'s> {
    file: FileId,
    model: Option<&'s ModelScope<'s>>,
    locals: Vec<(String, Expr)>,
    /// `i` and `j` mean the synapse's pre and post indices here.
    pair: bool,
}

struct Lowerer<'p> {
    /// Parameters set from outside: see [`Options::overrides`].
    overrides: Vec<(String, String, f64)>,
    /// Every state is recorded at the end (`Options::final_state`).
    final_state: bool,
    /// The `method` of the population being lowered (its file and name).
    pop_method: Option<(FileId, circ_syntax::Ident)>,
    /// See [`Options::circuit_args`].
    circuit_args: Vec<(String, f64)>,
    /// See [`Options::circuit_strings`].
    circuit_strings: Vec<(String, String)>,
    /// Warnings about the run (they do not stop it).
    warnings: Vec<Diagnostic>,
    /// The SI unit (`Dim::si`) of each variable of each population and
    /// projection made so far, by index, for the recordings.
    units: (HashMap<usize, Vec<String>>, HashMap<usize, Vec<String>>),
    prog: &'p Program,
    map: &'p SourceMap,
    /// Data tables the kernels read, with where each is used.
    tables: Vec<(circ_runtime::layout::Column, String)>,
    diags: Vec<Diagnostic>,
    consts: HashMap<ItemId, Option<f64>>,
    /// The network's one stream allocator: every draw gets its own.
    streams: circ_ir::Streams,
    depth: usize,
    /// Nodes made by inlining within the outermost call being lowered.
    inlined: usize,
    /// Set when that call's expansion passed [`MAX_INLINED`] (or nested
    /// deeper than [`MAX_DEPTH`]): every call inside it stops at once, and
    /// the outermost one reports it.
    inline_overflow: bool,
}

/// The most expression nodes one call (with the calls inside it) may
/// expand to: functions are inlined, so `f(x) = g(x) + g(x)` doubles at
/// each level, and 30 such levels would be 10^9 nodes.
const MAX_INLINED: usize = 200_000;

/// The deepest nesting of calls (and of model `let`s) lowering follows.
const MAX_DEPTH: usize = 64;

fn c(x: f64) -> Expr {
    Expr::Const(x)
}

impl<'p> Lowerer<'p> {
    fn new(analysis: &'p Analysis, map: &'p SourceMap, opts: &Options) -> Self {
        Lowerer {
            map,
            tables: vec![],
            prog: &analysis.program,
            diags: vec![],
            consts: HashMap::new(),
            streams: circ_ir::Streams::default(),
            depth: 0,
            inlined: 0,
            inline_overflow: false,
            overrides: opts.overrides.clone(),
            final_state: opts.final_state,
            pop_method: None,
            circuit_args: opts.circuit_args.clone(),
            circuit_strings: opts.circuit_strings.clone(),
            warnings: vec![],
            units: (HashMap::new(), HashMap::new()),
        }
    }

    /// The SI unit (`Dim::si`) of each of `names` as model `id` declares
    /// it (empty for a variable it does not: a view or an internal one).
    fn var_units<'n>(&self, id: ItemId, names: impl Iterator<Item = &'n str>) -> Vec<String> {
        let info = self.prog.model_info(id);
        names
            .map(|n| {
                info.and_then(|m| m.var(n))
                    .map_or(String::new(), |v| v.dim.si())
            })
            .collect()
    }

    /// Each recording's unit, from its variable's (a rate's is 1/s).
    fn record_units(&self, layout: &mut NetLayout) {
        for r in &mut layout.records {
            let of = |m: &HashMap<usize, Vec<String>>, k: usize, v: usize| {
                m.get(&k)
                    .and_then(|u| u.get(v))
                    .cloned()
                    .unwrap_or_default()
            };
            r.unit = match r.kind {
                RecordKind::Var { var, .. } => of(&self.units.0, r.pop, var),
                RecordKind::Synapses { proj, var, .. } => of(&self.units.1, proj, var),
                RecordKind::Rate { .. } => circ_units::Dim::from_ints([-1, 0, 0, 0, 0, 0, 0]).si(),
                RecordKind::Spikes | RecordKind::Connectivity { .. } => String::new(),
            };
        }
    }

    fn unsupported(&mut self, file: FileId, span: Span, what: &str, help: &str) {
        self.diags.push(
            Diagnostic::error(
                "unsupported",
                format!("{what} cannot run yet"),
                file,
                span,
                "not supported by this version",
            )
            .with_help(help.to_string()),
        );
    }

    /// The steps of a recording's `at` times, sorted, each once (`end`:
    /// `AT_END`); `None` after reporting a time outside the run.
    fn sample_steps(
        &mut self,
        scope: &Scope<'_>,
        at: &[ast::Expr],
        dt: f64,
        duration: f64,
    ) -> Option<Vec<u64>> {
        let mut steps = vec![];
        let last = (duration / dt).round();
        for e in at {
            if matches!(&e.node, ExprKind::Name(n) if n.node == "end") {
                steps.push(AT_END);
                continue;
            }
            let Expr::Const(v) = sym::simplify(&self.expr(scope, e)?) else {
                continue;
            };
            let n = (v / dt).round();
            if !(0.0..=last).contains(&n) {
                self.diags.push(
                    Diagnostic::error(
                        "invalid-value",
                        format!(
                            "a sample at {} ms is never taken: the run goes from 0 to {} ms",
                            v * 1e3,
                            duration * 1e3
                        ),
                        scope.file,
                        e.span,
                        "outside the run",
                    )
                    .with_help("sample within the run, or at `end`"),
                );
                return None;
            }
            steps.push(n as u64);
        }
        steps.sort_unstable();
        steps.dedup();
        Some(steps)
    }

    /// Two recordings that would write one file are an error: the second
    /// would silently replace the first's data.
    fn distinct_files(&mut self, layout: &NetLayout, file: FileId, spans: &[Span]) {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (k, rec) in layout.records.iter().enumerate() {
            for f in circ_runtime::output::record_files(layout, rec) {
                if let Some(&first) = seen.get(&f) {
                    if first != k {
                        self.diags.push(
                            Diagnostic::error(
                                "duplicate-definition",
                                format!("two recordings write `{f}`: the second would replace the first's data"),
                                file,
                                spans.get(k).copied().unwrap_or_default(),
                                "the second",
                            )
                            .with_label(file, spans.get(first).copied().unwrap_or_default(), "the first")
                            .with_help("record each variable once: one `every` period, or one list of `at` times"),
                        );
                        return;
                    }
                } else {
                    seen.insert(f, k);
                }
            }
        }
    }

    /// The neurons of a subgroup (`E[0..5]`, `E[3]`, `E[[0, 4, 9]]`), in
    /// increasing order, as sema checked them; `None` for the whole
    /// population.
    fn subgroup(
        &mut self,
        scope: &Scope<'_>,
        ix: Option<&ast::Expr>,
        size: usize,
    ) -> Option<Vec<u32>> {
        let ix = ix?;
        let mut konst = |e: Option<&ast::Expr>, default: usize| -> usize {
            e.and_then(|e| self.expr(scope, e))
                .map(|e| sym::simplify(&e))
                .and_then(|e| {
                    if let Expr::Const(v) = e {
                        Some(v as usize)
                    } else {
                        None
                    }
                })
                .unwrap_or(default)
        };
        let list: Vec<u32> = match &ix.node {
            ExprKind::Range(lo, hi) => {
                let (a, b) = (konst(lo.as_deref(), 0), konst(hi.as_deref(), size));
                (a as u32..b.min(size) as u32).collect()
            }
            ExprKind::Array(items) => items.iter().map(|e| konst(Some(e), 0) as u32).collect(),
            _ => vec![konst(Some(ix), 0) as u32],
        };
        // The whole population is no subgroup (and keeps the fast path).
        (list.len() != size || list.iter().enumerate().any(|(k, &i)| k as u32 != i)).then_some(list)
    }

    /// Whether `value` (of `e`) is a whole number of at least `min`; reports
    /// it otherwise. Sema checks counts with the circuit's defaults; this
    /// checks them with the values a run gives its parameters.
    pub(crate) fn whole_count(
        &mut self,
        file: FileId,
        e: &ast::Expr,
        value: f64,
        what: &str,
        min: f64,
    ) -> bool {
        if value.fract() == 0.0 && value >= min && value <= f64::from(u32::MAX) {
            return true;
        }
        self.diags.push(
            Diagnostic::error(
                "invalid-value",
                format!("{what} must be a whole number of at least {min}, but with this run's parameters it is {value}"),
                file,
                e.span,
                "not a count",
            )
            .with_help("choose parameter values that divide exactly, or round explicitly (`round(N / 3)`)"),
        );
        false
    }

    /// `values(from ...)` read by a population's kernels gives one value
    /// per neuron, so its file must hold exactly `size` of them.
    fn tables_per_neuron(&mut self, kernels: &PopKernels, size: usize) {
        for (k, t) in self.tables.iter_mut().enumerate() {
            let here = |e: &Expr| matches!(e, Expr::Table(x, pos) if *x as usize == k && **pos == Expr::Index);
            if circ_ir::any_expr(&kernels.init.body, &here)
                || circ_ir::any_expr(&kernels.drive.body, &here)
            {
                t.0.rows = Some(size);
            }
        }
    }

    fn next_stream(&mut self) -> u32 {
        self.streams.fresh()
    }

    // ---- expressions ---------------------------------------------------

    /// A recorder's index bound, when it folds to a constant.
    fn const_index(&mut self, s: &Scope<'_>, e: Option<&ast::Expr>) -> Option<usize> {
        match e.and_then(|e| self.expr(s, e)).map(|e| sym::simplify(&e)) {
            Some(Expr::Const(v)) => Some(v as usize),
            _ => None,
        }
    }

    fn expr(&mut self, s: &Scope<'_>, e: &ast::Expr) -> Option<Expr> {
        Some(match &e.node {
            // Its SI value as sema checked its unit (never resolved again).
            ExprKind::Num { .. } => match self.prog.literal(s.file, e.span) {
                Some(v) => c(v),
                None => {
                    self.unsupported(
                        s.file,
                        e.span,
                        "a number sema did not check (internal error)",
                        "please report this",
                    );
                    return None;
                }
            },
            ExprKind::Bool(b) => c(if *b { 1.0 } else { 0.0 }),
            ExprKind::Name(n) => return self.name(s, n),
            ExprKind::Field { base, field }
                if s.model.is_some_and(|m| {
                    m.fields
                        .contains_key(&format!("{}.{}", base.node, field.node))
                }) =>
            {
                let m = s.model?;
                Expr::Load(m.fields[&format!("{}.{}", base.node, field.node)])
            }
            ExprKind::Field { .. } => {
                self.unsupported(
                    s.file,
                    e.span,
                    "`pre.x` / `post.x`",
                    "synapses run with projections, in the next version",
                );
                return None;
            }
            ExprKind::Call { func, args } => return self.call(s, func, args, e.span),
            ExprKind::Unary(op, a) => {
                let a = self.expr(s, a)?;
                match op {
                    ast::UnOp::Neg => Expr::Un(Un::Neg, Box::new(a)),
                    ast::UnOp::Plus => a,
                    ast::UnOp::Not => Expr::Un(Un::Not, Box::new(a)),
                }
            }
            ExprKind::Binary(op, a, b) => {
                let (a, b) = (self.expr(s, a)?, self.expr(s, b)?);
                let op = match op {
                    ast::BinOp::Add => Bin::Add,
                    ast::BinOp::Sub => Bin::Sub,
                    ast::BinOp::Mul => Bin::Mul,
                    ast::BinOp::Div => Bin::Div,
                    ast::BinOp::Rem => Bin::Rem,
                    ast::BinOp::Pow => Bin::Pow,
                    ast::BinOp::Lt => Bin::Lt,
                    ast::BinOp::Le => Bin::Le,
                    ast::BinOp::Gt => Bin::Gt,
                    ast::BinOp::Ge => Bin::Ge,
                    ast::BinOp::Eq => Bin::Eq,
                    ast::BinOp::Ne => Bin::Ne,
                    ast::BinOp::And => Bin::And,
                    ast::BinOp::Or => Bin::Or,
                };
                Expr::bin(op, a, b)
            }
            ExprKind::If(k, a, b) => Expr::Select(
                Box::new(self.expr(s, k)?),
                Box::new(self.expr(s, a)?),
                Box::new(self.expr(s, b)?),
            ),
            ExprKind::Clip(v, r) => {
                let v = self.expr(s, v)?;
                let ExprKind::Range(lo, hi) = &r.node else {
                    return None;
                };
                let mut out = v;
                if let Some(lo) = lo {
                    out = Expr::bin(Bin::Max, out, self.expr(s, lo)?);
                }
                if let Some(hi) = hi {
                    out = Expr::bin(Bin::Min, out, self.expr(s, hi)?);
                }
                out
            }
            ExprKind::Range(..)
            | ExprKind::Array(_)
            | ExprKind::Str(_)
            | ExprKind::File(_)
            | ExprKind::FileNamed(_) => {
                self.unsupported(
                    s.file,
                    e.span,
                    "this kind of value here",
                    "arrays and files are used by inputs and file rules, in the next version",
                );
                return None;
            }
            ExprKind::Error => return None,
        })
    }

    fn name(&mut self, s: &Scope<'_>, n: &circ_syntax::Ident) -> Option<Expr> {
        match self.prog.resolution(s.file, n.span).cloned() {
            Some(Res::Local(name)) => s
                .locals
                .iter()
                .rev()
                .find(|l| l.0 == name)
                .map(|l| l.1.clone()),
            Some(Res::ModelVar(name)) => {
                let m = s.model?;
                if let Some(v) = m.vars.get(&name) {
                    return Some(Expr::Load(*v));
                }
                let value = *m.lets.get(&name)?;
                let inner = Scope {
                    file: m.file,
                    model: Some(m),
                    locals: vec![],
                    pair: false,
                };
                self.inlining(s.file, n.span, &format!("`{name}`"), |l| {
                    l.expr(&inner, value)
                })
            }
            Some(Res::Const(id)) => self.const_value(id).map(c),
            Some(Res::Builtin(b)) => match b.as_str() {
                "t" => Some(Expr::Time),
                "dt" => Some(Expr::Dt),
                "pi" => Some(c(std::f64::consts::PI)),
                "e" => Some(c(std::f64::consts::E)),
                "inf" => Some(c(f64::INFINITY)),
                "d" => s
                    .locals
                    .iter()
                    .rev()
                    .find(|l| l.0 == "d")
                    .map(|l| l.1.clone()),
                "i" if s.pair => Some(Expr::PreIndex),
                "j" if s.pair => Some(Expr::PostIndex),
                // A population's values: the neuron's own index.
                "i" => Some(Expr::Index),
                _ => {
                    self.unsupported(
                        s.file,
                        n.span,
                        &format!("`{b}`"),
                        "connection rules run with projections, in the next version",
                    );
                    None
                }
            },
            _ => None,
        }
    }

    fn const_value(&mut self, id: ItemId) -> Option<f64> {
        if let Some(v) = self.consts.get(&id) {
            return *v;
        }
        // Sema's value where it knows one (folded with the same operations
        // and circ-math): not computed again.
        if let Some(v) = self.prog.const_type(id).and_then(|t| t.konst()) {
            self.consts.insert(id, Some(v));
            return Some(v);
        }
        self.consts.insert(id, None);
        let Some(Item::Const(k)) = self.prog.item(id) else {
            return None;
        };
        let file = self.prog.file(id.module)?;
        let scope = Scope {
            file,
            model: None,
            locals: vec![],
            pair: false,
        };
        let v = self
            .expr(&scope, &k.value)
            .map(|e| sym::simplify(&e))
            .and_then(|e| {
                if let Expr::Const(v) = e {
                    Some(v)
                } else {
                    None
                }
            });
        self.consts.insert(id, v);
        v
    }

    fn call(
        &mut self,
        s: &Scope<'_>,
        func: &circ_syntax::Ident,
        args: &[ast::Arg],
        span: Span,
    ) -> Option<Expr> {
        match self.prog.resolution(s.file, func.span).cloned() {
            Some(Res::Fn(id)) => {
                let Some(Item::Fn(f)) = self.prog.item(id) else {
                    return None;
                };
                let vals: Vec<Expr> = args
                    .iter()
                    .map(|a| self.expr(s, &a.value))
                    .collect::<Option<_>>()?;
                let file = self.prog.file(id.module)?;
                let mut inner = Scope {
                    file,
                    model: None,
                    locals: vec![],
                    pair: false,
                };
                for (p, v) in f.params.iter().zip(vals) {
                    inner.locals.push((p.name.node.clone(), v));
                }
                self.inlining(s.file, span, &format!("`{}`", func.node), |l| {
                    for (n, v) in &f.lets {
                        let e = l.expr(&inner, v)?;
                        inner.locals.push((n.node.clone(), e));
                    }
                    l.expr(&inner, &f.body)
                })
            }
            Some(Res::BuiltinFn(name)) => self.builtin(s, &name, args, span),
            _ => None,
        }
    }

    /// Inlines `what` (a function call or a model's `let`) at `span` in
    /// `file` with `body`, within the bounds on expansion and depth: past
    /// them everything inside stops, and the outermost call reports
    /// `too-complex` where the user wrote it.
    fn inlining(
        &mut self,
        file: FileId,
        span: Span,
        what: &str,
        body: impl FnOnce(&mut Self) -> Option<Expr>,
    ) -> Option<Expr> {
        if self.depth == 0 {
            self.inlined = 0;
            self.inline_overflow = false;
        }
        if self.inline_overflow {
            return None;
        }
        self.depth += 1;
        let out = if self.depth > MAX_DEPTH {
            self.inline_overflow = true;
            None
        } else {
            body(self)
        };
        self.depth -= 1;
        if let Some(e) = &out {
            self.inlined += e.size();
            if self.inlined > MAX_INLINED {
                self.inline_overflow = true;
            }
        }
        if self.inline_overflow {
            if self.depth == 0 {
                self.diags.push(
                    Diagnostic::error(
                        "too-complex",
                        format!(
                            "{what} expands to more than {MAX_INLINED} operations (or nests more than {MAX_DEPTH} calls deep) when its functions are inlined"
                        ),
                        file,
                        span,
                        "too large once inlined",
                    )
                    .with_help("functions and model `let`s are inlined at each use, so one that uses another twice doubles at each level; write it without the repetition (`2 * g(x)` for `g(x) + g(x)`)"),
                );
            }
            return None;
        }
        out
    }

    fn builtin(
        &mut self,
        s: &Scope<'_>,
        name: &str,
        args: &[ast::Arg],
        span: Span,
    ) -> Option<Expr> {
        if name == "timed" || name == "values" {
            return self.timed(s, name, args, span);
        }
        if name == "ou" {
            self.unsupported(s.file, span, "`ou` inside an expression", "an Ornstein–Uhlenbeck process runs as the whole value of a `per neuron` parameter: `population E = M[10](I = ou(0.1 nA, 0.05 nA, 10 ms))`");
            return None;
        }
        if matches!(name, "grid" | "line" | "random_positions") {
            self.unsupported(
                s.file,
                span,
                &format!("`{name}`"),
                "this function arrives with the runtime's inputs and positions",
            );
            return None;
        }
        // Time and position functions take named parameters: order them.
        let names = circ_sema::builtin_param_names(name);
        let mut vals: Vec<Option<Expr>> = vec![None; names.len().max(args.len())];
        let mut pos = 0;
        for a in args {
            let idx = match &a.name {
                Some(n) => names.iter().position(|x| *x == n.node)?,
                None => {
                    pos += 1;
                    pos - 1
                }
            };
            let v = self.expr(s, &a.value)?;
            if let Some(slot) = vals.get_mut(idx) {
                *slot = Some(v);
            }
        }
        let arg = |i: usize| vals.get(i).cloned().flatten();
        let a0 = arg(0);
        let f1 = |f: Func| Some(Expr::Call(f, vec![a0.clone()?]));
        let t = Expr::Time;
        let two_pi = c(std::f64::consts::TAU);
        match name {
            "exp" => f1(Func::Exp),
            "log" => f1(Func::Log),
            "log10" => f1(Func::Log10),
            "log2" => f1(Func::Log2),
            "sin" => f1(Func::Sin),
            "cos" => f1(Func::Cos),
            "tan" => f1(Func::Tan),
            "asin" => f1(Func::Asin),
            "acos" => f1(Func::Acos),
            "atan" => f1(Func::Atan),
            "sinh" => f1(Func::Sinh),
            "cosh" => f1(Func::Cosh),
            "tanh" => f1(Func::Tanh),
            "expm1" => f1(Func::Expm1),
            "log1p" => f1(Func::Log1p),
            "sigmoid" => f1(Func::Sigmoid),
            "erf" => f1(Func::Erf),
            "abs" => f1(Func::Abs),
            "floor" => f1(Func::Floor),
            "ceil" => f1(Func::Ceil),
            "round" => f1(Func::Round),
            "sqrt" => f1(Func::Sqrt),
            "cbrt" => f1(Func::Cbrt),
            "sign" => f1(Func::Sign),
            "heaviside" => f1(Func::Heaviside),
            "atan2" => Some(Expr::Call(Func::Atan2, vec![a0?, arg(1)?])),
            "min" => Some(Expr::bin(Bin::Min, a0?, arg(1)?)),
            "max" => Some(Expr::bin(Bin::Max, a0?, arg(1)?)),
            "clamp" => Some(Expr::bin(
                Bin::Min,
                Expr::bin(Bin::Max, a0?, arg(1)?),
                arg(2)?,
            )),
            "pow" => Some(Expr::bin(Bin::Pow, a0?, arg(1)?)),
            "rand" => Some(Expr::Rand(Dist::Uniform, self.next_stream())),
            "randn" => Some(Expr::Rand(Dist::Normal, self.next_stream())),
            "uniform" => {
                let (lo, hi) = (a0?, arg(1)?);
                let u = Expr::Rand(Dist::Uniform, self.next_stream());
                Some(Expr::bin(
                    Bin::Add,
                    lo.clone(),
                    Expr::bin(Bin::Mul, Expr::bin(Bin::Sub, hi, lo), u),
                ))
            }
            "normal" => {
                let z = Expr::Rand(Dist::Normal, self.next_stream());
                Some(Expr::bin(Bin::Add, a0?, Expr::bin(Bin::Mul, arg(1)?, z)))
            }
            "lognormal" => {
                // The distribution with this mean m and standard deviation s.
                let (m, sd) = (a0?, arg(1)?);
                let ratio = Expr::bin(Bin::Div, sd, m.clone());
                let sigma2 =
                    Expr::Call(Func::Log1p, vec![Expr::bin(Bin::Mul, ratio.clone(), ratio)]);
                let mu = Expr::bin(
                    Bin::Sub,
                    Expr::Call(Func::Log, vec![m]),
                    Expr::bin(Bin::Div, sigma2.clone(), c(2.0)),
                );
                let z = Expr::Rand(Dist::Normal, self.next_stream());
                Some(Expr::Call(
                    Func::Exp,
                    vec![Expr::bin(
                        Bin::Add,
                        mu,
                        Expr::bin(Bin::Mul, Expr::Call(Func::Sqrt, vec![sigma2]), z),
                    )],
                ))
            }
            "gamma" => {
                let (shape, scale) = (a0?, arg(1)?);
                Some(Expr::bin(Bin::Mul, scale, self.gamma_draw(shape)))
            }
            "exponential" => {
                let u = Expr::Rand(Dist::Uniform, self.next_stream());
                Some(Expr::bin(
                    Bin::Mul,
                    Expr::Un(Un::Neg, Box::new(a0?)),
                    Expr::Call(Func::Log1p, vec![Expr::Un(Un::Neg, Box::new(u))]),
                ))
            }
            // step(at, before, after)
            "step" => Some(Expr::Select(
                Box::new(Expr::bin(Bin::Ge, t, a0?)),
                Box::new(arg(2)?),
                Box::new(arg(1)?),
            )),
            // ramp(start, stop, from, to)
            "ramp" => {
                let (start, stop, from, to) = (a0?, arg(1)?, arg(2)?, arg(3)?);
                let frac = Expr::bin(
                    Bin::Div,
                    Expr::bin(Bin::Sub, t, start.clone()),
                    Expr::bin(Bin::Sub, stop, start),
                );
                let frac = Expr::bin(Bin::Min, Expr::bin(Bin::Max, frac, c(0.0)), c(1.0));
                Some(Expr::bin(
                    Bin::Add,
                    from.clone(),
                    Expr::bin(Bin::Mul, Expr::bin(Bin::Sub, to, from), frac),
                ))
            }
            // sine(amplitude, frequency, offset, phase)
            "sine" => {
                let phase = Expr::bin(
                    Bin::Add,
                    Expr::bin(Bin::Mul, Expr::bin(Bin::Mul, two_pi, arg(1)?), t),
                    arg(3).unwrap_or(c(0.0)),
                );
                Some(Expr::bin(
                    Bin::Add,
                    arg(2).unwrap_or(c(0.0)),
                    Expr::bin(Bin::Mul, a0?, Expr::Call(Func::Sin, vec![phase])),
                ))
            }
            // pulse_train(amplitude, period, width, start)
            "pulse_train" => {
                let start = arg(3).unwrap_or(c(0.0));
                let since = Expr::bin(Bin::Sub, t, start);
                let on = Expr::bin(
                    Bin::And,
                    Expr::bin(Bin::Ge, since.clone(), c(0.0)),
                    Expr::bin(Bin::Lt, Expr::bin(Bin::Rem, since, arg(1)?), arg(2)?),
                );
                Some(Expr::Select(Box::new(on), Box::new(a0?), Box::new(c(0.0))))
            }
            "ou" | "timed" | "grid" | "line" | "random_positions" => {
                self.unsupported(
                    s.file,
                    span,
                    &format!("`{name}`"),
                    "this function arrives with the runtime's inputs and positions",
                );
                None
            }
            _ => None,
        }
    }

    /// A Gamma(shape, 1) draw as one expression: Marsaglia and Tsang's method
    /// with eight attempts (each accepted with probability above 0.95, so
    /// all eight fail less than once in 10^10 draws, when the last candidate
    /// is used), boosted by U^(1/shape) for shapes below 1.
    fn gamma_draw(&mut self, shape: Expr) -> Expr {
        // Shapes below 1 draw Gamma(shape + 1), then boost.
        let a = Expr::Select(
            Box::new(Expr::bin(Bin::Ge, shape.clone(), c(1.0))),
            Box::new(shape.clone()),
            Box::new(Expr::bin(Bin::Add, shape.clone(), c(1.0))),
        );
        let d = Expr::bin(Bin::Sub, a, c(1.0 / 3.0));
        let cc = Expr::bin(
            Bin::Div,
            c(1.0),
            Expr::Call(Func::Sqrt, vec![Expr::bin(Bin::Mul, c(9.0), d.clone())]),
        );
        let mut result: Option<Expr> = None;
        let mut attempts: Vec<(Expr, Expr)> = vec![];
        for _ in 0..8 {
            let x = Expr::Rand(Dist::Normal, self.next_stream());
            let u = Expr::Rand(Dist::Uniform, self.next_stream());
            let base = Expr::bin(Bin::Add, c(1.0), Expr::bin(Bin::Mul, cc.clone(), x.clone()));
            let v = Expr::bin(
                Bin::Mul,
                Expr::bin(Bin::Mul, base.clone(), base.clone()),
                base,
            );
            let bound = Expr::bin(
                Bin::Add,
                Expr::bin(
                    Bin::Add,
                    Expr::bin(Bin::Mul, c(0.5), Expr::bin(Bin::Mul, x.clone(), x)),
                    d.clone(),
                ),
                Expr::bin(
                    Bin::Sub,
                    Expr::bin(
                        Bin::Mul,
                        d.clone(),
                        Expr::Call(Func::Log, vec![Expr::bin(Bin::Max, v.clone(), c(1e-300))]),
                    ),
                    Expr::bin(Bin::Mul, d.clone(), v.clone()),
                ),
            );
            let ok = Expr::bin(
                Bin::And,
                Expr::bin(Bin::Gt, v.clone(), c(0.0)),
                Expr::bin(
                    Bin::Lt,
                    Expr::Call(Func::Log, vec![Expr::bin(Bin::Max, u, c(1e-300))]),
                    bound,
                ),
            );
            attempts.push((
                ok,
                Expr::bin(Bin::Mul, d.clone(), Expr::bin(Bin::Max, v, c(0.0))),
            ));
        }
        for (ok, value) in attempts.into_iter().rev() {
            result = Some(match result {
                None => value,
                Some(rest) => Expr::Select(Box::new(ok), Box::new(value), Box::new(rest)),
            });
        }
        let g = result.unwrap_or(c(f64::NAN));
        let boost = Expr::bin(
            Bin::Pow,
            Expr::Rand(Dist::Uniform, self.next_stream()),
            Expr::bin(Bin::Div, c(1.0), shape.clone()),
        );
        Expr::Select(
            Box::new(Expr::bin(Bin::Ge, shape, c(1.0))),
            Box::new(g.clone()),
            Box::new(Expr::bin(Bin::Mul, g, boost)),
        )
    }

    // ---- models --------------------------------------------------------

    /// Builds the layout and kernels of one population of model `id`.
    /// `args` / `inits` are the circuit's values (already lowered);
    /// `modulators` the circuit's modulator values.
    fn model_kernels(
        &mut self,
        id: ItemId,
        args: &HashMap<String, Expr>,
        inits: &HashMap<String, Expr>,
        dt: f64,
        modulators: Option<&HashMap<String, Expr>>,
        site: Option<(FileId, Span)>,
    ) -> Option<(Vec<VarLayout>, PopKernels)> {
        let Some(Item::Model(model)) = self.prog.item(id) else {
            return None;
        };
        let file = self.prog.file(id.module)?;
        // Layout: parameters, states, inputs, modulators, in declaration order per kind.
        let mut vars: Vec<VarLayout> = vec![];
        let mut ids: HashMap<String, VarId> = HashMap::new();
        let mut lets: HashMap<String, &ast::Expr> = HashMap::new();
        for m in &model.members {
            let (name, role, scalar) = match &m.node {
                MemberKind::Parameter(d) => (&d.name, VarRole::Param, d.per.is_none()),
                MemberKind::State(_, d) => (&d.name, VarRole::State, false),
                MemberKind::Input { name, .. } => (name, VarRole::Input, false),
                MemberKind::Modulator { name, .. } => (name, VarRole::Param, true),
                MemberKind::Let { name, value } => {
                    lets.insert(name.node.clone(), value);
                    continue;
                }
                _ => continue,
            };
            ids.insert(name.node.clone(), vars.len() as VarId);
            vars.push(VarLayout {
                name: name.node.clone(),
                role,
                scalar,
            });
        }
        let ms = ModelScope {
            file,
            fields: HashMap::new(),
            vars: ids.clone(),
            lets,
        };
        let scope = Scope {
            file,
            model: Some(&ms),
            locals: vec![],
            pair: false,
        };

        // Parameter values: the circuit's, else the model's default.
        let mut values: Vec<(VarId, Expr, bool)> = vec![];
        for m in &model.members {
            let (name, default, scalar, span) = match &m.node {
                MemberKind::Parameter(d) => {
                    (&d.name, d.init.as_ref(), d.per.is_none(), d.name.span)
                }
                MemberKind::Modulator { name, .. } => {
                    let v = modulators
                        .and_then(|mods| mods.get(&name.node).cloned())
                        .unwrap_or(c(0.0));
                    values.push((ids[&name.node], v, true));
                    continue;
                }
                _ => continue,
            };
            let value = match args.get(&name.node) {
                Some(v) => Some(v.clone()),
                None => match default {
                    Some(d) => self.expr(&scope, d),
                    None => {
                        if modulators.is_some() {
                            self.diags.push(Diagnostic::error(
                                "missing-parameter",
                                format!("`{}` has no value", name.node),
                                file,
                                span,
                                "no default",
                            ));
                        }
                        Some(c(0.0))
                    }
                },
            };
            values.push((ids[&name.node], value?, scalar));
        }
        // Order parameters so that each is computed after those it reads.
        let ordered = topo(&values);
        let mut dynamic = Builder::default();
        let mut init = Builder::default();
        let mut drive = Builder::default();
        let mut time_dependent: Vec<VarId> = vec![];
        let mut known: HashMap<VarId, f64> = HashMap::new();
        for (v, e, mut scalar) in ordered {
            // A value that differs between neurons (of `i`, a draw, a data
            // column, another such parameter) makes the parameter one per
            // neuron in this population, as every parameter is in Brian2
            // and NEST (sema allows it for the circuit's values only).
            let timed = sym::reads_time_or_random(&strip_random(&e))
                || sym::depends(&e, &|w| time_dependent.contains(&w));
            if scalar && per_element(&e, &|w| !vars[w as usize].scalar) {
                if timed && any_random(&e) {
                    let (f, span) = site.unwrap_or((file, model.name.span));
                    self.unsupported(
                        f,
                        span,
                        &format!("a value of `{}` that is drawn at random and changes in time (it would be drawn again every step)", vars[v as usize].name),
                        "draw the random part once, into a `per neuron` parameter of the model, and multiply by it",
                    );
                    return None;
                }
                scalar = false;
                vars[v as usize].scalar = false;
            }
            if !scalar && timed {
                // One value per neuron that changes in time (a stimulus on
                // some neurons): computed every step, per neuron, right
                // after the scalar ones, and at the start for recordings.
                time_dependent.push(v);
                init.body.push(Stmt::Store(v, e.clone()));
                drive.body.push(Stmt::Store(v, e));
                continue;
            }
            if scalar {
                let folded =
                    sym::simplify(&sym::subst(&e, &|w| known.get(&w).copied().map(c), None));
                if let Expr::Const(k) = folded {
                    known.insert(v, k);
                }
                if sym::reads_time_or_random(&e)
                    || sym::depends(&e, &|w| time_dependent.contains(&w))
                {
                    time_dependent.push(v);
                }
                dynamic.body.push(Stmt::Store(v, e));
            } else {
                init.body.push(Stmt::Store(v, e));
            }
        }
        // Initial states, in dependency order.
        let mut states: Vec<(VarId, Expr, bool)> = vec![];
        for m in &model.members {
            let MemberKind::State(_, d) = &m.node else {
                continue;
            };
            let e = match inits.get(&d.name.node) {
                Some(v) => Some(v.clone()),
                None => d
                    .init
                    .as_ref()
                    .map_or(Some(c(0.0)), |x| self.expr(&scope, x)),
            }?;
            states.push((ids[&d.name.node], e, false));
        }
        for (v, e, _) in topo(&states) {
            init.body.push(Stmt::Store(v, e));
        }

        // Equations.
        let mut sys = System {
            states: vec![],
            rhs: vec![],
            noise: vec![],
            held: vec![],
        };
        let mut requested: Option<&circ_syntax::Ident> = None;
        for m in &model.members {
            match &m.node {
                MemberKind::Ode {
                    var,
                    rhs,
                    noise,
                    unless_refractory,
                } => {
                    let Some(v) = ids.get(&var.node) else {
                        continue;
                    };
                    let r = self.expr(&scope, rhs)?;
                    let n = match noise {
                        Some(n) => Some(self.expr(&scope, n)?),
                        None => None,
                    };
                    sys.states.push((*v, var.node.clone()));
                    sys.rhs.push(sym::simplify(&r));
                    sys.noise.push(n);
                    sys.held.push(unless_refractory.is_some());
                }
                MemberKind::Method(n) => requested = Some(n),
                _ => {}
            }
        }
        // A population's `method` wins over the model's (and is reported
        // where the circuit asks for it).
        let pop_method = self.pop_method.clone();
        let mfile = match &pop_method {
            Some((f, n)) => {
                requested = Some(n);
                *f
            }
            None => file,
        };
        let mut notes = vec![];
        let mut update = Builder::default();
        if !sys.states.is_empty() {
            let varying = |v: VarId| {
                let role = vars[v as usize].role;
                role == VarRole::State || role == VarRole::Input || time_dependent.contains(&v) || model.members.iter().any(|m| matches!(&m.node, MemberKind::Modulator { name, .. } if ids.get(&name.node) == Some(&v)))
            };
            let class = ode::classify(&sys, &varying);
            let has_noise = sys.noise.iter().any(Option::is_some);
            let names: Vec<&str> = sys.states.iter().map(|s| s.1.as_str()).collect();
            let (method, why) = match requested {
                Some(n) => {
                    let m = match n.node.as_str() {
                        "exact" => Method::Exact,
                        "exponential_euler" => Method::ExponentialEuler,
                        "euler" => Method::Euler,
                        "rk2" => Method::Rk2,
                        "heun" => Method::Heun,
                        "rk4" => Method::Rk4,
                        "euler_maruyama" => Method::EulerMaruyama,
                        "rk45" => Method::Rk45,
                        "milstein"
                            if sys.noise.iter().flatten().all(|s| {
                                !sym::depends(s, &|v| vars[v as usize].role == VarRole::State)
                            }) =>
                        {
                            Method::EulerMaruyama
                        }
                        other => {
                            self.unsupported(mfile, n.span, &format!("the method `{other}`"), "use exact, exponential_euler, euler, rk2, heun, rk4, rk45 or euler_maruyama");
                            return None;
                        }
                    };
                    if let Some(problem) = applicability(m, &class, has_noise) {
                        self.diags.push(
                            Diagnostic::error("method-not-applicable", format!("`method {}` does not apply to the equations of `{}`: {problem}", m.name(), model.name.node), mfile, n.span, "requested here")
                                .with_help(match class {
                                    Class::Linear if has_noise => "stochastic equations need `method euler_maruyama`".to_string(),
                                    Class::Linear => "remove `method` to integrate exactly".to_string(),
                                    Class::ConditionallyLinear { .. } => "`exponential_euler` applies, or any explicit method (`rk4`)".to_string(),
                                    Class::Nonlinear { .. } => "use an explicit method such as `rk4` (the default for nonlinear equations)".to_string(),
                                }),
                        );
                        return None;
                    }
                    let why = if pop_method.is_some() {
                        "requested with the population's `method`"
                    } else {
                        "requested with `method`"
                    };
                    (m, why.to_string())
                }
                None if has_noise => (
                    Method::EulerMaruyama,
                    "the equations have noise".to_string(),
                ),
                None => match &class {
                    Class::Linear => (
                        Method::Exact,
                        "linear with constant coefficients".to_string(),
                    ),
                    Class::ConditionallyLinear { why } => (
                        Method::ExponentialEuler,
                        format!("conditionally linear ({why})"),
                    ),
                    Class::Nonlinear { why } => (Method::Rk4, format!("nonlinear ({why})")),
                },
            };
            notes.push(format!(
                "{} integrated with {}: {}",
                names.join(", "),
                method.name(),
                why
            ));
            // Substeps end where the spike condition holds (AdEx's
            // exponential runs away to infinity within a step).
            let spike_cond = if method == Method::Rk45 {
                let cond = model.members.iter().find_map(|m| match &m.node {
                    MemberKind::Spike { cond, .. } => Some(cond),
                    _ => None,
                });
                match cond {
                    Some(cond) => Some(self.expr(&scope, cond)?),
                    None => None,
                }
            } else {
                None
            };
            let scalar_value = |v: VarId| known.get(&v).copied();
            let streams = &mut self.streams;
            let mut next = || streams.fresh();
            let info = self.prog.model_info(id);
            let model_dims: HashMap<&str, circ_units::Dim> = info
                .iter()
                .flat_map(|m| m.vars.iter())
                .map(|v| (v.name.as_str(), v.dim))
                .collect();
            let adaptive = (method == Method::Rk45).then(|| {
                let mut internal = |name: &str| {
                    vars.push(VarLayout {
                        name: name.into(),
                        role: VarRole::Internal,
                        scalar: false,
                    });
                    (vars.len() - 1) as VarId
                };
                let a = ode::Adaptive {
                    step: internal(RK45_VARS[0]),
                    accepted: internal(RK45_VARS[1]),
                    rejected: internal(RK45_VARS[2]),
                    smallest: internal(RK45_VARS[3]),
                    atol: sys
                        .states
                        .iter()
                        .map(|(_, name)| {
                            RK45_ATOL * unit_scale(model_dims.get(name.as_str()).copied())
                        })
                        .collect(),
                    rtol: RK45_RTOL,
                    stop: spike_cond.clone(),
                };
                // The first substep tries the whole step; the smallest
                // accepted starts above any.
                init.body.push(Stmt::Store(a.step, Expr::Dt));
                init.body.push(Stmt::Store(a.smallest, c(f64::INFINITY)));
                a
            });
            if let Err(why) = ode::emit(
                &sys,
                method,
                &mut update,
                &scalar_value,
                &mut next,
                dt,
                adaptive.as_ref(),
            ) {
                let span = requested.map_or(model.name.span, |n| n.span);
                self.diags.push(
                    Diagnostic::error(
                        "method-not-applicable",
                        format!("`{}` cannot be integrated exactly: {why}", model.name.node),
                        file,
                        span,
                        "exact integration",
                    )
                    .with_help("use `method rk4`"),
                );
                return None;
            }
        }

        // Threshold and reset.
        let mut threshold = None;
        let mut reset = None;
        for m in &model.members {
            let MemberKind::Spike {
                cond,
                body,
                refractory,
                refractory_while,
            } = &m.node
            else {
                continue;
            };
            let mut cond = self.expr(&scope, cond)?;
            let mut b = Builder::default();
            let mut locals: Vec<(String, Expr)> = vec![];
            self.stmts(&ms, body, &mut b, &mut locals)?;
            match (refractory, refractory_while) {
                // `refractory while RCOND` (Brian2's condition form): the
                // neuron is refractory in a step when RCOND holds on the
                // state at the step's start, kept in a variable the update
                // computes first; it cannot spike then, its held states
                // stay, and the runtime drops jumps into them.
                (Some(r), true) => {
                    let r = self.expr(&scope, r)?;
                    let rv = vars.len() as VarId;
                    vars.push(VarLayout {
                        name: REFRACTORY_VAR.into(),
                        role: VarRole::Internal,
                        scalar: false,
                    });
                    let held = |e: &Expr| (*e == Expr::Refractory).then_some(Expr::Load(rv));
                    let mut body = vec![Stmt::Store(rv, r)];
                    body.extend(subst_stmts(&update.body, &held));
                    update.body = body;
                    cond = Expr::bin(
                        Bin::And,
                        cond,
                        Expr::Un(circ_ir::Un::Not, Box::new(Expr::Load(rv))),
                    );
                }
                (Some(r), false) => {
                    let r = self.expr(&scope, r)?;
                    b.body.push(Stmt::SetRefractory(r));
                }
                (None, _) => {}
            }
            threshold = Some(Kernel {
                name: "threshold".into(),
                domain: Domain::Each,
                temps: 0,
                body: vec![Stmt::Spike(cond)],
            });
            reset = Some(Kernel {
                name: "reset".into(),
                domain: Domain::Spiking,
                temps: b.temps,
                body: b.body,
            });
        }
        let kernels = PopKernels {
            init: Kernel {
                name: "init".into(),
                domain: Domain::Each,
                temps: init.temps,
                body: init.body,
            },
            dynamic: Kernel {
                name: "dynamic".into(),
                domain: Domain::Once,
                temps: dynamic.temps,
                body: dynamic.body,
            },
            update: Kernel {
                name: "update".into(),
                domain: Domain::Each,
                temps: update.temps,
                body: update.body,
            },
            threshold,
            reset,
            solver_notes: notes,
            drive: Kernel {
                name: "drive".into(),
                domain: Domain::Each,
                temps: drive.temps,
                body: drive.body,
            },
        };
        Some((vars, kernels))
    }

    fn stmts(
        &mut self,
        ms: &ModelScope<'_>,
        body: &[ast::Stmt],
        b: &mut Builder,
        locals: &mut Vec<(String, Expr)>,
    ) -> Option<()> {
        let depth = locals.len();
        for st in body {
            let scope = Scope {
                file: ms.file,
                model: Some(ms),
                locals: locals.clone(),
                pair: false,
            };
            match &st.node {
                StmtKind::Let { name, value } => {
                    let v = self.expr(&scope, value)?;
                    let t = b.let_(v);
                    locals.push((name.node.clone(), t));
                }
                StmtKind::Assign { target, op, value } => {
                    let v = self.expr(&scope, value)?;
                    let Target::Local(n) = &target.node else {
                        self.unsupported(
                            ms.file,
                            target.span,
                            "writing `pre.x` / `post.x`",
                            "synapses run with projections, in the next version",
                        );
                        return None;
                    };
                    let var = *ms.vars.get(&n.node)?;
                    let old = Expr::Load(var);
                    let new = match op {
                        AssignOp::Set => v,
                        AssignOp::Add => Expr::bin(Bin::Add, old, v),
                        AssignOp::Sub => Expr::bin(Bin::Sub, old, v),
                        AssignOp::Mul => Expr::bin(Bin::Mul, old, v),
                    };
                    b.body.push(Stmt::Store(var, new));
                }
                StmtKind::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let k = self.expr(&scope, cond)?;
                    let mut tb = Builder {
                        body: vec![],
                        temps: b.temps,
                    };
                    self.stmts(ms, then, &mut tb, locals)?;
                    let mut eb = Builder {
                        body: vec![],
                        temps: tb.temps,
                    };
                    self.stmts(ms, otherwise, &mut eb, locals)?;
                    b.temps = eb.temps;
                    b.body.push(Stmt::If(k, tb.body, eb.body));
                }
                StmtKind::Error => return None,
            }
        }
        locals.truncate(depth);
        Some(())
    }

    // ---- circuits and runs --------------------------------------------

    fn lower_run(&mut self, opts: &Options) -> Option<Lowered> {
        let file = self.prog.file(0)?;
        let ast = self.prog.ast(0)?;
        let run = match choose_run(ast, opts.circuit.as_deref()) {
            Ok(r) => r,
            Err(msg) => {
                let runs: Vec<&ast::RunItem> = ast
                    .items
                    .iter()
                    .filter_map(|i| if let Item::Run(r) = i { Some(r) } else { None })
                    .collect();
                let mut d = Diagnostic::error(
                    "ambiguous-run",
                    msg,
                    file,
                    runs.get(1).map_or_else(Span::default, |r| r.span),
                    "another `run` item",
                );
                if let Some(r) = runs.first() {
                    d = d.with_label(file, r.span, "the first");
                }
                self.diags.push(d.with_help(
                    "name the circuit to run: `circ run FILE --circuit NAME` (`:instantiate NAME` in the REPL), or keep one `run` item per circuit",
                ));
                return None;
            }
        };
        let circuit_name = match (&opts.circuit, run) {
            (Some(c), _) => c.clone(),
            (None, Some(r)) => r.circuit.node.clone(),
            (None, None) => {
                let circuits: Vec<String> = ast
                    .items
                    .iter()
                    .filter_map(|i| {
                        if let Item::Circuit(c) = i {
                            Some(c.name.node.clone())
                        } else {
                            None
                        }
                    })
                    .collect();
                let help = match circuits.first() {
                    Some(c) => {
                        format!("add `run {c} for 1 s` to the file, or pass `--circuit {c}`")
                    }
                    None => "define a `circuit` and a `run` item".to_string(),
                };
                self.diags.push(
                    Diagnostic::error(
                        "no-run",
                        "this file has nothing to run: it has no `run` item",
                        file,
                        Span::new(0, 0),
                        "",
                    )
                    .with_help(help),
                );
                return None;
            }
        };
        let Some((cid, ItemKind::Circuit)) = self.prog.resolve(0, &circuit_name) else {
            self.diags.push(Diagnostic::error(
                "no-run",
                format!("there is no circuit `{circuit_name}` to run"),
                file,
                Span::new(0, 0),
                "",
            ));
            return None;
        };
        let Some(Item::Circuit(circuit)) = self.prog.item(cid) else {
            return None;
        };
        let cfile = self.prog.file(cid.module)?;
        // Run settings: the file's, overridden by the command line.
        let empty = Scope {
            file,
            model: None,
            locals: vec![],
            pair: false,
        };
        let mut duration = None;
        let mut dt = None;
        let mut seed = None;
        if let Some(r) = run.filter(|r| r.circuit.node == circuit_name) {
            duration = self
                .expr(&empty, &r.duration)
                .map(|e| sym::simplify(&e))
                .and_then(|e| {
                    if let Expr::Const(v) = e {
                        Some(v)
                    } else {
                        None
                    }
                });
            for (n, v) in &r.settings {
                let val = self
                    .expr(&empty, v)
                    .map(|e| sym::simplify(&e))
                    .and_then(|e| {
                        if let Expr::Const(v) = e {
                            Some(v)
                        } else {
                            None
                        }
                    });
                match n.node.as_str() {
                    "dt" => dt = val,
                    "seed" => seed = val.map(|v| v as u64),
                    _ => {}
                }
            }
        }
        let duration = opts.duration.or(duration).unwrap_or(1.0);
        let dt = opts.dt.or(dt).unwrap_or(1e-4);
        let seed = opts.seed.or(seed).unwrap_or(0);
        // The run item's values of the circuit's parameters.
        let (mut run_args, mut run_strings) = (vec![], vec![]);
        if let Some(r) = run.filter(|r| r.circuit.node == circuit_name) {
            for a in &r.args {
                if let Some(n) = &a.name {
                    if let ExprKind::Str(v) = &a.value.node {
                        run_strings.push((n.node.clone(), v.clone()));
                        continue;
                    }
                    run_args.push((n.node.clone(), self.expr(&empty, &a.value)?));
                }
            }
        }
        let strings = self.circuit_strings(circuit, &run_strings);
        let circuit = &self.with_strings(cfile, circuit, &strings);
        let net = self.lower_circuit(cid.module, cfile, circuit, dt, duration, &run_args)?;
        Some(Lowered {
            net,
            circuit: circuit_name,
            duration,
            dt,
            seed,
            warnings: std::mem::take(&mut self.warnings),
        })
    }

    /// The circuit's string constants (file names): parameters with a
    /// string default (the command line's value, else the run item's, else
    /// the default) and `let`s of a string or of another such name.
    fn circuit_strings(
        &self,
        circuit: &ast::CircuitItem,
        run_strings: &[(String, String)],
    ) -> HashMap<String, String> {
        let mut out: HashMap<String, String> = HashMap::new();
        let value = |e: &ast::Expr, out: &HashMap<String, String>| match &e.node {
            ExprKind::Str(v) => Some(v.clone()),
            ExprKind::Name(n) => out.get(&n.node).cloned(),
            _ => None,
        };
        for (n, default) in &circuit.params {
            let Some(v) = value(default, &out) else {
                continue;
            };
            let given = self
                .circuit_strings
                .iter()
                .chain(run_strings)
                .find(|a| a.0 == n.node)
                .map(|a| a.1.clone());
            out.insert(n.node.clone(), given.unwrap_or(v));
        }
        for m in &circuit.members {
            if let CircuitMemberKind::Let { name, value: e } = &m.node
                && let Some(v) = value(e, &out)
            {
                out.insert(name.node.clone(), v);
            }
        }
        out
    }

    /// `circuit` with its string constants in place: `from NAME` becomes
    /// `from "file"`, and a name that means one (a file column) the string.
    /// Only names that resolve to the circuit's own constants are replaced.
    fn with_strings(
        &self,
        file: FileId,
        circuit: &ast::CircuitItem,
        strings: &HashMap<String, String>,
    ) -> ast::CircuitItem {
        if strings.is_empty() {
            return circuit.clone();
        }
        let local = |n: &circ_syntax::Ident| -> Option<String> {
            matches!(self.prog.resolution(file, n.span), Some(Res::Local(_)))
                .then(|| strings.get(&n.node).cloned())
                .flatten()
        };
        fn expr(e: &mut ast::Expr, local: &dyn Fn(&circ_syntax::Ident) -> Option<String>) {
            match &e.node {
                ExprKind::FileNamed(n) => {
                    if let Some(v) = local(n) {
                        e.node = ExprKind::File(v);
                    }
                    return;
                }
                ExprKind::Name(n) => {
                    if let Some(v) = local(n) {
                        e.node = ExprKind::Str(v);
                    }
                    return;
                }
                _ => {}
            }
            e.node.children_mut(&mut |c| expr(c, local));
        }
        let args = |args: &mut Vec<ast::Arg>| {
            for a in args {
                expr(&mut a.value, &local);
            }
        };
        let mut c = circuit.clone();
        for (_, e) in &mut c.params {
            expr(e, &local);
        }
        for m in &mut c.members {
            match &mut m.node {
                CircuitMemberKind::Let { value, .. } => expr(value, &local),
                CircuitMemberKind::Population(p) => {
                    args(&mut p.args);
                    for (_, e) in &mut p.inits {
                        expr(e, &local);
                    }
                }
                CircuitMemberKind::Project(pr) => {
                    args(&mut pr.args);
                    for (_, e) in &mut pr.inits {
                        expr(e, &local);
                    }
                    if let ast::RuleKind::FileNamed { name, args: cols } = &pr.rule.kind.node
                        && let Some(v) = strings.get(&name.node)
                    {
                        let mut cols = cols.clone();
                        args(&mut cols);
                        pr.rule.kind.node = ast::RuleKind::File {
                            path: circ_syntax::Spanned::new(v.clone(), name.span),
                            args: cols,
                        };
                    } else if let ast::RuleKind::File { args: cols, .. } = &mut pr.rule.kind.node {
                        args(cols);
                    }
                }
                _ => {}
            }
        }
        c
    }

    fn lower_circuit(
        &mut self,
        module: usize,
        file: FileId,
        circuit: &ast::CircuitItem,
        dt: f64,
        duration: f64,
        run_args: &[(String, Expr)],
    ) -> Option<Network> {
        // The circuit's `let`s, in order.
        let mut cs_locals: Vec<(String, Expr)> = vec![];
        // The circuit's parameters: the command line's value, else the run
        // item's, else the default (which may read the parameters before).
        for (n, default) in &circuit.params {
            let scope = Scope {
                file,
                model: None,
                locals: cs_locals.clone(),
                pair: false,
            };
            if matches!(default.node, ExprKind::Str(_)) {
                // A file name: in place already (`with_strings`).
                continue;
            }
            let v = match (
                self.circuit_args.iter().find(|a| a.0 == n.node),
                run_args.iter().find(|a| a.0 == n.node),
            ) {
                (Some((_, v)), _) => c(*v),
                (None, Some((_, e))) => e.clone(),
                (None, None) => self.expr(&scope, default)?,
            };
            cs_locals.push((n.node.clone(), sym::simplify(&v)));
        }
        let mut modulators: HashMap<String, Expr> = HashMap::new();
        for m in &circuit.members {
            let scope = Scope {
                file,
                model: None,
                locals: cs_locals.clone(),
                pair: false,
            };
            match &m.node {
                CircuitMemberKind::Let { name, value } => {
                    if matches!(value.node, ExprKind::Str(_)) {
                        // A file name: in place already (`with_strings`).
                        continue;
                    }
                    let v = self.expr(&scope, value)?;
                    cs_locals.push((name.node.clone(), sym::simplify(&v)));
                }
                CircuitMemberKind::Modulator { name, value } => {
                    let v = self.expr(&scope, value)?;
                    modulators.insert(name.node.clone(), v);
                }
                _ => {}
            }
        }
        let mut layout = NetLayout::default();
        let mut pops: Vec<PopKernels> = vec![];
        let mut pop_index: HashMap<String, usize> = HashMap::new();
        for m in &circuit.members {
            let scope = Scope {
                file,
                model: None,
                locals: cs_locals.clone(),
                pair: false,
            };
            if let CircuitMemberKind::Population(p) = &m.node {
                if matches!(p.model.node.as_str(), "poisson" | "spikes") {
                    let size = match self.expr(&scope, &p.size).map(|e| sym::simplify(&e)) {
                        Some(Expr::Const(n)) => n as usize,
                        _ => continue,
                    };
                    let Some((mut pl, mut kernels)) = self.generator(&scope, p, size, dt) else {
                        continue;
                    };
                    self.tables_per_neuron(&kernels, size);
                    if let Some(pos) = &p.positions {
                        self.add_positions(&scope, pos, &mut pl.vars, &mut kernels)?;
                    }
                    pop_index.insert(p.name.node.clone(), layout.pops.len());
                    layout.pops.push(pl);
                    pops.push(kernels);
                    continue;
                }
                let size = self.expr(&scope, &p.size).map(|e| sym::simplify(&e));
                let Some(Expr::Const(size)) = size else {
                    continue;
                };
                // Sema checked the defaults; a circuit parameter given by the
                // run item or `--set` may make a size fractional or zero.
                if !self.whole_count(file, &p.size, size, "a population size", 1.0) {
                    continue;
                }
                let Some((id, _)) = self.prog.resolve(module, &p.model.node) else {
                    continue;
                };
                let mut args = HashMap::new();
                // Ornstein–Uhlenbeck parameters: (name, mean, sigma, tau).
                let mut ou: Vec<(String, Expr, Expr, Expr)> = vec![];
                for a in &p.args {
                    if let (Some(n), ExprKind::Call { func, args: oa }) = (&a.name, &a.value.node)
                        && func.node == "ou"
                    {
                        let names = circ_sema::builtin_param_names("ou");
                        let mut vals: Vec<Option<Expr>> = vec![None; 3];
                        for (k, x) in oa.iter().enumerate() {
                            let idx = x
                                .name
                                .as_ref()
                                .and_then(|nm| names.iter().position(|y| *y == nm.node))
                                .unwrap_or(k);
                            if let (Some(slot), Some(v)) =
                                (vals.get_mut(idx), self.expr(&scope, &x.value))
                            {
                                *slot = Some(v);
                            }
                        }
                        let [Some(m), Some(sg), Some(tau)] =
                            [vals[0].clone(), vals[1].clone(), vals[2].clone()]
                        else {
                            continue;
                        };
                        ou.push((n.node.clone(), m, sg, tau));
                        args.insert(n.node.clone(), c(0.0));
                        continue;
                    }
                    if let (Some(n), Some(v)) = (&a.name, self.expr(&scope, &a.value)) {
                        args.insert(n.node.clone(), v);
                    }
                }
                for (pop, param, value) in &self.overrides {
                    if *pop == p.name.node {
                        ou.retain(|o| o.0 != *param);
                        args.insert(param.clone(), c(*value));
                    }
                }
                let mut inits = HashMap::new();
                for (n, v) in &p.inits {
                    if let Some(v) = self.expr(&scope, v) {
                        inits.insert(n.node.clone(), v);
                    }
                }
                self.pop_method = p.method.clone().map(|n| (file, n));
                let made = self.model_kernels(
                    id,
                    &args,
                    &inits,
                    dt,
                    Some(&modulators),
                    Some((file, m.span)),
                );
                self.pop_method = None;
                let Some((mut vars, mut kernels)) = made else {
                    continue;
                };
                // `values(from ...)`: one value per neuron, so the file must
                // hold exactly `size` of them.
                self.tables_per_neuron(&kernels, size as usize);
                for (param, mean, sigma, tau) in ou {
                    let Some(pv) = vars.iter().position(|v| v.name == param && !v.scalar) else {
                        self.unsupported(
                            file,
                            p.model.span,
                            &format!("`ou` for `{param}`, which is one value for the population"),
                            "declare the parameter `per neuron`: each neuron gets its own process",
                        );
                        continue;
                    };
                    let x = vars.len() as VarId;
                    vars.push(VarLayout {
                        name: format!("ou.{param}"),
                        role: VarRole::State,
                        scalar: false,
                    });
                    let (s, s_kick) = (self.next_stream(), self.next_stream());
                    // Start in the stationary distribution, then the exact update
                    // x <- mean + (x - mean) e^{-dt/tau} + sigma sqrt(1 - e^{-2 dt/tau}) N(0, 1).
                    let start = Expr::bin(
                        Bin::Add,
                        mean.clone(),
                        Expr::bin(Bin::Mul, sigma.clone(), Expr::Rand(Dist::Normal, s)),
                    );
                    kernels.init.body.splice(
                        0..0,
                        [
                            Stmt::Store(x, start),
                            Stmt::Store(pv as VarId, Expr::Load(x)),
                        ],
                    );
                    let decay = Expr::Call(
                        Func::Exp,
                        vec![Expr::bin(
                            Bin::Div,
                            Expr::Un(Un::Neg, Box::new(Expr::Dt)),
                            tau.clone(),
                        )],
                    );
                    let decay2 = Expr::Call(
                        Func::Exp,
                        vec![Expr::bin(
                            Bin::Div,
                            Expr::bin(Bin::Mul, c(-2.0), Expr::Dt),
                            tau,
                        )],
                    );
                    let kick = Expr::bin(
                        Bin::Mul,
                        Expr::bin(
                            Bin::Mul,
                            sigma,
                            Expr::Call(Func::Sqrt, vec![Expr::bin(Bin::Sub, c(1.0), decay2)]),
                        ),
                        Expr::Rand(Dist::Normal, s_kick),
                    );
                    let next = Expr::bin(
                        Bin::Add,
                        Expr::bin(
                            Bin::Add,
                            mean.clone(),
                            Expr::bin(Bin::Mul, Expr::bin(Bin::Sub, Expr::Load(x), mean), decay),
                        ),
                        kick,
                    );
                    let keep_first = Expr::Select(
                        Box::new(Expr::bin(Bin::Eq, Expr::Time, c(0.0))),
                        Box::new(Expr::Load(x)),
                        Box::new(next),
                    );
                    kernels.drive.body.push(Stmt::Store(x, keep_first));
                    kernels
                        .drive
                        .body
                        .push(Stmt::Store(pv as VarId, Expr::Load(x)));
                    kernels.solver_notes.push(format!(
                        "`{param}` follows an Ornstein–Uhlenbeck process (exact update)"
                    ));
                }
                if let Some(pos) = &p.positions {
                    self.add_positions(&scope, pos, &mut vars, &mut kernels)?;
                }
                let held = match self.prog.item(id) {
                    Some(Item::Model(model)) => held_states(model, &vars),
                    _ => vec![],
                };
                pop_index.insert(p.name.node.clone(), layout.pops.len());
                let refractory_flag = vars
                    .iter()
                    .position(|v| v.name == REFRACTORY_VAR && v.role == VarRole::Internal);
                let internal = |name: &str| {
                    vars.iter()
                        .position(|v| v.name == name && v.role == VarRole::Internal)
                };
                let adaptive = match (
                    internal(RK45_VARS[1]),
                    internal(RK45_VARS[2]),
                    internal(RK45_VARS[3]),
                ) {
                    (Some(accepted), Some(rejected), Some(smallest)) => {
                        Some(circ_runtime::layout::AdaptiveVars {
                            accepted,
                            rejected,
                            smallest,
                        })
                    }
                    _ => None,
                };
                let dims = self.var_units(id, vars.iter().map(|v| v.name.as_str()));
                self.units.0.insert(layout.pops.len(), dims);
                layout.pops.push(PopLayout {
                    name: p.name.node.clone(),
                    model: p.model.node.clone(),
                    size: size as usize,
                    vars,
                    schedule: vec![],
                    schedule_source: None,
                    held,
                    poisson_rate: None,
                    // No draws of its own: its kernels' draws have theirs.
                    stream: 0,
                    rate_unit: kernels.threshold.is_none(),
                    refractory_flag,
                    adaptive,
                });
                pops.push(kernels);
            }
        }
        // Projections, once every population exists.
        let mut proj_index: HashMap<String, Vec<usize>> = HashMap::new();
        let mut projs: Vec<ProjKernels> = vec![];
        for m in &circuit.members {
            let CircuitMemberKind::Project(pr) = &m.node else {
                continue;
            };
            let scope = Scope {
                file,
                model: None,
                locals: cs_locals.clone(),
                pair: false,
            };
            let (line, col) = self.map.line_col(file, m.span.start);
            let fname = self
                .map
                .get(file)
                .map_or_else(String::new, |f| f.name.clone());
            let origin = format!("{fname}:{line}:{col}");
            for (src, src_sel) in pr.sources.iter().zip(&pr.source_sel) {
                for (tgt, tgt_sel) in pr.targets.iter().zip(&pr.target_sel) {
                    let (Some(&a), Some(&b)) = (pop_index.get(&src.node), pop_index.get(&tgt.node))
                    else {
                        continue;
                    };
                    let base = pr.name.as_ref().map_or_else(
                        || format!("{} -> {}", src.node, tgt.node),
                        |n| n.node.clone(),
                    );
                    let name = if pr.sources.len() * pr.targets.len() > 1 && pr.name.is_some() {
                        format!("{base}[{} -> {}]", src.node, tgt.node)
                    } else {
                        base
                    };
                    let pre_l = layout.pops[a].clone();
                    let post_l = layout.pops[b].clone();
                    let sels = (
                        self.subgroup(&scope, src_sel.as_ref(), pre_l.size),
                        self.subgroup(&scope, tgt_sel.as_ref(), post_l.size),
                    );
                    // What the circuit records of it (event-driven states
                    // are kept up to date every step when recorded).
                    let recorded: Vec<String> = circuit
                        .members
                        .iter()
                        .filter_map(|m| match &m.node {
                            CircuitMemberKind::Record(r) => Some(r),
                            _ => None,
                        })
                        .filter(|r| {
                            r.of.iter().any(|sel| {
                                pr.name.as_ref().is_some_and(|n| n.node == sel.name.node)
                            })
                        })
                        .map(|r| r.what.node.clone())
                        .collect();
                    let Some((pl, kernels)) = self.projection(
                        &scope,
                        module,
                        pr,
                        name,
                        origin.clone(),
                        (a, &pre_l),
                        (b, &post_l),
                        dt,
                        &modulators,
                        &recorded,
                        sels,
                    ) else {
                        continue;
                    };
                    if let Some(n) = &pr.name {
                        proj_index
                            .entry(n.node.clone())
                            .or_default()
                            .push(layout.projs.len());
                    }
                    let mut pl = pl;
                    pl.post_added = post_added(&pl, &kernels);
                    if let Some((mid, _)) = self.prog.resolve(module, &pr.model.node) {
                        let dims = self.var_units(mid, pl.vars.iter().map(|v| v.name.as_str()));
                        self.units.1.insert(layout.projs.len(), dims);
                    }
                    layout.projs.push(pl);
                    projs.push(kernels);
                }
            }
        }
        let (mut record_spans, mut prev_span): (Vec<Span>, Span) = (vec![], circuit.name.span);
        for m in &circuit.members {
            let CircuitMemberKind::Record(r) = &m.node else {
                continue;
            };
            let scope = Scope {
                file,
                model: None,
                locals: cs_locals.clone(),
                pair: false,
            };
            let Some(at) = self.sample_steps(&scope, &r.at, dt, duration) else {
                continue;
            };
            // The records made so far came from the member before.
            record_spans.resize(layout.records.len(), prev_span);
            prev_span = m.span;
            for sel in &r.of {
                if let Some(list) = proj_index.get(&sel.name.node) {
                    if r.what.node == "connectivity" {
                        for &k in list {
                            layout.records.push(Record {
                                pop: layout.projs[k].post,
                                kind: RecordKind::Connectivity { proj: k },
                                at: vec![],
                                prefix: String::new(),
                                unit: String::new(),
                            });
                        }
                        continue;
                    }
                    let every = r
                        .every
                        .as_ref()
                        .and_then(|e| self.expr(&scope, e))
                        .map(|e| sym::simplify(&e))
                        .map_or(1, |e| {
                            if let Expr::Const(v) = e {
                                (v / dt).round().max(1.0) as u64
                            } else {
                                1
                            }
                        });
                    for &k in list {
                        let Some(var) = layout.projs[k].vars.iter().position(|v| {
                            // Its own values: per synapse, per pre or
                            // post neuron, or one (a neuron's own
                            // variables are recorded from its population).
                            v.name == r.what.node
                                && matches!(
                                    v.space,
                                    Space::Syn | Space::PreState | Space::PostState | Space::Scalar
                                )
                        }) else {
                            self.unsupported(
                                file,
                                r.what.span,
                                &format!(
                                    "recording `{}` of a projection (not one of its variables)",
                                    r.what.node
                                ),
                                "record a per-synapse, pre or post state or a parameter of the synapse; record a neuron's variable from its population",
                            );
                            continue;
                        };
                        let (first, last) = match &sel.index {
                            None => (0, usize::MAX),
                            Some(ix) => match &ix.node {
                                ExprKind::Range(lo, hi) => (
                                    self.const_index(&scope, lo.as_deref()).unwrap_or(0),
                                    self.const_index(&scope, hi.as_deref())
                                        .unwrap_or(usize::MAX),
                                ),
                                _ => (0, usize::MAX),
                            },
                        };
                        layout.records.push(Record {
                            pop: layout.projs[k].post,
                            kind: RecordKind::Synapses {
                                proj: k,
                                var,
                                first,
                                last,
                                every,
                            },
                            at: at.clone(),
                            prefix: String::new(),
                            unit: String::new(),
                        });
                    }
                    continue;
                }
                let Some(&p) = pop_index.get(&sel.name.node) else {
                    continue;
                };
                let size = layout.pops[p].size;
                let (first, last) = match &sel.index {
                    None => (0, size),
                    Some(ix) => match &ix.node {
                        ExprKind::Range(lo, hi) => (
                            self.const_index(&scope, lo.as_deref()).unwrap_or(0),
                            self.const_index(&scope, hi.as_deref()).unwrap_or(size),
                        ),
                        _ => {
                            let i = self.const_index(&scope, Some(ix)).unwrap_or(0);
                            (i, i + 1)
                        }
                    },
                };
                if last > size || first >= last {
                    self.diags.push(Diagnostic::error(
                        "invalid-value",
                        format!(
                            "`{}` has {size} neurons, so it has no neurons {first}..{last}",
                            sel.name.node
                        ),
                        file,
                        sel.index.as_ref().map_or(sel.name.span, |i| i.span),
                        "out of range",
                    ));
                    continue;
                }
                let steps = |e: &Option<ast::Expr>, this: &mut Self| -> u64 {
                    e.as_ref()
                        .and_then(|e| this.expr(&scope, e))
                        .map(|e| sym::simplify(&e))
                        .map_or(1, |e| {
                            if let Expr::Const(v) = e {
                                (v / dt).round().max(1.0) as u64
                            } else {
                                1
                            }
                        })
                };
                let kind = match r.what.node.as_str() {
                    "spikes" => RecordKind::Spikes,
                    "rate" => RecordKind::Rate {
                        window: steps(&r.window, self),
                    },
                    var => {
                        let Some(v) = layout.pops[p].vars.iter().position(|x| x.name == var) else {
                            self.unsupported(
                                file,
                                r.what.span,
                                &format!("recording `{var}` (a `let`)"),
                                "record a state, parameter or input",
                            );
                            continue;
                        };
                        RecordKind::Var {
                            var: v,
                            first,
                            last,
                            every: steps(&r.every, self),
                        }
                    }
                };
                layout.records.push(Record {
                    pop: p,
                    kind,
                    at: at.clone(),
                    prefix: String::new(),
                    unit: String::new(),
                });
            }
        }
        record_spans.resize(layout.records.len(), prev_span);
        if self.final_state {
            final_state_records(&mut layout);
        }
        record_spans.resize(layout.records.len(), circuit.name.span);
        self.record_units(&mut layout);
        self.distinct_files(&layout, file, &record_spans);
        if !self.diags.is_empty() {
            return None;
        }
        uniform_synapse_params(&mut layout, &mut projs);
        inline_constant_params(&layout, &mut pops, &mut projs);
        for k in pops.iter_mut().flat_map(|p| {
            [&mut p.init, &mut p.dynamic, &mut p.drive, &mut p.update]
                .into_iter()
                .chain(p.threshold.as_mut())
                .chain(p.reset.as_mut())
        }) {
            fold_step_constants(&mut k.body, dt);
            shared_subexpressions(k);
        }
        for p in &mut projs {
            for k in p
                .init
                .iter_mut()
                .chain([&mut p.dynamic])
                .chain(&mut p.couple)
                .chain(&mut p.update)
                .chain(&mut p.on_pre)
                .chain(&mut p.on_post)
            {
                fold_step_constants(&mut k.body, dt);
                shared_subexpressions(k);
            }
        }
        layout.tables = std::mem::take(&mut self.tables);
        let net = Network {
            layout,
            pops,
            projs,
        };
        for (k, rec) in net.layout.records.iter().enumerate() {
            if let Some(what) = constant_recording(&net, rec) {
                self.warnings.push(
                    Diagnostic::warning(
                        "constant-recording",
                        format!("{what} never changes during the run, yet it is sampled periodically: every row of its file is the same"),
                        file,
                        record_spans.get(k).copied().unwrap_or_default(),
                        "a constant, recorded again and again",
                    )
                    .with_help("record it once: `at 0 ms`"),
                );
            }
        }
        Some(net)
    }
}

/// What `rec` records, named for a message, when it is sampled
/// periodically and no kernel but the initialisers (and a time-dependent
/// kernel that computes the same values every step) ever writes it.
fn constant_recording(net: &Network, rec: &Record) -> Option<String> {
    if !rec.at.is_empty() {
        return None;
    }
    let mut written: Vec<VarId> = vec![];
    let changing = |k: &&Kernel| !(k.domain == Domain::Once && circ_ir::step_invariant(k));
    match rec.kind {
        RecordKind::Var { var, .. } => {
            let pop = net.layout.pops.get(rec.pop)?;
            let v = pop.vars.get(var)?;
            if v.role == VarRole::Input {
                return None;
            }
            let kernels = net.pops.get(rec.pop)?;
            for k in [&kernels.dynamic, &kernels.drive, &kernels.update]
                .into_iter()
                .chain(kernels.threshold.as_ref())
                .chain(kernels.reset.as_ref())
                .filter(changing)
            {
                circ_ir::written_vars(&k.body, &mut written);
            }
            // Projections onto the population add to its variables.
            let from_projs = net
                .layout
                .projs
                .iter()
                .any(|p| p.post == rec.pop && p.post_added.contains(&var));
            (!written.contains(&(var as VarId)) && !from_projs)
                .then(|| format!("`{}` of `{}`", v.name, pop.name))
        }
        RecordKind::Synapses { proj, var, .. } => {
            let p = net.layout.projs.get(proj)?;
            let v = p.vars.get(var)?;
            let kernels = net.projs.get(proj)?;
            for k in std::iter::once(&kernels.dynamic)
                .chain(&kernels.couple)
                .chain(&kernels.update)
                .chain(&kernels.on_pre)
                .chain(&kernels.on_post)
                .filter(changing)
            {
                circ_ir::written_vars(&k.body, &mut written);
            }
            (!written.contains(&(var as VarId))).then(|| format!("`{}` of `{}`", v.name, p.name))
        }
        _ => None,
    }
}

/// Writes constant scalar parameters into the kernels that read them: a
/// parameter its time-dependent kernel sets to one constant and nothing else
/// writes holds that constant all run long, so reading it is the constant
/// (folded with its neighbours by `simplify`, as every lowered expression
/// is). The variables stay, for recorders and views.
fn inline_constant_params(
    layout: &circ_runtime::layout::NetLayout,
    pops: &mut [PopKernels],
    projs: &mut [ProjKernels],
) {
    use circ_runtime::layout::VarRole;
    // The constants a `Once` kernel stores, of variables nothing else writes.
    fn constants<'k>(
        setters: &[&Kernel],
        others: impl Iterator<Item = &'k Kernel>,
        scalar_param: &dyn Fn(VarId) -> bool,
    ) -> HashMap<VarId, f64> {
        let mut written = vec![];
        for k in others {
            circ_ir::written_vars(&k.body, &mut written);
        }
        let mut out: HashMap<VarId, Option<f64>> = HashMap::new();
        for k in setters {
            let mut all = vec![];
            circ_ir::written_vars(&k.body, &mut all);
            for st in &k.body {
                if let Stmt::Store(v, e) = st
                    && scalar_param(*v)
                    && !written.contains(v)
                    && all.iter().filter(|x| *x == v).count() == 1
                {
                    let value = match sym::simplify(e) {
                        Expr::Const(x) => Some(x),
                        _ => None,
                    };
                    // Every setter must store the same constant.
                    let entry = out.entry(*v).or_insert(value);
                    if *entry != value || value.is_none() {
                        *entry = None;
                    }
                }
            }
            for v in all {
                if !k
                    .body
                    .iter()
                    .any(|st| matches!(st, Stmt::Store(x, _) if *x == v))
                {
                    out.insert(v, None);
                }
            }
        }
        out.into_iter().filter_map(|(v, x)| Some((v, x?))).collect()
    }
    fn rewrite(body: &mut [Stmt], value: &dyn Fn(VarId) -> Option<f64>) {
        let sub = |e: &Expr| sym::simplify(&sym::subst(e, &|v| value(v).map(c), None));
        for st in body {
            match st {
                Stmt::Let(_, e) | Stmt::Spike(e) | Stmt::SetRefractory(e) => *e = sub(e),
                Stmt::Store(_, e) | Stmt::AddTo(_, e) => *e = sub(e),
                Stmt::If(cond, a, b) => {
                    *cond = sub(cond);
                    rewrite(a, value);
                    rewrite(b, value);
                }
                Stmt::While(cond, a) => {
                    *cond = sub(cond);
                    rewrite(a, value);
                }
            }
        }
    }
    let mut pop_consts: Vec<HashMap<VarId, f64>> = vec![];
    for (pl, k) in layout.pops.iter().zip(pops.iter_mut()) {
        let scalar_param = |v: VarId| {
            pl.vars
                .get(v as usize)
                .is_some_and(|x| x.scalar && x.role == VarRole::Param)
        };
        let others = [&k.init, &k.drive, &k.update]
            .into_iter()
            .chain(k.threshold.as_ref())
            .chain(k.reset.as_ref());
        let consts = constants(&[&k.dynamic], others, &scalar_param);
        let value = |v: VarId| consts.get(&v).copied();
        for kernel in [&mut k.init, &mut k.drive, &mut k.update]
            .into_iter()
            .chain(k.threshold.as_mut())
            .chain(k.reset.as_mut())
        {
            rewrite(&mut kernel.body, &value);
        }
        pop_consts.push(consts);
    }
    for (pl, k) in layout.projs.iter().zip(projs.iter_mut()) {
        let scalar_param = |v: VarId| {
            pl.vars
                .get(v as usize)
                .is_some_and(|x| x.space == Space::Scalar && x.role == VarRole::Param)
        };
        let setters: Vec<&Kernel> = k
            .init
            .iter()
            .filter(|x| x.domain == Domain::Once)
            .chain([&k.dynamic])
            .collect();
        let others = k
            .init
            .iter()
            .filter(|x| x.domain != Domain::Once)
            .chain(&k.couple)
            .chain(&k.update)
            .chain(&k.on_pre)
            .chain(&k.on_post);
        let own = constants(&setters, others, &scalar_param);
        // Views of the two populations' constant parameters too.
        let value = |v: VarId| match pl.vars.get(v as usize).map(|x| x.space) {
            Some(Space::PreNeuron(pv)) => pop_consts.get(pl.pre)?.get(&(pv as VarId)).copied(),
            Some(Space::PostNeuron(pv)) => pop_consts.get(pl.post)?.get(&(pv as VarId)).copied(),
            _ => own.get(&v).copied(),
        };
        for kernel in k
            .init
            .iter_mut()
            .filter(|x| x.domain != Domain::Once)
            .chain(&mut k.couple)
            .chain(&mut k.update)
            .chain(&mut k.on_pre)
            .chain(&mut k.on_post)
        {
            rewrite(&mut kernel.body, &value);
        }
    }
}

/// Makes a per-synapse parameter one value when every synapse gets the same
/// constant (`w = 6 nS`): it is stored once instead of per synapse and read
/// from a register instead of memory, as Brian2 and NEST treat a constant
/// weight. It stays per synapse when a file column sets it, a recorder
/// samples it, or a kernel other than its initialiser writes it.
fn uniform_synapse_params(layout: &mut circ_runtime::layout::NetLayout, projs: &mut [ProjKernels]) {
    use circ_runtime::layout::{Connect, RecordKind, VarRole};
    for (k, (pl, kernels)) in layout.projs.iter_mut().zip(projs.iter_mut()).enumerate() {
        let Some(syn_init) = kernels
            .init
            .iter()
            .position(|x| x.domain == Domain::Synapses)
        else {
            continue;
        };
        let Some(scalar_init) = kernels.init.iter().position(|x| x.domain == Domain::Once) else {
            continue;
        };
        for v in 0..pl.vars.len() {
            if pl.vars[v].space != Space::Syn || pl.vars[v].role != VarRole::Param {
                continue;
            }
            let from_file = matches!(&pl.connect, Connect::File { columns, .. }
                if columns.iter().any(|(_, c)| *c == v));
            let recorded = layout.records.iter().any(|r| {
                matches!(r.kind, RecordKind::Synapses { proj, var, .. } if proj == k && var == v)
            });
            if from_file || pl.delay_var == Some(v) || recorded {
                continue;
            }
            // Its initialiser's one store must be a constant, and nothing
            // else may write it.
            let body = &kernels.init[syn_init].body;
            let stores: Vec<usize> = body
                .iter()
                .enumerate()
                .filter(|(_, st)| matches!(st, Stmt::Store(x, _) | Stmt::AddTo(x, _) if *x as usize == v))
                .map(|(i, _)| i)
                .collect();
            let [at] = stores[..] else { continue };
            let Stmt::Store(_, Expr::Const(value)) = body[at] else {
                continue;
            };
            let mut written = vec![];
            for kernel in kernels
                .init
                .iter()
                .enumerate()
                .filter(|(n, _)| *n != syn_init)
                .map(|(_, x)| x)
                .chain([&kernels.dynamic])
                .chain(&kernels.couple)
                .chain(&kernels.update)
                .chain(&kernels.on_pre)
                .chain(&kernels.on_post)
            {
                circ_ir::written_vars(&kernel.body, &mut written);
            }
            let mut in_init = vec![];
            circ_ir::written_vars(body, &mut in_init);
            if written.contains(&(v as VarId))
                || in_init.iter().filter(|x| **x as usize == v).count() != 1
            {
                continue;
            }
            kernels.init[syn_init].body.remove(at);
            kernels.init[scalar_init]
                .body
                .push(Stmt::Store(v as VarId, Expr::Const(value)));
            pl.vars[v].space = Space::Scalar;
        }
    }
}

/// Orders `(var, value, scalar)` so that every value comes after the values
/// it reads (declaration order where there is a choice).
fn topo(items: &[(VarId, Expr, bool)]) -> Vec<(VarId, Expr, bool)> {
    let mut done: Vec<VarId> = vec![];
    let mut out = vec![];
    let mut left: Vec<&(VarId, Expr, bool)> = items.iter().collect();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|(v, e, s)| {
            let ready = !sym::depends(e, &|w| {
                w != *v && items.iter().any(|x| x.0 == w) && !done.contains(&w)
            });
            if ready {
                done.push(*v);
                out.push((*v, e.clone(), *s));
            }
            !ready
        });
        if left.len() == before {
            // A cycle (sema reports those): keep declaration order.
            out.extend(left.drain(..).cloned());
        }
    }
    out
}

fn applicability(m: Method, class: &Class, noise: bool) -> Option<String> {
    if noise && m != Method::EulerMaruyama {
        return Some("the equations have noise, which only euler_maruyama integrates".into());
    }
    match (m, class) {
        (Method::Exact, Class::ConditionallyLinear { why }) => Some(format!(
            "they are not linear with constant coefficients ({why})"
        )),
        (Method::Exact, Class::Nonlinear { why })
        | (Method::ExponentialEuler, Class::Nonlinear { why }) => {
            Some(format!("they are nonlinear ({why})"))
        }
        _ => None,
    }
}

/// The postsynaptic variables a projection's kernels write (always through
/// additions the runtime accumulates).
fn post_added(pl: &circ_runtime::layout::ProjLayout, k: &circ_ir::ProjKernels) -> Vec<usize> {
    let mut written = vec![];
    for kernel in k
        .init
        .iter()
        .chain(std::iter::once(&k.dynamic))
        .chain(&k.couple)
        .chain(&k.update)
        .chain(&k.on_pre)
        .chain(&k.on_post)
    {
        circ_ir::written_vars(&kernel.body, &mut written);
    }
    let mut out: Vec<usize> = written
        .into_iter()
        .filter_map(|v| match pl.vars.get(v as usize).map(|x| x.space) {
            Some(Space::PostNeuron(pv)) => Some(pv),
            _ => None,
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The positions in `vars` of the states `model` holds while refractory.
fn held_states(model: &ast::ModelItem, vars: &[VarLayout]) -> Vec<usize> {
    model
        .members
        .iter()
        .filter_map(|m| match &m.node {
            MemberKind::Ode {
                var,
                unless_refractory: Some(_),
                ..
            } => vars
                .iter()
                .position(|v| v.name == var.node && v.role == VarRole::State),
            _ => None,
        })
        .collect()
}

/// Writes the run's time step into `body` and folds what becomes constant:
/// `dt` is fixed for a run (an executable refuses another), so an
/// exponential-Euler factor such as `exp(-dt / tau)` of constant `tau` is
/// computed once here, by the same `exp` the backends use, instead of at
/// every step. Temporaries bound to constants (outside conditionals) are
/// substituted too.
fn fold_step_constants(body: &mut [Stmt], dt: f64) {
    fn fold(e: &Expr, dt: f64, temps: &HashMap<u32, f64>) -> Expr {
        match e {
            Expr::Dt => c(dt),
            Expr::Temp(t) => temps.get(t).map_or_else(|| e.clone(), |&x| c(x)),
            Expr::Un(op, a) => Expr::Un(*op, Box::new(fold(a, dt, temps))),
            Expr::Bin(op, a, b) => Expr::bin(*op, fold(a, dt, temps), fold(b, dt, temps)),
            Expr::Call(f, args) => {
                Expr::Call(*f, args.iter().map(|a| fold(a, dt, temps)).collect())
            }
            Expr::Select(k, a, b) => Expr::Select(
                Box::new(fold(k, dt, temps)),
                Box::new(fold(a, dt, temps)),
                Box::new(fold(b, dt, temps)),
            ),
            Expr::Table(t, a) => Expr::Table(*t, Box::new(fold(a, dt, temps))),
            other => other.clone(),
        }
    }
    fn walk(body: &mut [Stmt], dt: f64, temps: &mut HashMap<u32, f64>, top: bool) {
        for st in body {
            match st {
                Stmt::Let(t, e) => {
                    *e = sym::simplify(&fold(e, dt, temps));
                    match (top, &*e) {
                        (true, Expr::Const(x)) => {
                            temps.insert(*t, *x);
                        }
                        _ => {
                            temps.remove(t);
                        }
                    }
                }
                Stmt::Store(_, e) | Stmt::AddTo(_, e) | Stmt::Spike(e) | Stmt::SetRefractory(e) => {
                    *e = sym::simplify(&fold(e, dt, temps))
                }
                Stmt::If(cond, a, b) => {
                    *cond = sym::simplify(&fold(cond, dt, temps));
                    walk(a, dt, temps, false);
                    walk(b, dt, temps, false);
                }
                Stmt::While(cond, a) => {
                    // A temporary the loop sets is not a constant anywhere
                    // in it (the condition reads it on the next pass too).
                    fn lets(body: &[Stmt], out: &mut Vec<u32>) {
                        for st in body {
                            match st {
                                Stmt::Let(t, _) => out.push(*t),
                                Stmt::If(_, a, b) => {
                                    lets(a, out);
                                    lets(b, out);
                                }
                                Stmt::While(_, a) => lets(a, out),
                                _ => {}
                            }
                        }
                    }
                    let mut set = vec![];
                    lets(a, &mut set);
                    for t in set {
                        temps.remove(&t);
                    }
                    *cond = sym::simplify(&fold(cond, dt, temps));
                    walk(a, dt, temps, false);
                }
            }
        }
    }
    walk(body, dt, &mut HashMap::new(), true);
}
