//! How a network's kernels are executed, decided once for every native
//! backend: how each kernel addresses its variables (its *view*), what it
//! writes besides its own element (which decides how threads may split
//! it), which phase runs which kernels with which random-stream bases,
//! which population steps are fused into one pass, and the list of
//! functions a code generator emits ([`Plan`]). A code generator turns
//! each [`Function`] into code; the executor (`circ-native`) runs them by
//! the [`KernelMap`]. Nothing here knows a code generator.

use crate::{Domain, Expr, Kernel, Network, PopKernels, ProjKernels, Space, Stmt, VarId, VarRole};
use circ_runtime::layout::{PopLayout, ProjLayout};
use circ_runtime::sim::ProjPhase;

/// Where a kernel indexes a variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Addr {
    /// One value: index 0.
    Zero,
    /// The kernel's element (population element or synapse).
    Element,
    /// The presynaptic neuron.
    Pre,
    /// The postsynaptic neuron.
    Post,
}

/// Where a kernel's additions (`AddTo`) to a variable go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Target {
    /// The variable's own buffer.
    Own,
    /// The runtime's accumulator of postsynaptic variable `n`; `true` when
    /// that is an input: zeroed (+0) each step and changed only by such
    /// additions, so it is never -0 and adding a zero leaves it as it is.
    Acc(usize, bool),
}

/// How the kernels of one population or projection see its variables.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct View {
    /// Per variable: where it is indexed.
    pub addrs: Vec<Addr>,
    /// Per variable: where additions to it go.
    pub targets: Vec<Target>,
}

impl View {
    /// A population's view: scalars at 0, the rest by element, all its own.
    pub fn of_pop(layout: &PopLayout) -> View {
        View {
            addrs: layout
                .vars
                .iter()
                .map(|v| if v.scalar { Addr::Zero } else { Addr::Element })
                .collect(),
            targets: layout.vars.iter().map(|_| Target::Own).collect(),
        }
    }

    /// A projection's view: its own spaces, and the two populations'
    /// variables at the synapse's neurons; additions to postsynaptic neuron
    /// values go through the runtime's accumulators.
    pub fn of_proj(net: &crate::NetLayout, layout: &ProjLayout) -> View {
        let pre_vars = &net.pops[layout.pre].vars;
        let post_vars = &net.pops[layout.post].vars;
        let addrs = layout
            .vars
            .iter()
            .map(|v| match v.space {
                Space::Scalar => Addr::Zero,
                Space::Syn => Addr::Element,
                Space::PreState => Addr::Pre,
                Space::PostState => Addr::Post,
                Space::PreNeuron(pv) if pre_vars[pv].scalar => Addr::Zero,
                Space::PreNeuron(_) => Addr::Pre,
                Space::PostNeuron(pv) if post_vars[pv].scalar => Addr::Zero,
                Space::PostNeuron(_) => Addr::Post,
            })
            .collect();
        let targets = layout
            .vars
            .iter()
            .map(|v| match v.space {
                Space::PostNeuron(pv) => Target::Acc(pv, post_vars[pv].role == VarRole::Input),
                _ => Target::Own,
            })
            .collect();
        View { addrs, targets }
    }
}

/// The places a kernel writes that other elements share: threads split
/// work so that two threads never write one place.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Writes {
    /// A scalar (one value for all elements).
    pub shared: bool,
    /// A value indexed by the presynaptic neuron.
    pub pre: bool,
    /// A value indexed by the postsynaptic neuron (own state or its input).
    pub post: bool,
    /// A postsynaptic neuron's value (through the runtime's `acc`).
    pub acc: bool,
}

impl Writes {
    /// Adds what `body` writes, seen through `view`.
    pub fn scan(&mut self, body: &[Stmt], view: &View) {
        let mut vars = vec![];
        crate::written_vars(body, &mut vars);
        for v in vars {
            match (view.addrs.get(v as usize), view.targets.get(v as usize)) {
                (_, Some(Target::Acc(..))) => {
                    self.post = true;
                    self.acc = true;
                }
                (Some(Addr::Post), _) => self.post = true,
                (Some(Addr::Pre), _) => self.pre = true,
                (Some(Addr::Zero), _) => self.shared = true,
                _ => {}
            }
        }
    }

    /// Whether only the element's own places are written: any split of the
    /// elements across threads is safe.
    pub fn own(self) -> bool {
        !self.shared && !self.pre && !self.post
    }

    /// Whether, besides its element's places, only presynaptic neurons'
    /// are written (a `pre let` sum): a synapse kernel an executor without
    /// float atomics runs per presynaptic neuron, over its synapses in
    /// increasing order (they are contiguous), as the CPU adds them.
    pub fn pre_only(self) -> bool {
        self.pre && !self.shared && !self.post
    }
}

