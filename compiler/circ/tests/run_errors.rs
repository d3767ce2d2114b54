//! `circ run` on bad data and impossible networks: every failure is a clear
//! message naming the file and line, or the model location, and never a
//! panic or a half-written output; interruptions leave complete files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn circ() -> Command {
    Command::new(env!("CARGO_BIN_EXE_circ"))
}

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("circ-run-errors-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("tmp dir");
        Dir(d)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }
    fn run(&self, model: &Path, env: &[(&str, &str)]) -> (Output, String) {
        let mut cmd = circ();
        cmd.args(["run", "--color", "never", "--out"])
            .arg(self.0.join("out"))
            .arg(model);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let o = cmd.output().expect("run circ");
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        (o, err)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const FILE_NET: &str = "use std::neurons::LIF\nuse std::synapses::ExpCurr\n\ncircuit C {\n    population A = LIF[3]\n    project syn = A -> A : ExpCurr connect from \"edges.csv\"(source = \"pre\", target = \"post\", w = \"weight\")\n    record w of syn\n}\n\nrun C for 1 ms\n";

#[test]
fn edge_files_load_and_their_errors_name_file_and_line() {
    let d = Dir::new("edges");
    let model = d.write("net.circ", FILE_NET);
    d.write(
        "edges.csv",
        "pre,post,weight\n0,1,1e-10\n1,2,2e-10\n2,0,3e-10\n",
    );
    let (o, err) = d.run(&model, &[]);
    assert!(o.status.success(), "{err}");
    let bytes = std::fs::read(d.0.join("out/syn_w.npy")).expect("weights recorded");
    let tail: Vec<f64> = bytes[bytes.len() - 24..]
        .chunks(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8")))
        .collect();
    assert_eq!(tail, vec![1e-10, 2e-10, 3e-10]);
    std::fs::remove_dir_all(d.0.join("out")).expect("clean");

    for (csv, want) in [
        (
            "pre,post\n0,1\n",
            "no column `weight` (its columns are: post, pre)",
        ),
        (
            "pre,post,weight\n0,x,1\n",
            "edges.csv: line 2, column `post`: `x` is not a number",
        ),
        (
            "pre,post,weight\n0,7,1\n",
            "edges.csv: line 2, column `post`: 7 is not a neuron of the population (it has 3,",
        ),
        ("", "the file is empty"),
        (
            "pre,post,weight\n0,1\n",
            "line 2: 2 values, but the header names 3 columns",
        ),
    ] {
        d.write("edges.csv", csv);
        let (o, err) = d.run(&model, &[]);
        assert_eq!(o.status.code(), Some(1), "{csv:?}: {err}");
        assert!(err.contains(want), "{csv:?}: {err}");
        assert!(
            err.contains("net.circ:6:5"),
            "the message names the projection: {err}"
        );
        assert!(!d.0.join("out").exists(), "a failed run wrote files");
    }
    std::fs::remove_file(d.0.join("edges.csv")).expect("rm");
    let (o, err) = d.run(&model, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("cannot read") && err.contains("edges.csv"),
        "{err}"
    );
}

#[test]
fn impossible_parameters_are_refused() {
    let d = Dir::new("params");
    let p = d.write("p.circ", "use std::neurons::LIF\nuse std::synapses::ExpCurr\ncircuit C {\n    population A = LIF[10]\n    project A -> A : ExpCurr connect bernoulli(1.5)\n}\nrun C for 1 ms\n");
    let (o, err) = d.run(&p, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("[invalid-value]") && err.contains("between 0 and 1"),
        "{err}"
    );
    let neg = d.write("neg.circ", "use std::neurons::LIF\nuse std::synapses::ExpCurr\ncircuit C {\n    population A = LIF[10]\n    project A -> A : ExpCurr connect all_to_all delay normal(-5 ms, 1 ms)\n}\nrun C for 1 ms\n");
    let (o, err) = d.run(&neg, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("neg.circ:5:5")
            && err.contains("synapse 0 (A[0] -> A[1]) has the delay -0.00592")
            && err.contains("delays must be finite, not negative and at most 4294967295 steps"),
        "{err}"
    );
    let deg = d.write("deg.circ", "use std::neurons::LIF\nuse std::synapses::ExpCurr\ncircuit C {\n    population A = LIF[10]\n    project A -> A : ExpCurr connect fixed_indegree(20)\n}\nrun C for 1 ms\n");
    let (o, err) = d.run(&deg, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains(
            "fixed_indegree(20) needs 20 distinct sources per neuron, but only 9 are available"
        ),
        "{err}"
    );
}

#[test]
fn a_network_too_large_for_memory_is_refused_with_the_estimate() {
    let d = Dir::new("memory");
    let big = d.write("big.circ", "use std::neurons::LIF\nuse std::synapses::ExpCurr\ncircuit C {\n    population A = LIF[100000]\n    project A -> A : ExpCurr connect all_to_all\n}\nrun C for 1 ms\n");
    let (o, err) = d.run(&big, &[("CIRC_MEMORY_LIMIT", "1000000000")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("the network needs about")
            && err.contains("1.000e10 synapses")
            && err.contains("only 953.7 MiB of memory is available"),
        "{err}"
    );
}

#[test]
fn delays_off_the_grid_are_rounded_with_a_warning() {
    let d = Dir::new("delays");
    let m = d.write("d.circ", "use std::neurons::LIF\nuse std::synapses::Delta\ncircuit C {\n    population A = LIF[2]\n    project A -> A : Delta connect all_to_all delay 0.25 ms\n}\nrun C for 1 ms { dt = 0.1 ms }\n");
    let (o, err) = d.run(&m, &[]);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("warning: A -> A (")
            && err.contains("delays are rounded to whole steps of 0.1 ms, by up to 0.0500 ms"),
        "{err}"
    );
}

/// Checks that `out` holds a complete, interrupted run's files.
fn assert_complete_interrupted(out: &std::path::Path, why: &str) {
    let summary = std::fs::read_to_string(out.join("summary.json")).expect("summary");
    assert!(
        summary.contains("\"completed\": false")
            && summary.contains("interrupted")
            && summary.contains(why),
        "{summary}"
    );
    // The state file is whole: its header's shape matches its data.
    let v = std::fs::read(out.join("A_v.npy")).expect("v");
    let hlen = u16::from_le_bytes([v[8], v[9]]) as usize;
    let header = String::from_utf8_lossy(&v[10..10 + hlen]).into_owned();
    let rows: usize = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.trim().parse().ok())
        .expect("rows");
    assert!(rows > 0);
    assert_eq!(v.len(), 10 + hlen + rows * 3 * 8);
    assert!(std::fs::read_dir(out).expect("out").all(|e| {
        !e.expect("entry")
            .path()
            .to_string_lossy()
            .ends_with(".partial")
    }));
}

const LONG: &str = "use std::neurons::LIF\ncircuit C {\n    population A = LIF[2000](I_ext = 0.2 nA) { v = uniform(-65 mV, -50 mV) }\n    record spikes of A\n    record v of A[0..3] every 1 ms\n}\nrun C for 1000 s\n";

/// SIGINT (Ctrl-C), SIGTERM (Slurm, `timeout`, `docker stop`) and SIGHUP (a
/// closed terminal), at different moments: the run stops at a step
/// boundary, writes complete files, says which signal in summary.json, and
/// exits with 128 + the signal.
#[test]
fn an_interrupted_run_leaves_complete_files() {
    let d = Dir::new("interrupt");
    let m = d.write("long.circ", LONG);
    for (k, (sig, code, name, wait_ms)) in [
        ("INT", 130, "SIGINT", 1500),
        ("TERM", 143, "SIGTERM", 1200),
        ("HUP", 129, "SIGHUP", 1800),
    ]
    .into_iter()
    .enumerate()
    {
        let out = d.0.join(format!("out{k}"));
        let child = circ()
            .args(["run", "--color", "never", "--out"])
            .arg(&out)
            .arg(&m)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(wait_ms));
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status();
        let o = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{sig}: {err}");
        assert!(
            err.contains("interrupted at t =") && err.contains(name),
            "{sig}: {err}"
        );
        assert_complete_interrupted(&out, name);
    }
}

