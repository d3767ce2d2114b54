//! The time-step schedule (spec/semantics.md), written once. Backends only
//! supply the kernels of each phase.

use crate::comm::{Comm, SINGLE};
use crate::connect::{self, Csr, Ends, Rule};
use crate::layout::{AT_END, Connect, NetLayout, RecordKind, Space, VarRole};
use crate::schedule::{Batch, Loaded, LoadedProj, Op, Resident, Src, StepPlan, Tap};
use std::path::Path;
use std::time::{Duration, Instant};

mod split;

/// What a kernel may know about the current step.
#[derive(Clone, Copy, Debug)]
pub struct StepCtx<'a> {
    /// The step index `n`.
    pub step: u64,
    /// `t_n = n * dt`, in seconds.
    pub t: f64,
    /// The time step, in seconds.
    pub dt: f64,
    /// The run's seed.
    pub seed: u64,
    /// Per element of the population: the last step of its refractory
    /// period (refractory while `step <= ref_until[i]`; -1 when never).
    pub ref_until: &'a [i64],
    /// The elements this process computes, `span.0..span.1` (all of them
    /// unless the run is split across processes: [`crate::comm`]); a
    /// backend that computes more gives the same values here, only slower.
    pub span: (usize, usize),
}

/// Every element: the span of a population that is not split.
pub const ALL: (usize, usize) = (0, usize::MAX);

/// Where a step is: what every kernel call of the step shares.
#[derive(Clone, Copy, Debug)]
struct Clock {
    step: u64,
    t: f64,
    dt: f64,
    seed: u64,
}

impl Clock {
    /// The context of a population's kernels at this step.
    fn ctx<'a>(&self, ref_until: &'a [i64], span: (usize, usize)) -> StepCtx<'a> {
        StepCtx {
            step: self.step,
            t: self.t,
            dt: self.dt,
            seed: self.seed,
            ref_until,
            span,
        }
    }
}

impl StepCtx<'_> {
    /// The elements of a population of `n` this process computes.
    pub fn elements(&self, n: usize) -> std::ops::Range<usize> {
        self.span.0.min(n)..self.span.1.min(n)
    }

    /// Whether element `i` is refractory in this step.
    pub fn refractory(&self, i: usize) -> bool {
        self.ref_until
            .get(i)
            .is_some_and(|&r| self.step as i64 <= r)
    }
}

/// Which kernels of a projection to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjPhase {
    /// Initial values: scalar, pre and post state, then per synapse.
    Init,
    /// Time-dependent scalar parameters, once per step.
    Dynamic,
    /// Continuous couplings into the postsynaptic inputs (through `acc`).
    Couple,
    /// Equations of pre state, post state and synapses.
    Update,
    /// `on pre`: the pre-state part for `spiking_pre`, then the per-synapse
    /// part for `arriving` synapses.
    OnPre,
    /// `on post`: the post-state part for `spiking_post`, then the per-synapse
    /// part for their synapses.
    OnPost,
}

/// What a projection kernel works on.
pub struct ProjCtx<'a> {
    /// The step index.
    pub step: u64,
    /// `t_n`, seconds.
    pub t: f64,
    /// The time step, seconds.
    pub dt: f64,
    /// The seed.
    pub seed: u64,
    /// The projection's own buffers, by variable (empty for neuron views).
    pub vars: &'a mut [Vec<f64>],
    /// The presynaptic population's buffers.
    pub pre: &'a [Vec<f64>],
    /// The postsynaptic population's buffers.
    pub post: &'a [Vec<f64>],
    /// Additions to the postsynaptic population's variables, applied by the
    /// runtime after the kernel (so no handler sees another's additions).
    pub acc: &'a mut [Vec<f64>],
    /// The synapses.
    pub csr: &'a Csr,
    /// Presynaptic neurons that spiked this step.
    pub spiking_pre: &'a [u32],
    /// Synapses a spike reaches this step: `arriving`, then the synapses of
    /// the presynaptic neurons `arriving_rows`, all in increasing order (one
    /// of the two is empty).
    pub arriving: &'a [u32],
    /// Presynaptic neurons all of whose synapses a spike reaches this step
    /// (when every synapse has the same delay: no list of synapses is made).
    pub arriving_rows: &'a [u32],
    /// Postsynaptic neurons that spiked this step.
    pub spiking_post: &'a [u32],
}

/// The kernels of a network, one set per population, indexed like the
/// layout's populations. `vars` holds one buffer per variable of the
/// population (length 1 for scalar variables, the population size otherwise).
pub trait Backend {
    /// Sets initial values: per-element parameters, then states.
    fn init(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>);
    /// Evaluates time-dependent parameters at `t_n`.
    fn dynamic(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>);
    /// Advances every state from `t_n` to `t_n + dt`.
    fn update(&self, pop: usize, vars: &mut [Vec<f64>], ctx: &StepCtx<'_>);
    /// Appends the elements whose threshold condition holds (refractory
    /// elements excluded), in increasing order.
    fn threshold(
        &self,
        pop: usize,
        vars: &mut [Vec<f64>],
        ctx: &StepCtx<'_>,
        spikes: &mut Vec<u32>,
    );
    /// Runs the reset of each spiking element and writes its refractory
    /// period in seconds (0 without one) into `refractory`, in the same order.
    fn reset(
        &self,
        pop: usize,
        vars: &mut [Vec<f64>],
        ctx: &StepCtx<'_>,
        spiking: &[u32],
        refractory: &mut Vec<f64>,
    );
    /// Runs a phase of projection `proj`; returns whether it may have added
    /// into `ctx.acc` (when not, the runtime skips applying it).
    fn proj(&self, proj: usize, phase: ProjPhase, ctx: &mut ProjCtx<'_>) -> bool;
    /// Whether the condition of projection `proj` (a `where`, or the
    /// probability of a `distance` rule) keeps the pair (i, j); `pre` and
    /// `post` are the two populations' buffers (positions).
    fn proj_filter(
        &self,
        proj: usize,
        i: u32,
        j: u32,
        pre: &[Vec<f64>],
        post: &[Vec<f64>],
        seed: u64,
    ) -> bool;
    /// Which populations this backend steps in one pass ([`Backend::pop_step`]);
    /// none unless it says so.
    fn fusion(&self) -> Fusion {
        Fusion::default()
    }
    /// The variables of projection `proj`'s presynaptic population that its
    /// kernels read after the initial values (a network split across
    /// processes brings them up to date from their owners first); `None`:
    /// every one.
    fn pre_reads(&self, _proj: usize) -> Option<Vec<usize>> {
        None
    }
    /// Called when a simulation is built on this backend, before anything
    /// else: a backend may serve several in turn (a Python model's runs),
    /// and must forget what it derived from the last one's synapses.
    fn new_network(&self) {}
    /// Called before step `step`'s first phase: a backend may change how
    /// it computes there (a tiered executor swaps in faster code, which
    /// gives the same values).
    fn begin_step(&self, _step: u64) {}
    /// The device that holds the state and runs whole steps, if this
    /// backend has one: the runtime then hands it batches of steps
    /// ([`crate::schedule::Resident`]) instead of calling the phases here.
    fn resident(&self) -> Option<&dyn Resident> {
        None
    }
    /// What the run's summary should say of how this backend computed (a
    /// tiered executor: from which step the faster code ran).
    fn note(&self) -> Option<String> {
        None
    }
    /// For a population [`Backend::fusion`] names, in one pass over its
    /// neurons: the couplings of the projections fused into it (in projection
    /// order, each sum added as the runtime adds `acc`), its update, those
    /// projections' equations, and its threshold (spiking neurons appended in
    /// increasing order). `projs` holds those projections' own buffers. The
    /// values are exactly those of running the phases one by one; the
    /// runtime calls it only for fused populations.
    fn pop_step(
        &self,
        pop: usize,
        vars: &mut [Vec<f64>],
        projs: &mut [(usize, &mut [Vec<f64>])],
        ctx: &StepCtx<'_>,
        spikes: &mut Vec<u32>,
    ) {
        // Without fused projections, the two phases in their order.
        debug_assert!(projs.is_empty());
        self.update(pop, vars, ctx);
        self.threshold(pop, vars, ctx, spikes);
    }
}

/// What a backend runs in one pass per population (see [`Backend::pop_step`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fusion {
    /// Per population: whether `pop_step` runs its update and threshold.
    pub pops: Vec<bool>,
    /// Per projection: whether its couplings and equations run inside its
    /// postsynaptic population's `pop_step` (then that population is fused).
    pub projs: Vec<bool>,
    /// Per population: whether `pop_step` zeroes its inputs first (the
    /// runtime then does not; nothing adds into them before `pop_step`).
    pub inputs: Vec<bool>,
}

impl Fusion {
    /// Whether population `p` steps in one pass.
    pub fn pop(&self, p: usize) -> bool {
        self.pops.get(p).copied().unwrap_or(false)
    }
    /// Whether projection `k` runs inside its postsynaptic population's pass.
    pub fn proj(&self, k: usize) -> bool {
        self.projs.get(k).copied().unwrap_or(false)
    }
    /// Whether population `p`'s pass zeroes its inputs.
    pub fn inputs(&self, p: usize) -> bool {
        self.inputs.get(p).copied().unwrap_or(false)
    }
}

/// The state of one projection.
struct ProjState {
    csr: Csr,
    /// The synapses of the whole projection (more than `csr` holds when
    /// the network is split across processes).
    total: usize,
    /// The whole projection's shortest delay in steps (`None`: no synapses).
    min_delay: Option<u32>,
    vars: Vec<Vec<f64>>,
    delay_steps: Vec<u32>,
    /// The delay of every synapse, when they all have the same one.
    uniform_delay: Option<u32>,
    ring: Vec<Vec<u32>>,
    /// With a uniform delay: per slot, the synapse ranges of the spikes due
    /// then (instead of `ring`).
    ring_rows: Vec<Vec<u32>>,
    /// Postsynaptic spikes waiting for their `on post` (a dendritic delay),
    /// by step modulo its length; one slot when `on post` runs at once.
    post_ring: Vec<Vec<u32>>,
    acc: Vec<Vec<f64>>,
}

/// What every step of a CPU run shares.
struct RunCtx<'r> {
    backend: &'r dyn Backend,
    fusion: &'r Fusion,
    plan: &'r StepPlan,
    opts: &'r RunOptions,
    /// The run's first step and the step after its last.
    first: u64,
    last: u64,
}

