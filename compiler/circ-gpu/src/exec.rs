//! The device-resident executor: a network's state in device buffers for a
//! whole run, and the runtime's step plan (`circ_runtime::StepPlan`)
//! recorded into one command buffer per batch of steps. The host hands in
//! the spikes of inputs and reads back spikes (one bitset per population
//! per step) and the recorders' values (copied on the device at the steps
//! they are due).
//!
//! It runs populations (time-dependent parameters, drives, updates and
//! fused passes, spike conditions, resets, refractory periods) and
//! projections: a spike marks each of its synapses (a bit, by postsynaptic
//! neuron) in the slot of the step it arrives, and an arrival kernel per
//! postsynaptic neuron reads its marks and runs the handler for each marked
//! synapse in increasing order (so sums are the CPU's, without float
//! atomics); the handlers' additions are then applied as on the CPU.
//! Couplings, equations and `on post` run over neurons or over each
//! postsynaptic neuron's synapses in increasing order. What it cannot run
//! yet is refused by name ([`check`], [`Executor::new`]).
//!
//! A batch's commands are recorded in groups with a barrier between them
//! (commands of a group touch different places and may run at once):
//! every population's pass (update, fused step, threshold) together,
//! every projection's marks together, then the projections' handlers in
//! waves (those of different targets together, one target's in
//! projection order, as its sums need), every population's application
//! of its accumulators together, every reset, every refractory update.
//! `Executor::reversed` records each group last to first, which the tests
//! run on lavapipe (it runs commands in order) to check the groups.

use crate::{Buffer, Gpu, GpuError, Kernel, Recording};
use circ_ir::plan::{FnKind, FusedPart, Plan};
use circ_ir::{Domain, Network, Space};
use circ_runtime::schedule::{Batch, BatchOut, Loaded, Op, Resident, Src};
use circ_runtime::sim::Fusion;
use circ_runtime::sim::gib;
use circ_runtime::{NetLayout, VarRole};
use std::cell::RefCell;

/// The push constants' layout (byte offsets), as the code generator
/// defines it; handed in so this crate knows no code generator.
#[derive(Clone, Copy, Debug)]
pub struct PushLayout {
    /// Device address of the table of buffer addresses.
    pub table: u32,
    /// The first element.
    pub start: u32,
    /// One past the last element.
    pub count: u32,
    /// `t`, seconds (f64).
    pub t: u32,
    /// `dt`, seconds (f64).
    pub dt: u32,
    /// The step (u64).
    pub step: u32,
    /// The seed (u64).
    pub seed: u32,
    /// Device address of the last refractory steps (i64 per element).
    pub ref_until: u32,
    /// Device address of the spike bitset.
    pub spikes: u32,
    /// Device address of the refractory periods resets set.
    pub refr: u32,
    /// Slots of marks (u64).
    pub ring: u32,
    /// Words of one slot of marks (u64).
    pub words: u32,
    /// Invocations per presynaptic neuron when marking (u64).
    pub lanes: u32,
    /// Device address of the data tables' directory.
    pub data: u32,
    /// The block's size in bytes.
    pub size: u32,
    /// Invocations per workgroup.
    pub local_size: u32,
}

/// Makes the application of handlers' additions: (variables, those with
/// accumulators, those held while refractory, the refractory flag).
pub type ApplyFn = dyn Fn(u32, &[u32], &[u32], Option<u32>) -> Result<Vec<u32>, String>;

/// The SPIR-V of everything the executor may run, from a code generator.
pub struct Modules<'a> {
    /// Function `f` of the plan (elementwise, once, reset or fused), or why
    /// it cannot be translated.
    pub function: &'a dyn Fn(usize) -> Result<Vec<u32>, String>,
    /// Projection function `f` (not `Once`): over neurons, or over each
    /// postsynaptic neuron's synapses (arrivals for an `on pre`).
    pub projection: &'a dyn Fn(usize) -> Result<Vec<u32>, String>,
    /// The application of the handlers' additions: (variables, those with
    /// accumulators, those held while refractory, the refractory flag).
    pub apply: &'a ApplyFn,
    /// The refractory update.
    pub refractory: Vec<u32>,
    /// The marking of synapses whose presynaptic neuron spiked.
    pub mark: Vec<u32>,
}

/// A population's functions, by index in the plan.
#[derive(Clone, Debug)]
struct PopFns<K> {
    /// The `dynamic` kernel, unless it computes constants (set once, by
    /// initialisation), and the drive.
    dynamic: Option<usize>,
    drive: Option<usize>,
    update: Option<usize>,
    threshold: Option<usize>,
    reset: Option<usize>,
    fused: Option<usize>,
    /// The projections fused into its pass, in increasing order (their
    /// own buffers follow the population's in the pass's table).
    fused_projs: Vec<usize>,
    /// The variables handlers add into, with the kernel that applies them.
    apply: Option<(Vec<u32>, K)>,
}

/// A projection's functions.
struct ProjFns<K> {
    /// Its time-dependent parameters, unless constant.
    dynamic: Option<usize>,
    /// Its kernels by phase (couplings and equations when not fused into
    /// the postsynaptic population's pass), with the domain each visits.
    couple: Vec<(K, Domain)>,
    update: Vec<(K, Domain)>,
    on_pre: Vec<(K, Domain)>,
    on_post: Vec<(K, Domain)>,
    /// The postsynaptic variables its couplings add into, and the kernel
    /// that applies those sums after them.
    couple_apply: Option<(Vec<u32>, K)>,
    /// Whether a kernel runs over presynaptic neurons' synapses (it needs
    /// each synapse's postsynaptic neuron).
    by_pre: bool,
}

/// A projection on the device.
struct ProjState {
    /// Own buffers by variable (`None` for views of neuron values).
    vars: Vec<Option<Buffer>>,
    /// Its synapses (both orders), delays and marks, which its tables name.
    _csr: Vec<Buffer>,
    /// The table of its kernels (variables, accumulators, synapses by
    /// postsynaptic neuron, presynaptic neurons, marks).
    table: Buffer,
    /// The mark kernel's table.
    mark_table: Buffer,
    /// Slots of marks (the longest delay + 1), and words per slot.
    ring: usize,
    words: usize,
    /// The couplings' table (their own sums in the accumulator slots), the
    /// sums, and the table that applies them to the postsynaptic values.
    couple_table: Buffer,
    _couple_accs: Vec<Option<Buffer>>,
    couple_apply_table: Option<Buffer>,
    /// The delay of every synapse, when they all have the same one (the
    /// neuron part of `on pre` runs when spikes arrive).
    uniform: Option<u32>,
    /// Steps from a postsynaptic spike to its `on post` (a dendritic
    /// delay's round trip; 0 without one).
    post_delay: usize,
}

