//! The specification is executable: every ```circ block in `spec/` (and in
//! the diagnostic pages) must pass `circ check`, and every ```circ,error=CODE
//! block must fail with that code.

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
    let (mut valid, mut invalid) = (0, 0);
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
        valid >= 40 && invalid >= 40,
        "too few spec blocks: {valid} valid, {invalid} error"
    );
}