/// The variables a kernel body names, sorted, each once.
pub fn vars_used(body: &[Stmt]) -> Vec<VarId> {
    let mut used = vec![];
    crate::named_vars(body, &mut used);
    used.sort_unstable();
    used.dedup();
    used
}

/// A phase of a population's step, with its kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PopPhase {
    /// Initial values (after `Dynamic` at t = 0, so that initial states may
    /// read time-dependent parameters: see [`PopPhase::INIT_ORDER`]).
    Init,
    /// Time-dependent scalar parameters, once per step.
    Dynamic,
    /// Per-element inputs that evolve on their own, after `Dynamic`.
    Drive,
    /// One integration step.
    Update,
    /// The spike condition over non-refractory elements.
    Threshold,
    /// The reset of spiking elements.
    Reset,
}

impl PopPhase {
    /// Every phase, in `PopMap` order.
    pub const ALL: [PopPhase; 6] = [
        PopPhase::Init,
        PopPhase::Dynamic,
        PopPhase::Drive,
        PopPhase::Update,
        PopPhase::Threshold,
        PopPhase::Reset,
    ];

    /// What initialising a population runs, in order: the scalar values at
    /// t = 0 first, then the per-element initialisers.
    pub const INIT_ORDER: [PopPhase; 2] = [PopPhase::Dynamic, PopPhase::Init];

    /// What a step's time-dependent part runs, in order.
    pub const DYNAMIC_ORDER: [PopPhase; 2] = [PopPhase::Dynamic, PopPhase::Drive];

    /// Its position in [`PopPhase::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The phase's kernel, if it has one with a body.
    pub fn kernel(self, k: &PopKernels) -> Option<&Kernel> {
        let k = match self {
            PopPhase::Init => Some(&k.init),
            PopPhase::Dynamic => Some(&k.dynamic),
            PopPhase::Drive => Some(&k.drive),
            PopPhase::Update => Some(&k.update),
            PopPhase::Threshold => k.threshold.as_ref(),
            PopPhase::Reset => k.reset.as_ref(),
        };
        k.filter(|k| !k.body.is_empty())
    }

    /// Its name in symbols and dumps.
    pub fn name(self) -> &'static str {
        match self {
            PopPhase::Init => "init",
            PopPhase::Dynamic => "dynamic",
            PopPhase::Drive => "drive",
            PopPhase::Update => "update",
            PopPhase::Threshold => "threshold",
            PopPhase::Reset => "reset",
        }
    }
}

/// Every projection phase, in `ProjMap` order.
pub const PROJ_PHASES: [ProjPhase; 6] = [
    ProjPhase::Init,
    ProjPhase::Dynamic,
    ProjPhase::Couple,
    ProjPhase::Update,
    ProjPhase::OnPre,
    ProjPhase::OnPost,
];

/// A projection phase's position in [`PROJ_PHASES`].
pub fn proj_phase_index(phase: ProjPhase) -> usize {
    match phase {
        ProjPhase::Init => 0,
        ProjPhase::Dynamic => 1,
        ProjPhase::Couple => 2,
        ProjPhase::Update => 3,
        ProjPhase::OnPre => 4,
        ProjPhase::OnPost => 5,
    }
}

/// The variables any of `kernels` names, sorted, each once.
pub fn vars_used_by<'k>(kernels: impl IntoIterator<Item = &'k Kernel>) -> Vec<VarId> {
    let mut all: Vec<VarId> = kernels
        .into_iter()
        .flat_map(|k| vars_used(&k.body))
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// The variables of projection `k`'s presynaptic population that its
/// kernels read after the initial values (what a network split across
/// processes brings from their owners before those kernels run).
pub fn pre_reads(net: &crate::Network, k: usize) -> Vec<usize> {
    let (Some(layout), Some(kernels)) = (net.layout.projs.get(k), net.projs.get(k)) else {
        return vec![];
    };
    let used = vars_used_by(
        PROJ_PHASES
            .iter()
            .filter(|&&p| p != ProjPhase::Init)
            .flat_map(|&p| proj_kernels(kernels, p)),
    );
    used.iter()
        .filter_map(|&v| match layout.vars.get(v as usize)?.space {
            Space::PreNeuron(pv) => Some(pv),
            _ => None,
        })
        .collect()
}

/// The kernels a projection phase runs, in order (empty bodies included:
/// a kernel's position names it).
pub fn proj_kernels(k: &ProjKernels, phase: ProjPhase) -> &[Kernel] {
    match phase {
        ProjPhase::Init => &k.init,
        ProjPhase::Dynamic => std::slice::from_ref(&k.dynamic),
        ProjPhase::Couple => &k.couple,
        ProjPhase::Update => &k.update,
        ProjPhase::OnPre => &k.on_pre,
        ProjPhase::OnPost => &k.on_post,
    }
}

/// A projection phase's name in symbols and dumps.
pub fn proj_phase_name(phase: ProjPhase) -> &'static str {
    match phase {
        ProjPhase::Init => "init",
        ProjPhase::Dynamic => "dynamic",
        ProjPhase::Couple => "couple",
        ProjPhase::Update => "update",
        ProjPhase::OnPre => "on_pre",
        ProjPhase::OnPost => "on_post",
    }
}

