//! Every example compiles to a relocatable object file that defines each
//! kernel, the kernel table and the embedded model data, and imports the
//! runtime's math functions: what `circ build` links into an executable.

mod common;

use std::process::Command;

#[test]
fn every_example_compiles_to_an_object_file() {
    let tmp = std::env::temp_dir().join(format!("circ-obj-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp");
    for f in common::examples() {
        let name = f.display().to_string();
        let lowered = common::lower(&name, &std::fs::read_to_string(&f).expect("read"));
        let plan = circ_ir::plan::Plan::new(&lowered.net);
        let kernels = &plan.map;
        let bytes =
            circ_codegen_cranelift::object(&lowered.net, &plan, b"model".to_vec()).expect("object");
        assert!(!kernels.names.is_empty(), "{name}: no kernels");
        let path = tmp.join("model.o");
        std::fs::write(&path, &bytes).expect("write");
        let out = Command::new("nm").arg(&path).output().expect("run nm");
        assert!(out.status.success(), "{name}: nm cannot read the object");
        let text = String::from_utf8_lossy(&out.stdout);
        let defined: Vec<&str> = text
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace().rev();
                let sym = w.next()?;
                let kind = w.next()?;
                (kind != "U").then_some(sym)
            })
            .collect();
        for sym in kernels
            .names
            .iter()
            .map(String::as_str)
            .chain(circ_codegen_cranelift::OBJECT_SYMBOLS)
        {
            assert!(defined.contains(&sym), "{name}: {sym} is not defined");
        }
        assert!(
            text.lines().any(|l| l.trim_start().starts_with("U circ_")),
            "{name}: no runtime imports"
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
