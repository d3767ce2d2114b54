//! The `circ` command. It owns the terminal, the file system, the
//! environment and exit codes; the compiler crates it calls do none of these.

use circ_diag::{Diagnostic, SourceMap, render_all_text, render_json};
use circ_sema::Loader;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
}

#[derive(clap::Args)]
struct RunArgs {
    /// The `.circ` file to run.
    file: PathBuf,
    /// Run this circuit instead of the file's `run` item.
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
    /// Where to write recordings (default: `FILE-STEM.out` in the current folder).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Which backend runs the kernels.
    #[arg(long, value_enum, default_value_t = BackendKind::Jit)]
    backend: BackendKind,
    /// Print an intermediate form instead of running.
    #[arg(long, value_enum)]
    emit: Option<Emit>,
    /// Threads the JIT splits large kernels across (default: every core).
    /// Results are identical for every count.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// When to colour diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendKind {
    /// Native code from Cranelift's JIT (the default).
    Jit,
    /// The reference interpreter (the oracle).
    Interp,
}

#[derive(Clone, Copy, ValueEnum)]
enum Emit {
    /// The kernel IR in its text form.
    Ir,
    /// The Cranelift IR of every kernel.
    Clif,
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

/// Loads `use "file.circ"` imports relative to the importing file.
struct FsLoader;

impl Loader for FsLoader {
    fn load(&mut self, from: &str, path: &str) -> Result<(String, String), String> {
        let base = Path::new(from).parent().unwrap_or_else(|| Path::new(""));
        let full = base.join(path);
        let text = std::fs::read_to_string(&full)
            .map_err(|e| format!("cannot read {}: {e}", full.display()))?;
        Ok((full.to_string_lossy().into_owned(), text))
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

/// Parses a time given on the command line (`200 ms`, `1s`, `0.1 ms`) to seconds.
fn parse_time(flag: &str, text: &str) -> Result<f64, String> {
    let bad =
        || format!("--{flag} {text:?}: expected a time with its unit, such as `200 ms` or `1 s`");
    let expr = circ_syntax::parse_expr(text).map_err(|_| bad())?;
    let circ_syntax::ast::ExprKind::Num {
        value,
        unit: Some(unit),
        ..
    } = &expr.node
    else {
        return Err(bad());
    };
    let circ_syntax::ast::UnitKind::Name(name) = &unit.node else {
        return Err(bad());
    };
    let u = circ_units::lookup(name).ok_or_else(bad)?;
    if Some(u.dim) != circ_units::dim_by_name("time") {
        return Err(format!("--{flag} {text:?}: `{name}` is not a unit of time"));
    }
    let v = value * u.scale;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("--{flag} {text:?}: must be positive"));
    }
    Ok(v)
}

fn run(args: RunArgs) -> ExitCode {
    let started = std::time::Instant::now();
    let color = use_color(args.color);
    if matches!(args.backend, BackendKind::Interp) && args.threads.is_some_and(|t| t > 1) {
        eprintln!(
            "error: --threads: the reference interpreter runs on one thread; use --backend jit"
        );
        return ExitCode::from(2);
    }

    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let mut opts = circ_lower::Options {
        circuit: args.circuit.clone(),
        seed: args.seed,
        ..Default::default()
    };
    for (flag, value, slot) in [
        ("duration", &args.duration, &mut opts.duration),
        ("dt", &args.dt, &mut opts.dt),
    ] {
        if let Some(v) = value {
            match parse_time(flag, v) {
                Ok(x) => *slot = Some(x),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    }
    let mut map = SourceMap::new();
    let id = map.add(args.file.to_string_lossy(), text);
    let analysis = circ_sema::check_program(&mut map, id, &mut FsLoader);
    if analysis.has_errors() {
        eprint!("{}", render_all_text(&analysis.diagnostics, &map, color));
        return ExitCode::from(1);
    }
    let lowered = match circ_lower::lower(&analysis, &map, &opts) {
        Ok(l) => l,
        Err(ds) => {
            eprint!("{}", render_all_text(&ds, &map, color));
            return ExitCode::from(1);
        }
    };
    if let Some(Emit::Ir) = args.emit {
        print!("{}", circ_ir::print(&lowered.net));
        return ExitCode::SUCCESS;
    }
    let base = args
        .file
        .parent()
        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
    let tables = match circ_runtime::data::load_tables(&base, &lowered.net.layout.tables) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let interp;
    let jit;
    let backend: &dyn circ_runtime::Backend = match args.backend {
        BackendKind::Interp => {
            interp = circ_interp::Interp::with_tables(&lowered.net, tables);
            &interp
        }
        BackendKind::Jit => {
            // Every core unless asked; kernels under `MIN_PARALLEL` elements
            // stay on the calling thread whatever the count.
            let threads = args.threads.map_or_else(
                || std::thread::available_parallelism().map_or(1, usize::from),
                usize::from,
            );
            jit = match circ_codegen_cranelift::Jit::with_threads(
                &lowered.net,
                tables,
                matches!(args.emit, Some(Emit::Clif)),
                threads,
            ) {
                Ok(j) => j,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            };
            if matches!(args.emit, Some(Emit::Clif)) {
                for (name, code) in &jit.clif {
                    println!("; kernel {name}\n{code}");
                }
                return ExitCode::SUCCESS;
            }
            &jit
        }
    };
    let layout = &lowered.net.layout;
    let base = args
        .file
        .parent()
        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
    let mut sim =
        match circ_runtime::Simulation::build(layout, backend, lowered.seed, lowered.dt, &base) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
    for w in &sim.warnings {
        eprintln!("warning: {w}");
    }
    let build = started.elapsed().as_secs_f64();
    let ropts = circ_runtime::RunOptions {
        duration: lowered.duration,
        dt: lowered.dt,
        seed: lowered.seed,
        check_every: 100,
    };
    // Ctrl-C stops the run cleanly: what was recorded is written in full.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::Relaxed));
    let show = std::io::stderr().is_terminal();
    let loop_start = std::time::Instant::now();
    let mut shown = false;
    let mut progress = |done: u64, total: u64| {
        // A bar on a terminal, once a run has taken a few seconds.
        if show && total > 0 && loop_start.elapsed().as_secs_f64() > 2.0 {
            let frac = done as f64 / total as f64;
            let width = 30;
            let fill = (frac * width as f64) as usize;
            eprint!(
                "\r[{}{}] {:>5.1}%  {:.3} s of {:.3} s",
                "=".repeat(fill),
                " ".repeat(width - fill),
                frac * 100.0,
                done as f64 * lowered.dt,
                lowered.duration
            );
            shown = true;
        }
    };
    let result = {
        let mut hooks = circ_runtime::Hooks {
            stop: Some(&stop),
            progress: Some(&mut progress),
        };
        sim.run_with(backend, &ropts, &mut hooks)
    };
    if shown {
        eprintln!();
    }
    let out = args.out.clone().unwrap_or_else(|| {
        let stem = args
            .file
            .file_stem()
            .map_or_else(|| "circ".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from(format!("{stem}.out"))
    });
    let info = circ_runtime::output::RunInfo {
        file: args.file.display().to_string(),
        circuit: lowered.circuit.clone(),
        seed: lowered.seed,
        backend: match args.backend {
            BackendKind::Jit => "cranelift-jit".into(),
            BackendKind::Interp => "interp".into(),
        },
        version: env!("CARGO_PKG_VERSION").into(),
        build_seconds: build,
    };
    let written = match circ_runtime::output::write_outputs(&out, layout, &result, &info) {
        Ok(w) => w,
        Err(e) => {
            eprintln!(
                "error: cannot write the recordings to {}: {e}",
                out.display()
            );
            return ExitCode::from(2);
        }
    };
    let duration = result.steps as f64 * result.dt;
    println!(
        "ran `{}` for {:.4} s (dt {} ms, seed {}) in {:.3} s (+{:.3} s to build)",
        lowered.circuit,
        duration,
        lowered.dt * 1e3,
        lowered.seed,
        result.loop_time.as_secs_f64(),
        build
    );
    for (p, pop) in layout.pops.iter().enumerate() {
        let n = result.spikes[p].len();
        let rate = if duration > 0.0 {
            n as f64 / (pop.size as f64 * duration)
        } else {
            0.0
        };
        println!(
            "  {:<12} {:>8} neurons {:>10} spikes {:>10.3} Hz",
            pop.name, pop.size, n, rate
        );
    }
    println!("wrote {} files to {}", written.len(), out.display());
    match &result.stopped {
        Some(circ_runtime::RunError::Interrupted { .. }) => {
            eprintln!(
                "{}",
                result
                    .stopped
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            );
            return ExitCode::from(130);
        }
        Some(stop) => {
            eprintln!("error: {stop}");
            return ExitCode::from(1);
        }
        None => {}
    }
    ExitCode::SUCCESS
}

fn check(args: CheckArgs) -> ExitCode {
    if args.list_codes {
        for c in circ_diag::CODES {
            println!("{:<28} {}", c.code, c.summary);
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
            let analysis = circ_sema::check_program(&mut map, id, &mut FsLoader);
            if analysis.has_errors() {
                eprint!(
                    "{}",
                    render_all_text(&analysis.diagnostics, &map, use_color(args.color))
                );
                status = ExitCode::from(1);
                continue;
            }
            for line in circ_lower::explain_solvers(&analysis, &map) {
                println!("{line}");
            }
        }
        return status;
    }
    if let Some(code) = &args.explain {
        return match circ_diag::explain(code) {
            Some(info) => {
                print!("{}", info.page);
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
        let mut map = SourceMap::new();
        let id = map.add(f.to_string_lossy(), text);
        let mut analysis = circ_sema::check_program(&mut map, id, &mut FsLoader);
        if !analysis.has_errors() {
            analysis
                .diagnostics
                .extend(circ_lower::check_models(&analysis, &map));
        }
        all.push((map, analysis.diagnostics));
    }
    let errors: usize = all
        .iter()
        .map(|(_, ds)| ds.iter().filter(|d| d.is_error()).count())
        .sum();
    match args.format {
        Format::Json => {
            let mut items: Vec<serde_json::Value> = vec![];
            for (map, ds) in &all {
                if let Ok(serde_json::Value::Array(v)) = serde_json::from_str(&render_json(ds, map))
                {
                    items.extend(v);
                }
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".into())
            );
        }
        Format::Text => {
            for (map, ds) in &all {
                eprint!("{}", render_all_text(ds, map, color));
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
