//! circ-exe owns what runs a lowered network and writes its recordings,
//! shared by `circ run` and by executables from `circ build`: the run loop
//! with progress and Ctrl-C, the outputs and the summary, the serialised
//! model an executable embeds, its build identity, and loading the model
//! appended to an executable (`appended`); the `circ_*` functions its
//! kernels import come from `circ-native`, which it links. It must not
//! parse, check or lower models, nor link a code generator: executables run
//! without the compiler.

use circ_ir::Network;
use circ_ir::plan::KernelMap;
use circ_native::{KernelFn, Native};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// This build's identity (see `build.rs`): `circ build` uses only a
/// runner that carries the same one.
pub const BUILD_ID: &str = env!("CIRC_EXE_BUILD_ID");

/// The mark's text, a literal (for `concat!`).
macro_rules! build_mark {
    () => {
        "CIRC-EXE-BUILD-ID:"
    };
}

/// What marks the identity in the library's bytes: `circ build` finds
/// `BUILD_MARK` followed by the 16 hex digits of [`BUILD_ID`].
pub const BUILD_MARK: &str = build_mark!();

/// The marked identity, kept in every binary that links this library (and
/// so findable in `circ-runner`).
#[used]
static MARKED_ID: &str = concat!(build_mark!(), env!("CIRC_EXE_BUILD_ID"));

/// The identity a runner carries, if it is one (`bytes`: the file).
pub fn build_id_of(bytes: &[u8]) -> Option<&str> {
    // The mark also stands alone (this constant): take the place where 16
    // hex digits follow it.
    let mark = BUILD_MARK.as_bytes();
    bytes
        .windows(mark.len() + 16)
        .find(|w| w.starts_with(mark) && w[mark.len()..].iter().all(u8::is_ascii_hexdigit))
        .and_then(|w| std::str::from_utf8(&w[mark.len()..]).ok())
}

/// Ends the process when standard output fails: a reader that closed the
/// pipe (`| head`) has what it wanted, so quietly, with the shells' 141; any
/// other failure (a full disk: `> /dev/full`) is an error. Never a panic,
/// as `println!` would give. Output files are written before anything is
/// printed, so nothing is lost.
pub fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        exit_now(141);
    }
    eprintln!("error: cannot write to standard output: {e}");
    exit_now(1)
}

