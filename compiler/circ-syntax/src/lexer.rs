//! The logos lexer. It never stops: bad input becomes a [`LexError`] beside
//! the token stream, and lexing goes on after it.

use crate::span::Span;
use logos::Logos;

/// Why a piece of the input could not be made into a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LexErrorKind {
    /// A character that starts no token.
    #[default]
    InvalidChar,
    /// A `/*` comment with no closing `*/`.
    UnterminatedComment,
    /// A string literal with no closing quote on its line.
    UnterminatedString,
}

/// A lexical error with its span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LexError {
    /// What went wrong.
    pub kind: LexErrorKind,
    /// Where.
    pub span: Span,
}

fn block_comment<'a>(lex: &mut logos::Lexer<'a, Tok<'a>>) -> Result<logos::Skip, LexErrorKind> {
    let rest = lex.remainder();
    match rest.find("*/") {
        Some(i) => {
            lex.bump(i + 2);
            Ok(logos::Skip)
        }
        None => {
            lex.bump(rest.len());
            Err(LexErrorKind::UnterminatedComment)
        }
    }
}

fn string<'a>(lex: &mut logos::Lexer<'a, Tok<'a>>) -> Result<&'a str, LexErrorKind> {
    let rest = lex.remainder();
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            '\n' => break,
            '\\' if !escaped => escaped = true,
            '"' if !escaped => {
                lex.bump(i + 1);
                return Ok(&rest[..i]);
            }
            _ => escaped = false,
        }
    }
    let line_end = rest.find('\n').unwrap_or(rest.len());
    lex.bump(line_end);
    Err(LexErrorKind::UnterminatedString)
}

/// A token. Identifiers, numbers and strings borrow from the source.
#[derive(Logos, Clone, Copy, Debug, PartialEq)]
#[logos(skip r"[ \t\r\n\f]+", error = LexErrorKind)]
#[logos(skip(r"//[^\n]*", allow_greedy = true))]
#[allow(missing_docs)]
pub enum Tok<'a> {
    #[token("/*", block_comment)]
    BlockComment,

    #[regex(r"[\p{XID_Start}_][\p{XID_Continue}]*", |l| l.slice())]
    Ident(&'a str),
    /// An identifier that directly follows a number literal on the same line:
    /// a unit (the lexer wrapper makes these, see [`lex`]).
    Unit(&'a str),
    #[regex(r"[0-9]+", |l| l.slice(), priority = 3)]
    Int(&'a str),
    #[regex(r"[0-9]+\.[0-9]+([eE][+-]?[0-9]+)?", |l| l.slice())]
    #[regex(r"[0-9]+[eE][+-]?[0-9]+", |l| l.slice())]
    Float(&'a str),
    #[token("\"", string)]
    Str(&'a str),

    #[token("use")]
    Use,
    #[token("const")]
    Const,
    #[token("fn")]
    Fn,
    #[token("neuron")]
    Neuron,
    #[token("extends")]
    Extends,
    #[token("while")]
    While,
    #[token("synapse")]
    Synapse,
    #[token("circuit")]
    Circuit,
    #[token("run")]
    Run,
    #[token("parameter")]
    Parameter,
    #[token("state")]
    State,
    #[token("input")]
    Input,
    #[token("let")]
    Let,
    #[token("spike")]
    Spike,
    #[token("when")]
    When,
    #[token("refractory")]
    Refractory,
    #[token("unless")]
    Unless,
    #[token("on")]
    On,
    #[token("pre")]
    Pre,
    #[token("post")]
    Post,
    #[token("modulator")]
    Modulator,
    #[token("method")]
    Method,
    #[token("noise")]
    Noise,
    #[token("per")]
    Per,
    #[token("population")]
    Population,
    #[token("project")]
    Project,
    #[token("connect")]
    Connect,
    #[token("delay")]
    Delay,
    #[token("record")]
    Record,
    #[token("of")]
    Of,
    #[token("every")]
    Every,
    #[token("window")]
    Window,
    #[token("for")]
    For,
    #[token("and")]
    And,
    #[token("or")]
    Or,
    #[token("not")]
    Not,
    #[token("if")]
    If,
    #[token("then")]
    Then,
    #[token("else")]
    Else,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("clip")]
    Clip,
    #[token("where")]
    Where,
    #[token("from")]
    From,
    #[token("autapses")]
    Autapses,
    #[token("as")]
    As,
    #[token("at")]
    At,

    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(",")]
    Comma,
    #[token(";")]
    Semi,
    #[token(":")]
    Colon,
    #[token("::")]
    ColonColon,
    #[token(".")]
    Dot,
    #[token("..")]
    DotDot,
    /// `..` with nothing after it on its line (or before `)`, `]`, `}`, `,`,
    /// `;`): a range open at the top (made by [`lex`], never by logos).
    DotDotOpen,
    #[token("->")]
    Arrow,
    #[token("=")]
    Eq,
    #[token("+=")]
    PlusEq,
    #[token("-=")]
    MinusEq,
    #[token("*=")]
    StarEq,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    /// `^`, also written `**` (Python's and Brian2's power).
    #[token("^")]
    #[token("**")]
    Caret,
    #[token("%")]
    Percent,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("==")]
    EqEq,
    #[token("!=")]
    Ne,
}

/// A token with its byte offsets, as the parser consumes it.
pub type SpannedTok<'a> = (usize, Tok<'a>, usize);

