//! Under `mpirun -n N`: checks `World`'s collectives against what the ranks
//! can compute alone, and prints `ok RANK SIZE` (or the mismatch, exit 1).

use circ_mpi::Comm;

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
    let blocks: usize = (0..size).map(|r| circ_mpi::block(10, r, size).len()).sum();
    if all != want || max != (size as i64 - 1) * 7 - 3 || gathered != want_gathered || blocks != 10
    {
        eprintln!("rank {rank}/{size}: all {all:?} max {max} gathered {gathered:?}");
        std::process::exit(1);
    }
    println!("ok {rank} {size}");
}