/// Ends the process with `code` at once, after flushing standard error,
/// without running exit handlers: a code generator may still be working
/// on another thread (the `auto` backend's LLVM), and LLVM's static
/// destructors would race with it. Files circ writes are complete before
/// this is called (each is written whole and renamed into place).
pub fn exit_now(code: i32) -> ! {
    use std::io::Write as _;
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` only ends the process; no Rust state is used after.
    #[allow(unsafe_code)]
    unsafe {
        libc::_exit(code)
    }
}

/// `println!` that ends the process cleanly when standard output fails
/// ([`stdout_failed`]).
#[macro_export]
macro_rules! say {
    () => {
        $crate::say!("")
    };
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($t)*) {
            $crate::stdout_failed(&e);
        }
    }};
}

/// `print!` that ends the process cleanly when standard output fails.
#[macro_export]
macro_rules! say_raw {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout();
        if let Err(e) = write!(out, $($t)*).and_then(|()| out.flush()) {
            $crate::stdout_failed(&e);
        }
    }};
}

/// Everything an executable needs besides its kernels' code.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bundle {
    /// The lowered network.
    pub net: Network,
    /// Which kernel runs each part of it.
    pub kernels: KernelMap,
    /// Data tables, read when the executable was built.
    pub tables: Vec<Vec<f64>>,
    /// The circuit's name.
    pub circuit: String,
    /// The model file it came from.
    pub file: String,
    /// The folder data files (edge lists, spike times) are read from.
    pub base: String,
    /// Default seed, time step and duration (seconds).
    pub seed: u64,
    /// The time step the kernels were compiled for (seconds).
    pub dt: f64,
    /// Default biological duration (seconds).
    pub duration: f64,
    /// The code generator's label in summaries (`llvm-native`).
    pub backend: String,
}

/// One run: what to simulate and where to write it.
pub struct Job<'a> {
    /// The network's layout.
    pub layout: &'a circ_runtime::NetLayout,
    /// What runs its kernels.
    pub backend: &'a dyn circ_runtime::Backend,
    /// Its name in the summary.
    pub backend_name: &'a str,
    /// The circuit's name.
    pub circuit: &'a str,
    /// The model file, for the summary.
    pub file: &'a str,
    /// Where data files are read from.
    pub base: &'a Path,
    /// Seed, time step and duration (seconds).
    pub seed: u64,
    /// Time step (seconds).
    pub dt: f64,
    /// Biological duration (seconds).
    pub duration: f64,
    /// Where recordings go (`None`: nowhere, they stay in memory).
    pub out: Option<PathBuf>,
    /// When the command started (for the time to the first step).
    pub started: Instant,
    /// The memory the network may need (bytes; `None`: what is available).
    pub memory_limit: Option<u64>,
    /// Whether a run of 10^10 steps or more may start (otherwise it is
    /// refused with the time it would take).
    pub allow_long: bool,
    /// Another file to write with the recordings (an NWB file): its name,
    /// and what makes its bytes from the run (an error stops the write).
    pub extra: Option<(String, &'a ExtraFile<'a>)>,
    /// The processes the run is split across (`mpirun`'s ranks; one
    /// process: `circ_runtime::comm::SINGLE`). Rank 0 writes the files.
    pub comm: &'a dyn circ_runtime::comm::Comm,
}

/// Makes a file's bytes from a finished run ([`Job::extra`]).
pub type ExtraFile<'a> = dyn Fn(&circ_runtime::RunResult, &circ_runtime::output::RunInfo) -> Result<Vec<u8>, String>
    + 'a;

/// What [`execute`] made of a job: the simulation as it ended (its final
/// state), the run, its summary's facts and its files, in memory.
pub struct Outcome<'a> {
    /// The network after the run.
    pub sim: circ_runtime::Simulation<'a>,
    /// Spikes, samples, and why it stopped early (if it did).
    pub result: circ_runtime::RunResult,
    /// The run's facts for the summary.
    pub info: circ_runtime::output::RunInfo,
    /// Every output file (name, bytes), `summary.json` last, as written
    /// when the job has an output folder.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Why [`execute`] did not run a job: the exit code `circ run` gives (1: the
/// model or its network, 2: the output folder) and the message.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    /// 1 (model, network) or 2 (cannot write).
    pub code: u8,
    /// What went wrong, in one line.
    pub message: String,
}

fn refuse(code: u8, message: impl std::fmt::Display) -> Refusal {
    Refusal {
        code,
        message: message.to_string(),
    }
}

/// Builds the network, runs it with `hooks` and renders its recordings;
/// writes them when the job has an output folder. Warnings (a large
/// recording, the network's own) go to `warn`. Prints nothing: the command
/// line's [`simulate`] and the Python package both call it.
pub fn execute<'a>(
    job: &Job<'a>,
    hooks: &mut circ_runtime::Hooks<'_>,
    warn: &mut dyn FnMut(String),
) -> Result<Outcome<'a>, Refusal> {
    // What `circ check` reports too: memory for the network and its
    // recordings, and runs too long to start unasked.
    let issues = circ_runtime::sim::check_static(
        job.layout,
        job.dt,
        job.duration,
        job.memory_limit,
        job.comm.size(),
    );
    use circ_runtime::sim::Issue;
    if let Some(e) = issues
        .iter()
        .find(|i| !matches!(i, Issue::LongRun(_) | Issue::LargeRecording(_)))
    {
        return Err(refuse(1, e.message()));
    }
    for w in issues
        .iter()
        .filter(|i| matches!(i, Issue::LargeRecording(_)))
    {
        warn(w.message().to_string());
    }
    let steps = (job.duration / job.dt).round();
    let comm = job.comm;
    let lead = comm.rank() == 0;
    if comm.size() > 1 {
        same_everywhere(job)?;
    }
    // The output folder is checked and locked before anything else, so a
    // run that could not be written is never started (rank 0 writes it;
    // every rank stops if it cannot).
    let out = match &job.out {
        Some(dir) if lead => {
            Some(circ_runtime::outdir::OutDir::reserve(dir, 0).map_err(|e| e.to_string()))
        }
        _ => None,
    }
    .transpose();
    circ_runtime::comm::agree(comm, out.as_ref().map(|_| ()).map_err(Clone::clone))
        .map_err(|e| refuse(2, e))?;
    let out = out.map_err(|e| refuse(2, e))?;
    let bopts = circ_runtime::BuildOptions {
        seed: job.seed,
        dt: job.dt,
        base: job.base,
        memory_limit: job.memory_limit,
    };
    let mut sim = circ_runtime::Simulation::build_split(job.layout, job.backend, &bopts, comm)
        .map_err(|e| refuse(1, e))?;
    for w in &sim.warnings {
        warn(w.to_string());
    }
    if steps >= circ_runtime::sim::LONG_RUN_STEPS && !job.allow_long {
        return Err(refuse(1, long_run_refusal(&mut sim, job, steps)));
    }
    // With the synapses made, the size of every sampled recording is known.
    let steps = steps.clamp(0.0, u64::MAX as f64) as u64;
    let room = match &out {
        Some(out) => {
            let known = circ_runtime::output::known_bytes(job.layout, steps, &sim.synapse_counts());
            out.check_room(known).map_err(|e| e.to_string())
        }
        None => Ok(()),
    };
    circ_runtime::comm::agree(comm, room).map_err(|e| refuse(2, e))?;
    let build = job.started.elapsed().as_secs_f64();
    let ropts = circ_runtime::RunOptions {
        duration: job.duration,
        dt: job.dt,
        seed: job.seed,
        check_every: 100,
    };
    let result = sim.run_with(job.backend, &ropts, hooks);
    let info = circ_runtime::output::RunInfo {
        file: job.file.to_string(),
        circuit: job.circuit.to_string(),
        seed: job.seed,
        backend: match job.backend.note() {
            Some(note) => format!("{} ({note})", job.backend_name),
            None => job.backend_name.to_string(),
        },
        version: env!("CARGO_PKG_VERSION").into(),
        build_seconds: build,
        extra_files: job.extra.iter().map(|e| e.0.clone()).collect(),
    };
    // Rank 0 holds every recording (the others gave it theirs).
    let mut files = if lead {
        circ_runtime::output::render(job.layout, &result, &info)
    } else {
        vec![]
    };
    if let Some((name, make)) = job.extra.as_ref().filter(|_| lead) {
        let bytes =
            make(&result, &info).map_err(|e| refuse(2, format!("cannot make {name}: {e}")))?;
        files.insert(files.len().saturating_sub(1), (name.clone(), bytes));
    }
    if let Some(out) = &out {
        out.commit(&files).map_err(|e| refuse(2, e))?;
    }
    Ok(Outcome {
        sim,
        result,
        info,
        files,
    })
}

/// Refuses to start when the ranks were not given the same model and
/// settings (a file changed between their starts, other arguments): each
/// compares a digest of its network, seed, step and duration with every
/// other's.
fn same_everywhere(job: &Job<'_>) -> Result<(), Refusal> {
    let mut text = postcard::to_allocvec(job.layout).unwrap_or_default();
    text.extend_from_slice(
        format!(
            "{} {} {} {}",
            job.seed, job.dt, job.duration, job.backend_name
        )
        .as_bytes(),
    );
    let mine = circ_runtime::comm::digest(&text).to_le_bytes();
    let all = job.comm.all_gather_bytes(&mine);
    match all.iter().position(|d| d[..] != all[0][..]) {
        None => Ok(()),
        Some(r) => Err(refuse(
            1,
            format!(
                "the ranks were not given the same model: rank {r} has another network or other settings than rank 0 (a file changed between their starts, or other arguments); start them again with one model"
            ),
        )),
    }
}

/// Builds the network, runs it (a progress bar on a terminal; Ctrl-C stops
/// it with complete files), writes the recordings and prints a summary.
/// Returns the process exit code: 0, 1 (model or run error), 2 (cannot
/// write), 128 + the signal when one stopped it (130 for Ctrl-C, 143 SIGTERM, 129 SIGHUP).
pub fn simulate(job: &Job<'_>) -> u8 {
    // SIGINT (Ctrl-C), SIGTERM (schedulers, `timeout`, `docker stop`) and
    // SIGHUP (a closed terminal) stop the run at a step boundary: what was
    // recorded is written in full, and the summary says which signal.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
    stop_on_signals(&stop);
    // Split across processes, rank 0 speaks for all (they fail together).
    let lead = job.comm.rank() == 0;
    let show = lead && std::io::stderr().is_terminal();
    // The first call comes at the loop's first step.
    let mut loop_start: Option<Instant> = None;
    let mut shown = false;
    let mut progress = |done: u64, total: u64| {
        // A bar on a terminal, once a run has taken a few seconds.
        let since = loop_start.get_or_insert_with(Instant::now).elapsed();
        if show && total > 0 && since.as_secs_f64() > 2.0 {
            let frac = done as f64 / total as f64;
            let width = 30;
            let fill = (frac * width as f64) as usize;
            eprint!(
                "\r[{}{}] {:>5.1}%  {:.3} s of {:.3} s",
                "=".repeat(fill),
                " ".repeat(width - fill),
                frac * 100.0,
                done as f64 * job.dt,
                job.duration
            );
            shown = true;
        }
    };
    let outcome = {
        let mut hooks = circ_runtime::Hooks {
            stop: Some(&stop),
            progress: Some(&mut progress),
        };
        execute(job, &mut hooks, &mut |w| {
            if lead {
                eprintln!("warning: {w}");
            }
        })
    };
    if shown {
        eprintln!();
    }
    let Outcome {
        sim,
        result,
        files,
        info,
    } = match outcome {
        Ok(o) => o,
        Err(e) => {
            if lead {
                eprintln!("error: {}", e.message);
            }
            return e.code;
        }
    };
    if !lead {
        return exit_code(result.stopped.as_ref());
    }
    let build = info.build_seconds;
    let duration = result.steps as f64 * result.dt;
    let ranks = match job.comm.size() {
        1 => String::new(),
        n => format!(" on {n} MPI ranks"),
    };
    say!(
        "ran `{}` for {:.4} s (dt {} ms, seed {}) in {:.3} s (+{:.3} s to build){ranks}",
        job.circuit,
        duration,
        job.dt * 1e3,
        job.seed,
        result.loop_time.as_secs_f64(),
        build
    );
    // An adaptive method's substeps, under its population's line.
    let step_stats = |st: Option<&Option<circ_runtime::StepStats>>| {
        if let Some(Some(st)) = st {
            say!(
                "  {:<12} rk45: {:.2} substeps per step, {} rejected, smallest {:.3e} ms",
                "",
                st.per_step,
                st.rejected,
                st.smallest * 1e3
            );
        }
    };
    for (p, pop) in job.layout.pops.iter().enumerate() {
        if pop.rate_unit && result.spikes[p].is_empty() {
            // Rate units never spike: their states' means say what they did.
            let means: Vec<String> = pop
                .vars
                .iter()
                .enumerate()
                .filter(|(_, v)| v.role == circ_runtime::layout::VarRole::State)
                .filter_map(|(k, v)| {
                    let buf = sim.vars(p).get(k)?;
                    let mean = buf.iter().sum::<f64>() / buf.len().max(1) as f64;
                    Some(format!("{} {mean:.4e}", v.name))
                })
                .collect();
            say!(
                "  {:<12} {:>8} units   mean at the end: {} (SI units)",
                pop.name,
                pop.size,
                means.join(", ")
            );
            step_stats(result.step_stats.get(p));
            continue;
        }
        let n = result.spikes[p].len();
        let rate = if duration > 0.0 {
            n as f64 / (pop.size as f64 * duration)
        } else {
            0.0
        };
        say!(
            "  {:<12} {:>8} neurons {:>10} spikes {:>10.3} Hz",
            pop.name,
            pop.size,
            n,
            rate
        );
        step_stats(result.step_stats.get(p));
    }
    if let Some(dir) = &job.out {
        say!("wrote {} files to {}", files.len(), dir.display());
    }
    match &result.stopped {
        Some(e @ circ_runtime::RunError::Interrupted { .. }) => eprintln!("{e}"),
        Some(e) => eprintln!("error: {e}"),
        None => {}
    }
    exit_code(result.stopped.as_ref())
}

/// The exit code of a run that stopped for `stopped` (0 when it did not).
fn exit_code(stopped: Option<&circ_runtime::RunError>) -> u8 {
    match stopped {
        // The shells' convention: 128 + the signal.
        Some(circ_runtime::RunError::Interrupted { signal, .. }) => {
            u8::try_from(128 + signal).unwrap_or(130)
        }
        Some(_) => 1,
        None => 0,
    }
}

use circ_units::parse_time;

/// Why a run of `steps` (10^10 or more) is not started: the time it would
/// take, from a probe of the network's first steps (which are discarded).
fn long_run_refusal(sim: &mut circ_runtime::Simulation<'_>, job: &Job<'_>, steps: f64) -> String {
    let probe = 1000u64;
    let opts = circ_runtime::RunOptions {
        duration: probe as f64 * job.dt,
        dt: job.dt,
        seed: job.seed,
        check_every: probe,
    };
    let r = sim.run(job.backend, &opts);
    let per_step = r.loop_time.as_secs_f64() / r.steps.max(1) as f64;
    let secs = per_step * steps;
    let took = if secs < 3600.0 * 24.0 * 365.25 {
        format!("{:.1} hours", secs / 3600.0)
    } else {
        format!("{:.2e} years", secs / (3600.0 * 24.0 * 365.25))
    };
    format!(
        "the run is {steps:.3e} steps ({:.3e} s at dt = {} ms); at the {:.2} µs a step measured now it would take about {took}; shorten the duration, or pass --allow-long-run to start it anyway",
        job.duration,
        job.dt * 1e3,
        per_step * 1e6
    )
}

/// The signals that stop a run cleanly.
pub const STOP_SIGNALS: [i32; 3] = [
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
];

/// From now on SIGINT, SIGTERM and SIGHUP store their number in `stop`
/// instead of killing the process (the run loop checks it every step), and
/// SIGXFSZ (a file-size limit, `ulimit -f`) is ignored so that the write
/// fails with an error circ reports and cleans up after.
pub fn stop_on_signals(stop: &std::sync::Arc<std::sync::atomic::AtomicI32>) {
    // SAFETY: setting a signal's action to "ignore" has no handler to race.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    for sig in STOP_SIGNALS {
        let flag = std::sync::Arc::clone(stop);
        // SAFETY: the action is one atomic store, which is async-signal-safe.
        #[allow(unsafe_code)]
        let registered = unsafe {
            signal_hook::low_level::register(sig, move || {
                flag.store(sig, std::sync::atomic::Ordering::Relaxed);
            })
        };
        // Without it the signal keeps its default action: the run is lost
        // as before, nothing worse.
        drop(registered);
    }
}

/// The options of a built executable (those of `circ run` that do not
/// change the compiled code).
#[derive(clap::Parser)]
#[command(about = "A circ model compiled to a native executable")]
struct ExeArgs {
    /// Biological time to simulate, with its unit (`200 ms`, `1 s`).
    #[arg(long)]
    duration: Option<String>,
    /// The time step: compiled in; given here it must equal the built one.
    #[arg(long)]
    dt: Option<String>,
    /// The seed of every random number.
    #[arg(long)]
    seed: Option<u64>,
    /// Where to write recordings (default: `NAME.out` in the current folder).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Threads large kernels are split across (default: every core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// Start a run of 10^10 steps or more (refused otherwise, with the time it would take).
    #[arg(long)]
    allow_long_run: bool,
}

/// Runs an executable's embedded model with its command line; returns the
/// exit code. `data` is the serialised [`Bundle`], `fns` its kernels.
pub fn run_embedded(
    args: Vec<String>,
    data: &[u8],
    fns: &[KernelFn],
    comm: &dyn circ_runtime::comm::Comm,
) -> u8 {
    let started = Instant::now();
    let name = args
        .first()
        .map(|a| {
            Path::new(a)
                .file_stem()
                .map_or_else(|| "circ".into(), |s| s.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "circ".into());
    let parsed = match <ExeArgs as clap::Parser>::try_parse_from(&args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let bundle: Bundle = match postcard::from_bytes(data) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: this executable's embedded model is damaged: {e}");
            return 1;
        }
    };
    if bundle.kernels.domains.len() != fns.len() {
        eprintln!(
            "error: this executable's model names {} kernels but {} were linked: the runtime \
             library it was linked with is not the one its circ was built with; rebuild circ \
             and run `circ build` again",
            bundle.kernels.domains.len(),
            fns.len()
        );
        return 1;
    }
    let mut duration = bundle.duration;
    if let Some(d) = &parsed.duration {
        match parse_time("duration", d) {
            Ok(v) => duration = v,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        }
    }
    if let Some(d) = &parsed.dt {
        match parse_time("dt", d) {
            Ok(v) if (v - bundle.dt).abs() <= 1e-12 * bundle.dt => {}
            Ok(_) => {
                eprintln!(
                    "error: --dt: this executable was compiled for dt = {} ms (its integrators \
                     depend on it); rebuild with `circ build --dt ...`",
                    bundle.dt * 1e3
                );
                return 2;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        }
    }
    let threads = parsed.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    );
    let opts = circ_native::Options {
        threads,
        ..Default::default()
    };
    let backend = match Native::new(
        &bundle.net,
        bundle.tables.clone(),
        &bundle.kernels,
        fns,
        None,
        &opts,
    ) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let job = Job {
        layout: &bundle.net.layout,
        backend: &backend,
        backend_name: &bundle.backend,
        circuit: &bundle.circuit,
        file: &bundle.file,
        base: Path::new(&bundle.base),
        seed: parsed.seed.unwrap_or(bundle.seed),
        dt: bundle.dt,
        duration,
        out: Some(
            parsed
                .out
                .unwrap_or_else(|| PathBuf::from(format!("{name}.out"))),
        ),
        started,
        memory_limit: None,
        allow_long: parsed.allow_long_run,
        extra: None,
        comm,
    };
    simulate(&job)
}

pub mod appended;
