//! Runs split across MPI ranks (`mpirun --oversubscribe`, so 4 ranks on
//! a 2-core machine) give the files one process gives, byte for byte: one
//! case per (example, backend, ranks). And what goes wrong across ranks
//! stops every rank with one message: a NaN on one rank, a signal, a
//! backend that cannot split, ranks given different models, an output
//! folder that cannot be written. Needs the `mpi` feature (the default)
//! and Open MPI (scripts/install-deps).

use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn circ() -> &'static str {
    env!("CARGO_BIN_EXE_circ")
}

/// A fresh folder for one case.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "circ-mpi-{}-{}",
        name.replace('/', "-"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp folder");
    dir
}

/// `mpirun -n ranks` of `args`, killed after `limit` (a hang fails).
fn mpirun(ranks: usize, args: &[&str], limit: Duration) -> Result<Output, Failed> {
    let mut cmd = Command::new("mpirun");
    cmd.args(["--oversubscribe", "--allow-run-as-root", "-n"])
        .arg(ranks.to_string())
        .args(args);
    run_limited(cmd, limit)
}

fn run_limited(mut cmd: Command, limit: Duration) -> Result<Output, Failed> {
    let child = spawn(&mut cmd)?;
    wait_limited(child, limit, &format!("{cmd:?}"))
}

fn spawn(cmd: &mut Command) -> Result<std::process::Child, Failed> {
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("cannot start {cmd:?}: {e} (scripts/install-deps installs Open MPI)").into()
        })
}

/// The output of `child`, killed after `limit` (a hang fails).
fn wait_limited(child: std::process::Child, limit: Duration, what: &str) -> Result<Output, Failed> {
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.map_err(|e| Failed::from(e.to_string())),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
            Err(format!("{what} did not end within {limit:?}: a rank waits for another").into())
        }
    }
}

