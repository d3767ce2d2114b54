//! Syntax errors (data from circ-syntax) as diagnostics.

use crate::{Diagnostic, FileId};
use circ_syntax::lexer::LexErrorKind;
use circ_syntax::{SyntaxError, SyntaxErrorKind};

fn expected_list(expected: &[String]) -> Option<String> {
    match expected.len() {
        0 => None,
        1..=6 => Some(format!("expected {}", join_or(expected))),
        _ => {
            // Long lists are noise; keep the structural ones a user needs.
            let keep: Vec<String> = expected
                .iter()
                .filter(|e| {
                    matches!(
                        e.as_str(),
                        "a name" | "a number" | "`}`" | "`)`" | "`]`" | "`=`" | "`,`"
                    )
                })
                .cloned()
                .collect();
            if keep.is_empty() {
                None
            } else {
                Some(format!(
                    "expected {}, or another item of the language",
                    join_or(&keep)
                ))
            }
        }
    }
}

fn join_or(v: &[String]) -> String {
    match v {
        [] => String::new(),
        [a] => a.clone(),
        [rest @ .., last] => format!("{} or {}", rest.join(", "), last),
    }
}

/// Converts a syntax error into a diagnostic.
pub fn syntax_diagnostic(e: &SyntaxError, file: FileId) -> Diagnostic {
    match &e.kind {
        SyntaxErrorKind::Lex(LexErrorKind::InvalidChar) => Diagnostic::error(
            "invalid-character",
            "this character cannot appear in a circ program",
            file,
            e.span,
            "not part of any token",
        )
        .with_help(
            "names use letters, digits and `_`; operators are + - * / ^ % < > = and comparisons",
        ),
        SyntaxErrorKind::Lex(LexErrorKind::UnterminatedComment) => Diagnostic::error(
            "unterminated-comment",
            "this block comment is never closed",
            file,
            e.span,
            "`/*` without a matching `*/`",
        )
        .with_help("close the comment with `*/`"),
        SyntaxErrorKind::Lex(LexErrorKind::UnterminatedString) => Diagnostic::error(
            "unterminated-string",
            "this string is not closed on its line",
            file,
            e.span,
            "missing closing `\"`",
        ),
        SyntaxErrorKind::Unexpected { found, expected } => {
            let keyword = found
                .strip_prefix('`')
                .and_then(|f| f.strip_suffix('`'))
                .filter(|k| circ_syntax::lexer::KEYWORDS.contains(k));
            let help = match keyword {
                Some(k) if expected.iter().any(|x| x == "a name") => {
                    Some(format!("`{k}` is a keyword and cannot be used as a name"))
                }
                _ => expected_list(expected),
            };
            Diagnostic::error(
                "unexpected-token",
                format!("unexpected {found}"),
                file,
                e.span,
                "not expected here",
            )
            .with_help_opt(help)
        }
        SyntaxErrorKind::UnexpectedEof { expected } => Diagnostic::error(
            "unexpected-end",
            "the file ends in the middle of an item",
            file,
            e.span,
            "input ends here",
        )
        .with_help_opt(expected_list(expected)),
        SyntaxErrorKind::MalformedDerivative { found } => Diagnostic::error(
            "malformed-derivative",
            format!("`{found}` is not a time derivative"),
            file,
            e.span,
            "expected `dX/dt`",
        )
        .with_help("an equation is written `dx/dt = ...`: `d`, the variable's name, `/dt`"),
        SyntaxErrorKind::TooComplex { what } => Diagnostic::error(
            "too-complex",
            "this item is too deeply nested to compile",
            file,
            circ_syntax::Span {
                start: e.span.start,
                end: e.span.start.saturating_add(1).min(e.span.end),
            },
            what.clone(),
        )
        .with_help("split the expression into `let`s or constants"),
        SyntaxErrorKind::NumberInUnit { found } => Diagnostic::error(
            "number-in-unit",
            format!("the number `{found}` cannot appear in a unit or dimension"),
            file,
            e.span,
            "only `1` is allowed here",
        )
        .with_help(
            "write the number before the unit: `2 ms`, or `[1/ms]` for a unit with nothing on top",
        ),
    }
}