/// A compiled kernel's place in its phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Slot {
    /// Its position among the phase's kernels.
    pub n: usize,
    /// The compiled function (an index into [`KernelMap::domains`]).
    pub kernel: usize,
}

/// Which compiled function runs each phase of a population.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PopMap {
    /// Initial values.
    pub init: Option<usize>,
    /// Time-dependent scalar parameters.
    pub dynamic: Option<usize>,
    /// Per-element drives.
    pub drive: Option<usize>,
    /// The integration step.
    pub update: Option<usize>,
    /// The spike condition.
    pub threshold: Option<usize>,
    /// The reset.
    pub reset: Option<usize>,
}

impl PopMap {
    /// The function of a phase.
    pub fn get(&self, phase: PopPhase) -> Option<usize> {
        match phase {
            PopPhase::Init => self.init,
            PopPhase::Dynamic => self.dynamic,
            PopPhase::Drive => self.drive,
            PopPhase::Update => self.update,
            PopPhase::Threshold => self.threshold,
            PopPhase::Reset => self.reset,
        }
    }

    fn slot(&mut self, phase: PopPhase) -> &mut Option<usize> {
        match phase {
            PopPhase::Init => &mut self.init,
            PopPhase::Dynamic => &mut self.dynamic,
            PopPhase::Drive => &mut self.drive,
            PopPhase::Update => &mut self.update,
            PopPhase::Threshold => &mut self.threshold,
            PopPhase::Reset => &mut self.reset,
        }
    }
}

/// Which compiled functions run each phase of a projection (kernels with
/// an empty body have none).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProjMap {
    /// Initial values.
    pub init: Vec<Slot>,
    /// Time-dependent scalar parameters.
    pub dynamic: Vec<Slot>,
    /// Continuous couplings.
    pub couple: Vec<Slot>,
    /// Equations.
    pub update: Vec<Slot>,
    /// `on pre` handlers.
    pub on_pre: Vec<Slot>,
    /// `on post` handlers.
    pub on_post: Vec<Slot>,
}

impl ProjMap {
    /// The functions of a phase.
    pub fn get(&self, phase: ProjPhase) -> &[Slot] {
        match phase {
            ProjPhase::Init => &self.init,
            ProjPhase::Dynamic => &self.dynamic,
            ProjPhase::Couple => &self.couple,
            ProjPhase::Update => &self.update,
            ProjPhase::OnPre => &self.on_pre,
            ProjPhase::OnPost => &self.on_post,
        }
    }

    fn slots(&mut self, phase: ProjPhase) -> &mut Vec<Slot> {
        match phase {
            ProjPhase::Init => &mut self.init,
            ProjPhase::Dynamic => &mut self.dynamic,
            ProjPhase::Couple => &mut self.couple,
            ProjPhase::Update => &mut self.update,
            ProjPhase::OnPre => &mut self.on_pre,
            ProjPhase::OnPost => &mut self.on_post,
        }
    }
}

/// Which compiled function (an index into the code generator's functions,
/// in [`Plan::functions`] order) runs each part of a network, and what
/// decides how threads may split each: what an executor needs besides the
/// code itself (an executable embeds it).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KernelMap {
    /// Per population.
    pub pops: Vec<PopMap>,
    /// Per projection.
    pub projs: Vec<ProjMap>,
    /// Per function: the domain it loops over.
    pub domains: Vec<Domain>,
    /// Per function: what it writes besides its own element's places.
    pub writes: Vec<Writes>,
    /// Per function: its symbol.
    pub names: Vec<String>,
    /// Per population: its fused step, if it has one.
    pub fused: Vec<Option<FusedStep>>,
}

/// A population's step as one compiled pass over its neurons: the function,
/// and its parts in the order of the `Env`s it reads (one each).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FusedStep {
    /// The compiled pass.
    pub kernel: usize,
    /// Its parts.
    pub parts: Vec<FusedPart>,
}