/// A built executable stops the same way on SIGTERM.
#[test]
fn an_executable_stopped_by_sigterm_leaves_complete_files() {
    let d = Dir::new("interrupt-exe");
    let m = d.write("long.circ", LONG);
    let exe = d.0.join("long");
    let o = circ()
        .args(["build", "-o"])
        .arg(&exe)
        .arg(&m)
        .output()
        .expect("build");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = d.0.join("out");
    let child = Command::new(&exe)
        .arg("--out")
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let o = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(143), "{err}");
    assert_complete_interrupted(&out, "SIGTERM");
}

/// Synapse count recorded in `PROJ_w.npy` (its second dimension).
fn synapses(dir: &Path, file: &str) -> usize {
    let v = std::fs::read(dir.join(file)).expect("weights");
    let hlen = u16::from_le_bytes([v[8], v[9]]) as usize;
    let header = String::from_utf8_lossy(&v[10..10 + hlen]).into_owned();
    header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(',').nth(1))
        .and_then(|s| s.trim().trim_end_matches(')').trim().parse().ok())
        .expect("shape")
}

#[test]
fn distance_and_where_rules_make_the_expected_synapses() {
    let d = Dir::new("distance");
    let m = d.write(
        "dist.circ",
        "use std::neurons::LIF\nuse std::synapses::ExpCurr\ncircuit C {\n    population E = LIF[400] at grid(20, 10 um)\n    project near = E -> E : ExpCurr connect distance(p = exp(-d / 15 um))\n    project odd = E -> E : ExpCurr connect bernoulli(0.5) where (i + j) % 2 == 1\n    record w of near\n    record w of odd\n}\nrun C for 0.1 ms\n",
    );
    let (o, err) = d.run(&m, &[]);
    assert!(o.status.success(), "{err}");
    // The expected count: the sum of p(d) over all ordered pairs but self-pairs.
    let pos = |k: usize| ((k % 20) as f64 * 10.0, (k / 20) as f64 * 10.0);
    let mut expect = 0.0;
    let mut var = 0.0;
    for a in 0..400 {
        for b in 0..400 {
            if a != b {
                let ((x1, y1), (x2, y2)) = (pos(a), pos(b));
                let p = (-((x1 - x2).powi(2) + (y1 - y2).powi(2)).sqrt() / 15.0).exp();
                expect += p;
                var += p * (1.0 - p);
            }
        }
    }
    let got = synapses(&d.0.join("out"), "near_w.npy") as f64;
    assert!(
        (got - expect).abs() < 5.0 * var.sqrt(),
        "{got} synapses, expected {expect:.0}"
    );
    // Pairs with i + j odd: 400 * 200, half of them kept.
    let odd = synapses(&d.0.join("out"), "odd_w.npy") as f64;
    assert!((odd - 40_000.0).abs() < 5.0 * 20_000f64.sqrt(), "{odd}");
    let no_pos = d.write("nopos.circ", "use std::neurons::LIF\nuse std::synapses::ExpCurr\ncircuit C {\n    population E = LIF[4]\n    project E -> E : ExpCurr connect distance(p = exp(-d / 15 um))\n}\nrun C for 1 ms\n");
    let (o, err) = d.run(&no_pos, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("`distance` needs positions for `E` and `E`"),
        "{err}"
    );
}

