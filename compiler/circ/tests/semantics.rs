//! Rules of spec/semantics.md that no example isolates, checked on the
//! interpreter and the JIT by running small models of tests/data.

use std::path::Path;
use std::process::Command;

/// Runs `tests/data/NAME` on `backend` into a fresh folder, returning it.
fn run(name: &str, backend: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let out =
        std::env::temp_dir().join(format!("circ-sem-{}-{backend}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = Command::new(env!("CARGO_BIN_EXE_circ"))
        .args(["run", "--color", "never", "--backend", backend, "--out"])
        .arg(&out)
        .arg(dir.join(name))
        .output()
        .expect("run circ");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn refractory_neurons_take_no_synaptic_jumps_on_held_states() {
    for backend in ["interp", "jit"] {
        let out = run("held.circ", backend);
        let spikes = std::fs::read_to_string(out.join("N_spikes.csv")).expect("spikes");
        let times: Vec<&str> = spikes
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next())
            .collect();
        assert_eq!(times, ["1.100000e-3", "1.010000e-2"], "{backend}");
        let v = circ_runtime::data::read_matrix(&out.join("N_v.npy")).expect("v");
        // Steps 12..=60 (1.2 ms to 6 ms): held at 20 mV e^{-dt/1s} - 15 mV.
        let held = 0.02 * (-1e-4f64).exp() - 0.015;
        for (n, row) in v.iter().enumerate().take(61).skip(12) {
            assert!(
                (row[0] - held).abs() < 1e-12,
                "{backend}: v[{n}] = {}",
                row[0]
            );
        }
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn a_post_let_sums_each_neurons_incoming_synapses_at_the_start_of_the_step() {
    for backend in ["interp", "jit"] {
        let out = run("normalise.circ", backend);
        let w = circ_runtime::data::read_matrix(&out.join("syn_w.npy")).expect("w");
        assert_eq!(w.len(), 100, "{backend}");
        // all_to_all from 30 to 3 neurons: synapse s goes to neuron s % 3.
        let sum = |row: &[f64], j: usize| row.iter().skip(j).step_by(3).sum::<f64>();
        for j in 0..3 {
            let mut s = sum(&w[0], j);
            assert!(
                (s - 10.0).abs() > 1.0,
                "{backend}: start {s} is too close to 10"
            );
            for (n, row) in w.iter().enumerate().skip(1) {
                s *= (1e-4 * (10.0 / s - 1.0) / 2e-3).exp();
                let got = sum(row, j);
                assert!(
                    (got - s).abs() < 1e-9 * s,
                    "{backend}: neuron {j}, step {n}: {got}, not {s}"
                );
            }
            assert!((s - 10.0).abs() < 0.05, "{backend}: neuron {j} ends at {s}");
        }
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn every_random_use_draws_its_own_numbers() {
    for backend in ["interp", "jit"] {
        let out = run("streams.circ", backend);
        let read = |name: &str| {
            circ_runtime::data::read_matrix(&out.join(format!("{name}.npy")))
                .unwrap_or_else(|e| panic!("{backend}: {name}: {}", e.0))
        };
        // Each column: one neuron's trace, or one synapse's weight.
        let columns = |m: Vec<Vec<f64>>| -> Vec<Vec<u64>> {
            (0..m[0].len())
                .map(|c| m.iter().map(|row| row[c].to_bits()).collect())
                .collect()
        };
        let distinct = |what: &str, all: Vec<Vec<u64>>, expect: usize| {
            assert_eq!(all.len(), expect, "{backend}: {what}");
            for (x, a) in all.iter().enumerate() {
                for (y, b) in all.iter().enumerate().skip(x + 1) {
                    assert_ne!(a, b, "{backend}: {what} {x} and {y} drew the same numbers");
                }
            }
        };
        let mut noise = vec![];
        let mut params = vec![];
        for pop in ["A", "B"] {
            for k in 0..12 {
                noise.extend(columns(read(&format!("{pop}_x{k}"))));
            }
            for p in ["a", "b"] {
                // A parameter is the same at every sample: keep the first.
                params.extend(
                    columns(read(&format!("{pop}_{p}")))
                        .into_iter()
                        .map(|c| vec![c[0]]),
                );
            }
        }
        distinct("noise trace", noise, 48);
        distinct("parameter", params, 8);
        let weights = ["p1", "p2", "p3"]
            .iter()
            .flat_map(|p| columns(read(&format!("{p}_w"))))
            .flat_map(|c| c.into_iter().take(1).map(|w| vec![w]))
            .collect();
        distinct("weight", weights, 24);
        let _ = std::fs::remove_dir_all(&out);
    }
}

/// The whole `on pre` happens when the spike reaches the synapse (Brian2's
/// delayed `on_pre`): a pre spike at 10 ms with an 8 ms delay and a post
/// spike at 14 ms depress only (the pre trace jumps at 18 ms, after the
/// post spike read it), with one delay for all synapses (the pre state
/// jumps at arrival) and with delays drawn per synapse (the pre state is
/// kept per synapse). Without delay the pair potentiates only.
#[test]
fn on_pre_happens_at_arrival_so_a_delayed_pair_depresses_only() {
    // y decays for the 40 steps from 14 ms to 18 ms, exactly.
    let ltd = 0.5 + -0.0105 * (-1e-4f64 / 20e-3).exp().powi(40);
    let ltp = 0.5 + 0.01 * (-1e-4f64 / 20e-3).exp().powi(40);
    for backend in ["interp", "jit"] {
        let out = run("stdp_delay.circ", backend);
        for (proj, want) in [("d8", ltd), ("rand", ltd), ("d0", ltp)] {
            let w = circ_runtime::data::read_matrix(&out.join(format!("{proj}_w.npy"))).expect("w");
            for (j, got) in w[w.len() - 1].iter().enumerate() {
                assert!(
                    (got - want).abs() < 1e-12,
                    "{backend}: {proj} synapse {j}: w = {got}, not {want}"
                );
            }
        }
        // The traces, recorded per pre and per post neuron: x jumps when
        // the spike arrives (step 180), y when the post neuron spikes (140).
        // Nine decays: the jump is in step 180 after its update, the sample
        // at the start of step 190.
        let decay9 = (-1e-4f64 / 20e-3).exp().powi(9);
        let x = circ_runtime::data::read_matrix(&out.join("d8_x.npy")).expect("x");
        let y = circ_runtime::data::read_matrix(&out.join("d8_y.npy")).expect("y");
        assert_eq!(
            (x[0].len(), y[0].len()),
            (1, 2),
            "{backend}: one pre, two post"
        );
        assert_eq!(x[18][0], 0.0, "{backend}");
        assert!(
            (x[19][0] - 0.01 * decay9).abs() < 1e-15,
            "{backend}: {}",
            x[19][0]
        );
        assert_eq!(y[14], [0.0, 0.0], "{backend}");
        assert!(
            (y[15][1] + 0.0105 * decay9).abs() < 1e-15,
            "{backend}: {:?}",
            y[15]
        );
        let _ = std::fs::remove_dir_all(&out);
    }
}

/// A per-synapse state with a pure exponential equation that only handlers
/// read is event-driven (solved from the synapse's last event when one
/// comes, as Brian2's `(event-driven)`); recorded, it is integrated every
/// step. Both give the weights the exact solution gives, to rounding.
#[test]
fn event_driven_traces_agree_with_every_step_integration() {
    // Pre spikes at 10 and 12 ms (steps 100, 120), post at 14 and 30 ms
    // (steps 140, 300); handlers see the values after the step's update.
    let trace = |amp: f64, tau: f64, post_step: i32| {
        [100, 120]
            .iter()
            .map(|&pre| amp * (-1e-4f64 * f64::from(post_step - pre) / tau).exp())
            .sum::<f64>()
    };
    let want = 0.5
        + trace(0.01, 20e-3, 140)
        + trace(0.02, 40e-3, 140)
        + trace(0.01, 20e-3, 300)
        + trace(0.02, 40e-3, 300);
    for backend in ["interp", "jit"] {
        let out = run("event_driven.circ", backend);
        for proj in ["lazy", "stepped"] {
            let w = circ_runtime::data::read_matrix(&out.join(format!("{proj}_w.npy"))).expect("w");
            for (j, got) in w[w.len() - 1].iter().enumerate() {
                assert!(
                    (got - want).abs() < 1e-15,
                    "{backend}: {proj} synapse {j}: w = {got}, not {want}"
                );
            }
        }
        let _ = std::fs::remove_dir_all(&out);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let o = Command::new(env!("CARGO_BIN_EXE_circ"))
        .args(["check", "--explain-solver"])
        .arg(dir.join("event_driven.circ"))
        .output()
        .expect("run circ");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("projection `lazy`: x, z (per synapse) event-driven"),
        "{text}"
    );
    assert!(
        text.contains("projection `stepped`: x, z (per synapse) integrated with exact"),
        "{text}"
    );
    assert!(
        text.contains("projection `stepped`: x (per synapse) integrated every step, not event-driven: it is recorded"),
        "{text}"
    );
}

/// `record connectivity` writes each synapse's pre and post indices and
/// delay in the order of its per-synapse recordings, so a weight made from
/// its pair (`w = 0.1 i + 0.01 j`) is found again; `at` samples at the
/// given times and at the end; `--final-state` writes every state at the
/// end, event-driven traces brought up to date.
#[test]
fn connectivity_and_final_state_trace_each_value_to_its_pair() {
    let read = |dir: &Path, f: &str| {
        circ_runtime::data::read_matrix(&dir.join(format!("{f}.npy"))).expect(f)
    };
    // A 1-D array.
    let vals = |dir: &Path, f: &str| -> Vec<f64> {
        let path = dir.join(format!("{f}.npy"));
        let t = circ_runtime::data::read_table(&path).expect(f);
        t.column(&path, "values").expect(f).to_vec()
    };
    for backend in ["interp", "jit"] {
        let out = run("connectivity.circ", backend);
        let col = |f: &str| vals(&out, f);
        let (i, j, delay) = (col("syn_i"), col("syn_j"), col("syn_delay"));
        let w = read(&out, "syn_w");
        assert_eq!(col("syn_w_t"), [0.0, 0.01], "{backend}");
        assert!(
            !i.is_empty() && i.len() < 12,
            "{backend}: {} synapses",
            i.len()
        );
        assert_eq!(
            (w[0].len(), j.len(), delay.len()),
            (i.len(), i.len(), i.len())
        );
        for s in 0..i.len() {
            assert_eq!(w[0][s], 0.1 * i[s] + 0.01 * j[s], "{backend}: synapse {s}");
            assert!(
                (1e-3..3e-3).contains(&delay[s]),
                "{backend}: delay {}",
                delay[s]
            );
        }
        assert_eq!(col("Post_v_t"), [0.005, 0.01], "{backend}");
        let _ = std::fs::remove_dir_all(&out);

        // The same run with --final-state.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let fin =
            std::env::temp_dir().join(format!("circ-sem-final-{}-{backend}", std::process::id()));
        let o = Command::new(env!("CARGO_BIN_EXE_circ"))
            .args(["run", "--final-state", "--backend", backend, "--out"])
            .arg(&fin)
            .arg(dir.join("connectivity.circ"))
            .output()
            .expect("run circ");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let final_w = read(&fin, "final_syn_w");
        assert_eq!(final_w.len(), 1, "{backend}: one row, at the end");
        assert_eq!(final_w[0], read(&fin, "syn_w")[1], "{backend}");
        assert_eq!(vals(&fin, "final_syn_i"), vals(&fin, "syn_i"), "{backend}");
        // x jumps by 1 in its spike's arrival step a (after that step's
        // update) and decays in steps a+1..=99.
        let x = &read(&fin, "final_syn_x")[0];
        let (i, d) = (vals(&fin, "final_syn_i"), vals(&fin, "final_syn_delay"));
        for s in 0..x.len() {
            let spike = if i[s] == 0.0 {
                10.0
            } else if i[s] == 3.0 {
                20.0
            } else {
                -1.0
            };
            let want = if spike < 0.0 {
                0.0
            } else {
                let a = spike + (d[s] / 1e-4).round();
                (-1e-4 * (99.0 - a) / 20e-3f64).exp()
            };
            assert!(
                (x[s] - want).abs() < 1e-12,
                "{backend}: synapse {s}: x = {}, not {want}",
                x[s]
            );
        }
        assert_eq!(read(&fin, "final_Post_v")[0].len(), 3, "{backend}");
        let _ = std::fs::remove_dir_all(&fin);
    }
}

/// Per-neuron values from `i` and from data files, a stimulus on some
/// neurons, and a synapse parameter that differs between pairs.
#[test]
fn values_differ_per_neuron_from_the_index_data_and_conditions() {
    for backend in ["interp", "jit"] {
        let out = run("per_neuron.circ", backend);
        let row = |f: &str| {
            circ_runtime::data::read_matrix(&out.join(format!("{f}.npy"))).expect(f)[0].clone()
        };
        assert_eq!(row("A_tau"), [0.01, 0.02, 0.03, 0.04], "{backend}");
        assert_eq!(row("A_v"), [-0.06, -0.062, -0.064, -0.066], "{backend}");
        assert_eq!(row("syn_E_rev"), [0.0, -0.01, -0.02, -0.03], "{backend}");
        // B: 1 nA into 1 nF from 1 ms (steps 10..19, exactly integrated)
        // with tau 10 ms on the first two neurons only: v = 10 ms * 1 V/s *
        // (1 - e^{-0.1}).
        let v = row("B_v");
        let want = 0.01 * (1.0 - (-0.1f64).exp());
        assert!(
            (v[0] - want).abs() < 1e-15 && v[0] == v[1],
            "{backend}: {v:?} vs {want}"
        );
        assert_eq!((v[2], v[3]), (0.0, 0.0), "{backend}");
        let _ = std::fs::remove_dir_all(&out);
    }
}

/// Subgroups at the ends of projections: the rule connects within them
/// (one_to_one pairs the k-th of each, fixed_indegree draws within the
/// subgroup without autapses), and the synapses carry population indices.
#[test]
fn subgroups_connect_within_and_keep_population_indices() {
    for backend in ["interp", "jit"] {
        let out = run("subgroups.circ", backend);
        let pairs = |p: &str| -> Vec<(i64, i64)> {
            let col = |x: &str| {
                let path = out.join(format!("{p}_{x}.npy"));
                let t = circ_runtime::data::read_table(&path).expect("npy");
                t.column(&path, "values").expect("values").to_vec()
            };
            col("i")
                .iter()
                .zip(col("j"))
                .map(|(a, b)| (*a as i64, b as i64))
                .collect()
        };
        let a: Vec<(i64, i64)> = (0..3).flat_map(|i| (0..5).map(move |j| (i, j))).collect();
        assert_eq!(pairs("a"), a, "{backend}");
        assert_eq!(pairs("b"), [(1, 6), (1, 8)], "{backend}");
        assert_eq!(pairs("c"), [(0, 2), (1, 3), (2, 4), (3, 5)], "{backend}");
        let d = pairs("d");
        assert_eq!(d.len(), 20, "{backend}");
        for j in 0..5 {
            let from: Vec<i64> = d.iter().filter(|p| p.1 == j).map(|p| p.0).collect();
            assert_eq!(
                from,
                (0..5).filter(|&i| i != j).collect::<Vec<_>>(),
                "{backend}: into {j}"
            );
        }
        // Input neuron 1 drives E[0..5] (a) and E[6], E[8] (b), and no other.
        let spikes = std::fs::read_to_string(out.join("E_spikes.csv")).expect("spikes");
        let mut fired: Vec<u32> = spikes
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').nth(1)?.parse().ok())
            .collect();
        fired.sort_unstable();
        fired.dedup();
        assert_eq!(fired, [0, 1, 2, 3, 4, 6, 8], "{backend}");
        let _ = std::fs::remove_dir_all(&out);
    }
}

/// Circuit parameters: the run item's value, `--set` of a circuit, a
/// population's and a projection's parameter (checked against their
/// dimensions), a size that stops being whole, and `--sweep`.
#[test]
fn circuit_parameters_come_from_the_run_item_set_and_sweep() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let model = dir.join("circuit_params.circ");
    let out = std::env::temp_dir().join(format!("circ-sem-params-{}", std::process::id()));
    let go = |extra: &[&str]| {
        let _ = std::fs::remove_dir_all(&out);
        Command::new(env!("CARGO_BIN_EXE_circ"))
            .args(["run", "--color", "never", "--out"])
            .arg(&out)
            .arg(&model)
            .args(extra)
            .output()
            .expect("run circ")
    };
    let summary = |dir: &Path| -> serde_json::Value {
        let t = std::fs::read_to_string(dir.join("summary.json")).expect("summary");
        serde_json::from_str(&t).expect("json")
    };
    // N = 8 from the run item: 4 neurons each; 0.1 nA * i drives neurons
    // 2 and 3 over threshold (R = 100 Mohm: 20 and 30 mV), not 0 and 1.
    let o = go(&[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = summary(&out);
    assert_eq!(s["populations"]["E"]["size"], 4);
    let spikes = std::fs::read_to_string(out.join("E_spikes.csv")).expect("spikes");
    let fired: std::collections::BTreeSet<&str> = spikes
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1))
        .collect();
    assert_eq!(fired.into_iter().collect::<Vec<_>>(), ["2", "3"]);
    assert_eq!(s["populations"]["I"]["spikes"], 0);
    // --set N and drive; the projection's weight makes I fire.
    let o = go(&["--set", "N=12", "--set", "drive=0.2nA", "--set", "ei.w=5nA"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = summary(&out);
    assert_eq!(s["populations"]["E"]["size"], 6);
    assert!(
        s["populations"]["I"]["spikes"].as_u64().unwrap_or(0) > 0,
        "{s}"
    );
    // Wrong dimension, unknown names, a size that is no longer whole.
    for (args, want) in [
        (
            &["--set", "drive=1ms"][..],
            "`drive` is current (nA), but the value is time (ms)",
        ),
        (
            &["--set", "M=3"][..],
            "circuit `Driven` has no parameter `M`; its parameters: N, drive, w",
        ),
        (&["--set", "ei.x=3"][..], "has no parameter `x`"),
        (
            &["--set", "N=9"][..],
            "a population size must be a whole number of at least 1, but with this run's parameters it is 4.5",
        ),
    ] {
        let o = go(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{args:?}: {err}");
        assert!(!out.join("summary.json").exists(), "{args:?} wrote output");
    }
    // A sweep: one folder per value and a table.
    let _ = std::fs::remove_dir_all(&out);
    let o = Command::new(env!("CARGO_BIN_EXE_circ"))
        .args(["run", "--out"])
        .arg(&out)
        .arg(&model)
        .args(["--sweep", "drive=0nA,0.2nA"])
        .output()
        .expect("run circ");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = std::fs::read_to_string(out.join("sweep.csv")).expect("sweep.csv");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0], "drive,E_spikes,E_rate_hz,I_spikes,I_rate_hz",
        "{table}"
    );
    assert!(lines[1].starts_with("\"0nA\",0,0,0,0"), "{table}");
    assert!(!lines[2].starts_with("\"0.2nA\",0,"), "{table}");
    assert!(out.join("drive=0.2nA").join("E_spikes.csv").exists());
    let _ = std::fs::remove_dir_all(&out);
}

/// `extends` overrides a parameter and adds a state; `method` on a
/// population replaces the compiler's choice for that population only.
#[test]
fn an_extended_model_and_a_population_method() {
    for backend in ["interp", "jit"] {
        let out = run("extends.circ", backend);
        let col = |f: &str| -> Vec<f64> {
            circ_runtime::data::read_matrix(&out.join(format!("{f}.npy")))
                .expect(f)
                .iter()
                .map(|r| r[0])
                .collect()
        };
        // R I = 100 Mohm * 0.1 nA = 10 mV above v_rest = -65 mV; tau 10 ms.
        let (x, e, slow) = (col("X_v"), col("E_v"), col("X_slow"));
        for (k, (&xv, &ev)) in x.iter().zip(&e).enumerate() {
            let n = 10 * k as i32;
            let exact = -0.065 + 0.01 * (1.0 - (-(n as f64) * 1e-4 / 10e-3).exp());
            let euler = -0.065 + 0.01 * (1.0 - (1.0 - 1e-4 / 10e-3f64).powi(n));
            assert!(
                (xv - exact).abs() < 1e-12,
                "{backend}: X v[{k}] = {xv}, not {exact}"
            );
            assert!(
                (ev - euler).abs() < 1e-12,
                "{backend}: E v[{k}] = {ev}, not {euler}"
            );
        }
        assert!(slow[0] == 0.0 && slow[9] < -0.01, "{backend}: {slow:?}");
        let _ = std::fs::remove_dir_all(&out);
    }
}

/// Per-neuron terms of per-synapse rules are computed once per neuron
/// (hoisted), with the same bits as computing them per synapse.
#[test]
fn hoisted_neuron_terms_give_the_same_bits() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let ir = Command::new(env!("CARGO_BIN_EXE_circ"))
        .args(["run", "--emit", "ir"])
        .arg(dir.join("hoist.circ"))
        .output()
        .expect("run circ");
    let text = String::from_utf8_lossy(&ir.stdout);
    let hoisted = text.split("proj `plain`").next().unwrap_or_default();
    assert!(
        hoisted.contains("kernel update \"hoisted_pre\"")
            && hoisted.contains("kernel update \"hoisted_post\"")
            && hoisted.contains("kernel couple \"hoisted_pre\""),
        "{text}"
    );
    for backend in ["interp", "jit"] {
        let out = run("hoist.circ", backend);
        let m = |f: &str| circ_runtime::data::read_matrix(&out.join(format!("{f}.npy"))).expect(f);
        assert_eq!(m("U_r"), m("V_r"), "{backend}");
        assert_eq!(m("hoisted_w"), m("plain_w"), "{backend}");
        let _ = std::fs::remove_dir_all(&out);
    }
}

/// Poisson inputs whose rate differs per neuron: from `i`, from a file,
/// drawn once per neuron. 50 s of spikes: thousands per neuron, so each
/// rate is known to a few percent.
#[test]
fn poisson_rates_per_neuron() {
    for backend in ["interp", "jit"] {
        let out = run("poisson_rates.circ", backend);
        let rates = |pop: &str| -> Vec<f64> {
            let text = std::fs::read_to_string(out.join(format!("{pop}_spikes.csv"))).expect("csv");
            let mut n = [0usize; 4];
            for l in text.lines().skip(1) {
                if let Some(i) = l.split(',').nth(1).and_then(|x| x.parse::<usize>().ok()) {
                    n[i] += 1;
                }
            }
            n.iter().map(|&c| c as f64 / 50.0).collect()
        };
        let close = |got: &[f64], want: [f64; 4], tol: f64| {
            got.iter()
                .zip(want)
                .all(|(g, w)| (g - w).abs() <= tol * w.max(1.0))
        };
        let (p, q, r) = (rates("P"), rates("Q"), rates("R"));
        assert!(
            close(&p, [0.0, 100.0, 200.0, 300.0], 0.05),
            "{backend}: P {p:?}"
        );
        assert!(
            close(&q, [10.0, 20.0, 40.0, 80.0], 0.1),
            "{backend}: Q {q:?}"
        );
        assert!(
            r.iter().all(|x| (9.0..21.0).contains(x)),
            "{backend}: R {r:?}"
        );
        // Drawn once: the four rates differ.
        assert!(
            r.windows(2).any(|w| (w[0] - w[1]).abs() > 1.0),
            "{backend}: R {r:?}"
        );
        let _ = std::fs::remove_dir_all(&out);
    }
}

/// `refractory while COND`: one spike per upward crossing (in the step it
/// happens), none while the condition holds; held states take no jumps
/// then. Without refractoriness the same neuron spikes every step above.
#[test]
fn refractory_while_a_condition_holds() {
    for backend in ["interp", "jit"] {
        let out = run("refractory_while.circ", backend);
        let steps = |pop: &str| -> Vec<u64> {
            let text = std::fs::read_to_string(out.join(format!("{pop}_spikes.csv"))).expect("csv");
            text.lines()
                .skip(1)
                .filter_map(|l| l.split(',').next()?.parse::<f64>().ok())
                .map(|t| (t / 1e-4).round() as u64)
                .collect()
        };
        // v sampled at the start of every step: a crossing between samples
        // k - 1 and k happens in step k - 1.
        let v = circ_runtime::data::read_matrix(&out.join("N_v.npy")).expect("v");
        let crossings: Vec<u64> = (1..v.len())
            .filter(|&k| v[k - 1][0] <= -0.04 && v[k][0] > -0.04)
            .map(|k| k as u64 - 1)
            .collect();
        assert_eq!(steps("N"), crossings, "{backend}");
        assert_eq!(crossings.len(), 4, "{backend}");
        assert!(steps("P").len() > 100, "{backend}");
        // Kicks at 5 and 30 ms count; those at 14.5 and 66 ms fall in
        // refractory stretches.
        let u = circ_runtime::data::read_matrix(&out.join("N_u.npy")).expect("u");
        assert!((u[0][0] - 0.002).abs() < 1e-15, "{backend}: {u:?}");
        let _ = std::fs::remove_dir_all(&out);
    }
}

/// Spike packets: one spike per neuron at a time of its own, in the step
/// it rounds to: drawn around 50 ms, or at 10 ms * i.
#[test]
fn spike_packets_fire_once_per_neuron_at_their_times() {
    for backend in ["interp", "jit"] {
        let out = run("packets.circ", backend);
        let read = |pop: &str| -> Vec<(f64, usize)> {
            let text = std::fs::read_to_string(out.join(format!("{pop}_spikes.csv"))).expect("csv");
            text.lines()
                .skip(1)
                .filter_map(|l| {
                    let mut it = l.split(',');
                    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
                })
                .collect()
        };
        let s = read("S");
        let mut who: Vec<usize> = s.iter().map(|x| x.1).collect();
        who.sort_unstable();
        who.dedup();
        assert_eq!((s.len(), who.len()), (400, 400), "{backend}: once each");
        let mean = s.iter().map(|x| x.0).sum::<f64>() / 400.0;
        let sd = (s.iter().map(|x| (x.0 - mean).powi(2)).sum::<f64>() / 400.0).sqrt();
        assert!(
            (mean - 0.05).abs() < 0.0005 && (sd - 0.002).abs() < 0.0003,
            "{backend}: {mean} {sd}"
        );
        let r = read("R");
        let want: Vec<(f64, usize)> = (0..5).map(|i| (i as f64 * 0.01, i)).collect();
        assert_eq!(r.len(), 5, "{backend}");
        for ((t, i), (wt, wi)) in r.iter().zip(&want) {
            assert!((t - wt).abs() < 1e-9 && i == wi, "{backend}: {r:?}");
        }
        let _ = std::fs::remove_dir_all(&out);
    }
}

/// `pre let`: each presynaptic neuron's sum over its outgoing synapses,
/// from the values at the step's start (so the sample at 0.1 ms holds the
/// sums of the initial weights); the normalising rule drives them to 1.
#[test]
fn pre_let_sums_each_neurons_outgoing_synapses() {
    for backend in ["interp", "jit"] {
        let out = run("pre_let.circ", backend);
        let col = |f: &str| -> Vec<f64> {
            let path = out.join(format!("{f}.npy"));
            let t = circ_runtime::data::read_table(&path).expect(f);
            t.column(&path, "values").expect(f).to_vec()
        };
        let i = col("syn_i");
        let w0 = &circ_runtime::data::read_matrix(&out.join("syn_w.npy")).expect("w")[0];
        let sums = circ_runtime::data::read_matrix(&out.join("syn_w_out.npy")).expect("w_out");
        assert_eq!(sums[0].len(), 30, "{backend}");
        for (n, (first, last)) in sums[0].iter().zip(&sums[1]).enumerate() {
            let want: f64 = i
                .iter()
                .zip(w0)
                .filter(|(k, _)| **k as usize == n)
                .map(|(_, w)| w)
                .sum();
            assert!(
                (first - want).abs() < 1e-12,
                "{backend}: neuron {n}: {first} vs {want}"
            );
            assert!(
                (last - 1.0).abs() < 1e-3,
                "{backend}: neuron {n} ends at {last}"
            );
        }
        let _ = std::fs::remove_dir_all(&out);
    }
}

/// `method rk45` follows an input much faster than the step (where a fixed
/// step is unstable) to its tolerance, reports its substeps, ends substeps
/// at AdEx's spike condition (whose voltage runs away to infinity), and
/// gives the same bits on the interpreter and the JIT.
#[test]
fn rk45_takes_adaptive_substeps_to_its_tolerance() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let run_circuit = |file: &str, backend: &str| {
        let out =
            std::env::temp_dir().join(format!("circ-sem-{}-{backend}-{file}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let o = Command::new(env!("CARGO_BIN_EXE_circ"))
            .args(["run", "--color", "never", "--backend", backend, "--out"])
            .arg(&out)
            .arg(dir.join(file))
            .output()
            .expect("run circ");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (out, String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let spike_times = |out: &Path| -> Vec<(f64, u32)> {
        let text = std::fs::read_to_string(out.join("E_spikes.csv")).expect("spikes");
        text.lines()
            .skip(1)
            .map(|l| {
                let (t, i) = l.split_once(',').expect("t,i");
                (t.parse().expect("t"), i.parse().expect("i"))
            })
            .collect()
    };
    let (fine, _) = run_circuit("rk45_fine.circ", "jit");
    let reference = spike_times(&fine);
    assert_eq!(reference.len(), 4, "{reference:?}");
    let mut xs = vec![];
    for backend in ["interp", "jit"] {
        let (out, stdout) = run_circuit("rk45.circ", backend);
        // x(t) for x(0) = 0 under sin(w t) with time constant tau.
        let (w, tau) = (2.0 * std::f64::consts::PI * 100.0, 20e-6);
        let exact = |t: f64| {
            ((w * t).sin() - w * tau * (w * t).cos() + w * tau * (-t / tau).exp())
                / (1.0 + (w * tau).powi(2))
        };
        let x = circ_runtime::data::read_matrix(&out.join("D_x.npy")).expect("x");
        assert_eq!(x.len(), 1000);
        for (k, row) in x.iter().enumerate() {
            // Sampled every step of 0.1 ms from 0.
            let t = k as f64 * 1e-4;
            let err = (row[0] - exact(t)).abs();
            assert!(err < 2e-6, "{backend}: x({t}) off by {err}");
        }
        xs.push(x);
        // On the 0.1 ms grid, each spike falls in the step where the fine
        // reference crossed, or within the next (resets wait for a
        // step's end, which shifts later spikes by a fraction of a step).
        let got = spike_times(&out);
        assert_eq!(got.len(), reference.len(), "{backend}: {got:?}");
        for ((tg, ig), (tr, ir)) in got.iter().zip(&reference) {
            assert_eq!(ig, ir, "{backend}");
            assert!(
                (tg - tr).abs() < 2e-4,
                "{backend}: spike at {tg}, fine {tr}"
            );
        }
        let summary = std::fs::read_to_string(out.join("summary.json")).expect("summary");
        let v: serde_json::Value = serde_json::from_str(&summary).expect("json");
        let per_step = v["populations"]["D"]["rk45"]["substeps_per_step"]
            .as_f64()
            .expect("substeps");
        assert!(per_step > 2.0, "{backend}: {per_step} substeps per step");
        assert!(
            v["populations"]["D"]["rk45"]["smallest_substep_s"]
                .as_f64()
                .is_some_and(|h| h > 1e-7 && h < 1e-4)
        );
        assert!(stdout.contains("rk45: "), "{stdout}");
        let _ = std::fs::remove_dir_all(&out);
    }
    assert_eq!(xs[0], xs[1], "the interpreter and the JIT differ");
    let _ = std::fs::remove_dir_all(&fine);
    let o = Command::new(env!("CARGO_BIN_EXE_circ"))
        .args(["check", "--explain-solver"])
        .arg(dir.join("rk45.circ"))
        .output()
        .expect("run circ");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("population `E`: v, w integrated with rk45"),
        "{text}"
    );
}

/// File names are constants: a circuit parameter with a string default
/// (set from the command line to another file, or swept over files) and
/// `let`s of a file and of a column; each neuron's value comes from the
/// file named.
#[test]
fn file_names_are_circuit_constants_set_and_swept() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let model = dir.join("file_names.circ");
    let base = std::env::temp_dir().join(format!("circ-sem-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).expect("temp dir");
    let other = base.join("other.csv");
    std::fs::write(&other, "tau_ms\n1\n2\n3\n4\n").expect("write");
    let out = base.join("out");
    let go = |extra: &[&str]| {
        let _ = std::fs::remove_dir_all(&out);
        let o = Command::new(env!("CARGO_BIN_EXE_circ"))
            .args(["run", "--color", "never", "--out"])
            .arg(&out)
            .arg(&model)
            .args(extra)
            .output()
            .expect("run circ");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        circ_runtime::data::read_matrix(&out.join("A_tau.npy")).expect("tau")[0].clone()
    };
    let near = |got: &[f64], want: [f64; 4]| {
        got.iter()
            .zip(want)
            .all(|(g, w)| (g - w * 1e-3).abs() < 1e-15)
    };
    let tau = go(&[]);
    assert!(near(&tau, [10.0, 20.0, 30.0, 40.0]), "{tau:?}");
    let set = format!("cells={}", other.display());
    let tau = go(&["--set", &set]);
    assert!(near(&tau, [1.0, 2.0, 3.0, 4.0]), "{tau:?}");
    // A sweep over two files: one folder each.
    let _ = std::fs::remove_dir_all(&out);
    let sweep = format!("cells=cells.csv,{}", other.display());
    let o = Command::new(env!("CARGO_BIN_EXE_circ"))
        .args(["run", "--out"])
        .arg(&out)
        .arg(&model)
        .args(["--sweep", &sweep])
        .output()
        .expect("run circ");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = std::fs::read_to_string(out.join("sweep.csv")).expect("sweep.csv");
    assert_eq!(table.lines().count(), 3, "{table}");
    let tau = circ_runtime::data::read_matrix(&out.join("cells=cells.csv").join("A_tau.npy"))
        .expect("tau")[0]
        .clone();
    assert!(near(&tau, [10.0, 20.0, 30.0, 40.0]), "{tau:?}");
    let _ = std::fs::remove_dir_all(&base);
}
