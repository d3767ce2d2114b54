//! `circ plot OUT_DIR`: figures of a run's recordings, read back from its
//! folder (`summary.json` says what each file holds and in which unit): a
//! raster of every recorded population, their rates, each recorded
//! variable's traces and each recorded synapse variable's histogram, as
//! PNG or SVG, and with `--html` one self-contained page with all of them.
//! Time axes run from 0 to the end of the run; values are shown in the
//! unit that suits them (`mV`, `nS`), neuron indices as whole numbers.

use crate::plot::{Figure, short};
use std::path::{Path, PathBuf};

/// Most spikes drawn in a raster (more are thinned evenly, and the title
/// says so): a raster of millions of dots shows no more than this.
const MAX_DOTS: usize = 200_000;

/// Most traces drawn of one recording (its first elements).
const MAX_TRACES: usize = 10;

/// Bins of a rate's or a histogram's bars.
const BINS: usize = 100;

/// A run's folder read back: its summary and a way to read its arrays.
struct Run {
    dir: PathBuf,
    summary: serde_json::Value,
}

/// An array of a recording: its shape and values (row-major).
struct Array {
    rows: usize,
    cols: usize,
    values: Vec<f64>,
}

impl Run {
    fn open(dir: &Path) -> Result<Run, String> {
        let path = dir.join("summary.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "{} has no summary.json ({e}): give the folder a `circ run --out` wrote",
                dir.display()
            )
        })?;
        let summary: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a summary circ wrote: {e}", path.display()))?;
        if !summary.get("recordings").is_some_and(|r| r.is_array()) {
            return Err(format!(
                "{}: no list of recordings (written by an older circ: run the model again)",
                path.display()
            ));
        }
        Ok(Run {
            dir: dir.to_path_buf(),
            summary,
        })
    }

    fn f64_of(&self, key: &str) -> f64 {
        self.summary
            .get(key)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0)
    }

    /// The size of population `pop` (0 if unknown).
    fn size(&self, pop: &str) -> usize {
        self.summary["populations"][pop]["size"]
            .as_u64()
            .unwrap_or(0) as usize
    }

    /// A `.npy` file of the run: 1-D as one column, 2-D as rows of columns.
    fn array(&self, file: &str) -> Result<Array, String> {
        let path = self.dir.join(file);
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let (columns, rows) = circ_runtime::npy::parse_maybe_empty(&bytes)
            .map_err(|why| format!("{}: not a valid .npy file: {why}", path.display()))?;
        if let Some(v) = columns.get("values") {
            return Ok(Array {
                rows,
                cols: 1,
                values: v.clone(),
            });
        }
        let mut cols: Vec<(usize, &Vec<f64>)> = columns
            .iter()
            .filter_map(|(k, v)| k.parse::<usize>().ok().map(|i| (i, v)))
            .collect();
        cols.sort_by_key(|c| c.0);
        let mut values = Vec::with_capacity(rows * cols.len());
        for r in 0..rows {
            values.extend(cols.iter().map(|c| c.1.get(r).copied().unwrap_or(f64::NAN)));
        }
        Ok(Array {
            rows,
            cols: cols.len(),
            values,
        })
    }
}

/// One recording as `summary.json` lists it.
struct Recording {
    kind: String,
    of: String,
    variable: String,
    unit: String,
    files: Vec<String>,
}

