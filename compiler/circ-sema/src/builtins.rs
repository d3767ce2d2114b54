//! Built-in functions, variables and connection rules, with their signatures.

use circ_units::Dim;

/// How a built-in function's result dimension follows from its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sig {
    /// Dimensionless arguments (this many) → dimensionless (`exp`, `sin`).
    Dimless(usize),
    /// Arguments all of one dimension (this many) → that dimension (`abs`, `min`, `clamp`).
    Same(usize),
    /// Arguments all of one dimension → dimensionless (`atan2`, `sign`, `heaviside`).
    SameToDimless(usize),
    /// One argument → its dimension to the power 1/2.
    Sqrt,
    /// One argument → its dimension to the power 1/3.
    Cbrt,
    /// `pow(x, n)`: like `x ^ n`.
    Pow,
    /// A random draw: arguments of one dimension (this many) → that dimension.
    Random(usize),
    /// `gamma(shape, scale)`: dimensionless shape, result in scale's dimension.
    Gamma,
    /// No arguments → dimensionless random number.
    RandomUnit,
    /// A time function (`step`, `ramp`, `sine`, `pulse_train`, `ou`, `timed`):
    /// named parameters, with the dimension of `value`-like ones shared.
    TimeFn,
    /// Positions of a population.
    Positions,
    /// `values(from "file", unit, column = "c")`: one value per neuron, read
    /// from a file, in `unit`'s dimension.
    Data,
}

/// Looks up a built-in function by name.
pub(crate) fn function(name: &str) -> Option<Sig> {
    Some(match name {
        "exp" | "log" | "log10" | "log2" | "sin" | "cos" | "tan" | "asin" | "acos" | "atan"
        | "sinh" | "cosh" | "tanh" | "expm1" | "log1p" | "sigmoid" | "erf" => Sig::Dimless(1),
        "abs" | "floor" | "ceil" | "round" => Sig::Same(1),
        "min" | "max" => Sig::Same(2),
        "clamp" => Sig::Same(3),
        "atan2" => Sig::SameToDimless(2),
        "sign" | "heaviside" => Sig::SameToDimless(1),
        "sqrt" => Sig::Sqrt,
        "cbrt" => Sig::Cbrt,
        "pow" => Sig::Pow,
        "uniform" | "normal" | "lognormal" => Sig::Random(2),
        "exponential" => Sig::Random(1),
        "gamma" => Sig::Gamma,
        "rand" | "randn" => Sig::RandomUnit,
        "step" | "ramp" | "sine" | "pulse_train" | "ou" | "timed" => Sig::TimeFn,
        "grid" | "line" | "random_positions" => Sig::Positions,
        "values" => Sig::Data,
        _ => return None,
    })
}

/// A parameter of a time or position function: its name and what it must be.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FnParam {
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
}

/// What a time-function parameter must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParamKind {
    /// A time.
    Time,
    /// A frequency.
    Frequency,
    /// The function's value dimension (all such parameters agree).
    Value,
    /// Dimensionless.
    Dimless,
    /// A positive integer.
    Count,
    /// A length.
    Length,
    /// A file.
    File,
    /// A string (a column's name).
    Name,
}

const fn p(name: &'static str, kind: ParamKind, required: bool) -> FnParam {
    FnParam {
        name,
        kind,
        required,
    }
}