/// The buffers a step reuses.
struct StepBufs {
    /// Per population, the spikes of the step so far.
    spiking: Vec<Vec<u32>>,
    /// Per population, whether handlers' additions wait.
    pending: Vec<bool>,
    /// The refractory periods a reset gives.
    refractory: Vec<f64>,
}

/// A projection's synapses as a rule or file makes them, before their
/// values ([`Simulation::finish_projection`]).
struct Built {
    csr: Csr,
    /// Values of synapse variables read from an edge file's columns.
    file_columns: Vec<(usize, Vec<f64>)>,
}

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Biological time to simulate, in seconds.
    pub duration: f64,
    /// The time step, in seconds.
    pub dt: f64,
    /// The seed of every random number.
    pub seed: u64,
    /// Check states for NaN and infinity every this many steps.
    pub check_every: u64,
}

/// The first (step, neuron) that a sorted spike schedule holds twice: a
/// neuron spiking twice in one step, which is refused rather than merged.
pub fn spiking_twice(schedule: &[(u64, u32)]) -> Option<(u64, u32)> {
    schedule.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

/// A signal's name (`SIGTERM`), or its number.
pub fn signal_name(signal: i32) -> String {
    match signal {
        1 => "SIGHUP".into(),
        2 => "SIGINT (Ctrl-C)".into(),
        15 => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}

/// Why a run stopped early.
#[derive(Clone, Debug, PartialEq)]
pub enum RunError {
    /// A signal asked the run to stop (Ctrl-C's SIGINT, SIGTERM from a
    /// scheduler or `timeout`, SIGHUP from a closed terminal).
    Interrupted {
        /// Time reached, in seconds.
        t: f64,
        /// The signal's number.
        signal: i32,
    },
    /// A state became NaN or infinite.
    NotFinite {
        /// Where: "neuron 3 of population `E`", "synapse 12 (E[3] -> I[7])
        /// of projection `E -> I` (model.circ:9:5)", ...
        place: String,
        /// Variable name.
        var: String,
        /// The value found.
        value: f64,
        /// Time of the check, in seconds.
        t: f64,
    },
    /// The device running the network failed (its driver's words).
    Device(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Interrupted { t, signal } => write!(
                f,
                "interrupted at t = {:.4} ms by {}; the recordings up to then are complete",
                t * 1e3,
                signal_name(*signal)
            ),
            RunError::NotFinite {
                place,
                var,
                value,
                t,
            } => write!(
                f,
                "`{var}` of {place} became {value} by t = {:.4} ms; the run stopped there and kept what was recorded (a too large dt, or an equation that diverges?)",
                t * 1e3
            ),
            RunError::Device(e) => write!(
                f,
                "the GPU failed: {e}; the recordings up to the last completed batch of steps are kept"
            ),
        }
    }
}

/// Samples of one recorder.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples {
    /// Sample times, in seconds.
    pub t: Vec<f64>,
    /// Values, one row of `width` per sample time.
    pub values: Vec<f64>,
    /// Values per row.
    pub width: usize,
}

/// Ways to watch and stop a run from outside.
#[derive(Default)]
pub struct Hooks<'h> {
    /// Checked every step: when it holds a signal's number (not 0), the
    /// run stops cleanly, saying which.
    pub stop: Option<&'h std::sync::atomic::AtomicI32>,
    /// Called every 1000 steps with (steps done, steps in all).
    pub progress: Option<&'h mut dyn FnMut(u64, u64)>,
}

/// What a run produced.
#[derive(Clone, Debug, Default)]
pub struct RunResult {
    /// Per population: (step, index) of every spike, in order.
    pub spikes: Vec<Vec<(u64, u32)>>,
    /// Per recorder (in layout order): its samples (empty for spike recorders).
    pub samples: Vec<Samples>,
    /// Steps simulated.
    pub steps: u64,
    /// The time step used.
    pub dt: f64,
    /// Wall time of the simulation loop.
    pub loop_time: Duration,
    /// The processes the network was split across (1: not split).
    pub ranks: usize,
    /// Of `loop_time`, the time this process spent exchanging spikes and
    /// presynaptic values with the others, waiting for the slowest
    /// included (the rarer agreements on stops are not counted).
    pub comm_time: Duration,
    /// Split across processes: the steps between exchanges of spikes.
    pub exchange_every: u64,
    /// Why the run stopped early, if it did.
    pub stopped: Option<RunError>,
    /// Per recorder: the synapses of a `record connectivity` (else `None`).
    pub wiring: Vec<Option<Wiring>>,
    /// Per population: `method rk45`'s substep statistics since the start
    /// of the simulation (else `None`).
    pub step_stats: Vec<Option<StepStats>>,
    /// Synaptic events sent: each spike of the run times the synapses of
    /// its neuron, over every projection from its population.
    pub synaptic_events: u64,
}

/// How an adaptive method stepped one population, over all its neurons.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepStats {
    /// Substeps accepted.
    pub accepted: f64,
    /// Substeps rejected (tried again smaller).
    pub rejected: f64,
    /// Accepted substeps per neuron and step.
    pub per_step: f64,
    /// The smallest substep accepted, seconds (infinite before any).
    pub smallest: f64,
}

/// A projection's synapses, in synapse order (the order of its per-synapse
/// recordings): presynaptic and postsynaptic indices and delays in seconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Wiring {
    /// Presynaptic index of each synapse.
    pub i: Vec<u32>,
    /// Postsynaptic index of each synapse.
    pub j: Vec<u32>,
    /// Delay of each synapse as given (0 without one), seconds.
    pub delay: Vec<f64>,
}

/// What a network will need, estimated from its layout alone (before
/// anything large is allocated).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Estimate {
    /// Bytes of neuron state.
    pub state: f64,
    /// Expected number of synapses.
    pub synapses: f64,
    /// Bytes of synapses (their variables, indices and the build's sort).
    pub synapse_bytes: f64,
    /// Bytes of the delay rings whose length the model fixes.
    pub rings: f64,
    /// Bytes of sampled recordings (kept in memory until the run ends).
    pub recordings: f64,
}

impl Estimate {
    /// All of it, in bytes.
    pub fn total(&self) -> f64 {
        self.state + self.synapse_bytes + self.rings + self.recordings
    }
}

/// Runs of this many steps or more are refused unless asked for (see
/// [`check_static`]): at a microsecond a step, 10^10 steps take 3 hours.
pub const LONG_RUN_STEPS: f64 = 1e10;

/// Bytes a slot of a delay ring takes (two vectors' headers).
const RING_SLOT_BYTES: f64 = 48.0;

/// What a network will need for a run of `steps` steps of `dt` seconds.
pub fn estimate(layout: &NetLayout, dt: f64, steps: f64) -> Estimate {
    let mut e = Estimate::default();
    for p in &layout.pops {
        e.state += (p.size as f64) * (p.vars.len().max(1) as f64) * 8.0 + p.size as f64 * 8.0;
    }
    let mut per_proj = vec![];
    for proj in &layout.projs {
        let (np, nq) = (
            layout.pops[proj.pre].size as f64,
            layout.pops[proj.post].size as f64,
        );
        let n = expected_synapses(layout, proj);
        e.synapses += n;
        per_proj.push(n.min(usize::MAX as f64) as usize);
        let per_syn =
            proj.vars.iter().filter(|v| v.space == Space::Syn).count() as f64 * 8.0 + 16.0;
        // Building sorts (pre, post) pairs once: 8 more bytes per synapse at the peak.
        e.synapse_bytes += n * (per_syn + 8.0) + (np + nq) * 16.0;
        if let Some(d) = proj.delay_bound {
            e.rings += ((d / dt).round() + 1.0) * RING_SLOT_BYTES;
        }
    }
    let steps = steps.clamp(0.0, u64::MAX as f64) as u64;
    e.recordings = crate::output::known_bytes(layout, steps, &per_proj) as f64;
    e
}

/// The number of synapses `proj`'s rule makes on average (0 for those
/// read from files, unknown before they are read).
pub fn expected_synapses(layout: &NetLayout, proj: &crate::layout::ProjLayout) -> f64 {
    let (np, nq) = (
        layout.pops[proj.pre].size as f64,
        layout.pops[proj.post].size as f64,
    );
    match &proj.connect {
        Connect::Rule(Rule::AllToAll) => np * nq,
        Connect::Rule(Rule::OneToOne) => np.min(nq),
        Connect::Rule(Rule::Bernoulli(p)) => p * np * nq,
        Connect::Rule(Rule::FixedIndegree(k)) => *k as f64 * nq,
        Connect::Rule(Rule::FixedOutdegree(k)) => *k as f64 * np,
        Connect::Rule(Rule::FixedTotal(k)) => *k as f64,
        Connect::Rule(Rule::Pairs(v)) => v.len() as f64,
        Connect::File { .. } | Connect::Matrix { .. } => 0.0,
    }
}

/// A size in bytes for messages: GiB, MiB or KiB, whichever reads best.
pub fn gib(bytes: f64) -> String {
    const K: f64 = 1024.0;
    if bytes >= K * K * K {
        format!("{:.1} GiB", bytes / (K * K * K))
    } else if bytes >= K * K {
        format!("{:.1} MiB", bytes / (K * K))
    } else {
        format!("{:.1} KiB", bytes / K)
    }
}

/// Refuses a network whose estimate exceeds `limit` bytes, saying what
/// takes the memory.
fn check_memory(e: &Estimate, limit: u64) -> Result<(), BuildError> {
    if e.total() <= limit as f64 {
        return Ok(());
    }
    let mut parts = vec![format!(
        "{} for {:.3e} synapses",
        gib(e.synapse_bytes),
        e.synapses
    )];
    parts.push(format!("{} of neuron state", gib(e.state)));
    if e.rings > 0.0 {
        parts.push(format!("{} of delay rings", gib(e.rings)));
    }
    if e.recordings > 0.0 {
        parts.push(format!("{} of recordings", gib(e.recordings)));
    }
    Err(BuildError(format!(
        "the network needs about {} ({}), but only {} of memory is available; make it smaller or sparser, record less, or shorten the delays",
        gib(e.total()),
        parts.join(", "),
        gib(limit as f64)
    )))
}

