//! Front-end benchmark: parse and check a generated model of 10,000 lines
//! (neuron and synapse models, functions, constants and a circuit that binds
//! them), and print the figures. The target is under 100 ms on the project's
//! machine (2 cores). Run: `cargo bench -p circ --bench frontend`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// A model file of about `lines` lines that checks clean.
fn generate(lines: usize) -> String {
    let mut s =
        String::from("use std::neurons::{LIF, AdEx}\nuse std::synapses::{ExpCond, ExpCurr}\n\n");
    let mut k = 0;
    while s.lines().count() < lines.saturating_sub(40) {
        let _ = write!(
            s,
            "const tau_{k} = {t} ms\n\
             fn gate_{k}(v: voltage) -> 1 = 1 / (1 + exp(-(v + {h} mV) / 5 mV))\n\
             neuron Cell{k} {{\n\
             \x20   parameter tau_m = tau_{k}\n\
             \x20   parameter v_rest = -65 mV\n\
             \x20   parameter v_th = -50 mV per neuron\n\
             \x20   parameter R = 100 Mohm\n\
             \x20   parameter g_a = 2 nS\n\
             \x20   input I_syn: current\n\
             \x20   state v = uniform(-65 mV, -55 mV)\n\
             \x20   state a = 0 nA\n\
             \x20   state m = 0.5\n\
             \x20   let I_a = g_a * m * (v - -80 mV)\n\
             \x20   dv/dt = (v_rest - v + R * (I_syn - a - I_a)) / tau_m  unless refractory\n\
             \x20   da/dt = -a / (10 * tau_m)\n\
             \x20   dm/dt = (gate_{k}(v) - m) / 5 ms\n\
             \x20   spike when v > v_th {{\n\
             \x20       v = v_rest\n\
             \x20       a += 0.05 nA\n\
             \x20   }} refractory 2 ms\n\
             }}\n\
             synapse Syn{k} {{\n\
             \x20   parameter w = 1 nS per synapse\n\
             \x20   parameter tau = 5 ms\n\
             \x20   post state g = 0 nS\n\
             \x20   pre state x = 0\n\
             \x20   dg/dt = -g / tau\n\
             \x20   dx/dt = -x / 20 ms\n\
             \x20   on pre {{ g += w  x += 0.01 }}\n\
             \x20   post.I_syn += g * (0 mV - post.v)\n\
             }}\n\n",
            t = 10 + k % 20,
            h = 30 + k % 20,
        );
        k += 1;
    }
    s.push_str("circuit Big {\n");
    for i in 0..(k.min(12)) {
        let _ = writeln!(
            s,
            "    population P{i} = Cell{i}[100](tau_m = {} ms) {{ v = -60 mV }}",
            10 + i
        );
        let _ = writeln!(
            s,
            "    project P{i} -> P{i} : Syn{i}(w = normal(1 nS, 0.1 nS) clip 0 nS..)\n        connect bernoulli(0.1) delay 1 ms"
        );
    }
    s.push_str("    population L = LIF[1000]\n    population A = AdEx[100]\n");
    s.push_str("    project L -> A : ExpCond(w = 2 nS) connect fixed_indegree(50)\n");
    s.push_str("    record spikes of L, A\n}\nrun Big for 1 s { dt = 0.1 ms, seed = 1 }\n");
    s
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let src = generate(10_000);
    let lines = src.lines().count();
    // The generated model must be valid, or the figure means nothing.
    let (map, analysis) = circ_sema::check_source("bench.circ", &src);
    assert!(
        analysis.diagnostics.is_empty(),
        "{}",
        circ_diag::render_all_text(&analysis.diagnostics, &map, false)
    );
    let runs = 15;
    let parse: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let p = circ_syntax::parse(&src);
            assert!(p.errors.is_empty());
            t.elapsed()
        })
        .collect();
    let check: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let (_, a) = circ_sema::check_source("bench.circ", &src);
            assert!(!a.has_errors());
            t.elapsed()
        })
        .collect();
    let (p, c) = (median(parse), median(check));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "front end on a generated model: {lines} lines, {} bytes, {} models",
        src.len(),
        analysis.models.len()
    );
    println!("| stage                   | median of {runs} | lines/s     |");
    println!("|-------------------------|--------------|-------------|");
    println!(
        "| parse                   | {:>9.1} ms | {:>11.0} |",
        ms(p),
        lines as f64 / p.as_secs_f64()
    );
    println!(
        "| parse + check (+ std)   | {:>9.1} ms | {:>11.0} |",
        ms(c),
        lines as f64 / c.as_secs_f64()
    );
    println!(
        "target: parse + check under 100 ms: {}",
        if ms(c) < 100.0 { "met" } else { "NOT met" }
    );
}
