//! The only place diagnostics become text: ariadne (colourless by default)
//! and JSON for editors.

use crate::{Diagnostic, Severity, SourceMap};
use ariadne::{Config, IndexType, Label, Report, ReportKind};
use std::fmt::Write as _;

/// The ariadne sources of every file of `map` (each indexed once).
fn sources(map: &SourceMap) -> impl ariadne::Cache<String> {
    let files: Vec<(String, String)> = (0..)
        .map_while(|i| map.get(crate::FileId(i)))
        .map(|f| (f.name.clone(), f.text.clone()))
        .collect();
    ariadne::sources(files)
}

/// Renders one diagnostic as ariadne text. `color` adds ANSI colours.
pub fn render_text(d: &Diagnostic, map: &SourceMap, color: bool) -> String {
    render_with(d, map, color, &mut sources(map))
}

/// [`render_text`] with the sources already indexed.
fn render_with(
    d: &Diagnostic,
    map: &SourceMap,
    color: bool,
    cache: &mut impl ariadne::Cache<String>,
) -> String {
    let d = &map.resolve_labels(d);
    let kind = match d.severity {
        Severity::Error => ReportKind::Error,
        Severity::Warning => ReportKind::Warning,
    };
    let name = |id| {
        map.get(id)
            .map_or_else(|| "<unknown>".to_string(), |f| f.name.clone())
    };
    let clamp = |id, span: circ_syntax::Span| {
        let len = map.get(id).map_or(0, |f| f.text.len());
        let s = (span.start as usize).min(len);
        s..(span.end as usize).clamp(s, len)
    };
    let Some(primary) = d.primary() else {
        let mut out = format!(
            "{}[{}]: {}\n",
            if d.is_error() { "Error" } else { "Warning" },
            d.code,
            d.message
        );
        if let Some(h) = &d.help {
            let _ = writeln!(out, "  help: {h}");
        }
        return out;
    };
    let mut report = Report::build(
        kind,
        (name(primary.file), clamp(primary.file, primary.span)),
    )
    .with_config(
        Config::default()
            .with_color(color)
            .with_index_type(IndexType::Byte),
    )
    .with_code(d.code)
    .with_message(&d.message);
    for (i, l) in d.labels.iter().enumerate() {
        let mut label = Label::new((name(l.file), clamp(l.file, l.span)))
            .with_order(i32::try_from(i).unwrap_or(0));
        if !l.message.is_empty() {
            label = label.with_message(&l.message);
        }
        report = report.with_label(label);
    }
    if let Some(h) = &d.help {
        report = report.with_help(h);
    }
    for n in &d.notes {
        report = report.with_note(n);
    }
    let mut buf = Vec::new();
    if report.finish().write(cache, &mut buf).is_err() {
        return format!("error[{}]: {}\n", d.code, d.message);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Renders many diagnostics, one after another.
/// After this many diagnostics with the same code and message, the rest
/// are counted, not shown: 20,000 copies of one mistake help nobody.
pub const SHOWN_ALIKE: usize = 10;

/// Renders many diagnostics, one after another; past [`SHOWN_ALIKE`] of a
/// kind (same code and message) the rest are summed up in one line. Linear
/// in the number of diagnostics.
pub fn render_all_text(ds: &[Diagnostic], map: &SourceMap, color: bool) -> String {
    let mut cache = sources(map);
    let mut seen: std::collections::HashMap<(&str, &str), usize> = Default::default();
    let mut out = String::new();
    for d in ds {
        let n = seen.entry((d.code, d.message.as_str())).or_default();
        *n += 1;
        if *n <= SHOWN_ALIKE {
            out.push_str(&render_with(d, map, color, &mut cache));
        }
    }
    // In order of first appearance.
    let mut more: Vec<(&Diagnostic, usize)> = vec![];
    for d in ds {
        if let Some(n) = seen.remove(&(d.code, d.message.as_str()))
            && n > SHOWN_ALIKE
        {
            more.push((d, n - SHOWN_ALIKE));
        }
    }
    for (d, n) in more {
        let _ = writeln!(
            out,
            "... and {n} more like this: [{}] {}",
            d.code, d.message
        );
    }
    out
}

/// Renders diagnostics as a JSON array (one object per diagnostic, with
/// 1-based lines and columns, byte offsets, labels, help and notes).
pub fn render_json(ds: &[Diagnostic], map: &SourceMap) -> String {
    let arr: Vec<serde_json::Value> = ds
        .iter()
        .map(|d| {
            let label = |l: &crate::Label| {
                let (file, span) = map.resolve(l.file, l.span);
                let l = &crate::Label {
                    file,
                    span,
                    ..l.clone()
                };
                let (line, column) = map.line_col(l.file, l.span.start);
                let (end_line, end_column) = map.line_col(l.file, l.span.end);
                serde_json::json!({
                    "file": map.get(l.file).map(|f| f.name.clone()),
                    "start": l.span.start, "end": l.span.end,
                    "line": line, "column": column, "end_line": end_line, "end_column": end_column,
                    "message": l.message,
                })
            };
            let primary = d.primary().map(label);
            serde_json::json!({
                "severity": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "code": d.code,
                "message": d.message,
                "primary": primary,
                "labels": d.labels.iter().skip(1).map(label).collect::<Vec<_>>(),
                "help": d.help,
                "notes": d.notes,
            })
        })
        .collect();
    serde_json::to_string_pretty(&arr).unwrap_or_else(|_| "[]".to_string())
}