/// A problem a run has before it starts.
#[derive(Clone, Debug, PartialEq)]
pub enum Issue {
    /// The network and its recordings need more memory than there is.
    TooLarge(String),
    /// A connection rule cannot be met between its populations.
    Impossible(String),
    /// The run has 10^10 steps or more (a warning: it may be asked for).
    LongRun(String),
    /// The sampled recordings will write more than [`LARGE_RECORDING`]
    /// bytes (a warning).
    LargeRecording(String),
}

/// Recordings above this many bytes are warned about before the run.
pub const LARGE_RECORDING: f64 = 1e9;

impl Issue {
    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Issue::TooLarge(m)
            | Issue::Impossible(m)
            | Issue::LongRun(m)
            | Issue::LargeRecording(m) => m,
        }
    }
}

/// What can be known to fail before a run of `duration` seconds with step
/// `dt` starts, from the layout alone (no data files read): `circ check`
/// and `circ run` both ask this, so they never disagree.
pub fn check_static(
    layout: &NetLayout,
    dt: f64,
    duration: f64,
    memory_limit: Option<u64>,
    ranks: usize,
) -> Vec<Issue> {
    let mut issues = vec![];
    let steps = (duration / dt).round();
    let e = estimate(layout, dt, steps);
    // Split across processes, each holds its share (`split::per_rank`).
    let mine = split::per_rank(&e, ranks);
    if let Some(limit) = memory_limit.or_else(memory_available)
        && let Err(err) = check_memory(&mine, limit)
    {
        issues.push(Issue::TooLarge(if ranks > 1 {
            format!(
                "{} (on each of {ranks} MPI ranks, which hold their share of the synapses and every neuron's state; more ranks, on more machines, hold less)",
                err.0
            )
        } else {
            err.0
        }));
    }
    for proj in &layout.projs {
        if let Connect::Rule(rule) = &proj.connect {
            let ends = proj.local_ends(layout.pops[proj.pre].size, layout.pops[proj.post].size);
            if let Err(e) = connect::validate(rule, ends) {
                issues.push(Issue::Impossible(format!(
                    "{} ({}): {}",
                    proj.name, proj.origin, e.0
                )));
            }
        }
    }
    if e.recordings > LARGE_RECORDING {
        issues.push(Issue::LargeRecording(format!(
            "the recordings will take about {} in memory and on disk ({:.3e} steps); sample less often (`every 1 ms`) or fewer elements (`of E[0..100]`) if that is more than you need",
            gib(e.recordings),
            steps
        )));
    }
    if steps >= LONG_RUN_STEPS {
        issues.push(Issue::LongRun(format!(
            "the run is {steps:.3e} steps ({duration:.3e} s of {} ms); `circ run` refuses runs of 10^10 steps or more, with the time they would take, unless given --allow-long-run",
            dt * 1e3
        )));
    }
    issues
}

/// What the system reports as available memory (Linux), in bytes.
fn memory_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// What building a simulation needs besides the network and its backend.
#[derive(Clone, Copy, Debug)]
pub struct BuildOptions<'p> {
    /// The seed of every random number.
    pub seed: u64,
    /// The time step, in seconds.
    pub dt: f64,
    /// The folder data files (edge lists, spike times) are read from.
    pub base: &'p Path,
    /// The memory the network may need, in bytes; `None`: what the system
    /// reports as available. A network estimated to need more is refused
    /// before anything is allocated.
    pub memory_limit: Option<u64>,
}

/// A network's state and its schedule.
pub struct Simulation<'a> {
    layout: &'a NetLayout,
    s: SimState,
    /// The processes the network is split across ([`crate::comm::SINGLE`]
    /// when it is not).
    comm: &'a dyn Comm,
    /// Per population: the elements this process computes.
    own: Vec<(usize, usize)>,
    /// Things the user should know (delays rounded to the step, ...).
    pub warnings: Vec<String>,
}

/// A simulation's state without the network it runs: what survives
/// recompiling the kernels (the REPL keeps it between commands and resumes
/// it with [`Simulation::resume`]).
pub struct SimState {
    vars: Vec<Vec<Vec<f64>>>,
    ref_until: Vec<Vec<i64>>,
    /// Per population with held states, per element: whether synaptic jumps
    /// to them are dropped this step (refractory, or spiking now); set when
    /// the propagation phase's additions are applied.
    blocked: Vec<Vec<bool>>,
    /// Per population, per variable: the handlers' additions of the
    /// propagation phase, from every projection onto it, applied when the
    /// phase ends (empty where no handler adds).
    event_acc: Vec<Vec<Vec<f64>>>,
    projs: Vec<ProjState>,
    /// Spikes given in advance, per population (inline and from files).
    schedules: Vec<Vec<(u64, u32)>>,
    /// Constant-rate Poisson inputs, per population.
    poisson: Vec<Option<crate::poisson::PoissonSource>>,
    /// Steps simulated so far: the next run starts at this step.
    step: u64,
}

impl SimState {
    /// The buffers of population `pop` (one value, or one per element).
    pub fn vars(&self, pop: usize) -> &[Vec<f64>] {
        &self.vars[pop]
    }

    /// Changes the rate of the constant-rate Poisson population `pop` from
    /// the next step on (`p` per step); false if it is not one.
    pub fn set_poisson_rate(&mut self, pop: usize, p: f64) -> bool {
        match self.poisson.get_mut(pop) {
            Some(Some(src)) => {
                src.restart(p, self.step);
                true
            }
            _ => false,
        }
    }
}

