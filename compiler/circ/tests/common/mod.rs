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
