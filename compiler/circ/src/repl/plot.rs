//! Plots of recordings: in the terminal (Unicode braille, 2x4 dots per
//! character) and as PNG or SVG files (plotters).

use std::path::Path;

/// What to draw: traces (lines through their points) or dots.
pub struct Figure {
    /// The title (`E.v`, `raster of E`).
    pub title: String,
    /// The axis names with units (`time (ms)`, `v (mV)`).
    pub x_label: String,
    pub y_label: String,
    /// Lines, each a list of (x, y) in the axis units.
    pub lines: Vec<Vec<(f64, f64)>>,
    /// Single dots (x, y).
    pub dots: Vec<(f64, f64)>,
}

impl Figure {
    /// The range of the data on each axis (a flat range widened so it
    /// shows), or `None` without data.
    fn bounds(&self) -> Option<((f64, f64), (f64, f64))> {
        let all = self.lines.iter().flatten().chain(&self.dots);
        let (mut x0, mut x1, mut y0, mut y1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for &(x, y) in all {
            if x.is_finite() && y.is_finite() {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
        if x0 > x1 {
            return None;
        }
        let widen = |a: f64, b: f64| {
            if b - a > 0.0 {
                (a, b)
            } else {
                let d = a.abs().max(1.0) * 0.05;
                (a - d, b + d)
            }
        };
        Some((widen(x0, x1), widen(y0, y1)))
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
        for line in &self.lines {
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
        for &(x, y) in &self.dots {
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
        let size = (900, 500);
        match ext.as_str() {
            "png" => {
                let root = plotters::prelude::BitMapBackend::new(file, size);
                self.draw(root)
            }
            "svg" => {
                let root = plotters::prelude::SVGBackend::new(file, size);
                self.draw(root)
            }
            _ => Err(format!(
                "{}: plots are written as .png or .svg",
                file.display()
            )),
        }
    }

    fn draw<B: plotters::prelude::DrawingBackend>(&self, backend: B) -> Result<(), String> {
        use plotters::prelude::*;
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let Some(((x0, x1), (y0, y1))) = self.bounds() else {
            return Err(format!("{}: nothing recorded yet", self.title));
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
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .draw()
            .map_err(|e| err(&e))?;
        for (k, line) in self.lines.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    line.iter()
                        .copied()
                        .filter(|(x, y)| x.is_finite() && y.is_finite()),
                    color,
                ))
                .map_err(|e| err(&e))?;
        }
        chart
            .draw_series(
                self.dots
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 1, BLACK.filled())),
            )
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
        Ok(())
    }
}

/// A number for an axis end: four significant digits.
fn short(x: f64) -> String {
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
            lines: vec![vec![(0.0, 0.0), (1.0, 1.0)]],
            dots: vec![],
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
            lines: vec![],
            dots: vec![],
        };
        assert!(f.text(10, 3).contains("nothing recorded"));
    }
}
