//! circ-native owns the execution of compiled kernels on the CPU, for every
//! code generator: the kernel calling convention ([`Env`]) and the table of
//! functions compiled code calls ([`env::SYMBOLS`]), the thread pool, the
//! partitioning of kernels across threads (by postsynaptic neuron, row
//! cuts), the fused-step dispatch and the `Backend` the runtime steps. A
//! code generator hands it one function pointer per function of a
//! [`circ_ir::plan::Plan`] (JIT code, or the table of a linked object) and
//! is done. It must not generate code, know a code generator, or change
//! what a kernel computes or the order in which it visits elements; it reads
//! no environment and prints nothing ([`Options`] carries the settings).

pub mod env;
mod pool;

pub use env::Env;

use circ_ir::plan::{
    FusedPart, KernelMap, PROJ_PHASES, PopPhase, Writes, proj_kernels, proj_phase_index,
    vars_used_by,
};
use circ_ir::{Domain, Network, Space, step_invariant};
use circ_runtime::sim::{Backend, Fusion, ProjCtx, ProjPhase, StepCtx};

/// A compiled kernel: `fn(env: *const Env)`.
pub type KernelFn = unsafe extern "C" fn(*const Env);

/// A projection's split of its rows by postsynaptic block: the number of
/// blocks, and for each presynaptic neuron the `blocks + 1` synapse indices
/// where its row enters each block (and ends).
type RowCuts = (usize, Vec<u32>);

/// `env` over synapses `a..b` given as a range (no list).
fn range_env(env: &Env, a: u32, b: u32) -> Env {
    Env {
        list: std::ptr::null(),
        start: u64::from(a),
        count: u64::from(b),
        ..*env
    }
}

/// Calls a compiled kernel.
fn call(f: KernelFn, env: &Env) {
    // SAFETY: every pointer in `env` refers to a live buffer of the sizes the
    // kernel's domain indexes (the runtime sized them from the layout and
    // the synapses), and concurrent calls get disjoint slices (`Native::launch`).
    #[allow(unsafe_code)]
    unsafe {
        f(env)
    }
}

/// Why an executor could not be made.
#[derive(Debug)]
pub struct ExecError(pub String);

impl std::fmt::Display for ExecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Below this many elements a kernel runs on the calling thread: handing
/// work to the pool costs more than it saves.
pub const MIN_PARALLEL: usize = 4096;

/// The same for a step's arriving synapses (rows of them): a synapse costs
/// a few nanoseconds and handing rows to the waiting workers about a
/// microsecond.
pub const MIN_PARALLEL_ARRIVALS: usize = 1024;

/// How an executor runs: data the caller (the command line, a test) fills.
#[derive(Clone, Debug)]
pub struct Options {
    /// Threads large kernels are split across (1: the calling thread only).
    pub threads: usize,
    /// Kernels under this many elements (and arrivals under this many
    /// synapses) run on the calling thread; `None`: [`MIN_PARALLEL`] and
    /// [`MIN_PARALLEL_ARRIVALS`]. Tests set 1 to split every kernel.
    pub min_parallel: Option<usize>,
    /// Whether fused population steps run (`false`: every phase on its own;
    /// tests compare both).
    pub fusion: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: 1,
            min_parallel: None,
            fusion: true,
        }
    }
}

/// A compiled kernel and what decides how threads may split it.
#[derive(Clone, Copy)]
struct K {
    /// Its function's index in the table (`Native::fns`).
    id: usize,
    domain: Domain,
    writes: Writes,
}

struct PopFns {
    /// Per phase (by `PopPhase::index`): its kernel, if it has one.
    phases: [Option<K>; 6],
    /// `dynamic` gives the same values every step: it runs at the start only.
    steady: bool,
}

impl PopFns {
    fn get(&self, phase: PopPhase) -> Option<K> {
        self.phases[phase.index()]
    }
}

struct ProjFns {
    /// Per phase (in `PROJ_PHASES` order): its kernels.
    phases: [Vec<K>; 6],
    /// `dynamic` gives the same values every step (its initialiser sets them).
    steady: bool,
    /// Per phase: the variables its kernels name; only their addresses are passed.
    used: [Vec<u32>; 6],
}