#[test]
fn spike_times_and_timed_inputs_from_files() {
    let d = Dir::new("inputs");
    d.write("sp.csv", "t,i\n0.001,0\n0.002,1\n0.0025,0\n");
    d.write("cur.csv", "I\n0\n0.5\n1\n");
    let m = d.write(
        "f.circ",
        "use std::neurons::LIF\ncircuit C {\n    population S = spikes[2](times = from \"sp.csv\", indices = from \"sp.csv\")\n    population N = LIF[1](I_ext = timed(from \"cur.csv\", 2 ms, 1 nA))\n    record spikes of S\n    record v of N every 1 ms\n}\nrun C for 8 ms\n",
    );
    let (o, err) = d.run(&m, &[]);
    assert!(o.status.success(), "{err}");
    let spikes = std::fs::read_to_string(d.0.join("out/S_spikes.csv")).expect("spikes");
    assert_eq!(
        spikes,
        "t_s,index\n1.000000e-3,0\n2.000000e-3,1\n2.500000e-3,0\n"
    );
    // The current is 0 until 2 ms, then 0.5 nA, then 1 nA: v leaves rest only after 2 ms.
    let v = std::fs::read(d.0.join("out/N_v.npy")).expect("v");
    let hlen = u16::from_le_bytes([v[8], v[9]]) as usize;
    let vals: Vec<f64> = v[10 + hlen..]
        .chunks(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8")))
        .collect();
    assert!(
        vals[..3].iter().all(|x| (x + 0.065).abs() < 1e-12),
        "{vals:?}"
    );
    assert!(vals[3] > -0.065 && vals[5] > vals[4], "{vals:?}");
    std::fs::remove_dir_all(d.0.join("out")).expect("clean");
    for (csv, want) in [
        ("t\n0.001\n", "sp.csv: no column `i` (its columns are: t)"),
        (
            "t,i\n-1,0\n",
            "sp.csv: line 2, column `t`: the time -1 s is not a spike time",
        ),
        (
            "t,i\n# a comment\n0.001,1\n\n0.002,5\n",
            "sp.csv: line 5, column `i`: 5 is not a neuron of the population (it has 2, indices 0 to 1)",
        ),
        (
            "t,i\n0.001,1\n0.00104,1\n",
            "sp.csv: neuron 1 would spike twice in the step at 1 ms: two of its times round to the same step of 0.1 ms",
        ),
    ] {
        d.write("sp.csv", csv);
        let (o, err) = d.run(&m, &[]);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains(want) && err.contains("f.circ:3:16"),
            "{csv:?}: {err}"
        );
    }
    d.write("sp.csv", "t,i\n0.001,0\n");
    std::fs::remove_file(d.0.join("cur.csv")).expect("rm");
    let (o, err) = d.run(&m, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("f.circ:4:35") && err.contains("cannot read") && err.contains("cur.csv"),
        "{err}"
    );
}

