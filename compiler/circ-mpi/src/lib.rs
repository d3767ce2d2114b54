//! circ-mpi owns what a run across processes needs from MPI: which rank
//! this is and how many there are, the exchange of each step's spikes
//! (every rank gets every rank's, in rank order, so in global neuron
//! order when ranks own contiguous blocks), reductions that stop every
//! rank at the same step, and gathering recordings to rank 0. Without the
//! `mpi` feature (or outside `mpirun`) it is one process and every
//! operation is the identity. It must not know networks, kernels or files.

/// A group of cooperating processes.
pub trait Comm {
    /// This process's rank, 0-based.
    fn rank(&self) -> usize;
    /// How many ranks there are.
    fn size(&self) -> usize;
    /// Every rank's `mine`, concatenated in rank order (on every rank).
    fn all_gather_u32(&self, mine: &[u32]) -> Vec<u32>;
    /// The largest of every rank's `mine` (on every rank).
    fn max_i64(&self, mine: i64) -> i64;
    /// Every rank's `mine` on rank 0 in rank order (empty elsewhere).
    fn gather_f64(&self, mine: &[f64]) -> Vec<f64>;
}

/// One process alone: every collective is the identity.
#[derive(Clone, Copy, Debug, Default)]
pub struct Single;

impl Comm for Single {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_gather_u32(&self, mine: &[u32]) -> Vec<u32> {
        mine.to_vec()
    }
    fn max_i64(&self, mine: i64) -> i64 {
        mine
    }
    fn gather_f64(&self, mine: &[f64]) -> Vec<f64> {
        mine.to_vec()
    }
}

/// The contiguous block of `n` elements rank `rank` of `size` owns: the
/// first `n % size` ranks own one more.
pub fn block(n: usize, rank: usize, size: usize) -> std::ops::Range<usize> {
    let size = size.max(1);
    let (base, extra) = (n / size, n % size);
    let start = rank * base + rank.min(extra);
    let len = base + usize::from(rank < extra);
    start.min(n)..(start + len).min(n)
}

#[cfg(feature = "mpi")]
mod with_mpi;
#[cfg(feature = "mpi")]
pub use with_mpi::World;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_every_element_once_in_order() {
        for n in [0, 1, 5, 7, 100] {
            for size in 1..=5 {
                let mut next = 0;
                for r in 0..size {
                    let b = block(n, r, size);
                    assert_eq!(b.start, next, "n {n} size {size} rank {r}");
                    assert!(b.len() <= n.div_ceil(size));
                    next = b.end;
                }
                assert_eq!(next, n);
            }
        }
    }
}
