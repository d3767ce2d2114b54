//! circ-syntax owns the surface syntax: spans, the logos lexer, the lalrpop
//! grammar and the untyped AST. It must not know about units, names or
//! models' meaning (that is circ-sema), nor render anything (circ-diag).

pub mod ast;
pub mod lexer;
pub mod parser;
pub mod span;

pub use parser::{Parsed, SyntaxError, SyntaxErrorKind, parse, parse_at, parse_expr};
pub use span::{Ident, Span, Spanned};