#[test]
fn connection_matrices_from_files() {
    let d = Dir::new("matrix");
    d.write("m.csv", "0,1,0\n1,0,1\n0,0,0\n");
    let m = d.write("m.circ", "use std::neurons::LIF\nuse std::synapses::ExpCurr\ncircuit C {\n    population A = LIF[3]\n    project syn = A -> A : ExpCurr connect matrix(from \"m.csv\") autapses\n    record w of syn\n}\nrun C for 0.1 ms\n");
    let (o, err) = d.run(&m, &[]);
    assert!(o.status.success(), "{err}");
    assert_eq!(synapses(&d.0.join("out"), "syn_w.npy"), 3);
    std::fs::remove_dir_all(d.0.join("out")).expect("clean");
    d.write("m.csv", "0,1\n1,0\n");
    let (o, err) = d.run(&m, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("the matrix is 2 x 2, but the populations have 3 and 3 neurons")
            && err.contains("m.circ:5:5"),
        "{err}"
    );
}

#[test]
fn emitted_text_into_a_closed_pipe_stops_quietly() {
    // `circ run --emit ir FILE | head -1`: the reader goes away early.
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/coba.circ");
    for emit in ["ir", "clif"] {
        let mut child = circ()
            .args(["run", "--emit", emit])
            .arg(&model)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run circ");
        drop(child.stdout.take());
        let o = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "--emit {emit}: {err}");
        assert!(o.status.success(), "--emit {emit}: {err}");
    }
}

const SHORT: &str = "use std::neurons::LIF\ncircuit C {\n    population A = LIF[20](I_ext = 0.3 nA)\n    record v of A[0..3] every 1 ms\n}\nrun C for 50 ms\n";
const SPIKES_ONLY: &str = "use std::neurons::LIF\ncircuit C {\n    population A = LIF[20](I_ext = 0.3 nA)\n    record spikes of A\n}\nrun C for 50 ms\n";
const WIDE: &str = "use std::neurons::LIF\ncircuit C {\n    population A = LIF[200](I_ext = 0.3 nA)\n    record v of A\n}\nrun C for 100 ms\n";

/// Every file in `dir` with its bytes, sorted by name.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| {
            let p = e.expect("entry").path();
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).expect("read");
            (name, bytes)
        })
        .collect();
    v.sort();
    v
}

fn run_into(model: &Path, out: &Path) -> (Option<i32>, String) {
    let o = circ()
        .args(["run", "--color", "never", "--out"])
        .arg(out)
        .arg(model)
        .output()
        .expect("run circ");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The output folder is checked before the run starts: a file, a place
/// nobody may write, or a folder another run holds is refused with exit 2
/// and nothing is run or changed.
#[test]
fn the_output_folder_is_checked_and_locked_before_the_run() {
    let d = Dir::new("outdir");
    let short = d.write("short.circ", SHORT);
    let file = d.write("results", "my notes\n");
    let (code, err) = run_into(&short, &file);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is a file, not a folder"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).expect("file"), "my notes\n");
    let (code, err) = run_into(&short, Path::new("/proc/circ-out"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("/proc/circ-out: cannot write there"), "{err}");

    // A long run holds the folder; a second run into it is refused, and
    // the first still ends with complete files of its own.
    let long = d.write("long.circ", LONG);
    let out = d.0.join("shared");
    let child = circ()
        .args(["run", "--color", "never", "--out"])
        .arg(&out)
        .arg(&long)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let lock = out.join(".circ-lock");
    let pid = child.id().to_string();
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(&lock).ok().as_deref() != Some(pid.as_str()) {
        assert!(t0.elapsed().as_secs() < 30, "the first run never locked");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (code, err) = run_into(&short, &out);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "another circ run (process {pid}) is writing to it"
        )),
        "{err}"
    );
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(143));
    assert_complete_interrupted(&out, "SIGTERM");
}

