//! The time step as data (spec/semantics.md, "The time step"): the
//! operations of one step, in order, for one network. The CPU schedule in
//! [`crate::sim`] executes this list and a device-resident executor records
//! it into its command buffers, so the order is written once, here.

use crate::layout::NetLayout;
use crate::sim::Fusion;

/// One operation of a time step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Sets population `p`'s input variables to zero.
    ZeroInputs(usize),
    /// Population `p`'s time-dependent parameters and drives.
    Dynamic(usize),
    /// Projection `k`'s time-dependent parameters.
    ProjDynamic(usize),
    /// Projection `k`'s continuous couplings, added into its postsynaptic
    /// population's values.
    Couple(usize),
    /// Population `p`'s fused pass: its inputs zeroed (when the pass owns
    /// them), the couplings of the projections fused into it, its update,
    /// their equations and its threshold.
    PopStep(usize),
    /// Population `p`'s state update.
    Update(usize),
    /// Projection `k`'s equations.
    ProjUpdate(usize),
    /// Population `p`'s spike condition.
    Threshold(usize),
    /// Population `p`'s Poisson spikes.
    Poisson(usize),
    /// Population `p`'s spikes given in advance.
    Scheduled(usize),
    /// Projection `k`: this step's presynaptic spikes enter its delay ring,
    /// and `on pre` runs for the spikes due now.
    Deliver(usize),
    /// Projection `k`'s `on post` for the postsynaptic spikes due now.
    OnPost(usize),
    /// The handlers' additions to population `p`, applied together (held
    /// states of refractory or spiking neurons take none).
    ApplyEvents(usize),
    /// Resets and refractory periods of population `p`'s spiking neurons.
    Reset(usize),
}

/// Everything one time step runs, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepPlan {
    /// The operations.
    pub ops: Vec<Op>,
}

impl StepPlan {
    /// The step of `layout` under `fusion`; `poisson[p]` and `scheduled[p]`
    /// say whether population `p` has Poisson spikes or spikes given in
    /// advance.
    pub fn new(
        layout: &NetLayout,
        fusion: &Fusion,
        poisson: &[bool],
        scheduled: &[bool],
    ) -> StepPlan {
        let (npop, nproj) = (layout.pops.len(), layout.projs.len());
        let mut ops = vec![];
        // 1. Inputs and time-dependent parameters.
        for p in 0..npop {
            if !fusion.inputs(p) {
                ops.push(Op::ZeroInputs(p));
            }
            ops.push(Op::Dynamic(p));
        }
        // Projections: their time-dependent parameters, then continuous
        // couplings into the (just zeroed) inputs. A fused projection's
        // couplings and equations run in its population's pass instead:
        // they touch only that population's neurons, each at its own index,
        // so doing them neuron by neuron gives the same values.
        for k in 0..nproj {
            ops.push(Op::ProjDynamic(k));
            if !fusion.proj(k) {
                ops.push(Op::Couple(k));
            }
        }
        // 2. State updates (3. thresholds too, for fused populations).
        for p in 0..npop {
            ops.push(if fusion.pop(p) {
                Op::PopStep(p)
            } else {
                Op::Update(p)
            });
        }
        for k in 0..nproj {
            if !fusion.proj(k) {
                ops.push(Op::ProjUpdate(k));
            }
        }
        // 3. Thresholds, and spikes from inputs.
        for p in 0..npop {
            if !fusion.pop(p) {
                ops.push(Op::Threshold(p));
            }
            if poisson.get(p).copied().unwrap_or(false) {
                ops.push(Op::Poisson(p));
            }
            if scheduled.get(p).copied().unwrap_or(false) {
                ops.push(Op::Scheduled(p));
            }
        }
        // 4. Synaptic propagation, then the handlers' additions.
        for k in 0..nproj {
            ops.push(Op::Deliver(k));
            ops.push(Op::OnPost(k));
        }
        let mut posts: Vec<usize> = layout.projs.iter().map(|k| k.post).collect();
        posts.sort_unstable();
        posts.dedup();
        ops.extend(posts.into_iter().map(Op::ApplyEvents));
        // 5. Resets and refractory periods.
        ops.extend((0..npop).map(Op::Reset));
        StepPlan { ops }
    }
}

/// Where a recorder's values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// Variable `.1` of population `.0`.
    Pop(usize, usize),
    /// Variable `.1` of projection `.0`.
    Proj(usize, usize),
}

/// Values a recorder copies at the start of a step: `first..last` of a
/// buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tap {
    /// The recorder, by its index in the layout.
    pub record: usize,
    /// The buffer.
    pub src: Src,
    /// The first value.
    pub first: usize,
    /// One past the last value.
    pub last: usize,
    /// For a value shared by every element: how many times the recorder
    /// repeats it (0 otherwise).
    pub repeat: usize,
}

/// What a device-resident executor is handed before a run.
pub struct Loaded<'a> {
    /// The network's layout.
    pub layout: &'a NetLayout,
    /// Per population, per variable: its values.
    pub vars: &'a [Vec<Vec<f64>>],
    /// Per population, per element: the last step of its refractory period.
    pub ref_until: &'a [Vec<i64>],
    /// The step to run.
    pub plan: &'a StepPlan,
    /// Per projection: its synapses and values.
    pub projs: Vec<LoadedProj<'a>>,
}

/// A projection as a device-resident executor receives it.
pub struct LoadedProj<'a> {
    /// Its synapses.
    pub csr: &'a crate::connect::Csr,
    /// Its own buffers, by variable (empty for views of neuron values).
    pub vars: &'a [Vec<f64>],
    /// Each synapse's delay in steps.
    pub delays: Vec<u32>,
    /// Whether spikes wait in its delay ring from an earlier run (a
    /// resumed simulation); a fresh run has none.
    pub pending: bool,
    /// Steps of its dendritic delay (`on post` waits that long; 0 at once).
    pub post_delay: usize,
}

/// Steps for a device to run without the host in between.
pub struct Batch<'a> {
    /// The first step.
    pub first: u64,
    /// How many steps.
    pub count: u64,
    /// The time step, seconds.
    pub dt: f64,
    /// The seed of every random number.
    pub seed: u64,
    /// Per step of the batch, per population: the spikes of its inputs
    /// (Poisson, given in advance) in increasing order, added to those of
    /// its spike condition.
    pub given: Vec<Vec<Vec<u32>>>,
    /// Per step of the batch: the values to copy at its start.
    pub taps: &'a [Vec<Tap>],
}

/// What a device returns of a batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchOut {
    /// Per step, per population: its spikes in increasing order.
    pub spikes: Vec<Vec<Vec<u32>>>,
    /// Per step, per tap: the values copied (one for a repeated value).
    pub taps: Vec<Vec<Vec<f64>>>,
}

/// A backend that keeps a network's whole state on a device and runs many
/// steps of the [`StepPlan`] per call (the GPU's executor). The runtime
/// still owns the schedule's order, inputs, recordings and checks.
pub trait Resident {
    /// Copies the state to the device, before a run's first batch.
    fn load(&self, state: &Loaded<'_>) -> Result<(), String>;
    /// Runs a batch of steps.
    fn run(&self, batch: &Batch<'_>) -> Result<BatchOut, String>;
    /// Copies the state back from the device: the populations' values and
    /// refractory steps, and each projection's own values.
    fn store(
        &self,
        vars: &mut [Vec<Vec<f64>>],
        ref_until: &mut [Vec<i64>],
        projs: &mut [&mut Vec<Vec<f64>>],
    ) -> Result<(), String>;
}
