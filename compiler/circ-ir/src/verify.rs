//! The IR verifier: run after lowering (and after every later pass) in debug
//! and test builds, so a malformed kernel is caught where it was made.

use crate::{Domain, Expr, Kernel, Network, Stmt};

/// What is wrong with a kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyError {
    /// Population.
    pub pop: String,
    /// Kernel.
    pub kernel: String,
    /// The problem.
    pub message: String,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "IR verifier: population `{}`, kernel `{}`: {}",
            self.pop, self.kernel, self.message
        )
    }
}

/// Checks every kernel: variables exist, temporaries are assigned before
/// use and within bounds, element-dependent reads stay out of `Once`
/// kernels, `Spike` only in threshold kernels, `SetRefractory` only in resets.
pub fn verify(net: &Network) -> Result<(), VerifyError> {
    if net.layout.pops.len() != net.pops.len() {
        return Err(VerifyError {
            pop: String::new(),
            kernel: String::new(),
            message: "layout and kernels disagree on the number of populations".into(),
        });
    }
    for (pop, k) in net.layout.pops.iter().zip(&net.pops) {
        let err = |kernel: &Kernel, message: String| VerifyError {
            pop: pop.name.clone(),
            kernel: kernel.name.clone(),
            message,
        };
        let kernels: [(Option<&Kernel>, &str); 5] = [
            (Some(&k.init), "init"),
            (Some(&k.dynamic), "dynamic"),
            (Some(&k.update), "update"),
            (k.threshold.as_ref(), "threshold"),
            (k.reset.as_ref(), "reset"),
        ];
        for (kernel, role) in kernels {
            let Some(kernel) = kernel else { continue };
            let want = match role {
                "dynamic" => Domain::Once,
                "reset" => Domain::Spiking,
                _ => Domain::Each,
            };
            if kernel.domain != want && !kernel.body.is_empty() {
                return Err(err(
                    kernel,
                    format!(
                        "a {role} kernel must run over {want:?}, not {:?}",
                        kernel.domain
                    ),
                ));
            }
            let mut defined = vec![false; kernel.temps as usize];
            check_stmts(&kernel.body, kernel, pop, role, &mut defined)
                .map_err(|m| err(kernel, m))?;
        }
    }
    Ok(())
}

fn check_stmts(
    body: &[Stmt],
    k: &Kernel,
    pop: &crate::PopLayout,
    role: &str,
    defined: &mut [bool],
) -> Result<(), String> {
    for s in body {
        match s {
            Stmt::Let(t, e) => {
                check_expr(e, k, pop, defined)?;
                let slot = defined.get_mut(*t as usize).ok_or_else(|| {
                    format!("temporary $t{t} beyond the kernel's {} temps", k.temps)
                })?;
                *slot = true;
            }
            Stmt::Store(v, e) => {
                check_expr(e, k, pop, defined)?;
                let var = pop
                    .vars
                    .get(*v as usize)
                    .ok_or_else(|| format!("store to unknown variable %{v}"))?;
                if k.domain == Domain::Once && !var.scalar {
                    return Err(format!(
                        "a once-kernel stores to the per-element variable `{}`",
                        var.name
                    ));
                }
            }
            Stmt::If(c, a, b) => {
                check_expr(c, k, pop, defined)?;
                // Temporaries defined in one branch only are not defined after it.
                let mut da = defined.to_vec();
                check_stmts(a, k, pop, role, &mut da)?;
                let mut db = defined.to_vec();
                check_stmts(b, k, pop, role, &mut db)?;
                for (i, d) in defined.iter_mut().enumerate() {
                    *d = da[i] && db[i];
                }
            }
            Stmt::Spike(c) => {
                if role != "threshold" {
                    return Err("`spike` outside a threshold kernel".into());
                }
                check_expr(c, k, pop, defined)?;
            }
            Stmt::SetRefractory(e) => {
                if role != "reset" {
                    return Err("`refractory` outside a reset kernel".into());
                }
                check_expr(e, k, pop, defined)?;
            }
        }
    }
    Ok(())
}

fn check_expr(
    e: &Expr,
    k: &Kernel,
    pop: &crate::PopLayout,
    defined: &[bool],
) -> Result<(), String> {
    match e {
        Expr::Const(c) => {
            if c.is_nan() {
                return Err("a NaN constant".into());
            }
        }
        Expr::Load(v) => {
            let var = pop
                .vars
                .get(*v as usize)
                .ok_or_else(|| format!("load of unknown variable %{v}"))?;
            if k.domain == Domain::Once && !var.scalar {
                return Err(format!(
                    "a once-kernel reads the per-element variable `{}`",
                    var.name
                ));
            }
        }
        Expr::Temp(t) => {
            if !defined.get(*t as usize).copied().unwrap_or(false) {
                return Err(format!("temporary $t{t} used before it is assigned"));
            }
        }
        Expr::Index | Expr::Refractory => {
            if k.domain == Domain::Once {
                return Err("a once-kernel reads the element index".into());
            }
        }
        Expr::Time | Expr::Dt | Expr::Rand(..) => {}
        Expr::Un(_, a) => check_expr(a, k, pop, defined)?,
        Expr::Bin(_, a, b) => {
            check_expr(a, k, pop, defined)?;
            check_expr(b, k, pop, defined)?;
        }
        Expr::Call(f, args) => {
            let want = if *f == crate::Func::Atan2 { 2 } else { 1 };
            if args.len() != want {
                return Err(format!(
                    "{f:?} takes {want} arguments, given {}",
                    args.len()
                ));
            }
            for a in args {
                check_expr(a, k, pop, defined)?;
            }
        }
        Expr::Select(c, a, b) => {
            check_expr(c, k, pop, defined)?;
            check_expr(a, k, pop, defined)?;
            check_expr(b, k, pop, defined)?;
        }
    }
    Ok(())
}
