//! The IR verifier: run after lowering (and after every later pass) in debug
//! and test builds, so a malformed kernel is caught where it was made.

use crate::{Domain, Expr, Kernel, Network, Space, Stmt};

/// What is wrong with a kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyError {
    /// Population or projection.
    pub owner: String,
    /// Kernel.
    pub kernel: String,
    /// The problem.
    pub message: String,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "IR verifier: `{}`, kernel `{}`: {}",
            self.owner, self.kernel, self.message
        )
    }
}

/// Where a kernel's variables live, for the checks.
#[derive(Clone, Copy)]
enum Home {
    /// A population variable: scalar or per element.
    Pop { scalar: bool },
    /// A projection variable.
    Proj(Space),
}

/// What a kernel is for: decides `Spike`/`SetRefractory` and the domain.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Plain,
    Threshold,
    Reset,
}

/// Checks every kernel: variables exist, temporaries are assigned before
/// use, each read and write fits the kernel's domain (no per-element value
/// in a `Once` kernel, no synapse value without a synapse, writes to
/// neuron variables only as scatter-adds), `Spike` only in thresholds and
/// `SetRefractory` only in resets.
pub fn verify(net: &Network) -> Result<(), VerifyError> {
    if net.layout.pops.len() != net.pops.len() || net.layout.projs.len() != net.projs.len() {
        return Err(VerifyError {
            owner: String::new(),
            kernel: String::new(),
            message: "layout and kernels disagree on the number of populations or projections"
                .into(),
        });
    }
    for (pop, k) in net.layout.pops.iter().zip(&net.pops) {
        let homes: Vec<Home> = pop
            .vars
            .iter()
            .map(|v| Home::Pop { scalar: v.scalar })
            .collect();
        let kernels = [
            (Some(&k.init), Role::Plain, Domain::Each),
            (Some(&k.dynamic), Role::Plain, Domain::Once),
            (Some(&k.drive), Role::Plain, Domain::Each),
            (Some(&k.drive), Role::Plain, Domain::Each),
            (Some(&k.update), Role::Plain, Domain::Each),
            (k.threshold.as_ref(), Role::Threshold, Domain::Each),
            (k.reset.as_ref(), Role::Reset, Domain::Spiking),
        ];
        for (kernel, role, domain) in kernels {
            let Some(kernel) = kernel else { continue };
            if kernel.domain != domain && !kernel.body.is_empty() {
                return Err(VerifyError {
                    owner: pop.name.clone(),
                    kernel: kernel.name.clone(),
                    message: format!("must run over {domain:?}, not {:?}", kernel.domain),
                });
            }
            check_kernel(kernel, &homes, role).map_err(|message| VerifyError {
                owner: pop.name.clone(),
                kernel: kernel.name.clone(),
                message,
            })?;
        }
    }
    for (proj, k) in net.layout.projs.iter().zip(&net.projs) {
        let homes: Vec<Home> = proj.vars.iter().map(|v| Home::Proj(v.space)).collect();
        for kernel in k
            .init
            .iter()
            .chain([&k.dynamic])
            .chain(&k.couple)
            .chain(&k.update)
            .chain(&k.on_pre)
            .chain(&k.on_post)
        {
            check_kernel(kernel, &homes, Role::Plain).map_err(|message| VerifyError {
                owner: proj.name.clone(),
                kernel: kernel.name.clone(),
                message,
            })?;
        }
        if let Some(f) = &k.filter {
            let pairs = Kernel {
                name: "where".into(),
                domain: Domain::Synapses,
                temps: 0,
                body: vec![],
            };
            check_expr(f, &pairs, &homes, &[]).map_err(|message| VerifyError {
                owner: proj.name.clone(),
                kernel: "where".into(),
                message,
            })?;
            let not_neuron = |v: u32| {
                proj.vars
                    .get(v as usize)
                    .is_none_or(|x| !matches!(x.space, Space::PreNeuron(_) | Space::PostNeuron(_)))
            };
            if crate::reads_own_vars(f, &not_neuron) {
                return Err(VerifyError {
                    owner: proj.name.clone(),
                    kernel: "where".into(),
                    message: "a connection condition reads a variable other than a neuron's".into(),
                });
            }
        }
    }
    Ok(())
}

fn check_kernel(kernel: &Kernel, homes: &[Home], role: Role) -> Result<(), String> {
    let mut defined = vec![false; kernel.temps as usize];
    check_stmts(&kernel.body, kernel, homes, role, &mut defined)
}

