//! What a simulation split across processes needs from its communicator
//! (`circ-mpi` implements it on MPI): which rank this is, collectives that
//! every rank calls in the same order, and the contiguous block of each
//! population a rank computes. One process alone is [`Single`], where
//! every collective is the identity.

/// A group of cooperating processes. Every rank calls the collectives in
/// the same order with the same kinds of arguments (the schedule is the
/// same on every rank), so none waits for a call that never comes.
pub trait Comm {
    /// This process's rank, 0-based.
    fn rank(&self) -> usize;
    /// How many ranks there are.
    fn size(&self) -> usize;
    /// Every rank's `mine`, concatenated in rank order (on every rank).
    fn all_gather_u32(&self, mine: &[u32]) -> Vec<u32>;
    /// Every rank's `mine`, concatenated in rank order (on every rank).
    fn all_gather_f64(&self, mine: &[f64]) -> Vec<f64>;
    /// Every rank's `mine`, one vector per rank (on every rank).
    fn all_gather_bytes(&self, mine: &[u8]) -> Vec<Vec<u8>>;
    /// Replaces `x` by the element-wise sum over every rank's `x`.
    fn sum_u64(&self, x: &mut [u64]);
    /// Replaces `x` by the element-wise sum of the `x` of the ranks before
    /// this one (zeros on rank 0).
    fn exscan_u64(&self, x: &mut [u64]);
    /// The largest of every rank's `mine` (on every rank).
    fn max_i64(&self, mine: i64) -> i64;
    /// Every rank's `mine` on rank 0 in rank order (empty elsewhere).
    fn gather_f64(&self, mine: &[f64]) -> Vec<f64>;
    /// Every rank's `mine` (every rank's of the same length), concatenated
    /// in rank order, gathered while `during` runs: the exchange is
    /// started, `during` computes (calling the function it is given now
    /// and then lets the exchange progress), and the result is waited for.
    fn all_gather_during(&self, mine: &[u32], during: &mut dyn FnMut(&dyn Fn())) -> Vec<u32>;
}

/// One process alone: every collective is the identity.
#[derive(Clone, Copy, Debug, Default)]
pub struct Single;

/// The communicator of a simulation that is not split.
pub static SINGLE: Single = Single;

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
    fn all_gather_f64(&self, mine: &[f64]) -> Vec<f64> {
        mine.to_vec()
    }
    fn all_gather_bytes(&self, mine: &[u8]) -> Vec<Vec<u8>> {
        vec![mine.to_vec()]
    }
    fn sum_u64(&self, _x: &mut [u64]) {}
    fn exscan_u64(&self, x: &mut [u64]) {
        x.fill(0);
    }
    fn max_i64(&self, mine: i64) -> i64 {
        mine
    }
    fn gather_f64(&self, mine: &[f64]) -> Vec<f64> {
        mine.to_vec()
    }
    fn all_gather_during(&self, mine: &[u32], during: &mut dyn FnMut(&dyn Fn())) -> Vec<u32> {
        during(&|| {});
        mine.to_vec()
    }
}

/// Every rank's outcome of a step that may fail on some ranks only (an
/// output folder rank 0 alone writes, memory): the first failing rank's
/// message on every rank, so that all go on or all stop together.
pub fn agree(comm: &dyn Comm, mine: Result<(), String>) -> Result<(), String> {
    if comm.size() == 1 {
        return mine;
    }
    let mine = mine.err().map(|m| ([0; 4], m.into_bytes()));
    match first_of(comm, mine) {
        Some(b) => Err(String::from_utf8_lossy(&b).into_owned()),
        None => Ok(()),
    }
}

/// Of every rank's `mine` (a key and a message), the message of the lowest
/// key, then the lowest rank; on every rank.
pub fn first_of(comm: &dyn Comm, mine: Option<([u64; 4], Vec<u8>)>) -> Option<Vec<u8>> {
    let bytes = match mine {
        None => vec![],
        Some((key, msg)) => {
            let mut b: Vec<u8> = key.iter().flat_map(|k| k.to_le_bytes()).collect();
            b.extend_from_slice(&msg);
            b
        }
    };
    comm.all_gather_bytes(&bytes)
        .into_iter()
        .filter(|b| b.len() >= 32)
        .map(|b| {
            let key: Vec<u64> = b[..32]
                .chunks(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect();
            (key, b[32..].to_vec())
        })
        .min_by(|a, b| a.0.cmp(&b.0))
        .map(|e| e.1)
}

/// A stable 64-bit digest (FNV-1a) of `bytes`: what ranks compare to
/// know they run the same model with the same settings.
pub fn digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The contiguous block of `n` elements rank `rank` of `size` owns: the
/// first `n % size` ranks own one more. Blocks in rank order are the
/// elements in order, so spikes gathered in rank order are sorted.
pub fn block(n: usize, rank: usize, size: usize) -> std::ops::Range<usize> {
    let size = size.max(1);
    let (base, extra) = (n / size, n % size);
    let start = rank * base + rank.min(extra);
    let len = base + usize::from(rank < extra);
    start.min(n)..(start + len).min(n)
}

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
