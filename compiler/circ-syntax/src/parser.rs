//! The facade over the lalrpop-generated parser: [`parse`] always returns a
//! module (partial where the input was broken) plus every syntax error.

use crate::ast::{Ident, Module, UnitExpr, UnitKind};
use crate::lexer::{LexErrorKind, Tok, lex};
use crate::span::{Span, Spanned};
use lalrpop_util::{ErrorRecovery, ParseError};

lalrpop_util::lalrpop_mod!(
    #[allow(
        clippy::all,
        clippy::pedantic,
        clippy::unwrap_used,
        missing_docs,
        unused
    )]
    grammar
);

/// What kind of syntax error was met.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyntaxErrorKind {
    /// The lexer could not make a token.
    Lex(LexErrorKind),
    /// A token the grammar does not allow here.
    Unexpected {
        /// The token found, described.
        found: String,
        /// What would have been accepted.
        expected: Vec<String>,
    },
    /// The file ended too early.
    UnexpectedEof {
        /// What would have been accepted.
        expected: Vec<String>,
    },
    /// `dx/dy = ...` where `dx/dt` was meant.
    MalformedDerivative {
        /// The left-hand side as written.
        found: String,
    },
    /// An item nested too deeply or with too many operators to compile safely.
    TooComplex {
        /// What limit was passed.
        what: String,
    },
    /// A number other than `1` inside a unit or a dimension.
    NumberInUnit {
        /// The number written.
        found: String,
    },
}

/// A syntax error and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// What went wrong.
    pub kind: SyntaxErrorKind,
    /// Where.
    pub span: Span,
}

/// The result of parsing one file: always a module, plus its errors.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    /// What could be parsed.
    pub module: Module,
    /// Every syntax error, in source order.
    pub errors: Vec<SyntaxError>,
}

/// Parses a whole file. Never fails and never panics.
pub fn parse(src: &str) -> Parsed {
    parse_at(src, 0)
}

/// Parses `src` as if it began `offset` bytes into its file: every span is
/// moved by `offset` (text that stands for a range of another file, see
/// `circ_diag::SourceMap::alias`).
pub fn parse_at(src: &str, offset: u32) -> Parsed {
    let (mut toks, lex_errors) = lex(src);
    if offset != 0 {
        for t in &mut toks {
            t.0 += offset as usize;
            t.2 += offset as usize;
        }
    }
    let (toks, limit_errors) = enforce_limits(toks);
    let next_token_starts: Vec<usize> = lex_errors
        .iter()
        .filter_map(|e| {
            toks.iter()
                .find(|t| t.0 >= e.span.end as usize)
                .map(|t| t.0)
        })
        .collect();
    let mut errors: Vec<SyntaxError> = lex_errors
        .into_iter()
        .map(|e| SyntaxError {
            kind: SyntaxErrorKind::Lex(e.kind),
            span: e.span,
        })
        .collect();
    errors.extend(limit_errors);
    let mut grammar_errors = Vec::new();
    let result =
        grammar::ModuleParser::new().parse(&mut grammar_errors, toks.into_iter().map(Ok::<_, ()>));
    errors.extend(grammar_errors);
    let module = match result {
        Ok(m) => m,
        Err(e) => {
            errors.push(from_parse_error(e, src.len()));
            Module::default()
        }
    };
    errors.sort_by_key(|e| (e.span.start, e.span.end));
    errors.dedup();
    Parsed {
        module,
        errors: drop_cascades(src, &next_token_starts, errors),
    }
}

/// Drops parse errors that only echo an earlier one: the token right after
/// a lexical error (the parser never saw the bad character), and further
/// parse errors on a line that already has one (the parser resynchronising).
fn drop_cascades(
    src: &str,
    after_lex_error: &[usize],
    errors: Vec<SyntaxError>,
) -> Vec<SyntaxError> {
    let line_of = |off: u32| {
        src.get(..(off as usize).min(src.len()))
            .map_or(0, |s| s.matches('\n').count())
    };
    let mut lines_with_error: Vec<usize> = Vec::new();
    let mut out = Vec::with_capacity(errors.len());
    for e in errors {
        let is_parse = matches!(
            e.kind,
            SyntaxErrorKind::Unexpected { .. } | SyntaxErrorKind::UnexpectedEof { .. }
        );
        let line = line_of(e.span.start);
        if is_parse
            && (after_lex_error.contains(&(e.span.start as usize))
                || lines_with_error.contains(&line))
        {
            continue;
        }
        if !matches!(e.kind, SyntaxErrorKind::Lex(_)) {
            lines_with_error.push(line);
        }
        out.push(e);
    }
    out
}

