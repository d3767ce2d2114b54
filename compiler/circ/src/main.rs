//! The `circ` command. It owns the terminal, the file system, the
//! environment and exit codes; the compiler crates it calls do none of these.

use circ_diag::{Diagnostic, SourceMap, render_all_text, render_json};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod lsp;
mod nwb;
mod plot;
mod plots;
mod ranks;
mod repl;
mod spec_pages;
mod units_fmt;

/// circ: a declarative language and compiler for neural circuits.
#[derive(Parser)]
#[command(name = "circ", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check model files: names, types and physical units.
    Check(CheckArgs),
    /// Run a model file's `run` item and write what it records.
    Run(RunArgs),
    /// Compile a model file's `run` item to a native executable that runs
    /// it without circ (it takes `--duration`, `--seed`, `--out`, `--threads`).
    Build(BuildArgs),
    /// Print a standard model's documentation and definition
    /// (`circ doc std::neurons::AdEx`), list a module's models (`circ doc
    /// std::neurons`), print the language reference (`circ doc lang`,
    /// `circ doc lang/circuit`) or where it explains a keyword (`circ doc delay`).
    Doc(DocArgs),
    /// Type items, expressions and commands one at a time (`:help` lists
    /// them); reads piped input as a script.
    Repl(ReplArgs),
    /// Draw a run's recordings (the folder `circ run --out` wrote): a
    /// raster, population rates, traces and weight histograms, as PNG (or
    /// SVG) in its `plots` folder, and with --html one page with them all.
    Plot(PlotArgs),
    /// Serve the Language Server Protocol on standard input and output for
    /// editors: diagnostics as you type, hover with dimensions and units and
    /// standard models' documentation, go to definition, completion, symbols.
    Lsp,
}

#[derive(clap::Args)]
struct PlotArgs {
    /// The run's folder (`circ run --out DIR`).
    dir: PathBuf,
    /// Where to write the figures (default: `DIR/plots`).
    #[arg(long, short = 'o')]
    out: Option<PathBuf>,
    /// SVG files instead of PNG.
    #[arg(long)]
    svg: bool,
    /// Also write `plots.html`: one self-contained page with every figure.
    #[arg(long)]
    html: bool,
}

#[derive(clap::Args)]
struct ReplArgs {
    /// A model file to start from (as `:load FILE`).
    file: Option<PathBuf>,
    /// Threads the JIT splits large kernels across (default: every core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
}

#[derive(clap::Args)]
struct DocArgs {
    /// `std`, a module (`std::neurons`) or a model (`std::neurons::AdEx`, or just `AdEx`).
    path: String,
}

#[derive(clap::Args)]
struct BuildArgs {
    /// The `.circ` file to compile.
    file: PathBuf,
    /// The executable to write.
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Which code generator compiles the kernels.
    #[arg(long, default_value = circ_backends::BACKENDS[0].name, value_parser = backend_names())]
    backend: String,
    /// The CPU the executable is for (LLVM): `host` (this machine, the
    /// default) or an x86-64 level such as `x86-64-v3` for other machines.
    #[arg(long)]
    target_cpu: Option<String>,
    /// What to compile (the executable's own options override duration and seed).
    #[command(flatten)]
    settings: Settings,
    /// When to colour diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The `.circ` file to run.
    file: PathBuf,
    /// What to run.
    #[command(flatten)]
    settings: Settings,
    /// Where to write recordings (default: `FILE-STEM.out` in the current folder).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Which backend runs the kernels.
    #[arg(long, default_value = circ_backends::BACKENDS[0].name, value_parser = backend_names())]
    backend: String,
    /// Print an intermediate form instead of running.
    #[arg(long, value_enum)]
    emit: Option<Emit>,
    /// Say how the backend runs each kernel (vector width, or why one
    /// element at a time) instead of running.
    #[arg(long)]
    explain_backend: bool,
    /// Threads the JIT splits large kernels across (default: every core).
    /// Results are identical for every count.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// Start a run of 10^10 steps or more (refused otherwise, with the time it would take).
    #[arg(long)]
    allow_long_run: bool,
    /// Also write the recordings as one NWB file (`CIRCUIT.nwb`: spikes as
    /// the units table, recorded variables as TimeSeries, the model text).
    #[arg(long)]
    nwb: bool,
    /// Run once per value, each into its own folder under --out, and write
    /// `sweep.csv` (value, spikes and rate of each population):
    /// `--sweep we=4nS,6nS,8nS`. TARGET is as for --set.
    #[arg(long, value_name = "TARGET=V1,V2,...")]
    sweep: Option<String>,
    /// When to colour diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

/// The registry's backends, for `--backend`.
fn backend_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        circ_backends::BACKENDS
            .iter()
            .map(|b| clap::builder::PossibleValue::new(b.name).help(b.summary)),
    )
}