/// The native executor: a network's compiled kernels, run on the runtime's
/// schedule, split across threads where that gives the same values.
pub struct Native<'a> {
    net: &'a Network,
    /// Keeps the code alive while the function pointers are used (a JIT's
    /// module; nothing for kernels linked into an executable).
    _code: Option<Box<dyn std::any::Any>>,
    /// The function table, in the plan's order (replaced once by an
    /// upgrade, at a step boundary).
    fns: std::cell::RefCell<Vec<KernelFn>>,
    /// Code that replaces `fns` when ready (tiered compilation).
    upgrade: std::cell::RefCell<Option<Upgrade>>,
    /// The step from which the upgraded code runs, once it does, and its name.
    upgraded_at: std::cell::Cell<Option<u64>>,
    upgraded_label: std::cell::Cell<&'static str>,
    /// Seconds the upgraded code took to compile.
    upgrade_seconds: std::cell::Cell<f64>,
    /// When the upgrade was set, and seconds from then to the swap.
    upgrade_set: std::cell::Cell<Option<std::time::Instant>>,
    upgrade_after: std::cell::Cell<f64>,
    /// Why the upgrade did not happen, if it failed.
    upgrade_failed: std::cell::RefCell<Option<String>>,
    /// What keeps the upgraded code alive.
    kept: std::cell::RefCell<Vec<Box<dyn std::any::Any>>>,
    pops: Vec<PopFns>,
    projs: Vec<ProjFns>,
    tables: Vec<Vec<f64>>,
    table_ptrs: Vec<*const f64>,
    table_lens: Vec<u64>,
    /// Worker threads (`None`: run everything on the calling thread).
    pool: Option<pool::SpinPool>,
    threads: usize,
    /// Kernels over fewer elements run on the calling thread.
    min_parallel: usize,
    /// Per projection, once its arrivals were split by postsynaptic block:
    /// the number of blocks and each presynaptic neuron's bounds in them.
    row_cuts: std::cell::RefCell<Vec<Option<RowCuts>>>,
    /// Arrivals (rows of synapses) at fewer synapses run on the calling
    /// thread: lower than `min_parallel`, since a split costs a microsecond
    /// and a synapse a few nanoseconds.
    min_parallel_arrivals: usize,
    /// Per population: its fused step, if any.
    fused: Vec<Option<(usize, Vec<FusedPart>)>>,
    /// What the fused steps cover.
    fusion: Fusion,
    /// Buffers reused from call to call.
    scratch: std::cell::RefCell<Scratch>,
}

/// Code that replaces an executor's functions at a step boundary when it
/// is ready (tiered compilation): the same functions of the same plan from
/// another code generator, so the values stay the same.
pub struct Upgrade {
    /// Delivers the new function table, in the plan's order, and the
    /// seconds its compilation took (or why there is none).
    pub fns: std::sync::mpsc::Receiver<Result<(Vec<KernelFn>, f64), String>>,
    /// Keeps the new code alive; dropped with the executor.
    pub keep: Box<dyn std::any::Any>,
    /// Swap exactly before this step, waiting for the code if need be (for
    /// tests); `None`: before the first step after it is ready.
    pub at: Option<u64>,
    /// The new code's name, for the run's summary (`llvm`).
    pub label: &'static str,
}

/// Buffers a backend call fills and the next reuses (no allocation per step).
#[derive(Default)]
struct Scratch {
    /// Buffer addresses the kernels' `Env`s point into.
    ptrs: Vec<*mut f64>,
    /// Where each fused projection's addresses start in `ptrs`.
    offsets: Vec<(usize, usize)>,
    /// A fused step's `Env`s, one per part.
    envs: Vec<Env>,
    /// Where thresholds append the elements that fire (each slice of
    /// elements in its own part), and how many each slice appended.
    list: Vec<u32>,
    counts: Vec<u64>,
}

