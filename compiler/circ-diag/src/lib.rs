//! circ-diag owns diagnostics as data ([`Diagnostic`]), the registry of
//! diagnostic codes with their pages (`spec/diagnostics/CODE.md`, embedded),
//! the source map, and the only renderers: ariadne text and JSON. Phases
//! build diagnostics; they must not format or print them. This crate must
//! not know about models or units.

mod codes;
mod render;
mod syntax;

pub use codes::{CODES, CodeInfo, explain};
pub use render::{render_all_text, render_json, render_text};
pub use syntax::syntax_diagnostic;

use circ_syntax::Span;

/// Which file of a [`SourceMap`] a span points into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// One source file: its name as shown to the user and its text.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Name in messages (a path, or `<std>/neurons.circ`).
    pub name: String,
    /// Contents.
    pub text: String,
    /// The byte offset where each line starts (for [`SourceMap::line_col`]
    /// in logarithmic time: thousands of diagnostics must not rescan the file).
    line_starts: Vec<usize>,
}

/// All files a compilation read, addressable by [`FileId`].
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
    /// Ranges of a file's span space that stand for text of another file
    /// (members a model inherits with `extends`): (file, start, end, the
    /// other file, what to subtract).
    aliases: Vec<(FileId, u32, u32, FileId, u32, String)>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        let text: String = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        self.files.push(SourceFile {
            name: name.into(),
            text,
            line_starts,
        });
        FileId(u32::try_from(self.files.len() - 1).unwrap_or(u32::MAX))
    }

    /// Reserves spans in `file` that stand for `target`'s text `start..end`
    /// (beyond `file`'s own text and earlier reservations) and returns the
    /// offset to add to `target`'s spans: text of `target` parsed at that
    /// offset reads as part of `file`, and diagnostics on it point at
    /// `target` ([`SourceMap::resolve`]).
    pub fn alias(
        &mut self,
        file: FileId,
        target: FileId,
        (start, end): (u32, u32),
        why: impl Into<String>,
    ) -> u32 {
        let own = self.get(file).map_or(0, |f| f.text.len() as u64);
        let used = self
            .aliases
            .iter()
            .filter(|a| a.0 == file)
            .map(|a| u64::from(a.2))
            .max()
            .unwrap_or(0);
        // Past the file and every earlier range, with a gap.
        let base = own.max(used) + 1024;
        let delta = u32::try_from(base.saturating_sub(u64::from(start))).unwrap_or(u32::MAX / 2);
        self.aliases.push((
            file,
            start.saturating_add(delta),
            end.saturating_add(delta),
            target,
            delta,
            why.into(),
        ));
        delta
    }

    /// Where a span really is: through [`SourceMap::alias`] ranges, else itself.
    pub fn resolve(&self, file: FileId, span: Span) -> (FileId, Span) {
        for &(f, a, b, target, delta, _) in &self.aliases {
            if f == file && span.start >= a && span.end <= b {
                return (
                    target,
                    Span::new((span.start - delta) as usize, (span.end - delta) as usize),
                );
            }
        }
        (file, span)
    }

    /// `d` with its labels where they really are ([`SourceMap::resolve`]),
    /// and a note saying why text of another file is involved (a member a
    /// model inherits, named by the alias).
    pub fn resolve_labels(&self, d: &Diagnostic) -> Diagnostic {
        let mut d = d.clone();
        let mut why = vec![];
        for l in &mut d.labels {
            if let Some(a) = self
                .aliases
                .iter()
                .find(|a| a.0 == l.file && l.span.start >= a.1 && l.span.end <= a.2)
                && !why.contains(&a.5)
            {
                why.push(a.5.clone());
            }
            (l.file, l.span) = self.resolve(l.file, l.span);
        }
        for w in why {
            d = d.with_note(w);
        }
        d
    }

    /// The file with this id.
    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// The id of the file with this name, if it was added.
    pub fn find(&self, name: &str) -> Option<FileId> {
        self.files
            .iter()
            .position(|f| f.name == name)
            .and_then(|i| u32::try_from(i).ok())
            .map(FileId)
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, id: FileId, offset: u32) -> (usize, usize) {
        let Some(f) = self.get(id) else { return (1, 1) };
        let mut off = (offset as usize).min(f.text.len());
        while !f.text.is_char_boundary(off) {
            off -= 1;
        }
        // The last line starting at or before `off`.
        let line = f.line_starts.partition_point(|&s| s <= off).max(1);
        let start = f.line_starts[line - 1];
        let col = f.text[start..off].chars().count() + 1;
        (line, col)
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Compilation fails.
    Error,
    /// Compilation goes on; the user should look.
    Warning,
}

/// A labelled span of source.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    /// The file.
    pub file: FileId,
    /// The span.
    pub span: Span,
    /// What to say there (may be empty).
    pub message: String,
}

/// A diagnostic: a code, a message, labelled spans, and help.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The code, one of [`CODES`] (e.g. `unit-mismatch`).
    pub code: &'static str,
    /// The one-line message.
    pub message: String,
    /// Where: the first label is the primary one.
    pub labels: Vec<Label>,
    /// A help line, where one helps.
    pub help: Option<String>,
    /// Further notes.
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error with a primary label.
    pub fn error(
        code: &'static str,
        message: impl Into<String>,
        file: FileId,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            labels: vec![Label {
                file,
                span,
                message: label.into(),
            }],
            help: None,
            notes: vec![],
        }
    }

    /// A warning with a primary label.
    pub fn warning(
        code: &'static str,
        message: impl Into<String>,
        file: FileId,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message, file, span, label)
        }
    }

    /// Adds a secondary label.
    pub fn with_label(mut self, file: FileId, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            file,
            span,
            message: message.into(),
        });
        self
    }

    /// Sets the help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets the help line if there is one.
    pub fn with_help_opt(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// The primary label.
    pub fn primary(&self) -> Option<&Label> {
        self.labels.first()
    }

    /// Whether it is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_characters() {
        let mut m = SourceMap::new();
        let id = m.add("a.circ", "ab\nµs x\n\nlast");
        let at = |o| m.line_col(id, o);
        assert_eq!(at(0), (1, 1));
        assert_eq!(at(2), (1, 3)); // the newline itself
        assert_eq!(at(3), (2, 1));
        assert_eq!(at(6), (2, 3)); // after `µs`
        assert_eq!(at(5), (2, 2)); // after `µ` (2 bytes)
        assert_eq!(at(4), (2, 1)); // inside `µ`: the character boundary before
        assert_eq!(at(9), (3, 1));
        assert_eq!(at(10), (4, 1));
        assert_eq!(at(99), (4, 5)); // past the end: the end
        assert_eq!(m.line_col(FileId(7), 3), (1, 1));
    }
}