/// Most brackets open at once inside one item.
pub const MAX_NESTING: usize = 256;
/// Most operators in one top-level item (an operator chain nests as deep).
pub const MAX_OPERATORS: usize = 20_000;

/// Refuses items that would nest the syntax tree deeper than the checker
/// can walk: their tokens are removed (so no deep tree is ever built) and
/// one error is reported per item. Items start at a keyword at brace depth 0.
fn enforce_limits(
    toks: Vec<crate::lexer::SpannedTok<'_>>,
) -> (Vec<crate::lexer::SpannedTok<'_>>, Vec<SyntaxError>) {
    let starts_item = |t: &Tok<'_>| {
        matches!(
            t,
            Tok::Use | Tok::Const | Tok::Fn | Tok::Neuron | Tok::Synapse | Tok::Circuit | Tok::Run
        )
    };
    let mut out = Vec::with_capacity(toks.len());
    let mut errors = vec![];
    let mut i = 0;
    while i < toks.len() {
        // One item: from a starting keyword to the next one at brace depth 0.
        let start = i;
        let mut braces = 0usize;
        let (mut depth, mut max_depth, mut ops) = (0usize, 0usize, 0usize);
        i += 1;
        while i < toks.len() && !(braces == 0 && starts_item(&toks[i].1)) {
            match toks[i].1 {
                Tok::LBrace => braces += 1,
                Tok::RBrace => braces = braces.saturating_sub(1),
                _ => {}
            }
            match toks[i].1 {
                Tok::LParen | Tok::LBracket | Tok::LBrace => {
                    depth += 1;
                    max_depth = max_depth.max(depth);
                }
                Tok::RParen | Tok::RBracket | Tok::RBrace => depth = depth.saturating_sub(1),
                Tok::Plus
                | Tok::Minus
                | Tok::Star
                | Tok::Slash
                | Tok::Caret
                | Tok::Percent
                | Tok::Not
                | Tok::And
                | Tok::Or => ops += 1,
                _ => {}
            }
            i += 1;
        }
        if max_depth > MAX_NESTING || ops > MAX_OPERATORS {
            let what = if max_depth > MAX_NESTING {
                format!("brackets nest {max_depth} deep; the limit is {MAX_NESTING}")
            } else {
                format!("it has {ops} operators; the limit is {MAX_OPERATORS}")
            };
            let span = Span::new(toks[start].0, toks[i - 1].2);
            errors.push(SyntaxError {
                kind: SyntaxErrorKind::TooComplex { what },
                span,
            });
        } else {
            out.extend_from_slice(&toks[start..i]);
        }
    }
    (out, errors)
}

/// Parses a single expression (for the REPL and tests).
pub fn parse_expr(src: &str) -> Result<crate::ast::Expr, Vec<SyntaxError>> {
    let (toks, lex_errors) = lex(src);
    let mut errors: Vec<SyntaxError> = lex_errors
        .into_iter()
        .map(|e| SyntaxError {
            kind: SyntaxErrorKind::Lex(e.kind),
            span: e.span,
        })
        .collect();
    let mut grammar_errors = Vec::new();
    let result =
        grammar::ExprParser::new().parse(&mut grammar_errors, toks.into_iter().map(Ok::<_, ()>));
    errors.extend(grammar_errors);
    match result {
        Ok(e) if errors.is_empty() => Ok(e),
        Ok(_) => Err(errors),
        Err(e) => {
            errors.push(from_parse_error(e, src.len()));
            Err(errors)
        }
    }
}

