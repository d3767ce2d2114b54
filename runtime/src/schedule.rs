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