/// A reused folder holds one run's files: the next run's replace them
/// (files circ did not write stay), and a write that fails (here a
/// file-size limit, as a full disk would) removes its partial files, says
/// how much was needed and leaves the previous run's files as they were.
#[test]
fn a_reused_folder_holds_one_run_and_a_failed_write_changes_nothing() {
    let d = Dir::new("reuse");
    let out = d.0.join("out");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::write(out.join("analysis.py"), "import numpy\n").expect("write");
    let (code, err) = run_into(&d.write("short.circ", SHORT), &out);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.join("A_v.npy").exists());
    let (code, err) = run_into(&d.write("spikes.circ", SPIKES_ONLY), &out);
    assert_eq!(code, Some(0), "{err}");
    let names: Vec<String> = contents(&out).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            ".circ-files",
            "A_spikes.csv",
            "A_spikes_i.npy",
            "A_spikes_t.npy",
            "analysis.py",
            "summary.json"
        ]
    );
    let summary = std::fs::read_to_string(out.join("summary.json")).expect("summary");
    for n in &names[1..4] {
        assert!(summary.contains(&format!("\"{n}\"")), "{summary}");
    }

    let before = contents(&out);
    let wide = d.write("wide.circ", WIDE);
    let o = Command::new("sh")
        .arg("-c")
        .arg("ulimit -f 100 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_circ"))
        .args(["run", "--color", "never", "--out"])
        .arg(&out)
        .arg(&wide)
        .output()
        .expect("run circ");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("A_v.npy: File too large")
            && err.contains("the recordings need 1.6 MB in all")
            && err.contains("the partial files were removed"),
        "{err}"
    );
    let after = contents(&out);
    assert!(
        before == after,
        "the folder changed: {:?}",
        after.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
}

const GROW: &str = "use std::neurons::LIF\nsynapse Grow {\n    state w = 1\n    pre state x = 1\n    post state y = 1\n    on pre {\n        w = w * 1e100\n    }\n}\ncircuit C {\n    population In = poisson[5](rate = 200 Hz)\n    population N = LIF[2]\n    project syn = In -> N : Grow connect all_to_all\n    record spikes of In\n    record w of syn every 1 ms\n}\nrun C for 100 ms\n";

/// A synapse state, a presynaptic or a postsynaptic state of a projection
/// that becomes infinite stops the run as a neuron state does: exit 1, the
/// message names the variable, the synapse or neuron, the projection and
/// its line, the time; the recordings so far are written whole.
#[test]
fn blow_ups_in_synapse_pre_and_post_states_stop_the_run() {
    let d = Dir::new("blowup");
    for (name, src, place, when) in [
        (
            "syn",
            GROW.to_string(),
            "`w` of synapse 2 (In[1] -> N[0]) of projection `syn` (",
            "became inf by t = 20.0000 ms",
        ),
        (
            "pre",
            GROW.replace("w = w * 1e100", "x = x * 1e100"),
            "`x` of presynaptic In[1] of projection `syn` (",
            "became inf by t = 20.0000 ms",
        ),
        (
            "post",
            GROW.replace("w = w * 1e100", "w = w").replace(
                "post state y = 1\n",
                "post state y = 1\n    dy/dt = y / 0.01 ms\n",
            ),
            "`y` of postsynaptic N[0] of projection `syn` (",
            "became inf by t = 10.0000 ms",
        ),
    ] {
        let m = d.write(&format!("{name}.circ"), &src);
        let out = d.0.join(format!("out-{name}"));
        for backend in ["jit", "interp"] {
            let o = circ()
                .args(["run", "--color", "never", "--backend", backend, "--out"])
                .arg(&out)
                .arg(&m)
                .output()
                .expect("run circ");
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{name} {backend}: {err}");
            let line = if name == "post" { 14 } else { 13 };
            assert!(
                err.contains(&format!("{place}{}:{line}:5) {when}", m.display())),
                "{name} {backend}: {err}"
            );
            let summary = std::fs::read_to_string(out.join("summary.json")).expect("summary");
            assert!(
                summary.contains("\"completed\": false") && summary.contains("became inf"),
                "{summary}"
            );
            let w = std::fs::read(out.join("syn_w.npy")).expect("weights recorded");
            let hlen = u16::from_le_bytes([w[8], w[9]]) as usize;
            let header = String::from_utf8_lossy(&w[10..10 + hlen]).into_owned();
            assert!(header.contains("'shape': ("), "{header}");
            assert_eq!(
                (w.len() - 10 - hlen) % (10 * 8),
                0,
                "whole rows of 10 synapses"
            );
        }
    }
}

/// Writes a `.npy` of a raw header and data.
fn npy(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((header.len() as u16).to_le_bytes());
    b.extend(header.as_bytes());
    b.extend(data);
    b
}

