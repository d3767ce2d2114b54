//! Plots of recordings: in the terminal (Unicode braille, 2x4 dots per
//! character) and as PNG or SVG files (plotters): the REPL's `:plot` and
//! `:raster`, and `circ plot` (crate::plots).

use std::path::Path;

/// The colours of series in turn (RGB; tests look for them in images).
pub const PALETTE: [(u8, u8, u8); 8] = [
    (31, 119, 180),
    (214, 39, 40),
    (44, 160, 44),
    (255, 127, 14),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (23, 190, 207),
];

/// The size of a written figure in pixels.
pub const SIZE: (u32, u32) = (900, 500);

/// What to draw: traces (lines through their points), dots and bars.
#[derive(Default)]
pub struct Figure {
    /// The title (`E.v`, `raster of E`).
    pub title: String,
    /// The axis names with units (`time (ms)`, `v (mV)`).
    pub x_label: String,
    pub y_label: String,
    /// Lines, each named (in the legend unless empty) and a list of (x, y)
    /// in the axis units, coloured in turn.
    pub lines: Vec<(String, Vec<(f64, f64)>)>,
    /// Groups of dots (a raster's populations), named and coloured in turn
    /// after the lines.
    pub dots: Vec<(String, Vec<(f64, f64)>)>,
    /// Bars (from x, to x, height): a histogram, in the first colour.
    pub bars: Vec<(f64, f64, f64)>,
    /// The x axis's range, when not the data's (time from 0).
    pub x_range: Option<(f64, f64)>,
    /// The y axis's range, when not the data's (neurons 0 to N - 1).
    pub y_range: Option<(f64, f64)>,
    /// Whether y counts (neurons, synapses): whole-number tick labels.
    pub y_integer: bool,
}