/// A long run of example `name` on `ranks` ranks into `out`, and, once it
/// has run for `after`, its ranks' process ids (mpirun's children).
fn long_run(
    name: &str,
    ranks: usize,
    out: &Path,
    after: Duration,
) -> Result<(std::process::Child, Vec<String>), Failed> {
    let child = spawn(
        Command::new("mpirun")
            .args(["--oversubscribe", "--allow-run-as-root", "-n"])
            .arg(ranks.to_string())
            .args([circ(), "run"])
            .arg(repo().join(format!("examples/{name}.circ")))
            .args([
                "--duration",
                "1000s",
                "--backend",
                "jit",
                "--threads",
                "1",
                "--out",
            ])
            .arg(out),
    )?;
    std::thread::sleep(after);
    let pids = Command::new("pgrep")
        .args(["-P", &child.id().to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    let pids = String::from_utf8_lossy(&pids.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Ok((child, pids))
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The files of a run's folder but its summary (times differ), sorted.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.file_name().is_some_and(|n| n != "summary.json"))
                .map(|p| {
                    let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                    (
                        name.unwrap_or_default(),
                        std::fs::read(&p).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Example `name` on `backend` with `threads` per rank: one process, then
/// `ranks` under mpirun; every file the same.
fn same_bits(name: &str, backend: &str, threads: usize, ranks: usize) -> Result<(), Failed> {
    let dir = scratch(&format!("{name}-{backend}-{threads}-{ranks}"));
    let model = repo().join(format!("examples/{name}.circ"));
    let model = model.to_string_lossy();
    let threads = threads.to_string();
    let args = |out: &str| -> Vec<String> {
        [
            "run",
            &model,
            "--duration",
            "60ms",
            "--backend",
            backend,
            "--threads",
            &threads,
            "--color",
            "never",
            "--out",
            out,
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect()
    };
    let one = dir.join("one");
    let mut cmd = Command::new(circ());
    cmd.args(args(&one.to_string_lossy()));
    let o = run_limited(cmd, Duration::from_secs(300))?;
    if !o.status.success() {
        return Err(format!("one process: {}", text(&o)).into());
    }
    let split = dir.join("split");
    let mut argv = vec![circ().to_string()];
    argv.extend(args(&split.to_string_lossy()));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let o = mpirun(ranks, &argv, Duration::from_secs(300))?;
    if !o.status.success() {
        return Err(format!("{ranks} ranks: {}", text(&o)).into());
    }
    let stdout = String::from_utf8_lossy(&o.stdout);
    // Rank 0 alone speaks.
    if ranks > 1 && stdout.matches("ran `").count() != 1 {
        return Err(format!("not one summary on standard output:\n{stdout}").into());
    }
    let (a, b) = (files(&one), files(&split));
    if a.is_empty() {
        return Err("the run wrote no files".into());
    }
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    if names(&a) != names(&b) {
        return Err(format!("files {:?} vs {:?}", names(&a), names(&b)).into());
    }
    for (x, y) in a.iter().zip(&b) {
        if x.1 != y.1 {
            return Err(format!("{} differs on {ranks} ranks", x.0).into());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// An executable from `circ build` under mpirun writes `circ run`'s files.
fn executables_split_too() -> Result<(), Failed> {
    let dir = scratch("exe");
    let model = repo().join("examples/stdp_delays.circ");
    let exe = dir.join("model");
    let o = Command::new(circ())
        .args(["build", "--color", "never", "-o"])
        .arg(&exe)
        .arg(&model)
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!("circ build: {}", text(&o)).into());
    }
    let one = dir.join("one");
    let o = Command::new(circ())
        .args(["run", "--duration", "60ms", "--out"])
        .arg(&one)
        .arg(&model)
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!("circ run: {}", text(&o)).into());
    }
    let split = dir.join("split");
    let o = mpirun(
        3,
        &[
            &exe.to_string_lossy(),
            "--duration",
            "60ms",
            "--threads",
            "1",
            "--out",
            &split.to_string_lossy(),
        ],
        Duration::from_secs(300),
    )?;
    if !o.status.success() {
        return Err(format!("the executable on 3 ranks: {}", text(&o)).into());
    }
    let (a, b) = (files(&one), files(&split));
    if a.is_empty() || a != b {
        return Err("the executable on 3 ranks wrote other files than circ run".into());
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A model whose neurons 2 and 3 of 4 (rank 1's, on 2 ranks) diverge.
const BLOWUP: &str = "neuron B {\n    state x = 1\n    dx/dt = x * x / 1 ms\n    method euler\n}\ncircuit C {\n    population P = B[4] { x = i - 1.5 }\n    record x of P every 1 ms\n}\nrun C for 100 ms { dt = 0.1 ms }\n";

/// The same beside a projection with a delay of 10 steps, so that spikes
/// are exchanged every 5 steps while the next 5 compute.
const BLOWUP_DELAYED: &str = "use std::neurons::LIF\nuse std::synapses::Delta\nneuron B {\n    state x = 1\n    dx/dt = x * x / 1 ms\n    method euler\n}\ncircuit C {\n    population P = B[4] { x = i - 1.5 }\n    population Q = LIF[6](tau_m = 10 ms, v_rest = -65 mV, v_th = -50 mV, v_reset = -65 mV)\n    project Q -> Q : Delta(w = 1 mV) connect all_to_all delay 1 ms\n    record x of P every 1 ms\n}\nrun C for 100 ms { dt = 0.1 ms }\n";

fn nan_on_one_rank_stops_all(name: &str, text_of_model: &str) -> Result<(), Failed> {
    let dir = scratch(name);
    let model = dir.join("blowup.circ");
    std::fs::write(&model, text_of_model).map_err(|e| e.to_string())?;
    let expect = |o: &Output, who: &str| -> Result<String, Failed> {
        if o.status.code() != Some(1) {
            return Err(format!("{who}: {}", text(o)).into());
        }
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let line = err
            .lines()
            .find(|l| l.contains("became"))
            .ok_or_else(|| format!("{who}: no message\n{err}"))?;
        Ok(line.to_string())
    };
    let one = Command::new(circ())
        .args(["run", "--color", "never", "--out"])
        .arg(dir.join("one"))
        .arg(&model)
        .output()
        .map_err(|e| e.to_string())?;
    let single = expect(&one, "one process")?;
    if !single.contains("neuron 3 of population `P`")
        && !single.contains("neuron 2 of population `P`")
    {
        return Err(format!("one process: {single}").into());
    }
    let out = dir.join("two");
    let o = mpirun(
        2,
        &[
            circ(),
            "run",
            "--color",
            "never",
            "--out",
            &out.to_string_lossy(),
            &model.to_string_lossy(),
        ],
        Duration::from_secs(120),
    )?;
    let split = expect(&o, "2 ranks")?;
    if split != single || String::from_utf8_lossy(&o.stderr).matches("became").count() != 1 {
        return Err(format!("2 ranks said\n{}\none process said\n{single}", text(&o)).into());
    }
    if files(&dir.join("one")) != files(&out) {
        return Err("the recordings up to the stop differ".into());
    }
    if name == "nan-delayed" {
        let summary = std::fs::read_to_string(out.join("summary.json")).unwrap_or_default();
        if !summary.contains("\"exchange_every_steps\": 5") {
            return Err(format!("not exchanged every 5 steps:\n{summary}").into());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// What every rank refuses together, in one message and without a hang.
fn refusals() -> Result<(), Failed> {
    let dir = scratch("refusals");
    let coba = repo().join("examples/coba.circ");
    let coba = coba.to_string_lossy();
    let out = dir.join("out");
    let out = out.to_string_lossy();
    let limit = Duration::from_secs(120);
    let check = |o: &Output, code: i32, words: &str| -> Result<(), Failed> {
        let err = String::from_utf8_lossy(&o.stderr);
        if o.status.code() != Some(code) || err.matches(words).count() != 1 {
            return Err(format!("wanted exit {code} and once `{words}`:\n{}", text(o)).into());
        }
        Ok(())
    };
    // A backend that keeps the network on one device.
    let o = mpirun(
        2,
        &[circ(), "run", &coba, "--backend", "gpu", "--out", &out],
        limit,
    )?;
    check(&o, 1, "cannot run it across MPI ranks")?;
    // Ranks given different models (another duration on rank 1).
    let mut cmd = Command::new("mpirun");
    cmd.args(["--oversubscribe", "--allow-run-as-root", "-n", "1", circ()])
        .args(["run", &coba, "--duration", "10ms", "--out", &out])
        .args([":", "-n", "1", circ()])
        .args(["run", &coba, "--duration", "20ms", "--out", &out]);
    let o = run_limited(cmd, limit)?;
    check(&o, 1, "were not given the same model")?;
    // A network that does not fit on the ranks given: refused before
    // anything is built, per rank (mpirun passes the variable on).
    let mut cmd = Command::new("mpirun");
    cmd.args([
        "--oversubscribe",
        "--allow-run-as-root",
        "-x",
        "CIRC_MEMORY_LIMIT",
        "-n",
        "2",
    ])
    .args([circ(), "run", &coba, "--duration", "5ms", "--out", &out])
    .env("CIRC_MEMORY_LIMIT", "1000000");
    let o = run_limited(cmd, limit)?;
    check(&o, 1, "on each of 2 MPI ranks")?;
    // An output folder rank 0 cannot make.
    let blocker = dir.join("file");
    std::fs::write(&blocker, "not a folder").map_err(|e| e.to_string())?;
    let inside = blocker.join("out");
    let o = mpirun(
        3,
        &[
            circ(),
            "run",
            &coba,
            "--duration",
            "5ms",
            "--out",
            &inside.to_string_lossy(),
        ],
        limit,
    )?;
    if o.status.code() != Some(2) {
        return Err(format!("an unwritable folder: {}", text(&o)).into());
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// SIGTERM to the ranks (what Slurm's `scancel` and time limits send to
/// every task): every rank stops at one step, the files complete. (Open
/// MPI's `mpirun` aborts the job itself on Ctrl-C: spec/run.md.)
fn a_signal_stops_every_rank_at_one_step() -> Result<(), Failed> {
    let dir = scratch("signal");
    let out = dir.join("out");
    // Each rank hears the signal on its own, at another step, and they
    // agree on where to stop.
    let (child, ranks) = long_run("brunel2000", 2, &out, Duration::from_secs(10))?;
    for pid in &ranks {
        let _ = Command::new("kill").args(["-TERM", pid]).status();
    }
    let o = wait_limited(child, Duration::from_secs(60), "mpirun after SIGTERM")?;
    let summary = std::fs::read_to_string(out.join("summary.json"))
        .map_err(|e| format!("no summary: {e}\n{}", text(&o)))?;
    if o.status.code() != Some(143) || !String::from_utf8_lossy(&o.stderr).contains("SIGTERM") {
        return Err(format!("wanted exit 143 (SIGTERM):\n{}", text(&o)).into());
    }
    if !summary.contains("\"completed\": false") {
        return Err(format!("the summary says it completed:\n{summary}").into());
    }
    // Every recording ends at the same step: spikes before it, samples up to it.
    // Brunel's spikes are exchanged every 7 steps, during the next 7.
    let spikes = std::fs::read_to_string(out.join("E_spikes.csv")).map_err(|e| e.to_string())?;
    if spikes.lines().count() < 2 {
        return Err(format!("no spikes recorded\n{}", text(&o)).into());
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A rank that dies (killed, out of memory) ends the job: no hang, and
/// no folder half written.
fn a_dead_rank_ends_the_job() -> Result<(), Failed> {
    let dir = scratch("dead");
    let out = dir.join("out");
    let (child, ranks) = long_run("coba", 3, &out, Duration::from_secs(8))?;
    let victim = ranks.last().ok_or("no ranks found")?;
    let _ = Command::new("kill").args(["-KILL", victim]).status();
    let o = wait_limited(
        child,
        Duration::from_secs(60),
        "the job after a rank's death",
    )?;
    // The folder reserved at the start holds no recording: files are
    // committed whole at the end, and the end never came.
    if o.status.success() || !files(&out).iter().all(|f| f.0.starts_with('.')) {
        return Err(format!(
            "wanted a failure and no recordings, got {:?}:\n{}",
            files(&out).iter().map(|f| &f.0).collect::<Vec<_>>(),
            text(&o)
        )
        .into());
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = vec![];
    if cfg!(feature = "mpi") {
        let mut names: Vec<String> = std::fs::read_dir(repo().join("examples"))
            .expect("examples")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "circ"))
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        for name in &names {
            for ranks in 1..=4 {
                let n = name.clone();
                trials.push(Trial::test(format!("{name}/jit/ranks{ranks}"), move || {
                    same_bits(&n, "jit", 1, ranks)
                }));
            }
        }
        // The other code generator, the oracle, and threads within ranks.
        for (name, backend, threads, ranks) in [
            ("pd14", "llvm", 1, 3),
            ("stdp_delays", "llvm", 2, 2),
            ("coba", "interp", 1, 2),
            ("celegans", "interp", 1, 4),
            ("astrocyte_lsm", "jit", 2, 3),
        ] {
            trials.push(Trial::test(
                format!("{name}/{backend}/threads{threads}/ranks{ranks}"),
                move || same_bits(name, backend, threads, ranks),
            ));
        }
        trials.push(Trial::test("nan_on_one_rank_stops_all", || {
            nan_on_one_rank_stops_all("nan", BLOWUP)
        }));
        trials.push(Trial::test(
            "nan_on_one_rank_stops_all_between_exchanges",
            || nan_on_one_rank_stops_all("nan-delayed", BLOWUP_DELAYED),
        ));
        trials.push(Trial::test("refusals", refusals));
        trials.push(Trial::test("executables_split_too", executables_split_too));
        trials.push(Trial::test(
            "a_dead_rank_ends_the_job",
            a_dead_rank_ends_the_job,
        ));
        trials.push(Trial::test(
            "a_signal_stops_every_rank_at_one_step",
            a_signal_stops_every_rank_at_one_step,
        ));
    }
    libtest_mimic::run(&args, trials).exit();
}
