//! Differential IR fuzzing (as Cranelift's): the input's bytes choose a
//! random well-formed network (`fuzz/irgen.rs`); the interpreter and the
//! JIT (on one thread, and on two with every kernel split) must give the
//! same bits for every variable and the same spikes. Run from the repo root:
//!   cargo +nightly fuzz run ir_diff -- -max_total_time=600

#![no_main]

#[path = "../irgen.rs"]
mod irgen;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let net = irgen::network(&mut irgen::Bytes::new(data));
    for threads in [1, 2] {
        if let Err(e) = irgen::differ(&net, "jit", threads) {
            panic!("{e}");
        }
    }
});
