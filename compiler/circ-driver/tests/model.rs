//! `Model` keeps what it lowered and compiled: which runs reuse them, and
//! that a reused network gives the same files as a fresh one.

use circ_driver::{Model, Request, Settings, Source, check};
use std::path::Path;
use std::sync::atomic::AtomicI32;

fn coba() -> Model {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/coba.circ");
    let source = Source::file(&file).expect("examples/coba.circ");
    Model::new(check(source, false).expect("coba checks"))
}

fn req(seed: u64, sets: &[&str], duration: f64, threads: usize) -> Request {
    Request {
        settings: Settings {
            seed: Some(seed),
            duration: Some(duration),
            sets: sets.iter().map(|s| s.to_string()).collect(),
            ..Settings::default()
        },
        backend: "jit".into(),
        threads: Some(threads),
        ..Request::default()
    }
}

/// The recordings' `.npy` files (the summary holds timings).
fn npy(r: &circ_driver::Report) -> Vec<(String, Vec<u8>)> {
    r.files
        .iter()
        .filter(|(n, _)| n.ends_with(".npy"))
        .cloned()
        .collect()
}

#[test]
fn a_second_seed_neither_lowers_nor_compiles() {
    let stop = AtomicI32::new(0);
    let mut m = coba();
    let a = m.run(&req(1, &[], 0.05, 1), &stop, None).expect("run");
    assert!(a.lowered && a.compiled);
    let b = m.run(&req(2, &[], 0.05, 1), &stop, None).expect("run");
    assert!(!b.lowered && !b.compiled, "{b:?}");
    assert_eq!((b.timings.lower, b.timings.compile), (0.0, 0.0));
    assert_ne!(npy(&a), npy(&b), "another seed, other spikes");
    // The kept network gives what a fresh model gives.
    let fresh = coba().run(&req(2, &[], 0.05, 1), &stop, None).expect("run");
    assert_eq!(npy(&b), npy(&fresh));
    assert_eq!((m.lowerings_done, m.compilations_done), (1, 1));
}

#[test]
fn values_seen_before_and_other_durations_reuse_the_code() {
    let stop = AtomicI32::new(0);
    let mut m = coba();
    let a = m
        .run(&req(1, &["exc.w=6nS"], 0.05, 1), &stop, None)
        .expect("run");
    let b = m
        .run(&req(1, &["exc.w=5nS"], 0.05, 1), &stop, None)
        .expect("run");
    assert!(
        b.lowered && b.compiled,
        "a weight compiled into the kernels"
    );
    let c = m
        .run(&req(1, &["exc.w=6nS"], 0.05, 1), &stop, None)
        .expect("run");
    assert!(!c.lowered && !c.compiled, "{c:?}");
    assert_eq!(npy(&a), npy(&c));
    assert_ne!(npy(&a), npy(&b));
    // Another duration is lowered again (its samples are checked against
    // it) but gives the same network: no code generation.
    let d = m
        .run(&req(1, &["exc.w=6nS"], 0.03, 1), &stop, None)
        .expect("run");
    assert!(d.lowered && !d.compiled, "{d:?}");
    // Another thread count is another compilation, with the same bits.
    let e = m
        .run(&req(1, &["exc.w=6nS"], 0.05, 2), &stop, None)
        .expect("run");
    assert!(!e.lowered && e.compiled, "{e:?}");
    assert_eq!(npy(&a), npy(&e));
}

#[test]
fn errors_are_rendered_with_their_exit_codes() {
    let stop = AtomicI32::new(0);
    let mut m = coba();
    let e = m
        .run(&req(1, &["nope=3"], 0.05, 1), &stop, None)
        .expect_err("unknown parameter");
    assert_eq!(e.code, 2);
    assert!(e.message.starts_with("error: "), "{}", e.message);
    let bad = check(Source::text("<text>", "neuron X { v: volt }\n"), false)
        .err()
        .expect("an error");
    assert_eq!(bad.code, 1);
    assert!(bad.message.contains("<text>:1"), "{}", bad.message);
    let stopped = AtomicI32::new(2);
    let r = m.run(&req(1, &[], 0.05, 1), &stopped, None).expect("run");
    assert_eq!(r.signal, Some(2));
    assert!(r.stopped.as_deref().is_some_and(|s| s.contains("SIGINT")));
}

/// Every backend serves runs in turn: a run after another seed's gives the
/// bits of a fresh backend (a cache derived from the last network's
/// synapses is forgotten: the native executor's row cuts, with threads).
#[test]
fn every_backend_gives_a_reused_network_the_bits_of_a_fresh_one() {
    let stop = AtomicI32::new(0);
    for info in circ_backends::BACKENDS {
        let threads = if info.threads { 2 } else { 1 };
        let r = |seed| Request {
            backend: info.name.into(),
            ..req(seed, &[], 0.05, threads)
        };
        let mut m = coba();
        m.run(&r(1), &stop, None).expect("first run");
        let again = m.run(&r(2), &stop, None).expect("second run");
        assert!(!again.compiled, "{}", info.name);
        let fresh = coba().run(&r(2), &stop, None).expect("fresh run");
        assert!(
            npy(&again) == npy(&fresh),
            "{}: a reused network differs from a fresh one",
            info.name
        );
    }
}