/// One kernel of a fused step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FusedPart {
    /// Zeroes the population's inputs (the runtime then leaves them alone).
    ZeroInputs,
    /// The population's update.
    Update,
    /// The population's threshold.
    Threshold,
    /// Coupling kernel `n` of projection `proj`.
    Couple {
        /// The projection.
        proj: usize,
        /// Its position among the projection's couplings.
        n: usize,
    },
    /// Equation kernel `n` of projection `proj`.
    ProjUpdate {
        /// The projection.
        proj: usize,
        /// Its position among the projection's equation kernels.
        n: usize,
    },
}

/// One kernel inside a function to generate: its body, how its variables
/// are addressed, and which buffers they are. Each part reads its own
/// `Env` (the function's argument points at the first of consecutive
/// `Env`s, one per part).
#[derive(Clone, Copy, Debug)]
pub struct Part<'a> {
    /// The kernel.
    pub kernel: &'a Kernel,
    /// How it addresses its variables.
    pub view: &'a View,
    /// Per variable: which buffer it is, numbered across the function's
    /// parts (a projection's view of a neuron value is that neuron buffer).
    pub bufs: &'a [u32],
}

/// One local sum of a fused projection's couplings (`Group::Couple`): a
/// postsynaptic value its parts add into, summed from +0 and then added as
/// the runtime adds its accumulators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoupleSum {
    /// The variable, by its number in the parts' views.
    pub var: VarId,
    /// The first part (index in the group) that adds into it.
    pub part: usize,
    /// The buffer it is.
    pub buf: u32,
    /// Whether it is an input (never -0: adding a zero sum is harmless).
    pub input: bool,
}

/// The local sums of a group of coupling parts, by variable.
pub fn couple_sums(parts: &[Part<'_>]) -> Vec<CoupleSum> {
    let mut out: Vec<CoupleSum> = vec![];
    for (n, part) in parts.iter().enumerate() {
        let mut written = vec![];
        crate::written_vars(&part.kernel.body, &mut written);
        for v in written {
            let Some(Target::Acc(_, input)) = part.view.targets.get(v as usize) else {
                continue;
            };
            if out.iter().any(|s| s.var == v) {
                continue;
            }
            out.push(CoupleSum {
                var: v,
                part: n,
                buf: part.bufs.get(v as usize).copied().unwrap_or(v),
                input: *input,
            });
        }
    }
    out.sort_by_key(|s| s.var);
    out
}

impl Part<'_> {
    /// Whether a part visits every element in order and writes only the
    /// element's own values (or local sums): within an iteration, each buffer is
    /// then read and written at that element alone, so values can stay in
    /// registers until the iteration ends.
    pub fn element_only(&self) -> bool {
        let part = self;
        let k = part.kernel;
        let mut written = vec![];
        crate::written_vars(&k.body, &mut written);
        let own = |v: u32| match (
            part.view.addrs.get(v as usize),
            part.view.targets.get(v as usize),
        ) {
            (_, Some(Target::Acc(..))) => k.domain == Domain::PostNeurons,
            (Some(Addr::Element), _) => k.domain == Domain::Each,
            (Some(Addr::Post), _) => k.domain == Domain::PostNeurons,
            _ => false,
        };
        matches!(k.domain, Domain::Each | Domain::PostNeurons)
            && written.iter().all(|&v| own(v))
            && vars_used(&k.body).iter().all(|&v| {
                matches!(
                    (k.domain, part.view.addrs.get(v as usize)),
                    (_, Some(Addr::Zero))
                        | (Domain::Each, Some(Addr::Element))
                        | (Domain::PostNeurons, Some(Addr::Post))
                )
            })
    }

    /// Whether the vector loop can run a part: it visits every element in order
    /// and does only arithmetic, comparisons and choices on the element's own
    /// values (no calls, tables, branches or element indices; random
    /// draws are inlined math, `math::program_rand`, each lane its own).
    pub fn vectorizable(&self) -> bool {
        let part = self;
        // A synapse's draws are keyed by its number in the whole
        // projection, which a split network looks up (`Env::keys`) and
        // lanes cannot step through.
        let synapses = self.kernel.domain.has_synapse();
        fn expr(e: &Expr, addrs: &[Addr], synapses: bool) -> bool {
            let ex = |e: &Expr| expr(e, addrs, synapses);
            match e {
                Expr::Const(_) | Expr::Temp(_) | Expr::Time | Expr::Dt | Expr::Refractory => true,
                Expr::Load(v) => addrs.get(*v as usize).is_some(),
                Expr::Un(_, a) => ex(a),
                // `^`, min, max and every math function are inlined programs.
                Expr::Bin(op, a, b) => *op != crate::Bin::Rem && ex(a) && ex(b),
                Expr::Select(c, a, b) => ex(c) && ex(a) && ex(b),
                Expr::Call(_, args) => args.iter().all(ex),
                Expr::Rand(..) => !synapses,
                Expr::Index | Expr::PreIndex | Expr::PostIndex | Expr::Table(..) => false,
            }
        }
        // Every value written is the element's own (or a local sum), so scalars
        // read stay the same throughout (they are loaded before the loop).
        part.element_only()
            && part.kernel.body.iter().all(|st| match st {
                Stmt::Let(_, e) | Stmt::Store(_, e) | Stmt::AddTo(_, e) | Stmt::Spike(e) => {
                    expr(e, &part.view.addrs, synapses)
                }
                Stmt::If(..) | Stmt::While(..) | Stmt::SetRefractory(_) => false,
            })
    }
}