/// Lexes all of `src`: the tokens, and the errors met on the way.
///
/// An identifier that follows a number literal on the same line becomes a
/// [`Tok::Unit`]: this is the rule that keeps units and variables apart
/// (`5 mV / m` is five millivolts divided by the variable `m`).
pub fn lex(src: &str) -> (Vec<SpannedTok<'_>>, Vec<LexError>) {
    let mut toks: Vec<SpannedTok<'_>> = Vec::new();
    let mut errors = Vec::new();
    let mut lexer = Tok::lexer(src);
    while let Some(res) = lexer.next() {
        let r = lexer.span();
        match res {
            Ok(Tok::Ident(name)) => {
                let after_number = matches!(toks.last(), Some((_, Tok::Int(_) | Tok::Float(_), end))
                    if !src[*end..r.start].contains('\n'));
                let tok = if after_number {
                    Tok::Unit(name)
                } else {
                    Tok::Ident(name)
                };
                toks.push((r.start, tok, r.end));
            }
            Ok(tok) => toks.push((r.start, tok, r.end)),
            Err(kind) => {
                // Merge runs of invalid characters into one error.
                if let Some(last) = errors.last_mut() {
                    let last: &mut LexError = last;
                    if kind == LexErrorKind::InvalidChar
                        && last.kind == LexErrorKind::InvalidChar
                        && last.span.end as usize == r.start
                    {
                        last.span.end = r.end as u32;
                        continue;
                    }
                }
                errors.push(LexError {
                    kind,
                    span: Span::new(r.start, r.end),
                });
            }
        }
    }
    (merge_unit_exponents(src, toks), errors)
}

/// Joins `cm ^ 2` / `ms ^ -1` after a number into one unit token, so that a
/// unit binds its exponent (`5 um^2` is five square micrometres).
fn merge_unit_exponents<'a>(src: &'a str, toks: Vec<SpannedTok<'a>>) -> Vec<SpannedTok<'a>> {
    let mut out: Vec<SpannedTok<'a>> = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let (l, tok, r) = toks[i];
        if let Tok::Unit(_) = tok {
            let caret = matches!(toks.get(i + 1), Some((_, Tok::Caret, _)));
            let int_at = |k: usize| matches!(toks.get(k), Some((_, Tok::Int(_), _)));
            let neg = matches!(toks.get(i + 2), Some((_, Tok::Minus, _))) && int_at(i + 3);
            if caret && (int_at(i + 2) || neg) {
                let last = if neg { i + 3 } else { i + 2 };
                let end = toks[last].2;
                out.push((l, Tok::Unit(&src[l..end]), end));
                i = last + 1;
                continue;
            }
        }
        if tok == Tok::DotDot {
            let open = match toks.get(i + 1) {
                None => true,
                Some((nl, next, _)) => {
                    src[r..*nl].contains('\n')
                        || matches!(
                            next,
                            Tok::RParen | Tok::RBracket | Tok::RBrace | Tok::Comma | Tok::Semi
                        )
                }
            };
            if open {
                out.push((l, Tok::DotDotOpen, r));
                i += 1;
                continue;
            }
        }
        out.push((l, tok, r));
        i += 1;
    }
    out
}

