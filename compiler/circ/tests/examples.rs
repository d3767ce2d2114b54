//! Every example, every standard module and the language sketch's models
//! check clean; the `circ check` command keeps its contract (exit codes,
//! JSON, `--explain`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn circ_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("circ"))
        .collect();
    v.sort();
    v
}

fn assert_clean(path: &Path) {
    let text = std::fs::read_to_string(path).expect("read");
    let (map, analysis) = circ_sema::check_source(&path.display().to_string(), &text);
    assert!(
        analysis.diagnostics.is_empty(),
        "{}",
        circ_diag::render_all_text(&analysis.diagnostics, &map, false)
    );
}

#[test]
fn examples_check_clean() {
    let files = circ_files(&repo().join("examples"));
    assert!(files.len() >= 5, "examples missing");
    for f in files {
        assert_clean(&f);
    }
}

#[test]
fn stdlib_checks_clean() {
    for (name, text) in circ_stdlib::MODULES {
        let (map, analysis) = circ_sema::check_source(&circ_sema::std_file_name(name), text);
        assert!(
            analysis.diagnostics.is_empty(),
            "{}",
            circ_diag::render_all_text(&analysis.diagnostics, &map, false)
        );
        assert!(!analysis.models.is_empty(), "std::{name} defines no model");
    }
}

#[test]
fn language_sketch_checks_clean() {
    assert_clean(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/language_sketch.circ"));
}

#[test]
fn checked_models_carry_dimensions() {
    let (_, analysis) = circ_sema::check_source("lif.circ", "use std::neurons::LIF\n");
    let lif = analysis
        .models
        .iter()
        .find(|m| m.name == "LIF")
        .expect("LIF checked");
    let v = lif.var("v").expect("v");
    assert_eq!(v.dim.name(), Some("voltage"));
    assert_eq!(lif.var("R").and_then(|r| r.dim.name()), Some("resistance"));
}

fn circ() -> Command {
    Command::new(env!("CARGO_BIN_EXE_circ"))
}

#[test]
fn cli_exit_codes_and_formats() {
    let ok = circ()
        .args(["check", "--color", "never"])
        .arg(repo().join("examples/coba.circ"))
        .output()
        .expect("run circ");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(ok.stderr.is_empty());

    let bad_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics/multi_units_in_lif.circ");
    let bad = circ()
        .args(["check", "--color", "never"])
        .arg(&bad_path)
        .output()
        .expect("run circ");
    assert_eq!(bad.status.code(), Some(1));
    let text = String::from_utf8_lossy(&bad.stderr);
    assert!(
        text.contains("cannot add voltage (mV) to current (nA)"),
        "{text}"
    );
    assert!(text.contains("3 errors found"), "{text}");
    assert!(!text.contains('\u{1b}'), "colour codes with --color never");

    let json = circ()
        .args(["check", "--format", "json"])
        .arg(&bad_path)
        .output()
        .expect("run circ");
    assert_eq!(json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    let arr = v.as_array().expect("array");
    assert_eq!(arr.len(), 3);
    assert_eq!(arr[0]["code"], "unit-mismatch");
    assert!(arr[0]["primary"]["line"].as_u64().is_some_and(|l| l >= 1));

    let missing = circ()
        .args(["check", "no/such/file.circ"])
        .output()
        .expect("run circ");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

#[test]
fn cli_explains_codes() {
    let out = circ()
        .args(["check", "--explain", "unit-mismatch"])
        .output()
        .expect("run circ");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("# `unit-mismatch`"));
    let out = circ()
        .args(["check", "--explain", "unit-mismatc"])
        .output()
        .expect("run circ");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `unit-mismatch`"));
    let out = circ()
        .args(["check", "--list-codes"])
        .output()
        .expect("run circ");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        circ_diag::CODES.len()
    );
}

#[test]
fn cli_follows_file_imports() {
    let dir = std::env::temp_dir().join(format!("circ-import-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    std::fs::write(
        dir.join("cells.circ"),
        "neuron Cell {\n    state v = 0 mV\n    dv/dt = -v / 10 ms\n}\n",
    )
    .expect("write");
    std::fs::write(dir.join("net.circ"), "use \"cells.circ\"::{Cell}\n\ncircuit C {\n    population A = Cell[3]\n    record v of A every 1 ms\n}\n").expect("write");
    std::fs::write(dir.join("bad.circ"), "use \"cells.circ\"::{Cel}\n").expect("write");
    let ok = circ()
        .arg("check")
        .arg(dir.join("net.circ"))
        .output()
        .expect("run circ");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = circ()
        .args(["check", "--color", "never"])
        .arg(dir.join("bad.circ"))
        .output()
        .expect("run circ");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("did you mean `Cell`?"));
    let _ = std::fs::remove_dir_all(&dir);
}
