//! Replays the fuzzers' kept corpora (`fuzz/corpus/check`: what `circ
//! check` runs; `fuzz/corpus/data`: the data-file readers) on stable Rust,
//! so that every input a fuzzing run found interesting stays a regression
//! test: each must end in a result or a diagnostic, never a panic.

use std::path::{Path, PathBuf};

fn corpus(name: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

#[test]
fn check_corpus_replays_without_panics() {
    let files = corpus("check");
    assert!(files.len() >= 100, "only {} inputs", files.len());
    for f in files {
        let bytes = std::fs::read(&f).expect("read");
        let Ok(src) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let outcome = std::panic::catch_unwind(|| {
            let (map, ds) = circ_lower::check_text("fuzz.circ", src, Some(1 << 30));
            let _ = circ_diag::render_all_text(&ds, &map, false);
            let _ = circ_diag::render_json(&ds, &map);
        });
        assert!(outcome.is_ok(), "{} panicked", f.display());
    }
}

#[test]
fn data_corpus_replays_without_panics() {
    let files = corpus("data");
    assert!(files.len() >= 10, "only {} inputs", files.len());
    for f in files {
        let bytes = std::fs::read(&f).expect("read");
        let outcome = std::panic::catch_unwind(|| circ_runtime::data::exercise(&bytes));
        assert!(outcome.is_ok(), "{} panicked", f.display());
    }
}