/// What a generated function does for each element, in order.
#[derive(Clone, Debug)]
pub enum Group<'a> {
    /// One kernel.
    Plain(Part<'a>),
    /// One projection's couplings into its postsynaptic neuron (a fused
    /// population step): their additions are summed locally from +0, then
    /// added into the neuron's values unless the sum is zero, exactly as the
    /// runtime applies its accumulators.
    Couple(Vec<Part<'a>>),
}

impl<'a> Group<'a> {
    /// Its parts, in order.
    pub fn parts(&self) -> Vec<Part<'a>> {
        match self {
            Group::Plain(p) => vec![*p],
            Group::Couple(ps) => ps.clone(),
        }
    }
}

/// What one generated function is.
#[derive(Clone, Debug, PartialEq)]
pub enum FnKind {
    /// A population's kernel of a phase.
    Pop(usize, PopPhase),
    /// Kernel `n` of a projection's phase.
    Proj(usize, ProjPhase, usize),
    /// A population's fused step.
    Fused(usize),
}

impl FnKind {
    /// Whether the function runs once, at the start (initial values): a
    /// code generator need not spend compile time on vector loops for it.
    pub fn runs_once(&self) -> bool {
        matches!(
            self,
            FnKind::Pop(_, PopPhase::Init) | FnKind::Proj(_, ProjPhase::Init, _)
        )
    }
}

/// One function for a code generator to emit.
#[derive(Clone, Debug)]
pub struct Function {
    /// Its symbol.
    pub name: String,
    /// What it computes.
    pub kind: FnKind,
    /// The domain its loop visits.
    pub domain: Domain,
}

/// A population's fused step, as planned.
#[derive(Clone, Debug)]
struct FusedPlan {
    parts: Vec<FusedPart>,
    /// Per part: its buffer numbering.
    bufs: Vec<Vec<u32>>,
    /// Runs of parts forming a group; `true` for a coupling group.
    groups: Vec<(std::ops::Range<usize>, bool)>,
    /// The kernel that zeroes the inputs, if it is a part.
    zero: Kernel,
    /// Inputs the pass computes and reads itself and nothing else reads
    /// (see [`Plan::scratch`]).
    scratch: Vec<u32>,
}

/// Everything a code generator needs besides the network: the functions to
/// emit (in [`KernelMap`] order), the parts of each, and the map an
/// executor runs them by.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The functions, in the order their indices in `map` name them.
    pub functions: Vec<Function>,
    /// Which function runs what.
    pub map: KernelMap,
    pop_views: Vec<View>,
    proj_views: Vec<View>,
    fused: Vec<Option<FusedPlan>>,
    identity: Vec<u32>,
}

impl Plan {
    /// Plans the execution of `net`: one function per kernel with a body,
    /// then one fused step per population where fusing gives the same
    /// values (see `compiler/ARCHITECTURE.md`, "Fused population steps").
    pub fn new(net: &Network) -> Plan {
        let pop_views: Vec<View> = net.layout.pops.iter().map(View::of_pop).collect();
        let proj_views: Vec<View> = net
            .layout
            .projs
            .iter()
            .map(|l| View::of_proj(&net.layout, l))
            .collect();
        let widest = pop_views
            .iter()
            .chain(&proj_views)
            .map(|v| v.addrs.len())
            .max()
            .unwrap_or(0);
        let mut plan = Plan {
            functions: vec![],
            map: KernelMap::default(),
            pop_views,
            proj_views,
            fused: vec![],
            identity: (0..widest as u32).collect(),
        };
        for (p, k) in net.pops.iter().enumerate() {
            let mut m = PopMap::default();
            for phase in PopPhase::ALL {
                if let Some(kernel) = phase.kernel(k) {
                    *m.slot(phase) = Some(plan.add(
                        format!("circ_k_pop{p}_{}", phase.name()),
                        FnKind::Pop(p, phase),
                        kernel.domain,
                    ));
                }
            }
            plan.map.pops.push(m);
        }
        for (j, k) in net.projs.iter().enumerate() {
            let mut m = ProjMap::default();
            for phase in PROJ_PHASES {
                for (n, kernel) in proj_kernels(k, phase).iter().enumerate() {
                    if !kernel.body.is_empty() {
                        let name = format!("circ_k_proj{j}_{}{n}", proj_phase_name(phase));
                        let f = plan.add(name, FnKind::Proj(j, phase, n), kernel.domain);
                        m.slots(phase).push(Slot { n, kernel: f });
                    }
                }
            }
            plan.map.projs.push(m);
        }
        for p in 0..net.pops.len() {
            let fused = plan.plan_fused(net, p);
            let step = fused.as_ref().map(|f| FusedStep {
                kernel: plan.add(
                    format!("circ_k_pop{p}_step"),
                    FnKind::Fused(p),
                    Domain::Each,
                ),
                parts: f.parts.clone(),
            });
            plan.fused.push(fused);
            plan.map.fused.push(step);
        }
        // What each function writes besides its element decides its split.
        plan.map.writes = (0..plan.functions.len())
            .map(|f| {
                let mut w = Writes::default();
                for g in plan.groups(net, f) {
                    let parts = match g {
                        Group::Plain(p) => vec![p],
                        Group::Couple(ps) => ps,
                    };
                    for p in parts {
                        w.scan(&p.kernel.body, p.view);
                    }
                }
                w
            })
            .collect();
        plan
    }

