//! The processes of a run: MPI's world when `mpirun` (or another MPI
//! launcher) started this one, else this process alone; and quiet ranks
//! besides rank 0, which speaks for all of them.

use circ_runtime::comm::{Comm, Single};

/// The communicator of this run, or why there is none.
pub fn start() -> Result<Box<dyn Comm>, String> {
    if !circ_mpi::launched(|v| std::env::var(v).ok()) {
        return Ok(Box::new(Single));
    }
    #[cfg(feature = "mpi")]
    {
        match circ_mpi::World::init() {
            Some(w) => Ok(Box::new(w)),
            None => Err("MPI could not be initialised".into()),
        }
    }
    #[cfg(not(feature = "mpi"))]
    {
        let size = std::env::var("OMPI_COMM_WORLD_SIZE")
            .or_else(|_| std::env::var("PMI_SIZE"))
            .ok()
            .and_then(|s| s.parse::<usize>().ok());
        if size == Some(1) {
            return Ok(Box::new(Single));
        }
        Err("an MPI launcher started this circ, but it was built without MPI (cargo feature `mpi`): every process would run the whole network and write the same files; build circ with its default features (scripts/install-deps installs Open MPI)".into())
    }
}

/// [`start`], then [`quiet_unless_first`]; or the error printed and the
/// exit code (2) to return.
pub fn start_quiet() -> Result<Box<dyn Comm>, std::process::ExitCode> {
    match start() {
        Ok(comm) => {
            quiet_unless_first(&*comm);
            Ok(comm)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(std::process::ExitCode::from(2))
        }
    }
}

/// On ranks other than 0: standard output and error go nowhere (rank 0
/// prints the run's messages, which every rank shares), but a panic still
/// reaches the terminal, saying which rank.
pub fn quiet_unless_first(comm: &dyn Comm) {
    let rank = comm.rank();
    if rank == 0 {
        return;
    }
    #[allow(unsafe_code)]
    // SAFETY: plain descriptor calls on descriptors this process owns; the
    // duplicate of standard error stays open for the process's life.
    let saved = unsafe {
        let saved = libc::dup(2);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
        if null >= 0 {
            libc::dup2(null, 1);
            libc::dup2(null, 2);
            libc::close(null);
        }
        saved
    };
    if saved < 0 {
        return;
    }
    std::panic::set_hook(Box::new(move |info| {
        let text = format!("rank {rank}: {info}\n");
        #[allow(unsafe_code)]
        // SAFETY: writes a live buffer to the saved descriptor.
        unsafe {
            libc::write(saved, text.as_ptr().cast(), text.len());
        }
    }));
}