/// What lives on the device during a run.
struct State {
    /// The data tables' directory (address and length of each), and their values.
    data: Buffer,
    _tables: Vec<Buffer>,
    /// Per population, per variable.
    vars: Vec<Vec<Buffer>>,
    /// Per population: the addresses of its variables (a function's table).
    tables: Vec<Buffer>,
    /// Per population: its fused pass's table (with fused projections).
    fused_tables: Vec<Option<Buffer>>,
    /// Per population: the handlers' accumulators by variable.
    accs: Vec<Vec<Option<Buffer>>>,
    /// Per population: the table of its application of additions.
    apply_tables: Vec<Option<Buffer>>,
    ref_until: Vec<Buffer>,
    refr: Vec<Buffer>,
    /// Per population whose spikes a handler reads steps later (an `on
    /// pre` neuron part after a uniform delay, `on post` after a dendritic
    /// one): its spike history and the number of its slots.
    history: Vec<Option<(Buffer, usize)>>,
    projs: Vec<ProjState>,
    sizes: Vec<usize>,
}

/// What the executor runs, with its kernels made by `K` (a device's
/// [`Kernel`], or nothing when only checking).
struct Parts<K> {
    pops: Vec<PopFns<K>>,
    projs: Vec<ProjFns<K>>,
    /// Per projection: (pre, post, variables' spaces).
    ends: Vec<(usize, usize, Vec<Space>)>,
    /// Per function of the plan: its kernel, where the executor runs it.
    kernels: Vec<Option<K>>,
    refractory: K,
    mark: K,
    /// Per function: whether it runs once (one invocation).
    once: Vec<bool>,
    fusion: Fusion,
    /// Per population: its input variables (zeroed each step).
    inputs: Vec<Vec<usize>>,
}

/// Runs a network's steps on a Vulkan device ([`Resident`]).
pub struct Executor {
    gpu: Gpu,
    push: PushLayout,
    parts: Parts<Kernel>,
    /// The runtime's step plan, handed over by `load`.
    plan: RefCell<Vec<Op>>,
    state: RefCell<Option<State>>,
    /// The data tables kernels read (`timed`, `values`), by index.
    tables: Vec<Vec<f64>>,
    /// Each group's commands recorded last to first (tests).
    reversed: bool,
    /// Buffers every batch fills and reads, kept between batches.
    scratch: RefCell<Scratch>,
}

/// A device buffer the host fills or reads every batch, and its staging
/// buffer where the host cannot map it.
struct Staged {
    dev: Buffer,
    host: Option<Buffer>,
}

impl Staged {
    /// At least `len` bytes: `old` if it is large enough, else new ones.
    fn fit(gpu: &Gpu, old: Option<Staged>, len: usize) -> Result<Staged, String> {
        if let Some(s) = old
            && s.dev.len() >= len
        {
            return Ok(s);
        }
        let dev = gpu.buffer(len).map_err(error)?;
        let host = if dev.mapped() {
            None
        } else {
            Some(gpu.host_buffer(len).map_err(error)?)
        };
        Ok(Staged { dev, host })
    }

    /// What the host writes and reads.
    fn host(&mut self) -> &mut Buffer {
        self.host.as_mut().unwrap_or(&mut self.dev)
    }

    /// The copy of the host's first `len` bytes to the device, beside the
    /// group's other commands.
    fn upload<'a>(&'a self, g: &mut Groups<'a>, len: usize) {
        if let Some(h) = &self.host {
            g.beside(Cmd::Copy(h, 0, &self.dev, 0, len));
        }
    }

    /// The copy of the device's first `len` bytes to the host, beside the
    /// group's other commands.
    fn download<'a>(&'a self, g: &mut Groups<'a>, len: usize) {
        if let Some(h) = &self.host {
            g.beside(Cmd::Copy(&self.dev, 0, h, 0, len));
        }
    }

    /// The host's first `len` bytes (after `download` ran).
    fn read(&self, len: usize) -> Result<Vec<u8>, String> {
        let b = self.host.as_ref().unwrap_or(&self.dev);
        let mut v = b.read().map_err(error)?;
        v.truncate(len);
        Ok(v)
    }
}

/// The per-batch buffers: spike bitsets per population, recorders' values.
#[derive(Default)]
struct Scratch {
    rings: Vec<Option<Staged>>,
    taps: Option<Staged>,
}

/// Why the executor cannot run something.
fn refuse(what: String, why: &str) -> GpuError {
    GpuError(format!("{what}: {why}"))
}

/// Whether the executor runs `net` under `plan` with these modules, or
/// what it cannot run yet (by name); no device is needed.
pub fn check(net: &Network, plan: &Plan, modules: &Modules<'_>) -> Result<(), GpuError> {
    assemble(net, plan, modules, &|_| Ok(())).map(|_| ())
}

