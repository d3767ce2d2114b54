//! The differential IR fuzzer's generator run on fixed seeds (the fuzz
//! target, `fuzz/fuzz_targets/ir_diff.rs`, explores from there): random
//! well-formed kernels give the interpreter's bits on every other backend
//! of the registry, on one thread and on two with every kernel split.
//! `CIRC_IR_FUZZ_CASES` sets how many (default 100); seeds beyond them
//! that once found a difference run too.

#[path = "../../../fuzz/irgen.rs"]
mod irgen;

#[test]
fn random_kernels_give_the_interpreters_bits_on_every_backend() {
    let n: u64 = std::env::var("CIRC_IR_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let mut failures = vec![];
    let mut on_gpu = 0;
    // 381: LLVM folded `-(c / x)` into `(-c) / x`, flipping a NaN's sign.
    let found = [381];
    let seeds: Vec<u64> = (0..n)
        .chain(found.into_iter().filter(|&s| s >= n))
        .collect();
    for &seed in &seeds {
        let net = irgen::network(&mut irgen::Seeded(seed));
        // The GPU backend where it runs the network so far.
        let gpu = circ_backends::gpu_unsupported(&net).is_none();
        on_gpu += usize::from(gpu);
        // `auto` runs `jit`'s code, then `llvm`'s, both checked here (its
        // swap is checked by the differential tests, at fixed steps).
        for b in circ_backends::BACKENDS
            .iter()
            .filter(|b| !["interp", "auto"].contains(&b.name) && (b.name != "gpu" || gpu))
        {
            let threads: &[usize] = if b.threads { &[1, 2] } else { &[1] };
            for &t in threads {
                if let Err(e) = irgen::differ(&net, b.name, t) {
                    failures.push(format!("seed {seed}: {e}"));
                }
            }
        }
        if failures.len() > 3 {
            break;
        }
    }
    let n = seeds.len();
    eprintln!("measured: {on_gpu} of {n} networks also on the GPU");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_generator_makes_varied_networks() {
    // Not a tautology: a generator stuck on one shape would test little.
    let texts: Vec<String> = (0..20)
        .map(|s| circ_ir::print(&irgen::network(&mut irgen::Seeded(s))))
        .collect();
    let all = texts.join("\n");
    for needle in [
        "if ", "$t", "select(", "spike if", "uniform#", "^", "%", "min(",
    ] {
        assert!(all.contains(needle), "no `{needle}` in 20 networks");
    }
    let distinct: std::collections::HashSet<&String> = texts.iter().collect();
    assert_eq!(distinct.len(), 20);
}