    fn add(&mut self, name: String, kind: FnKind, domain: Domain) -> usize {
        self.map.names.push(name.clone());
        self.map.domains.push(domain);
        self.functions.push(Function { name, kind, domain });
        self.functions.len() - 1
    }

    /// The view of a population's kernels.
    pub fn pop_view(&self, pop: usize) -> &View {
        &self.pop_views[pop]
    }

    /// The view of a projection's kernels.
    pub fn proj_view(&self, proj: usize) -> &View {
        &self.proj_views[proj]
    }

    /// Whether function `f` runs in a vector loop (several elements at a
    /// time, then a scalar loop for the rest), or why it runs one element
    /// at a time.
    pub fn vector_loop(&self, net: &Network, f: usize) -> Result<(), &'static str> {
        if self.functions.get(f).map(|x| x.domain) == Some(Domain::Once) {
            return Err("computes values shared by every element, once");
        }
        let parts: Vec<Part<'_>> = self.groups(net, f).iter().flat_map(Group::parts).collect();
        if !parts.iter().all(Part::element_only) {
            return Err("visits a list of elements, or writes places other than its element's");
        }
        if !parts.iter().all(Part::vectorizable) {
            return Err("reads a table, an index or a remainder, or branches");
        }
        Ok(())
    }

    /// The buffers of function `f` that need not be stored: a fused pass's
    /// inputs that it zeroes, sums and reads itself and nothing else reads
    /// (no recording, kernel or projection), so a code generator may keep
    /// them in registers. Empty for every other function.
    pub fn scratch(&self, f: usize) -> &[u32] {
        match self.functions[f].kind {
            FnKind::Fused(p) => self.fused[p].as_ref().map_or(&[], |x| &x.scratch),
            _ => &[],
        }
    }

    /// The parts of function `f`, grouped as they run for each element.
    pub fn groups<'a>(&'a self, net: &'a Network, f: usize) -> Vec<Group<'a>> {
        let ident = |n: usize| &self.identity[..n];
        match self.functions[f].kind {
            FnKind::Pop(p, phase) => {
                let view = &self.pop_views[p];
                phase
                    .kernel(&net.pops[p])
                    .map(|kernel| {
                        Group::Plain(Part {
                            kernel,
                            view,
                            bufs: ident(view.addrs.len()),
                        })
                    })
                    .into_iter()
                    .collect()
            }
            FnKind::Proj(j, phase, n) => {
                let view = &self.proj_views[j];
                vec![Group::Plain(Part {
                    kernel: &proj_kernels(&net.projs[j], phase)[n],
                    view,
                    bufs: ident(view.addrs.len()),
                })]
            }
            FnKind::Fused(p) => {
                let Some(plan) = &self.fused[p] else {
                    return vec![];
                };
                let part = |m: usize| {
                    let (kernel, view) = match plan.parts[m] {
                        FusedPart::ZeroInputs => (&plan.zero, &self.pop_views[p]),
                        FusedPart::Update => (&net.pops[p].update, &self.pop_views[p]),
                        FusedPart::Threshold => (
                            net.pops[p].threshold.as_ref().unwrap_or(&plan.zero),
                            &self.pop_views[p],
                        ),
                        FusedPart::Couple { proj, n } => {
                            (&net.projs[proj].couple[n], &self.proj_views[proj])
                        }
                        FusedPart::ProjUpdate { proj, n } => {
                            (&net.projs[proj].update[n], &self.proj_views[proj])
                        }
                    };
                    Part {
                        kernel,
                        view,
                        bufs: &plan.bufs[m],
                    }
                };
                plan.groups
                    .iter()
                    .map(|(r, couple)| {
                        if *couple {
                            Group::Couple(r.clone().map(part).collect())
                        } else {
                            Group::Plain(part(r.start))
                        }
                    })
                    .collect()
            }
        }
    }

    /// Plans population `p`'s fused step: its update and threshold, with
    /// the couplings and equations of the projections onto it that stay at
    /// its neurons.
    fn plan_fused(&self, net: &Network, p: usize) -> Option<FusedPlan> {
        let layout = &net.layout.pops[p];
        let k = &net.pops[p];
        if !fusable_pop(k, &self.pop_views[p]) {
            return None;
        }
        let onto = |j: usize| net.layout.projs[j].post == p;
        let couples = |j: usize| net.projs[j].couple.iter().any(|c| !c.body.is_empty());
        let mut projs: Vec<usize> = (0..net.projs.len())
            .filter(|&j| {
                onto(j) && fusable_proj(&net.projs[j], &net.layout.projs[j], &self.proj_views[j])
            })
            .collect();
        // Inputs are sums in projection order. When a projection that
        // couples into the population cannot be fused, its sum reaches the
        // inputs before the pass: fusing the others would add theirs after
        // it, out of order (a last-bit difference from the interpreter).
        let others_couple = |projs: &[usize]| {
            (0..net.projs.len()).any(|j| onto(j) && !projs.contains(&j) && couples(j))
        };
        if others_couple(&projs) {
            projs.retain(|&j| !couples(j));
        }
        // Buffers, numbered across the step: the population's by variable,
        // then each projection's own after them; a projection's view of a
        // neuron value is that neuron buffer.
        let pop_bufs: Vec<u32> = (0..layout.vars.len() as u32).collect();
        let mut next = layout.vars.len() as u32;
        let proj_bufs: Vec<Vec<u32>> = projs
            .iter()
            .map(|&j| {
                net.layout.projs[j]
                    .vars
                    .iter()
                    .map(|v| match v.space {
                        Space::PostNeuron(pv) => pv as u32,
                        _ => {
                            next += 1;
                            next - 1
                        }
                    })
                    .collect()
            })
            .collect();
        let mut plan = FusedPlan {
            parts: vec![],
            bufs: vec![],
            groups: vec![],
            zero: Kernel::default(),
            scratch: vec![],
        };
        // Adds a part; a run of `couple` parts joins the group just opened.
        let push = |plan: &mut FusedPlan, part: FusedPart, bufs: &[u32], join: bool| {
            let m = plan.parts.len();
            plan.parts.push(part);
            plan.bufs.push(bufs.to_vec());
            match plan.groups.last_mut() {
                Some((r, true)) if join => r.end = m + 1,
                _ => plan.groups.push((m..m + 1, join)),
            }
        };
        // The step zeroes the inputs itself (no memory pass, and the first
        // sum added into a known +0) when nothing else adds into them before
        // it: every projection onto the population that couples is fused,
        // and its own time-dependent kernels leave inputs alone.
        let inputs: Vec<u32> = (0..layout.vars.len() as u32)
            .filter(|&v| layout.vars[v as usize].role == VarRole::Input)
            .collect();
        let mut before = vec![];
        crate::written_vars(&k.dynamic.body, &mut before);
        crate::written_vars(&k.drive.body, &mut before);
        if !inputs.is_empty()
            && !others_couple(&projs)
            && inputs
                .iter()
                .all(|&v| !layout.vars[v as usize].scalar && !before.contains(&v))
        {
            plan.zero = Kernel {
                name: "zero_inputs".into(),
                domain: Domain::Each,
                temps: 0,
                body: inputs
                    .iter()
                    .map(|&v| Stmt::Store(v, Expr::Const(0.0)))
                    .collect(),
            };
            push(&mut plan, FusedPart::ZeroInputs, &pop_bufs, false);
            plan.scratch = inputs
                .iter()
                .copied()
                .filter(|&v| !read_outside_pass(net, p, v))
                .collect();
        }
        for (x, &j) in projs.iter().enumerate() {
            // Each projection's couplings form one group (one local sum).
            let mut first = true;
            for (n, c) in net.projs[j].couple.iter().enumerate() {
                if !c.body.is_empty() {
                    if first {
                        let m = plan.parts.len();
                        plan.groups.push((m..m, true));
                        first = false;
                    }
                    push(
                        &mut plan,
                        FusedPart::Couple { proj: j, n },
                        &proj_bufs[x],
                        true,
                    );
                }
            }
        }
        if !k.update.body.is_empty() {
            push(&mut plan, FusedPart::Update, &pop_bufs, false);
        }
        for (x, &j) in projs.iter().enumerate() {
            for (n, u) in net.projs[j].update.iter().enumerate() {
                if !u.body.is_empty() {
                    push(
                        &mut plan,
                        FusedPart::ProjUpdate { proj: j, n },
                        &proj_bufs[x],
                        false,
                    );
                }
            }
        }
        if k.threshold.as_ref().is_some_and(|t| !t.body.is_empty()) {
            push(&mut plan, FusedPart::Threshold, &pop_bufs, false);
        }
        Some(plan)
    }
}