impl<'a> Native<'a> {
    /// An executor over compiled kernels: `fns[i]` is function `i` of
    /// `map` (a JIT's, or an executable's linked table); `code` keeps their
    /// code alive. Results do not depend on the thread count: each thread
    /// takes a disjoint slice of elements, and values many elements add to
    /// are split by their owner (the postsynaptic neuron), so every sum
    /// keeps its serial order.
    pub fn new(
        net: &'a Network,
        tables: Vec<Vec<f64>>,
        map: &KernelMap,
        fns: &[KernelFn],
        code: Option<Box<dyn std::any::Any>>,
        opts: &Options,
    ) -> Result<Self, ExecError> {
        if fns.len() != map.domains.len() || map.writes.len() != map.domains.len() {
            return Err(ExecError(format!(
                "{} kernels given for a map of {}",
                fns.len(),
                map.domains.len()
            )));
        }
        let threads = opts.threads.max(1);
        let min_parallel = opts.min_parallel;
        let pool = if threads > 1 {
            // The calling thread takes a slice too.
            Some(
                pool::SpinPool::new(threads)
                    .map_err(|e| ExecError(format!("cannot start {threads} threads: {e}")))?,
            )
        } else {
            None
        };
        let k = |id: usize| K {
            id,
            domain: map.domains[id],
            writes: map.writes[id],
        };
        let pops = map
            .pops
            .iter()
            .enumerate()
            .map(|(p, m)| PopFns {
                phases: PopPhase::ALL.map(|phase| m.get(phase).map(k)),
                steady: net.pops.get(p).is_some_and(|k| step_invariant(&k.dynamic)),
            })
            .collect();
        let projs = map
            .projs
            .iter()
            .enumerate()
            .map(|(j, m)| ProjFns {
                phases: PROJ_PHASES.map(|phase| m.get(phase).iter().map(|s| k(s.kernel)).collect()),
                steady: net.projs.get(j).is_some_and(|k| step_invariant(&k.dynamic)),
                used: PROJ_PHASES.map(|phase| {
                    net.projs
                        .get(j)
                        .map_or_else(Vec::new, |k| vars_used_by(proj_kernels(k, phase)))
                }),
            })
            .collect();
        // Fused steps, and the projections they take over.
        let no_fusion = !opts.fusion;
        let fused: Vec<Option<(usize, Vec<FusedPart>)>> = (0..map.pops.len())
            .map(|p| {
                if no_fusion {
                    return None;
                }
                let step = map.fused.get(p)?.as_ref()?;
                (step.kernel < fns.len()).then(|| (step.kernel, step.parts.clone()))
            })
            .collect();
        let mut fusion = Fusion {
            pops: fused.iter().map(Option::is_some).collect(),
            projs: vec![false; map.projs.len()],
            inputs: fused
                .iter()
                .map(|f| {
                    f.as_ref()
                        .is_some_and(|(_, parts)| parts.contains(&FusedPart::ZeroInputs))
                })
                .collect(),
        };
        for (_, parts) in fused.iter().flatten() {
            for part in parts {
                if let FusedPart::Couple { proj, .. } | FusedPart::ProjUpdate { proj, .. } = part
                    && let Some(f) = fusion.projs.get_mut(*proj)
                {
                    *f = true;
                }
            }
        }
        let table_ptrs = tables.iter().map(|t| t.as_ptr()).collect();
        let table_lens = tables.iter().map(|t| t.len() as u64).collect();
        Ok(Native {
            net,
            _code: code,
            fns: std::cell::RefCell::new(fns.to_vec()),
            upgrade: Default::default(),
            upgraded_at: Default::default(),
            upgraded_label: std::cell::Cell::new(""),
            upgrade_seconds: std::cell::Cell::new(0.0),
            upgrade_set: std::cell::Cell::new(None),
            upgrade_after: std::cell::Cell::new(0.0),
            upgrade_failed: Default::default(),
            kept: Default::default(),
            pops,
            projs,
            tables,
            table_ptrs,
            table_lens,
            pool,
            threads,
            min_parallel: min_parallel.unwrap_or(MIN_PARALLEL),
            min_parallel_arrivals: min_parallel.unwrap_or(MIN_PARALLEL_ARRIVALS),
            row_cuts: Default::default(),
            fused,
            fusion,
            scratch: Default::default(),
        })
    }

    /// Function `id` of the table in use.
    fn fnp(&self, id: usize) -> KernelFn {
        self.fns.borrow()[id]
    }

    /// Takes `upgrade`'s code when it is ready ([`Backend::begin_step`]).
    pub fn set_upgrade(&self, upgrade: Upgrade) {
        self.upgrade_set.set(Some(std::time::Instant::now()));
        *self.upgrade.borrow_mut() = Some(upgrade);
    }

    /// The step from which upgraded code ran, if it did; why it could not,
    /// if it failed.
    pub fn upgrade_status(&self) -> (Option<u64>, Option<String>) {
        (self.upgraded_at.get(), self.upgrade_failed.borrow().clone())
    }

    /// Runs `k` over elements `0..count` of `env`, split across the pool
    /// when the kernel only writes its own element's places.
    fn launch(&self, k: &K, env: Env, count: usize, split: bool) {
        self.launch_range(k, env, 0..count, split);
    }

    /// [`Self::launch`] over elements `range` (a population's block when
    /// the network is split across processes).
    fn launch_range(&self, k: &K, mut env: Env, range: std::ops::Range<usize>, split: bool) {
        let (from, count) = (range.start, range.end);
        env.count = count as u64;
        let pool = match &self.pool {
            Some(p) if split && count.saturating_sub(from) >= self.min_parallel => p,
            _ => {
                env.start = from as u64;
                call(self.fnp(k.id), &env);
                return;
            }
        };
        let chunk = (count - from).div_ceil(self.threads);
        let envs: Vec<Env> = (from..count)
            .step_by(chunk)
            .map(|a| Env {
                start: a as u64,
                count: (a + chunk).min(count) as u64,
                ..env
            })
            .collect();
        Self::spread(pool, self.fnp(k.id), &envs);
    }

    /// Runs `k` on each environment, one per task of the pool (the calling
    /// thread claims tasks too).
    fn spread(pool: &pool::SpinPool, f: KernelFn, envs: &[Env]) {
        pool.run(envs.len(), &|t| call(f, &envs[t]));
    }

    /// Runs `k` once per environment, in parallel (each already names a
    /// disjoint slice).
    fn launch_each(&self, k: &K, envs: &[Env]) {
        match &self.pool {
            Some(p) if envs.len() > 1 => Self::spread(p, self.fnp(k.id), envs),
            _ => envs.iter().for_each(|e| call(self.fnp(k.id), e)),
        }
    }

