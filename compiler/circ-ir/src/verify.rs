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
/// `SetRefractory` only in resets; and every random stream belongs to one
/// kernel or one runtime draw (see [`crate::Streams`]).
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
    streams_owned_once(net)
}

/// Each random stream is drawn by one kernel (a `where` condition counts as
/// one) or one runtime draw (a connection rule, a Poisson input) only: a
/// stream shared by two would give both the same numbers. A kernel may
/// draw one stream in several places (an expression copied into the stages
/// of a solver means one value).
fn streams_owned_once(net: &Network) -> Result<(), VerifyError> {
    let mut owner: std::collections::HashMap<u32, (String, String)> = Default::default();
    let mut claim = |stream: u32, who: &str, what: &str| -> Result<(), VerifyError> {
        match owner.entry(stream) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert((who.to_string(), what.to_string()));
                Ok(())
            }
            std::collections::hash_map::Entry::Occupied(e) => {
                let (w, k) = e.get();
                Err(VerifyError {
                    owner: who.to_string(),
                    kernel: what.to_string(),
                    message: format!("random stream {stream} is also drawn by `{w}`, `{k}`"),
                })
            }
        }
    };
    for (pop, k) in net.layout.pops.iter().zip(&net.pops) {
        if pop.stream != 0 {
            claim(pop.stream, &pop.name, "its Poisson spikes")?;
        }
        for kernel in [&k.init, &k.dynamic, &k.drive, &k.update]
            .into_iter()
            .chain(&k.threshold)
            .chain(&k.reset)
        {
            for st in kernel_draws(kernel) {
                claim(st, &pop.name, &kernel.name)?;
            }
        }
    }
    for (proj, k) in net.layout.projs.iter().zip(&net.projs) {
        if proj.stream != 0 {
            claim(proj.stream, &proj.name, "its connection rule")?;
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
            for st in kernel_draws(kernel) {
                claim(st, &proj.name, &kernel.name)?;
            }
        }
        if let Some(f) = &k.filter {
            let mut found = vec![];
            expr_draws(f, &mut found);
            found.sort_unstable();
            found.dedup();
            for st in found {
                claim(st, &proj.name, "where")?;
            }
        }
    }
    Ok(())
}

/// The streams a kernel draws, each once.
fn kernel_draws(k: &Kernel) -> Vec<u32> {
    let mut found = vec![];
    for st in &k.body {
        stmt_draws(st, &mut found);
    }
    found.sort_unstable();
    found.dedup();
    found
}

fn stmt_draws(s: &Stmt, out: &mut Vec<u32>) {
    match s {
        Stmt::Let(_, e)
        | Stmt::Store(_, e)
        | Stmt::Spike(e)
        | Stmt::AddTo(_, e)
        | Stmt::SetRefractory(e) => expr_draws(e, out),
        Stmt::If(c, a, b) => {
            expr_draws(c, out);
            for x in a.iter().chain(b) {
                stmt_draws(x, out);
            }
        }
        Stmt::While(c, a) => {
            expr_draws(c, out);
            for x in a {
                stmt_draws(x, out);
            }
        }
    }
}

fn expr_draws(e: &Expr, out: &mut Vec<u32>) {
    match e {
        Expr::Rand(_, s) => out.push(*s),
        Expr::Un(_, a) | Expr::Table(_, a) => expr_draws(a, out),
        Expr::Bin(_, a, b) => {
            expr_draws(a, out);
            expr_draws(b, out);
        }
        Expr::Select(c, a, b) => {
            expr_draws(c, out);
            expr_draws(a, out);
            expr_draws(b, out);
        }
        Expr::Call(_, args) => args.iter().for_each(|a| expr_draws(a, out)),
        Expr::Const(_)
        | Expr::Load(_)
        | Expr::Temp(_)
        | Expr::Time
        | Expr::Dt
        | Expr::Index
        | Expr::Refractory
        | Expr::PreIndex
        | Expr::PostIndex => {}
    }
}