/// The parameters of a time or position function, in positional order.
pub(crate) fn named_params(name: &str) -> &'static [FnParam] {
    use ParamKind::*;
    match name {
        // step(at, before, after): `before` until `at`, `after` from then on.
        "step" => {
            const {
                &[
                    p("at", Time, true),
                    p("before", Value, true),
                    p("after", Value, true),
                ]
            }
        }
        // ramp(start, stop, from, to): linear between the two times.
        "ramp" => {
            const {
                &[
                    p("start", Time, true),
                    p("stop", Time, true),
                    p("from", Value, true),
                    p("to", Value, true),
                ]
            }
        }
        // sine(amplitude, frequency, offset, phase).
        "sine" => {
            const {
                &[
                    p("amplitude", Value, true),
                    p("frequency", Frequency, true),
                    p("offset", Value, false),
                    p("phase", Dimless, false),
                ]
            }
        }
        // pulse_train(amplitude, period, width, start).
        "pulse_train" => {
            const {
                &[
                    p("amplitude", Value, true),
                    p("period", Time, true),
                    p("width", Time, true),
                    p("start", Time, false),
                ]
            }
        }
        // ou(mean, sigma, tau): an Ornstein-Uhlenbeck process.
        "ou" => {
            const {
                &[
                    p("mean", Value, true),
                    p("sigma", Value, true),
                    p("tau", Time, true),
                ]
            }
        }
        // timed(from "file", dt, unit): samples read from a file, `unit` gives their dimension.
        "timed" => {
            const {
                &[
                    p("values", File, true),
                    p("dt", Time, true),
                    p("unit", Value, true),
                ]
            }
        }
        // values(from "file", unit, column): one value per neuron, times `unit`.
        "values" => {
            const {
                &[
                    p("values", File, true),
                    p("unit", Value, true),
                    p("column", Name, false),
                ]
            }
        }
        "grid" => const { &[p("columns", Count, true), p("spacing", Length, true)] },
        "line" => const { &[p("spacing", Length, true)] },
        "random_positions" => const { &[p("extent", Length, true), p("dims", Count, false)] },
        _ => &[],
    }
}

/// Names of every built-in function (for suggestions).
pub(crate) const FUNCTION_NAMES: &[&str] = &[
    "exp",
    "log",
    "log10",
    "log2",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "tanh",
    "expm1",
    "log1p",
    "sigmoid",
    "erf",
    "abs",
    "floor",
    "ceil",
    "round",
    "min",
    "max",
    "clamp",
    "atan2",
    "sign",
    "heaviside",
    "sqrt",
    "cbrt",
    "pow",
    "uniform",
    "normal",
    "lognormal",
    "exponential",
    "gamma",
    "rand",
    "randn",
    "step",
    "ramp",
    "sine",
    "pulse_train",
    "ou",
    "timed",
    "grid",
    "line",
    "random_positions",
    "values",
];

/// Built-in dimensionless constants.
pub(crate) fn constant(name: &str) -> Option<f64> {
    match name {
        "pi" => Some(std::f64::consts::PI),
        "e" => Some(std::f64::consts::E),
        "inf" => Some(f64::INFINITY),
        _ => None,
    }
}

/// A connection rule: name and parameters.
pub(crate) fn rule(name: &str) -> Option<&'static [FnParam]> {
    use ParamKind::*;
    Some(match name {
        "all_to_all" | "one_to_one" => &[],
        "bernoulli" => const { &[p("p", Dimless, true)] },
        "fixed_indegree" | "fixed_outdegree" => const { &[p("k", Count, true)] },
        "fixed_total" => const { &[p("n", Count, true)] },
        "distance" => const { &[p("p", Dimless, true)] },
        "matrix" => const { &[p("weights", Dimless, true)] },
        _ => return None,
    })
}

/// Names of every connection rule (for suggestions).
pub(crate) const RULE_NAMES: &[&str] = &[
    "all_to_all",
    "one_to_one",
    "bernoulli",
    "fixed_indegree",
    "fixed_outdegree",
    "fixed_total",
    "distance",
    "matrix",
];

/// Integration methods `method` accepts.
pub(crate) const METHODS: &[&str] = &[
    "exact",
    "exponential_euler",
    "euler",
    "rk2",
    "heun",
    "rk4",
    "rk45",
    "euler_maruyama",
    "milstein",
];

/// Settings of a `run` block and what they must be.
pub(crate) fn run_setting(name: &str) -> Option<ParamKind> {
    match name {
        "dt" => Some(ParamKind::Time),
        "seed" | "threads" => Some(ParamKind::Count),
        _ => None,
    }
}

/// Names of the settings of a `run` block.
pub(crate) const RUN_SETTINGS: &[&str] = &["dt", "seed", "threads"];

/// Built-in input generators usable as population models.
pub(crate) const GENERATORS: &[&str] = &["poisson", "spikes"];

/// The dimension of time.
pub(crate) fn time() -> Dim {
    circ_units::dim_by_name("time").unwrap_or(Dim::ONE)
}

/// The dimension of length.
pub(crate) fn length() -> Dim {
    circ_units::dim_by_name("length").unwrap_or(Dim::ONE)
}

/// The dimension of frequency.
pub(crate) fn frequency() -> Dim {
    circ_units::dim_by_name("frequency").unwrap_or(Dim::ONE)
}