    /// Runs an arrival kernel on threads, each over the arrivals at its own
    /// postsynaptic neurons in list order: every sum is the serial one.
    fn arrivals_by_post(&self, k: &K, env: Env, ctx: &ProjCtx<'_>, list: &[u32]) {
        let cuts = self.post_cuts(&ctx.csr.by_post_offsets);
        let mut owner = vec![0u32; ctx.csr.n_post];
        for (t, &(a, b)) in cuts.iter().enumerate() {
            owner[a..b].fill(t as u32);
        }
        let mut parts = vec![Vec::new(); cuts.len()];
        for &s in list {
            let j = ctx.csr.post[s as usize] as usize;
            parts[owner[j] as usize].push(s);
        }
        let envs: Vec<Env> = parts
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| Env {
                list: p.as_ptr(),
                count: p.len() as u64,
                ..env
            })
            .collect();
        self.launch_each(k, &envs);
    }

    /// Runs an arrival kernel that writes only its synapse's own values over
    /// whole rows of synapses, the rows cut into one run of about equal
    /// synapse counts per thread.
    fn rows_by_count(
        &self,
        pool: &pool::SpinPool,
        k: &K,
        env: &Env,
        ctx: &ProjCtx<'_>,
        total: usize,
    ) {
        let (offsets, rows) = (&ctx.csr.offsets, ctx.arriving_rows);
        let per = total.div_ceil(pool.threads()).max(1);
        let mut parts: Vec<&[u32]> = vec![];
        let (mut from, mut sum) = (0, 0);
        for (r, &i) in rows.iter().enumerate() {
            sum += offsets[i as usize + 1] - offsets[i as usize];
            if sum >= per || r + 1 == rows.len() {
                parts.push(&rows[from..=r]);
                (from, sum) = (r + 1, 0);
            }
        }
        let f = self.fnp(k.id);
        pool.run(parts.len(), &|t| {
            for &i in parts[t] {
                let (a, b) = (offsets[i as usize], offsets[i as usize + 1]);
                call(f, &range_env(env, a as u32, b as u32));
            }
        });
    }

    /// Runs an arrival kernel that writes postsynaptic values over whole rows
    /// of synapses on threads, each thread over its own block of
    /// postsynaptic neurons. A row is sorted by target, so where it crosses
    /// into each block is computed once per projection; a step's split costs
    /// one table read per spike and thread, no list, and each neuron's
    /// arrivals come in the serial order.
    fn rows_by_post(
        &self,
        pool: &pool::SpinPool,
        proj: usize,
        k: &K,
        env: &Env,
        ctx: &ProjCtx<'_>,
    ) {
        let mut tables = self.row_cuts.borrow_mut();
        if tables.len() <= proj {
            tables.resize(proj + 1, None);
        }
        let (blocks, bounds) = tables[proj].get_or_insert_with(|| self.row_cuts_of(ctx.csr));
        let (blocks, bounds) = (*blocks, bounds.as_slice());
        let rows = ctx.arriving_rows;
        // Block t of row i is bounds[i * (blocks + 1) + t] .. [.. + t + 1].
        let f = self.fnp(k.id);
        pool.run(blocks, &|t| {
            for &i in rows {
                let at = i as usize * (blocks + 1) + t;
                let (a, b) = (bounds[at], bounds[at + 1]);
                if a < b {
                    call(f, &range_env(env, a, b));
                }
            }
        });
    }

    /// For every presynaptic neuron, where its synapses (sorted by target)
    /// cross into each thread's block of postsynaptic neurons.
    fn row_cuts_of(&self, csr: &circ_runtime::connect::Csr) -> RowCuts {
        let cuts = self.post_cuts(&csr.by_post_offsets);
        let blocks = cuts.len().max(1);
        let mut bounds = Vec::with_capacity(csr.n_pre * (blocks + 1));
        for i in 0..csr.n_pre {
            let (a, b) = (csr.offsets[i], csr.offsets[i + 1]);
            let row = &csr.post[a..b];
            bounds.push(a as u32);
            for &(_, hi) in cuts.iter().take(blocks - 1) {
                bounds.push((a + row.partition_point(|&j| (j as usize) < hi)) as u32);
            }
            bounds.push(b as u32);
        }
        (blocks, bounds)
    }

    /// Ranges of postsynaptic neurons, one per thread, with about equal
    /// numbers of synapses (`offsets` is `by_post_offsets`).
    fn post_cuts(&self, offsets: &[usize]) -> Vec<(usize, usize)> {
        let n_post = offsets.len() - 1;
        let per = offsets[n_post].div_ceil(self.threads).max(1);
        let mut cuts = vec![];
        let mut j = 0;
        while j < n_post {
            // The first neuron whose synapses start at or past the target.
            let target = offsets[j] + per;
            let next = (offsets[j..].partition_point(|&o| o < target) + j).clamp(j + 1, n_post);
            cuts.push((j, next));
            j = next;
        }
        cuts
    }

    /// An environment at a step: its clock and the data tables, every
    /// buffer pointer null (callers set those their kernels read).
    fn bare_env(&self, t: f64, dt: f64, step: u64, seed: u64) -> Env {
        Env {
            vars: std::ptr::null(),
            acc: std::ptr::null(),
            list: std::ptr::null(),
            count: 0,
            pre: std::ptr::null(),
            post: std::ptr::null(),
            t,
            dt,
            step,
            seed,
            ref_until: std::ptr::null(),
            spikes: std::ptr::null_mut(),
            refr: std::ptr::null_mut(),
            tables: self.table_ptrs.as_ptr(),
            table_lens: self.table_lens.as_ptr(),
            start: 0,
            spike_count: std::ptr::null_mut(),
            rows: std::ptr::null(),
            keys: std::ptr::null(),
        }
    }

    /// A population kernel's environment, but for its buffers.
    fn env(&self, ctx: &StepCtx<'_>) -> Env {
        Env {
            ref_until: ctx.ref_until.as_ptr(),
            ..self.bare_env(ctx.t, ctx.dt, ctx.step, ctx.seed)
        }
    }

    /// Runs `f` (whose parts read the consecutive `envs`) over elements
    /// `0..n`, in slices across the pool when `split` and `n` is large; part
    /// `fires` (a threshold) appends the elements that fire, which end up in
    /// `out` in increasing order (slices in order, each in order).
    #[allow(clippy::too_many_arguments)]
    fn run_parts(
        &self,
        f: KernelFn,
        envs: &mut [Env],
        range: std::ops::Range<usize>,
        split: bool,
        fires: Option<usize>,
        list: &mut Vec<u32>,
        counts: &mut Vec<u64>,
        out: &mut Vec<u32>,
    ) {
        if envs.is_empty() {
            return;
        }
        let (from, n) = (range.start, range.end);
        // Room for every element: a slice appends at most its own.
        list.resize(n.max(1), 0);
        let slices: Vec<(usize, usize)> = match &self.pool {
            Some(_) if split && n.saturating_sub(from) >= self.min_parallel => {
                let chunk = (n - from).div_ceil(self.threads);
                (from..n)
                    .step_by(chunk)
                    .map(|a| (a, (a + chunk).min(n)))
                    .collect()
            }
            // One slice, the usual case: no allocation.
            _ => Vec::new(),
        };
        counts.clear();
        counts.resize(slices.len().max(1), 0);
        let (lp, cp) = (list.as_mut_ptr(), counts.as_mut_ptr());
        let slice_envs = |s: usize, (a, b): (usize, usize)| -> Vec<Env> {
            envs.iter()
                .enumerate()
                .map(|(m, e)| Env {
                    start: a as u64,
                    count: b as u64,
                    spikes: if fires == Some(m) {
                        lp.wrapping_add(a)
                    } else {
                        std::ptr::null_mut()
                    },
                    spike_count: cp.wrapping_add(s),
                    ..*e
                })
                .collect()
        };
        match (&self.pool, slices.len()) {
            (Some(pool), several) if several > 1 => {
                let arrays: Vec<Vec<Env>> = slices
                    .iter()
                    .enumerate()
                    .map(|(s, &r)| slice_envs(s, r))
                    .collect();
                pool.run(arrays.len(), &|t| call(f, &arrays[t][0]));
            }
            _ => {
                for (m, e) in envs.iter_mut().enumerate() {
                    e.start = from as u64;
                    e.count = n as u64;
                    if fires == Some(m) {
                        e.spikes = lp;
                    }
                    e.spike_count = cp;
                }
                call(f, &envs[0]);
            }
        }
        if slices.is_empty() {
            out.extend_from_slice(&list[..counts[0] as usize]);
        }
        for (s, &(a, _)) in slices.iter().enumerate() {
            let c = counts[s] as usize;
            out.extend_from_slice(&list[a..a + c]);
        }
    }

    /// Runs `k` over a population's buffers `vars` with `env`, over
    /// elements (or list positions) `range`.
    fn launch_pop(
        &self,
        k: &K,
        env: Env,
        vars: &mut [Vec<f64>],
        range: std::ops::Range<usize>,
        split: bool,
    ) {
        let mut scratch = self.scratch.borrow_mut();
        scratch.ptrs.clear();
        scratch.ptrs.extend(vars.iter_mut().map(|v| v.as_mut_ptr()));
        let env = Env {
            vars: scratch.ptrs.as_ptr(),
            ..env
        };
        self.launch_range(k, env, range, split);
    }

    fn run_pop(
        &self,
        k: Option<K>,
        ctx: &StepCtx<'_>,
        vars: &mut [Vec<f64>],
        range: std::ops::Range<usize>,
    ) {
        let Some(k) = k else { return };
        let env = self.env(ctx);
        // Per-neuron kernels write only their neuron's values unless they
        // assign a shared one.
        self.launch_pop(&k, env, vars, range, !k.writes.shared);
    }

    /// Runs a population phase's kernel (once for a scalar phase).
    fn run_phase(
        &self,
        f: &PopFns,
        phase: PopPhase,
        ctx: &StepCtx<'_>,
        vars: &mut [Vec<f64>],
        pop: usize,
    ) {
        let k = f.get(phase);
        // Split across processes: this rank's block.
        let range = match k.map(|k| k.domain) {
            Some(Domain::Once) => 0..1,
            _ => ctx.elements(self.size(pop)),
        };
        self.run_pop(k, ctx, vars, range);
    }

    fn size(&self, pop: usize) -> usize {
        self.net.layout.pops.get(pop).map_or(0, |p| p.size)
    }
}