/// Whether a loop body holds only lets, stores and conditionals of those,
/// with no random draw (a draw's stream is keyed once per step).
fn loop_body_ok(body: &[Stmt]) -> bool {
    let mut draws = vec![];
    body.iter().all(|s| {
        stmt_draws(s, &mut draws);
        match s {
            Stmt::Let(..) | Stmt::Store(..) => true,
            Stmt::If(_, a, b) => loop_body_ok(a) && loop_body_ok(b),
            Stmt::While(_, a) => loop_body_ok(a),
            Stmt::Spike(_) | Stmt::AddTo(..) | Stmt::SetRefractory(_) => false,
        }
    }) && draws.is_empty()
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
            Stmt::While(c, a) => {
                check_expr(c, k, homes, defined)?;
                if !loop_body_ok(a) {
                    return Err(
                        "a `while` loop holds a draw, spike, scatter-add or refractory period"
                            .into(),
                    );
                }
                // The body may run no time: what it defines is not defined
                // after it (its own reads are checked as on a first pass).
                let mut da = defined.to_vec();
                check_stmts(a, k, homes, role, &mut da)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dist, PopKernels, PopLayout, VarLayout, VarRole};

    /// A population `name` of one state whose initialiser draws `stream`.
    fn pop(name: &str, stream: u32) -> (PopLayout, PopKernels) {
        let layout = PopLayout {
            name: name.into(),
            size: 3,
            vars: vec![VarLayout {
                name: "x".into(),
                role: VarRole::State,
                scalar: false,
            }],
            ..PopLayout::default()
        };
        let kernels = PopKernels {
            init: Kernel {
                name: "init".into(),
                domain: Domain::Each,
                temps: 0,
                body: vec![Stmt::Store(0, Expr::Rand(Dist::Uniform, stream))],
            },
            ..PopKernels::default()
        };
        (layout, kernels)
    }

    fn net(pops: Vec<(PopLayout, PopKernels)>) -> Network {
        let mut n = Network::default();
        for (l, k) in pops {
            n.layout.pops.push(l);
            n.pops.push(k);
        }
        n
    }

    #[test]
    fn a_stream_drawn_by_two_kernels_is_refused() {
        assert_eq!(verify(&net(vec![pop("A", 1), pop("B", 2)])), Ok(()));
        let Err(e) = verify(&net(vec![pop("A", 1), pop("B", 1)])) else {
            panic!("a shared stream passed");
        };
        assert_eq!(e.owner, "B");
        assert!(
            e.message.contains("random stream 1 is also drawn by `A`"),
            "{e}"
        );
    }

    #[test]
    fn a_stream_shared_with_a_runtime_draw_is_refused() {
        let (mut l, k) = pop("A", 4);
        l.stream = 4;
        let Err(e) = verify(&net(vec![(l, k)])) else {
            panic!("a shared stream passed");
        };
        assert!(e.message.contains("its Poisson spikes"), "{e}");
    }

    #[test]
    fn a_loop_may_not_draw_or_define_what_follows_it() {
        // A draw's stream is keyed once per step: none inside a loop.
        let (l, mut k) = pop("A", 1);
        k.init.body = vec![Stmt::While(
            Expr::Const(0.0),
            vec![Stmt::Store(0, Expr::Rand(Dist::Uniform, 1))],
        )];
        let Err(e) = verify(&net(vec![(l, k)])) else {
            panic!("a draw in a loop passed");
        };
        assert!(e.message.contains("`while` loop"), "{e}");
        // A temporary set only inside may be unset after it (no pass).
        let (l, mut k) = pop("A", 1);
        k.init.temps = 1;
        k.init.body = vec![
            Stmt::While(Expr::Const(0.0), vec![Stmt::Let(0, Expr::Const(1.0))]),
            Stmt::Store(0, Expr::Temp(0)),
        ];
        assert!(
            verify(&net(vec![(l, k)])).is_err(),
            "read of a maybe-unset temp"
        );
        let (l, mut k) = pop("A", 1);
        k.init.temps = 1;
        k.init.body = vec![
            Stmt::Let(0, Expr::Const(0.0)),
            Stmt::While(
                Expr::bin(crate::Bin::Lt, Expr::Temp(0), Expr::Const(3.0)),
                vec![Stmt::Let(
                    0,
                    Expr::bin(crate::Bin::Add, Expr::Temp(0), Expr::Const(1.0)),
                )],
            ),
            Stmt::Store(0, Expr::Temp(0)),
        ];
        assert_eq!(verify(&net(vec![(l, k)])), Ok(()));
    }

    #[test]
    fn the_allocator_never_repeats_a_stream() {
        let mut s = crate::Streams::default();
        let drawn: std::collections::HashSet<u32> = (0..10_000).map(|_| s.fresh()).collect();
        assert_eq!(drawn.len(), 10_000);
        assert!(!drawn.contains(&0), "0 means no stream");
    }
}