/// Whether anything but population `p`'s fused pass reads its variable `v`:
/// a recording of it, another kernel of the population, or any kernel or
/// recording of a projection that sees it (a fused coupling's additions
/// are the pass's own; reading it there counts).
fn read_outside_pass(net: &Network, p: usize, v: VarId) -> bool {
    let reads =
        |body: &[Stmt], x: VarId| crate::any_expr(body, &|e| matches!(e, Expr::Load(y) if *y == x));
    let k = &net.pops[p];
    let recorded = net.layout.records.iter().any(|r| {
        r.pop == p && matches!(r.kind, crate::RecordKind::Var { var, .. } if var == v as usize)
    });
    let own = [&k.init, &k.dynamic, &k.drive]
        .into_iter()
        .chain(k.reset.as_ref())
        .any(|kern| reads(&kern.body, v));
    let projs = net.layout.projs.iter().enumerate().any(|(j, layout)| {
        layout.vars.iter().enumerate().any(|(x, var)| {
            let sees = match var.space {
                Space::PostNeuron(pv) => layout.post == p && pv == v as usize,
                Space::PreNeuron(pv) => layout.pre == p && pv == v as usize,
                _ => false,
            };
            let x = x as VarId;
            let pk = &net.projs[j];
            sees && (net.layout.records.iter().any(|r| {
                matches!(r.kind, crate::RecordKind::Synapses { proj, var, .. } if proj == j && var == x as usize)
            }) || pk
                .init
                .iter()
                .chain([&pk.dynamic])
                .chain(&pk.couple)
                .chain(&pk.update)
                .chain(&pk.on_pre)
                .chain(&pk.on_post)
                .any(|kern| reads(&kern.body, x)))
        })
    });
    recorded || own || projs
}