/// Decides what runs how, and makes each kernel with `make`.
fn assemble<K>(
    net: &Network,
    plan: &Plan,
    modules: &Modules<'_>,
    make: &dyn Fn(&[u32]) -> Result<K, GpuError>,
) -> Result<Parts<K>, GpuError> {
    let mut kernels: Vec<Option<K>> = (0..plan.functions.len()).map(|_| None).collect();
    let npop = net.pops.len();
    let mut fusion = Fusion {
        pops: vec![false; npop],
        projs: vec![false; net.projs.len()],
        inputs: vec![false; npop],
    };
    let load = |f: usize, kernels: &mut Vec<Option<K>>| -> Result<(), GpuError> {
        let w = (modules.function)(f)
            .map_err(|why| refuse(describe(net, &plan.functions[f].kind), &why))?;
        kernels[f] = Some(make(&w)?);
        Ok(())
    };
    let mut pops = vec![];
    for (p, m) in plan.map.pops.iter().enumerate() {
        let steady = net
            .pops
            .get(p)
            .is_some_and(|k| circ_ir::step_invariant(&k.dynamic));
        let mut fns = PopFns {
            dynamic: m.dynamic.filter(|_| !steady),
            drive: m.drive,
            update: m.update,
            threshold: m.threshold,
            reset: m.reset,
            fused: None,
            fused_projs: vec![],
            apply: None,
        };
        // The fused pass where the SPIR-V generator translates it, else
        // the phases one by one.
        if let Some(Some(step)) = plan.map.fused.get(p)
            && (modules.function)(step.kernel).is_ok()
        {
            load(step.kernel, &mut kernels)?;
            fns.fused = Some(step.kernel);
            fusion.pops[p] = true;
            fusion.inputs[p] = step.parts.contains(&FusedPart::ZeroInputs);
            for part in &step.parts {
                if let FusedPart::Couple { proj, .. } | FusedPart::ProjUpdate { proj, .. } = *part {
                    fusion.projs[proj] = true;
                    if !fns.fused_projs.contains(&proj) {
                        fns.fused_projs.push(proj);
                    }
                }
            }
            fns.fused_projs.sort_unstable();
        } else {
            for f in [m.update, m.threshold].into_iter().flatten() {
                load(f, &mut kernels)?;
            }
        }
        for f in [fns.dynamic, m.drive, m.reset].into_iter().flatten() {
            load(f, &mut kernels)?;
        }
        pops.push(fns);
    }
    let mut projs = vec![];
    let mut ends = vec![];
    // Per population: the variables handlers add into.
    let mut added: Vec<Vec<u32>> = vec![vec![]; npop];
    for (k, m) in plan.map.projs.iter().enumerate() {
        let layout = &net.layout.projs[k];
        let name = format!("projection `{}` ({})", layout.name, layout.origin);
        let mut fns = ProjFns {
            dynamic: None,
            couple: vec![],
            update: vec![],
            on_pre: vec![],
            on_post: vec![],
            couple_apply: None,
            by_pre: false,
        };
        let steady = net
            .projs
            .get(k)
            .is_some_and(|x| circ_ir::step_invariant(&x.dynamic));
        if !steady && let Some(slot) = m.dynamic.first() {
            load(slot.kernel, &mut kernels)?;
            fns.dynamic = Some(slot.kernel);
        }
        let fused = fusion.projs[k];
        let mut couple_adds: Vec<u32> = vec![];
        let phases = [
            (circ_runtime::sim::ProjPhase::Couple, &m.couple, !fused),
            (circ_runtime::sim::ProjPhase::Update, &m.update, !fused),
            (circ_runtime::sim::ProjPhase::OnPre, &m.on_pre, true),
            (circ_runtime::sim::ProjPhase::OnPost, &m.on_post, true),
        ];
        for (phase, slots, runs) in phases {
            if !runs {
                continue;
            }
            for slot in slots {
                let f = slot.kernel;
                let w = (modules.projection)(f).map_err(|why| refuse(name.clone(), &why))?;
                // A synapse kernel that writes presynaptic neurons' values
                // runs over them (each over its synapses in order).
                let mut domain = plan.functions[f].domain;
                if domain == Domain::Synapses
                    && plan.map.writes.get(f).is_some_and(|w| w.pre_only())
                {
                    domain = Domain::PreNeurons;
                    fns.by_pre = true;
                }
                let entry = (make(&w)?, domain);
                let mut written = vec![];
                if let Some(kernel) = net
                    .projs
                    .get(k)
                    .and_then(|x| circ_ir::plan::proj_kernels(x, phase).get(slot.n))
                {
                    circ_ir::written_vars(&kernel.body, &mut written);
                }
                // Additions to postsynaptic values: the couplings' own sums,
                // or the handlers' shared ones.
                let adds = written
                    .iter()
                    .filter_map(|&v| match layout.vars.get(v as usize) {
                        Some(x) => match x.space {
                            Space::PostNeuron(pv) => Some(pv as u32),
                            _ => None,
                        },
                        None => None,
                    });
                use circ_runtime::sim::ProjPhase as P;
                let target = if phase == P::Couple {
                    &mut couple_adds
                } else {
                    &mut added[layout.post]
                };
                for pv in adds {
                    if !target.contains(&pv) {
                        target.push(pv);
                    }
                }
                match phase {
                    P::Couple => fns.couple.push(entry),
                    P::Update => fns.update.push(entry),
                    P::OnPre => fns.on_pre.push(entry),
                    _ => fns.on_post.push(entry),
                }
            }
        }
        if !couple_adds.is_empty() {
            couple_adds.sort_unstable();
            let nv = net.layout.pops[layout.post].vars.len() as u32;
            let w = (modules.apply)(nv, &couple_adds, &[], None)
                .map_err(|why| refuse(name.clone(), &why))?;
            fns.couple_apply = Some((couple_adds, make(&w)?));
        }
        projs.push(fns);
        ends.push((
            layout.pre,
            layout.post,
            layout.vars.iter().map(|v| v.space).collect(),
        ));
    }
    for (p, mut accs) in added.into_iter().enumerate() {
        if accs.is_empty() {
            continue;
        }
        accs.sort_unstable();
        let pop = &net.layout.pops[p];
        let held: Vec<u32> = pop.held.iter().map(|&v| v as u32).collect();
        let flag = pop.refractory_flag.map(|v| v as u32);
        let w = (modules.apply)(pop.vars.len() as u32, &accs, &held, flag)
            .map_err(|why| GpuError(format!("population `{}`: {why}", pop.name)))?;
        pops[p].apply = Some((accs, make(&w)?));
    }
    Ok(Parts {
        pops,
        projs,
        ends,
        kernels,
        refractory: make(&modules.refractory)?,
        mark: make(&modules.mark)?,
        once: plan
            .functions
            .iter()
            .map(|f| f.domain == Domain::Once)
            .collect(),
        fusion,
        inputs: net
            .layout
            .pops
            .iter()
            .map(|p| {
                (0..p.vars.len())
                    .filter(|&v| p.vars[v].role == VarRole::Input)
                    .collect()
            })
            .collect(),
    })
}

impl Executor {
    /// An executor for `net` under `plan` on `gpu`, with kernels made from
    /// `modules`, reading these data tables. Refuses, naming it, what it cannot run yet.
    pub fn new(
        gpu: Gpu,
        net: &Network,
        plan: &Plan,
        push: PushLayout,
        modules: &Modules<'_>,
        tables: Vec<Vec<f64>>,
    ) -> Result<Executor, GpuError> {
        let parts = assemble(net, plan, modules, &|w| gpu.kernel(w, push.size))?;
        Ok(Executor {
            gpu,
            push,
            parts,
            tables,
            reversed: false,
            plan: RefCell::new(vec![]),
            state: RefCell::new(None),
            scratch: RefCell::new(Scratch::default()),
        })
    }

    /// The same executor recording each group of commands that may run
    /// together last to first: on a driver that runs them in order
    /// (lavapipe), a group whose commands depend on each other gives other
    /// values, which the differential tests would see.
    pub fn reversed(self) -> Executor {
        Executor {
            reversed: true,
            ..self
        }
    }

    /// Which populations step in one pass (for the runtime's step plan).
    pub fn fusion(&self) -> Fusion {
        self.parts.fusion.clone()
    }

    /// The device: its name and subgroup size.
    pub fn device(&self) -> String {
        format!("{}, subgroup {}", self.gpu.name(), self.gpu.subgroup_size())
    }

