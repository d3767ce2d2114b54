//! The lowered network (kernels and layout) survives a round trip through a
//! serialised form unchanged, every float to the bit (infinities included):
//! the form `circ build` is to embed in executables.

mod common;

#[test]
fn every_example_network_round_trips() {
    let mut sources: Vec<(String, String)> = common::examples()
        .iter()
        .map(|f| {
            (
                f.display().to_string(),
                std::fs::read_to_string(f).expect("read"),
            )
        })
        .collect();
    sources.push((
        "inf.circ".into(),
        "neuron N {\n    parameter tau = 10 ms\n    parameter cap = inf * 1 mV\n    state v = 0 mV\n    dv/dt = (min(cap, 20 mV) - v) / tau\n}\ncircuit C {\n    population P = N[2]\n    record v of P\n}\nrun C for 1 ms\n".into(),
    ));
    for (name, src) in sources {
        let lowered = common::lower(&name, &src);
        let bytes = postcard::to_stdvec(&lowered.net).expect("serialise");
        let back: circ_ir::Network = postcard::from_bytes(&bytes)
            .unwrap_or_else(|e| panic!("{name}: cannot read back: {e}"));
        assert!(
            back == lowered.net,
            "{name}: the network changed in the round trip"
        );
    }
}
