//! Computes this build's identity: a hash of the sources of circ-exe and of
//! every workspace crate it links, the lock file, the profile, the target
//! and the compiler. `circ build` links only a runtime library whose
//! identity equals the one it was built with (`circ_exe::BUILD_ID`).

use std::path::{Path, PathBuf};

/// FNV-1a, 64 bits: enough to tell builds apart, and no dependency.
fn fnv(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0100_0000_01b3);
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs" || x == "toml") {
            out.push(p);
        }
    }
}

fn main() {
    let here = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let roots = [
        here.join("src"),
        here.join("Cargo.toml"),
        here.join("../circ-native"),
        here.join("../circ-ir"),
        here.join("../circ-units"),
        here.join("../../runtime"),
        here.join("../../Cargo.lock"),
    ];
    let mut all = vec![];
    for r in &roots {
        println!("cargo:rerun-if-changed={}", r.display());
        if r.is_dir() {
            files(r, &mut all);
        } else {
            all.push(r.clone());
        }
    }
    all.sort();
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for f in &all {
        fnv(
            &mut h,
            f.strip_prefix(&here)
                .unwrap_or(f)
                .to_string_lossy()
                .as_bytes(),
        );
        fnv(&mut h, &std::fs::read(f).unwrap_or_default());
    }
    for var in ["PROFILE", "TARGET", "OPT_LEVEL", "DEBUG"] {
        fnv(&mut h, std::env::var(var).unwrap_or_default().as_bytes());
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Ok(o) = std::process::Command::new(rustc).arg("-vV").output() {
        fnv(&mut h, &o.stdout);
    }
    println!("cargo:rustc-env=CIRC_EXE_BUILD_ID={h:016x}");
}
