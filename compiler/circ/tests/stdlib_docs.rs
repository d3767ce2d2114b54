//! Every standard model is documented (what it is, its source, its
//! parameters' units) and its documentation's example runs; `circ doc`
//! prints them.

use std::process::Command;

fn circ() -> Command {
    Command::new(env!("CARGO_BIN_EXE_circ"))
}

#[test]
fn every_standard_model_has_a_doc_whose_example_runs() {
    let models = circ_stdlib::models();
    assert!(models.len() >= 21, "only {} models found", models.len());
    let base = std::env::temp_dir().join(format!("circ-docs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    for m in &models {
        let path = m.path();
        assert!(
            m.doc.lines().next().is_some_and(|l| l.ends_with('.')),
            "{path}: the doc's first line is not a sentence"
        );
        assert!(
            m.doc.contains("Parameters"),
            "{path}: no parameters documented"
        );
        let examples = m.examples();
        assert!(
            !examples.is_empty(),
            "{path}: no ```circ example in its doc"
        );
        for (k, src) in examples.iter().enumerate() {
            assert!(
                src.contains(&m.name),
                "{path}: example {k} does not use the model"
            );
            let dir = base.join(format!("{}-{k}", m.name));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let file = dir.join("example.circ");
            std::fs::write(&file, src).expect("write example");
            let o = circ()
                .arg("run")
                .arg(&file)
                .arg("--out")
                .arg(dir.join("out"))
                .output()
                .expect("run circ");
            assert!(
                o.status.success(),
                "{path}: example {k} failed:\n{}\n{}",
                String::from_utf8_lossy(&o.stderr),
                src
            );
            let recorded = std::fs::read_dir(dir.join("out"))
                .expect("outputs")
                .filter(|e| e.as_ref().is_ok_and(|e| e.file_name() != "summary.json"))
                .count();
            assert!(recorded > 0, "{path}: example {k} records nothing");
        }
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn circ_doc_prints_a_model_lists_a_module_and_suggests_names() {
    let o = circ()
        .args(["doc", "std::neurons::AdEx"])
        .output()
        .expect("run");
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("std::neurons::AdEx (neuron)"), "{text}");
    assert!(text.contains("Brette & Gerstner (2005)"), "{text}");
    assert!(text.contains("```circ"), "{text}");
    assert!(text.contains("neuron AdEx {"), "{text}");

    let o = circ().args(["doc", "std::synapses"]).output().expect("run");
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("std::synapses::ExpCond"), "{text}");
    assert!(!text.contains("std::neurons::"), "{text}");

    let o = circ().args(["doc", "adex"]).output().expect("run");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no model or module `adex`"), "{err}");
    assert!(err.contains("did you mean std::neurons::AdEx?"), "{err}");
}

/// The language reference is in the binary: `circ doc lang` lists every
/// page of spec/ (a page added there and not embedded fails here), `circ
/// doc lang/PAGE` prints it as written, and a keyword leads to its places.
#[test]
fn the_language_reference_is_in_the_binary() {
    let bin = env!("CARGO_BIN_EXE_circ");
    let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec");
    let doc = |arg: &str| {
        let o = std::process::Command::new(bin)
            .args(["doc", arg])
            .output()
            .expect("circ doc");
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let (code, list) = doc("lang");
    assert_eq!(code, Some(0));
    let mut pages = 0;
    for e in std::fs::read_dir(&spec).expect("spec") {
        let p = e.expect("entry").path();
        if p.extension().and_then(|x| x.to_str()) != Some("md") {
            continue;
        }
        let name = p.file_stem().expect("stem").to_string_lossy().into_owned();
        assert!(
            list.contains(&format!("lang/{name} ")),
            "{name} is not embedded:\n{list}"
        );
        let (code, text) = doc(&format!("lang/{name}"));
        assert_eq!(code, Some(0));
        assert_eq!(text, std::fs::read_to_string(&p).expect("page"), "{name}");
        pages += 1;
    }
    assert!(pages >= 10);
    let (code, text) = doc("delay");
    assert_eq!(code, Some(0));
    assert!(
        text.contains("`delay` is a keyword") && text.contains("lang/circuit:"),
        "{text}"
    );
    assert_eq!(doc("lang/nope").0, Some(1));
}
