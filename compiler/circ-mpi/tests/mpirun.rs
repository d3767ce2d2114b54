//! The collectives under `mpirun` with 1 to 4 ranks (oversubscribed on a
//! small machine).
#![cfg(feature = "mpi")]

use std::process::Command;

#[test]
fn collectives_agree_on_one_to_four_ranks() {
    for n in 1..=4 {
        let out = Command::new("mpirun")
            .args([
                "--oversubscribe",
                "--allow-run-as-root",
                "-n",
                &n.to_string(),
            ])
            .arg(env!("CARGO_BIN_EXE_circ-mpi-selftest"))
            .output()
            .expect("mpirun runs (scripts/install-deps installs Open MPI)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{n} ranks: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut ranks: Vec<&str> = text.lines().filter(|l| l.starts_with("ok ")).collect();
        ranks.sort_unstable();
        assert_eq!(ranks.len(), n, "{text}");
        assert!(
            ranks.iter().all(|l| l.ends_with(&format!(" {n}"))),
            "{text}"
        );
    }
}
