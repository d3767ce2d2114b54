//! circ-runtime owns a simulation's life: the layout of state (struct of
//! arrays), the time-step schedule of `spec/semantics.md` (implemented once,
//! here), refractoriness, the Philox RNG, recorders and the files they
//! become. Backends supply kernels through the [`Backend`] trait. It must not
//! depend on any compiler crate: it knows layouts and kernels by index only.

pub mod comm;
pub mod connect;
pub mod data;
pub mod layout;
pub mod npy;
pub mod outdir;
pub mod output;
pub mod philox;
pub mod poisson;
pub mod schedule;
pub mod sim;

pub use layout::{NetLayout, PopLayout, Record, RecordKind, VarLayout, VarRole};
pub use schedule::{Op, Resident, StepPlan};
pub use sim::{
    Backend, BuildOptions, Hooks, RunError, RunOptions, RunResult, SimState, Simulation, StepCtx,
    StepStats, signal_name,
};
