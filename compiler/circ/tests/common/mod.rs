//! What `circ` reports for a source text: sema's diagnostics, then (when
//! those are clean) the method checks of `circ check`, then (when the file
//! has a circuit) what lowering for `circ run` reports.

use circ_diag::{Diagnostic, SourceMap};
use circ_syntax::ast::Item;

/// What `circ check` reports for `src`.
#[allow(dead_code)]
pub fn check(name: &str, src: &str) -> (SourceMap, Vec<Diagnostic>) {
    // A fixed 16 GiB of memory, so that the snapshots do not depend on the
    // machine.
    circ_lower::check_text(name, src, Some(16 << 30))
}

/// Every diagnostic a user can meet for `src` through `circ check` and
/// `circ run`: what `circ check` says, and for a file with a circuit but no
/// `run` item, what `circ run` says of it.
#[allow(dead_code)]
pub fn diagnose(name: &str, src: &str) -> (SourceMap, Vec<Diagnostic>) {
    let (map, mut ds) = check(name, src);
    let (_, analysis) = circ_sema::check_source(name, src);
    let items = analysis.program.ast(0).map_or(&[][..], |m| &m.items[..]);
    let circuit_only = items.iter().any(|i| matches!(i, Item::Circuit(_)))
        && !items.iter().any(|i| matches!(i, Item::Run(_)));
    if circuit_only
        && !ds.iter().any(Diagnostic::is_error)
        && let Err(more) = circ_lower::lower(&analysis, &map, &circ_lower::Options::default())
    {
        ds.extend(more);
    }
    (map, ds)
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

/// Every example's file name and lowered network.
#[allow(dead_code)]
pub fn lowered_examples() -> Vec<(String, circ_ir::Network)> {
    examples()
        .into_iter()
        .map(|path| {
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let src = std::fs::read_to_string(&path).expect("example");
            let net = lower(&file, &src).net;
            (file, net)
        })
        .collect()
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

/// A fresh folder under the system's temporary one, removed when dropped.
#[allow(dead_code)]
pub struct TempDir(pub std::path::PathBuf);

#[allow(dead_code)]
impl TempDir {
    /// `circ-TAG-PID`, emptied first.
    pub fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("circ-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("tmp dir");
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
