//! Renders what a run recorded as files other tools read: NumPy `.npy`, CSV
//! for spikes, and `summary.json`. [`crate::outdir`] writes them, all or
//! nothing, so a reader never sees half a file or a mix of two runs.

use crate::layout::{NetLayout, Record, RecordKind};
use crate::outdir::{OutDir, OutError};
use crate::sim::RunResult;
use std::path::{Path, PathBuf};

pub use crate::outdir::write_atomic;

/// The bytes of a `.npy` file (format 1.0) holding `data` with `shape`.
/// `descr` is the NumPy type string (`<f8`, `<i8`).
pub fn npy_bytes(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let descr_txt = if descr.starts_with('[') {
        descr.to_string()
    } else {
        format!("'{descr}'")
    };
    let shape_txt = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header =
        format!("{{'descr': {descr_txt}, 'fortran_order': False, 'shape': {shape_txt}, }}");
    // Magic (6) + version (2) + header length (2) + header, padded to 64 bytes with a final newline.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A `.npy` of float64 values.
pub fn npy_f64(shape: &[usize], values: &[f64]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_bytes("<f8", shape, &data)
}

/// A `.npy` of int64 values.
pub fn npy_i64(values: &[i64]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_bytes("<i8", &[values.len()], &data)
}

/// A projection's name as it starts file names: `E -> I` is `E_to_I`, and
/// anything but letters, digits and `_` becomes `_`.
pub fn proj_file_name(name: &str) -> String {
    name.replace(" -> ", "_to_")
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The SI unit of `si` (`m^2*kg*s^-3*A^-1`) as its symbol where it has one
/// (`V`), else as written.
pub fn unit_symbol(si: &str) -> String {
    const SYMBOLS: [(&str, &str); 16] = [
        ("1", ""),
        ("m^2*kg*s^-3*A^-1", "V"),
        ("A", "A"),
        ("m^-2*kg^-1*s^3*A^2", "S"),
        ("m^-2*kg^-1*s^4*A^2", "F"),
        ("s^-1", "Hz"),
        ("s", "s"),
        ("m", "m"),
        ("m^2*kg*s^-3*A^-2", "Ohm"),
        ("s*A", "C"),
        ("m^2*kg*s^-3", "W"),
        ("m^2*kg*s^-2", "J"),
        ("m^-3*mol", "mol/m^3"),
        ("mol", "mol"),
        ("K", "K"),
        ("kg", "kg"),
    ];
    SYMBOLS
        .iter()
        .find(|(s, _)| *s == si)
        .map_or_else(|| si.to_string(), |(_, n)| n.to_string())
}

/// The files a recorder writes (spike files are the population's, written
/// once however often spikes are recorded, so none here).
pub fn record_files(layout: &NetLayout, rec: &Record) -> Vec<String> {
    let pre = &rec.prefix;
    let pop = layout.pops.get(rec.pop).map_or("", |p| p.name.as_str());
    let pair = |stem: String| vec![format!("{pre}{stem}.npy"), format!("{pre}{stem}_t.npy")];
    match rec.kind {
        RecordKind::Spikes => vec![],
        RecordKind::Var { var, .. } => {
            let name = layout.pops.get(rec.pop).and_then(|p| p.vars.get(var));
            pair(format!("{pop}_{}", name.map_or("", |v| v.name.as_str())))
        }
        RecordKind::Rate { .. } => pair(format!("{pop}_rate")),
        RecordKind::Synapses { proj, var, .. } => {
            let Some(p) = layout.projs.get(proj) else {
                return vec![];
            };
            let vname = p.vars.get(var).map_or("", |v| v.name.as_str());
            pair(format!("{}_{vname}", proj_file_name(&p.name)))
        }
        RecordKind::Connectivity { proj } => {
            let Some(p) = layout.projs.get(proj) else {
                return vec![];
            };
            let stem = proj_file_name(&p.name);
            ["i", "j", "delay"]
                .iter()
                .map(|x| format!("{pre}{stem}_{x}.npy"))
                .collect()
        }
    }
}

/// Facts about the run for `summary.json`.
#[derive(Clone, Debug)]
pub struct RunInfo {
    /// The model file.
    pub file: String,
    /// The circuit run.
    pub circuit: String,
    /// The seed.
    pub seed: u64,
    /// The backend that ran the kernels.
    pub backend: String,
    /// The circ version.
    pub version: String,
    /// Seconds spent before the first step (parse to kernels to state).
    pub build_seconds: f64,
    /// Files written beside the recordings by others (an NWB file), for
    /// the summary's list.
    pub extra_files: Vec<String>,
}

/// Reserves `dir` ([`OutDir::reserve`]) and writes every recording of
/// `result` into it with a `summary.json`, replacing an earlier run's files;
/// returns the files written.
pub fn write_outputs(
    dir: &Path,
    layout: &NetLayout,
    result: &RunResult,
    info: &RunInfo,
) -> Result<Vec<PathBuf>, OutError> {
    OutDir::reserve(dir, 0)?.commit(&render(layout, result, info))
}

/// Bytes of the recordings whose size is known before a run of `steps`
/// steps (sampled variables and rates; spike files depend on the spikes);
/// `synapses`: the synapses each projection made.
pub fn known_bytes(layout: &NetLayout, steps: u64, synapses: &[usize]) -> u64 {
    let mut bytes = 0u64;
    for rec in &layout.records {
        let (width, every) = match rec.kind {
            RecordKind::Spikes => continue,
            RecordKind::Connectivity { proj } => {
                // i, j and delay: 8 bytes each per synapse.
                let made = synapses.get(proj).copied().unwrap_or(0) as u64;
                bytes = bytes.saturating_add(made.saturating_mul(24));
                continue;
            }
            RecordKind::Var {
                first, last, every, ..
            } => (last.saturating_sub(first) as u64, every),
            RecordKind::Rate { window } => (1, window),
            RecordKind::Synapses {
                proj,
                var,
                first,
                last,
                every,
            } => {
                let Some(p) = layout.projs.get(proj) else {
                    continue;
                };
                let made = match p.vars.get(var).map(|v| v.space) {
                    Some(crate::layout::Space::Syn) => synapses.get(proj).copied().unwrap_or(0),
                    Some(crate::layout::Space::PreState) => layout.pops[p.pre].size,
                    Some(crate::layout::Space::PostState) => layout.pops[p.post].size,
                    Some(crate::layout::Space::Scalar) => 1,
                    _ => 0,
                };
                (last.min(made).saturating_sub(first) as u64, every)
            }
        };
        let rows = if rec.at.is_empty() {
            steps / every.max(1) + 1
        } else {
            rec.at.len() as u64
        };
        // Values and their times, 8 bytes each.
        bytes = bytes.saturating_add(
            rows.saturating_mul(width.saturating_add(1))
                .saturating_mul(8),
        );
    }
    bytes
}

/// The files of a population's spikes: times, indices, both as CSV.
fn spike_files(pop: &str) -> [String; 3] {
    ["_spikes_t.npy", "_spikes_i.npy", "_spikes.csv"].map(|x| format!("{pop}{x}"))
}

/// A recording as `summary.json` lists it: its files, what it samples
/// (`spikes`, `state`, `rate`, `synapses` or `connectivity`), of which
/// population or projection, which variable, and the values' SI unit.
fn recording_json(layout: &NetLayout, rec: &Record, files: &[String]) -> serde_json::Value {
    let pop = layout.pops.get(rec.pop).map_or("", |p| p.name.as_str());
    let proj = |k: usize| layout.projs.get(k);
    let (kind, of, var, files) = match rec.kind {
        RecordKind::Spikes => (
            "spikes",
            pop.to_string(),
            String::new(),
            spike_files(pop).to_vec(),
        ),
        RecordKind::Var { var, .. } => (
            "state",
            pop.to_string(),
            layout
                .pops
                .get(rec.pop)
                .and_then(|p| p.vars.get(var))
                .map_or(String::new(), |v| v.name.clone()),
            files.to_vec(),
        ),
        RecordKind::Rate { .. } => ("rate", pop.to_string(), "rate".into(), files.to_vec()),
        RecordKind::Synapses { proj: k, var, .. } => (
            "synapses",
            proj(k).map_or(String::new(), |p| p.name.clone()),
            proj(k)
                .and_then(|p| p.vars.get(var))
                .map_or(String::new(), |v| v.name.clone()),
            files.to_vec(),
        ),
        RecordKind::Connectivity { proj: k } => (
            "connectivity",
            proj(k).map_or(String::new(), |p| p.name.clone()),
            String::new(),
            files.to_vec(),
        ),
    };
    serde_json::json!({ "kind": kind, "of": of, "variable": var, "unit": rec.unit, "files": files })
}

/// The files of a run's recordings and its `summary.json`, as (name, bytes).
/// Times are in seconds; values in SI units.
pub fn render(layout: &NetLayout, result: &RunResult, info: &RunInfo) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = vec![];
    let mut put = |name: String, bytes: Vec<u8>| files.push((name, bytes));
    let duration = result.steps as f64 * result.dt;
    let mut pops_json = serde_json::Map::new();
    for (p, pop) in layout.pops.iter().enumerate() {
        let spikes = &result.spikes[p];
        let recorded = layout
            .records
            .iter()
            .any(|r| r.pop == p && r.kind == RecordKind::Spikes);
        if recorded {
            let t: Vec<f64> = spikes.iter().map(|(n, _)| *n as f64 * result.dt).collect();
            let i: Vec<i64> = spikes.iter().map(|(_, i)| i64::from(*i)).collect();
            let [ft, fi, fc] = spike_files(&pop.name);
            put(ft, npy_f64(&[t.len()], &t));
            put(fi, npy_i64(&i));
            let mut csv = String::from("t_s,index\n");
            for (t, i) in t.iter().zip(&i) {
                csv.push_str(&format!("{t:.6e},{i}\n"));
            }
            put(fc, csv.into_bytes());
        }
        let rate = if duration > 0.0 && pop.size > 0 {
            spikes.len() as f64 / (pop.size as f64 * duration)
        } else {
            0.0
        };
        // `index`: its place in the circuit (the map's keys are sorted).
        let mut entry = serde_json::json!({ "index": p, "model": pop.model, "size": pop.size, "spikes": spikes.len(), "mean_rate_hz": rate });
        if let Some(Some(st)) = result.step_stats.get(p) {
            entry["rk45"] = serde_json::json!({
                "substeps_accepted": st.accepted,
                "substeps_rejected": st.rejected,
                "substeps_per_step": st.per_step,
                "smallest_substep_s": st.smallest.is_finite().then_some(st.smallest),
            });
        }
        pops_json.insert(pop.name.clone(), entry);
    }
    let mut recordings = vec![];
    for (k, rec) in layout.records.iter().enumerate() {
        let s = &result.samples[k];
        let names = record_files(layout, rec);
        recordings.push(recording_json(layout, rec, &names));
        match rec.kind {
            RecordKind::Spikes => {}
            RecordKind::Connectivity { .. } => {
                let Some(Some(w)) = result.wiring.get(k) else {
                    continue;
                };
                let ints =
                    |v: &[u32]| npy_i64(&v.iter().map(|&x| i64::from(x)).collect::<Vec<_>>());
                let [fi, fj, fd] = &names[..] else { continue };
                put(fi.clone(), ints(&w.i));
                put(fj.clone(), ints(&w.j));
                put(fd.clone(), npy_f64(&[w.delay.len()], &w.delay));
            }
            RecordKind::Rate { .. } => {
                let [fv, ft] = &names[..] else { continue };
                put(fv.clone(), npy_f64(&[s.t.len()], &s.values));
                put(ft.clone(), npy_f64(&[s.t.len()], &s.t));
            }
            RecordKind::Var { .. } | RecordKind::Synapses { .. } => {
                let [fv, ft] = &names[..] else { continue };
                put(fv.clone(), npy_f64(&[s.t.len(), s.width], &s.values));
                put(ft.clone(), npy_f64(&[s.t.len()], &s.t));
            }
        }
    }
    let names: Vec<String> = files
        .iter()
        .map(|(n, _)| n.clone())
        .chain(info.extra_files.iter().cloned())
        .chain(["summary.json".to_string()])
        .collect();
    let summary = serde_json::json!({
        "file": info.file,
        "circuit": info.circuit,
        "seed": info.seed,
        "dt_s": result.dt,
        "steps": result.steps,
        "duration_s": duration,
        "completed": result.stopped.is_none(),
        "stopped_because": result.stopped.as_ref().map(ToString::to_string),
        "backend": info.backend,
        "circ_version": info.version,
        "build_seconds": info.build_seconds,
        "loop_seconds": result.loop_time.as_secs_f64(),
        "ranks": result.ranks,
        "communication_seconds": result.comm_time.as_secs_f64(),
        "exchange_every_steps": result.exchange_every,
        "synaptic_events": result.synaptic_events,
        "populations": pops_json,
        "recordings": recordings,
        "files": names,
    });
    files.push((
        "summary.json".to_string(),
        serde_json::to_string_pretty(&summary)
            .unwrap_or_default()
            .into_bytes(),
    ));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_parseable() {
        let b = npy_f64(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(&b[..6], b"\x93NUMPY");
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&b[10..10 + hlen]).expect("ascii");
        assert!(header.contains("'shape': (2, 3)") && header.ends_with('\n'));
        assert_eq!(b.len(), 10 + hlen + 48);
        assert_eq!(
            f64::from_le_bytes(b[10 + hlen..18 + hlen].try_into().expect("8 bytes")),
            1.0
        );
    }
}