/// What the environment asks of the executor: `CIRC_MIN_PARALLEL=N` splits
/// kernels of N elements or more across threads (tests set 1), and
/// `CIRC_NO_FUSION=1` runs every phase on its own (tests compare both),
/// `CIRC_SWAP_AT=N` makes `--backend auto` switch to LLVM's code exactly
/// before step N (tests compare swaps at several steps), and
/// `CIRC_GPU_STAGED=1` reads and writes every device buffer through staging
/// copies, as on a discrete GPU, and `CIRC_GPU_REVERSED=1` records the
/// device's commands that may run together last to first (tests run both
/// on lavapipe).
/// Read here, in the command line, and handed on as data.
fn backend_settings(threads: usize, listing: bool) -> circ_backends::Settings {
    circ_backends::Settings {
        threads,
        min_parallel: std::env::var("CIRC_MIN_PARALLEL")
            .ok()
            .and_then(|v| v.trim().parse().ok()),
        fusion: std::env::var("CIRC_NO_FUSION").map_or(true, |v| v != "1"),
        listing,
        swap_at: std::env::var("CIRC_SWAP_AT")
            .ok()
            .and_then(|v| v.trim().parse().ok()),
        gpu_staged: std::env::var("CIRC_GPU_STAGED").is_ok_and(|v| v == "1"),
        gpu_reversed: std::env::var("CIRC_GPU_REVERSED").is_ok_and(|v| v == "1"),
    }
}

