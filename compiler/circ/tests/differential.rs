//! Differential tests, one case per (model, backend, threads): every
//! example, every standard model's documented example, every standard
//! neuron alone and every synapse model between Poisson inputs runs on each
//! backend of the registry (`circ_backends::BACKENDS`) and on the reference
//! interpreter with the same seed, and the output files must be
//! byte-identical. Cases are generated from the registry and the files on
//! disk (a libtest-mimic harness), so a failure names its case and does not
//! hide the others: `cargo nextest run --test differential -- coba` runs
//! COBA's cases alone.

mod common;

use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};
use std::process::Command;

/// How one backend run is made.
#[derive(Clone, Debug)]
struct Way {
    backend: &'static str,
    threads: usize,
    /// Split every kernel across the threads, however small (`CIRC_MIN_PARALLEL=1`).
    split: bool,
    /// Run every phase on its own (`CIRC_NO_FUSION=1`).
    unfused: bool,
    /// `auto`: switch from Cranelift's code to LLVM's exactly before this
    /// step (`CIRC_SWAP_AT`).
    swap_at: Option<u64>,
    /// `gpu`: every device buffer through staging copies, as on a
    /// discrete GPU (`CIRC_GPU_STAGED=1`).
    staged: bool,
    /// `gpu`: the commands that may run together recorded last to first
    /// (`CIRC_GPU_REVERSED=1`).
    reversed: bool,
}

impl Way {
    fn label(&self) -> String {
        let mut s = format!("{}/t{}", self.backend, self.threads);
        if self.split {
            s += "-split";
        }
        if self.unfused {
            s += "-unfused";
        }
        if let Some(n) = self.swap_at {
            s += &format!("-swap{n}");
        }
        if self.staged {
            s += "-staged";
        }
        if self.reversed {
            s += "-reversed";
        }
        s
    }
}

/// A model to run: a file, or a generated text written to a file first.
#[derive(Clone, Debug)]
enum Model {
    File(PathBuf),
    Text(String, String),
}

/// Runs `model` one way into `out`.
fn run(model: &Path, way: &Way, out: &Path, extra: &[String]) -> Result<(), Failed> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_circ"));
    cmd.args(["run", "--color", "never", "--backend", way.backend])
        .args(["--threads", &way.threads.to_string(), "--out"])
        .arg(out)
        .args(extra)
        .arg(model)
        .env_remove("CIRC_MIN_PARALLEL")
        .env_remove("CIRC_NO_FUSION")
        .env_remove("CIRC_SWAP_AT")
        .env_remove("CIRC_GPU_STAGED")
        .env_remove("CIRC_GPU_REVERSED");
    if way.staged {
        cmd.env("CIRC_GPU_STAGED", "1");
    }
    if way.reversed {
        cmd.env("CIRC_GPU_REVERSED", "1");
    }
    if let Some(n) = way.swap_at {
        cmd.env("CIRC_SWAP_AT", n.to_string());
    }
    if way.split {
        cmd.env("CIRC_MIN_PARALLEL", "1");
    }
    if way.unfused {
        cmd.env("CIRC_NO_FUSION", "1");
    }
    let o = cmd.output().map_err(|e| format!("cannot run circ: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "{} on {}: {}",
            model.display(),
            way.label(),
            String::from_utf8_lossy(&o.stderr)
        )
        .into());
    }
    Ok(())
}