/// Why a network could not be built.
#[derive(Clone, Debug, PartialEq)]
pub struct BuildError(pub String);

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'a> Simulation<'a> {
    /// Allocates state, builds every projection's synapses (data files are
    /// read relative to `opts.base`), and runs every initialiser.
    pub fn build(
        layout: &'a NetLayout,
        backend: &dyn Backend,
        opts: &BuildOptions<'_>,
    ) -> Result<Self, BuildError> {
        Self::build_split(layout, backend, opts, &SINGLE)
    }

    /// [`Self::build`] for this rank's part of a network split across the
    /// processes of `comm`: each computes a contiguous block of every
    /// population and holds the synapses onto it (spec/run.md, "Across
    /// processes"). Every rank calls it; they fail together, with the
    /// message the whole network would give.
    pub fn build_split(
        layout: &'a NetLayout,
        backend: &dyn Backend,
        opts: &BuildOptions<'_>,
        comm: &'a dyn Comm,
    ) -> Result<Self, BuildError> {
        let (seed, dt, base) = (opts.seed, opts.dt, opts.base);
        backend.new_network();
        // Nothing large is allocated before the estimate says it fits.
        let limit = opts.memory_limit.or_else(memory_available);
        let fits = match limit {
            Some(limit) => check_memory(
                &split::per_rank(&estimate(layout, dt, 0.0), comm.size()),
                limit,
            ),
            None => Ok(()),
        };
        split::agree(comm, fits.map_err(|e| (0, e.0)))?;
        if comm.size() > 1 && backend.resident().is_some() {
            return Err(BuildError(
                "this backend keeps the network on one device and cannot run it across MPI ranks yet; use --backend auto, cranelift or llvm under mpirun".into(),
            ));
        }
        let vars: Vec<Vec<Vec<f64>>> = layout
            .pops
            .iter()
            .map(|p| {
                p.vars
                    .iter()
                    .map(|v| vec![0.0; if v.scalar { 1 } else { p.size }])
                    .collect()
            })
            .collect();
        let ref_until: Vec<Vec<i64>> = layout.pops.iter().map(|p| vec![-1; p.size]).collect();
        let state = SimState {
            vars,
            ref_until,
            blocked: layout
                .pops
                .iter()
                .map(|p| {
                    if p.held.is_empty() {
                        vec![]
                    } else {
                        vec![false; p.size]
                    }
                })
                .collect(),
            event_acc: vec![],
            projs: vec![],
            schedules: vec![],
            poisson: layout
                .pops
                .iter()
                .map(|pop| {
                    // Split across processes: the rank's block.
                    let own = crate::comm::block(pop.size, comm.rank(), comm.size());
                    pop.poisson_rate.map(|r| {
                        crate::poisson::PoissonSource::new_for(
                            pop.size,
                            r * dt,
                            seed,
                            pop.stream,
                            own.start as u32..own.end as u32,
                        )
                    })
                })
                .collect(),
            step: 0,
        };
        let own = layout
            .pops
            .iter()
            .map(|p| {
                let b = crate::comm::block(p.size, comm.rank(), comm.size());
                (b.start, b.end)
            })
            .collect();
        let mut sim = Simulation {
            layout,
            s: state,
            comm,
            own,
            warnings: vec![],
        };
        for (p, (vars, refs)) in sim.s.vars.iter_mut().zip(&sim.s.ref_until).enumerate() {
            let clock = Clock {
                step: 0,
                t: 0.0,
                dt,
                seed,
            };
            // Initial values everywhere: draws are keyed by element, so
            // every rank computes the same, and connection rules and
            // projections read positions and parameters of every neuron.
            backend.init(p, vars, &clock.ctx(refs, ALL));
        }
        // Spikes given in files.
        let mut schedules: Vec<Vec<(u64, u32)>> =
            layout.pops.iter().map(|p| p.schedule.clone()).collect();
        for (p, pop) in layout.pops.iter().enumerate() {
            let Some(src) = &pop.schedule_source else {
                continue;
            };
            let err = |m: String| BuildError(format!("{} ({}): {m}", pop.name, src.origin));
            let times = crate::data::read_column(base, &src.times).map_err(|e| err(e.0))?;
            let indices = match &src.indices {
                Some(c) => Some(crate::data::read_column(base, c).map_err(|e| err(e.0))?),
                None => None,
            };
            if let Some(ix) = &indices
                && ix.values.len() != times.values.len()
            {
                return Err(err(format!(
                    "{} spike times ({}) but {} indices ({})",
                    times.values.len(),
                    times.path.display(),
                    ix.values.len(),
                    ix.path.display()
                )));
            }
            for (k, &t) in times.values.iter().enumerate() {
                if !(t >= 0.0 && t.is_finite()) {
                    return Err(err(format!(
                        "{}: the time {t} s is not a spike time (seconds, finite and not negative)",
                        times.at(k)
                    )));
                }
                let step = (t / dt).round() as u64;
                match &indices {
                    Some(ix) => {
                        let i = ix.values[k];
                        if !(i >= 0.0 && i.fract() == 0.0 && i < pop.size as f64) {
                            return Err(err(format!(
                                "{}: {i} is not a neuron of the population (it has {}, indices 0 to {})",
                                ix.at(k),
                                pop.size,
                                pop.size.saturating_sub(1)
                            )));
                        }
                        schedules[p].push((step, i as u32));
                    }
                    None => schedules[p].extend((0..pop.size as u32).map(|i| (step, i))),
                }
            }
            schedules[p].sort_unstable();
            if let Some((step, i)) = spiking_twice(&schedules[p]) {
                return Err(err(format!(
                    "{}: neuron {i} would spike twice in the step at {} ms: two of its times round to the same step of {} ms; a neuron spikes at most once a step (as in Brian2): remove one, or use a smaller dt",
                    times.path.display(),
                    step as f64 * dt * 1e3,
                    dt * 1e3
                )));
            }
        }
        sim.s.schedules = schedules;
        for (k, proj) in layout.projs.iter().enumerate() {
            let state = sim.build_projection(k, proj, backend, seed, base);
            let state = split::agree(comm, state.map_err(|e| (0, e.0)))?;
            let state = sim.finish_projection(k, proj, state, backend, (seed, dt, limit))?;
            sim.s.projs.push(state);
        }
        sim.s.event_acc = layout
            .pops
            .iter()
            .enumerate()
            .map(|(p, pop)| {
                (0..pop.vars.len())
                    .map(|v| {
                        let added = layout
                            .projs
                            .iter()
                            .any(|x| x.post == p && x.post_added.contains(&v));
                        if added { vec![0.0; pop.size] } else { vec![] }
                    })
                    .collect()
            })
            .collect();
        Ok(sim)
    }

    #[allow(clippy::too_many_lines)]
    fn build_projection(
        &self,
        k: usize,
        proj: &crate::layout::ProjLayout,
        backend: &dyn Backend,
        seed: u64,
        base: &Path,
    ) -> Result<Built, BuildError> {
        let err = |m: String| BuildError(format!("{} ({}): {m}", proj.name, proj.origin));
        let (n_pre, n_post) = (
            self.layout.pops[proj.pre].size,
            self.layout.pops[proj.post].size,
        );
        let ends = Ends {
            n_pre,
            n_post,
            same: proj.pre == proj.post,
            autapses: proj.autapses,
        };
        let stream = proj.stream;
        let (pre_bufs, post_bufs) = (&self.s.vars[proj.pre], &self.s.vars[proj.post]);
        // Split across processes, a rank keeps the synapses onto its own
        // block (the rule's draws are the whole network's).
        let (lo, hi) = self.own[proj.post];
        let split = self.comm.size() > 1;
        let posts = if split {
            lo as u32..hi as u32
        } else {
            0..n_post as u32
        };
        let filter = |i: u32, j: u32| {
            (!split || posts.contains(&j))
                && (!proj.filtered || backend.proj_filter(k, i, j, pre_bufs, post_bufs, seed))
        };
        let mut file_columns: Vec<(usize, Vec<f64>)> = vec![];
        let csr = match &proj.connect {
            Connect::Rule(rule) if proj.pre_sel.is_some() || proj.post_sel.is_some() => {
                // Between subgroups: the rule connects neurons numbered
                // within them; the synapses are then renumbered in the
                // populations (the subgroups are increasing, so the order of
                // synapses stays by pre, then post).
                let local = proj.local_ends(n_pre, n_post);
                let within = |i: u32, j: u32| {
                    let (a, b) = proj.global(i, j);
                    (local.same || !ends.same || ends.autapses || a != b) && filter(a, b)
                };
                let sub =
                    connect::build(rule, local, seed, stream, &within).map_err(|e| err(e.0))?;
                let pairs = sub
                    .pre
                    .iter()
                    .zip(&sub.post)
                    .map(|(&i, &j)| proj.global(i, j))
                    .collect();
                connect::Csr::from_pairs(n_pre, n_post, pairs)
            }
            Connect::Rule(rule) => {
                connect::build_onto(rule, ends, seed, stream, &filter, posts.clone())
                    .map_err(|e| err(e.0))?
            }
            Connect::Matrix { path } => {
                let full = base.join(path);
                let m = crate::data::read_matrix(&full).map_err(|e| err(e.0))?;
                if m.len() != n_pre || m[0].len() != n_post {
                    return Err(err(format!(
                        "{}: the matrix is {} x {}, but the populations have {n_pre} and {n_post} neurons",
                        full.display(),
                        m.len(),
                        m[0].len()
                    )));
                }
                let pairs = m
                    .iter()
                    .enumerate()
                    .flat_map(|(i, row)| {
                        row.iter()
                            .enumerate()
                            .filter(|(_, x)| **x != 0.0)
                            .map(move |(j, _)| (i as u32, j as u32))
                    })
                    .collect();
                connect::build(&Rule::Pairs(pairs), ends, seed, stream, &filter)
                    .map_err(|e| err(e.0))?
            }
            Connect::File {
                path,
                source,
                target,
                columns,
            } => {
                let full = base.join(path);
                let table = crate::data::read_table(&full).map_err(|e| err(e.0))?;
                let pre = table.indices(&full, source, n_pre).map_err(|e| err(e.0))?;
                let post = table.indices(&full, target, n_post).map_err(|e| err(e.0))?;
                // Keep file rows with their synapses: sort (pre, post, row).
                let mut rows: Vec<(u32, u32, usize)> = pre
                    .iter()
                    .zip(&post)
                    .enumerate()
                    .filter(|(_, (i, j))| {
                        (ends.autapses || !ends.same || i != j) && filter(**i, **j)
                    })
                    .map(|(r, (i, j))| (*i, *j, r))
                    .collect();
                rows.sort_unstable();
                for (col, var) in columns {
                    let values = table.finite(&full, col).map_err(|e| err(e.0))?;
                    file_columns.push((*var, rows.iter().map(|r| values[r.2]).collect()));
                }
                let pairs = rows.iter().map(|r| (r.0, r.1)).collect();
                connect::build(
                    &Rule::Pairs(pairs),
                    Ends {
                        autapses: true,
                        ..ends
                    },
                    seed,
                    stream,
                    &|_, _| true,
                )
                .map_err(|e| err(e.0))?
            }
        };
        Ok(Built { csr, file_columns })
    }

    /// The rest of [`Self::build_projection`] once every rank has its
    /// synapses: their numbers in the whole network, initial values,
    /// delays and delay rings.
    #[allow(clippy::too_many_lines)]
    fn finish_projection(
        &mut self,
        k: usize,
        proj: &crate::layout::ProjLayout,
        built: Built,
        backend: &dyn Backend,
        (seed, dt, limit): (u64, f64, Option<u64>),
    ) -> Result<ProjState, BuildError> {
        let err = |m: String| BuildError(format!("{} ({}): {m}", proj.name, proj.origin));
        let Built {
            mut csr,
            file_columns,
        } = built;
        let (n_pre, n_post) = (
            self.layout.pops[proj.pre].size,
            self.layout.pops[proj.post].size,
        );
        let total = split::number_synapses(self.comm, &mut csr);
        let mut vars: Vec<Vec<f64>> = proj
            .vars
            .iter()
            .map(|v| match v.space {
                Space::Scalar => vec![0.0],
                Space::Syn => vec![0.0; csr.len()],
                Space::PreState => vec![0.0; n_pre],
                Space::PostState => vec![0.0; n_post],
                Space::PreNeuron(_) | Space::PostNeuron(_) => vec![],
            })
            .collect();
        // Additions into postsynaptic values go through `acc`: a buffer only
        // for the values the projection's kernels add into (the others stay
        // empty and cost nothing each step).
        let mut acc: Vec<Vec<f64>> = (0..self.layout.pops[proj.post].vars.len())
            .map(|pv| {
                if proj.post_added.contains(&pv) {
                    vec![0.0; n_post]
                } else {
                    vec![]
                }
            })
            .collect();
        {
            let mut ctx = ProjCtx {
                step: 0,
                t: 0.0,
                dt,
                seed,
                vars: &mut vars,
                pre: &self.s.vars[proj.pre],
                post: &self.s.vars[proj.post],
                acc: &mut acc,
                csr: &csr,
                spiking_pre: &[],
                arriving: &[],
                arriving_rows: &[],
                spiking_post: &[],
            };
            backend.proj(k, ProjPhase::Init, &mut ctx);
        }
        for (var, values) in file_columns {
            vars[var] = values;
        }
        // Delays: whole steps, rounded with a warning that says by how much.
        let mut delay_steps = vec![0u32; csr.len()];
        if let Some(dv) = proj.delay_var {
            let mut worst = 0.0f64;
            let mut bad = Ok(());
            for (s, &d) in vars[dv].iter().enumerate() {
                let steps = (d / dt).round();
                if !(d >= 0.0 && d.is_finite()) || steps > f64::from(u32::MAX) {
                    // The whole network's number of the synapse.
                    let g = csr.keys.get(s).map_or(s as u64, |&g| u64::from(g));
                    bad = Err((g, err(format!(
                        "synapse {g} ({}[{}] -> {}[{}]) has the delay {d} s; delays must be finite, not negative and at most {} steps of {} ms",
                        self.layout.pops[proj.pre].name,
                        csr.pre.get(s).copied().unwrap_or(0),
                        self.layout.pops[proj.post].name,
                        csr.post.get(s).copied().unwrap_or(0),
                        u32::MAX,
                        dt * 1e3
                    )).0));
                    break;
                }
                worst = worst.max((d - steps * dt).abs());
                delay_steps[s] = steps as u32;
            }
            split::agree(self.comm, bad)?;
            // Not negative: the bits order as the values do.
            let worst = f64::from_bits(self.comm.max_i64(worst.to_bits() as i64) as u64);
            if worst > 1e-9 * dt {
                self.warnings.push(format!(
                    "{} ({}): delays are rounded to whole steps of {} ms, by up to {:.4} ms",
                    proj.name,
                    proj.origin,
                    dt * 1e3,
                    worst * 1e3
                ));
            }
        }
        // The whole projection's shortest and longest delays: every rank
        // keeps rings of one length, and treats one delay for all alike.
        let (low, high) = split::delay_range(self.comm, &delay_steps);
        let max_delay = high.unwrap_or(0) as usize;
        let ring_bytes = (max_delay as f64 + 1.0) * RING_SLOT_BYTES;
        if let Some(limit) = limit
            && ring_bytes > limit as f64
        {
            return Err(err(format!(
                "the longest delay, {} steps of {} ms, needs a delay ring of {}, but only {} of memory is available",
                max_delay,
                dt * 1e3,
                gib(ring_bytes),
                gib(limit as f64)
            )));
        }
        Ok(ProjState {
            csr,
            total,
            min_delay: low,
            vars,
            // No synapses at all: one delay (0), as for one process.
            uniform_delay: match (low, high) {
                (Some(a), Some(b)) => (a == b).then_some(a),
                _ => Some(0),
            },
            delay_steps,
            ring: vec![vec![]; max_delay + 1],
            ring_rows: vec![vec![]; max_delay + 1],
            post_ring: vec![vec![]; (proj.on_post_delay / dt).round().max(0.0) as usize + 1],
            acc,
        })
    }

    /// Adds a projection's accumulated additions into its postsynaptic population.
    fn apply_acc(vars: &mut [Vec<f64>], acc: &mut [Vec<f64>]) {
        Self::apply_acc_held(vars, acc, &[], &[]);
    }

    /// [`Self::apply_acc`], dropping the additions to the `held` variables
    /// of elements `blocked` this step.
    fn apply_acc_held(
        vars: &mut [Vec<f64>],
        acc: &mut [Vec<f64>],
        held: &[usize],
        blocked: &[bool],
    ) {
        for (v, (buf, add)) in vars.iter_mut().zip(acc.iter_mut()).enumerate() {
            if buf.len() != add.len() {
                continue;
            }
            let mask = if held.contains(&v) { blocked } else { &[] };
            // A select rather than a branch, so it vectorises; zeros are not
            // added, so a -0 stays -0 whether or not this runs.
            if mask.is_empty() {
                for (x, a) in buf.iter_mut().zip(add.iter_mut()) {
                    let sum = *x + *a;
                    *x = if *a == 0.0 { *x } else { sum };
                    *a = 0.0;
                }
            } else {
                for ((x, a), &b) in buf.iter_mut().zip(add.iter_mut()).zip(mask) {
                    let sum = *x + *a;
                    *x = if *a == 0.0 || b { *x } else { sum };
                    *a = 0.0;
                }
            }
        }
    }

    fn proj_phase(
        &mut self,
        backend: &dyn Backend,
        k: usize,
        phase: ProjPhase,
        clock: Clock,
        spiking: &[Vec<u32>],
        due: (&[u32], &[u32]),
    ) -> bool {
        self.proj_phase_with(backend, k, phase, clock, spiking, due, (None, None))
    }

    /// [`Self::proj_phase`], with the presynaptic neurons whose `on pre`
    /// runs now and the postsynaptic ones whose `on post` does, when they
    /// are not this step's spikes (delays).
    #[allow(clippy::too_many_arguments)]
    fn proj_phase_with(
        &mut self,
        backend: &dyn Backend,
        k: usize,
        phase: ProjPhase,
        clock: Clock,
        spiking: &[Vec<u32>],
        (arriving, arriving_rows): (&[u32], &[u32]),
        (pre_now, post_now): (Option<&[u32]>, Option<&[u32]>),
    ) -> bool {
        let proj = &self.layout.projs[k];
        let st = &mut self.s.projs[k];
        // Handlers add into the phase's shared accumulator (applied when the
        // phase ends: no handler sees another's additions); couplings into
        // the projection's own, applied now.
        let event = matches!(phase, ProjPhase::OnPre | ProjPhase::OnPost);
        let added = {
            let mut ctx = ProjCtx {
                step: clock.step,
                t: clock.t,
                dt: clock.dt,
                seed: clock.seed,
                vars: &mut st.vars,
                pre: &self.s.vars[proj.pre],
                post: &self.s.vars[proj.post],
                acc: if event {
                    &mut self.s.event_acc[proj.post]
                } else {
                    &mut st.acc
                },
                csr: &st.csr,
                spiking_pre: pre_now
                    .unwrap_or_else(|| spiking.get(proj.pre).map_or(&[], Vec::as_slice)),
                arriving,
                arriving_rows,
                spiking_post: post_now
                    .unwrap_or_else(|| spiking.get(proj.post).map_or(&[], Vec::as_slice)),
            };
            backend.proj(k, phase, &mut ctx)
        };
        if added && phase == ProjPhase::Couple {
            Self::apply_acc(&mut self.s.vars[proj.post], &mut st.acc);
        }
        added && event
    }

    /// Applies the propagation phase of `step`'s additions to population
    /// `p`, whose elements `fired` spiked in it. A state held while
    /// refractory takes no synaptic jumps then, nor in the step its neuron
    /// spikes (Brian2's not_refractory is false from the threshold on;
    /// NEST's iaf_psc_delta drops such spikes).
    fn apply_events(&mut self, p: usize, step: u64, fired: &[u32]) {
        let held = &self.layout.pops[p].held;
        let blocked = &mut self.s.blocked[p];
        if !held.is_empty() {
            for (b, &r) in blocked.iter_mut().zip(&self.s.ref_until[p]) {
                *b = step as i64 <= r;
            }
            // `refractory while COND`: the flag its kernels computed.
            let flag = self.layout.pops[p].refractory_flag;
            if let Some(buf) = flag.and_then(|f| self.s.vars[p].get(f)) {
                for (b, &x) in blocked.iter_mut().zip(buf) {
                    *b |= x != 0.0;
                }
            }
            for &i in fired {
                blocked[i as usize] = true;
            }
        }
        Self::apply_acc_held(&mut self.s.vars[p], &mut self.s.event_acc[p], held, blocked);
    }

    /// The step this simulation runs with a backend fusing as `fusion`.
    pub fn step_plan(&self, fusion: &Fusion) -> StepPlan {
        let npop = self.layout.pops.len();
        let poisson: Vec<bool> = (0..npop)
            .map(|p| matches!(self.s.poisson.get(p), Some(Some(_))))
            .collect();
        let scheduled: Vec<bool> = (0..npop)
            .map(|p| self.s.schedules.get(p).is_some_and(|s| !s.is_empty()))
            .collect();
        StepPlan::new(self.layout, fusion, &poisson, &scheduled)
    }

    /// Runs operation `op` of the step `clock` names on the CPU, with the
    /// step's buffers `bufs` (each population's spikes so far, which have
    /// handlers' additions waiting) and, split across processes, what the
    /// ranks exchange around it.
    fn op(
        &mut self,
        backend: &dyn Backend,
        fusion: &Fusion,
        op: Op,
        clock: Clock,
        bufs: &mut StepBufs,
        x: &mut split::Exchange,
    ) {
        if x.split {
            self.before_op(backend, op, &mut bufs.spiking, x);
        }
        self.op_here(backend, fusion, op, clock, bufs, x.deferred);
        if x.split {
            self.after_op(op, &mut bufs.spiking, x);
        }
    }

    /// [`Self::op`] on this process's part; `defer`: this step's spikes
    /// enter the delay rings later, when the ranks exchange them.
    fn op_here(
        &mut self,
        backend: &dyn Backend,
        fusion: &Fusion,
        op: Op,
        clock: Clock,
        bufs: &mut StepBufs,
        defer: bool,
    ) {
        let n = clock.step;
        let StepBufs {
            spiking,
            pending,
            refractory,
        } = bufs;
        match op {
            Op::ZeroInputs(p) => {
                for (v, var) in self.layout.pops[p].vars.iter().enumerate() {
                    if var.role == VarRole::Input {
                        self.s.vars[p][v].fill(0.0);
                    }
                }
            }
            Op::Dynamic(p) => {
                let ctx = clock.ctx(&self.s.ref_until[p], self.own[p]);
                backend.dynamic(p, &mut self.s.vars[p], &ctx);
            }
            Op::ProjDynamic(k) => {
                self.proj_phase(backend, k, ProjPhase::Dynamic, clock, &[], (&[], &[]));
            }
            Op::Couple(k) => {
                self.proj_phase(backend, k, ProjPhase::Couple, clock, &[], (&[], &[]));
            }
            Op::PopStep(p) => {
                let ctx = clock.ctx(&self.s.ref_until[p], self.own[p]);
                let mut fused: Vec<(usize, &mut [Vec<f64>])> = self
                    .s
                    .projs
                    .iter_mut()
                    .enumerate()
                    .filter(|(k, _)| fusion.proj(*k) && self.layout.projs[*k].post == p)
                    .map(|(k, st)| (k, st.vars.as_mut_slice()))
                    .collect();
                backend.pop_step(p, &mut self.s.vars[p], &mut fused, &ctx, &mut spiking[p]);
            }
            Op::Update(p) => {
                let ctx = clock.ctx(&self.s.ref_until[p], self.own[p]);
                backend.update(p, &mut self.s.vars[p], &ctx);
            }
            Op::ProjUpdate(k) => {
                self.proj_phase(backend, k, ProjPhase::Update, clock, &[], (&[], &[]));
            }
            Op::Threshold(p) => {
                let ctx = clock.ctx(&self.s.ref_until[p], self.own[p]);
                backend.threshold(p, &mut self.s.vars[p], &ctx, &mut spiking[p]);
            }
            Op::Poisson(p) => self.poisson_spikes(p, n, &mut spiking[p]),
            Op::Scheduled(p) => {
                let fired = &mut spiking[p];
                if self.scheduled_spikes(p, n, fired) {
                    fired.sort_unstable();
                    fired.dedup();
                }
            }
            Op::Deliver(k) => {
                let post = self.layout.projs[k].post;
                if !defer {
                    let pre = self.layout.projs[k].pre;
                    self.enter(k, clock.step, &spiking[pre]);
                }
                pending[post] |= self.deliver(backend, k, clock, spiking);
            }
            Op::OnPost(k) => {
                let post = self.layout.projs[k].post;
                pending[post] |= self.on_post(backend, k, clock, spiking);
            }
            Op::ApplyEvents(p) => {
                if std::mem::take(&mut pending[p]) {
                    self.apply_events(p, n, &spiking[p]);
                }
            }
            Op::Reset(p) => {
                // Split across processes: the rank's own spikes.
                let fired = split::own_slice(&spiking[p], self.own[p]);
                if fired.is_empty() {
                    return;
                }
                refractory.clear();
                let ctx = clock.ctx(&self.s.ref_until[p], self.own[p]);
                backend.reset(p, &mut self.s.vars[p], &ctx, fired, refractory);
                for (j, &i) in fired.iter().enumerate() {
                    let period = refractory.get(j).copied().unwrap_or(0.0);
                    // Refractory while t - t_spike < t_ref: steps n+1 ..= n+R-1.
                    let r = (period / clock.dt).round() as i64;
                    self.s.ref_until[p][i as usize] = n as i64 + r - 1;
                }
            }
        }
    }

    /// Appends population `p`'s Poisson spikes of step `n` (increasing).
    fn poisson_spikes(&mut self, p: usize, n: u64, out: &mut Vec<u32>) {
        if let Some(Some(src)) = self.s.poisson.get_mut(p) {
            src.fire(n, out);
        }
    }

    /// Appends population `p`'s spikes given in advance for step `n`;
    /// whether there were any.
    fn scheduled_spikes(&self, p: usize, n: u64, out: &mut Vec<u32>) -> bool {
        let sched = self.s.schedules.get(p).map_or(&[][..], Vec::as_slice);
        let from = sched.partition_point(|e| e.0 < n);
        let to = sched.partition_point(|e| e.0 <= n);
        out.extend(sched[from..to].iter().map(|e| e.1));
        from < to
    }

    /// [`Op::Deliver`]: this step's spikes of projection `k`'s presynaptic
    /// population enter its delay ring; those due now reach their synapses.
    /// Whether `on pre` may have added into the postsynaptic values.
    fn deliver(
        &mut self,
        backend: &dyn Backend,
        k: usize,
        clock: Clock,
        spiking: &[Vec<u32>],
    ) -> bool {
        let n = clock.step;
        let ring_len = self.s.projs[k].ring.len();
        let now = n as usize % ring_len;
        self.arrive(backend, k, clock, spiking, now)
    }

    /// Step `n`'s spikes `fired` of projection `k`'s presynaptic population
    /// enter its delay ring (in the step itself, or, split across processes
    /// and exchanged every few steps, at the exchange: before any of them
    /// is due).
    fn enter(&mut self, k: usize, n: u64, fired: &[u32]) {
        let st = &mut self.s.projs[k];
        let ring_len = st.ring.len();
        let now = n as usize % ring_len;
        if let Some(d) = st.uniform_delay {
            // One delay: a spike reaches its neuron's whole row of synapses,
            // and a slot gets the spikes of one step, so it stays sorted.
            // Every spike, with or without synapses here: its `on pre`
            // updates the neuron's pre state when it arrives
            // (spec/semantics.md, "Inside a handler").
            let slot = (now + d as usize) % ring_len;
            st.ring_rows[slot].extend_from_slice(fired);
        } else {
            for &i in fired {
                for s in st.csr.offsets[i as usize]..st.csr.offsets[i as usize + 1] {
                    // Delays are below the ring's length: no division.
                    let mut slot = now + st.delay_steps[s] as usize;
                    if slot >= ring_len {
                        slot -= ring_len;
                    }
                    st.ring[slot].push(s as u32);
                }
            }
        }
    }

    /// The arrivals of step `clock` (ring slot `now`) of projection `k`:
    /// its `on pre`. Whether it may have added into the postsynaptic values.
    fn arrive(
        &mut self,
        backend: &dyn Backend,
        k: usize,
        clock: Clock,
        spiking: &[Vec<u32>],
        now: usize,
    ) -> bool {
        let mut arriving = std::mem::take(&mut self.s.projs[k].ring[now]);
        let mut rows = std::mem::take(&mut self.s.projs[k].ring_rows[now]);
        if !arriving.is_sorted() {
            arriving.sort_unstable();
        }
        let due = (arriving.as_slice(), rows.as_slice());
        // The whole `on pre` happens at arrival: with one delay, the
        // pre-state part runs for the neurons whose spikes arrive now (with
        // delays that differ, lowering keeps pre states per synapse, so
        // there is no pre-state part).
        let arrived_pre = if self.s.projs[k].uniform_delay.is_some() {
            Some(rows.as_slice())
        } else {
            None
        };
        let added = self.proj_phase_with(
            backend,
            k,
            ProjPhase::OnPre,
            clock,
            spiking,
            due,
            (arrived_pre, None),
        );
        arriving.clear();
        rows.clear();
        self.s.projs[k].ring[now] = arriving;
        self.s.projs[k].ring_rows[now] = rows;
        added
    }

    /// [`Op::OnPost`]: projection `k`'s `on post` for this step's spikes,
    /// or, after a dendritic delay's round trip, for those due now (without
    /// such a delay, almost always, nothing is copied).
    fn on_post(
        &mut self,
        backend: &dyn Backend,
        k: usize,
        clock: Clock,
        spiking: &[Vec<u32>],
    ) -> bool {
        let n = clock.step as usize;
        let len = self.s.projs[k].post_ring.len();
        if len == 1 {
            return self.proj_phase(backend, k, ProjPhase::OnPost, clock, spiking, (&[], &[]));
        }
        let post = self.layout.projs[k].post;
        let st = &mut self.s.projs[k];
        st.post_ring[(n + len - 1) % len].extend_from_slice(&spiking[post]);
        let mut post_due = std::mem::take(&mut st.post_ring[n % len]);
        let added = self.proj_phase_with(
            backend,
            k,
            ProjPhase::OnPost,
            clock,
            spiking,
            (&[], &[]),
            (None, Some(post_due.as_slice())),
        );
        post_due.clear();
        self.s.projs[k].post_ring[n % len] = post_due;
        added
    }

    /// Takes the state out, to resume it later (on kernels compiled again,
    /// from a network of the same layout).
    pub fn into_state(self) -> SimState {
        self.s
    }

    /// Resumes a state on `layout`, which must have the same buffers as the
    /// network it was built from (parameters may differ where the kernels
    /// hold them, not the sizes or the variables).
    pub fn resume(layout: &'a NetLayout, state: SimState) -> Result<Self, BuildError> {
        let same = layout.pops.len() == state.vars.len()
            && layout.projs.len() == state.projs.len()
            && layout.pops.iter().zip(&state.vars).all(|(p, vars)| {
                p.vars.len() == vars.len()
                    && p.vars
                        .iter()
                        .zip(vars)
                        .all(|(v, b)| b.len() == if v.scalar { 1 } else { p.size })
            })
            && layout
                .projs
                .iter()
                .zip(&state.projs)
                .all(|(p, st)| p.vars.len() == st.vars.len());
        if !same {
            return Err(BuildError(
                "the network's variables changed; its state cannot carry over".into(),
            ));
        }
        Ok(Simulation {
            layout,
            own: vec![ALL; state.vars.len()],
            s: state,
            comm: &SINGLE,
            warnings: vec![],
        })
    }

    /// Steps simulated so far.
    pub fn steps_done(&self) -> u64 {
        self.s.step
    }

    /// The buffers of population `pop`, to change (a parameter set anew).
    pub fn vars_mut(&mut self, pop: usize) -> &mut [Vec<f64>] {
        &mut self.s.vars[pop]
    }

    /// The buffers of projection `k`, to change (a parameter set anew).
    pub fn proj_vars_mut(&mut self, k: usize) -> &mut [Vec<f64>] {
        &mut self.s.projs[k].vars
    }

    /// The number of synapses of each projection.
    pub fn synapse_counts(&self) -> Vec<usize> {
        self.s.projs.iter().map(|p| p.total).collect()
    }

    /// The buffers of population `pop`.
    pub fn vars(&self, pop: usize) -> &[Vec<f64>] {
        &self.s.vars[pop]
    }

    /// Runs the schedule for `opts.duration`.
    pub fn run(&mut self, backend: &dyn Backend, opts: &RunOptions) -> RunResult {
        self.run_with(backend, opts, &mut Hooks::default())
    }

    /// Runs the schedule for `opts.duration`, reporting progress and
    /// stopping early when asked (the recordings stay complete).
    pub fn run_with(
        &mut self,
        backend: &dyn Backend,
        opts: &RunOptions,
        hooks: &mut Hooks<'_>,
    ) -> RunResult {
        let npop = self.layout.pops.len();
        let mut result = RunResult {
            spikes: vec![vec![]; npop],
            samples: vec![],
            steps: 0,
            dt: opts.dt,
            ..RunResult::default()
        };
        result.samples = self
            .layout
            .records
            .iter()
            .map(|r| Samples {
                width: match r.kind {
                    RecordKind::Spikes => 0,
                    RecordKind::Var { first, last, .. } => last.saturating_sub(first),
                    RecordKind::Rate { .. } => 1,
                    RecordKind::Synapses {
                        proj,
                        var,
                        first,
                        last,
                        ..
                    } => {
                        // The variable's own length: synapses, pre or post
                        // neurons, or one value.
                        let n = self.proj_var_len(proj, var);
                        last.min(n).saturating_sub(first.min(n))
                    }
                    RecordKind::Connectivity { .. } => 0,
                },
                ..Samples::default()
            })
            .collect();
        let mut rate_counts: Vec<u64> = vec![0; self.layout.records.len()];
        let start = Instant::now();
        match backend.resident() {
            Some(dev) => {
                self.run_resident(backend, dev, opts, hooks, &mut result, &mut rate_counts)
            }
            None => self.run_cpu(backend, opts, hooks, &mut result, &mut rate_counts),
        }
        // `at end` (and an `at` time that is the run's last): the state
        // where the run ended, stopped or not; then the synapses.
        let end = self.s.step;
        self.sample(end, end as f64 * opts.dt, &mut result.samples, true);
        if self.comm.size() > 1 {
            // Rank 0 writes the files: it gets the other ranks' values.
            self.gather_samples(&mut result.samples);
            self.gather_state();
        }
        result.wiring = self
            .layout
            .records
            .iter()
            .map(|rec| match rec.kind {
                RecordKind::Connectivity { proj } => self.wiring(proj),
                _ => None,
            })
            .collect();
        result.step_stats = (0..npop).map(|p| self.step_stats(p)).collect();
        result.loop_time = start.elapsed();
        result.ranks = self.comm.size();
        let events: u64 = self
            .layout
            .projs
            .iter()
            .zip(&self.s.projs)
            .map(|(proj, st)| {
                let rows = &st.csr.offsets;
                result.spikes[proj.pre]
                    .iter()
                    .map(|&(_, i)| {
                        let i = i as usize;
                        match (rows.get(i), rows.get(i + 1)) {
                            (Some(a), Some(b)) => (b - a) as u64,
                            _ => 0,
                        }
                    })
                    .sum::<u64>()
            })
            .sum();
        let mut events = [events];
        self.comm.sum_u64(&mut events);
        result.synaptic_events = events[0];
        result
    }

    /// The schedule on the CPU: every operation of every step, in order.
    /// Split across processes with an exchange every few steps (an
    /// epoch), each epoch's spikes travel while the next epoch computes.
    fn run_cpu(
        &mut self,
        backend: &dyn Backend,
        opts: &RunOptions,
        hooks: &mut Hooks<'_>,
        result: &mut RunResult,
        rate_counts: &mut [u64],
    ) {
        let steps = (opts.duration / opts.dt).round().max(0.0) as u64;
        // A resumed simulation goes on from the step it reached.
        let first = self.s.step;
        let last = first + steps;
        let npop = self.layout.pops.len();
        let mut bufs = StepBufs {
            spiking: vec![vec![]; npop],
            pending: vec![false; npop],
            refractory: vec![],
        };
        let fusion = backend.fusion();
        let plan = self.step_plan(&fusion);
        let run = RunCtx {
            backend,
            fusion: &fusion,
            plan: &plan,
            opts,
            first,
            last,
        };
        let mut x = split::Exchange::new(self, backend);
        let mut n = first;
        while n < last {
            // The steps to the next exchange (all of them when nothing
            // waits between steps).
            let end = if x.deferred {
                (first + ((n - first) / x.epoch + 1) * x.epoch).min(last)
            } else {
                last
            };
            // The last epoch's spikes, exchanged during this one.
            let inflight = std::mem::take(&mut x.buffer);
            let mut reached = n;
            let mut stopped = false;
            // The time computing while an exchange travels (the rest of
            // the exchange's time is communication).
            let mut busy = Duration::ZERO;
            let mine = (!inflight.is_empty()).then(|| self.pack(&inflight, &x));
            let framed = mine.as_ref().map(|words| x.frame(words));
            let comm = self.comm;
            let all = {
                let mut body = |poke: &dyn Fn()| {
                    let t0 = Instant::now();
                    while reached < end {
                        stopped = !self.one_step(
                            &run,
                            reached,
                            hooks,
                            result,
                            rate_counts,
                            &mut bufs,
                            &mut x,
                        );
                        if stopped {
                            break;
                        }
                        reached += 1;
                        poke();
                    }
                    busy += t0.elapsed();
                };
                match &framed {
                    Some(framed) => {
                        let t0 = Instant::now();
                        let all = comm.all_gather_during(framed, &mut body);
                        Some((all, t0))
                    }
                    None => {
                        body(&|| {});
                        None
                    }
                }
            };
            if let (Some((all, t0)), Some(words)) = (all, &mine) {
                let parts = self.unframe(&all, words, &mut x);
                x.time += t0.elapsed().saturating_sub(busy);
                self.receive(&parts, inflight, &mut x, result, rate_counts, opts.dt);
            }
            if stopped {
                break;
            }
            n = reached;
        }
        // The last epoch's spikes (and those of one stopped early).
        if !x.buffer.is_empty() {
            self.flush(&mut x, result, rate_counts, opts.dt);
        }
        result.comm_time = x.time;
        result.exchange_every = x.epoch;
    }

    /// Step `n` of a run; false when the run stops there (a signal before
    /// it, or a state that is not finite after it).
    #[allow(clippy::too_many_arguments)]
    fn one_step(
        &mut self,
        run: &RunCtx<'_>,
        n: u64,
        hooks: &mut Hooks<'_>,
        result: &mut RunResult,
        rate_counts: &mut [u64],
        bufs: &mut StepBufs,
        x: &mut split::Exchange,
    ) -> bool {
        let (opts, first, last) = (run.opts, run.first, run.last);
        let t = n as f64 * opts.dt;
        let clock = Clock {
            step: n,
            t,
            dt: opts.dt,
            seed: opts.seed,
        };
        // Split across processes, the signal every rank has heard of by
        // the last exchange: all stop at the same step.
        let heard = hooks
            .stop
            .map_or(0, |s| s.load(std::sync::atomic::Ordering::Relaxed));
        let signal = if x.split {
            x.heard = heard;
            x.signal
        } else {
            heard
        };
        if signal != 0 {
            result.stopped = Some(RunError::Interrupted { t, signal });
            return false;
        }
        if (n - first).is_multiple_of(1000)
            && let Some(p) = hooks.progress.as_mut()
        {
            p(n - first, last - first);
        }
        // A step boundary: a tiered backend may switch code here.
        run.backend.begin_step(n);
        self.sample(n, t, &mut result.samples, false);
        for fired in &mut bufs.spiking {
            fired.clear();
        }
        for &op in &run.plan.ops {
            self.op(run.backend, run.fusion, op, clock, bufs, x);
        }
        if x.deferred {
            // Split, exchanging every few steps: the own spikes wait.
            x.buffer.push((n, bufs.spiking.clone()));
        } else {
            if x.split {
                self.end_step(&mut bufs.spiking, x);
            }
            for (p, fired) in bufs.spiking.iter().enumerate() {
                result.spikes[p].extend(fired.iter().map(|&i| (n, i)));
            }
            self.count_rates(n, opts.dt, &bufs.spiking, rate_counts, &mut result.samples);
        }
        result.steps = n + 1 - first;
        self.s.step = n + 1;
        if ((n + 1).is_multiple_of(opts.check_every.max(1)) || n + 1 == last)
            && let Some(err) = self.check_finite_everywhere((n + 1) as f64 * opts.dt)
        {
            result.stopped = Some(err);
            return false;
        }
        true
    }

    /// Adds step `n`'s spikes to the rate recorders' counts, and a sample
    /// to each whose window ends with the step.
    fn count_rates(
        &self,
        n: u64,
        dt: f64,
        spiking: &[Vec<u32>],
        rate_counts: &mut [u64],
        samples: &mut [Samples],
    ) {
        for (k, rec) in self.layout.records.iter().enumerate() {
            if let RecordKind::Rate { window } = rec.kind {
                rate_counts[k] += spiking[rec.pop].len() as u64;
                if (n + 1).is_multiple_of(window.max(1)) {
                    let size = self.layout.pops[rec.pop].size.max(1) as f64;
                    let rate = rate_counts[k] as f64 / (size * window.max(1) as f64 * dt);
                    samples[k].t.push((n + 1 - window.max(1)) as f64 * dt);
                    samples[k].values.push(rate);
                    rate_counts[k] = 0;
                }
            }
        }
    }

    /// The schedule on a device that holds the state ([`Resident`]): the
    /// same steps in batches that end where the CPU checks for NaN (so a
    /// run stops at the same step with the same recordings), with the
    /// spikes of inputs computed here and the recorders' values copied out
    /// on the device at the steps they are due.
    fn run_resident(
        &mut self,
        backend: &dyn Backend,
        dev: &dyn Resident,
        opts: &RunOptions,
        hooks: &mut Hooks<'_>,
        result: &mut RunResult,
        rate_counts: &mut [u64],
    ) {
        let steps = (opts.duration / opts.dt).round().max(0.0) as u64;
        let first = self.s.step;
        let last = first + steps;
        let npop = self.layout.pops.len();
        let plan = self.step_plan(&backend.fusion());
        let projs = self
            .s
            .projs
            .iter()
            .map(|st| LoadedProj {
                csr: &st.csr,
                vars: &st.vars,
                delays: match st.uniform_delay {
                    Some(d) => vec![d; st.csr.len()],
                    None => st.delay_steps.clone(),
                },
                pending: st.ring.iter().chain(&st.ring_rows).any(|r| !r.is_empty())
                    || st.post_ring.iter().any(|r| !r.is_empty()),
                post_delay: st.post_ring.len().saturating_sub(1),
            })
            .collect();
        let loaded = Loaded {
            layout: self.layout,
            vars: &self.s.vars,
            ref_until: &self.s.ref_until,
            plan: &plan,
            projs,
        };
        if let Err(e) = dev.load(&loaded) {
            result.stopped = Some(RunError::Device(e));
            return;
        }
        let every = opts.check_every.max(1);
        let mut n = first;
        while n < last {
            let signal = hooks
                .stop
                .map_or(0, |s| s.load(std::sync::atomic::Ordering::Relaxed));
            if signal != 0 {
                let t = n as f64 * opts.dt;
                result.stopped = Some(RunError::Interrupted { t, signal });
                break;
            }
            if let Some(p) = hooks.progress.as_mut() {
                p(n - first, steps);
            }
            let end = ((n / every + 1) * every).min(last);
            let mut given = vec![];
            for m in n..end {
                let mut at: Vec<Vec<u32>> = vec![vec![]; npop];
                for op in &plan.ops {
                    match *op {
                        Op::Poisson(p) => self.poisson_spikes(p, m, &mut at[p]),
                        Op::Scheduled(p) => {
                            self.scheduled_spikes(p, m, &mut at[p]);
                        }
                        _ => {}
                    }
                }
                for list in &mut at {
                    list.sort_unstable();
                    list.dedup();
                }
                given.push(at);
            }
            let taps: Vec<Vec<Tap>> = (n..end).map(|m| self.taps(m, false)).collect();
            let batch = Batch {
                first: n,
                count: end - n,
                dt: opts.dt,
                seed: opts.seed,
                given,
                taps: &taps,
            };
            let out = match dev.run(&batch) {
                Ok(out) => out,
                Err(e) => {
                    result.stopped = Some(RunError::Device(e));
                    break;
                }
            };
            for (j, m) in (n..end).enumerate() {
                let t = m as f64 * opts.dt;
                for (tap, values) in taps[j].iter().zip(&out.taps[j]) {
                    let s = &mut result.samples[tap.record];
                    s.t.push(t);
                    if tap.repeat > 0 {
                        let x = values.first().copied().unwrap_or(f64::NAN);
                        s.values.extend(std::iter::repeat_n(x, tap.repeat));
                    } else {
                        s.values.extend_from_slice(values);
                    }
                }
                let spiking = &out.spikes[j];
                for (p, fired) in spiking.iter().enumerate() {
                    result.spikes[p].extend(fired.iter().map(|&i| (m, i)));
                }
                self.count_rates(m, opts.dt, spiking, rate_counts, &mut result.samples);
            }
            let mut projs: Vec<&mut Vec<Vec<f64>>> =
                self.s.projs.iter_mut().map(|p| &mut p.vars).collect();
            if let Err(e) = dev.store(&mut self.s.vars, &mut self.s.ref_until, &mut projs) {
                result.stopped = Some(RunError::Device(e));
                break;
            }
            n = end;
            result.steps = n - first;
            self.s.step = n;
            if let Some(err) = self.check_finite(n as f64 * opts.dt) {
                result.stopped = Some(err);
                break;
            }
        }
    }

    /// Population `p`'s substep statistics, if an adaptive method steps it.
    fn step_stats(&self, p: usize) -> Option<StepStats> {
        let pop = self.layout.pops.get(p)?;
        let a = pop.adaptive?;
        let vars = self.s.vars.get(p)?;
        let sum = |v: usize| vars.get(v).map_or(0.0, |b| b.iter().sum::<f64>());
        let accepted = sum(a.accepted);
        let neuron_steps = self.s.step as f64 * pop.size as f64;
        Some(StepStats {
            accepted,
            rejected: sum(a.rejected),
            per_step: if neuron_steps > 0.0 {
                accepted / neuron_steps
            } else {
                0.0
            },
            smallest: vars.get(a.smallest).map_or(f64::INFINITY, |b| {
                b.iter().copied().fold(f64::INFINITY, f64::min)
            }),
        })
    }

    /// Projection `k`'s synapses: indices, and delays as given (seconds);
    /// split across processes, rank 0 gets every rank's.
    fn wiring(&self, k: usize) -> Option<Wiring> {
        let w = self.wiring_here(k)?;
        if self.comm.size() == 1 {
            return Some(w);
        }
        Some(self.gather_wiring(k, w))
    }

    /// [`Self::wiring`] of the synapses this process holds.
    fn wiring_here(&self, k: usize) -> Option<Wiring> {
        let st = self.s.projs.get(k)?;
        let proj = self.layout.projs.get(k)?;
        let n = st.csr.pre.len();
        let delay = proj
            .delay_var
            .and_then(|v| st.vars.get(v))
            .map(|d| {
                if d.len() == n {
                    d.clone()
                } else {
                    vec![d.first().copied().unwrap_or(0.0); n]
                }
            })
            .unwrap_or_else(|| vec![0.0; n]);
        Some(Wiring {
            i: st.csr.pre.clone(),
            j: st.csr.post.clone(),
            delay,
        })
    }

    /// The values recorders copy at the start of step `n`; `end`: the run
    /// ends here, so `at end` is due too.
    fn taps(&self, n: u64, end: bool) -> Vec<Tap> {
        let mut taps = vec![];
        for (k, rec) in self.layout.records.iter().enumerate() {
            let due = |every: u64| {
                if rec.at.is_empty() {
                    !end && n.is_multiple_of(every.max(1))
                } else {
                    rec.at.binary_search(&n).is_ok() || (end && rec.at.last() == Some(&AT_END))
                }
            };
            match rec.kind {
                RecordKind::Synapses {
                    proj,
                    var,
                    first,
                    last,
                    every,
                } if due(every) => {
                    if self
                        .s
                        .projs
                        .get(proj)
                        .and_then(|p| p.vars.get(var))
                        .is_none()
                    {
                        continue;
                    }
                    let n = self.proj_var_len(proj, var);
                    taps.push(Tap {
                        record: k,
                        src: Src::Proj(proj, var),
                        first: first.min(n),
                        last: last.min(n),
                        repeat: 0,
                    });
                }
                RecordKind::Var {
                    var,
                    first,
                    last,
                    every,
                } if due(every) => {
                    let scalar = self.s.vars[rec.pop][var].len() == 1;
                    taps.push(Tap {
                        record: k,
                        src: Src::Pop(rec.pop, var),
                        first: if scalar { 0 } else { first },
                        last: if scalar { 1 } else { last },
                        repeat: if scalar { last - first } else { 0 },
                    });
                }
                _ => {}
            }
        }
        taps
    }

    /// Takes the samples due at the start of step `n` (time `t`) from the
    /// state here; `end`: the run ends here, so `at end` is due too.
    fn sample(&self, n: u64, t: f64, samples: &mut [Samples], end: bool) {
        for tap in self.taps(n, end) {
            let buf = match tap.src {
                Src::Pop(p, v) => &self.s.vars[p][v],
                Src::Proj(k, v) => &self.s.projs[k].vars[v],
            };
            let s = &mut samples[tap.record];
            s.t.push(t);
            if tap.repeat > 0 {
                s.values.extend(std::iter::repeat_n(buf[0], tap.repeat));
            } else if let Some(cols) = self.split_columns(tap.record) {
                // Split across processes: this rank's values in their
                // columns; rank 0 gathers the others' at the end.
                let row = s.values.len();
                s.values.resize(row + (tap.last - tap.first), f64::NAN);
                for (c, i) in cols {
                    s.values[row + c] = buf[i];
                }
            } else {
                s.values.extend_from_slice(&buf[tap.first..tap.last]);
            }
        }
    }

    /// The first state (of a neuron, a synapse, a projection's pre or post
    /// side, or a projection) that is NaN or infinite, by the model's names.
    fn check_finite(&self, t: f64) -> Option<RunError> {
        self.first_not_finite(t).map(|e| e.1)
    }

    /// [`Self::check_finite`] on this process's part, with the place's
    /// order in the whole network's search (population or projection,
    /// variable, element) to find the first across processes.
    fn first_not_finite(&self, t: f64) -> Option<([u64; 4], RunError)> {
        // Per-element buffers of a split population: this rank's block
        // (`ALL` for one value, which every rank computes).
        let first_bad = |buf: &[f64], (lo, hi): (usize, usize)| {
            let (lo, hi) = (lo.min(buf.len()), hi.min(buf.len()));
            buf[lo..hi]
                .iter()
                .position(|x| !x.is_finite())
                .map(|i| i + lo)
        };
        for (p, pop) in self.layout.pops.iter().enumerate() {
            for (v, var) in pop.vars.iter().enumerate() {
                if var.role != VarRole::State {
                    continue;
                }
                let buf = &self.s.vars[p][v];
                let span = if var.scalar { ALL } else { self.own[p] };
                if let Some(i) = first_bad(buf, span) {
                    let place = if buf.len() == 1 && pop.size != 1 {
                        format!("population `{}` (one value for all)", pop.name)
                    } else {
                        format!("neuron {i} of population `{}`", pop.name)
                    };
                    return Some((
                        [0, p as u64, v as u64, i as u64],
                        RunError::NotFinite {
                            place,
                            var: var.name.clone(),
                            value: buf[i],
                            t,
                        },
                    ));
                }
            }
        }
        for (k, proj) in self.layout.projs.iter().enumerate() {
            let Some(st) = self.s.projs.get(k) else {
                continue;
            };
            for (v, var) in proj.vars.iter().enumerate() {
                if var.role != VarRole::State {
                    continue;
                }
                let Some(buf) = st.vars.get(v) else {
                    continue;
                };
                let span = match var.space {
                    Space::PostState => self.own[proj.post],
                    _ => ALL,
                };
                let Some(i) = first_bad(buf, span) else {
                    continue;
                };
                // A synapse by its number in the whole projection.
                let key = match var.space {
                    Space::Syn => st.csr.keys.get(i).map_or(i, |&g| g as usize),
                    _ => i,
                };
                let what = format!("projection `{}` ({})", proj.name, proj.origin);
                let (pre, post) = (
                    &self.layout.pops[proj.pre].name,
                    &self.layout.pops[proj.post].name,
                );
                let place = match var.space {
                    Space::Syn => match (st.csr.pre.get(i), st.csr.post.get(i)) {
                        (Some(a), Some(b)) => {
                            format!("synapse {key} ({pre}[{a}] -> {post}[{b}]) of {what}")
                        }
                        _ => format!("synapse {key} of {what}"),
                    },
                    Space::PreState => format!("presynaptic {pre}[{i}] of {what}"),
                    Space::PostState => format!("postsynaptic {post}[{i}] of {what}"),
                    // Neuron variables seen through the projection are
                    // checked (and named) with their population.
                    Space::Scalar | Space::PreNeuron(_) | Space::PostNeuron(_) => what,
                };
                return Some((
                    [1, k as u64, v as u64, key as u64],
                    RunError::NotFinite {
                        place,
                        var: var.name.clone(),
                        value: buf[i],
                        t,
                    },
                ));
            }
        }
        None
    }
}
