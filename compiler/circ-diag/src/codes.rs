//! The registry of diagnostic codes. Each code has a page in
//! `spec/diagnostics/CODE.md`, embedded here so `circ check --explain CODE`
//! works anywhere; a missing page fails the build, and a test fails when a
//! page has no code.

/// A diagnostic code with its one-line summary and its page.
#[derive(Clone, Copy, Debug)]
pub struct CodeInfo {
    /// The code (`unit-mismatch`).
    pub code: &'static str,
    /// What it means, in one line.
    pub summary: &'static str,
    /// Its page (Markdown).
    pub page: &'static str,
}

macro_rules! codes {
    ($($code:literal => $summary:literal,)*) => {
        /// Every diagnostic code the compiler can emit.
        pub const CODES: &[CodeInfo] = &[$(CodeInfo {
            code: $code,
            summary: $summary,
            page: include_str!(concat!("../../../spec/diagnostics/", $code, ".md")),
        }),*];
    };
}

codes! {
    "invalid-character" => "a character that starts no token",
    "unterminated-comment" => "a `/*` comment without `*/`",
    "unterminated-string" => "a string without its closing quote",
    "unexpected-token" => "the grammar does not allow this token here",
    "unexpected-end" => "the file ends in the middle of an item",
    "malformed-derivative" => "the left side of an equation is not `dx/dt`",
    "number-in-unit" => "a number other than 1 inside a unit or dimension",
    "too-complex" => "an item nested too deeply, or with too many operators, to compile",
    "too-large" => "a run that needs more memory than the machine has",
    "long-run" => "a run of 10^10 steps or more (circ run asks for --allow-long-run)",
    "ambiguous-run" => "several `run` items and no --circuit to choose one",
    "large-recording" => "recordings that will take more than 1 GB (a warning)",
    "constant-recording" => "a periodic recording of a value that never changes (a warning)",
    "subgroup-index" => "`i` or `j` read between subgroups: population indices, unlike Brian2 (a warning)",
    "unknown-unit" => "a unit name that is not an SI unit with an SI prefix",
    "unknown-dimension" => "an annotation names no known dimension",
    "unknown-name" => "a name that is not defined where it is used",
    "unknown-function" => "a call of a function that does not exist",
    "unknown-model" => "a population or projection names no suitable model",
    "unknown-module" => "a `use` of a module or file that does not exist",
    "unknown-import" => "a `use` of a name the module does not have",
    "unknown-member" => "`pre.x`, `post.x` or a recording names a variable the model lacks",
    "unknown-parameter" => "a value for a parameter or state the model does not have",
    "unknown-rule" => "a connection rule that does not exist",
    "unknown-method" => "an integration method that does not exist",
    "unknown-setting" => "a `run` setting that does not exist",
    "unknown-modulator" => "a model reads a modulator the circuit does not define",
    "duplicate-definition" => "one name defined twice in the same scope",
    "duplicate-equation" => "two equations for one variable",
    "unit-mismatch" => "operands or assignments whose dimensions differ",
    "derivative-dimension" => "`dx/dt = rhs` where rhs is not x's dimension per time",
    "noise-dimension" => "a noise term of the wrong dimension",
    "annotation-mismatch" => "a value whose dimension differs from its declaration",
    "argument-dimension" => "an argument of the wrong dimension",
    "parameter-dimension" => "a circuit gives a model parameter or state a value of the wrong dimension",
    "return-dimension" => "a function body whose dimension differs from its declared result",
    "argument-count" => "a call with the wrong number or kind of arguments",
    "type-mismatch" => "a boolean, integer, string or other kind where another was needed",
    "invalid-exponent" => "an exponent that is not dimensionless, or not constant for a dimensioned base",
    "invalid-assignment" => "an assignment the model may not make",
    "derivative-of-non-state" => "an equation for something that is not a state",
    "misplaced-member" => "a declaration or statement where it does not belong",
    "unless-without-refractory" => "`unless refractory` in a model with no refractory period",
    "per-synapse-dependency" => "a per-neuron value of a synapse computed from per-synapse values",
    "recursive-definition" => "a value or function defined in terms of itself",
    "missing-parameter" => "a required parameter that was not given",
    "missing-dimension" => "a declaration with neither a dimension nor a value",
    "invalid-value" => "a constant outside the range its place allows",
    "not-constant" => "a value that must be fixed but varies (random, or depends on state)",
    "method-not-applicable" => "an integration method that cannot integrate the model's equations",
    "unsupported" => "a valid construct this version cannot run yet",
    "no-run" => "`circ run` on a file with nothing to run",
}

/// The page for a code, if the code exists.
pub fn explain(code: &str) -> Option<&'static CodeInfo> {
    CODES.iter().find(|c| c.code == code)
}
