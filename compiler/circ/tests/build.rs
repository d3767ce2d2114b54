//! `circ build` executables run every example without circ and write the
//! same bytes as `circ run`; their options behave like `circ run`'s.

mod common;

use std::path::Path;
use std::process::Command;

fn circ() -> Command {
    Command::new(env!("CARGO_BIN_EXE_circ"))
}

fn ok(cmd: &mut Command, what: &str) -> String {
    let o = cmd.output().expect(what);
    assert!(
        o.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn executables_match_circ_run_on_every_example() {
    let tmp = std::env::temp_dir().join(format!("circ-build-test-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp");
    // Every example with the default (LLVM's code), a few with Cranelift's
    // and with LLVM's for another CPU level.
    let mut cases: Vec<(std::path::PathBuf, &[&str])> = common::examples()
        .into_iter()
        .map(|f| (f, &[][..]))
        .collect();
    for name in ["coba.circ", "brunel2000.circ", "stdp_song2000.circ"] {
        let f = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(name);
        cases.push((f.clone(), &["--backend", "jit"][..]));
        cases.push((f, &["--target-cpu", "x86-64-v2"][..]));
    }
    for (f, extra) in cases {
        let exe = tmp.join("model");
        ok(
            circ()
                .args(["build", "--color", "never", "-o"])
                .arg(&exe)
                .args(extra)
                .arg(&f),
            "circ build",
        );
        let (a, b) = (tmp.join("run"), tmp.join("exe"));
        let _ = std::fs::remove_dir_all(&a);
        let _ = std::fs::remove_dir_all(&b);
        ok(
            circ()
                .args(["run", "--duration", "30 ms", "--threads", "2", "--out"])
                .arg(&a)
                .arg(&f),
            "circ run",
        );
        ok(
            Command::new(&exe)
                .args(["--duration", "30 ms", "--threads", "1", "--out"])
                .arg(&b),
            "the built executable",
        );
        let (x, y) = (common::outputs(&a), common::outputs(&b));
        assert!(!x.is_empty(), "{}: nothing recorded", f.display());
        assert_eq!(x.len(), y.len(), "{}: different files", f.display());
        for ((na, da), (nb, db)) in x.iter().zip(&y) {
            assert_eq!(na, nb);
            assert!(
                da == db,
                "{} {extra:?}: {na} differs from circ run's",
                f.display()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn executable_options_are_checked() {
    let tmp = std::env::temp_dir().join(format!("circ-build-opts-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp");
    let exe = tmp.join("lif");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lif_step.circ");
    ok(
        circ().args(["build", "-o"]).arg(&exe).arg(&model),
        "circ build",
    );
    // The time step is compiled in: another one is refused, the same accepted.
    let o = Command::new(&exe)
        .args(["--dt", "0.1 ms", "--out"])
        .arg(tmp.join("a"))
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("compiled for dt = 0.01 ms"), "{err}");
    assert!(!tmp.join("a").exists(), "a refused run wrote files");
    ok(
        Command::new(&exe)
            .args([
                "--dt",
                "0.01 ms",
                "--duration",
                "5 ms",
                "--seed",
                "3",
                "--out",
            ])
            .arg(tmp.join("b")),
        "same dt",
    );
    let summary = std::fs::read_to_string(tmp.join("b/summary.json")).expect("summary");
    assert!(summary.contains("\"seed\": 3"), "{summary}");
    assert!(summary.contains("\"steps\": 500"), "{summary}");
    let o = Command::new(&exe)
        .args(["--duration", "5 volts"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--duration"));
    // A model with errors builds nothing.
    let bad = tmp.join("bad.circ");
    std::fs::write(&bad, "neuron N { state v = 0 mV\n dv/dt = v }\n").expect("write");
    let o = circ()
        .args(["build", "--color", "never", "-o"])
        .arg(tmp.join("bad"))
        .arg(&bad)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));
    assert!(!tmp.join("bad").exists());
    let _ = std::fs::remove_dir_all(&tmp);
}

/// An executable is the runner with the model appended: it runs from any
/// folder (no library beside it), the runner alone says it has no model,
/// and `circ build` refuses a runner from another build.
#[test]
fn executables_stand_alone_and_the_runner_is_checked() {
    let tmp = std::env::temp_dir().join(format!("circ-build-alone-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lif_step.circ");
    let exe = tmp.join("lif");
    ok(
        circ().args(["build", "-o"]).arg(&exe).arg(&model),
        "circ build",
    );
    // Moved away from the build tree, run from elsewhere.
    let far = tmp.join("far/away");
    std::fs::create_dir_all(&far).expect("far");
    std::fs::rename(&exe, far.join("lif")).expect("move");
    let out = ok(
        Command::new(far.join("lif"))
            .current_dir(&far)
            .args(["--out", "o"]),
        "moved executable",
    );
    assert!(out.contains("10 spikes"), "{out}");
    // The runner alone.
    let o = Command::new(env!("CARGO_BIN_EXE_circ-runner"))
        .output()
        .expect("runner");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no model appended"));
    // A runner from elsewhere (here: not a runner at all) is refused.
    let fake = tmp.join("fake-runner");
    std::fs::write(&fake, b"not a runner").expect("fake");
    let o = circ()
        .args(["build", "-o"])
        .arg(tmp.join("x"))
        .arg(&model)
        .env("CIRC_RUNNER", &fake)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not circ's runner"));
    assert!(!tmp.join("x").exists());
    let _ = std::fs::remove_dir_all(&tmp);
}

/// `circ build` never overwrites an input: the model file, a module it
/// imports, or a data file it reads (a symlink to one included). It refuses
/// before writing anything, and the input is unchanged.
#[test]
fn circ_build_never_overwrites_an_input() {
    let tmp = std::env::temp_dir().join(format!("circ-build-inputs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("data")).expect("tmp");
    let cell = "neuron Cell {\n    state v = 0 mV\n    dv/dt = -v / 10 ms\n    spike when v > 1 mV { v = 0 mV }\n}\n";
    let edges = "pre,post\n0,1\n1,0\n";
    let model = "use \"cell.circ\"::{Cell}\nuse std::synapses::Delta\ncircuit C {\n    population P = Cell[2]\n    project P -> P : Delta(w = 2 mV) connect from \"data/edges.csv\"(source = \"pre\", target = \"post\")\n}\nrun C for 1 ms\n";
    std::fs::write(tmp.join("cell.circ"), cell).expect("write");
    std::fs::write(tmp.join("data/edges.csv"), edges).expect("write");
    std::fs::write(tmp.join("m.circ"), model).expect("write");
    std::os::unix::fs::symlink(tmp.join("m.circ"), tmp.join("link.circ")).expect("symlink");
    for (target, what) in [
        ("m.circ", "the model file"),
        ("link.circ", "the model file"),
        ("cell.circ", "a file the model reads"),
        ("data/edges.csv", "a file the model reads"),
    ] {
        let o = circ()
            .current_dir(&tmp)
            .args(["build", "m.circ", "-o", target])
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "-o {target}: {err}");
        assert!(
            err.contains(what) && err.contains("never overwrites"),
            "-o {target}: {err}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(tmp.join("m.circ")).expect("m"),
        model
    );
    assert_eq!(
        std::fs::read_to_string(tmp.join("cell.circ")).expect("cell"),
        cell
    );
    assert_eq!(
        std::fs::read_to_string(tmp.join("data/edges.csv")).expect("edges"),
        edges
    );
    // Another name builds.
    ok(
        circ()
            .current_dir(&tmp)
            .args(["build", "m.circ", "-o", "m"]),
        "circ build -o m",
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
