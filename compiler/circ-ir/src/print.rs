//! The text form of the IR, for `circ run --emit ir`, `.ir` test files and
//! the fuzzer: everything a `Network` holds, so that [`crate::parse`] reads
//! it back to the same network. Kernels are written as readable statements;
//! the layout's data (connection rules, files, recorders) as JSON.

use crate::{Bin, Domain, Expr, Func, Kernel, Network, Space, Stmt, Un};
use std::fmt::Write as _;

/// Prints a whole network.
pub fn print(net: &Network) -> String {
    let mut out = String::new();
    for (col, used) in &net.layout.tables {
        let _ = writeln!(out, "table {} {}", json(col), json(used));
    }
    for (pop, k) in net.layout.pops.iter().zip(&net.pops) {
        let _ = writeln!(
            out,
            "population {} = {}[{}]",
            json(&pop.name),
            json(&pop.model),
            pop.size
        );
        if pop.stream != 0 {
            let _ = writeln!(out, "  stream {}", pop.stream);
        }
        if pop.rate_unit {
            let _ = writeln!(out, "  rate_unit");
        }
        if let Some(f) = pop.refractory_flag {
            let _ = writeln!(out, "  refractory_flag %{f}");
        }
        if let Some(a) = pop.adaptive {
            let _ = writeln!(
                out,
                "  adaptive %{} %{} %{}",
                a.accepted, a.rejected, a.smallest
            );
        }
        if let Some(r) = pop.poisson_rate {
            let _ = writeln!(out, "  poisson_rate {r:e}");
        }
        if !pop.held.is_empty() {
            let _ = writeln!(out, "  held {}", json(&pop.held));
        }
        if !pop.schedule.is_empty() {
            let _ = writeln!(out, "  schedule {}", json(&pop.schedule));
        }
        if let Some(s) = &pop.schedule_source {
            let _ = writeln!(out, "  schedule_source {}", json(s));
        }
        for (i, v) in pop.vars.iter().enumerate() {
            let _ = writeln!(
                out,
                "  var %{i} {}: {:?}{}",
                json(&v.name),
                v.role,
                if v.scalar { ", scalar" } else { "" }
            );
        }
        for note in &k.solver_notes {
            let _ = writeln!(out, "  ; solver: {note}");
        }
        let names = names(pop.vars.iter().map(|v| v.name.as_str()));
        for (phase, kernel) in [
            ("init", Some(&k.init)),
            ("dynamic", Some(&k.dynamic)),
            ("drive", Some(&k.drive)),
            ("update", Some(&k.update)),
            ("threshold", k.threshold.as_ref()),
            ("reset", k.reset.as_ref()),
        ] {
            if let Some(kernel) = kernel {
                print_kernel(&mut out, &names, phase, kernel);
            }
        }
    }
    for (proj, k) in net.layout.projs.iter().zip(&net.projs) {
        let pop_name = |p: usize| net.layout.pops.get(p).map_or("?", |p| p.name.as_str());
        let _ = writeln!(
            out,
            "projection {}: {} -> {}",
            json(&proj.name),
            json(pop_name(proj.pre)),
            json(pop_name(proj.post))
        );
        let _ = writeln!(out, "  origin {}", json(&proj.origin));
        let _ = writeln!(out, "  connect {}", json(&proj.connect));
        if proj.autapses {
            let _ = writeln!(out, "  autapses");
        }
        if proj.filtered {
            let _ = writeln!(out, "  filtered");
        }
        if let Some(d) = proj.delay_var {
            let _ = writeln!(out, "  delay %{d}");
        }
        if let Some(b) = proj.delay_bound {
            let _ = writeln!(out, "  delay_bound {}", json(&b));
        }
        if proj.on_post_delay != 0.0 {
            let _ = writeln!(out, "  on_post_delay {}", json(&proj.on_post_delay));
        }
        if !proj.post_added.is_empty() {
            let _ = writeln!(out, "  post_added {}", json(&proj.post_added));
        }
        if proj.stream != 0 {
            let _ = writeln!(out, "  stream {}", proj.stream);
        }
        if let Some(sel) = &proj.pre_sel {
            let _ = writeln!(out, "  pre_sel {}", json(sel));
        }
        if let Some(sel) = &proj.post_sel {
            let _ = writeln!(out, "  post_sel {}", json(sel));
        }
        for (i, v) in proj.vars.iter().enumerate() {
            let space = match v.space {
                Space::PreNeuron(k) => format!("PreNeuron({k})"),
                Space::PostNeuron(k) => format!("PostNeuron({k})"),
                s => format!("{s:?}"),
            };
            let _ = writeln!(out, "  var %{i} {}: {:?} {space}", json(&v.name), v.role);
        }
        for note in &k.solver_notes {
            let _ = writeln!(out, "  ; solver: {note}");
        }
        let names = names(proj.vars.iter().map(|v| v.name.as_str()));
        if let Some(f) = &k.filter {
            let _ = writeln!(out, "  where {}", expr(&names, f));
        }
        let lists: [(&str, &[Kernel]); 6] = [
            ("init", &k.init),
            ("dynamic", std::slice::from_ref(&k.dynamic)),
            ("couple", &k.couple),
            ("update", &k.update),
            ("on_pre", &k.on_pre),
            ("on_post", &k.on_post),
        ];
        for (phase, kernels) in lists {
            for kernel in kernels {
                print_kernel(&mut out, &names, phase, kernel);
            }
        }
    }
    for r in &net.layout.records {
        let _ = writeln!(out, "record {}", json(r));
    }
    out
}

