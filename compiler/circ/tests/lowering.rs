//! What lowering decides about storage: a per-synapse parameter that every
//! synapse gets as the same constant is stored once; one that a file sets,
//! a recorder samples or plasticity changes stays per synapse.

mod common;

use circ_ir::Space;

fn space(net: &circ_ir::Network, proj: &str, var: &str) -> Space {
    let p = net
        .layout
        .projs
        .iter()
        .find(|p| p.name == proj)
        .unwrap_or_else(|| panic!("no projection {proj}"));
    p.vars
        .iter()
        .find(|v| v.name == var)
        .unwrap_or_else(|| panic!("no variable {var} in {proj}"))
        .space
}

#[test]
fn constant_synapse_parameters_are_stored_once() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let coba = std::fs::read_to_string(dir.join("../../examples/coba.circ")).expect("read");
    let net = common::lower("coba.circ", &coba).net;
    for p in ["exc[E -> E]", "exc[E -> I]", "inh[I -> E]", "inh[I -> I]"] {
        assert_eq!(space(&net, p, "w"), Space::Scalar, "{p}");
    }
    // Recorded and changed by STDP: per synapse.
    let threads = std::fs::read_to_string(dir.join("tests/data/threads.circ")).expect("read");
    let net = common::lower("threads.circ", &threads).net;
    assert_eq!(space(&net, "drive", "w"), Space::Syn);
    // Random per synapse: per synapse.
    let src = "use std::neurons::LIF\nuse std::synapses::Delta\ncircuit C {\n    population P = LIF[10]\n    project P -> P : Delta(w = normal(1 mV, 0.1 mV)) connect all_to_all\n}\nrun C for 1 ms\n";
    let net = common::lower("random.circ", src).net;
    assert_eq!(space(&net, "P -> P", "w"), Space::Syn);
}
