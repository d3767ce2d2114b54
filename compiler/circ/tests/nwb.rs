//! `circ run --nwb`: the NWB file read back with pynwb (the reference
//! reader, from `.venv`, which scripts/install-deps makes) holds the same
//! spike times per neuron and the same traces, bit for bit, as the `.npy`
//! files of the same run, with their units and sampling; and nwbinspector
//! finds nothing critical in it except what its orientation heuristic says
//! of recordings sampled fewer times than they have elements (time is the
//! first dimension, as NWB asks).

mod common;

use common::TempDir;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python of `.venv` at the repository's root.
fn python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: scripts/install-deps makes it (pynwb, nwbinspector)",
        p.display()
    );
    p
}

const MODEL: &str = "use std::neurons::LIF
use std::plasticity::StdpAdditive
circuit Net {
    population In = poisson[100](rate = 40 Hz)
    population E = LIF[20](I_ext = 0.16 nA)
    population I = LIF[5](I_ext = 0.17 nA)
    project syn = In -> E : StdpAdditive(g_max = 1 nS) connect bernoulli(0.3)
    record spikes of E, I
    record v of E[0..4] every 0.5 ms
    record rate of I window 2 ms
    record w of syn at 0 ms, 50 ms, end
}
run Net for 100 ms
";

const CHECK: &str = r#"
import sys, json
import numpy as np
from pynwb import NWBHDF5IO
out, name = sys.argv[1], sys.argv[2]
problems = []
with NWBHDF5IO(f"{out}/{name}", "r") as io:
    f = io.read()
    assert f.source_script.startswith("use std::neurons::LIF"), f.source_script[:40]
    units = f.units.to_dataframe()
    for pop in ["E", "I"]:
        t = np.load(f"{out}/{pop}_spikes_t.npy")
        i = np.load(f"{out}/{pop}_spikes_i.npy")
        rows = units[units["population"] == pop]
        assert len(rows) == {"E": 20, "I": 5}[pop], len(rows)
        for _, r in rows.iterrows():
            want = t[i == r["neuron"]]
            got = np.asarray(r["spike_times"], dtype=float)
            assert want.tobytes() == got.tobytes(), (pop, r["neuron"], want, got)
        assert len(t) > 0, f"{pop} never spiked"
    for key, unit, sampled in [("E_v", "V", "rate"), ("I_rate", "Hz", "rate"), ("syn_w", "", "timestamps")]:
        ts = f.acquisition[key]
        data = np.asarray(ts.data[:])
        want = np.load(f"{out}/{key}.npy")
        assert data.tobytes() == want.tobytes(), key
        assert ts.unit == unit, (key, ts.unit)
        times = np.load(f"{out}/{key}_t.npy")
        if sampled == "rate":
            assert ts.starting_time == times[0] and ts.timestamps is None, key
            assert abs(ts.rate - 1 / (times[1] - times[0])) < 1e-3 * ts.rate, (key, ts.rate)
        else:
            assert np.asarray(ts.timestamps[:]).tobytes() == times.tobytes(), key
from nwbinspector import inspect_nwbfile
for m in inspect_nwbfile(nwbfile_path=f"{out}/{name}"):
    if m.importance.name == "CRITICAL" and m.check_function_name != "check_data_orientation":
        problems.append(f"{m.check_function_name}: {m.message}")
print(json.dumps(problems))
"#;

/// Runs MODEL in a fresh folder with `flags`; the folder and its output.
fn run(tag: &str, flags: &[&str]) -> (TempDir, PathBuf) {
    let dir = TempDir::new(&format!("nwb-{tag}"));
    let model = dir.0.join("net.circ");
    std::fs::write(&model, MODEL).expect("model");
    let out = dir.0.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_circ"))
        .args(["run", "--color", "never", "--out"])
        .arg(&out)
        .args(flags)
        .arg(&model)
        .output()
        .expect("circ run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (dir, out)
}

#[test]
fn pynwb_reads_the_same_spikes_and_traces_as_the_npy_files() {
    let py = python();
    let (_dir, out) = run("read", &["--nwb"]);
    let summary = std::fs::read_to_string(out.join("summary.json")).expect("summary");
    assert!(
        summary.contains("\"Net.nwb\""),
        "the summary lists the file"
    );
    let o = Command::new(py)
        .arg("-c")
        .arg(CHECK)
        .arg(&out)
        .arg("Net.nwb")
        .output()
        .expect("python");
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(said.trim(), "[]", "nwbinspector: {said}");
}

#[test]
fn without_the_flag_no_nwb_file_is_written() {
    let (_dir, out) = run("none", &[]);
    assert!(out.join("summary.json").exists());
    assert!(!out.join("Net.nwb").exists());
}
