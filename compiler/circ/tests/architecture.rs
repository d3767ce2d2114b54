//! The dependency rules of `compiler/ARCHITECTURE.md`, checked against
//! `cargo metadata`: each crate depends only on the workspace crates its
//! row allows, the runtime on no compiler crate, executables' runtime
//! (`circ-exe`) on no code generator and no parser (not even through
//! another crate), no library on the command line; and the code map lists
//! every crate of the workspace.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Per workspace crate, the workspace crates it may depend on directly
/// (normal dependencies; tests and build scripts aside).
const ALLOWED: &[(&str, &[&str])] = &[
    ("circ-units", &[]),
    ("circ-syntax", &[]),
    ("circ-runtime", &[]),
    ("circ-stdlib", &[]),
    ("circ-diag", &["circ-syntax"]),
    (
        "circ-sema",
        &[
            "circ-syntax",
            "circ-units",
            "circ-diag",
            "circ-stdlib",
            "circ-math",
        ],
    ),
    ("circ-math", &[]),
    ("circ-ir", &["circ-runtime", "circ-math"]),
    (
        "circ-lower",
        &[
            "circ-syntax",
            "circ-units",
            "circ-diag",
            "circ-sema",
            "circ-ir",
            "circ-runtime",
        ],
    ),
    ("circ-interp", &["circ-ir", "circ-runtime"]),
    ("circ-native", &["circ-ir", "circ-runtime"]),
    ("circ-codegen-cranelift", &["circ-ir", "circ-native"]),
    ("circ-codegen-llvm", &["circ-ir", "circ-native"]),
    ("circ-codegen-spirv", &["circ-ir"]),
    ("circ-gpu", &["circ-ir", "circ-runtime"]),
    ("circ-nwb", &["circ-runtime"]),
    ("circ-mpi", &["circ-runtime"]),
    (
        "circ-exe",
        &["circ-ir", "circ-units", "circ-runtime", "circ-native"],
    ),
    (
        "circ-backends",
        &[
            "circ-ir",
            "circ-runtime",
            "circ-interp",
            "circ-native",
            "circ-codegen-cranelift",
            "circ-codegen-llvm",
            "circ-codegen-spirv",
            "circ-gpu",
        ],
    ),
    (
        "circ-driver",
        &[
            "circ-diag",
            "circ-units",
            "circ-sema",
            "circ-ir",
            "circ-lower",
            "circ-backends",
            "circ-exe",
            "circ-runtime",
        ],
    ),
    (
        "circ-python",
        &["circ-driver", "circ-diag", "circ-backends", "circ-runtime"],
    ),
    (
        "circ",
        &[
            "circ-driver",
            "circ-syntax",
            "circ-units",
            "circ-diag",
            "circ-sema",
            "circ-stdlib",
            "circ-ir",
            "circ-lower",
            "circ-backends",
            "circ-exe",
            "circ-runtime",
            "circ-nwb",
            "circ-mpi",
        ],
    ),
];

/// Packages (or name prefixes, ending in `*`) a crate must not reach through
/// any chain of normal dependencies.
const NEVER: &[(&str, &[&str])] = &[
    (
        "circ-exe",
        &[
            "cranelift*",
            "inkwell",
            "llvm-sys",
            "circ-codegen-*",
            "circ-syntax",
            "circ-sema",
            "circ-lower",
            "circ-interp",
            "logos",
            "lalrpop*",
            // Executables run anywhere: no libhdf5.
            "hdf5*",
        ],
    ),
    (
        "circ-native",
        &["cranelift*", "inkwell", "llvm-sys", "circ-interp"],
    ),
    ("circ-runtime", &["circ-*"]),
];

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

/// The workspace's packages, and each one's normal dependencies (by name),
/// from `cargo metadata --no-deps` (what the manifests declare: no
/// download, no resolution). Crates outside the workspace never depend on
/// a workspace crate, and those the rules forbid (Cranelift, the parser
/// generator, the lexer) are reached only through a workspace crate's own
/// dependency, so walking workspace crates and their direct dependencies
/// finds every forbidden path.
fn metadata() -> (BTreeSet<String>, BTreeMap<String, BTreeSet<String>>) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(&root)
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let mut members = BTreeSet::new();
    let mut deps = BTreeMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        let name = p["name"].as_str().expect("name").to_string();
        let normal: BTreeSet<String> = p["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().expect("name").to_string())
            .collect();
        members.insert(name.clone());
        deps.insert(name, normal);
    }
    (members, deps)
}

#[test]
fn crates_depend_only_on_what_the_architecture_allows() {
    let (members, deps) = metadata();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut broken = vec![];
    for m in &members {
        let Some(ok) = allowed.get(m.as_str()) else {
            broken.push(format!(
                "{m}: not in the dependency rules (tests/architecture.rs)"
            ));
            continue;
        };
        for d in deps.get(m).into_iter().flatten() {
            if members.contains(d) && !ok.contains(&d.as_str()) {
                broken.push(format!("{m} depends on {d}, which its rule does not allow"));
            }
        }
    }
    for (krate, never) in NEVER {
        // Everything reachable through normal dependencies.
        let mut seen = BTreeSet::new();
        let mut stack = vec![krate.to_string()];
        while let Some(p) = stack.pop() {
            for d in deps.get(&p).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    stack.push(d.clone());
                }
            }
        }
        for d in &seen {
            if never.iter().any(|n| matches(n, d)) {
                broken.push(format!(
                    "{krate} reaches {d}, which it must never depend on"
                ));
            }
        }
    }
    // No library crate depends on the command line.
    for (p, ds) in &deps {
        if ds.contains("circ") {
            broken.push(format!("{p} depends on the command line (circ)"));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_code_map_lists_every_crate() {
    let (members, _) = metadata();
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ARCHITECTURE.md"),
    )
    .expect("ARCHITECTURE.md");
    let map = doc
        .split("## Code map")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a code map section");
    for m in &members {
        assert!(
            map.contains(&format!("| `{m}`")),
            "compiler/ARCHITECTURE.md's code map has no row for {m}"
        );
    }
}
