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

/// Constants are folded once, by the checker, with circ's own math: the
/// value a kernel would compute at run time (spec/math.md), which lowering
/// writes into the kernels as it is.
#[test]
fn constants_take_their_values_from_the_checker() {
    let src = "const k = exp(-0.1 ms / 3 ms) * sqrt(2) + 2 ^ 0.5 + max(1, 2)\nneuron N {\n    parameter a = k\n    state v = 0\n    dv/dt = -v / 10 ms\n}\ncircuit C {\n    population P = N[1]\n}\nrun C for 1 ms\n";
    let (map, analysis) = circ_sema::check_source("k.circ", src);
    assert!(!analysis.has_errors(), "{:?}", analysis.diagnostics);
    let _ = map;
    let (id, _) = analysis.program.resolve(0, "k").expect("k");
    let want = circ_ir::eval_func(circ_ir::Func::Exp, &[-0.1 / 3.0])
        * circ_ir::eval_func(circ_ir::Func::Sqrt, &[2.0])
        + circ_ir::math::eval_bin(circ_ir::Bin::Pow, 2.0, 0.5).expect("pow")
        + 2.0;
    let got = analysis
        .program
        .const_type(id)
        .and_then(|t| t.konst())
        .expect("the checker knows k");
    assert_eq!(got.to_bits(), want.to_bits(), "{got} vs {want}");
    // Lowering writes that value (the parameter's dynamic kernel stores it).
    let net = common::lower("k.circ", src).net;
    let stored = net.pops[0].dynamic.body.iter().any(|s| {
        matches!(s, circ_ir::Stmt::Store(_, circ_ir::Expr::Const(c)) if c.to_bits() == want.to_bits())
    });
    assert!(stored, "{}", circ_ir::print(&net));
}

/// A fused pass keeps its population's inputs in registers (never stored)
/// unless something else reads them: here J's `I_syn` is recorded, E's and
/// I's are not (tests/differential.rs runs this file on every backend).
#[test]
fn fused_passes_store_only_the_inputs_something_reads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fused.circ");
    let src = std::fs::read_to_string(&path).expect("fused.circ");
    let net = common::lower("fused.circ", &src).net;
    let plan = circ_ir::plan::Plan::new(&net);
    let scratch = |pop: &str| {
        let p = net
            .layout
            .pops
            .iter()
            .position(|x| x.name == pop)
            .expect("population");
        let f = plan
            .functions
            .iter()
            .position(|f| f.kind == circ_ir::plan::FnKind::Fused(p))
            .unwrap_or_else(|| panic!("{pop} has no fused pass"));
        plan.scratch(f)
            .iter()
            .map(|&v| net.layout.pops[p].vars[v as usize].name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(scratch("E"), ["I_syn"]);
    assert_eq!(scratch("I"), ["I_syn"]);
    assert!(scratch("J").is_empty(), "{:?}", scratch("J"));
}
