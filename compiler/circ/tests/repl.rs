//! The REPL, driven as a user drives it: transcripts in tests/data/repl
//! piped through `circ repl` (input, expected output, expected errors), a
//! session in a pseudo-terminal, and runs split across `:run`s against one
//! `circ run`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `circ repl` on piped `input` from the workspace root.
fn repl(input: &str, args: &[&str], env: &[(&str, &str)]) -> (String, String, Option<i32>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_circ"))
        .arg("repl")
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("circ starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("input written");
    let out = child.wait_with_output().expect("circ ends");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

/// Whether `text` matches `pattern`, where `{...}` matches any text.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split("{...}").collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(at) => rest = &rest[at + p.len()..],
            None => return false,
        }
    }
    true
}

/// A transcript: the input, the expected stdout and the stderr lines.
fn parse(text: &str) -> (String, String, Vec<String>) {
    let (mut input, mut out, mut err) = (String::new(), String::new(), vec![]);
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(x) = line.strip_prefix("> ").or_else(|| line.strip_prefix("| ")) {
            input.push_str(x);
            input.push('\n');
        } else if let Some(x) = line.strip_prefix("! ") {
            err.push(x.to_string());
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    (input, out, err)
}

#[test]
fn transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/repl");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("transcripts")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "repl"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "no transcripts in {}", dir.display());
    for f in files {
        let text = std::fs::read_to_string(&f).expect("transcript");
        let (input, want_out, want_err) = parse(&text);
        let (out, err, _) = repl(&input, &["--threads", "1"], &[]);
        assert!(
            glob(&want_out, &out),
            "{}: stdout differs\n--- expected ---\n{want_out}--- got ---\n{out}--- stderr ---\n{err}",
            f.display()
        );
        let mut lines = err.lines();
        for want in &want_err {
            assert!(
                lines.any(|l| glob(want, l)),
                "{}: stderr has no line `{want}` (in order)\n--- stderr ---\n{err}",
                f.display()
            );
        }
        assert!(!err.contains("panicked"), "{}: {err}", f.display());
    }
}

#[test]
fn piped_errors_give_status_1_and_a_clean_script_0() {
    assert_eq!(repl("20 ms * 5 Hz\n", &[], &[]).2, Some(0));
    assert_eq!(repl("1 mV + 1 ms\n20 ms\n", &[], &[]).2, Some(1));
    // The file argument loads as `:load` does.
    let (out, _, code) = repl(":spikes\n", &["examples/coba.circ"], &[]);
    assert_eq!(code, Some(1), "no circuit runs yet: {out}");
    assert!(out.starts_with("loaded examples/coba.circ"), "{out}");
}

