//! circ-stdlib owns the standard library's source text: models written in
//! circ, embedded in the binary. It must not interpret them: circ-sema loads
//! `std::NAME` from here like any other module.

/// Every standard module: its path after `std::` and its source.
pub const MODULES: &[(&str, &str)] = &[
    ("neurons", include_str!("../neurons.circ")),
    ("synapses", include_str!("../synapses.circ")),
    ("plasticity", include_str!("../plasticity.circ")),
];

/// The source of `std::NAME`, if that module exists.
pub fn module(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|m| m.0 == name).map(|m| m.1)
}
