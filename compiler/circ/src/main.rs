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
    match cli.command {
        Command::Check(args) => check(args),
    }
}

fn check(args: CheckArgs) -> ExitCode {
    if args.list_codes {
        for c in circ_diag::CODES {
            println!("{:<28} {}", c.code, c.summary);
        }
        return ExitCode::SUCCESS;
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
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
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
        let analysis = circ_sema::check_program(&mut map, id, &mut FsLoader);
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
