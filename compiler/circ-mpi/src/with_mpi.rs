//! The [`Comm`] of `mpirun`'s processes, through rsmpi on the system's MPI.

use circ_runtime::comm::Comm;
use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::traits::*;

/// `MPI_COMM_WORLD`, initialised once for the process (finalised when dropped).
pub struct World {
    _universe: mpi::environment::Universe,
    world: mpi::topology::SimpleCommunicator,
}

impl World {
    /// Initialises MPI; `None` when it cannot be (already initialised).
    pub fn init() -> Option<World> {
        let universe = mpi::initialize()?;
        let world = universe.world();
        Some(World {
            _universe: universe,
            world,
        })
    }
}

impl World {
    /// Every rank's `mine` in rank order, with each rank's count.
    fn all_gather_counted<T: Equivalence + Default + Clone>(
        &self,
        mine: &[T],
    ) -> (Vec<T>, Vec<i32>) {
        let n = i32::try_from(mine.len()).unwrap_or(i32::MAX);
        let mut counts = vec![0i32; self.size()];
        self.world.all_gather_into(&n, &mut counts[..]);
        let displs = counts_and_displs(&counts);
        let total: usize = counts.iter().map(|&c| c.max(0) as usize).sum();
        let mut all = vec![T::default(); total];
        // Every rank knows the total: with nothing to send, none calls
        // (MPI refuses empty buffers of some types).
        if total > 0 {
            let mut part = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
            self.world.all_gather_varcount_into(mine, &mut part);
        }
        (all, counts)
    }

    fn all_gather_v<T: Equivalence + Default + Clone>(&self, mine: &[T]) -> Vec<T> {
        self.all_gather_counted(mine).0
    }
}

fn counts_and_displs(counts: &[i32]) -> Vec<i32> {
    counts
        .iter()
        .scan(0i32, |at, &c| {
            let d = *at;
            *at += c;
            Some(d)
        })
        .collect()
}

impl Comm for World {
    fn rank(&self) -> usize {
        usize::try_from(self.world.rank()).unwrap_or(0)
    }

    fn size(&self) -> usize {
        usize::try_from(self.world.size()).unwrap_or(1)
    }

    fn all_gather_u32(&self, mine: &[u32]) -> Vec<u32> {
        self.all_gather_v(mine)
    }

    fn all_gather_f64(&self, mine: &[f64]) -> Vec<f64> {
        self.all_gather_v(mine)
    }

    fn all_gather_bytes(&self, mine: &[u8]) -> Vec<Vec<u8>> {
        let (all, counts) = self.all_gather_counted(mine);
        let mut at = 0;
        counts
            .iter()
            .map(|&c| {
                let c = c.max(0) as usize;
                let part = all[at..at + c].to_vec();
                at += c;
                part
            })
            .collect()
    }

    fn sum_u64(&self, x: &mut [u64]) {
        let mine = x.to_vec();
        self.world
            .all_reduce_into(&mine[..], x, SystemOperation::sum());
    }

    fn exscan_u64(&self, x: &mut [u64]) {
        let mine = x.to_vec();
        self.world
            .exclusive_scan_into(&mine[..], x, SystemOperation::sum());
        // MPI leaves rank 0's result undefined.
        if self.rank() == 0 {
            x.fill(0);
        }
    }

    fn all_gather_during(&self, mine: &[u32], during: &mut dyn FnMut(&dyn Fn())) -> Vec<u32> {
        let mut all = vec![0u32; mine.len() * self.size()];
        mpi::request::scope(|scope| {
            let request = self
                .world
                .immediate_all_gather_into(scope, mine, &mut all[..]);
            // Open MPI moves a nonblocking collective along inside MPI
            // calls: `during` tests it now and then.
            let pending = std::cell::RefCell::new(Some(request));
            let poke = || {
                let taken = pending.borrow_mut().take();
                if let Some(r) = taken
                    && let Err(r) = r.test()
                {
                    *pending.borrow_mut() = Some(r);
                }
            };
            during(&poke);
            if let Some(r) = pending.into_inner() {
                r.wait();
            }
        });
        all
    }

    fn max_i64(&self, mine: i64) -> i64 {
        let mut out = 0i64;
        self.world
            .all_reduce_into(&mine, &mut out, SystemOperation::max());
        out
    }

    fn gather_f64(&self, mine: &[f64]) -> Vec<f64> {
        let root = self.world.process_at_rank(0);
        let n = i32::try_from(mine.len()).unwrap_or(i32::MAX);
        if self.rank() == 0 {
            let mut counts = vec![0i32; self.size()];
            root.gather_into_root(&n, &mut counts[..]);
            let displs = counts_and_displs(&counts);
            let total: usize = counts.iter().map(|&c| c.max(0) as usize).sum();
            let mut all = vec![0f64; total];
            {
                let mut part = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
                root.gather_varcount_into_root(mine, &mut part);
            }
            all
        } else {
            root.gather_into(&n);
            root.gather_varcount_into(mine);
            vec![]
        }
    }
}