/// Whether a population's update and threshold may run in one pass: both
/// visit every neuron and write only that neuron's values.
fn fusable_pop(k: &PopKernels, view: &View) -> bool {
    let parts: Vec<&Kernel> = std::iter::once(&k.update)
        .chain(k.threshold.as_ref())
        .filter(|k| !k.body.is_empty())
        .collect();
    !parts.is_empty()
        && parts.iter().all(|k| {
            let mut written = vec![];
            crate::written_vars(&k.body, &mut written);
            k.domain == Domain::Each
                && written
                    .iter()
                    .all(|&v| view.addrs.get(v as usize) == Some(&Addr::Element))
        })
}

/// Whether a projection's couplings and equations may run inside its
/// postsynaptic population's pass: each visits the postsynaptic neurons,
/// reads only that neuron's values and scalars of its own, and writes only
/// that neuron's values (equations never add into the neuron).
fn fusable_proj(k: &ProjKernels, layout: &ProjLayout, view: &View) -> bool {
    let fits = |k: &Kernel, may_add: bool| {
        let mut written = vec![];
        crate::written_vars(&k.body, &mut written);
        k.domain == Domain::PostNeurons
            && vars_used(&k.body).iter().all(|&v| {
                let local = matches!(
                    layout.vars.get(v as usize).map(|x| x.space),
                    Some(Space::Scalar | Space::PostState | Space::PostNeuron(_))
                );
                local && matches!(view.addrs.get(v as usize), Some(Addr::Zero | Addr::Post))
            })
            && written.iter().all(|&v| match view.targets.get(v as usize) {
                Some(Target::Acc(..)) => may_add,
                _ => view.addrs.get(v as usize) == Some(&Addr::Post),
            })
    };
    let couple = k.couple.iter().filter(|k| !k.body.is_empty());
    let update = k.update.iter().filter(|k| !k.body.is_empty());
    let mut any = false;
    for c in couple {
        any = true;
        if !fits(c, true) {
            return false;
        }
    }
    for u in update {
        any = true;
        if !fits(u, false) {
            return false;
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_indices_follow_the_phase_lists() {
        for (i, p) in PopPhase::ALL.iter().enumerate() {
            assert_eq!(p.index(), i, "{p:?}");
        }
        for (i, p) in PROJ_PHASES.iter().enumerate() {
            assert_eq!(proj_phase_index(*p), i, "{p:?}");
        }
    }
}
