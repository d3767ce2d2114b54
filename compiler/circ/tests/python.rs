//! The Python package (bindings/python), tested with pytest as a Python
//! user meets it: its wheel built with maturin (as `pip install` builds
//! it), unpacked where only this test's Python looks, and its tests run
//! against this build's `circ` (arrays equal to `circ run`'s files, sweeps,
//! diagnostics, the GIL, Ctrl-C, and a notebook executed headless).
//! `scripts/install-deps` makes `.venv` with maturin, pytest, matplotlib
//! and nbclient.

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn pytest_passes_on_the_python_package() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = repo.join(".venv/bin");
    assert!(
        venv.join("python").exists() && venv.join("maturin").exists(),
        "{} lacks python or maturin: run scripts/install-deps",
        venv.display()
    );
    let tmp = common::TempDir::new("python");
    let wheels = tmp.0.join("wheels");
    let built = Command::new(venv.join("maturin"))
        .args(["build", "--quiet", "-m"])
        .arg(repo.join("bindings/python/Cargo.toml"))
        .arg("--interpreter")
        .arg(venv.join("python"))
        .arg("--out")
        .arg(&wheels)
        .output()
        .expect("maturin runs");
    assert!(
        built.status.success(),
        "maturin build failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let wheel = std::fs::read_dir(&wheels)
        .expect("the wheel folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .expect("a wheel");
    let site = tmp.0.join("site");
    let unpacked = Command::new(venv.join("python"))
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&site)
        .status()
        .expect("python runs");
    assert!(unpacked.success(), "cannot unpack {}", wheel.display());
    let out = Command::new(venv.join("python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(repo.join("bindings/python/tests"))
        .current_dir(&repo)
        // This build's package first (an installed one stays as it was),
        // compared with this build's command line.
        .env("PYTHONPATH", &site)
        .env("CIRC_BIN", env!("CARGO_BIN_EXE_circ"))
        .output()
        .expect("pytest runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "pytest failed:\n{text}");
    assert!(text.contains(" passed"), "{text}");
    assert!(!text.contains("skipped"), "every test ran:\n{text}");
}