impl Tok<'_> {
    /// How the token is written, for messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("identifier `{s}`"),
            Tok::Unit(s) => format!("unit `{s}`"),
            Tok::Int(s) | Tok::Float(s) => format!("number `{s}`"),
            Tok::Str(s) => format!("string \"{s}\""),
            _ => format!("`{}`", self.text()),
        }
    }

    /// The fixed text of a punctuation or keyword token.
    pub fn text(&self) -> &str {
        match self {
            Tok::Ident(s) | Tok::Unit(s) | Tok::Int(s) | Tok::Float(s) | Tok::Str(s) => s,
            Tok::BlockComment => "/*",
            Tok::Use => "use",
            Tok::Const => "const",
            Tok::Fn => "fn",
            Tok::Neuron => "neuron",
            Tok::Extends => "extends",
            Tok::While => "while",
            Tok::Synapse => "synapse",
            Tok::Circuit => "circuit",
            Tok::Run => "run",
            Tok::Parameter => "parameter",
            Tok::State => "state",
            Tok::Input => "input",
            Tok::Let => "let",
            Tok::Spike => "spike",
            Tok::When => "when",
            Tok::Refractory => "refractory",
            Tok::Unless => "unless",
            Tok::On => "on",
            Tok::Pre => "pre",
            Tok::Post => "post",
            Tok::Modulator => "modulator",
            Tok::Method => "method",
            Tok::Noise => "noise",
            Tok::Per => "per",
            Tok::Population => "population",
            Tok::Project => "project",
            Tok::Connect => "connect",
            Tok::Delay => "delay",
            Tok::Record => "record",
            Tok::Of => "of",
            Tok::Every => "every",
            Tok::Window => "window",
            Tok::For => "for",
            Tok::And => "and",
            Tok::Or => "or",
            Tok::Not => "not",
            Tok::If => "if",
            Tok::Then => "then",
            Tok::Else => "else",
            Tok::True => "true",
            Tok::False => "false",
            Tok::Clip => "clip",
            Tok::Where => "where",
            Tok::From => "from",
            Tok::Autapses => "autapses",
            Tok::As => "as",
            Tok::At => "at",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Semi => ";",
            Tok::Colon => ":",
            Tok::ColonColon => "::",
            Tok::Dot => ".",
            Tok::DotDot | Tok::DotDotOpen => "..",
            Tok::Arrow => "->",
            Tok::Eq => "=",
            Tok::PlusEq => "+=",
            Tok::MinusEq => "-=",
            Tok::StarEq => "*=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Caret => "^",
            Tok::Percent => "%",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::EqEq => "==",
            Tok::Ne => "!=",
        }
    }
}

/// Every keyword of the language (identifiers may not use them).
pub const KEYWORDS: &[&str] = &[
    "use",
    "const",
    "fn",
    "neuron",
    "synapse",
    "circuit",
    "run",
    "parameter",
    "state",
    "input",
    "let",
    "spike",
    "when",
    "refractory",
    "unless",
    "on",
    "pre",
    "post",
    "modulator",
    "method",
    "noise",
    "per",
    "population",
    "project",
    "connect",
    "delay",
    "record",
    "of",
    "every",
    "window",
    "for",
    "and",
    "or",
    "not",
    "if",
    "then",
    "else",
    "true",
    "false",
    "clip",
    "where",
    "from",
    "autapses",
    "as",
    "at",
];