/// Broken data files of every kind (edge lists, spike times, matrices,
/// timed inputs; CSV and .npy; empty types, absurd shapes, wrong types,
/// NaN values): `circ run` refuses each with exit 1, naming the file, the
/// row or line and the column, and the model line that reads it; no output
/// folder is made. Big-endian files are read, not refused.
#[test]
fn corrupt_data_files_are_refused_naming_file_row_and_column() {
    let d = Dir::new("corrupt");
    let edges = d.write("edges.circ", FILE_NET);
    let edges_npy = d.write(
        "edges_npy.circ",
        &FILE_NET.replace("edges.csv", "edges.npy"),
    );
    let spikes = d.write("spikes.circ", "use std::neurons::LIF\ncircuit C {\n    population S = spikes[2](times = from \"sp.npy\", indices = from \"ix.csv\")\n    record spikes of S\n}\nrun C for 8 ms\n");
    let matrix = d.write("matrix.circ", "use std::neurons::LIF\nuse std::synapses::ExpCurr\ncircuit C {\n    population A = LIF[2]\n    project syn = A -> A : ExpCurr connect matrix(from \"m.npy\") autapses\n}\nrun C for 0.1 ms\n");
    let timed = d.write("timed.circ", "use std::neurons::LIF\ncircuit C {\n    population N = LIF[1](I_ext = timed(from \"cur.csv\", 2 ms, 1 nA))\n}\nrun C for 1 ms\n");
    let f8 = |v: &[f64]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let structured = "{'descr': [('pre', '<i8'), ('post', '<i8'), ('weight', '<f8')], 'fortran_order': False, 'shape': (SHAPE,), }";
    let row = |i: i64, j: i64, w: f64| -> Vec<u8> {
        [i.to_le_bytes(), j.to_le_bytes(), w.to_le_bytes()].concat()
    };
    let cases: Vec<(&Path, &str, Vec<u8>, &str, &str)> = vec![
        (
            &edges,
            "edges.csv",
            b"pre,post,weight\n0,1,1e-10\n1,2,nan\n".to_vec(),
            "edges.csv: line 3, column `weight`: NaN is not a finite number",
            "edges.circ:6:5",
        ),
        (
            &edges,
            "edges.csv",
            b"pre,post,weight\n0,1,inf\n".to_vec(),
            "edges.csv: line 2, column `weight`: inf is not a finite number",
            "edges.circ:6:5",
        ),
        (
            &edges,
            "edges.csv",
            b"pre,pre,weight\n0,1,1\n".to_vec(),
            "edges.csv: line 1: the column `pre` is named twice",
            "edges.circ:6:5",
        ),
        (
            &edges,
            "edges.csv",
            b"pre,post,weight\n0,1e30,1\n".to_vec(),
            "edges.csv: line 2, column `post`: 1000000000000000000000000000000 is not a neuron",
            "edges.circ:6:5",
        ),
        (
            &edges_npy,
            "edges.npy",
            npy(
                &structured.replace("SHAPE", "2"),
                &[row(0, 1, 1.0), row(2, 0, f64::NAN)].concat(),
            ),
            "edges.npy: row 2, column `weight`: NaN is not a finite number",
            "edges_npy.circ:6:5",
        ),
        (
            &edges_npy,
            "edges.npy",
            npy(
                &structured.replace("SHAPE", "2305843009213693952"),
                &row(0, 1, 1.0),
            ),
            "edges.npy: not a valid .npy file: the shape [2305843009213693952] is larger than any file could hold",
            "edges_npy.circ:6:5",
        ),
        (
            &edges_npy,
            "edges.npy",
            npy(
                &structured.replace("SHAPE", "99999999999999999999"),
                &row(0, 1, 1.0),
            ),
            "the number 99999999999999999999 in the header is too large",
            "edges_npy.circ:6:5",
        ),
        (
            &edges_npy,
            "edges.npy",
            npy(
                "{'descr': '', 'fortran_order': False, 'shape': (3,), }",
                &f8(&[0.0, 1.0, 2.0]),
            ),
            "edges.npy: not a valid .npy file: the type string (`descr`) is empty",
            "edges_npy.circ:6:5",
        ),
        (
            &edges_npy,
            "edges.npy",
            npy(
                &structured
                    .replace("'<f8'", "'<M8[ns]'")
                    .replace("SHAPE", "1"),
                &row(0, 1, 1.0),
            ),
            "field `weight`: the type `<M8[ns]` is not a number type",
            "edges_npy.circ:6:5",
        ),
        (
            &edges_npy,
            "edges.npy",
            npy(&structured.replace("SHAPE", "3"), &row(0, 1, 1.0)),
            "the data is cut short: the shape [3] needs 72 bytes, the file has 24",
            "edges_npy.circ:6:5",
        ),
        (
            &spikes,
            "sp.npy",
            npy(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
                &f8(&[0.001, -0.5]),
            ),
            "sp.npy: row 2, column `values`: the time -0.5 s is not a spike time",
            "spikes.circ:3:16",
        ),
        (
            &spikes,
            "sp.npy",
            npy(
                "{'descr': '<f8', 'fortran_order': True, 'shape': (2,), }",
                &f8(&[0.001, 0.002]),
            ),
            "Fortran-ordered arrays are not supported",
            "spikes.circ:3:16",
        ),
        (
            &spikes,
            "sp.npy",
            b"\x93NUMPY\x01\x00\xff\x7f{'descr'".to_vec(),
            "sp.npy: not a valid .npy file: the header is cut short (32767 bytes announced",
            "spikes.circ:3:16",
        ),
        (
            &matrix,
            "m.npy",
            npy(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
                &f8(&[0.0, 1.0, f64::NAN, 0.0]),
            ),
            "m.npy: row 2, column 0: NaN is not a finite number",
            "matrix.circ:5:5",
        ),
        (
            &matrix,
            "m.npy",
            npy(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2305843009213693952), }",
                &f8(&[0.0]),
            ),
            "does not fit the file",
            "matrix.circ:5:5",
        ),
        (
            &timed,
            "cur.csv",
            b"I\n0.5\nnan\n".to_vec(),
            "cur.csv: line 3, column `I`: NaN is not a finite number",
            "timed.circ:3:35",
        ),
    ];
    d.write("ix.csv", "i\n0\n1\n");
    for (model, file, bytes, want, origin) in cases {
        std::fs::write(d.0.join(file), &bytes).expect("write data");
        let (o, err) = d.run(model, &[]);
        assert_eq!(o.status.code(), Some(1), "{want}: {err}");
        assert!(err.contains(want) && err.contains(origin), "{want}: {err}");
        assert!(
            !d.0.join("out").exists(),
            "{want}: a failed run made its folder"
        );
        std::fs::remove_file(d.0.join(file)).expect("rm");
    }
    // A big-endian file is read as such.
    let mut be = vec![];
    for t in [0.001f64, 0.002] {
        be.extend(t.to_be_bytes());
    }
    std::fs::write(
        d.0.join("sp.npy"),
        npy(
            "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }",
            &be,
        ),
    )
    .expect("write");
    let (o, err) = d.run(&spikes, &[]);
    assert!(o.status.success(), "{err}");
    let csv = std::fs::read_to_string(d.0.join("out/S_spikes.csv")).expect("spikes");
    assert_eq!(csv, "t_s,index\n1.000000e-3,0\n2.000000e-3,1\n");
}

