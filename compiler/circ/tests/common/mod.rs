//! What `circ` reports for a source text: sema's diagnostics, then (when
//! those are clean) the method checks of `circ check`, then (when the file
//! has a circuit) what lowering for `circ run` reports.

use circ_diag::{Diagnostic, SourceMap};
use circ_syntax::ast::Item;

/// What `circ check` reports for `src`.
#[allow(dead_code)]
pub fn check(name: &str, src: &str) -> (SourceMap, Vec<Diagnostic>) {
    let (map, mut analysis) = circ_sema::check_source(name, src);
    if !analysis.has_errors() {
        analysis
            .diagnostics
            .extend(circ_lower::check_models(&analysis, &map));
    }
    (map, analysis.diagnostics)
}

/// Every diagnostic a user can meet for `src` through `circ check` and `circ run`.
#[allow(dead_code)]
pub fn diagnose(name: &str, src: &str) -> (SourceMap, Vec<Diagnostic>) {
    let (map, mut analysis) = circ_sema::check_source(name, src);
    if analysis.has_errors() {
        return (map, analysis.diagnostics);
    }
    analysis
        .diagnostics
        .extend(circ_lower::check_models(&analysis, &map));
    let has_circuit = analysis.program.ast(0).is_some_and(|m| {
        m.items
            .iter()
            .any(|i| matches!(i, Item::Circuit(_) | Item::Run(_)))
    });
    if !analysis.has_errors()
        && has_circuit
        && let Err(ds) = circ_lower::lower(&analysis, &map, &circ_lower::Options::default())
    {
        analysis.diagnostics.extend(ds);
    }
    (map, analysis.diagnostics)
}

/// Every example model, sorted.
#[allow(dead_code)]
pub fn examples() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("circ"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "examples missing");
    files
}

/// Checks and lowers a model's text with default options, panicking with
/// the rendered diagnostics if it has errors.
#[allow(dead_code)]
pub fn lower(name: &str, src: &str) -> circ_lower::Lowered {
    let (map, analysis) = circ_sema::check_source(name, src);
    assert!(
        !analysis.has_errors(),
        "{}",
        circ_diag::render_all_text(&analysis.diagnostics, &map, false)
    );
    circ_lower::lower(&analysis, &map, &circ_lower::Options::default())
        .unwrap_or_else(|ds| panic!("{}", circ_diag::render_all_text(&ds, &map, false)))
}

/// The recorded files of a run, by name, except the summary (which names
/// the backend and timings).
#[allow(dead_code)]
pub fn outputs(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("out dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| !p.ends_with("summary.json"))
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, std::fs::read(&p).expect("read"))
        })
        .collect();
    v.sort();
    v
}
