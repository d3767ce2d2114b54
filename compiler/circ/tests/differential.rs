//! Every example and every standard-library model runs on the interpreter
//! (the oracle) and on the Cranelift JIT with the same seed, and the output
//! files must be byte-identical. The JIT must also give the same bytes on
//! every thread count.

mod common;

use std::path::Path;
use std::process::Command;

fn run(model: &Path, backend: &str, out: &Path, extra: &[&str]) {
    run_env(model, backend, out, extra, &[]);
}

fn run_env(model: &Path, backend: &str, out: &Path, extra: &[&str], env: &[(&str, &str)]) {
    let o = Command::new(env!("CARGO_BIN_EXE_circ"))
        .args(["run", "--color", "never", "--backend", backend, "--out"])
        .arg(out)
        .args(extra)
        .arg(model)
        .envs(env.iter().copied())
        .output()
        .expect("run circ");
    assert!(
        o.status.success(),
        "{} on {backend}: {}",
        model.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn same_on_both(model: &Path, extra: &[&str]) -> usize {
    let tag = model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = std::env::temp_dir().join(format!("circ-diff-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    run(model, "interp", &base.join("interp"), extra);
    run(model, "jit", &base.join("jit"), extra);
    let n = same_files(
        model,
        &base.join("interp"),
        &base.join("jit"),
        "the interpreter and the JIT",
    );
    let _ = std::fs::remove_dir_all(&base);
    n
}

/// Asserts two output folders hold the same files, byte for byte.
fn same_files(model: &Path, one: &Path, other: &Path, what: &str) -> usize {
    let (a, b) = (common::outputs(one), common::outputs(other));
    assert_eq!(a.len(), b.len(), "{}: different files", model.display());
    for ((na, da), (nb, db)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert!(da == db, "{}: {na} differs between {what}", model.display());
    }
    a.len()
}

/// Runs `model` on the JIT with one thread and with each of `counts`, every
/// kernel split however small, and asserts the outputs are the same bytes.
fn same_on_threads(model: &Path, extra: &[&str], counts: &[&str]) {
    let tag = model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = std::env::temp_dir().join(format!("circ-thr-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let split = [("CIRC_MIN_PARALLEL", "1")];
    let one: Vec<&str> = extra.iter().copied().chain(["--threads", "1"]).collect();
    run_env(model, "jit", &base.join("1"), &one, &split);
    for &t in counts {
        let args: Vec<&str> = extra.iter().copied().chain(["--threads", t]).collect();
        run_env(model, "jit", &base.join(t), &args, &split);
        let what = format!("1 and {t} threads");
        let n = same_files(model, &base.join("1"), &base.join(t), &what);
        assert!(n > 0, "{}: nothing recorded", model.display());
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn every_example_is_identical_on_every_thread_count() {
    for m in common::examples() {
        same_on_threads(&m, &["--duration", "30 ms"], &["4"]);
    }
    // Big enough for thousands of arrivals per step, per-synapse couplings
    // into postsynaptic currents and plasticity.
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/threads.circ");
    same_on_threads(&model, &[], &["2", "3", "4"]);
    // And the split kernels against the oracle.
    assert!(same_on_both(&model, &[]) > 0, "nothing recorded");
}

#[test]
fn fused_paired_steps_are_identical_to_the_interpreter() {
    // Odd population sizes (a scalar tail after the pairs), odd thread
    // slices, two projections summing into one input, a population whose
    // step stays scalar (calls to exp).
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fused.circ");
    assert!(same_on_both(&model, &[]) > 0, "nothing recorded");
    same_on_threads(&model, &[], &["2", "3"]);
    // And phase by phase (the JIT's unfused kernels), split or not.
    let base = std::env::temp_dir().join(format!("circ-nofuse-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let whole = [("CIRC_NO_FUSION", "1")];
    let split = [("CIRC_NO_FUSION", "1"), ("CIRC_MIN_PARALLEL", "1")];
    run_env(&model, "interp", &base.join("interp"), &[], &[]);
    run_env(
        &model,
        "jit",
        &base.join("one"),
        &["--threads", "1"],
        &whole,
    );
    run_env(
        &model,
        "jit",
        &base.join("three"),
        &["--threads", "3"],
        &split,
    );
    for other in ["one", "three"] {
        let what = format!("the interpreter and the unfused JIT ({other})");
        same_files(&model, &base.join("interp"), &base.join(other), &what);
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn every_example_is_identical_on_interpreter_and_jit() {
    for m in common::examples() {
        // Long enough for every network to spike and learn; short enough for the interpreter.
        let files = same_on_both(&m, &["--duration", "30 ms"]);
        assert!(files > 0, "{}: nothing recorded", m.display());
    }
}

#[test]
fn every_standard_model_is_identical_on_interpreter_and_jit() {
    let dir = std::env::temp_dir().join(format!("circ-diff-std-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    // Each model's documented example (a network that uses it), first 100 ms.
    for m in circ_stdlib::models() {
        for (k, src) in m.examples().iter().enumerate() {
            let path = dir.join(format!("{}-{k}.circ", m.name));
            std::fs::write(&path, src).expect("write");
            same_on_both(&path, &["--duration", "100 ms"]);
        }
    }
    // Every neuron model alone, at its defaults, with a fine step.
    for m in circ_stdlib::models().iter().filter(|m| m.kind == "neuron") {
        let name = &m.name;
        let src = format!(
            "use std::neurons::{name}\ncircuit C {{\n    population P = {name}[4]\n    record spikes of P\n}}\nrun C for 20 ms {{ dt = 0.05 ms }}\n"
        );
        let path = dir.join(format!("{name}.circ"));
        std::fs::write(&path, src).expect("write");
        same_on_both(&path, &[]);
    }
    // Synapse and plasticity models with random delays, between Poisson
    // inputs and conductance LIFs (not those that read presynaptic neuron
    // values or rates: gap junctions run below, the rest in their examples).
    for m in circ_stdlib::models().iter().filter(|m| m.kind == "synapse") {
        let (module, syn) = (m.module, &m.name);
        if ["pre.", "post.r"].iter().any(|x| m.source.contains(x)) {
            continue;
        }
        let src = format!(
            "use std::neurons::LIFCond\nuse std::{module}::{syn}\ncircuit C {{\n    population In = poisson[50](rate = 40 Hz)\n    population Out = LIFCond[5](I_ext = 0.15 nA)\n    project syn = In -> Out : {syn} connect bernoulli(0.5) delay uniform(0 ms, 2 ms)\n    modulator DA = step(10 ms, 0, 1)\n    record spikes of Out\n    record v of Out every 0.5 ms\n}}\nrun C for 30 ms\n"
        );
        let path = dir.join(format!("{syn}.circ"));
        std::fs::write(&path, src).expect("write");
        same_on_both(&path, &[]);
    }
    let gap = "use std::neurons::LIF\nuse std::synapses::GapJunction\ncircuit C {\n    population A = LIF[10](I_ext = 0.2 nA) { v = uniform(-65 mV, -50 mV) }\n    project A -> A : GapJunction connect bernoulli(0.3)\n    record v of A every 0.5 ms\n}\nrun C for 30 ms\n";
    let path = dir.join("gap.circ");
    std::fs::write(&path, gap).expect("write");
    same_on_both(&path, &[]);
    let _ = std::fs::remove_dir_all(&dir);
}
