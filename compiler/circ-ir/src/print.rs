//! The text form of the IR, for `circ run --emit ir` and tests.

use crate::{Bin, Domain, Expr, Kernel, Network, PopKernels, Stmt, Un};
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
        for note in &k.solver_notes {
            let _ = writeln!(out, "  ; solver: {note}");
        }
        print_kernels(&mut out, pop, k);
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

fn print_kernels(out: &mut String, pop: &crate::PopLayout, k: &PopKernels) {
    for kernel in [
        Some(&k.init),
        Some(&k.dynamic),
        Some(&k.update),
        k.threshold.as_ref(),
        k.reset.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        if kernel.body.is_empty() {
            continue;
        }
        print_kernel(out, pop, kernel);
    }
}

fn print_kernel(out: &mut String, pop: &crate::PopLayout, k: &Kernel) {
    let domain = match k.domain {
        Domain::Once => "once",
        Domain::Each => "each",
        Domain::Spiking => "spiking",
    };
    let _ = writeln!(out, "  kernel {} ({domain}, {} temps) {{", k.name, k.temps);
    stmts(out, pop, &k.body, 2);
    let _ = writeln!(out, "  }}");
}

fn stmts(out: &mut String, pop: &crate::PopLayout, body: &[Stmt], depth: usize) {
    let pad = "  ".repeat(depth);
    for s in body {
        match s {
            Stmt::Let(t, e) => {
                let _ = writeln!(out, "{pad}$t{t} = {}", expr(pop, e));
            }
            Stmt::Store(v, e) => {
                let name = pop.vars.get(*v as usize).map_or("?", |x| x.name.as_str());
                let _ = writeln!(out, "{pad}{name} <- {}", expr(pop, e));
            }
            Stmt::If(c, a, b) => {
                let _ = writeln!(out, "{pad}if {} {{", expr(pop, c));
                stmts(out, pop, a, depth + 1);
                if !b.is_empty() {
                    let _ = writeln!(out, "{pad}}} else {{");
                    stmts(out, pop, b, depth + 1);
                }
                let _ = writeln!(out, "{pad}}}");
            }
            Stmt::Spike(c) => {
                let _ = writeln!(out, "{pad}spike if {}", expr(pop, c));
            }
            Stmt::SetRefractory(e) => {
                let _ = writeln!(out, "{pad}refractory {}", expr(pop, e));
            }
        }
    }
}

/// Prints one expression (variables by name).
pub fn expr(pop: &crate::PopLayout, e: &Expr) -> String {
    match e {
        Expr::Const(c) => format!("{c:e}"),
        Expr::Load(v) => pop
            .vars
            .get(*v as usize)
            .map_or_else(|| format!("%{v}"), |x| x.name.clone()),
        Expr::Temp(t) => format!("$t{t}"),
        Expr::Time => "t".into(),
        Expr::Dt => "dt".into(),
        Expr::Index => "i".into(),
        Expr::Refractory => "refractory".into(),
        Expr::Un(Un::Neg, a) => format!("-({})", expr(pop, a)),
        Expr::Un(Un::Not, a) => format!("not({})", expr(pop, a)),
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
                Bin::Min => return format!("min({}, {})", expr(pop, a), expr(pop, b)),
                Bin::Max => return format!("max({}, {})", expr(pop, a), expr(pop, b)),
            };
            format!("({} {sym} {})", expr(pop, a), expr(pop, b))
        }
        Expr::Call(f, args) => format!(
            "{}({})",
            format!("{f:?}").to_lowercase(),
            args.iter()
                .map(|a| expr(pop, a))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Expr::Select(c, a, b) => format!(
            "select({}, {}, {})",
            expr(pop, c),
            expr(pop, a),
            expr(pop, b)
        ),
        Expr::Rand(d, s) => format!("{}#{s}()", format!("{d:?}").to_lowercase()),
    }
}