fn readable(home: Home, d: Domain) -> bool {
    match home {
        Home::Pop { scalar } => scalar || d != Domain::Once,
        Home::Proj(Space::Scalar) => true,
        Home::Proj(Space::Syn) => d.has_synapse(),
        Home::Proj(Space::PreState | Space::PreNeuron(_)) => d.has_pre(),
        Home::Proj(Space::PostState | Space::PostNeuron(_)) => d.has_post(),
    }
}

fn check_stmts(
    body: &[Stmt],
    k: &Kernel,
    homes: &[Home],
    role: Role,
    defined: &mut [bool],
) -> Result<(), String> {
    for s in body {
        match s {
            Stmt::Let(t, e) => {
                check_expr(e, k, homes, defined)?;
                let slot = defined.get_mut(*t as usize).ok_or_else(|| {
                    format!("temporary $t{t} beyond the kernel's {} temps", k.temps)
                })?;
                *slot = true;
            }
            Stmt::Store(v, e) | Stmt::AddTo(v, e) => {
                check_expr(e, k, homes, defined)?;
                let home = *homes
                    .get(*v as usize)
                    .ok_or_else(|| format!("write to unknown variable %{v}"))?;
                if !readable(home, k.domain) {
                    return Err(format!(
                        "writes %{v}, which this kernel's domain cannot address"
                    ));
                }
                let neuron_var =
                    matches!(home, Home::Proj(Space::PreNeuron(_) | Space::PostNeuron(_)));
                if neuron_var && matches!(s, Stmt::Store(..)) {
                    return Err(format!(
                        "sets the neuron variable %{v}; a projection may only add to postsynaptic variables"
                    ));
                }
                if matches!(home, Home::Proj(Space::PreNeuron(_))) {
                    return Err(format!("writes the presynaptic variable %{v}"));
                }
            }
            Stmt::If(c, a, b) => {
                check_expr(c, k, homes, defined)?;
                let mut da = defined.to_vec();
                check_stmts(a, k, homes, role, &mut da)?;
                let mut db = defined.to_vec();
                check_stmts(b, k, homes, role, &mut db)?;
                for (i, d) in defined.iter_mut().enumerate() {
                    *d = da[i] && db[i];
                }
            }
            Stmt::Spike(c) => {
                if role != Role::Threshold {
                    return Err("`spike` outside a threshold kernel".into());
                }
                check_expr(c, k, homes, defined)?;
            }
            Stmt::SetRefractory(e) => {
                if role != Role::Reset {
                    return Err("`refractory` outside a reset kernel".into());
                }
                check_expr(e, k, homes, defined)?;
            }
        }
    }
    Ok(())
}

fn check_expr(e: &Expr, k: &Kernel, homes: &[Home], defined: &[bool]) -> Result<(), String> {
    match e {
        Expr::Const(c) => {
            if c.is_nan() {
                return Err("a NaN constant".into());
            }
        }
        Expr::Load(v) => {
            let home = *homes
                .get(*v as usize)
                .ok_or_else(|| format!("load of unknown variable %{v}"))?;
            if !readable(home, k.domain) {
                return Err(format!(
                    "reads %{v}, which this kernel's domain cannot address"
                ));
            }
        }
        Expr::Temp(t) => {
            if !defined.get(*t as usize).copied().unwrap_or(false) {
                return Err(format!("temporary $t{t} used before it is assigned"));
            }
        }
        Expr::Index | Expr::Refractory => {
            if !matches!(k.domain, Domain::Each | Domain::Spiking) {
                return Err("reads a population element outside a population kernel".into());
            }
        }
        Expr::PreIndex => {
            if !k.domain.has_pre() {
                return Err("reads `i` without a presynaptic neuron".into());
            }
        }
        Expr::PostIndex => {
            if !k.domain.has_post() {
                return Err("reads `j` without a postsynaptic neuron".into());
            }
        }
        Expr::Time | Expr::Dt | Expr::Rand(..) => {}
        Expr::Un(_, a) | Expr::Table(_, a) => check_expr(a, k, homes, defined)?,
        Expr::Bin(_, a, b) => {
            check_expr(a, k, homes, defined)?;
            check_expr(b, k, homes, defined)?;
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
                check_expr(a, k, homes, defined)?;
            }
        }
        Expr::Select(c, a, b) => {
            check_expr(c, k, homes, defined)?;
            check_expr(a, k, homes, defined)?;
            check_expr(b, k, homes, defined)?;
        }
    }
    Ok(())
}