/// One line of JSON (exact for floats: serde_json round-trips them).
fn json<T: serde::Serialize + ?Sized>(x: &T) -> String {
    serde_json::to_string(x).unwrap_or_else(|e| format!("\"<{e}>\""))
}

/// Words an expression gives a meaning of its own (a variable so named is
/// written `%N`).
pub(crate) const RESERVED: [&str; 15] = [
    "t",
    "dt",
    "index",
    "i",
    "j",
    "refractory",
    "not",
    "select",
    "min",
    "max",
    "and",
    "or",
    "table",
    "uniform",
    "normal",
];

/// How kernels name each variable: its name when that reads back
/// unambiguously, else `%N`.
fn names<'a>(vars: impl Iterator<Item = &'a str>) -> Vec<String> {
    let all: Vec<&str> = vars.collect();
    all.iter()
        .enumerate()
        .map(|(k, n)| {
            let ident = n
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            let taken = RESERVED.contains(n)
                || Func::ALL.iter().any(|f| f.name() == *n)
                || all.iter().filter(|m| *m == n).count() > 1;
            if ident && !taken {
                (*n).to_string()
            } else {
                format!("%{k}")
            }
        })
        .collect()
}

/// The domain's name in the text form.
pub(crate) fn domain_name(d: Domain) -> &'static str {
    match d {
        Domain::Once => "once",
        Domain::Each => "each",
        Domain::Spiking => "spiking",
        Domain::PreNeurons => "pre neurons",
        Domain::PostNeurons => "post neurons",
        Domain::Synapses => "synapses",
        Domain::SpikingPre => "spiking pre",
        Domain::Arriving => "arriving",
        Domain::SpikingPost => "spiking post",
        Domain::PostSpikeSynapses => "synapses of spiking post",
    }
}

fn print_kernel(out: &mut String, names: &[String], phase: &str, k: &Kernel) {
    let name = if k.name == phase {
        String::new()
    } else {
        format!(" {}", json(&k.name))
    };
    let head = format!(
        "  kernel {phase}{name} ({}, {} temps)",
        domain_name(k.domain),
        k.temps
    );
    if k.body.is_empty() {
        let _ = writeln!(out, "{head} {{}}");
        return;
    }
    let _ = writeln!(out, "{head} {{");
    stmts(out, names, &k.body, 2);
    let _ = writeln!(out, "  }}");
}

