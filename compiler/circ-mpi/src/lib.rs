//! circ-mpi owns the communicator of a run across `mpirun`'s processes:
//! [`World`], the runtime's [`circ_runtime::comm::Comm`] on MPI (rsmpi on the
//! system's Open MPI, behind the `mpi` feature), and how a process tells
//! that `mpirun` started it. It must not know networks, kernels or files
//! (the runtime decides what is exchanged), read files, or print.

#[cfg(feature = "mpi")]
mod with_mpi;
#[cfg(feature = "mpi")]
pub use with_mpi::World;

/// Whether this build can run across MPI ranks.
pub const ENABLED: bool = cfg!(feature = "mpi");

/// The variables `mpirun` launchers set in each process they start (Open
/// MPI, then PMIx and PMI-2 launchers such as Slurm's and MPICH's Hydra).
pub const LAUNCHER_VARS: [&str; 4] = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"];

/// Whether a process with these environment variables was started by an
/// MPI launcher (`lookup` reads one; the caller owns the environment).
pub fn launched(lookup: impl Fn(&str) -> Option<String>) -> bool {
    LAUNCHER_VARS.iter().any(|v| lookup(v).is_some())
}
