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

/// The scalar parameters a kernel names.
fn scalar_params_read(net: &circ_ir::Network, pop: usize, kernel: &circ_ir::Kernel) -> Vec<String> {
    let mut vs = vec![];
    circ_ir::named_vars(&kernel.body, &mut vs);
    let vars = &net.layout.pops[pop].vars;
    vs.iter()
        .filter(|&&v| vars[v as usize].scalar && vars[v as usize].role == circ_ir::VarRole::Param)
        .map(|&v| vars[v as usize].name.clone())
        .collect()
}

#[test]
fn constant_parameters_are_written_into_kernels_and_time_dependent_ones_read() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let coba = std::fs::read_to_string(dir.join("../../examples/coba.circ")).expect("read");
    let net = common::lower("coba.circ", &coba).net;
    let k = &net.pops[0];
    assert_eq!(scalar_params_read(&net, 0, &k.update), Vec::<String>::new());
    let th = k.threshold.as_ref().expect("threshold");
    assert_eq!(scalar_params_read(&net, 0, th), Vec::<String>::new());
    // A step current changes in time: read every step.
    let step = std::fs::read_to_string(dir.join("../../examples/lif_step.circ")).expect("read");
    let net = common::lower("lif_step.circ", &step).net;
    assert_eq!(
        scalar_params_read(&net, 0, &net.pops[0].update),
        vec!["RI".to_string()]
    );
}
