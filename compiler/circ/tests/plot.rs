//! `circ plot` on what `circ run` wrote: the images are read back (their
//! size, that they are not blank, each population's colour where its
//! neurons are), SVG and the HTML page hold every figure, every example's
//! output plots, and a folder that is not a run's gets a clear error.

mod common;

use common::TempDir;
use std::path::Path;
use std::process::Command;

fn circ() -> Command {
    Command::new(env!("CARGO_BIN_EXE_circ"))
}

/// Runs `model` into `out` with `args`, then `circ plot out` with `plot`.
fn run_and_plot(model: &Path, out: &Path, args: &[&str], plot: &[&str]) -> String {
    let o = circ()
        .args(["run", "--color", "never", "--out"])
        .arg(out)
        .args(args)
        .arg(model)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("circ run");
    assert!(
        o.status.success(),
        "{}: {}",
        model.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let o = circ()
        .arg("plot")
        .arg(out)
        .args(plot)
        .output()
        .expect("circ plot");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{}: {text}", model.display());
    text
}

const MODEL: &str = "use std::neurons::LIF
use std::plasticity::StdpAdditive
circuit C {
    population In = poisson[200](rate = 30 Hz)
    population E = LIF[40](I_ext = 0.16 nA)
    population I = LIF[10](I_ext = 0.17 nA)
    project syn = In -> E : StdpAdditive(g_max = 1 nS) connect bernoulli(0.3)
    record spikes of E, I
    record v of E[0..5] every 0.5 ms
    record w of syn every 50 ms
}
run C for 200 ms
";

/// The pixels of `file` and how many have colour `c`, with their mean row.
fn colour(img: &image::RgbImage, c: (u8, u8, u8)) -> (usize, f64) {
    let (mut n, mut rows) = (0usize, 0f64);
    for (_, y, p) in img.enumerate_pixels() {
        if (p[0], p[1], p[2]) == c {
            n += 1;
            rows += f64::from(y);
        }
    }
    (n, if n > 0 { rows / n as f64 } else { 0.0 })
}

fn open(file: &Path) -> image::RgbImage {
    image::open(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .to_rgb8()
}

/// The first two colours of `circ plot`'s palette (plot.rs, PALETTE).
const BLUE: (u8, u8, u8) = (31, 119, 180);
const RED: (u8, u8, u8) = (214, 39, 40);

#[test]
fn a_runs_figures_are_drawn_where_their_data_is() {
    let d = TempDir::new("plot-png");
    let model = d.0.join("m.circ");
    std::fs::write(&model, MODEL).expect("model");
    let out = d.0.join("out");
    let said = run_and_plot(&model, &out, &[], &[]);
    assert!(said.contains("wrote 4 figures"), "{said}");
    let plots = out.join("plots");
    let mut names: Vec<String> = std::fs::read_dir(&plots)
        .expect("plots")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["E_v.png", "raster.png", "rates.png", "syn_w_hist.png"],
        "no half-written `.part` files, one image per figure"
    );
    for n in &names {
        let img = open(&plots.join(n));
        assert_eq!(img.dimensions(), (900, 500), "{n}");
        let white = img.pixels().filter(|p| p.0 == [255, 255, 255]).count();
        let inked = img.pixels().count() - white;
        assert!(inked > 5_000, "{n}: nearly blank ({inked} pixels drawn)");
    }
    // The raster stacks E (neurons 0-39, first colour) below I (40-49,
    // second): E's dots lower in the image, both inside the plot area.
    let raster = open(&plots.join("raster.png"));
    let (e, e_row) = colour(&raster, BLUE);
    let (i, i_row) = colour(&raster, RED);
    assert!(e > 200 && i > 50, "E {e} and I {i} pixels");
    assert!(
        e_row > i_row,
        "E (mean row {e_row}) must be below I ({i_row})"
    );
    assert!((40.0..460.0).contains(&e_row) && (40.0..460.0).contains(&i_row));
    // Rates: one line per population, each its colour.
    let rates = open(&plots.join("rates.png"));
    assert!(colour(&rates, BLUE).0 > 100 && colour(&rates, RED).0 > 100);
    // Traces in the first colours; the histogram's bars in the first.
    assert!(colour(&open(&plots.join("E_v.png")), BLUE).0 > 100);
    let hist = open(&plots.join("syn_w_hist.png"));
    let (bars, bar_row) = colour(&hist, BLUE);
    assert!(bars > 2_000, "{bars} bar pixels");
    assert!(
        bar_row > 250.0,
        "bars stand on the x axis (mean row {bar_row})"
    );
}

#[test]
fn svg_files_and_one_html_page_hold_every_figure() {
    let d = TempDir::new("plot-svg");
    let model = d.0.join("m.circ");
    std::fs::write(&model, MODEL).expect("model");
    let out = d.0.join("out");
    let into = d.0.join("figs");
    run_and_plot(
        &model,
        &out,
        &[],
        &["--svg", "--html", "-o", into.to_str().expect("utf-8 path")],
    );
    for n in ["raster.svg", "rates.svg", "E_v.svg", "syn_w_hist.svg"] {
        let text = std::fs::read_to_string(into.join(n)).expect(n);
        assert!(text.contains("<svg") && text.contains("</svg>"), "{n}");
    }
    let page = std::fs::read_to_string(into.join("plots.html")).expect("html");
    assert_eq!(page.matches("<svg").count(), 4, "one figure each");
    assert!(page.contains("<title>C (") && page.contains("time (ms)"));
    assert!(
        page.contains("v (mV)"),
        "traces in the unit that suits them"
    );
    assert!(!page.contains("src=\""), "self-contained: nothing to fetch");
}

#[test]
fn every_examples_output_plots() {
    let d = TempDir::new("plot-examples");
    for path in common::examples() {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let out = d.0.join(&stem);
        let mut args = vec!["--duration", "20ms"];
        if stem == "pd14" {
            args.extend(["--set", "scale=0.02"]);
        }
        let said = run_and_plot(&path, &out, &args, &[]);
        assert!(said.contains("figures"), "{stem}: {said}");
        let n = std::fs::read_dir(out.join("plots")).expect("plots").count();
        assert!(n >= 1, "{stem}: no figure");
    }
}

#[test]
fn a_folder_that_is_no_run_gets_a_clear_error() {
    let d = TempDir::new("plot-none");
    let o = circ().arg("plot").arg(&d.0).output().expect("circ plot");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("has no summary.json") && err.contains("circ run --out"),
        "{err}"
    );
    assert!(!d.0.join("plots").exists());
}
