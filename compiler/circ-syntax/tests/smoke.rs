//! Parses the language sketch's models and checks the shape of the result.

use circ_syntax::ast::*;
use circ_syntax::parse;

const SKETCH: &str = r#"
use std::neurons::{LIF, AdEx as A}
use std::synapses::ExpCond
use "other.circ"::{X}
const g_max: conductance = 10 nS
fn alpha_m(v: voltage) -> frequency = 0.1 / ms * (v / 1 mV + 40) / (1 - exp(-(v / 1 mV + 40) / 10))
fn f(x: 1) -> 1 { let a = x * 2; let b = a ^ 2; b + 1 }

neuron LIF2 {
    parameter tau_m   = 20 ms
    parameter v_rest  = -65 mV
    parameter R: resistance = 100 Mohm
    parameter I0: [uA/cm^2] = 10 [uA/cm^2] per neuron
    input I_syn: current          // summed from synapses each step
    state v = v_rest
    let I = I_syn + 2 nA
    dv/dt = (v_rest - v + R * I_syn) / tau_m + 5 um^2 * 1 [mV/um^2/ms] noise 1 mV / sqrt(1 ms)  unless refractory
    spike when v > -50 mV and not (v < -80 mV) {
        v = -65 mV
        if v > 0 mV { v = 1 mV } else if v < 0 mV { v = 2 mV } else { v = 3 mV }
    } refractory 2 ms
    method exact
}

synapse StdpCond {
    parameter w = 1 nS per synapse
    state x = uniform(0, 1) per synapse
    pre state a = 0
    post state y = 0
    modulator DA
    dy/dt = -y / 20 ms
    on pre {
        post.g_e += w * g_max
        a += 0.01
        x = clamp(x + y, 0, 1)
    }
    on post { y -= 0.0105; x = clamp(x + a, 0, 1) }
    post.I_syn += w * (0 mV - post.v)
}

circuit Coba {
    population E = LIF[3200] { v = uniform(-60 mV, -50 mV) }
    population I = LIF[800](tau_m = 10 ms)  { v = uniform(-60 mV, -50 mV), } at grid(40, 20, spacing = 10 um)
    population P = poisson[1000](rate = 5 Hz)
    project E -> E, I : ExpCond(w = 0.6 nS, tau = 5 ms, E_rev = 0 mV)
        connect bernoulli(0.02) delay 0.1 ms
    project ii = I -> E, I : ExpCond(w = 6.7 nS) connect bernoulli(0.02) where i != j autapses
    project P -> E : ExpCond(w = normal(0.5 nS, 0.1 nS) clip 0 nS..)
        connect fixed_indegree(50) delay uniform(1 ms, 5 ms)
    project P -> I : ExpCond connect from "edges.csv"(weight = "w")
    project P -> I : ExpCond connect where abs(i - j) < 3
    modulator DA = step(t, 100 ms, 0, 1)
    let k = 3
    record spikes of E, I
    record v of E[0..10] every 1 ms
    record v of E[5..] every 1 ms
    record rate of E window 5 ms
}

run Coba for 1 s { dt = 0.1 ms, seed = 42 }
"#;

#[test]
fn sketch_parses_without_errors() {
    let p = parse(SKETCH);
    assert!(p.errors.is_empty(), "{:#?}", p.errors);
    assert_eq!(p.module.items.len(), 10);
    let Item::Model(m) = &p.module.items[6] else {
        panic!("expected a model")
    };
    assert_eq!(m.name.node, "LIF2");
    let ode = m.members.iter().find_map(|m| match &m.node {
        MemberKind::Ode {
            var,
            noise,
            unless_refractory,
            ..
        } => Some((
            var.node.clone(),
            noise.is_some(),
            unless_refractory.is_some(),
        )),
        _ => None,
    });
    assert_eq!(ode, Some(("v".to_string(), true, true)));
}

#[test]
fn units_bind_to_numbers_only_on_the_same_line() {
    let p = parse("const a = 5 mV / m\nconst b = 5\nconst m = 2");
    assert!(p.errors.is_empty(), "{:#?}", p.errors);
    let Item::Const(c) = &p.module.items[0] else {
        panic!()
    };
    let ExprKind::Binary(BinOp::Div, lhs, rhs) = &c.value.node else {
        panic!("{:?}", c.value)
    };
    assert!(matches!(&lhs.node, ExprKind::Num { unit: Some(_), .. }));
    assert!(matches!(&rhs.node, ExprKind::Name(n) if n.node == "m"));
}

#[test]
fn every_independent_syntax_error_is_reported() {
    let src = "neuron A {\n  parameter x = 1 +\n  state y = 2\n  state z = * 3\n}\nconst = 4\nconst ok = 5\n";
    let p = parse(src);
    assert!(p.errors.len() >= 3, "{:#?}", p.errors);
    assert!(
        p.module
            .items
            .iter()
            .any(|i| matches!(i, Item::Const(c) if c.name.node == "ok"))
    );
}
