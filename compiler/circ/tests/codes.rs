//! Codes and pages cannot drift: every code has a page (the build embeds
//! them), every page has a code, and every code the compiler emits is
//! registered.

use std::collections::HashSet;
use std::path::Path;

#[test]
fn every_page_has_a_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/diagnostics");
    let codes: HashSet<&str> = circ_diag::CODES.iter().map(|c| c.code).collect();
    for entry in std::fs::read_dir(dir).expect("spec/diagnostics") {
        let p = entry.expect("entry").path();
        let stem = p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        assert!(
            codes.contains(stem.as_str()),
            "page {} has no registered code",
            p.display()
        );
    }
    for c in circ_diag::CODES {
        assert!(
            c.page.starts_with(&format!("# `{}`", c.code)),
            "page of {} must start with its code",
            c.code
        );
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("dir") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().and_then(|e| e.to_str()) == Some("rs")
            && p.components().any(|c| c.as_os_str() == "src")
        {
            out.push(p);
        }
    }
}

#[test]
fn every_emitted_code_is_registered() {
    let codes: HashSet<&str> = circ_diag::CODES.iter().map(|c| c.code).collect();
    let mut files = vec![];
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
        &mut files,
    );
    let mut used = HashSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        for pat in ["Diagnostic::error(", "Diagnostic::warning("] {
            for (i, _) in text.match_indices(pat) {
                let rest = text[i + pat.len()..].trim_start();
                if let Some(lit) = rest.strip_prefix('"') {
                    let code = lit.split('"').next().unwrap_or_default().to_string();
                    assert!(
                        codes.contains(code.as_str()),
                        "{} emits unregistered code `{code}`",
                        f.display()
                    );
                    used.insert(code);
                }
            }
        }
    }
    assert!(
        used.len() >= 30,
        "the scan found only {} codes; did the constructor change?",
        used.len()
    );
}
