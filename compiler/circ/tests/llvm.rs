//! The LLVM backend's code keeps the interpreter's bits by construction:
//! no module of any example holds a fused multiply-add, a fast-math flag
//! or a call to anything but circ's own functions and the exact IEEE
//! intrinsics (`sqrt`, `floor`). The differential tests compare its outputs.

mod common;

/// Whether a line of LLVM IR breaks the rules; what it breaks.
fn forbidden(line: &str) -> Option<&'static str> {
    let l = line.trim();
    if l.contains("fma") || l.contains("fmuladd") {
        return Some("a fused multiply-add");
    }
    for flag in [
        " fast ",
        " contract ",
        " reassoc ",
        " afn ",
        " arcp ",
        " nnan ",
        " ninf ",
    ] {
        if l.contains(flag) {
            return Some("a fast-math flag");
        }
    }
    if let Some(at) = l.find("call ") {
        let callee = l[at..].split('@').nth(1).unwrap_or("");
        // circ's functions, and LLVM's intrinsics but its floating-point
        // math (square root and floor are exact and allowed).
        const MATH: [&str; 22] = [
            "exp",
            "log",
            "pow",
            "sin",
            "cos",
            "tan",
            "asin",
            "acos",
            "atan",
            "sinh",
            "cosh",
            "tanh",
            "fma",
            "fmuladd",
            "rint",
            "round",
            "nearbyint",
            "trunc",
            "ceil",
            "copysign",
            "ldexp",
            "frexp",
        ];
        let ok = callee.starts_with("circ_")
            || callee
                .strip_prefix("llvm.")
                .is_some_and(|f| !MATH.iter().any(|m| f.starts_with(m)));
        if !ok {
            return Some("a call to a function that is not circ's");
        }
    }
    None
}

#[test]
fn no_example_compiles_to_an_fma_a_fast_math_flag_or_a_libm_call() {
    let cpu = circ_codegen_llvm::Cpu::host();
    let mut checked = 0;
    for path in common::examples() {
        let src = std::fs::read_to_string(&path).expect("example");
        let name = path.display().to_string();
        let lowered = common::lower(&name, &src);
        let plan = circ_ir::plan::Plan::new(&lowered.net);
        let code = circ_codegen_llvm::compile(&lowered.net, &plan, &cpu, true)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(code.listing.len(), plan.functions.len(), "{name}");
        for (f, ir) in &code.listing {
            for line in ir.lines() {
                if let Some(why) = forbidden(line) {
                    panic!("{name}: {f} holds {why}: {line}");
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} functions checked");
}

#[test]
fn the_rule_finds_what_it_forbids() {
    assert!(
        forbidden("  %5 = call double @llvm.fma.f64(double %1, double %2, double %3)").is_some()
    );
    assert!(forbidden("  %5 = fmul fast double %1, %2").is_some());
    assert!(forbidden("  %5 = fadd contract double %1, %2").is_some());
    assert!(forbidden("  %5 = call double @exp(double %1)").is_some());
    assert!(forbidden("  %5 = call <4 x double> @llvm.exp.v4f64(<4 x double> %1)").is_some());
    assert!(forbidden("  %5 = call double @circ_rem(double %1, double %2)").is_none());
    assert!(forbidden("  %5 = call <8 x double> @llvm.sqrt.v8f64(<8 x double> %1)").is_none());
    assert!(forbidden("  %5 = fadd double %1, %2").is_none());
    assert!(forbidden("  %5 = tail call i64 @llvm.usub.sat.i64(i64 %7, i64 %9)").is_none());
    assert!(forbidden("  %5 = call double @llvm.pow.f64(double %1, double %2)").is_some());
    assert!(forbidden("  call void @llvm.memset.p0.i64(ptr %a, i8 0, i64 %n, i1 false)").is_none());
}

/// `--explain-backend` says how each kernel runs: COBA's fused population
/// steps and its initialisers (which draw: draws are inlined math) in
/// vector loops (LLVM: the CPU's width; Cranelift: 2 lanes), its arrivals
/// one element at a time, with why.
#[test]
fn explain_backend_names_each_kernels_vector_width() {
    let coba = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/coba.circ");
    let explain = |backend: &str| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_circ"))
            .args(["run", "--explain-backend", "--backend", backend])
            .arg(&coba)
            .output()
            .expect("run circ");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let lanes = circ_codegen_llvm::Cpu::host().lanes();
    let llvm = explain("llvm");
    assert!(
        llvm.contains(&format!(
            "circ_k_pop0_step: LLVM: vector loop of {lanes} x f64"
        )),
        "{llvm}"
    );
    assert!(
        llvm.contains(&format!(
            "circ_k_pop0_init: LLVM: vector loop of {lanes} x f64"
        )),
        "{llvm}"
    );
    assert!(
        llvm.contains("circ_k_proj0_on_pre1: LLVM: one element at a time: visits a list"),
        "{llvm}"
    );
    let jit = explain("jit");
    assert!(
        jit.contains("circ_k_pop0_step: Cranelift: vector loop of 2 x f64"),
        "{jit}"
    );
}

/// `auto` says in the summary when LLVM's code took over: here exactly
/// before step 3 (`CIRC_SWAP_AT`), with the seconds it took to compile.
#[test]
fn auto_reports_when_llvms_code_took_over() {
    let coba = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/coba.circ");
    let out = std::env::temp_dir().join(format!("circ-llvm-auto-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_circ"))
        .args(["run", "--duration", "2 ms", "--out"])
        .arg(&out)
        .arg(&coba)
        .env("CIRC_SWAP_AT", "3")
        .output()
        .expect("run circ");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = std::fs::read_to_string(out.join("summary.json")).expect("summary");
    let v: serde_json::Value = serde_json::from_str(&summary).expect("json");
    let backend = v["backend"].as_str().unwrap_or_default();
    assert!(
        backend.starts_with("auto (llvm from step 3, ") && backend.contains("compiled in"),
        "{backend}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