impl Figure {
    /// The range of each axis: given, else the data's (a flat range
    /// widened so it shows; bars from 0), or `None` without data.
    fn bounds(&self) -> Option<((f64, f64), (f64, f64))> {
        let bar_points = self.bars.iter().flat_map(|&(a, b, h)| [(a, 0.0), (b, h)]);
        let all = self
            .lines
            .iter()
            .chain(&self.dots)
            .flat_map(|(_, pts)| pts.iter().copied())
            .chain(bar_points);
        let (mut x0, mut x1, mut y0, mut y1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for (x, y) in all {
            if x.is_finite() && y.is_finite() {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
        if x0 > x1 && self.x_range.is_none() {
            return None;
        }
        let widen = |a: f64, b: f64| {
            if b - a > 0.0 {
                (a, b)
            } else if a.is_finite() {
                let d = a.abs().max(1.0) * 0.05;
                (a - d, b + d)
            } else {
                (0.0, 1.0)
            }
        };
        // The data's own range with a margin, so that no line runs along
        // the frame.
        let pad = |(a, b): (f64, f64)| {
            let d = (b - a) * 0.03;
            (a - d, b + d)
        };
        let x = self.x_range.unwrap_or_else(|| pad(widen(x0, x1)));
        let y = self.y_range.unwrap_or_else(|| pad(widen(y0, y1)));
        Some((widen(x.0, x.1), widen(y.0, y.1)))
    }

    /// The figure as text: `rows` lines of `cols` braille characters with
    /// the y range at the left and the x range below.
    pub fn text(&self, cols: usize, rows: usize) -> String {
        let Some(((x0, x1), (y0, y1))) = self.bounds() else {
            return format!("{}: nothing recorded yet\n", self.title);
        };
        let (w, h) = (cols * 2, rows * 4);
        let mut dots = vec![false; w * h];
        let to_dot = |x: f64, y: f64| -> (i64, i64) {
            let px = ((x - x0) / (x1 - x0) * (w - 1) as f64).round() as i64;
            let py = ((y1 - y) / (y1 - y0) * (h - 1) as f64).round() as i64;
            (px, py)
        };
        let mut set = |px: i64, py: i64| {
            if (0..w as i64).contains(&px) && (0..h as i64).contains(&py) {
                dots[py as usize * w + px as usize] = true;
            }
        };
        for (_, line) in &self.lines {
            let mut last: Option<(i64, i64)> = None;
            for &(x, y) in line {
                if !(x.is_finite() && y.is_finite()) {
                    last = None;
                    continue;
                }
                let p = to_dot(x, y);
                match last {
                    // Consecutive points joined by the dots between them.
                    Some(q) => {
                        let n = (p.0 - q.0).abs().max((p.1 - q.1).abs()).max(1);
                        for k in 0..=n {
                            set(q.0 + (p.0 - q.0) * k / n, q.1 + (p.1 - q.1) * k / n);
                        }
                    }
                    None => set(p.0, p.1),
                }
                last = Some(p);
            }
        }
        for &(x, y) in self.dots.iter().flat_map(|(_, d)| d) {
            let (px, py) = to_dot(x, y);
            set(px, py);
        }
        // Braille: dot (col c, row r) of a character is bit BITS[c][r].
        const BITS: [[u32; 4]; 2] = [[0, 1, 2, 6], [3, 4, 5, 7]];
        let top = short(y1);
        let bottom = short(y0);
        let margin = top.len().max(bottom.len());
        let mut out = format!(
            "{} ({} against {})\n",
            self.title, self.y_label, self.x_label
        );
        for r in 0..rows {
            let label = match r {
                0 => top.clone(),
                _ if r + 1 == rows => bottom.clone(),
                _ => String::new(),
            };
            out.push_str(&format!("{label:>margin$} ┤"));
            for c in 0..cols {
                let mut bits = 0u32;
                for (dc, col) in BITS.iter().enumerate() {
                    for (dr, bit) in col.iter().enumerate() {
                        if dots[(r * 4 + dr) * w + c * 2 + dc] {
                            bits |= 1 << bit;
                        }
                    }
                }
                out.push(char::from_u32(0x2800 + bits).unwrap_or(' '));
            }
            out.push('\n');
        }
        let (left, right) = (short(x0), short(x1));
        let gap = cols.saturating_sub(left.len() + right.len());
        out.push_str(&format!(
            "{:margin$} └{}\n{:margin$}  {left}{}{right}\n",
            "",
            "─".repeat(cols),
            "",
            " ".repeat(gap)
        ));
        out
    }

    /// Writes the figure to `file` (`.png` or `.svg`).
    pub fn write(&self, file: &Path) -> Result<(), String> {
        let ext = file
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "png" => {
                let root = plotters::prelude::BitMapBackend::new(file, SIZE);
                self.draw(root)
            }
            "svg" => {
                let root = plotters::prelude::SVGBackend::new(file, SIZE);
                self.draw(root)
            }
            _ => Err(format!(
                "{}: plots are written as .png or .svg",
                file.display()
            )),
        }
    }

    /// The figure as an SVG document.
    pub fn svg(&self) -> Result<String, String> {
        let mut out = String::new();
        self.draw(plotters::prelude::SVGBackend::with_string(&mut out, SIZE))?;
        Ok(out)
    }

    fn draw<B: plotters::prelude::DrawingBackend>(&self, backend: B) -> Result<(), String> {
        use plotters::prelude::*;
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let Some(((x0, x1), (y0, y1))) = self.bounds() else {
            return Err(format!("{}: nothing recorded yet", self.title));
        };
        let color = |k: usize| {
            let (r, g, b) = PALETTE[k % PALETTE.len()];
            RGBColor(r, g, b)
        };
        let root = backend.into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| err(&e))?;
        let whole = |y: &f64| {
            if (y - y.round()).abs() < 1e-9 {
                format!("{}", y.round() as i64)
            } else {
                String::new()
            }
        };
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(&self.x_label).y_desc(&self.y_label);
        if self.y_integer {
            mesh.y_label_formatter(&whole);
        }
        mesh.draw().map_err(|e| err(&e))?;
        if !self.bars.is_empty() {
            chart
                .draw_series(
                    self.bars
                        .iter()
                        .map(|&(a, b, h)| Rectangle::new([(a, 0.0), (b, h)], color(0).filled())),
                )
                .map_err(|e| err(&e))?;
        }
        let mut legend = false;
        for (k, (name, line)) in self.lines.iter().enumerate() {
            let c = color(k);
            let s = chart
                .draw_series(LineSeries::new(
                    line.iter()
                        .copied()
                        .filter(|(x, y)| x.is_finite() && y.is_finite()),
                    c.stroke_width(2),
                ))
                .map_err(|e| err(&e))?;
            if !name.is_empty() {
                legend = true;
                s.label(name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c));
            }
        }
        // Many dots small, few larger (one size for every group).
        let many = self.dots.iter().map(|d| d.1.len()).sum::<usize>() > 20_000;
        let r = if many { 1 } else { 2 };
        for (k, (name, dots)) in self.dots.iter().enumerate() {
            let c = color(self.lines.len() + k);
            let s = chart
                .draw_series(
                    dots.iter()
                        .filter(|(x, y)| x.is_finite() && y.is_finite())
                        .map(|&(x, y)| Circle::new((x, y), r, c.filled())),
                )
                .map_err(|e| err(&e))?;
            if !name.is_empty() {
                legend = true;
                s.label(name.as_str())
                    .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
            }
        }
        if legend {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
        Ok(())
    }
}

/// A number for an axis end or a title: four decimals at most.
pub fn short(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rising_line_fills_the_diagonal() {
        let f = Figure {
            title: "x".into(),
            x_label: "t".into(),
            y_label: "y".into(),
            lines: vec![(String::new(), vec![(0.0, 0.0), (1.0, 1.0)])],
            ..Figure::default()
        };
        let text = f.text(4, 2);
        let rows: Vec<&str> = text.lines().collect();
        // Bottom-left and top-right characters have dots; the others do not.
        assert_eq!(rows.len(), 5, "{text}");
        assert!(rows[1].ends_with("⡠⠊"), "{text}");
        assert!(rows[2].contains("⡠⠊⠀⠀"), "{text}");
        assert!(rows[4].contains('0') && rows[4].contains('1'), "{text}");
    }

    #[test]
    fn no_data_says_so() {
        let f = Figure {
            title: "E.v".into(),
            x_label: "t".into(),
            y_label: "v".into(),
            ..Figure::default()
        };
        assert!(f.text(10, 3).contains("nothing recorded"));
    }
}