    fn kernel(&self, f: Option<usize>) -> Option<(&Kernel, bool)> {
        let f = f?;
        Some((self.parts.kernels.get(f)?.as_ref()?, self.parts.once[f]))
    }
}

/// One dispatch's push constants.
#[derive(Clone, Copy)]
struct Launch {
    table: u64,
    count: usize,
    step: u64,
    dt: f64,
    seed: u64,
    ref_until: u64,
    spikes: u64,
    refr: u64,
    ring: u64,
    words: u64,
    lanes: u64,
    data: u64,
}

/// A command of a batch.
enum Cmd<'a> {
    /// A kernel, its push constants and workgroups.
    Dispatch(&'a Kernel, Vec<u8>, u32),
    /// `len` bytes from a buffer at an offset to another at an offset.
    Copy(&'a Buffer, usize, &'a Buffer, usize, usize),
    /// `len` bytes of a buffer from an offset set to zero.
    Zero(&'a Buffer, usize, usize),
}

/// A batch's commands in groups: the commands of a group touch different
/// places (so may run at once, in any order); each group starts after the
/// previous one has finished (a barrier between them).
#[derive(Default)]
struct Groups<'a> {
    groups: Vec<Vec<Cmd<'a>>>,
}

impl<'a> Groups<'a> {
    /// Starts a new group.
    fn open(&mut self) {
        if self.groups.last().is_none_or(|g| !g.is_empty()) {
            self.groups.push(vec![]);
        }
    }

    /// `c` in the current group, beside its other commands.
    fn beside(&mut self, c: Cmd<'a>) {
        if self.groups.is_empty() {
            self.groups.push(vec![]);
        }
        if let Some(g) = self.groups.last_mut() {
            g.push(c);
        }
    }

    /// `c` alone, after everything before it.
    fn then(&mut self, c: Cmd<'a>) {
        self.open();
        self.beside(c);
    }

    /// Sequences of commands, each after everything before: those of
    /// different `keys` run together, the n-th of every sequence in one
    /// group; those of one key in order, a wave after another.
    fn waves(&mut self, seqs: Vec<Vec<Cmd<'a>>>, keys: &[usize]) {
        let mut wave_of = vec![];
        for (n, key) in keys.iter().enumerate() {
            wave_of.push(keys[..n].iter().filter(|k| *k == key).count());
        }
        let waves = wave_of.iter().max().map_or(0, |w| w + 1);
        let mut seqs: Vec<Option<Vec<Cmd<'a>>>> = seqs.into_iter().map(Some).collect();
        for w in 0..waves {
            let mut now: Vec<std::vec::IntoIter<Cmd<'a>>> = vec![];
            for (n, s) in seqs.iter_mut().enumerate() {
                if wave_of[n] == w
                    && let Some(s) = s.take()
                {
                    now.push(s.into_iter());
                }
            }
            loop {
                self.open();
                let mut any = false;
                for s in &mut now {
                    if let Some(c) = s.next() {
                        self.beside(c);
                        any = true;
                    }
                }
                if !any {
                    break;
                }
            }
        }
    }

    /// Records the groups, a barrier after each; with `reversed` each
    /// group's commands last to first (tests: a group whose commands
    /// depend on each other then gives other values).
    fn record(self, rec: &mut Recording<'a>, reversed: bool) {
        for mut group in self.groups {
            if group.is_empty() {
                continue;
            }
            if reversed {
                group.reverse();
            }
            for c in group {
                match c {
                    Cmd::Dispatch(k, push, n) => rec.dispatch(k, &push, n),
                    Cmd::Copy(a, from, b, to, len) => rec.copy(a, from, b, to, len),
                    Cmd::Zero(b, at, len) => rec.zero(b, at, len),
                }
            }
            rec.barrier();
        }
    }
}

impl Executor {
    /// A dispatch of `k` with the push constants of `l`.
    fn launch<'a>(&self, k: &'a Kernel, l: Launch) -> Cmd<'a> {
        let p = &self.push;
        let mut pc = vec![0u8; p.size as usize];
        let mut put = |o: u32, x: [u8; 8]| pc[o as usize..o as usize + 8].copy_from_slice(&x);
        put(p.table, l.table.to_le_bytes());
        put(p.start, 0u64.to_le_bytes());
        put(p.count, (l.count as u64).to_le_bytes());
        put(p.t, (l.step as f64 * l.dt).to_le_bytes());
        put(p.dt, l.dt.to_le_bytes());
        put(p.step, l.step.to_le_bytes());
        put(p.seed, l.seed.to_le_bytes());
        put(p.ref_until, l.ref_until.to_le_bytes());
        put(p.spikes, l.spikes.to_le_bytes());
        put(p.refr, l.refr.to_le_bytes());
        put(p.ring, l.ring.to_le_bytes());
        put(p.words, l.words.to_le_bytes());
        put(p.lanes, l.lanes.to_le_bytes());
        put(p.data, l.data.to_le_bytes());
        Cmd::Dispatch(k, pc, (l.count as u32).div_ceil(self.push.local_size))
    }
}

/// A function's description in an error.
fn describe(net: &Network, kind: &FnKind) -> String {
    let pop = |p: usize| {
        net.layout.pops.get(p).map_or_else(
            || format!("population {p}"),
            |l| format!("population `{}`", l.name),
        )
    };
    match kind {
        FnKind::Pop(p, phase) => format!("{} ({})", pop(*p), phase.name()),
        FnKind::Fused(p) => format!("{} (step)", pop(*p)),
        FnKind::Proj(k, ..) => net.layout.projs.get(*k).map_or_else(
            || format!("projection {k}"),
            |l| format!("projection `{}` ({})", l.name, l.origin),
        ),
    }
}

fn floats(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect()
}

fn bytes<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    v.iter().flat_map(|&x| f(x)).collect()
}

/// Bytes the executor keeps on the device for `layout`, its projections
/// holding `synapses[k]` synapses with delay rings of `slots[k]` steps:
/// neuron state, refractory steps and periods, each synapse's own values,
/// indices (by postsynaptic neuron, presynaptic neuron, position, delay)
/// and one mark bit per slot, and the offsets of both orders.
pub fn device_bytes(layout: &NetLayout, synapses: &[f64], slots: &[f64]) -> f64 {
    let mut b = 0.0;
    for p in &layout.pops {
        let n = p.size as f64;
        for v in &p.vars {
            b += if v.scalar { 8.0 } else { 8.0 * n };
        }
        b += 16.0 * n;
    }
    for (k, proj) in layout.projs.iter().enumerate() {
        let own = proj.vars.iter().filter(|v| v.space == Space::Syn).count() as f64;
        let n = synapses.get(k).copied().unwrap_or(0.0);
        let ring = slots.get(k).copied().unwrap_or(1.0);
        let ends = (layout.pops[proj.pre].size + layout.pops[proj.post].size + 2) as f64;
        b += n * (own * 8.0 + 16.0 + ring / 8.0) + ends * 8.0;
    }
    b
}