/// `circ check` reports what `circ run` would refuse before its first step
/// (lowering, connection rules, memory, impossible delays, long runs), and
/// with `--data` what the data files hold: each case fails in both, with
/// the same message, and passes in both once fixed.
#[test]
fn check_reports_what_run_refuses() {
    let d = Dir::new("check-run");
    let lif = "use std::neurons::LIF\nuse std::synapses::ExpCurr\ncircuit C {\n    population A = LIF[10]\n    MEMBER\n}\nrun C for 1 ms\n";
    let cases = [
        (
            "    population P = poisson[3](rate = -5 Hz)",
            "a Poisson rate must be a finite rate from 0 Hz, but this is -5 Hz",
        ),
        (
            "    project A -> A : ExpCurr connect fixed_indegree(10)",
            "fixed_indegree(10) needs 10 distinct sources per neuron, but only 9 are available",
        ),
        (
            "    project A -> A : ExpCurr connect all_to_all delay 1000000 s",
            "a delay of 1000000 s is 1.000e10 steps of 0.1 ms",
        ),
        (
            "    population B = LIF[100000]\n    project B -> B : ExpCurr connect fixed_indegree(5000)",
            "the network needs about 11.2 GiB (11.2 GiB for 5.000e8 synapses, 7.6 MiB of neuron state), but only 1.9 GiB of memory is available",
        ),
    ];
    let limit = [("CIRC_MEMORY_LIMIT", "2000000000")];
    for (member, want) in cases {
        let m = d.write("m.circ", &lif.replace("MEMBER", member));
        let c = circ()
            .args(["check", "--color", "never"])
            .arg(&m)
            .envs(limit)
            .output()
            .expect("check");
        let cerr = String::from_utf8_lossy(&c.stderr);
        assert_eq!(c.status.code(), Some(1), "check {member}: {cerr}");
        assert!(cerr.contains(want), "check {member}: {cerr}");
        let (o, rerr) = d.run(&m, &limit);
        assert_eq!(o.status.code(), Some(1), "run {member}: {rerr}");
        assert!(rerr.contains(want), "run {member}: {rerr}");
    }
    // A long run: check warns (exit 0), run refuses with the time it would take.
    let m = d.write(
        "long.circ",
        &lif.replace("MEMBER", "").replace("1 ms", "1e30 s"),
    );
    let c = circ()
        .args(["check", "--color", "never"])
        .arg(&m)
        .output()
        .expect("check");
    let cerr = String::from_utf8_lossy(&c.stderr);
    assert_eq!(c.status.code(), Some(0), "{cerr}");
    assert!(
        cerr.contains("[long-run] Warning: the run is 1.000e34 steps"),
        "{cerr}"
    );
    let (o, rerr) = d.run(&m, &[]);
    assert_eq!(o.status.code(), Some(1), "{rerr}");
    assert!(
        rerr.contains("a step measured now it would take about")
            && rerr.contains("--allow-long-run"),
        "{rerr}"
    );
    assert!(!d.0.join("out").exists());

    // Data files: only with --data, as run reads them.
    let net = d.write("net.circ", FILE_NET);
    d.write("edges.csv", "pre,post,weight\n0,1,1e-10\n1,9,1e-10\n");
    let plain = circ()
        .args(["check", "--color", "never"])
        .arg(&net)
        .output()
        .expect("check");
    assert_eq!(plain.status.code(), Some(0));
    let data = circ()
        .args(["check", "--data", "--color", "never"])
        .arg(&net)
        .output()
        .expect("check");
    let derr = String::from_utf8_lossy(&data.stderr);
    assert_eq!(data.status.code(), Some(1), "{derr}");
    let want = "edges.csv: line 3, column `post`: 9 is not a neuron of the population";
    assert!(
        derr.contains(want) && derr.contains("net.circ:6:5"),
        "{derr}"
    );
    let (o, rerr) = d.run(&net, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(rerr.contains(want), "{rerr}");
    d.write("edges.csv", "pre,post,weight\n0,1,1e-10\n1,2,1e-10\n");
    let fixed = circ()
        .args(["check", "--data", "--color", "never"])
        .arg(&net)
        .output()
        .expect("check");
    assert_eq!(
        fixed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&fixed.stderr)
    );
}

