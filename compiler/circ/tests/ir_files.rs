//! IR file tests: each `tests/ir/*.ir` is a network in the IR's text form
//! (`circ_ir::parse`) with its expectations in comments, run on every
//! backend of the registry (and the JIT on 1 and 3 threads, every kernel
//! split), one test case per (file, backend, threads):
//!
//! ```text
//! ; steps 3          (default 1; also `; dt X`, `; seed N`)
//! ; expect P.out = 1e0 2e0 NaN -0e0
//! ```
//!
//! Values are compared bit for bit (`NaN` matches any NaN), after the
//! initialisers and the given number of steps.

use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};

struct Case {
    steps: u64,
    dt: f64,
    seed: u64,
    /// (population, variable, values)
    expect: Vec<(String, String, Vec<f64>)>,
}

fn number(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|_| format!("bad number `{s}`")),
    }
}

fn case(text: &str) -> Result<Case, String> {
    let mut c = Case {
        steps: 1,
        dt: 1e-4,
        seed: 1,
        expect: vec![],
    };
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix(';') else {
            continue;
        };
        let rest = rest.trim();
        let (word, arg) = rest.split_once(' ').unwrap_or((rest, ""));
        match word {
            "steps" => c.steps = arg.trim().parse().map_err(|_| "bad steps")?,
            "dt" => c.dt = number(arg.trim())?,
            "seed" => c.seed = arg.trim().parse().map_err(|_| "bad seed")?,
            "expect" => {
                let (target, values) = arg.split_once('=').ok_or("expect P.x = values")?;
                let (pop, var) = target.trim().split_once('.').ok_or("expect P.x")?;
                let values = values
                    .split_whitespace()
                    .map(number)
                    .collect::<Result<_, _>>()?;
                c.expect.push((pop.into(), var.into(), values));
            }
            _ => {}
        }
    }
    if c.expect.is_empty() {
        return Err("no `; expect` line".into());
    }
    Ok(c)
}

fn run_case(path: &Path, backend: &str, threads: usize) -> Result<(), Failed> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{e}"))?;
    let c = case(&text)?;
    let net = circ_ir::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    circ_ir::verify(&net).map_err(|e| format!("{e}"))?;
    let settings = circ_backends::Settings {
        threads,
        min_parallel: (threads > 1).then_some(1),
        ..Default::default()
    };
    let base = path.parent().unwrap_or(Path::new("."));
    // Data tables are read relative to the IR file.
    let tables =
        circ_runtime::data::load_tables(base, &net.layout.tables).map_err(|e| e.0.clone())?;
    let inst = circ_backends::instantiate(backend, &net, tables, &settings)?;
    let bopts = circ_runtime::BuildOptions {
        seed: c.seed,
        dt: c.dt,
        base,
        memory_limit: None,
    };
    let mut sim = circ_runtime::Simulation::build(&net.layout, inst.backend.as_ref(), &bopts)
        .map_err(|e| format!("{e}"))?;
    let ropts = circ_runtime::RunOptions {
        duration: c.steps as f64 * c.dt,
        dt: c.dt,
        seed: c.seed,
        check_every: u64::MAX,
    };
    let result = sim.run(inst.backend.as_ref(), &ropts);
    if let Some(e) = result.stopped {
        return Err(format!("the run stopped: {e:?}").into());
    }
    for (pop, var, want) in &c.expect {
        let p = net
            .layout
            .pops
            .iter()
            .position(|x| &x.name == pop)
            .ok_or(format!("no population `{pop}`"))?;
        let v = net.layout.pops[p]
            .vars
            .iter()
            .position(|x| &x.name == var)
            .ok_or(format!("no variable `{pop}.{var}`"))?;
        let got = &sim.vars(p)[v];
        let same = got.len() == want.len()
            && got
                .iter()
                .zip(want)
                .all(|(g, w)| g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()));
        if !same {
            return Err(format!("{pop}.{var}: want {want:?}, got {got:?}").into());
        }
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ir");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/ir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ir"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .ir files");
    let mut trials = vec![];
    for f in files {
        for b in circ_backends::BACKENDS {
            let threads: &[usize] = if b.threads { &[1, 3] } else { &[1] };
            for &t in threads {
                let name = format!(
                    "tests/ir/{} {}/t{t}",
                    f.file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default(),
                    b.name
                );
                // The GPU backend runs part of the IR so far: its cases of
                // other files are listed as ignored.
                let skip = b.name == "gpu"
                    && std::fs::read_to_string(&f)
                        .ok()
                        .and_then(|text| circ_ir::parse(&text).ok())
                        .is_none_or(|net| circ_backends::gpu_unsupported(&net).is_some());
                let (f, backend) = (f.clone(), b.name);
                trials.push(
                    Trial::test(name, move || run_case(&f, backend, t)).with_ignored_flag(skip),
                );
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