/// Runs split across `:run`s write the same bytes as one `circ run`, on
/// 1 and 2 threads (every kernel split): spikes in flight in the delay
/// rings, Poisson inputs, plastic weights and recorders all carry over.
#[test]
fn split_runs_equal_one_run() {
    let tmp = std::env::temp_dir().join(format!("circ-repl-{}", std::process::id()));
    let (one, split) = (tmp.join("one"), tmp.join("split"));
    let status = Command::new(env!("CARGO_BIN_EXE_circ"))
        .args(["run", "compiler/circ/tests/data/threads.circ", "--out"])
        .arg(&one)
        .current_dir(root())
        .stdout(Stdio::null())
        .status()
        .expect("circ run");
    assert!(status.success());
    for threads in ["1", "2"] {
        let script = format!(
            ":load compiler/circ/tests/data/threads.circ\n:run 10 ms\n:run 17 ms\n:run 13 ms\n:save {}\n",
            split.display()
        );
        let (out, err, code) = repl(
            &script,
            &["--threads", threads],
            &[("CIRC_MIN_PARALLEL", "1")],
        );
        assert_eq!(code, Some(0), "{out}{err}");
        for entry in std::fs::read_dir(&one).expect("outputs") {
            let name = entry.expect("entry").file_name();
            if name == "summary.json" {
                continue;
            }
            let a = std::fs::read(one.join(&name)).expect("one");
            let b = std::fs::read(split.join(&name)).expect("split");
            assert!(a == b, "{name:?} differs on {threads} threads");
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Plots written as files are real PNG and SVG images.
#[test]
fn plots_as_files() {
    let tmp = std::env::temp_dir().join(format!("circ-repl-plots-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp");
    let (png, svg) = (tmp.join("raster.png"), tmp.join("v.svg"));
    let script = format!(
        ":load examples/coba.circ\n:run 50 ms\n:raster E > {}\n:plot E.v > {}\n:plot E.v > {}\n",
        png.display(),
        svg.display(),
        tmp.join("v.pdf").display()
    );
    let (out, err, code) = repl(&script, &["--threads", "1"], &[]);
    assert_eq!(code, Some(1), "the .pdf is refused: {out}{err}");
    assert!(err.contains("plots are written as .png or .svg"), "{err}");
    let png = std::fs::read(&png).expect("png written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 2000,
        "{} bytes",
        png.len()
    );
    let svg = std::fs::read_to_string(&svg).expect("svg written");
    assert!(
        svg.contains("<svg") && svg.contains("polyline") || svg.contains("<path"),
        "{svg:.200}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A session in a pseudo-terminal: banner, prompt, an error in a typed
/// item, the recovery after it, a multi-line item.
#[test]
fn terminal_session() {
    // History goes to $HOME/.circ_history: not the user's.
    let home = std::env::temp_dir().join(format!("circ-repl-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("home");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_circ"));
    // A known terminal: the line editor's behaviour must not depend on CI's.
    cmd.args(["repl", "--threads", "1"])
        .env("HOME", &home)
        .env("TERM", "xterm-256color");
    let mut p = rexpect::session::spawn_command(cmd, Some(20_000)).expect("pty");
    p.exp_string("REPL").expect("banner");
    p.exp_string("circ> ").expect("prompt");
    p.send_line("20 ms * 5 Hz").expect("send");
    p.exp_string("0.1").expect("value");
    p.exp_string("circ> ").expect("prompt");
    p.send_line("const g = 1 nS + 1 mV").expect("send");
    p.exp_string("cannot add").expect("the error");
    p.exp_string("<input 2>").expect("points into the input");
    p.exp_string("circ> ").expect("prompt after the error");
    // Each line waits for its prompt: the line editor drops what is typed
    // ahead while it is not reading (a paste arrives whole instead).
    for line in ["neuron N {", "  state v = 0 mV", "  dv/dt = -v / 10 ms"] {
        p.send_line(line).expect("send");
        p.exp_string("  ... ").expect("continuation prompt");
    }
    p.send_line("}").expect("send");
    p.exp_string("circ> ").expect("prompt");
    p.send_line(":items").expect("send");
    p.exp_string("dv/dt = -v / 10 ms")
        .expect("the item was kept");
    p.exp_string("circ> ").expect("prompt");
    p.send_line(":quit").expect("send");
    p.exp_eof().expect("exits");
    assert!(home.join(".circ_history").exists(), "history kept");
    let _ = std::fs::remove_dir_all(&home);
}

/// SIGTERM during a `:run` stops the run at a step boundary, says so, and
/// ends the session with 143; between runs SIGTERM ends it as usual.
#[test]
fn sigterm_stops_a_run_then_ends_the_session() {
    use std::io::Write as _;
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/coba.circ");
    let mut child = Command::new(env!("CARGO_BIN_EXE_circ"))
        .args(["repl", "--threads", "1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, ":load {}\n:run 1000 s", model.display()).expect("write");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let o = child.wait_with_output().expect("wait");
    drop(stdin);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(143), "{err}");
    assert!(
        err.contains("stopped at t =") && err.contains("SIGTERM"),
        "{err}"
    );
    // Idle: the default action (killed by the signal, no exit code).
    let mut idle = Command::new(env!("CARGO_BIN_EXE_circ"))
        .args(["repl", "--threads", "1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = Command::new("kill")
        .args(["-TERM", &idle.id().to_string()])
        .status();
    let status = idle.wait().expect("wait");
    assert!(!status.success(), "an idle REPL ignored SIGTERM");
}
