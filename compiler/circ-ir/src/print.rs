//! The text form of the IR, for `circ run --emit ir` and tests.

use crate::{Bin, Domain, Expr, Kernel, Network, Stmt, Un};
use std::fmt::Write as _;

/// Prints a whole network.
pub fn print(net: &Network) -> String {
    let mut out = String::new();
    for (pop, k) in net.layout.pops.iter().zip(&net.pops) {
        let _ = writeln!(out, "population {} = {}[{}]", pop.name, pop.model, pop.size);
        for (i, v) in pop.vars.iter().enumerate() {
            let _ = writeln!(
                out,
                "  var %{i} {}: {:?}{}",
                v.name,
                v.role,
                if v.scalar { ", scalar" } else { "" }
            );
        }
        if !pop.schedule.is_empty() {
            let _ = writeln!(
                out,
                "  schedule: {} spikes given in advance",
                pop.schedule.len()
            );
        }
        for note in &k.solver_notes {
            let _ = writeln!(out, "  ; solver: {note}");
        }
        let names: Vec<String> = pop.vars.iter().map(|v| v.name.clone()).collect();
        for kernel in [
            Some(&k.init),
            Some(&k.dynamic),
            Some(&k.drive),
            Some(&k.update),
            k.threshold.as_ref(),
            k.reset.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            print_kernel(&mut out, &names, kernel);
        }
    }
    for (proj, k) in net.layout.projs.iter().zip(&net.projs) {
        let _ = writeln!(
            out,
            "projection {} ({}): {:?}",
            proj.name, proj.origin, proj.connect
        );
        for (i, v) in proj.vars.iter().enumerate() {
            let _ = writeln!(out, "  var %{i} {}: {:?} {:?}", v.name, v.role, v.space);
        }
        for note in &k.solver_notes {
            let _ = writeln!(out, "  ; solver: {note}");
        }
        let names: Vec<String> = proj.vars.iter().map(|v| v.name.clone()).collect();
        if let Some(f) = &k.filter {
            let _ = writeln!(out, "  where {}", expr(&names, f));
        }
        for kernel in k
            .init
            .iter()
            .chain([&k.dynamic])
            .chain(&k.couple)
            .chain(&k.update)
            .chain(&k.on_pre)
            .chain(&k.on_post)
        {
            print_kernel(&mut out, &names, kernel);
        }
    }
    for r in &net.layout.records {
        let _ = writeln!(
            out,
            "record {:?} of {}",
            r.kind,
            net.layout.pops.get(r.pop).map_or("?", |p| p.name.as_str())
        );
    }
    out
}

fn print_kernel(out: &mut String, names: &[String], k: &Kernel) {
    if k.body.is_empty() {
        return;
    }
    let domain = match k.domain {
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
    };
    let _ = writeln!(out, "  kernel {} ({domain}, {} temps) {{", k.name, k.temps);
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
            Stmt::Spike(c) => {
                let _ = writeln!(out, "{pad}spike if {}", expr(names, c));
            }
            Stmt::SetRefractory(e) => {
                let _ = writeln!(out, "{pad}refractory {}", expr(names, e));
            }
        }
    }
}

/// Prints one expression (variables by name).
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
        Expr::Bin(op, a, b) => {
            let sym = match op {
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
                Bin::Min => return format!("min({}, {})", expr(names, a), expr(names, b)),
                Bin::Max => return format!("max({}, {})", expr(names, a), expr(names, b)),
            };
            format!("({} {sym} {})", expr(names, a), expr(names, b))
        }
        Expr::Call(f, args) => format!(
            "{}({})",
            format!("{f:?}").to_lowercase(),
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
