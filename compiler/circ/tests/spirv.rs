//! The SPIR-V generator (issue 17, first part): every function of every
//! example that it translates passes `spirv-val` for Vulkan 1.2, every
//! float operation in it is `NoContraction`, and no transcendental of
//! GLSL.std.450 appears (they are f32-only; circ's own programs are used).
//! Without `spirv-val` (spirv-tools, which scripts/install-deps installs)
//! the test fails and says so.

mod common;

use rspirv::dr::{Loader, Operand};
use rspirv::spirv::{Decoration, Op};
use std::collections::HashSet;

fn spirv_val(words: &[u32], name: &str) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("circ-spirv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join(format!("{name}.spv"));
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
    let o = std::process::Command::new("spirv-val")
        .args(["--target-env", "vulkan1.2"])
        .arg(&path)
        .output()
        .map_err(|e| {
            format!("cannot run spirv-val (install spirv-tools: scripts/install-deps): {e}")
        })?;
    let _ = std::fs::remove_file(&path);
    // The folder goes with the last file (another module may be in it).
    let _ = std::fs::remove_dir(&dir);
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

/// Float arithmetic without `NoContraction`, and GLSL.std.450 calls other
/// than Sqrt (31), Floor (8), FindILsb (73) and FindUMsb (75), the last
/// two on integers.
fn unexact(words: &[u32]) -> Vec<String> {
    let mut loader = Loader::new();
    rspirv::binary::parse_words(words, &mut loader).expect("the module parses");
    let module = loader.module();
    let exact: HashSet<u32> = module
        .annotations
        .iter()
        .filter(|i| {
            i.class.opcode == Op::Decorate
                && i.operands.get(1) == Some(&Operand::Decoration(Decoration::NoContraction))
        })
        .filter_map(|i| match i.operands.first() {
            Some(Operand::IdRef(id)) => Some(*id),
            _ => None,
        })
        .collect();
    let mut bad = vec![];
    for f in &module.functions {
        for block in &f.blocks {
            for i in &block.instructions {
                let arith = matches!(
                    i.class.opcode,
                    Op::FAdd | Op::FSub | Op::FMul | Op::FDiv | Op::FNegate
                );
                if arith && !i.result_id.is_some_and(|id| exact.contains(&id)) {
                    bad.push(format!("{:?} without NoContraction", i.class.opcode));
                }
                if i.class.opcode == Op::ExtInst
                    && let Some(Operand::LiteralExtInstInteger(n)) = i.operands.get(1)
                    && ![31, 8, 73, 75].contains(n)
                {
                    bad.push(format!("GLSL.std.450 instruction {n}"));
                }
            }
        }
    }
    bad
}

#[test]
fn every_translated_function_of_every_example_is_valid_and_exact() {
    let (mut translated, mut refused) = (0, 0);
    let mut names = vec![];
    // And the models whose kernels read data tables while running.
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut models = common::lowered_examples();
    for file in [
        "tables.circ",
        "per_neuron.circ",
        "pre_let.circ",
        "branches.circ",
    ] {
        let src = std::fs::read_to_string(data.join(file)).expect("model");
        models.push((file.to_string(), common::lower(file, &src).net));
    }
    for (file, net) in models {
        let plan = circ_ir::plan::Plan::new(&net);
        for (f, func) in plan.functions.iter().enumerate() {
            // The synapse part of an `on pre` as an arrival kernel.
            if circ_codegen_spirv::arrivals_supported(&net, &plan, f).is_ok() {
                let name = format!("{}-{}-arrivals", file.trim_end_matches(".circ"), func.name);
                let words = circ_codegen_spirv::arrivals(&net, &plan, f)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                if let Err(e) = spirv_val(&words, &name) {
                    panic!("{name}: spirv-val: {e}");
                }
                let bad = unexact(&words);
                assert!(bad.is_empty(), "{name}: {bad:?}");
                names.push(name);
            }
            if let Err(why) = circ_codegen_spirv::supported(&net, &plan, f) {
                assert!(why.starts_with("not on the GPU yet: "), "{why}");
                refused += 1;
                continue;
            }
            let name = format!("{}-{}", file.trim_end_matches(".circ"), func.name);
            let words = circ_codegen_spirv::compile(&net, &plan, f)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            if let Err(e) = spirv_val(&words, &name) {
                panic!("{name}: spirv-val: {e}");
            }
            let bad = unexact(&words);
            assert!(bad.is_empty(), "{name}: {bad:?}");
            translated += 1;
            names.push(name);
        }
    }
    // The runtime's own modules: refractory periods, marks, and the
    // handlers' additions applied (with and without held variables).
    let runtime = [
        ("refractory", circ_codegen_spirv::refractory_module()),
        ("mark", circ_codegen_spirv::mark_module()),
        (
            "apply",
            circ_codegen_spirv::apply_events_module(9, &[7], &[], None),
        ),
        (
            "apply-held",
            circ_codegen_spirv::apply_events_module(9, &[2, 7], &[7], Some(3)),
        ),
    ];
    for (name, words) in runtime {
        let words = words.unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Err(e) = spirv_val(&words, name) {
            panic!("{name}: spirv-val: {e}");
        }
        let bad = unexact(&words);
        assert!(bad.is_empty(), "{name}: {bad:?}");
    }
    eprintln!("measured: {translated} functions translated, {refused} not yet");
    // The fused steps of the benchmark networks are among them (draws,
    // exp, couplings and spike conditions included).
    for want in [
        "coba-circ_k_pop0_step",
        "cobahh-circ_k_pop0_step",
        "brunel_hakim1999-circ_k_pop0_step",
        "coba-circ_k_pop0_init",
        "cuba-circ_k_proj0_on_pre1-arrivals",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} not translated: {names:?}"
        );
    }
}