/// A file with a `run` item per circuit: `--circuit NAME` takes that
/// item's settings; without it `circ run` refuses, listing them, and the
/// REPL asks for a name; `circ check` checks both and warns.
#[test]
fn run_items_are_chosen_by_circuit() {
    let d = Dir::new("runs");
    let m = d.write(
        "two.circ",
        "use std::neurons::LIF\ncircuit A {\n    population N = LIF[2]\n}\ncircuit B {\n    population N = LIF[3]\n}\nrun B for 20 ms { dt = 0.05 ms, seed = 7 }\nrun A for 10 ms\n",
    );
    let (o, err) = d.run(&m, &[]);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("[ambiguous-run] Error: the file has 2 `run` items (`run B`, `run A`)"),
        "{err}"
    );
    let out = d.0.join("b");
    let o = circ()
        .args(["run", "--color", "never", "--circuit", "B", "--out"])
        .arg(&out)
        .arg(&m)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = std::fs::read_to_string(out.join("summary.json")).expect("summary");
    assert!(
        summary.contains("\"dt_s\": 0.00005")
            && summary.contains("\"steps\": 400")
            && summary.contains("\"seed\": 7"),
        "{summary}"
    );
    let c = circ()
        .args(["check", "--color", "never"])
        .arg(&m)
        .output()
        .expect("check");
    let cerr = String::from_utf8_lossy(&c.stderr);
    assert_eq!(c.status.code(), Some(0), "{cerr}");
    assert!(cerr.contains("[ambiguous-run] Warning"), "{cerr}");
    let mut repl = circ()
        .args(["repl"])
        .arg(&m)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("repl");
    {
        use std::io::Write;
        let mut stdin = repl.stdin.take().expect("stdin");
        stdin
            .write_all(b":instantiate\n:instantiate B\n")
            .expect("write");
    }
    let o = repl.wait_with_output().expect("repl");
    let rerr = String::from_utf8_lossy(&o.stderr);
    let rout = String::from_utf8_lossy(&o.stdout);
    assert!(
        rerr.contains("the file has 2 `run` items (`run B`, `run A`); say which circuit to run: `:instantiate NAME`"),
        "{rerr}"
    );
    assert!(rout.contains("instantiated `B`: N (3)"), "{rout}");
}

/// `delay` (a keyword) names an argument where the grammar allows it: an
/// edge list's delay column binds, and its values are used (a negative one
/// is refused naming the synapse).
#[test]
fn a_keyword_names_an_edge_lists_delay_column() {
    let d = Dir::new("kwarg");
    let m = d.write(
        "kw.circ",
        "use std::neurons::LIF\nuse std::synapses::ExpCurr\ncircuit C {\n    population A = LIF[3]\n    project s = A -> A : ExpCurr connect from \"e.csv\"(source = \"pre\", target = \"post\", w = \"w\", delay = \"d\")\n    record w of s\n}\nrun C for 1 ms\n",
    );
    d.write("e.csv", "pre,post,w,d\n0,1,1e-10,0.002\n1,2,2e-10,0.003\n");
    let (o, err) = d.run(&m, &[]);
    assert!(o.status.success(), "{err}");
    std::fs::remove_dir_all(d.0.join("out")).expect("clean");
    d.write("e.csv", "pre,post,w,d\n0,1,1e-10,-0.002\n");
    let (o, err) = d.run(&m, &[]);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("synapse 0 (A[0] -> A[1]) has the delay -0.002 s"),
        "{err}"
    );
}