fn var(names: &[String], v: u32) -> String {
    names
        .get(v as usize)
        .cloned()
        .unwrap_or_else(|| format!("%{v}"))
}

fn stmts(out: &mut String, names: &[String], body: &[Stmt], depth: usize) {
    let pad = "  ".repeat(depth);
    for s in body {
        match s {
            Stmt::Let(t, e) => {
                let _ = writeln!(out, "{pad}$t{t} = {}", expr(names, e));
            }
            Stmt::Store(v, e) => {
                let _ = writeln!(out, "{pad}{} <- {}", var(names, *v), expr(names, e));
            }
            Stmt::AddTo(v, e) => {
                let _ = writeln!(
                    out,
                    "{pad}{} += {}  ; scatter-add",
                    var(names, *v),
                    expr(names, e)
                );
            }
            Stmt::If(c, a, b) => {
                let _ = writeln!(out, "{pad}if {} {{", expr(names, c));
                stmts(out, names, a, depth + 1);
                if !b.is_empty() {
                    let _ = writeln!(out, "{pad}}} else {{");
                    stmts(out, names, b, depth + 1);
                }
                let _ = writeln!(out, "{pad}}}");
            }
            Stmt::While(c, a) => {
                let _ = writeln!(out, "{pad}while {} {{", expr(names, c));
                stmts(out, names, a, depth + 1);
                let _ = writeln!(out, "{pad}}}");
            }
            Stmt::Spike(c) => {
                let _ = writeln!(out, "{pad}spike if {}", expr(names, c));
            }
            Stmt::SetRefractory(e) => {
                let _ = writeln!(out, "{pad}refractory {}", expr(names, e));
            }
        }
    }
}

/// The operator's symbol between its operands (`None`: written as a call).
pub(crate) fn bin_symbol(op: Bin) -> Option<&'static str> {
    Some(match op {
        Bin::Add => "+",
        Bin::Sub => "-",
        Bin::Mul => "*",
        Bin::Div => "/",
        Bin::Rem => "%",
        Bin::Pow => "^",
        Bin::Lt => "<",
        Bin::Le => "<=",
        Bin::Gt => ">",
        Bin::Ge => ">=",
        Bin::Eq => "==",
        Bin::Ne => "!=",
        Bin::And => "and",
        Bin::Or => "or",
        Bin::Min | Bin::Max => return None,
    })
}

/// Prints one expression (variables by name). Constants are written with
/// the fewest digits that read back to the same double (`-7e-2`, `NaN`,
/// `inf`, `-0e0`).
pub fn expr(names: &[String], e: &Expr) -> String {
    match e {
        Expr::Const(c) => format!("{c:e}"),
        Expr::Load(v) => var(names, *v),
        Expr::Temp(t) => format!("$t{t}"),
        Expr::Time => "t".into(),
        Expr::Dt => "dt".into(),
        Expr::Index => "index".into(),
        Expr::PreIndex => "i".into(),
        Expr::PostIndex => "j".into(),
        Expr::Refractory => "refractory".into(),
        Expr::Un(Un::Neg, a) => format!("-({})", expr(names, a)),
        Expr::Un(Un::Not, a) => format!("not({})", expr(names, a)),
        Expr::Bin(op, a, b) => match bin_symbol(*op) {
            Some(sym) => format!("({} {sym} {})", expr(names, a), expr(names, b)),
            None => format!(
                "{}({}, {})",
                if *op == Bin::Min { "min" } else { "max" },
                expr(names, a),
                expr(names, b)
            ),
        },
        Expr::Call(f, args) => format!(
            "{}({})",
            f.name(),
            args.iter()
                .map(|a| expr(names, a))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Expr::Select(c, a, b) => format!(
            "select({}, {}, {})",
            expr(names, c),
            expr(names, a),
            expr(names, b)
        ),
        Expr::Rand(d, s) => format!("{}#{s}()", format!("{d:?}").to_lowercase()),
        Expr::Table(t, a) => format!("table#{t}[{}]", expr(names, a)),
    }
}