/// Refuses to start what would not fit in the device's memory (`need`
/// bytes for `synapses` synapses), before anything large is allocated.
pub fn fits(gpu: &Gpu, need: f64, synapses: f64) -> Result<(), GpuError> {
    let have = gpu.device_memory() as f64;
    // Leave room for the kernels, the driver and each batch's buffers.
    if need <= 0.9 * have {
        return Ok(());
    }
    Err(GpuError(format!(
        "the network needs about {} of device memory ({:.3e} synapses) and {} has {}; run a smaller network (a `scale` parameter) or on the CPU",
        gib(need),
        synapses,
        gpu.name(),
        gib(have)
    )))
}

fn error(e: GpuError) -> String {
    e.0
}

impl Executor {
    /// A buffer holding `data`.
    fn upload<T: Copy, const N: usize>(
        &self,
        data: &[T],
        f: impl Fn(T) -> [u8; N],
    ) -> Result<Buffer, String> {
        let mut b = self.gpu.buffer(data.len() * N).map_err(error)?;
        b.write(&bytes(data, f)).map_err(error)?;
        Ok(b)
    }

    /// Keeps population `p`'s (of `size` neurons) spikes for `delay` steps
    /// after they happen (nothing for 0: this step's bitset has them).
    fn keep_history(
        &self,
        history: &mut [Option<(Buffer, usize)>],
        p: usize,
        size: usize,
        delay: usize,
    ) -> Result<(), String> {
        let slots = delay + 1;
        if delay > 0 && slots > history[p].as_ref().map_or(0, |h| h.1) {
            let words = size.div_ceil(32);
            history[p] = Some((self.gpu.buffer(slots * words * 4).map_err(error)?, slots));
        }
        Ok(())
    }

    /// A table of these addresses.
    fn table(&self, addrs: &[u64]) -> Result<Buffer, String> {
        self.upload(addrs, u64::to_le_bytes)
    }
}