impl Backend for Native<'_> {
    fn pre_reads(&self, proj: usize) -> Option<Vec<usize>> {
        Some(circ_ir::plan::pre_reads(self.net, proj))
    }

    fn init(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>) {
        let Some(f) = self.pops.get(pop) else { return };
        for phase in PopPhase::INIT_ORDER {
            self.run_phase(f, phase, ctx, vars, pop);
        }
    }

    fn dynamic(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>) {
        let Some(f) = self.pops.get(pop) else { return };
        for phase in PopPhase::DYNAMIC_ORDER {
            // Constant parameters were set at the start.
            if !(phase == PopPhase::Dynamic && f.steady) {
                self.run_phase(f, phase, ctx, vars, pop);
            }
        }
    }

    fn update(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>) {
        let Some(f) = self.pops.get(pop) else { return };
        self.run_phase(f, PopPhase::Update, ctx, vars, pop);
    }

    fn threshold(
        &self,
        pop: usize,
        vars: &mut [Vec<f64>],
        ctx: &StepCtx<'_>,
        spikes: &mut Vec<u32>,
    ) {
        let Some(Some(k)) = self.pops.get(pop).map(|f| f.get(PopPhase::Threshold)) else {
            return;
        };
        let n = self.size(pop);
        let mut scratch = self.scratch.borrow_mut();
        let Scratch {
            ptrs, list, counts, ..
        } = &mut *scratch;
        ptrs.clear();
        ptrs.extend(vars.iter_mut().map(|v| v.as_mut_ptr()));
        let mut env = [Env {
            vars: ptrs.as_ptr(),
            ..self.env(ctx)
        }];
        let split = !k.writes.shared;
        self.run_parts(
            self.fnp(k.id),
            &mut env,
            ctx.elements(n),
            split,
            Some(0),
            list,
            counts,
            spikes,
        );
    }

    fn reset(
        &self,
        pop: usize,
        vars: &mut [Vec<f64>],
        ctx: &StepCtx<'_>,
        spiking: &[u32],
        refractory: &mut Vec<f64>,
    ) {
        let start = refractory.len();
        refractory.resize(start + spiking.len(), 0.0);
        let Some(Some(k)) = self.pops.get(pop).map(|f| f.get(PopPhase::Reset)) else {
            return;
        };
        let env = Env {
            list: spiking.as_ptr(),
            refr: refractory[start..].as_mut_ptr(),
            ..self.env(ctx)
        };
        // The spiking neurons are distinct, and `refr` has a slot for each.
        self.launch_pop(&k, env, vars, 0..spiking.len(), !k.writes.shared);
    }

    fn proj(&self, proj: usize, phase: ProjPhase, ctx: &mut ProjCtx<'_>) -> bool {
        let Some(fns) = self.projs.get(proj) else {
            return false;
        };
        // Constant parameters were set by the initialiser.
        if phase == ProjPhase::Dynamic && fns.steady {
            return false;
        }
        let at = proj_phase_index(phase);
        let (kernels, used) = (&fns.phases[at], &fns.used[at]);
        let Some(layout) = self.net.layout.projs.get(proj) else {
            return false;
        };
        if kernels.is_empty() {
            return false;
        }
        // Buffers: own ones, and views of the two populations, then the
        // accumulators; the same for every kernel of the phase.
        let mut scratch = self.scratch.borrow_mut();
        // Only the variables the phase names: a projection views every
        // variable of both populations, and kernels read a few.
        let ptrs = &mut scratch.ptrs;
        ptrs.clear();
        ptrs.resize(layout.vars.len(), std::ptr::null_mut());
        for &v in used {
            let v = v as usize;
            if let (Some(slot), Some(var)) = (ptrs.get_mut(v), layout.vars.get(v)) {
                *slot = match var.space {
                    Space::PreNeuron(pv) => ctx.pre[pv].as_ptr().cast_mut(),
                    Space::PostNeuron(pv) => ctx.post[pv].as_ptr().cast_mut(),
                    _ => ctx.vars[v].as_mut_ptr(),
                };
            }
        }
        let n_vars = ptrs.len();
        ptrs.extend(ctx.acc.iter_mut().map(|a| a.as_mut_ptr()));
        let phase_env = Env {
            vars: ptrs.as_ptr(),
            acc: ptrs[n_vars..].as_ptr(),
            pre: ctx.csr.pre.as_ptr(),
            post: ctx.csr.post.as_ptr(),
            // usize is u64 on every target circ builds for (x86-64).
            rows: ctx.csr.offsets.as_ptr().cast::<u64>(),
            keys: if ctx.csr.keys.is_empty() {
                std::ptr::null()
            } else {
                ctx.csr.keys.as_ptr()
            },
            ..self.bare_env(ctx.t, ctx.dt, ctx.step, ctx.seed)
        };
        let mut added = false;
        for k in kernels {
            added |= k.writes.acc;
            let env = phase_env;
            let w = k.writes;
            // Only the element's own places written: any slicing is safe.
            let own = !w.shared && !w.pre && !w.post;
            match k.domain {
                Domain::Once => self.launch(k, env, 1, false),
                Domain::PreNeurons => self.launch(k, env, ctx.csr.n_pre, !w.shared && !w.post),
                Domain::PostNeurons => self.launch(k, env, ctx.csr.n_post, !w.shared && !w.pre),
                Domain::Synapses if own || self.pool.is_none() => {
                    self.launch(k, env, ctx.csr.len(), own)
                }
                Domain::Synapses if !w.shared && !w.pre && ctx.csr.len() >= self.min_parallel => {
                    // Values of postsynaptic neurons written: each thread takes
                    // whole neurons' synapses, in synapse order within each
                    // neuron, so every sum is the serial one.
                    let offsets = &ctx.csr.by_post_offsets;
                    let envs: Vec<Env> = self
                        .post_cuts(offsets)
                        .into_iter()
                        .map(|(a, b)| Env {
                            list: ctx.csr.by_post.as_ptr(),
                            start: offsets[a] as u64,
                            count: offsets[b] as u64,
                            ..env
                        })
                        .collect();
                    self.launch_each(k, &envs);
                }
                Domain::Synapses => self.launch(k, env, ctx.csr.len(), false),
                Domain::Arriving if !ctx.arriving_rows.is_empty() => {
                    let offsets = &ctx.csr.offsets;
                    let total: usize = ctx
                        .arriving_rows
                        .iter()
                        .map(|&i| offsets[i as usize + 1] - offsets[i as usize])
                        .sum();
                    match &self.pool {
                        Some(pool) if total >= self.min_parallel_arrivals && own => {
                            self.rows_by_count(pool, k, &env, ctx, total)
                        }
                        Some(pool)
                            if total >= self.min_parallel_arrivals && !w.shared && !w.pre =>
                        {
                            self.rows_by_post(pool, proj, k, &env, ctx)
                        }
                        _ => {
                            // One call per spike over its synapses, in order:
                            // no list of synapses is made.
                            for &i in ctx.arriving_rows {
                                let (a, b) = (offsets[i as usize], offsets[i as usize + 1]);
                                call(self.fnp(k.id), &range_env(&env, a as u32, b as u32));
                            }
                        }
                    }
                }
                Domain::Arriving => {
                    let list = &ctx.arriving;
                    if own
                        || w.shared
                        || w.pre
                        || self.pool.is_none()
                        || list.len() < self.min_parallel
                    {
                        let env = Env {
                            list: list.as_ptr(),
                            ..env
                        };
                        self.launch(k, env, list.len(), own);
                    } else {
                        self.arrivals_by_post(k, env, ctx, list);
                    }
                }
                Domain::SpikingPre | Domain::SpikingPost => {
                    let list = if k.domain == Domain::SpikingPre {
                        &ctx.spiking_pre
                    } else {
                        &ctx.spiking_post
                    };
                    let env = Env {
                        list: list.as_ptr(),
                        ..env
                    };
                    self.launch(k, env, list.len(), false);
                }
                Domain::PostSpikeSynapses => {
                    let post_list: Vec<u32> = ctx
                        .spiking_post
                        .iter()
                        .flat_map(|&j| {
                            ctx.csr.by_post[ctx.csr.by_post_offsets[j as usize]
                                ..ctx.csr.by_post_offsets[j as usize + 1]]
                                .iter()
                                .copied()
                        })
                        .collect();
                    let env = Env {
                        list: post_list.as_ptr(),
                        ..env
                    };
                    self.launch(k, env, post_list.len(), false);
                }
                Domain::Each | Domain::Spiking => {}
            }
        }
        added
    }

    fn fusion(&self) -> Fusion {
        self.fusion.clone()
    }

    fn note(&self) -> Option<String> {
        let (at, failed) = self.upgrade_status();
        match (at, failed) {
            (Some(n), _) => Some(format!(
                "{} from step {n}, {:.3} s after the start, compiled in {:.3} s",
                self.upgraded_label.get(),
                self.upgrade_after.get(),
                self.upgrade_seconds.get()
            )),
            (None, Some(why)) => Some(format!("first code only: {why}")),
            (None, None) => self.upgrade.borrow().as_ref().map(|u| {
                format!(
                    "first code only: {} was not ready before the run ended",
                    u.label
                )
            }),
        }
    }

    fn new_network(&self) {
        // Where each row crosses into each thread's block depends on the
        // synapses made for this network (another seed: other synapses).
        self.row_cuts.borrow_mut().clear();
        // Code swapped in during an earlier run runs this one from its start.
        if self.upgraded_at.get().is_some() {
            self.upgraded_at.set(Some(0));
            self.upgrade_after.set(0.0);
        }
    }

    fn begin_step(&self, step: u64) {
        let mut slot = self.upgrade.borrow_mut();
        let Some(up) = slot.as_ref() else { return };
        use std::sync::mpsc::TryRecvError;
        let got = match up.at {
            Some(at) if step < at => return,
            Some(_) => up
                .fns
                .recv()
                .map_err(|_| "the compiler stopped".to_string()),
            None => match up.fns.try_recv() {
                Ok(r) => Ok(r),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => Err("the compiler stopped".to_string()),
            },
        };
        match got.and_then(|r| r) {
            Ok((fns, secs)) if fns.len() == self.fns.borrow().len() => {
                *self.fns.borrow_mut() = fns;
                self.upgraded_at.set(Some(step));
                self.upgrade_seconds.set(secs);
                if let Some(t) = self.upgrade_set.get() {
                    self.upgrade_after.set(t.elapsed().as_secs_f64());
                }
                self.upgraded_label.set(up.label);
                // Keep the code alive as long as the executor.
                let up = slot.take();
                drop(slot);
                let keep = up.map(|u| u.keep);
                self.kept.borrow_mut().extend(keep);
            }
            Ok((fns, _)) => {
                *self.upgrade_failed.borrow_mut() = Some(format!(
                    "{} functions for a table of {}",
                    fns.len(),
                    self.fns.borrow().len()
                ));
                *slot = None;
            }
            Err(e) => {
                *self.upgrade_failed.borrow_mut() = Some(e);
                *slot = None;
            }
        }
    }

    fn pop_step(
        &self,
        pop: usize,
        vars: &mut [Vec<f64>],
        projs: &mut [(usize, &mut [Vec<f64>])],
        ctx: &StepCtx<'_>,
        spikes: &mut Vec<u32>,
    ) {
        let Some(Some((f, parts))) = self.fused.get(pop) else {
            return;
        };
        let n = self.size(pop);
        let mut scratch = self.scratch.borrow_mut();
        let Scratch {
            ptrs,
            offsets,
            envs,
            list,
            counts,
        } = &mut *scratch;
        // The population's buffers, then each projection's: its own, and
        // views of this population (fused kernels read nothing of the
        // presynaptic one).
        ptrs.clear();
        ptrs.extend(vars.iter_mut().map(|v| v.as_mut_ptr()));
        offsets.clear();
        for (k, own) in projs.iter_mut() {
            let Some(layout) = self.net.layout.projs.get(*k) else {
                continue;
            };
            offsets.push((*k, ptrs.len()));
            for (var, buf) in layout.vars.iter().zip(own.iter_mut()) {
                let ptr = match var.space {
                    Space::PostNeuron(pv) => ptrs[pv],
                    Space::PreNeuron(_) => std::ptr::null_mut(),
                    _ => buf.as_mut_ptr(),
                };
                ptrs.push(ptr);
            }
        }
        let base = self.env(ctx);
        envs.clear();
        for part in parts {
            let env = match *part {
                FusedPart::Update | FusedPart::ZeroInputs => Env {
                    vars: ptrs.as_ptr(),
                    ..base
                },
                FusedPart::Threshold => Env {
                    vars: ptrs.as_ptr(),
                    ..base
                },
                FusedPart::Couple { proj, .. } | FusedPart::ProjUpdate { proj, .. } => {
                    let Some(&(_, at)) = offsets.iter().find(|(k, _)| *k == proj) else {
                        // The runtime hands over every fused projection.
                        return;
                    };
                    Env {
                        vars: ptrs[at..].as_ptr(),
                        ref_until: std::ptr::null(),
                        ..base
                    }
                }
            };
            envs.push(Env {
                count: n as u64,
                ..env
            });
        }
        let fires = parts.iter().position(|p| *p == FusedPart::Threshold);
        // Every part writes only its neuron's values: slices are disjoint.
        self.run_parts(
            self.fnp(*f),
            envs,
            ctx.elements(n),
            true,
            fires,
            list,
            counts,
            spikes,
        );
    }

    fn proj_filter(
        &self,
        proj: usize,
        i: u32,
        j: u32,
        pre: &[Vec<f64>],
        post: &[Vec<f64>],
        seed: u64,
    ) -> bool {
        // Connection conditions run once, when synapses are made: the IR's
        // reference evaluator, as the interpreter runs them.
        circ_ir::eval::keeps_pair(self.net, &self.tables, proj, i, j, pre, post, seed)
    }
}

impl Native<'_> {
    /// The data tables the kernels read.
    pub fn tables(&self) -> &[Vec<f64>] {
        &self.tables
    }
}
