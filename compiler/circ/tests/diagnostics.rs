//! Snapshot tests of rendered diagnostics. Each file in `tests/diagnostics/`
//! starts with `// expect: CODE CODE ...`, the codes it must produce (all of
//! them, so a file with several errors proves they are all reported); the
//! rendered report is snapshotted (colourless) with its source.

mod common;

use std::path::Path;

fn expected_codes(src: &str) -> Vec<String> {
    let line = src.lines().next().unwrap_or_default();
    let list = line
        .strip_prefix("// expect:")
        .expect("first line must be `// expect: CODE ...`");
    let mut v: Vec<String> = list.split_whitespace().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn rendered_diagnostics() {
    insta::glob!("diagnostics/*.circ", |path: &Path| {
        let src = std::fs::read_to_string(path).expect("read test file");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("input.circ");
        let (map, diagnostics) = common::diagnose(name, &src);
        let mut got: Vec<String> = diagnostics.iter().map(|d| d.code.to_string()).collect();
        got.sort();
        assert_eq!(got, expected_codes(&src), "codes reported for {name}");
        let rendered = circ_diag::render_all_text(&diagnostics, &map, false);
        insta::assert_snapshot!(format!("{src}\n-------- diagnostics --------\n{rendered}"));
    });
}

#[test]
fn enough_cases_and_every_code_covered() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics");
    let mut files = 0;
    let mut multi = 0;
    let mut covered = std::collections::HashSet::new();
    for entry in std::fs::read_dir(dir).expect("diagnostics dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("circ") {
            continue;
        }
        let src = std::fs::read_to_string(&path).expect("read");
        let codes = expected_codes(&src);
        files += 1;
        if codes.len() >= 3 {
            multi += 1;
        }
        covered.extend(codes);
    }
    assert!(files >= 60, "only {files} snapshot cases");
    assert!(multi >= 10, "only {multi} files with several errors");
    let missing: Vec<&str> = circ_diag::CODES
        .iter()
        .map(|c| c.code)
        .filter(|c| !covered.contains(*c))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a snapshot test: {missing:?}"
    );
}
