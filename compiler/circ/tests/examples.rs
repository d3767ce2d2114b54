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

/// Runs `circ run` on an example into a fresh folder; returns stdout and the folder.
fn run_example(name: &str, extra: &[&str]) -> (std::process::Output, PathBuf) {
    // One folder per call: a test may run one example twice.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out =
        std::env::temp_dir().join(format!("circ-example-{}-{call}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = circ()
        .args(["run", "--color", "never", "--out"])
        .arg(&out)
        .args(extra)
        .arg(repo().join("examples").join(name))
        .output()
        .expect("run circ");
    (o, out)
}

fn first_spike_times(dir: &Path, pop: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(dir.join(format!("{pop}_spikes.csv"))).expect("spikes csv");
    text.lines()
        .skip(1)
        .filter_map(|l| l.split(',').next()?.parse::<f64>().ok())
        .map(|t| t * 1e3)
        .collect()
}

#[test]
fn runnable_examples_show_their_observables() {
    // (file, spikes, first spike in ms) as each example's header states.
    for (file, count, first) in [
        ("lif_step.circ", 10, 26.09),
        ("izhikevich_rs.circ", 12, 3.3),
        ("hh_step.circ", 14, 1.93),
    ] {
        let (o, dir) = run_example(file, &[]);
        assert!(
            o.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let t = first_spike_times(&dir, "N");
        assert_eq!(t.len(), count, "{file}: {t:?}");
        assert!(
            (t[0] - first).abs() < 1e-6,
            "{file}: first spike {} ms",
            t[0]
        );
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("summary.json")).expect("summary"),
        )
        .expect("json");
        assert_eq!(summary["populations"]["N"]["spikes"], count);
        assert_eq!(summary["completed"], true);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn run_flags_and_refusals() {
    // Flags override the run item.
    let (o, dir) = run_example("lif_step.circ", &["--duration", "50 ms", "--dt", "0.01 ms"]);
    assert!(o.status.success());
    assert_eq!(first_spike_times(&dir, "N").len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
    let (o, _) = run_example("lif_step.circ", &["--duration", "50 mV"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a unit of time"));
    // What cannot run yet is refused, naming the construct, and writes nothing.
    let tmp = std::env::temp_dir().join(format!("circ-refusal-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp");
    let model = tmp.join("ou.circ");
    std::fs::write(&model, "neuron M {\n    parameter I: current = 0 nA per neuron\n}\ncircuit C {\n    population E = M[10](I = 2 * ou(0.1 nA, 0.05 nA, 10 ms))\n}\nrun C for 10 ms\n").expect("write");
    let out = tmp.join("out");
    let o = circ()
        .args(["run", "--color", "never", "--out"])
        .arg(&out)
        .arg(&model)
        .output()
        .expect("run circ");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("[unsupported] Error: `ou` inside an expression cannot run yet"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.exists(), "a refused run wrote files");
    let _ = std::fs::remove_dir_all(&tmp);
    // The IR text form.
    let ir = circ()
        .args(["run", "--emit", "ir"])
        .arg(repo().join("examples/lif_step.circ"))
        .output()
        .expect("run circ");
    let text = String::from_utf8_lossy(&ir.stdout);
    assert!(
        text.contains("population \"N\" = \"LIFStep\"[1]") && text.contains("kernel update (each"),
        "{text}"
    );
    // ... which reads back (tests/serialize.rs checks every model).
    assert!(circ_ir::parse(&text).is_ok(), "{text}");
    // The solver report.
    let s = circ()
        .args(["check", "--explain-solver"])
        .arg(repo().join("examples/cobahh.circ"))
        .output()
        .expect("run circ");
    assert!(
        String::from_utf8_lossy(&s.stdout)
            .contains("TraubHH: v, g_e, g_i, m, h, n integrated with exponential_euler")
    );
}

#[test]
fn a_diverging_model_stops_with_a_clear_message_and_keeps_its_recordings() {
    let dir = std::env::temp_dir().join(format!("circ-nan-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let model = dir.join("blowup.circ");
    std::fs::write(&model, "neuron B {\n    state x = 1\n    dx/dt = x * x / 1 ms\n    method euler\n}\ncircuit C {\n    population P = B[3]\n    record x of P every 1 ms\n}\nrun C for 100 ms { dt = 0.1 ms }\n").expect("write");
    let out = dir.join("out");
    let o = circ()
        .args(["run", "--color", "never", "--out"])
        .arg(&out)
        .arg(&model)
        .output()
        .expect("run circ");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("`x` of neuron 0 of population `P` became"),
        "{err}"
    );
    let summary = std::fs::read_to_string(out.join("summary.json")).expect("summary written");
    assert!(summary.contains("\"completed\": false"));
    assert!(out.join("P_x.npy").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A population's spikes (time in seconds, index), from its CSV file.
fn spikes(dir: &Path, pop: &str) -> Vec<(f64, usize)> {
    let text = std::fs::read_to_string(dir.join(format!("{pop}_spikes.csv"))).expect("spikes csv");
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let (t, i) = l.split_once(',')?;
            Some((t.parse().ok()?, i.trim().parse().ok()?))
        })
        .collect()
}

/// The mean over neurons (with three spikes or more) of the coefficient of
/// variation of their interspike intervals.
fn mean_isi_cv(spikes: &[(f64, usize)], size: usize) -> f64 {
    let mut times: Vec<Vec<f64>> = vec![vec![]; size];
    for &(t, i) in spikes {
        times[i].push(t);
    }
    let cvs: Vec<f64> = times
        .iter()
        .filter(|t| t.len() >= 3)
        .map(|t| {
            let isi: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
            let mean = isi.iter().sum::<f64>() / isi.len() as f64;
            let var = isi.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / isi.len() as f64;
            var.sqrt() / mean
        })
        .collect();
    cvs.iter().sum::<f64>() / cvs.len().max(1) as f64
}

/// A population's mean rate, from a run's `summary.json`.
fn mean_rate(dir: &Path, pop: &str) -> f64 {
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary"))
            .expect("json");
    summary["populations"][pop]["mean_rate_hz"]
        .as_f64()
        .expect("rate")
}

/// Vogels–Abbott COBA (Brette et al. 2007 benchmark 1), 4000 neurons, 1 s on
/// the interpreter: the mean rates fall in the range Brian2 and NEST give
/// (19.4 and 19.1 Hz; shared/reference/README.md), within 15–25 Hz.
#[test]
fn coba_rates_are_in_the_range_of_brian2_and_nest() {
    let (o, dir) = run_example("coba.circ", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for pop in ["E", "I"] {
        let rate = mean_rate(&dir, pop);
        eprintln!("measured: coba {pop} {rate:.2} Hz");
        assert!((15.0..=25.0).contains(&rate), "{pop}: {rate} Hz");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The order parameter r = |mean(exp(i theta))| of each recorded sample.
fn order_parameter(theta: &[Vec<f64>]) -> Vec<f64> {
    theta
        .iter()
        .map(|row| {
            let n = row.len().max(1) as f64;
            let (c, s) = row
                .iter()
                .fold((0.0, 0.0), |(c, s), t| (c + t.cos(), s + t.sin()));
            (c / n).hypot(s / n)
        })
        .collect()
}

#[test]
fn kuramoto_synchronises_above_the_critical_coupling_only() {
    for (circuit, low, high) in [("Strong", 0.8, 1.0), ("Weak", 0.0, 0.4)] {
        let (o, dir) = run_example("kuramoto.circ", &["--circuit", circuit]);
        assert!(
            o.status.success(),
            "{circuit}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // Rate units never spike: the summary gives their states' means.
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains("O                 100 units   mean at the end: theta "),
            "{out}"
        );
        let theta = circ_runtime::data::read_matrix(&dir.join("O_theta.npy")).expect("theta");
        let r = order_parameter(&theta);
        // The last second: 100 samples, one every 10 ms.
        let tail = &r[r.len().saturating_sub(100)..];
        let mean = tail.iter().sum::<f64>() / tail.len() as f64;
        eprintln!("measured: kuramoto {circuit} r = {mean:.3}");
        assert!((low..=high).contains(&mean), "{circuit}: r = {mean}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn homeostasis_brings_the_rate_back_to_its_target() {
    let (o, dir) = run_example("homeostasis.circ", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t: Vec<f64> = first_spike_times(&dir, "N")
        .iter()
        .map(|ms| ms / 1e3)
        .collect();
    let rate =
        |a: f64, b: f64| t.iter().filter(|&&x| x >= a && x < b).count() as f64 / 20.0 / (b - a);
    let (before, jump, after) = (rate(8.0, 10.0), rate(10.0, 10.5), rate(18.0, 20.0));
    eprintln!("measured: homeostasis {before:.2} Hz, {jump:.2} Hz, {after:.2} Hz");
    assert!(
        (8.0..=12.0).contains(&before),
        "before the step: {before} Hz"
    );
    assert!(jump > 15.0, "right after the step: {jump} Hz");
    assert!((8.0..=12.0).contains(&after), "after adapting: {after} Hz");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reward_strengthens_the_pathway_that_preceded_it() {
    let (o, dir) = run_example("reward_stdp.circ", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let last_mean = |file: &str| {
        let w = circ_runtime::data::read_matrix(&dir.join(file)).expect("weights");
        let row = w.last().expect("samples");
        row.iter().sum::<f64>() / row.len() as f64
    };
    let (a, b) = (last_mean("a_w.npy"), last_mean("b_w.npy"));
    eprintln!("measured: reward_stdp A {a:.3}, B {b:.3}");
    assert!(a > 0.65 && a > b + 0.1, "A {a}, B {b}");
    for file in ["a_w.npy", "b_w.npy"] {
        let w = circ_runtime::data::read_matrix(&dir.join(file)).expect("weights");
        assert!(
            w.iter().flatten().all(|x| (0.0..=1.0).contains(x)),
            "{file}: a weight out of [0, 1]"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cuba_rate_is_in_the_range_of_brian2_and_nest() {
    let (o, dir) = run_example("cuba.circ", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rate = mean_rate(&dir, "P");
    eprintln!("measured: cuba {rate:.2} Hz");
    // Brian2 5.6 Hz, NEST 5.6 Hz (shared/reference/README.md): within 10 %.
    assert!((5.0..=6.2).contains(&rate), "{rate} Hz");
    let _ = std::fs::remove_dir_all(&dir);
}

/// AVAL and AVAR (indices 103 and 31 in data/celegans/neurons.csv) fire at
/// least 5 more spikes in the 500 ms after the stimulus starts than before.
fn ava_responds(dir: &Path, what: &str) {
    let spikes = spikes(dir, "W");
    let count = |from: f64, to: f64| {
        spikes
            .iter()
            .filter(|(t, i)| (*i == 103 || *i == 31) && *t >= from && *t < to)
            .count()
    };
    let (before, after) = (count(0.0, 0.5), count(0.5, 1.0));
    eprintln!("measured: {what} AVA {before} -> {after} spikes");
    assert!(
        after >= before + 5,
        "AVA spikes: {before} before, {after} after"
    );
}

#[test]
fn celegans_nociceptive_input_reaches_the_command_interneurons() {
    let (o, dir) = run_example("celegans.circ", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    ava_responds(&dir, "celegans");
    // And the network does not run away: under 5 Hz on average.
    let rate = mean_rate(&dir, "W");
    assert!(rate < 5.0, "{rate} Hz");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn delays_make_a_detector_for_one_motif_and_not_its_reverse() {
    let (o, dir) = run_example("delays_motifs.circ", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = first_spike_times(&dir, "Detector");
    // The motif's ten spikes all arrive at 118 ms; the reversed one never lines up.
    assert_eq!(t.len(), 1, "{t:?}");
    assert!((118.0..120.0).contains(&t[0]), "{t:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn izhikevich_network_shows_alpha_and_gamma_rhythms() {
    let (o, dir) = run_example("izhikevich2003.circ", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Spike counts of the whole network in 1 ms bins over 0.2-2 s.
    let mut counts = vec![0.0f64; 1800];
    for pop in ["E", "I"] {
        for t in first_spike_times(&dir, pop) {
            let k = (t - 200.0).floor();
            if (0.0..1800.0).contains(&k) {
                counts[k as usize] += 1.0;
            }
        }
    }
    let mean = counts.iter().sum::<f64>() / counts.len() as f64;
    // Power at f = k / 1.8 s, for k up to 100 Hz.
    let power = |k: usize| {
        let w = 2.0 * std::f64::consts::PI * k as f64 / counts.len() as f64;
        let (re, im) = counts
            .iter()
            .enumerate()
            .fold((0.0, 0.0), |(re, im), (n, c)| {
                let x = c - mean;
                (re + x * (w * n as f64).cos(), im - x * (w * n as f64).sin())
            });
        re * re + im * im
    };
    let spectrum: Vec<(f64, f64)> = (2..=180).map(|k| (k as f64 / 1.8, power(k))).collect();
    let mut sorted: Vec<f64> = spectrum.iter().map(|s| s.1).collect();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let peak = |lo: f64, hi: f64| {
        spectrum
            .iter()
            .filter(|(f, _)| (lo..hi).contains(f))
            .map(|s| s.1)
            .fold(0.0, f64::max)
    };
    let (alpha, gamma) = (peak(5.0, 20.0) / median, peak(30.0, 50.0) / median);
    let at = |x: f64| {
        spectrum
            .iter()
            .find(|s| s.1 == x * median)
            .map_or(0.0, |s| s.0)
    };
    eprintln!(
        "measured: izhikevich alpha {:.1} Hz at {alpha:.0}x, gamma {:.1} Hz at {gamma:.0}x",
        at(alpha),
        at(gamma)
    );
    assert!(
        alpha > 3.0 && gamma > 3.0,
        "alpha {alpha}x, gamma {gamma}x the median"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Brunel (2000) model A in its asynchronous irregular state, 300 ms: the
/// rate of Brian2 (37.0 Hz) and NEST (37.2 Hz) within 10 %, irregular
/// firing (Brian2's mean ISI CV over 1 s is 0.40; circ's 0.38 over the
/// first 300 ms) and population fluctuations of Brian2's size.
#[test]
fn brunel_network_fires_asynchronously_and_irregularly() {
    let (o, dir) = run_example("brunel2000.circ", &["--duration", "300 ms"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for pop in ["E", "I"] {
        let rate = mean_rate(&dir, pop);
        eprintln!("measured: brunel {pop} {rate:.2} Hz");
        assert!((33.3..=40.9).contains(&rate), "{pop}: {rate} Hz");
    }
    let e = spikes(&dir, "E");
    let cv = mean_isi_cv(&e, 10_000);
    eprintln!("measured: brunel ISI CV {cv:.3}");
    assert!((0.3..=0.5).contains(&cv), "mean ISI CV {cv}");
    // The population's count per 1 ms fluctuates as Brian2's does (the
    // coefficient of variation of the counts over 100-300 ms: Brian2 0.52
    // over 0.1-1 s, circ 0.54), neither a flat line nor synchronous volleys.
    let mut bins = vec![0usize; 300];
    for &(t, _) in &e {
        bins[((t * 1e3) as usize).min(299)] += 1;
    }
    let late = &bins[100..];
    let mean = late.iter().sum::<usize>() as f64 / late.len() as f64;
    let var = late.iter().map(|&c| (c as f64 - mean).powi(2)).sum::<f64>() / late.len() as f64;
    let cv_count = var.sqrt() / mean;
    eprintln!("measured: brunel count CV {cv_count:.3}");
    assert!(
        (0.35..=0.75).contains(&cv_count),
        "CV of the population count {cv_count}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// COBAHH (Brette et al. 2007 benchmark 3), 300 ms: self-sustained activity
/// at a rate within 20 % of Brian2's 36.5 Hz (the chaotic network's rate
/// varies by about 10 % from seed to seed; see the example's header).
#[test]
fn cobahh_sustains_its_activity_at_the_peers_rate() {
    let (o, dir) = run_example("cobahh.circ", &["--duration", "300 ms"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (e, i) = (mean_rate(&dir, "E"), mean_rate(&dir, "I"));
    let rate = (3200.0 * e + 800.0 * i) / 4000.0;
    eprintln!("measured: cobahh {rate:.2} Hz over 300 ms");
    assert!((29.2..=43.8).contains(&rate), "{rate} Hz");
    let late = spikes(&dir, "E").iter().filter(|(t, _)| *t >= 0.2).count();
    assert!(late > 3200, "{late} spikes of E in the last 100 ms");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Song, Miller & Abbott (2000), the full 100 s: additive STDP splits the
/// uniformly drawn weights into a U-shaped distribution (Brian2: ~28 % below
/// 0.1 g_max, ~17 % above 0.9 g_max; circ: 24 % and 21 %).
#[test]
fn stdp_splits_the_weights_into_two_groups() {
    let (o, dir) = run_example("stdp_song2000.circ", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let w = circ_runtime::data::read_matrix(&dir.join("syn_w.npy")).expect("weights");
    let hist = |row: &[f64]| {
        let mut h = [0usize; 10];
        for &x in row {
            h[((x * 10.0) as usize).min(9)] += 1;
        }
        h
    };
    let (first, last) = (hist(&w[0]), hist(w.last().expect("samples")));
    // Most weights end within 0.2 g_max of either bound (40 % at the start).
    let ends = |h: &[usize; 10]| (h[0] + h[1] + h[8] + h[9]) as f64 / 1000.0;
    eprintln!(
        "measured: stdp {:.1} % below 0.1 g_max, {:.1} % above 0.9 g_max",
        last[0] as f64 / 10.0,
        last[9] as f64 / 10.0
    );
    assert!(
        ends(&first) < 0.45 && ends(&last) > 0.55,
        "{first:?} -> {last:?}"
    );
    // Two modes: each end bin holds over twice as many as any middle bin.
    let middle = *last[3..7].iter().max().expect("bins");
    assert!(last[0] > 2 * middle && last[9] > 2 * middle, "{last:?}");
    // The output rate Brian2 gives (31.2 Hz) within 20 %.
    let rate = mean_rate(&dir, "Out");
    eprintln!("measured: stdp Out {rate:.2} Hz");
    assert!((25.0..=37.5).contains(&rate), "{rate} Hz");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Disinhibition (2-4 s) turns the depression of the same Hebbian pairing
/// into potentiation, and it turns back after (example header).
#[test]
fn disinhibition_flips_the_sign_of_plasticity() {
    let (o, dir) = run_example("disinhibition_plasticity.circ", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let w = circ_runtime::data::read_matrix(&dir.join("syn_w.npy")).expect("weights");
    let e = circ_runtime::data::read_matrix(&dir.join("E_r.npy")).expect("rates");
    assert_eq!((w.len(), e.len()), (600, 600));
    // Samples every 10 ms: row k is t = k * 10 ms.
    let mean = |k: usize| w[k].iter().sum::<f64>() / w[k].len() as f64;
    let (w0, w2, w4, w6) = (mean(0), mean(199), mean(399), mean(599));
    eprintln!("measured: disinhibition w {w0:.3} -> {w2:.3} -> {w4:.3} -> {w6:.3}");
    assert!(w2 < w0 - 0.02, "inhibited: {w0} -> {w2}");
    assert!(w4 > w2 + 0.03, "disinhibited: {w2} -> {w4}");
    assert!(w6 < w4 - 0.01, "inhibited again: {w4} -> {w6}");
    let theta = 12.0;
    let range = |keep: &dyn Fn(usize) -> bool| {
        e.iter()
            .enumerate()
            .skip(10)
            .filter(|(k, _)| keep(*k))
            .fold((f64::INFINITY, 0.0f64), |(lo, hi), (_, r)| {
                (lo.min(r[0]), hi.max(r[0]))
            })
    };
    let (inside, outside) = (
        range(&|k| (210..400).contains(&k)),
        range(&|k| !(200..410).contains(&k)),
    );
    eprintln!(
        "measured: disinhibition E {:.1}-{:.1} Hz outside, {:.1}-{:.1} Hz inside",
        outside.0, outside.1, inside.0, inside.1
    );
    for (k, row) in e.iter().enumerate().skip(10) {
        let inside = (210..400).contains(&k);
        let outside = !(200..410).contains(&k);
        let t = k as f64 / 100.0;
        assert!(!inside || row[0] > theta, "E at {t} s: {} Hz", row[0]);
        assert!(!outside || row[0] < theta, "E at {t} s: {} Hz", row[0]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The astrocyte-modulated liquid (example header): it keeps E's rate well
/// under that of the same network with the astrocyte clamped, its signal
/// follows the input step and brings the rate down, and the liquid's state
/// tells the two input patterns apart.
#[test]
fn astrocyte_regulates_the_liquid_which_separates_its_inputs() {
    let (o, dir) = run_example("astrocyte_lsm.circ", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (oc, clamped) = run_example(
        "astrocyte_lsm.circ",
        &[
            "--circuit",
            "AstroClamped",
            "--duration",
            "10 s",
            "--seed",
            "2",
        ],
    );
    assert!(
        oc.status.success(),
        "{}",
        String::from_utf8_lossy(&oc.stderr)
    );
    let rate = |dir: &Path, from: f64, to: f64| {
        let n = spikes(dir, "E")
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .count();
        n as f64 / (400.0 * (to - from))
    };
    for (from, to) in [(4.0, 5.0), (9.0, 10.0)] {
        let (with, without) = (rate(&dir, from, to), rate(&clamped, from, to));
        eprintln!("measured: astrocyte {from}-{to} s {with:.2} Hz, clamped {without:.2} Hz");
        assert!(
            with < 0.6 * without,
            "{from}-{to} s: {with} Hz, clamped {without} Hz"
        );
    }
    let c = circ_runtime::data::read_matrix(&dir.join("Astro_c.npy")).expect("c");
    let (before, after) = (c[490][0], c[999][0]);
    eprintln!("measured: astrocyte c {before:.2} -> {after:.2}");
    assert!(after > 1.5 * before, "c {before} -> {after}");
    let (peak, late) = (rate(&dir, 5.0, 5.5), rate(&dir, 9.0, 10.0));
    eprintln!("measured: astrocyte E {peak:.2} Hz (5-5.5 s) -> {late:.2} Hz (9-10 s)");
    assert!(late < 0.75 * peak, "{peak} Hz -> {late} Hz");
    // Readout: E's spike counts per 250 ms window (A in even windows, B in
    // odd ones), normalised; each window from 1 s on is classified by the
    // nearer (by cosine) of the two patterns' mean vectors over the others.
    let mut x = vec![vec![0.0f64; 400]; 40];
    for (t, i) in spikes(&dir, "E") {
        x[((t / 0.25) as usize).min(39)][i] += 1.0;
    }
    for v in &mut x {
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-12);
        v.iter_mut().for_each(|a| *a /= norm);
    }
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    let mut right = 0;
    for k in 4..40 {
        let centroid = |label: usize| {
            let mut m = vec![0.0; 400];
            for (j, v) in x.iter().enumerate().skip(4) {
                if j != k && j % 2 == label {
                    m.iter_mut().zip(v).for_each(|(a, b)| *a += b);
                }
            }
            m
        };
        let guess = usize::from(dot(&x[k], &centroid(1)) > dot(&x[k], &centroid(0)));
        right += usize::from(guess == k % 2);
    }
    eprintln!("measured: astrocyte readout {right} of 36 windows right");
    assert!(
        right * 10 > 36 * 9,
        "{right} of 36 windows classified right"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&clamped);
}

#[test]
fn stdp_delays_split_the_weights_whatever_the_delay() {
    let (o, dir) = run_example("stdp_delays.circ", &["--duration", "20 s"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let w = circ_runtime::data::read_matrix(&dir.join("syn_w.npy")).expect("w");
    let path = dir.join("syn_delay.npy");
    let table = circ_runtime::data::read_table(&path).expect("delays");
    let d = table.column(&path, "values").expect("values").to_vec();
    let (first, last) = (&w[0], &w[w.len() - 1]);
    assert_eq!((first.len(), last.len(), d.len()), (1000, 1000, 1000));
    assert!(
        d.iter().all(|x| (1e-3..5e-3).contains(x)),
        "delays out of 1-5 ms"
    );
    let share = |f: &dyn Fn(f64) -> bool| last.iter().filter(|x| f(**x)).count() as f64 / 1000.0;
    let (low, high) = (share(&|x| x < 0.1), share(&|x| x > 0.9));
    // Pearson correlation of final weight and delay.
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mw, md) = (mean(last), mean(&d));
    let cov: f64 = last.iter().zip(&d).map(|(a, b)| (a - mw) * (b - md)).sum();
    let sw: f64 = last.iter().map(|a| (a - mw).powi(2)).sum::<f64>().sqrt();
    let sd: f64 = d.iter().map(|b| (b - md).powi(2)).sum::<f64>().sqrt();
    let r = cov / (sw * sd);
    eprintln!("measured: stdp_delays {low:.3} low, {high:.3} high, r = {r:.3}");
    assert!(low > 0.1 && high > 0.05, "no split: {low} low, {high} high");
    assert!(r.abs() < 0.1, "weights correlate with delays: r = {r}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn celegans_sweep_stimulates_the_nociceptors_and_sweeps_the_weight() {
    let (o, dir) = run_example(
        "celegans_sweep.circ",
        &["--sweep", "w_exc=0.1nS,0.2nS,0.4nS"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = std::fs::read_to_string(dir.join("sweep.csv")).expect("sweep.csv");
    let col = table
        .lines()
        .next()
        .and_then(|h| h.split(',').position(|c| c == "W_rate_hz"))
        .expect("a W_rate_hz column");
    // Populations in the circuit's order.
    assert!(
        table.starts_with("w_exc,W_spikes,W_rate_hz,Stim_spikes,Stim_rate_hz,Noise_spikes"),
        "{table}"
    );
    let rates: Vec<f64> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(col)?.parse().ok())
        .collect();
    eprintln!("measured: celegans_sweep W rates {rates:?}");
    assert_eq!(rates.len(), 3, "{table}");
    assert!(rates[0] < rates[1] && rates[1] < rates[2], "{table}");
    // The default weight: the stimulus reaches AVA through the subgroup.
    let run = dir.join("w_exc=0.2nS");
    ava_responds(&run, "celegans_sweep");
    // The delays came from the file.
    let path = run.join("exc_delay.npy");
    let t = circ_runtime::data::read_table(&path).expect("delays");
    let d = t.column(&path, "values").expect("values");
    assert!(d.len() > 2000 && d.iter().all(|x| (0.5e-3..=3e-3).contains(x)));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Population counts of `times` in 1 ms bins over [from, to) s.
fn counts(times: &[f64], from: f64, to: f64) -> Vec<f64> {
    let n = ((to - from) * 1000.0).round() as usize;
    let mut c = vec![0.0; n];
    for &t in times {
        let b = ((t - from) * 1000.0).floor();
        if b >= 0.0 && (b as usize) < n {
            c[b as usize] += 1.0;
        }
    }
    c
}

/// The frequency (Hz) of the largest component of `x`'s spectrum (1 ms
/// samples; the mean removed), by a direct Fourier sum.
fn peak_frequency(x: &[f64]) -> f64 {
    let n = x.len();
    let mean = x.iter().sum::<f64>() / n as f64;
    (1..n / 2)
        .map(|k| {
            let (mut re, mut im) = (0.0, 0.0);
            for (i, v) in x.iter().enumerate() {
                let a = std::f64::consts::TAU * (k * i) as f64 / n as f64;
                re += (v - mean) * a.cos();
                im += (v - mean) * a.sin();
            }
            (k as f64 * 1000.0 / n as f64, re * re + im * im)
        })
        .fold((0.0, -1.0), |best, x| if x.1 > best.1 { x } else { best })
        .0
}

/// Wang & Buzsaki (1996): mutual inhibition locks heterogeneous
/// interneurons into a gamma rhythm; without the synapses the same cells
/// fire independently, each at its own rate.
#[test]
fn wang_buzsaki_interneurons_fire_in_a_gamma_rhythm_only_when_coupled() {
    for (g, coupled) in [("0.1 [mS/cm^2]", true), ("0 [mS/cm^2]", false)] {
        let set = format!("g_syn={g}");
        let (o, dir) = run_example("wang_buzsaki1996.circ", &["--set", &set]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let t: Vec<f64> = spikes(&dir, "P").iter().map(|s| s.0).collect();
        let c = counts(&t, 0.5, 1.0);
        let mean = c.iter().sum::<f64>() / c.len() as f64;
        let var = c.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / c.len() as f64;
        let (ratio, peak, rate) = (var / mean, peak_frequency(&c), mean_rate(&dir, "P"));
        eprintln!(
            "measured: wang_buzsaki g_syn = {g}: {rate:.1} Hz, variance/mean {ratio:.2}, peak {peak} Hz"
        );
        if coupled {
            // Brian2: 34.7 Hz.
            assert!((30.0..=40.0).contains(&rate), "{rate} Hz");
            assert!(ratio > 2.0, "variance/mean {ratio}");
            assert!((30.0..=50.0).contains(&peak), "peak {peak} Hz");
        } else {
            assert!((50.0..=70.0).contains(&rate), "{rate} Hz");
            assert!(ratio < 1.5, "variance/mean {ratio}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn pd14_has_the_papers_sizes_and_synapse_counts_at_full_scale() {
    // The full-scale network is not built here (10 GB, 100 s: bench/pd14.sh
    // runs it and checks the rates); its layout is, with every rule's count.
    let path = repo().join("examples/pd14.circ");
    let src = std::fs::read_to_string(&path).expect("pd14.circ");
    let (map, analysis) = circ_sema::check_source("pd14.circ", &src);
    assert!(
        !analysis.has_errors(),
        "{}",
        circ_diag::render_all_text(&analysis.diagnostics, &map, false)
    );
    let opts = circ_lower::Options {
        circuit_args: vec![("scale".into(), 1.0)],
        ..Default::default()
    };
    let lowered = circ_lower::lower(&analysis, &map, &opts)
        .unwrap_or_else(|ds| panic!("{}", circ_diag::render_all_text(&ds, &map, false)));
    let layout = &lowered.net.layout;
    let sizes: Vec<usize> = layout.pops.iter().map(|p| p.size).collect();
    assert_eq!(
        sizes,
        [20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948],
        "the paper's population sizes"
    );
    let mut synapses = 0u64;
    for proj in &layout.projs {
        match &proj.connect {
            circ_runtime::layout::Connect::Rule(circ_runtime::connect::Rule::FixedTotal(n)) => {
                synapses += n
            }
            other => panic!("{}: {other:?}", proj.name),
        }
    }
    eprintln!(
        "measured: pd14 at full scale: {} neurons, {synapses} synapses in {} projections",
        sizes.iter().sum::<usize>(),
        layout.projs.len()
    );
    // Potjans & Diesmann: about 0.3 x 10^9 synapses among 77,169 neurons.
    assert!(
        (2.9e8..3.1e8).contains(&(synapses as f64)),
        "{synapses} synapses"
    );
    assert_eq!(
        layout.projs.len(),
        55,
        "the nonzero connection probabilities"
    );
}

#[test]
fn pd14_at_a_fifth_of_its_size_fires_at_the_papers_rates() {
    // The file's own run (scale 0.2, weights and mean input compensated as
    // in NEST's example): each population's rate after the first 200 ms
    // within a factor of 2 of the paper's, as bench/pd14.sh checks the full
    // network's (measured: 0.63 to 0.91 of the paper's here; 0.81 to 1.22
    // at full scale).
    let (o, dir) = run_example("pd14.circ", &["--backend", "jit"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let published = [
        ("L23E", 0.9),
        ("L23I", 2.8),
        ("L4E", 4.4),
        ("L4I", 5.7),
        ("L5E", 7.6),
        ("L5I", 8.7),
        ("L6E", 1.1),
        ("L6I", 7.8),
    ];
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary"))
            .expect("json");
    for (pop, want) in published {
        let size = summary["populations"][pop]["size"].as_f64().expect("size");
        let late = spikes(&dir, pop).iter().filter(|s| s.0 >= 0.2).count() as f64;
        let rate = late / (size * 0.8);
        eprintln!("measured: pd14 (scale 0.2) {pop} {rate:.2} Hz (paper {want})");
        assert!(
            (want / 2.0..=want * 2.0).contains(&rate),
            "{pop}: {rate} Hz, the paper's {want} Hz"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