/// One case: `model` on the interpreter and on `way`, the same bytes.
fn case(name: &str, model: &Model, way: &Way, extra: &[String]) -> Result<(), Failed> {
    let tag: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let dir = std::env::temp_dir().join(format!("circ-diff-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = match model {
        Model::File(p) => p.clone(),
        Model::Text(file, text) => {
            let p = dir.join(file);
            std::fs::write(&p, text).map_err(|e| e.to_string())?;
            p
        }
    };
    let oracle = Way {
        backend: "interp",
        threads: 1,
        split: false,
        unfused: false,
        swap_at: None,
        staged: false,
        reversed: false,
    };
    let result = (|| {
        run(&path, &oracle, &dir.join("oracle"), extra)?;
        run(&path, way, &dir.join("backend"), extra)?;
        let (a, b) = (
            common::outputs(&dir.join("oracle")),
            common::outputs(&dir.join("backend")),
        );
        if a.is_empty() {
            return Err(Failed::from(format!("{name}: nothing recorded")));
        }
        let names = |v: &[(String, Vec<u8>)]| v.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
        if names(&a) != names(&b) {
            return Err(format!(
                "{name}: different files: {:?} vs {:?}",
                names(&a),
                names(&b)
            )
            .into());
        }
        for ((file, x), (_, y)) in a.iter().zip(&b) {
            if x != y {
                return Err(format!(
                    "{name}: {file} differs between the interpreter and {}",
                    way.label()
                )
                .into());
            }
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Why the GPU backend does not run `model` yet, if it does not.
fn gpu_why(model: &Model) -> Option<String> {
    let (file, src) = match model {
        Model::File(p) => (
            p.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::fs::read_to_string(p).expect("model file"),
        ),
        Model::Text(file, src) => (file.clone(), src.clone()),
    };
    circ_backends::gpu_unsupported(&common::lower(&file, &src).net)
}

/// Every way to run a model on the registry's backends besides the oracle:
/// one thread, and (for backends with threads) `counts` threads with every
/// kernel split. `auto` switches to LLVM's code at a fixed step: before
/// step 1 on one thread, before step 97 split across threads.
fn ways(counts: &[usize]) -> Vec<Way> {
    ways_staged(counts, false)
}

/// [`ways`], and with `staged` the GPU twice more: through staging copies,
/// and with the commands that may run together recorded last to first.
fn ways_staged(counts: &[usize], staged: bool) -> Vec<Way> {
    let mut v = vec![];
    for b in circ_backends::BACKENDS
        .iter()
        .filter(|b| b.name != "interp")
    {
        let swap = |n: u64| (b.name == "auto").then_some(n);
        v.push(Way {
            backend: b.name,
            threads: 1,
            split: false,
            unfused: false,
            swap_at: swap(1),
            staged: false,
            reversed: false,
        });
        if staged && b.name == "gpu" {
            for (staged, reversed) in [(true, false), (false, true)] {
                v.push(Way {
                    backend: b.name,
                    threads: 1,
                    split: false,
                    unfused: false,
                    swap_at: None,
                    staged,
                    reversed,
                });
            }
        }
        if b.threads {
            for &t in counts {
                v.push(Way {
                    backend: b.name,
                    threads: t,
                    split: true,
                    unfused: false,
                    swap_at: swap(97),
                    staged: false,
                    reversed: false,
                });
            }
        }
    }
    v
}

fn main() {
    let args = Arguments::from_args();
    let mut models: Vec<(String, Model, Vec<String>, Vec<Way>)> = vec![];
    let short = |d: &str| vec!["--duration".to_string(), d.to_string()];
    // Every example, long enough for every network to spike and learn,
    // short enough for the interpreter.
    for m in common::examples() {
        let name = format!(
            "examples/{}",
            m.file_name()
                .map(|f| f.to_string_lossy())
                .unwrap_or_default()
        );
        // The microcircuit at a twentieth of its size (the interpreter
        // builds and runs it for every way).
        let mut extra = short("30 ms");
        if name.ends_with("pd14.circ") {
            extra.extend(["--set".to_string(), "scale=0.05".to_string()]);
        }
        models.push((name, Model::File(m), extra, ways_staged(&[4], true)));
    }
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    // Big enough for thousands of arrivals per step, per-synapse couplings
    // into postsynaptic currents and plasticity.
    models.push((
        "tests/threads.circ".into(),
        Model::File(data.join("threads.circ")),
        vec![],
        ways_staged(&[2, 3, 4], true),
    ));
    // The remainder over the whole range of doubles (the GPU's is integer
    // long division).
    models.push((
        "tests/remainder.circ".into(),
        Model::File(data.join("remainder.circ")),
        vec![],
        ways(&[]),
    ));
    // Data tables read every step (`timed` stimuli, per-neuron `values`).
    models.push((
        "tests/tables.circ".into(),
        Model::File(data.join("tables.circ")),
        vec![],
        ways(&[2]),
    ));
    // `pre let` sums: each presynaptic neuron's over its synapses (the GPU
    // runs them per presynaptic neuron, in synapse order).
    models.push((
        "tests/pre_let.circ".into(),
        Model::File(data.join("pre_let.circ")),
        short("200 ms"),
        ways(&[3]),
    ));
    // Handlers with branches, per synapse and per neuron, uniform and
    // differing delays.
    models.push((
        "tests/branches.circ".into(),
        Model::File(data.join("branches.circ")),
        vec![],
        ways_staged(&[2], true),
    ));
    // Projections adding into one target in the same step, in order (the
    // GPU's reversed way checks its groups of commands).
    models.push((
        "tests/shared_acc.circ".into(),
        Model::File(data.join("shared_acc.circ")),
        vec![],
        ways_staged(&[2], true),
    ));
    // Fused steps: odd population sizes (a scalar tail after the pairs), odd
    // thread slices, two projections summing into one input, a population
    // whose step stays scalar; and phase by phase (unfused), whole or split.
    let mut fused = ways(&[2, 3]);
    for b in circ_backends::BACKENDS
        .iter()
        .filter(|b| b.name != "interp" && b.threads)
    {
        for (threads, split) in [(1, false), (3, true)] {
            fused.push(Way {
                backend: b.name,
                threads,
                split,
                unfused: true,
                swap_at: (b.name == "auto").then_some(5),
                staged: false,
                reversed: false,
            });
        }
    }
    models.push((
        "tests/fused.circ".into(),
        Model::File(data.join("fused.circ")),
        vec![],
        fused,
    ));
    // Each standard model's documented example (a network that uses it).
    for m in circ_stdlib::models() {
        for (k, src) in m.examples().iter().enumerate() {
            let file = format!("{}-{k}.circ", m.name);
            models.push((
                format!("std/{file}"),
                Model::Text(file, src.to_string()),
                short("100 ms"),
                ways(&[]),
            ));
        }
    }
    // Every neuron model alone, at its defaults, with a fine step.
    for m in circ_stdlib::models().iter().filter(|m| m.kind == "neuron") {
        let name = &m.name;
        let src = format!(
            "use std::neurons::{name}\ncircuit C {{\n    population P = {name}[4]\n    record spikes of P\n}}\nrun C for 20 ms {{ dt = 0.05 ms }}\n"
        );
        let file = format!("{name}-alone.circ");
        models.push((
            format!("std/{file}"),
            Model::Text(file, src),
            vec![],
            ways(&[]),
        ));
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
        let file = format!("{syn}-between-poisson.circ");
        models.push((
            format!("std/{file}"),
            Model::Text(file, src),
            vec![],
            ways(&[]),
        ));
    }
    let gap = "use std::neurons::LIF\nuse std::synapses::GapJunction\ncircuit C {\n    population A = LIF[10](I_ext = 0.2 nA) { v = uniform(-65 mV, -50 mV) }\n    project A -> A : GapJunction connect bernoulli(0.3)\n    record v of A every 0.5 ms\n}\nrun C for 30 ms\n";
    models.push((
        "std/GapJunction-ring.circ".into(),
        Model::Text("gap.circ".into(), gap.into()),
        vec![],
        ways(&[]),
    ));
    // NEST's dendritic delay: `on post` twice the delay after the post
    // spike (the GPU reads it from its spike history).
    let dendritic = "use std::neurons::LIFCond\nuse std::plasticity::StdpAdditive\ncircuit C {\n    population In = poisson[100](rate = 40 Hz)\n    population N = LIFCond[5](I_ext = 0.15 nA)\n    project syn = In -> N : StdpAdditive(g_max = 1 nS) connect bernoulli(0.5) delay 1.5 ms dendritic\n    record spikes of N\n    record w of syn every 1 ms\n}\nrun C for 50 ms\n";
    models.push((
        "std/StdpAdditive-dendritic.circ".into(),
        Model::Text("dendritic.circ".into(), dendritic.into()),
        vec![],
        ways_staged(&[2], true),
    ));
    let trials = models
        .into_iter()
        .flat_map(|(name, model, extra, ways)| {
            // The GPU backend runs part of the language so far: its cases
            // of other models are listed as ignored (tests/gpu.rs counts
            // them and says why).
            // (Each case runs in a process of its own: only the cases the
            // filter selects lower their model here.)
            let wanted = |way: &Way| {
                let case = format!("{name} {}", way.label());
                args.filter.as_ref().is_none_or(|f| {
                    if args.exact {
                        case == *f
                    } else {
                        case.contains(f.as_str())
                    }
                })
            };
            let gpu_runs =
                ways.iter().any(|w| w.backend == "gpu" && wanted(w)) && gpu_why(&model).is_none();
            ways.into_iter().map(move |way| {
                let case_name = format!("{name} {}", way.label());
                let (model, extra) = (model.clone(), extra.clone());
                let skip = way.backend == "gpu" && !gpu_runs;
                Trial::test(case_name.clone(), move || {
                    case(&case_name, &model, &way, &extra)
                })
                .with_ignored_flag(skip)
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