impl Resident for Executor {
    fn load(&self, s: &Loaded<'_>) -> Result<(), String> {
        let layout = s.layout;
        for (k, p) in s.projs.iter().enumerate() {
            if p.pending {
                let name = layout.projs.get(k).map_or("", |l| l.name.as_str());
                return Err(format!(
                    "projection `{name}` has spikes on their way from an earlier run; the GPU starts runs from empty delay rings"
                ));
            }
        }
        // What the built synapses need, before anything is allocated.
        let synapses: Vec<f64> = s.projs.iter().map(|p| p.csr.len() as f64).collect();
        let slots: Vec<f64> = s
            .projs
            .iter()
            .map(|p| f64::from(p.delays.iter().copied().max().unwrap_or(0)) + 1.0)
            .collect();
        let need = device_bytes(layout, &synapses, &slots);
        fits(&self.gpu, need, synapses.iter().sum()).map_err(error)?;
        let sizes: Vec<usize> = layout.pops.iter().map(|p| p.size).collect();
        let mut vars = vec![];
        for pop in s.vars {
            vars.push(
                pop.iter()
                    .map(|v| self.upload(v, f64::to_le_bytes))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        let addr = |bufs: &[Buffer]| bufs.iter().map(|b| b.address).collect::<Vec<u64>>();
        let tables = self
            .tables
            .iter()
            .map(|t| self.upload(t, f64::to_le_bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let dir: Vec<u64> = tables
            .iter()
            .zip(&self.tables)
            .flat_map(|(b, t)| [b.address, t.len() as u64])
            .collect();
        let mut st = State {
            data: self.table(&dir)?,
            _tables: tables,
            tables: vars
                .iter()
                .map(|v| self.table(&addr(v)))
                .collect::<Result<_, _>>()?,
            fused_tables: vec![],
            accs: vec![],
            apply_tables: vec![],
            ref_until: s
                .ref_until
                .iter()
                .map(|r| self.upload(r, i64::to_le_bytes))
                .collect::<Result<_, _>>()?,
            refr: sizes
                .iter()
                .map(|&n| self.gpu.buffer(n * 8).map_err(error))
                .collect::<Result<_, _>>()?,
            projs: vec![],
            history: (0..sizes.len()).map(|_| None).collect(),
            vars,
            sizes: sizes.clone(),
        };
        // Accumulators of handlers' additions, and their application.
        for (p, fns) in self.parts.pops.iter().enumerate() {
            let nv = st.vars[p].len();
            let mut accs: Vec<Option<Buffer>> = (0..nv).map(|_| None).collect();
            let mut apply_table = None;
            if let Some((vs, _)) = &fns.apply {
                for &v in vs {
                    accs[v as usize] = Some(self.gpu.buffer(sizes[p] * 8).map_err(error)?);
                }
                let mut t = addr(&st.vars[p]);
                t.extend(accs.iter().map(|a| a.as_ref().map_or(0, |b| b.address)));
                apply_table = Some(self.table(&t)?);
            }
            st.accs.push(accs);
            st.apply_tables.push(apply_table);
        }
        // Projections: own values, synapses by postsynaptic neuron, and
        // the table their kernels read.
        for (k, p) in s.projs.iter().enumerate() {
            let (pre, post, spaces) = &self.parts.ends[k];
            let own: Vec<Option<Buffer>> = spaces
                .iter()
                .enumerate()
                .map(|(v, space)| match space {
                    Space::PreNeuron(_) | Space::PostNeuron(_) => Ok(None),
                    _ => self
                        .upload(
                            p.vars.get(v).map_or(&[][..], Vec::as_slice),
                            f64::to_le_bytes,
                        )
                        .map(Some),
                })
                .collect::<Result<_, _>>()?;
            let by_post: Vec<u64> = p.csr.by_post_offsets.iter().map(|&o| o as u64).collect();
            let by_pre: Vec<u64> = p.csr.offsets.iter().map(|&o| o as u64).collect();
            // Each synapse's position by postsynaptic neuron: its mark's bit.
            let mut position = vec![0u32; p.csr.len()];
            for (q, &syn) in p.csr.by_post.iter().enumerate() {
                if let Some(x) = position.get_mut(syn as usize) {
                    *x = q as u32;
                }
            }
            let ring = p.delays.iter().copied().max().unwrap_or(0) as usize + 1;
            let words = p.csr.len().div_ceil(32);
            let marks = self.gpu.buffer(ring * words * 4).map_err(error)?;
            let mut csr = vec![
                self.upload(&by_post, u64::to_le_bytes)?,
                self.upload(&p.csr.by_post, u32::to_le_bytes)?,
                self.upload(&p.csr.pre, u32::to_le_bytes)?,
                self.upload(&by_pre, u64::to_le_bytes)?,
                self.upload(&position, u32::to_le_bytes)?,
                self.upload(&p.delays, u32::to_le_bytes)?,
                marks,
            ];
            if self.parts.projs[k].by_pre {
                csr.push(self.upload(&p.csr.post, u32::to_le_bytes)?);
            }
            let mut t: Vec<u64> = spaces
                .iter()
                .zip(&own)
                .map(|(space, b)| match space {
                    Space::PreNeuron(pv) => st.vars[*pre].get(*pv).map_or(0, |b| b.address),
                    Space::PostNeuron(pv) => st.vars[*post].get(*pv).map_or(0, |b| b.address),
                    _ => b.as_ref().map_or(0, |b| b.address),
                })
                .collect();
            t.extend(spaces.iter().map(|space| {
                match space {
                    Space::PostNeuron(pv) => st.accs[*post]
                        .get(*pv)
                        .and_then(Option::as_ref)
                        .map_or(0, |b| b.address),
                    _ => 0,
                }
            }));
            t.extend([0, 1, 2, 6].map(|x| csr[x].address));
            t.extend([csr[3].address, csr.get(7).map_or(0, |b| b.address)]);
            let mark_table = self.table(&[3, 4, 5, 6].map(|x| csr[x].address))?;
            // The couplings' own sums, by postsynaptic variable.
            let fns = &self.parts.projs[k];
            let npost = st.vars[*post].len();
            let mut couple_accs: Vec<Option<Buffer>> = (0..npost).map(|_| None).collect();
            let mut couple_apply_table = None;
            if let Some((vs, _)) = &fns.couple_apply {
                for &v in vs {
                    couple_accs[v as usize] =
                        Some(self.gpu.buffer(sizes[*post] * 8).map_err(error)?);
                }
                let mut at = addr(&st.vars[*post]);
                at.extend(
                    couple_accs
                        .iter()
                        .map(|a| a.as_ref().map_or(0, |b| b.address)),
                );
                couple_apply_table = Some(self.table(&at)?);
            }
            let nv = spaces.len();
            let mut ct = t.clone();
            for (v, space) in spaces.iter().enumerate() {
                ct[nv + v] = match space {
                    Space::PostNeuron(pv) => couple_accs
                        .get(*pv)
                        .and_then(Option::as_ref)
                        .map_or(0, |b| b.address),
                    _ => 0,
                };
            }
            let first = p.delays.first().copied().unwrap_or(0);
            let uniform = p.delays.iter().all(|&d| d == first).then_some(first);
            // The neuron part of `on pre` runs when a uniform delay's spikes
            // arrive (from the presynaptic history); with delays that
            // differ, as on the CPU, when they leave.
            if let Some(d) = uniform
                && fns.on_pre.iter().any(|(_, d)| *d == Domain::SpikingPre)
            {
                self.keep_history(&mut st.history, *pre, sizes[*pre], d as usize)?;
            }
            // `on post` after a dendritic delay reads the spikes of
            // `post_delay` steps ago from the postsynaptic history.
            let post_delay = if fns.on_post.is_empty() {
                0
            } else {
                p.post_delay
            };
            self.keep_history(&mut st.history, *post, sizes[*post], post_delay)?;
            st.projs.push(ProjState {
                vars: own,
                _csr: csr,
                table: self.table(&t)?,
                mark_table,
                ring,
                words,
                couple_table: self.table(&ct)?,
                _couple_accs: couple_accs,
                couple_apply_table,
                uniform,
                post_delay,
            });
        }
        // Fused passes: the population's buffers, then each fused
        // projection's own, as the plan numbers them.
        for (p, fns) in self.parts.pops.iter().enumerate() {
            if fns.fused.is_none() {
                st.fused_tables.push(None);
                continue;
            }
            let mut t = addr(&st.vars[p]);
            for &k in &fns.fused_projs {
                for (space, b) in self.parts.ends[k].2.iter().zip(&st.projs[k].vars) {
                    if !matches!(space, Space::PostNeuron(_)) {
                        t.push(b.as_ref().map_or(0, |b| b.address));
                    }
                }
            }
            st.fused_tables.push(Some(self.table(&t)?));
        }
        *self.state.borrow_mut() = Some(st);
        // The step plan is the runtime's; keep it for the batches.
        self.plan.replace(s.plan.ops.clone());
        Ok(())
    }

    fn run(&self, batch: &Batch<'_>) -> Result<BatchOut, String> {
        let guard = self.state.borrow();
        let st = guard.as_ref().ok_or("the GPU has no state loaded")?;
        let plan = self.plan.borrow();
        let npop = st.sizes.len();
        let steps = batch.count as usize;
        if batch.taps.len() != steps || batch.given.len() != steps {
            return Err("a batch without its inputs or recorders for every step".into());
        }
        // Spike bitsets: per population, one per step of the batch, holding
        // the inputs' spikes before the step runs.
        let words: Vec<usize> = st.sizes.iter().map(|n| n.div_ceil(32)).collect();
        let mut scratch = self.scratch.borrow_mut();
        let sc = &mut *scratch;
        sc.rings.resize_with(npop, || None);
        for p in 0..npop {
            let mut bits = vec![0u32; words[p] * steps];
            for (j, given) in batch.given.iter().enumerate() {
                for &i in given.get(p).map_or(&[][..], Vec::as_slice) {
                    bits[j * words[p] + i as usize / 32] |= 1 << (i % 32);
                }
            }
            let mut r = Staged::fit(&self.gpu, sc.rings[p].take(), bits.len() * 4)?;
            r.host()
                .write(&bytes(&bits, u32::to_le_bytes))
                .map_err(error)?;
            sc.rings[p] = Some(r);
        }
        // Recorders' values, step by step.
        let mut at = vec![];
        let mut len = 0usize;
        for taps in batch.taps {
            let mut row = vec![];
            for tap in taps {
                row.push(len);
                len += (tap.last - tap.first) * 8;
            }
            at.push(row);
        }
        sc.taps = Some(Staged::fit(&self.gpu, sc.taps.take(), len)?);
        let staged: Vec<&Staged> = sc.rings.iter().flatten().collect();
        let tapbuf = sc.taps.as_ref().ok_or("no recorders' buffer")?;
        let rings: Vec<&Buffer> = staged.iter().map(|r| &r.dev).collect();
        let ring_len: Vec<usize> = words.iter().map(|w| w * steps * 4).collect();
        let mut g = Groups::default();
        g.open();
        for (r, &n) in staged.iter().zip(&ring_len) {
            r.upload(&mut g, n);
        }
        for (j, (taps, row)) in batch.taps.iter().zip(&at).enumerate() {
            let step = batch.first + j as u64;
            // Recorders read the state the step starts from (each into its
            // own place: together).
            g.open();
            for (tap, &to) in taps.iter().zip(row) {
                let n = (tap.last - tap.first) * 8;
                let src = match tap.src {
                    Src::Pop(p, v) => &st.vars[p][v],
                    Src::Proj(k, v) => match st.projs.get(k).and_then(|x| x.vars.get(v)) {
                        Some(Some(b)) => b,
                        _ => return Err("a recording of a projection's view".into()),
                    },
                };
                g.beside(Cmd::Copy(src, tap.first * 8, &tapbuf.dev, to, n));
            }
            let slot = |p: usize| rings[p].address + (j * words[p] * 4) as u64;
            // Population `p`'s spikes of `d` steps ago: this step's bitset,
            // or its slot of the population's history.
            let ago = |p: usize, d: usize| match &st.history[p] {
                Some((h, slots)) if d > 0 => {
                    let back = (step as usize + slots - d % slots) % slots;
                    h.address + (back * words[p] * 4) as u64
                }
                _ => slot(p),
            };
            let base = |p: usize, table: u64, count: usize| Launch {
                table,
                count,
                step,
                dt: batch.dt,
                seed: batch.seed,
                ref_until: st.ref_until[p].address,
                spikes: slot(p),
                refr: st.refr[p].address,
                ring: 0,
                words: 0,
                lanes: 1,
                data: st.data.address,
            };
            let mut history_done = false;
            let mut i = 0;
            while i < plan.len() {
                let op = plan[i];
                // Consecutive ops of one kind (propagation, applications,
                // resets) are taken together.
                let same = |o: &Op| match op {
                    Op::PopStep(_) | Op::Update(_) => matches!(o, Op::PopStep(_) | Op::Update(_)),
                    // Inputs' spikes are in the bitsets already: nothing
                    // to record for them.
                    Op::Threshold(_) => {
                        matches!(o, Op::Threshold(_) | Op::Poisson(_) | Op::Scheduled(_))
                    }
                    Op::Deliver(_) | Op::OnPost(_) => matches!(o, Op::Deliver(_) | Op::OnPost(_)),
                    Op::ApplyEvents(_) => matches!(o, Op::ApplyEvents(_)),
                    Op::Reset(_) => matches!(o, Op::Reset(_)),
                    _ => false,
                };
                let end = i + 1 + plan[i + 1..].iter().take_while(|o| same(o)).count();
                let ops = &plan[i..end];
                i = end;
                // This step's spikes are complete once propagation starts:
                // they enter the histories neuron parts of handlers read.
                if !history_done
                    && matches!(
                        op,
                        Op::Deliver(_) | Op::OnPost(_) | Op::ApplyEvents(_) | Op::Reset(_)
                    )
                {
                    history_done = true;
                    g.open();
                    for (p, h) in st.history.iter().enumerate() {
                        if let Some((buf, slots)) = h {
                            let to = (step as usize % slots) * words[p] * 4;
                            g.beside(Cmd::Copy(rings[p], j * words[p] * 4, buf, to, words[p] * 4));
                        }
                    }
                }
                match op {
                    Op::ZeroInputs(p) => {
                        g.open();
                        for &v in &self.parts.inputs[p] {
                            g.beside(Cmd::Zero(&st.vars[p][v], 0, st.vars[p][v].len()));
                        }
                    }
                    Op::Dynamic(p) => {
                        let fns = &self.parts.pops[p];
                        for f in [fns.dynamic, fns.drive] {
                            if let Some((k, once)) = self.kernel(f) {
                                let n = if once { 1 } else { st.sizes[p] };
                                g.then(self.launch(k, base(p, st.tables[p].address, n)));
                            }
                        }
                    }
                    Op::PopStep(_) | Op::Update(_) | Op::Threshold(_) => {
                        // Populations step together: a pass touches only
                        // its population's values (a fused projection's
                        // couplings and equations read and write only the
                        // postsynaptic neuron's: `plan::fusable_proj`).
                        g.open();
                        for &o in ops {
                            let (Op::PopStep(p) | Op::Update(p) | Op::Threshold(p)) = o else {
                                continue;
                            };
                            let fns = &self.parts.pops[p];
                            let (f, table) = match o {
                                Op::PopStep(_) => (
                                    fns.fused,
                                    st.fused_tables[p].as_ref().map_or(0, |b| b.address),
                                ),
                                Op::Update(_) => (fns.update, st.tables[p].address),
                                _ => (fns.threshold, st.tables[p].address),
                            };
                            if let Some((k, once)) = self.kernel(f) {
                                let n = if once { 1 } else { st.sizes[p] };
                                g.beside(self.launch(k, base(p, table, n)));
                            }
                        }
                    }
                    Op::Reset(_) => {
                        // Every population's reset, then every one's
                        // refractory update (each touches its own only).
                        g.open();
                        for &o in ops {
                            if let Op::Reset(p) = o
                                && let Some((k, _)) = self.kernel(self.parts.pops[p].reset)
                            {
                                let l = base(p, st.tables[p].address, st.sizes[p]);
                                g.beside(self.launch(k, l));
                            }
                        }
                        g.open();
                        for &o in ops {
                            if let Op::Reset(p) = o {
                                let l = base(p, st.tables[p].address, st.sizes[p]);
                                g.beside(self.launch(&self.parts.refractory, l));
                            }
                        }
                    }
                    Op::ProjDynamic(k) => {
                        if let Some((kern, _)) = self.kernel(self.parts.projs[k].dynamic) {
                            let post = self.parts.ends[k].1;
                            g.then(self.launch(kern, base(post, st.projs[k].table.address, 1)));
                        }
                    }
                    Op::Deliver(_) | Op::OnPost(_) => {
                        // Every projection's marks where this step's spikes
                        // arrive (each its own), then per projection its
                        // handlers in order: the neuron part of `on pre` for
                        // the spikes arriving now (a uniform delay: those of
                        // step - delay), its synapse part for the marked
                        // synapses by postsynaptic neuron, and `on post`.
                        // A projection's handlers touch its own values and
                        // add into its postsynaptic population's
                        // accumulators: those of different targets run
                        // together, in waves; a target's, in order.
                        let lanes = if self.gpu.is_cpu() { 1 } else { 32 };
                        g.open();
                        let mut units: Vec<(usize, Vec<Cmd<'_>>)> = vec![];
                        for &o in ops {
                            let k = match o {
                                Op::Deliver(k) | Op::OnPost(k) => k,
                                _ => continue,
                            };
                            let (pre, post, _) = self.parts.ends[k];
                            let ps = &st.projs[k];
                            let (ring, w) = (ps.ring as u64, ps.words as u64);
                            if units.last().is_none_or(|u| u.0 != k) {
                                units.push((k, vec![]));
                            }
                            let Some((_, unit)) = units.last_mut() else {
                                continue;
                            };
                            if let Op::Deliver(_) = o {
                                // A GPU shares a spike's synapses among a
                                // warp's lanes; a CPU's driver runs one
                                // invocation per neuron (most do nothing).
                                let l = Launch {
                                    ring,
                                    words: w,
                                    lanes,
                                    ..base(
                                        pre,
                                        ps.mark_table.address,
                                        st.sizes[pre] * lanes as usize,
                                    )
                                };
                                g.beside(self.launch(&self.parts.mark, l));
                                for (kern, domain) in &self.parts.projs[k].on_pre {
                                    let spikes = match (domain, ps.uniform) {
                                        (Domain::SpikingPre, Some(d)) => ago(pre, d as usize),
                                        (Domain::SpikingPre, None) => slot(pre),
                                        _ => slot(post),
                                    };
                                    let count = if *domain == Domain::SpikingPre {
                                        st.sizes[pre]
                                    } else {
                                        st.sizes[post]
                                    };
                                    let l = Launch {
                                        ring,
                                        words: w,
                                        spikes,
                                        ..base(post, ps.table.address, count)
                                    };
                                    unit.push(self.launch(kern, l));
                                }
                            } else {
                                // The postsynaptic spikes due now: this
                                // step's, or after a dendritic delay's round
                                // trip, an earlier one's.
                                let spikes = ago(post, ps.post_delay);
                                for (kern, _) in &self.parts.projs[k].on_post {
                                    let l = Launch {
                                        spikes,
                                        ..base(post, ps.table.address, st.sizes[post])
                                    };
                                    unit.push(self.launch(kern, l));
                                }
                            }
                        }
                        let posts: Vec<usize> =
                            units.iter().map(|u| self.parts.ends[u.0].1).collect();
                        g.waves(units.into_iter().map(|u| u.1).collect(), &posts);
                    }
                    Op::Couple(k) | Op::ProjUpdate(k) => {
                        let (pre, post, _) = self.parts.ends[k];
                        let ps = &st.projs[k];
                        let fns = &self.parts.projs[k];
                        let (kernels, table) = if matches!(op, Op::Couple(_)) {
                            (&fns.couple, ps.couple_table.address)
                        } else {
                            (&fns.update, ps.table.address)
                        };
                        for (kern, domain) in kernels {
                            let count = match domain {
                                Domain::PreNeurons => st.sizes[pre],
                                _ => st.sizes[post],
                            };
                            g.then(self.launch(kern, base(post, table, count)));
                        }
                        if let (Op::Couple(_), Some((_, kern)), Some(t)) =
                            (op, &fns.couple_apply, &ps.couple_apply_table)
                        {
                            g.then(self.launch(kern, base(post, t.address, st.sizes[post])));
                        }
                    }
                    Op::ApplyEvents(_) => {
                        // Each population's accumulators into its values.
                        g.open();
                        for &o in ops {
                            if let Op::ApplyEvents(p) = o
                                && let (Some((_, kern)), Some(t)) =
                                    (&self.parts.pops[p].apply, &st.apply_tables[p])
                            {
                                g.beside(self.launch(kern, base(p, t.address, st.sizes[p])));
                            }
                        }
                    }
                    // Inputs' spikes are in the bitsets already.
                    Op::Poisson(_) | Op::Scheduled(_) => {}
                }
            }
        }
        g.open();
        for (r, &n) in staged.iter().zip(&ring_len) {
            r.download(&mut g, n);
        }
        tapbuf.download(&mut g, len);
        let mut rec = self.gpu.record().map_err(error)?;
        g.record(&mut rec, self.reversed);
        rec.run().map_err(error)?;
        let mut out = BatchOut {
            spikes: vec![vec![vec![]; npop]; steps],
            taps: vec![],
        };
        for (p, ring) in staged.iter().enumerate() {
            let raw = ring.read(ring_len[p])?;
            for (j, list) in out.spikes.iter_mut().enumerate() {
                let slot = &raw[j * words[p] * 4..(j + 1) * words[p] * 4];
                for (w, c) in slot.chunks_exact(4).enumerate() {
                    let mut x = u32::from_le_bytes(c.try_into().unwrap_or([0; 4]));
                    while x != 0 {
                        let b = x.trailing_zeros();
                        list[p].push((w * 32) as u32 + b);
                        x &= x - 1;
                    }
                }
            }
        }
        let values = tapbuf.read(len)?;
        for (taps, row) in batch.taps.iter().zip(&at) {
            out.taps.push(
                taps.iter()
                    .zip(row)
                    .map(|(tap, &o)| floats(&values[o..o + (tap.last - tap.first) * 8]))
                    .collect(),
            );
        }
        Ok(out)
    }

    fn store(
        &self,
        vars: &mut [Vec<Vec<f64>>],
        ref_until: &mut [Vec<i64>],
        projs: &mut [&mut Vec<Vec<f64>>],
    ) -> Result<(), String> {
        let guard = self.state.borrow();
        let st = guard.as_ref().ok_or("the GPU has no state loaded")?;
        let copy = |b: &Buffer, dst: &mut Vec<f64>| -> Result<(), String> {
            let x = floats(&b.read().map_err(error)?);
            let n = dst.len().min(x.len());
            dst[..n].copy_from_slice(&x[..n]);
            Ok(())
        };
        for (p, bufs) in st.vars.iter().enumerate() {
            for (v, b) in bufs.iter().enumerate() {
                if let Some(dst) = vars.get_mut(p).and_then(|vs| vs.get_mut(v)) {
                    copy(b, dst)?;
                }
            }
            if let Some(dst) = ref_until.get_mut(p) {
                let raw = st.ref_until[p].read().map_err(error)?;
                for (d, c) in dst.iter_mut().zip(raw.chunks_exact(8)) {
                    *d = i64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
                }
            }
        }
        for (k, p) in st.projs.iter().enumerate() {
            for (v, b) in p.vars.iter().enumerate() {
                if let (Some(b), Some(dst)) = (b, projs.get_mut(k).and_then(|x| x.get_mut(v))) {
                    copy(b, dst)?;
                }
            }
        }
        Ok(())
    }
}
