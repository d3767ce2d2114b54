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

/// The IR's text form (`circ run --emit ir`) reads back to the same network,
/// every float to the bit: every example and test model.
#[test]
fn every_network_round_trips_through_its_text_form() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut files = common::examples();
    files.extend(
        std::fs::read_dir(&data)
            .expect("tests/data")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "circ")),
    );
    for f in files {
        let name = f.display().to_string();
        let src = std::fs::read_to_string(&f).expect("read");
        let net = common::lower(&name, &src).net;
        let text = circ_ir::print(&net);
        let back = circ_ir::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            postcard::to_stdvec(&back).expect("serialise"),
            postcard::to_stdvec(&net).expect("serialise"),
            "{name}: the network changed through its text form"
        );
        assert_eq!(circ_ir::print(&back), text, "{name}");
    }
}

/// A malformed text is refused with the line at fault.
#[test]
fn a_malformed_ir_text_names_its_line() {
    for (text, line, what) in [
        (
            "population \"P\" = \"M\"[2]\n  var %0 \"x\": State\n  kernel update (each, 0 temps) {\n    y <- 1e0\n  }\n",
            4,
            "no variable `y`",
        ),
        (
            "population \"P\" = \"M\"[2]\n  var %1 \"x\": State\n",
            2,
            "expected var %0",
        ),
        (
            "population \"P\" = \"M\"[2]\n  var %0 \"x\": State\n  kernel update (each, 0 temps) {\n    x <- (x +\n  }\n",
            4,
            "ends too early",
        ),
        ("projection \"p\": \"A\" -> \"B\"\n", 1, "no population `A`"),
        (
            "population \"P\" = \"M\"[2]\n  kernel update (everywhere, 0 temps) {}\n",
            2,
            "unknown domain",
        ),
    ] {
        let e = circ_ir::parse(text).expect_err(text);
        assert_eq!(e.line, line, "{text}: {e}");
        assert!(e.message.contains(what), "{text}: {e}");
    }
}