fn recordings(run: &Run) -> Vec<Recording> {
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or("").to_string();
    run.summary["recordings"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|r| Recording {
                    kind: s(r, "kind"),
                    of: s(r, "of"),
                    variable: s(r, "variable"),
                    unit: s(r, "unit"),
                    files: r["files"]
                        .as_array()
                        .map(|f| {
                            f.iter()
                                .filter_map(|x| x.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The unit to show values of SI unit `si` (`Dim::si`'s form) around
/// `typical` in: what to divide by, and its name.
fn shown(si: &str, values: &[f64]) -> (f64, String) {
    let typical = values
        .iter()
        .filter(|v| v.is_finite())
        .fold(0f64, |a, &b| a.max(b.abs()));
    match circ_units::Dim::from_si(si) {
        Some(dim) => crate::units_fmt::display_unit(dim, typical),
        None => (1.0, String::new()),
    }
}

fn label(name: &str, unit: &str) -> String {
    if unit.is_empty() {
        name.to_string()
    } else {
        format!("{name} ({unit})")
    }
}

/// The figures of a run, each with the file stem it is written under.
fn figures(run: &Run) -> Result<Vec<(String, Figure)>, String> {
    let end_ms = run.f64_of("duration_s") * 1e3;
    let dt = run.f64_of("dt_s");
    let time = Some((0.0, end_ms));
    let recs = recordings(run);
    let mut out = vec![];
    // Spikes: one raster (populations stacked, each its colour) and their
    // rates.
    let spiking: Vec<&Recording> = recs.iter().filter(|r| r.kind == "spikes").collect();
    if !spiking.is_empty() {
        let mut groups = vec![];
        let mut rates = vec![];
        let mut offset = 0usize;
        let mut total = 0usize;
        let mut bands = vec![];
        // The rate in bins of about a hundredth of the run.
        let bin = (end_ms / BINS as f64).max(dt * 1e3).max(f64::MIN_POSITIVE);
        for r in &spiking {
            let [ft, fi, ..] = &r.files[..] else {
                continue;
            };
            let (t, i) = (run.array(ft)?, run.array(fi)?);
            let size = run.size(&r.of).max(1);
            total += t.values.len();
            let dots: Vec<(f64, f64)> = t
                .values
                .iter()
                .zip(&i.values)
                .map(|(&t, &i)| (t * 1e3, i + offset as f64))
                .collect();
            bands.push(format!("{} {}–{}", r.of, offset, offset + size - 1));
            groups.push((r.of.clone(), dots));
            let n = (end_ms / bin).ceil().max(1.0) as usize;
            let mut counts = vec![0usize; n];
            for &t in &t.values {
                let k = ((t * 1e3) / bin).floor().max(0.0) as usize;
                counts[k.min(n - 1)] += 1;
            }
            let hz: Vec<(f64, f64)> = counts
                .iter()
                .enumerate()
                .map(|(k, &c)| {
                    (
                        (k as f64 + 0.5) * bin,
                        c as f64 / (size as f64 * bin * 1e-3),
                    )
                })
                .collect();
            rates.push((r.of.clone(), hz));
            offset += size;
        }
        let step = total.div_ceil(MAX_DOTS).max(1);
        let thinned = if step > 1 {
            for g in &mut groups {
                g.1 = g.1.iter().step_by(step).copied().collect();
            }
            format!(" (every {step}th spike)")
        } else {
            String::new()
        };
        out.push((
            "raster".to_string(),
            Figure {
                title: format!("spikes{thinned}"),
                x_label: "time (ms)".into(),
                y_label: if bands.len() > 1 {
                    format!("neuron ({})", bands.join(", "))
                } else {
                    "neuron".into()
                },
                dots: groups,
                x_range: time,
                y_range: Some((-0.5, offset.max(1) as f64 - 0.5)),
                y_integer: true,
                ..Figure::default()
            },
        ));
        let top = rates
            .iter()
            .flat_map(|r| r.1.iter().map(|p| p.1))
            .fold(0f64, f64::max);
        out.push((
            "rates".to_string(),
            Figure {
                title: format!("population rates (bins of {} ms)", short(bin)),
                x_label: "time (ms)".into(),
                y_label: "rate (Hz)".into(),
                lines: rates,
                x_range: time,
                y_range: Some((0.0, if top > 0.0 { top * 1.05 } else { 1.0 })),
                ..Figure::default()
            },
        ));
    }
    // Recorded variables (and rates) over time: the first elements' traces.
    for r in recs
        .iter()
        .filter(|r| r.kind == "state" || r.kind == "rate")
    {
        let [fv, ft, ..] = &r.files[..] else {
            continue;
        };
        let (v, t) = (run.array(fv)?, run.array(ft)?);
        let (scale, unit) = shown(&r.unit, &v.values);
        let lines: Vec<(String, Vec<(f64, f64)>)> = (0..v.cols.min(MAX_TRACES))
            .map(|c| {
                let pts = (0..v.rows.min(t.values.len()))
                    .map(|k| (t.values[k] * 1e3, v.values[k * v.cols + c] / scale))
                    .collect();
                (String::new(), pts)
            })
            .collect();
        let more = if v.cols > MAX_TRACES {
            format!(" (the first {MAX_TRACES} of {})", v.cols)
        } else {
            String::new()
        };
        out.push((
            format!("{}_{}", r.of, r.variable),
            Figure {
                title: format!("{}.{}{more}", r.of, r.variable),
                x_label: "time (ms)".into(),
                y_label: label(&r.variable, &unit),
                lines,
                x_range: time,
                ..Figure::default()
            },
        ));
    }
    // Synapse variables: a histogram of their last recorded values.
    for r in recs.iter().filter(|r| r.kind == "synapses") {
        let [fv, ft, ..] = &r.files[..] else {
            continue;
        };
        let (v, t) = (run.array(fv)?, run.array(ft)?);
        if v.rows == 0 {
            continue;
        }
        let last: Vec<f64> = v.values[(v.rows - 1) * v.cols..]
            .iter()
            .copied()
            .filter(|x| x.is_finite())
            .collect();
        let (scale, unit) = shown(&r.unit, &last);
        let xs: Vec<f64> = last.iter().map(|x| x / scale).collect();
        let at = t.values.last().copied().unwrap_or(0.0) * 1e3;
        let bars = histogram(&xs);
        out.push((
            format!(
                "{}_{}_hist",
                circ_runtime::output::proj_file_name(&r.of),
                r.variable
            ),
            Figure {
                title: format!(
                    "{}.{} at {} ms ({} synapses)",
                    r.of,
                    r.variable,
                    short(at),
                    xs.len()
                ),
                x_label: label(&r.variable, &unit),
                y_label: "synapses".into(),
                y_range: Some((0.0, top_of(&bars) * 1.05)),
                bars,
                y_integer: true,
                ..Figure::default()
            },
        ));
    }
    Ok(out)
}

/// The tallest bar's height (1 without bars).
fn top_of(bars: &[(f64, f64, f64)]) -> f64 {
    bars.iter().map(|b| b.2).fold(1.0, f64::max)
}

/// Bars of equal width over the values' range (one bar if they are equal).
fn histogram(xs: &[f64]) -> Vec<(f64, f64, f64)> {
    let (lo, hi) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    if xs.is_empty() {
        return vec![];
    }
    if hi <= lo {
        let d = lo.abs().max(1.0) * 0.05;
        return vec![(lo - d, lo + d, xs.len() as f64)];
    }
    let bins = BINS.min(xs.len().max(10));
    let w = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for &x in xs {
        let k = ((x - lo) / w).floor() as usize;
        counts[k.min(bins - 1)] += 1;
    }
    counts
        .iter()
        .enumerate()
        .map(|(k, &c)| (lo + k as f64 * w, lo + (k + 1) as f64 * w, c as f64))
        .collect()
}

/// What `circ plot` writes.
pub struct Options {
    /// The run's folder (`circ run --out`).
    pub dir: PathBuf,
    /// Where to write (default: `plots` in the run's folder).
    pub into: Option<PathBuf>,
    /// SVG instead of PNG.
    pub svg: bool,
    /// Also one HTML page with every figure.
    pub html: bool,
}

/// Writes the figures of a run; the files written.
pub fn plot(opts: &Options) -> Result<Vec<PathBuf>, String> {
    let run = Run::open(&opts.dir)?;
    let figs = figures(&run)?;
    if figs.is_empty() {
        return Err(format!(
            "{}: the run recorded nothing to plot (add `record spikes of POP` or `record v of POP[0..10] every 1 ms`)",
            opts.dir.display()
        ));
    }
    let into = opts.into.clone().unwrap_or_else(|| opts.dir.join("plots"));
    std::fs::create_dir_all(&into).map_err(|e| format!("cannot make {}: {e}", into.display()))?;
    let ext = if opts.svg { "svg" } else { "png" };
    let mut written = vec![];
    for (stem, fig) in &figs {
        // Written beside, then renamed: a stopped plot leaves no half image.
        let part = into.join(format!("{stem}.part.{ext}"));
        let file = into.join(format!("{stem}.{ext}"));
        fig.write(&part)
            .and_then(|()| std::fs::rename(&part, &file).map_err(|e| e.to_string()))
            .map_err(|e| {
                let _ = std::fs::remove_file(&part);
                format!("cannot write {}: {e}", file.display())
            })?;
        written.push(file);
    }
    if opts.html {
        let title = format!(
            "{} ({})",
            run.summary["circuit"].as_str().unwrap_or("run"),
            run.summary["file"].as_str().unwrap_or("")
        );
        let mut page = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body style=\"font-family: sans-serif\">\n<h1>{}</h1>\n",
            escape(&title),
            escape(&title)
        );
        for (stem, fig) in &figs {
            page.push_str(&format!("<h2>{}</h2>\n", escape(stem)));
            page.push_str(&fig.svg()?);
            page.push('\n');
        }
        page.push_str("</body></html>\n");
        let file = into.join("plots.html");
        let part = into.join("plots.part.html");
        std::fs::write(&part, page)
            .and_then(|()| std::fs::rename(&part, &file))
            .map_err(|e| {
                let _ = std::fs::remove_file(&part);
                format!("cannot write {}: {e}", file.display())
            })?;
        written.push(file);
    }
    Ok(written)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