fn describe_expected(expected: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = expected
        .into_iter()
        .map(|t| match t.as_str() {
            "Ident" => "a name".to_string(),
            "Int" | "Float" => "a number".to_string(),
            "Str" => "a string".to_string(),
            "Unit" => "a unit".to_string(),
            other => format!("`{}`", other.trim_matches('"')),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn from_parse_error(e: ParseError<usize, Tok<'_>, ()>, eof: usize) -> SyntaxError {
    match e {
        ParseError::InvalidToken { location } => SyntaxError {
            kind: SyntaxErrorKind::Lex(LexErrorKind::InvalidChar),
            span: Span::new(location, location + 1),
        },
        ParseError::UnrecognizedEof { location, expected } => SyntaxError {
            kind: SyntaxErrorKind::UnexpectedEof {
                expected: describe_expected(expected),
            },
            span: Span::new(location.min(eof), eof),
        },
        ParseError::UnrecognizedToken {
            token: (l, t, r),
            expected,
        } => SyntaxError {
            kind: SyntaxErrorKind::Unexpected {
                found: t.describe(),
                expected: describe_expected(expected),
            },
            span: Span::new(l, r),
        },
        ParseError::ExtraToken { token: (l, t, r) } => SyntaxError {
            kind: SyntaxErrorKind::Unexpected {
                found: t.describe(),
                expected: vec![],
            },
            span: Span::new(l, r),
        },
        ParseError::User { .. } => SyntaxError {
            kind: SyntaxErrorKind::Unexpected {
                found: "input".into(),
                expected: vec![],
            },
            span: Span::new(eof, eof),
        },
    }
}

/// Turns a recovered grammar error into a [`SyntaxError`] (used by the grammar).
pub(crate) fn recovered(e: ErrorRecovery<usize, Tok<'_>, ()>) -> SyntaxError {
    // lalrpop reports the end of input at an offset past the tokens; the
    // length is not known here, so clamp later in `parse` by sorting only.
    from_parse_error(e.error, usize::MAX)
}

/// The value of a number token (used by the grammar; the lexer's regexes
/// make every token parseable, overflow gives infinity which sema reports).
pub(crate) fn num_value(s: &str) -> f64 {
    s.parse::<f64>().unwrap_or(f64::INFINITY)
}

/// A small integer in an exponent.
pub(crate) fn small_int(s: &str) -> i64 {
    // Too large for i64: still too large for a dimension, which sema reports.
    s.parse::<i64>().unwrap_or(i64::MAX)
}

/// A decimal exponent (`0.5`, `1.25`) as a fraction in lowest terms; one
/// with an exponent part (`5e-1`) or too many digits is too large (sema
/// reports it).
pub(crate) fn decimal_exponent(s: &str) -> (i64, i64) {
    let Some((int, frac)) = s.split_once('.') else {
        return (small_int(s), 1);
    };
    if frac.len() > 12 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return (i64::MAX, 1);
    }
    let d = 10i64.pow(frac.len() as u32);
    let n = small_int(int)
        .saturating_mul(d)
        .saturating_add(if frac.is_empty() { 0 } else { small_int(frac) });
    let (mut a, mut b) = (n.abs(), d);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let g = a.max(1);
    (n / g, d / g)
}

/// Splits `a::b::c` into the module path `a::b` and the name `c`.
pub(crate) fn split_path(mut segs: Vec<Ident>) -> (Vec<Ident>, Ident) {
    let last = segs
        .pop()
        .unwrap_or_else(|| Spanned::new(String::new(), Span::default()));
    (segs, last)
}

/// Checks the left side `dx/dt` of an ODE and returns `x`.
pub(crate) fn derivative_var(d: Ident, t: Ident, errors: &mut Vec<SyntaxError>) -> Ident {
    let ok = d.node.len() > 1 && d.node.starts_with('d') && t.node == "dt";
    if !ok {
        errors.push(SyntaxError {
            kind: SyntaxErrorKind::MalformedDerivative {
                found: format!("{}/{}", d.node, t.node),
            },
            span: d.span.to(t.span),
        });
    }
    let name = if d.node.len() > 1 && d.node.starts_with('d') {
        d.node[1..].to_string()
    } else {
        d.node.clone()
    };
    Spanned::new(
        name,
        Span {
            start: d.span.start + 1,
            end: d.span.end,
        }
        .clamped(),
    )
}

impl Span {
    fn clamped(self) -> Span {
        Span {
            start: self.start.min(self.end),
            end: self.end,
        }
    }
}

/// A unit token, possibly with a written-together exponent (`cm^2`, `ms^-1`).
pub(crate) fn unit_token(text: &str, span: Span) -> UnitExpr {
    if let Some((base, exp)) = text.split_once('^') {
        let n = exp.trim().parse::<i64>().unwrap_or(i64::MAX);
        let base_span = Span::new(span.start as usize, span.start as usize + base.len());
        let b = Spanned::new(UnitKind::Name(base.trim().to_string()), base_span);
        Spanned::new(UnitKind::Pow(Box::new(b), n, 1), span)
    } else {
        Spanned::new(UnitKind::Name(text.to_string()), span)
    }
}

/// The number `1` in a unit (`[1/ms]`); any other number is an error.
pub(crate) fn unit_one(text: &str, span: Span, errors: &mut Vec<SyntaxError>) -> UnitExpr {
    if text != "1" {
        errors.push(SyntaxError {
            kind: SyntaxErrorKind::NumberInUnit {
                found: text.to_string(),
            },
            span,
        });
    }
    Spanned::new(UnitKind::One, span)
}