/// `CIRC_MEMORY_LIMIT` (bytes), the memory a network may need; unset, the
/// runtime takes what the system reports as available.
fn memory_limit() -> Option<u64> {
    std::env::var("CIRC_MEMORY_LIMIT")
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

#[derive(Clone, Copy, ValueEnum)]
enum Emit {
    /// The kernel IR in its text form.
    Ir,
    /// The Cranelift IR of every kernel (`--backend jit`).
    Clif,
    /// The optimised LLVM IR of every kernel (`--backend llvm`).
    Llvm,
    /// The SPIR-V compute module of every kernel the GPU code generator
    /// translates, and why not for the others (any backend).
    Spirv,
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The `.circ` files to check.
    #[arg(required_unless_present_any = ["explain", "list_codes"])]
    files: Vec<PathBuf>,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// When to colour text diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
    /// Print the page explaining a diagnostic code (e.g. `unit-mismatch`).
    #[arg(long, value_name = "CODE")]
    explain: Option<String>,
    /// List every diagnostic code with its summary.
    #[arg(long)]
    list_codes: bool,
    /// Print how each neuron model's equations are integrated, and why.
    #[arg(long)]
    explain_solver: bool,
    /// Also read the data files the model names (edge lists, spike times,
    /// tables) and build its network, as `circ run` does before its first step.
    #[arg(long)]
    data: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Human-readable reports.
    Text,
    /// A JSON array of diagnostics (for editors).
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    /// Colour when stderr is a terminal.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

use circ_driver::FsLoader;

/// `circ doc`: a model's documentation and definition, or a module's list.
fn doc(path: &str) -> ExitCode {
    // The language reference, embedded.
    if path == "lang" || path == "spec" {
        circ_exe::say!("The circ language reference (`circ doc lang/PAGE` prints a page):\n");
        for (name, text) in spec_pages::PAGES {
            circ_exe::say!("  lang/{name:<12} {}", spec_pages::title(text));
        }
        return ExitCode::SUCCESS;
    }
    if path.starts_with("lang/") || path.starts_with("spec/") {
        return match spec_pages::page(path) {
            Some(text) => {
                circ_exe::say_raw!("{text}");
                ExitCode::SUCCESS
            }
            None => {
                let names: Vec<&str> = spec_pages::PAGES.iter().map(|p| p.0).collect();
                eprintln!(
                    "error: the language reference has no page `{path}`; its pages: {}",
                    names.join(", ")
                );
                ExitCode::from(1)
            }
        };
    }
    if circ_syntax::lexer::KEYWORDS.contains(&path) {
        let found = spec_pages::mentions(path);
        circ_exe::say!("`{path}` is a keyword of circ. The reference on it:\n");
        for (page, line, text) in &found {
            circ_exe::say!("  lang/{page}:{line}: {}", text.trim());
        }
        circ_exe::say!("\n(`circ doc lang/PAGE` prints a whole page)");
        return ExitCode::SUCCESS;
    }
    let models = circ_stdlib::models();
    let module = path.strip_prefix("std::").unwrap_or(path);
    let listed: Vec<&circ_stdlib::ModelDoc> = models
        .iter()
        .filter(|d| path == "std" || d.module == module)
        .collect();
    if !listed.is_empty() {
        for d in listed {
            let summary = d.doc.lines().next().unwrap_or("");
            circ_exe::say!("{:<32} {summary}", d.path());
        }
        return ExitCode::SUCCESS;
    }
    if let Some(d) = circ_stdlib::find(path) {
        circ_exe::say!("{} ({})\n", d.path(), d.kind);
        circ_exe::say!("{}\n", d.doc);
        circ_exe::say!("{}", d.source);
        return ExitCode::SUCCESS;
    }
    let name = path.rsplit("::").next().unwrap_or(path).to_lowercase();
    let close: Vec<String> = models
        .iter()
        .filter(|d| {
            let n = d.name.to_lowercase();
            n.contains(&name) || name.contains(&n)
        })
        .map(circ_stdlib::ModelDoc::path)
        .collect();
    eprintln!(
        "error: the standard library has no model or module `{path}`, and circ no keyword `{path}`"
    );
    if close.is_empty() {
        eprintln!(
            "  = help: `circ doc std` lists every model, `circ doc lang` the language reference"
        );
    } else {
        eprintln!("  = help: did you mean {}?", close.join(", "));
    }
    ExitCode::from(1)
}

/// `circ plot`: the figures of a run's folder.
fn plot_run(args: &PlotArgs) -> ExitCode {
    let opts = plots::Options {
        dir: args.dir.clone(),
        into: args.out.clone(),
        svg: args.svg,
        html: args.html,
    };
    match plots::plot(&opts) {
        Ok(files) => {
            let dir = files
                .first()
                .and_then(|f| f.parent())
                .map_or(String::new(), |d| d.display().to_string());
            circ_exe::say!("wrote {} figures to {dir}", files.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The compiler walks syntax trees recursively; the parser bounds their
    // depth, and this stack (reserved, not committed) bounds the memory per
    // level generously, for every stage: checking, lowering, dropping.
    let worker = std::thread::Builder::new()
        .name("circ".into())
        .stack_size(circ_sema::FRONT_END_STACK)
        .spawn(move || match cli.command {
            Command::Check(args) => check(args),
            Command::Run(args) => run(args),
            Command::Build(args) => build(args),
            Command::Doc(args) => doc(&args.path),
            Command::Plot(args) => plot_run(&args),
            Command::Lsp => lsp::serve(),
            Command::Repl(args) => repl::main(
                args.file.as_deref(),
                args.threads.map_or_else(
                    || std::thread::available_parallelism().map_or(1, usize::from),
                    usize::from,
                ),
            ),
        });
    match worker.map(std::thread::JoinHandle::join) {
        Ok(Ok(code)) => code,
        Ok(Err(_)) => ExitCode::from(101),
        Err(e) => {
            eprintln!("error: cannot start the compiler thread: {e}");
            ExitCode::from(2)
        }
    }
}

fn use_color(c: Color) -> bool {
    match c {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// Run settings shared by `circ run` and `circ build`.
#[derive(clap::Args, Clone)]
struct Settings {
    /// Use this circuit instead of the file's `run` item.
    #[arg(long)]
    circuit: Option<String>,
    /// Biological time to simulate, with its unit (`200 ms`, `1 s`).
    #[arg(long)]
    duration: Option<String>,
    /// The time step, with its unit (`0.1 ms`).
    #[arg(long)]
    dt: Option<String>,
    /// The seed of every random number.
    #[arg(long)]
    seed: Option<u64>,
    /// Also write the final state: every state and per-element parameter
    /// of every population and projection, and every projection's synapses
    /// (`final_*.npy`).
    #[arg(long)]
    final_state: bool,
    /// Set a parameter for this run (repeatable): of the circuit (`N=8000`),
    /// of a population's model (`E.tau_m=10ms`) or of a named projection's
    /// synapse model (`exc.w=5nS`). The value is checked against the
    /// parameter's dimension.
    #[arg(long = "set", value_name = "TARGET=VALUE")]
    sets: Vec<String>,
}

/// What the front end gives a backend: the lowered network, its data
/// tables, the folder data files are read from, and every file the model
/// reads (itself, its modules, its data files).
type Front = (circ_lower::Lowered, Vec<Vec<f64>>, PathBuf, Vec<PathBuf>);

impl Settings {
    /// The driver's settings, times parsed.
    fn resolve(&self) -> Result<circ_driver::Settings, circ_driver::Failure> {
        let time = |flag: &str, v: &Option<String>| {
            v.as_deref()
                .map(|v| circ_driver::parse_time(flag, v))
                .transpose()
        };
        Ok(circ_driver::Settings {
            circuit: self.circuit.clone(),
            duration: time("duration", &self.duration)?,
            dt: time("dt", &self.dt)?,
            seed: self.seed,
            final_state: self.final_state,
            sets: self.sets.clone(),
        })
    }
}

/// Reads, checks and lowers `file`, and loads its data tables. `stop_after`
/// sees the network first: `Some(())` means it was printed and nothing
/// should run (`Ok(None)`). Errors are printed; the exit code comes back.
fn front(
    file: &Path,
    s: &Settings,
    color: bool,
    stop_after: impl FnOnce(&circ_ir::Network) -> Option<()>,
) -> Result<Option<Front>, u8> {
    let said = |f: circ_driver::Failure| {
        eprint!("{}", f.message);
        f.code
    };
    let settings = s.resolve().map_err(said)?;
    let checked =
        circ_driver::check(circ_driver::Source::file(file).map_err(said)?, color).map_err(said)?;
    let l = checked.lower(&settings, color).map_err(said)?;
    // What `circ check` warns about, `circ run` and `circ build` say too.
    eprint!("{}", l.warnings);
    if stop_after(&l.lowered.net).is_some() {
        return Ok(None);
    }
    let tables = checked.tables(&l.lowered.net).map_err(said)?;
    let inputs = checked.inputs(&l.lowered.net);
    Ok(Some((l.lowered, tables, checked.source.base, inputs)))
}

/// Writes `--emit` output to stdout. A reader that closed the pipe
/// (`| head`) has what it wanted: stop quietly rather than panic.
fn emit_text(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write to standard output: {e}");
    }
}

/// `circ run --sweep TARGET=V1,V2,...`: one run per value into
/// `OUT/TARGET=V`, then `OUT/sweep.csv` with each population's spikes and
/// rate per value. Stops at the first run that fails.
fn sweep(args: &RunArgs, spec: &str, comm: &dyn circ_runtime::comm::Comm) -> ExitCode {
    let Some((target, list)) = spec.split_once('=') else {
        eprintln!("error: --sweep {spec}: write TARGET=V1,V2,..., e.g. `--sweep we=4nS,6nS,8nS`");
        return ExitCode::from(2);
    };
    let values: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if values.is_empty() {
        eprintln!("error: --sweep {spec}: no values");
        return ExitCode::from(2);
    }
    let root = args
        .out
        .clone()
        .unwrap_or_else(|| beside_stem(&args.file, "sweep"));
    if let Err(e) = std::fs::create_dir_all(&root) {
        eprintln!("error: cannot create {}: {e}", root.display());
        return ExitCode::from(2);
    }
    let mut header: Option<Vec<String>> = None;
    let mut rows = String::new();
    for v in &values {
        let folder: String = format!("{}={v}", target.trim())
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || "=._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let out = root.join(&folder);
        let mut settings = args.settings.clone();
        settings.sets.push(format!("{}={v}", target.trim()));
        circ_exe::say!("--- {} = {v} -> {}", target.trim(), out.display());
        let code = run_once(args, &settings, out.clone(), comm);
        if code != 0 {
            return ExitCode::from(code);
        }
        // Across MPI ranks, rank 0 wrote the run and writes the table.
        if comm.rank() != 0 {
            continue;
        }
        // The run's summary gives the row.
        let summary = std::fs::read_to_string(out.join("summary.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        let Some(pops) = summary
            .as_ref()
            .and_then(|s| s.get("populations"))
            .and_then(|p| p.as_object())
        else {
            eprintln!("error: {} has no readable summary.json", out.display());
            return ExitCode::from(1);
        };
        // In the circuit's order (the summary's map is sorted by name).
        let mut names: Vec<String> = pops.keys().cloned().collect();
        names.sort_by_key(|n| pops[n]["index"].as_u64().unwrap_or(u64::MAX));
        if header.is_none() {
            header = Some(names.clone());
        }
        rows.push_str(&format!("\"{v}\""));
        for n in &names {
            let p = &pops[n];
            rows.push_str(&format!(
                ",{},{}",
                p["spikes"].as_u64().unwrap_or(0),
                p["mean_rate_hz"].as_f64().unwrap_or(0.0)
            ));
        }
        rows.push('\n');
    }
    let mut csv = target.trim().to_string();
    for n in header.unwrap_or_default() {
        csv.push_str(&format!(",{n}_spikes,{n}_rate_hz"));
    }
    csv.push('\n');
    csv.push_str(&rows);
    let path = root.join("sweep.csv");
    if comm.rank() != 0 {
        return ExitCode::SUCCESS;
    }
    if let Err(e) = circ_runtime::output::write_atomic(&path, csv.as_bytes()) {
        eprintln!("error: cannot write {}: {e}", path.display());
        return ExitCode::from(2);
    }
    circ_exe::say!("wrote {}", path.display());
    ExitCode::SUCCESS
}

fn run(args: RunArgs) -> ExitCode {
    // Under `mpirun`: this process's rank of the run's processes.
    let comm = match ranks::start_quiet() {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(spec) = &args.sweep {
        if args.emit.is_some() {
            eprintln!("error: --sweep runs the model; --emit prints it once: use one of them");
            return ExitCode::from(2);
        }
        return sweep(&args, spec, &*comm);
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| beside_stem(&args.file, "out"));
    ExitCode::from(run_once(&args, &args.settings, out, &*comm))
}

/// `FILE-STEM.EXT` in the current folder: where a run writes by default.
fn beside_stem(file: &Path, ext: &str) -> PathBuf {
    let stem = file
        .file_stem()
        .map_or_else(|| "circ".into(), |s| s.to_string_lossy().into_owned());
    PathBuf::from(format!("{stem}.{ext}"))
}

/// One run of `args.file` with `settings`, into `out`; the exit code.
fn run_once(
    args: &RunArgs,
    settings: &Settings,
    out: PathBuf,
    comm: &dyn circ_runtime::comm::Comm,
) -> u8 {
    let started = std::time::Instant::now();
    let color = use_color(args.color);
    let info = match circ_backends::info(&args.backend) {
        Some(i) => i,
        None => {
            eprintln!("error: --backend: there is no backend `{}`", args.backend);
            return 2;
        }
    };
    // Refused before the model is read: they are the command line's errors.
    if let Err(e) = info.check_threads(args.threads.map_or(1, usize::from)) {
        eprintln!("error: {e}");
        return 2;
    }
    let wanted = match args.emit {
        Some(Emit::Clif) => Some("clif"),
        Some(Emit::Llvm) => Some("llvm"),
        _ => None,
    };
    // `auto` runs both code generators: a listing names the one to show.
    let info = match wanted {
        Some(w) if info.name == "auto" => circ_backends::BACKENDS
            .iter()
            .find(|b| b.listing == Some(w))
            .unwrap_or(info),
        _ => info,
    };
    if let Some(w) = wanted
        && info.listing != Some(w)
    {
        let (what, backend) = if w == "clif" {
            ("Cranelift IR", "jit")
        } else {
            ("LLVM IR", "llvm")
        };
        eprintln!(
            "error: --emit {w}: the {} backend generates no {what}; use --backend {backend}",
            info.name
        );
        return 2;
    }

    let (lowered, tables, base, _) = match front(&args.file, settings, color, |net| {
        matches!(args.emit, Some(Emit::Ir)).then(|| emit_text(&circ_ir::print(net)))
    }) {
        Ok(Some(x)) => x,
        Ok(None) => return 0,
        Err(code) => return code,
    };
    if matches!(args.emit, Some(Emit::Spirv)) {
        for (f, text) in circ_backends::spirv(&lowered.net) {
            match text {
                Ok(t) => circ_exe::say!("; kernel {f}\n{t}"),
                Err(why) => circ_exe::say!("; kernel {f}: {why}"),
            }
        }
        return 0;
    }
    if args.explain_backend {
        return match circ_backends::explain(info.name, &lowered.net) {
            Ok(lines) => {
                for (f, how) in lines {
                    circ_exe::say!("{f}: {how}");
                }
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        };
    }
    // Every core unless asked (for backends with threads); kernels under
    // the executor's threshold stay on the calling thread whatever the count.
    let threads = match args.threads {
        Some(t) => usize::from(t),
        None if info.threads => std::thread::available_parallelism().map_or(1, usize::from),
        None => 1,
    };
    let listing = wanted.is_some();
    let instance = match circ_backends::instantiate(
        info.name,
        &lowered.net,
        tables,
        &backend_settings(threads, listing),
    ) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    if listing {
        let text: String = instance
            .listing
            .iter()
            .map(|(name, code)| format!("; kernel {name}\n{code}\n"))
            .collect();
        emit_text(&text);
        return 0;
    }
    let layout = &lowered.net.layout;
    let file = args.file.display().to_string();
    let model_text = std::fs::read_to_string(&args.file).unwrap_or_default();
    let start = nwb::now_iso8601();
    let make_nwb = |r: &circ_runtime::RunResult, i: &circ_runtime::output::RunInfo| {
        nwb::render(layout, r, i, &model_text, &start)
    };
    let job = circ_exe::Job {
        layout,
        backend: &*instance.backend,
        backend_name: info.label,
        circuit: &lowered.circuit,
        file: &file,
        base: &base,
        seed: lowered.seed,
        dt: lowered.dt,
        duration: lowered.duration,
        out: Some(out),
        started,
        memory_limit: memory_limit(),
        allow_long: args.allow_long_run,
        extra: args.nwb.then(|| {
            (
                format!("{}.nwb", lowered.circuit),
                &make_nwb as &circ_exe::ExtraFile<'_>,
            )
        }),
        comm,
    };
    circ_exe::simulate(&job)
}

fn check(args: CheckArgs) -> ExitCode {
    if args.list_codes {
        for c in circ_diag::CODES {
            circ_exe::say!("{:<28} {}", c.code, c.summary);
        }
        return ExitCode::SUCCESS;
    }
    if args.explain_solver {
        let mut status = ExitCode::SUCCESS;
        for f in &args.files {
            let Ok(text) = std::fs::read_to_string(f) else {
                eprintln!("error: cannot read {}", f.display());
                status = ExitCode::from(2);
                continue;
            };
            let mut map = SourceMap::new();
            let id = map.add(f.to_string_lossy(), text);
            let analysis = circ_sema::check_program(&mut map, id, &mut FsLoader::default());
            if analysis.has_errors() {
                eprint!(
                    "{}",
                    render_all_text(&analysis.diagnostics, &map, use_color(args.color))
                );
                status = ExitCode::from(1);
                continue;
            }
            for line in circ_lower::explain_solvers(&analysis, &map) {
                circ_exe::say!("{line}");
            }
        }
        return status;
    }
    if let Some(code) = &args.explain {
        return match circ_diag::explain(code) {
            Some(info) => {
                circ_exe::say_raw!("{}", info.page);
                ExitCode::SUCCESS
            }
            None => {
                let codes: Vec<&str> = circ_diag::CODES.iter().map(|c| c.code).collect();
                let hint = circ_units::closest(code, codes.iter().copied())
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                eprintln!(
                    "error: there is no diagnostic code `{code}`{hint}; `circ check --list-codes` lists them"
                );
                ExitCode::from(2)
            }
        };
    }
    let color = use_color(args.color);
    let mut all: Vec<(SourceMap, Vec<Diagnostic>)> = vec![];
    let mut data_errors: Vec<String> = vec![];
    let mut io_error = false;
    for f in &args.files {
        // Spans are 32-bit byte offsets; no model comes near this size.
        const MAX_FILE: u64 = 1 << 30;
        if let Ok(meta) = std::fs::metadata(f)
            && meta.len() > MAX_FILE
        {
            eprintln!(
                "error: {} is {} bytes; circ reads model files up to 1 GiB",
                f.display(),
                meta.len()
            );
            io_error = true;
            continue;
        }
        let text = match std::fs::read(f) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!(
                        "error: {} is not UTF-8 text (invalid byte at offset {})",
                        f.display(),
                        e.utf8_error().valid_up_to()
                    );
                    io_error = true;
                    continue;
                }
            },
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", f.display());
                io_error = true;
                continue;
            }
        };
        let source = circ_driver::Source::text(f.to_string_lossy(), text);
        let (map, analysis, lowered) = circ_driver::diagnose(&source, memory_limit());
        if args.data
            && let Some(l) = lowered
            && let Err(e) = build_with_data(f, &l)
        {
            data_errors.push(format!("{}: {e}", f.display()));
        }
        all.push((map, analysis.diagnostics));
    }
    let errors: usize = all
        .iter()
        .map(|(_, ds)| ds.iter().filter(|d| d.is_error()).count())
        .sum::<usize>()
        + data_errors.len();
    match args.format {
        Format::Json => {
            let mut items: Vec<serde_json::Value> = vec![];
            for (map, ds) in &all {
                if let Ok(serde_json::Value::Array(v)) = serde_json::from_str(&render_json(ds, map))
                {
                    items.extend(v);
                }
            }
            // Data errors name their file, line and column in the message.
            for e in &data_errors {
                items.push(serde_json::json!({
                    "severity": "error", "code": "bad-data", "message": e,
                    "primary": null, "labels": [], "help": null, "notes": [],
                }));
            }
            circ_exe::say!(
                "{}",
                serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".into())
            );
        }
        Format::Text => {
            for (map, ds) in &all {
                eprint!("{}", render_all_text(ds, map, color));
            }
            for e in &data_errors {
                eprintln!("error[bad-data]: {e}");
            }
            if errors > 0 {
                eprintln!(
                    "{} error{} found",
                    errors,
                    if errors == 1 { "" } else { "s" }
                );
            }
        }
    }
    if io_error {
        ExitCode::from(2)
    } else if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `circ check --data`: reads the data files of `file`'s lowered run and
/// builds its network with the interpreter, as `circ run` does before its
/// first step (connections made, data validated, initial values set).
fn build_with_data(file: &Path, l: &circ_lower::Lowered) -> Result<(), String> {
    let base = file
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let tables = circ_runtime::data::load_tables(&base, &l.net.layout.tables).map_err(|e| e.0)?;
    let settings = backend_settings(1, false);
    let instance = circ_backends::instantiate("interp", &l.net, tables, &settings)?;
    let opts = circ_runtime::BuildOptions {
        seed: l.seed,
        dt: l.dt,
        base: &base,
        memory_limit: memory_limit(),
    };
    circ_runtime::Simulation::build(&l.net.layout, &*instance.backend, &opts)
        .map(|_| ())
        .map_err(|e| e.0)
}

/// The runner executables are made from (`circ-runner`): the one beside
/// this circ whose build identity (`circ_exe::BUILD_ID`, a hash of the
/// runtime's sources, profile, target and compiler) is this circ's, or the
/// one `CIRC_RUNNER` names (which must match): its bytes.
fn runner() -> Result<Vec<u8>, String> {
    let named = std::env::var_os("CIRC_RUNNER").map(PathBuf::from);
    let path = match &named {
        Some(p) => p.clone(),
        None => {
            let exe =
                std::env::current_exe().map_err(|e| format!("cannot find circ itself: {e}"))?;
            exe.with_file_name(format!("circ-runner{}", std::env::consts::EXE_SUFFIX))
        }
    };
    let what = if named.is_some() { "CIRC_RUNNER=" } else { "" };
    let bytes = std::fs::read(&path).map_err(|e| {
        format!(
            "cannot read the runner {what}{}: {e}; it is built and installed with circ \
             (cargo build / cargo install --path compiler/circ make both)",
            path.display()
        )
    })?;
    match circ_exe::build_id_of(&bytes) {
        Some(id) if id == circ_exe::BUILD_ID => Ok(bytes),
        Some(id) => Err(format!(
            "the runner {what}{} was built from other sources (build {id}) than this circ \
             (build {}); build or install both together",
            path.display(),
            circ_exe::BUILD_ID
        )),
        None => Err(format!(
            "{what}{} is not circ's runner (circ-runner)",
            path.display()
        )),
    }
}

fn build(args: BuildArgs) -> ExitCode {
    let color = use_color(args.color);
    let (lowered, tables, base, inputs) = match front(&args.file, &args.settings, color, |_| None) {
        Ok(Some(x)) => x,
        Ok(None) => return ExitCode::SUCCESS,
        Err(code) => return ExitCode::from(code),
    };
    let runner = match runner() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Never overwrite what the model is read from.
    if let Ok(out) = std::fs::canonicalize(&args.output)
        && let Some(input) = inputs
            .iter()
            .find(|i| std::fs::canonicalize(i).is_ok_and(|i| i == out))
    {
        let what = if input == &inputs[0] {
            "the model file".to_string()
        } else {
            format!("a file the model reads ({})", input.display())
        };
        eprintln!(
            "error: -o {} is {what}; circ build never overwrites an input: choose another name",
            args.output.display()
        );
        return ExitCode::from(2);
    }
    let base = std::fs::canonicalize(&base).unwrap_or(base);
    let object = circ_backends::object(
        &args.backend,
        &lowered.net,
        args.target_cpu.as_deref(),
        |kernels| {
            let bundle = circ_exe::Bundle {
                net: lowered.net.clone(),
                kernels: kernels.clone(),
                tables,
                circuit: lowered.circuit.clone(),
                file: args.file.display().to_string(),
                base: base.display().to_string(),
                seed: lowered.seed,
                dt: lowered.dt,
                duration: lowered.duration,
                backend: circ_backends::info(&args.backend)
                    .and_then(|i| i.executable)
                    .unwrap_or("native")
                    .to_string(),
            };
            postcard::to_stdvec(&bundle).map_err(|e| format!("cannot serialise the model: {e}"))
        },
    );
    let object = match object {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    // Link the kernels into a shared object in a scratch folder, append it
    // to the runner; the executable appears whole or not at all.
    let scratch = std::env::temp_dir().join(format!("circ-build-{}", std::process::id()));
    let result = (|| -> Result<(), String> {
        std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
        let (obj, so) = (scratch.join("model.o"), scratch.join("model.so"));
        std::fs::write(&obj, &object).map_err(|e| format!("{}: {e}", obj.display()))?;
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let out = std::process::Command::new(&cc)
            .args(["-shared", "-nostdlib", "-Wl,--strip-debug", "-o"])
            .arg(&so)
            .arg(&obj)
            .output()
            .map_err(|e| format!("cannot run the C compiler `{cc}` to link: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "linking with `{cc}` failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let so = std::fs::read(&so).map_err(|e| format!("{}: {e}", so.display()))?;
        // The runner's line tables are most of its size (13 MB of 15):
        // drop them with the system's `strip` where there is one.
        let plain = scratch.join("runner");
        std::fs::write(&plain, &runner).map_err(|e| format!("{}: {e}", plain.display()))?;
        let strip = std::env::var("STRIP").unwrap_or_else(|_| "strip".into());
        let stripped = std::process::Command::new(&strip)
            .arg("--strip-debug")
            .arg(&plain)
            .output()
            .is_ok_and(|o| o.status.success());
        let runner = if stripped {
            std::fs::read(&plain).map_err(|e| format!("{}: {e}", plain.display()))?
        } else {
            runner
        };
        let exe = circ_exe::appended::append(&runner, &so);
        // Write next to the target, then rename: never a half-written file.
        let target = &args.output;
        let tmp = target.with_file_name(format!(
            ".{}.circ-tmp",
            target
                .file_name()
                .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned())
        ));
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::write(&tmp, &exe)?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("{}: {e}", tmp.display())
        })?;
        std::fs::rename(&tmp, target).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("{}: {e}", target.display())
        })
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    match result {
        Ok(()) => {
            circ_exe::say!(
                "wrote {} (runs `{}`; try {} --help)",
                args.output.display(),
                lowered.circuit,
                args.output.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
