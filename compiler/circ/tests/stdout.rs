//! A closed or full standard output never panics (issue 14, class 6): a
//! reader that closed the pipe ends the command quietly (0 or the shells'
//! 141), a full device is an error (exit 1) that says so, and a run's files
//! are written whole either way.

use std::path::Path;
use std::process::{Command, Stdio};

fn commands(out: &Path) -> Vec<Vec<String>> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let s = |x: &str| x.to_string();
    vec![
        vec![s("doc"), s("std")],
        vec![s("doc"), s("std::neurons::LIF")],
        vec![s("check"), s("--list-codes")],
        vec![s("check"), s("--explain"), s("unit-mismatch")],
        vec![
            s("check"),
            s("--explain-solver"),
            repo.join("examples/cobahh.circ").display().to_string(),
        ],
        vec![
            s("run"),
            s("--out"),
            out.display().to_string(),
            repo.join("examples/lif_step.circ").display().to_string(),
        ],
    ]
}

#[test]
fn a_full_standard_output_is_an_error_not_a_panic() {
    let out = std::env::temp_dir().join(format!("circ-stdout-full-{}", std::process::id()));
    for args in commands(&out) {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let o = Command::new(env!("CARGO_BIN_EXE_circ"))
            .args(&args)
            .stdout(full)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("cannot write to standard output"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // The run's files were written before anything was printed.
    assert!(out.join("summary.json").exists());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_closed_standard_output_ends_quietly() {
    let out = std::env::temp_dir().join(format!("circ-stdout-closed-{}", std::process::id()));
    for args in commands(&out) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_circ"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // The reader goes away before a byte is read.
        drop(child.stdout.take());
        let o = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            matches!(o.status.code(), Some(0 | 141)),
            "{args:?}: {:?} {err}",
            o.status
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&out);
}
