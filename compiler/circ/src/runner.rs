//! circ-runner: what every executable from `circ build` is, with the
//! model's kernels appended (`circ_exe::appended`). It links circ's run
//! loop and the native executor only (no parser, no code generator), and
//! exports the functions kernels import (`build.rs` links it with
//! `-rdynamic`). Run alone, it says it has no model.

use std::process::ExitCode;

mod ranks;

fn main() -> ExitCode {
    // Referenced here so the linker keeps them, exported, for the object.
    circ_exe::appended::keep_imports();
    std::hint::black_box(circ_exe::BUILD_ID);
    let args: Vec<String> = std::env::args().collect();
    let exe = std::env::current_exe().and_then(std::fs::read);
    let loaded = match exe {
        Ok(bytes) => circ_exe::appended::load(&bytes),
        Err(e) => Err(format!("cannot read this executable: {e}")),
    };
    // Under `mpirun`: this process's rank of the run's processes.
    let comm = match ranks::start_quiet() {
        Ok(c) => c,
        Err(code) => return code,
    };
    match loaded {
        Ok(l) => ExitCode::from(circ_exe::run_embedded(args, l.data, l.fns, &*comm)),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
