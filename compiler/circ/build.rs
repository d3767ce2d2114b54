//! The runner exports its symbols: the model object an executable carries
//! imports `circ_rem` and the rest from it (`circ_exe::appended`).

fn main() {
    // Only the functions kernels import: exporting every symbol would
    // double the runner.
    println!("cargo:rustc-link-arg-bin=circ-runner=-Wl,--export-dynamic-symbol=circ_*");
    println!("cargo:rerun-if-changed=build.rs");
}
