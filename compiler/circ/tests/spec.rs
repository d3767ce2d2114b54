//! The specification is executable: every ```circ block in `spec/` (and in
//! the diagnostic pages) must pass `circ check`, every ```circ,error=CODE
//! block must fail with that code, and every valid block with a circuit
//! runs (its `run` item, or `run FIRST_CIRCUIT` added, for 1 ms on the
//! interpreter; blocks that read data files are lowered, not run).

mod common;

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            markdown_files(&p, out);
        } else if p.extension().and_then(|e| e.to_str()) == Some("md") {
            out.push(p);
        }
    }
}

/// The ```circ blocks of a Markdown file: (info string, first line number, code).
fn blocks(text: &str) -> Vec<(String, usize, String)> {
    let mut out = vec![];
    let mut current: Option<(String, usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match &mut current {
            None => {
                if let Some(info) = line.strip_prefix("```circ") {
                    current = Some((info.to_string(), i + 2, String::new()));
                }
            }
            Some((_, _, code)) => {
                if line.starts_with("```") {
                    out.extend(current.take());
                } else {
                    code.push_str(line);
                    code.push('\n');
                }
            }
        }
    }
    out
}

#[test]
fn spec_code_blocks_check_as_stated() {
    let mut files = vec![];
    markdown_files(&repo().join("spec"), &mut files);
    files.sort();
    let (mut valid, mut invalid, mut ran) = (0, 0, 0);
    let mut failures = vec![];
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read spec");
        for (info, line, code) in blocks(&text) {
            let place = format!("{}:{line}", f.strip_prefix(repo()).unwrap_or(f).display());
            // Valid blocks must pass `circ check`; error blocks may fail in
            // `circ check` or when `circ run` lowers them.
            let (map, diagnostics) = if info.trim().is_empty() {
                common::check(&place, &code)
            } else {
                common::diagnose(&place, &code)
            };
            let codes: Vec<&str> = diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.code)
                .collect();
            match info.strip_prefix(",error=") {
                None if info.trim().is_empty() => {
                    valid += 1;
                    if !codes.is_empty() {
                        failures.push(format!(
                            "{place}: expected no errors\n{}",
                            circ_diag::render_all_text(&diagnostics, &map, false)
                        ));
                    } else if let Some(why) = run_block(&place, &code, &mut ran) {
                        failures.push(format!("{place}: does not run: {why}"));
                    }
                }
                Some(want) => {
                    invalid += 1;
                    // A warning's page shows its example the same way.
                    if !diagnostics.iter().any(|d| d.code == want.trim()) {
                        failures.push(format!(
                            "{place}: expected error `{want}`, got {codes:?}\n{}",
                            circ_diag::render_all_text(&diagnostics, &map, false)
                        ));
                    }
                }
                None => failures.push(format!("{place}: unknown block kind `circ{info}`")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        valid >= 40 && invalid >= 40 && ran >= 15,
        "too few spec blocks: {valid} valid, {invalid} error, {ran} run"
    );
}

/// Runs a valid block that has a circuit for 1 ms on the interpreter (its
/// `run` item, or one added for its first circuit); `Some(why)` if it
/// cannot. Blocks reading data files are only lowered.
fn run_block(place: &str, code: &str, ran: &mut usize) -> Option<String> {
    let first_circuit = code
        .lines()
        .find_map(|l| l.trim().strip_prefix("circuit "))
        .and_then(|rest| {
            rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
        })?;
    let has_run = code.lines().any(|l| l.trim_start().starts_with("run "));
    let src = if has_run {
        code.to_string()
    } else {
        format!("{code}\nrun {first_circuit} for 1 ms\n")
    };
    let (map, analysis) = circ_sema::check_source(place, &src);
    if analysis.has_errors() {
        return Some(circ_diag::render_all_text(
            &analysis.diagnostics,
            &map,
            false,
        ));
    }
    let opts = circ_lower::Options {
        duration: Some(1e-3),
        ..Default::default()
    };
    let lowered = match circ_lower::lower(&analysis, &map, &opts) {
        Ok(l) => l,
        Err(ds) => return Some(circ_diag::render_all_text(&ds, &map, false)),
    };
    let layout = &lowered.net.layout;
    let reads_files = !layout.tables.is_empty()
        || layout.pops.iter().any(|p| p.schedule_source.is_some())
        || layout.projs.iter().any(|p| {
            matches!(
                p.connect,
                circ_runtime::layout::Connect::File { .. }
                    | circ_runtime::layout::Connect::Matrix { .. }
            )
        });
    if reads_files {
        return None;
    }
    let settings = circ_backends::Settings::default();
    let instance = match circ_backends::instantiate("interp", &lowered.net, vec![], &settings) {
        Ok(i) => i,
        Err(e) => return Some(e),
    };
    let backend = &*instance.backend;
    let bopts = circ_runtime::BuildOptions {
        seed: lowered.seed,
        dt: lowered.dt,
        base: Path::new("."),
        memory_limit: None,
    };
    let mut sim = match circ_runtime::Simulation::build(layout, backend, &bopts) {
        Ok(s) => s,
        Err(e) => return Some(e.0),
    };
    let r = sim.run(
        backend,
        &circ_runtime::RunOptions {
            duration: 1e-3,
            dt: lowered.dt,
            seed: lowered.seed,
            check_every: 1,
        },
    );
    *ran += 1;
    r.stopped.map(|e| e.to_string())
}
