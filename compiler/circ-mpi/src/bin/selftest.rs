//! Under `mpirun -n N`: checks `World`'s collectives against what the ranks
//! can compute alone, and prints `ok RANK SIZE` (or the mismatch, exit 1).

use circ_runtime::comm::{Comm, block};

fn main() {
    let Some(world) = circ_mpi::World::init() else {
        eprintln!("error: MPI could not be initialised");
        std::process::exit(2);
    };
    let (rank, size) = (world.rank(), world.size());
    // Rank r sends r values r*100, r*100+1, ... (rank 0 sends none).
    let mine: Vec<u32> = (0..rank as u32).map(|k| rank as u32 * 100 + k).collect();
    let all = world.all_gather_u32(&mine);
    let want: Vec<u32> = (0..size as u32)
        .flat_map(|r| (0..r).map(move |k| r * 100 + k))
        .collect();
    let max = world.max_i64(rank as i64 * 7 - 3);
    let gathered = world.gather_f64(&[rank as f64; 2]);
    let want_gathered: Vec<f64> = if rank == 0 {
        (0..size).flat_map(|r| [r as f64; 2]).collect()
    } else {
        vec![]
    };
    let words = world.all_gather_bytes(&vec![rank as u8; rank]);
    let want_words: Vec<Vec<u8>> = (0..size).map(|r| vec![r as u8; r]).collect();
    let mut sums = [1u64, rank as u64];
    world.sum_u64(&mut sums);
    let mut before = [1u64, rank as u64];
    world.exscan_u64(&mut before);
    let n = size as u64;
    let (r, floats) = (rank as u64, world.all_gather_f64(&[rank as f64 + 0.5]));
    if words != want_words
        || sums != [n, n * (n - 1) / 2]
        || before != [r, r * r.saturating_sub(1) / 2]
        || floats != (0..size).map(|x| x as f64 + 0.5).collect::<Vec<_>>()
    {
        eprintln!(
            "rank {rank}/{size}: bytes {words:?} sums {sums:?} before {before:?} floats {floats:?}"
        );
        std::process::exit(1);
    }
    let blocks: usize = (0..size).map(|r| block(10, r, size).len()).sum();
    if all != want || max != (size as i64 - 1) * 7 - 3 || gathered != want_gathered || blocks != 10
    {
        eprintln!("rank {rank}/{size}: all {all:?} max {max} gathered {gathered:?}");
        std::process::exit(1);
    }
    println!("ok {rank} {size}");
}
