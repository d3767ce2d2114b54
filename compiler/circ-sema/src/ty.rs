//! The type of an expression: a number with a dimension, a boolean, or the
//! odd kinds that only some places accept (strings, files, ranges, arrays).

use circ_units::Dim;

/// The type of a checked expression.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ty {
    /// A number. `dim: None` is a dimension not known yet (an unsuffixed `0`,
    /// or `post.x` in a synapse before a projection binds it): it fits any.
    Num {
        /// Its dimension, if known.
        dim: Option<Dim>,
        /// An integer (counts, sizes, indices).
        int: bool,
        /// Its value in SI units, where it is a compile-time constant.
        konst: Option<f64>,
        /// Drawn at random (a distribution).
        random: bool,
    },
    /// `true` / `false`, comparisons, conditions.
    Bool,
    /// A string.
    Str,
    /// `from "file"`.
    File,
    /// `a..b`.
    Range(Option<Dim>),
    /// `[a, b, ...]`.
    Array(Option<Dim>),
    /// Positions of a population (`grid(...)`).
    Positions,
    /// Already reported: accept anything, report nothing more.
    Error,
}

impl Ty {
    /// A real number of a known dimension.
    pub fn real(dim: circ_units::Dim) -> Ty {
        Ty::Num {
            dim: Some(dim),
            int: false,
            konst: None,
            random: false,
        }
    }

    /// An integer of unknown value.
    pub fn int() -> Ty {
        Ty::Num {
            dim: Some(Dim::ONE),
            int: true,
            konst: None,
            random: false,
        }
    }

    /// A number of unknown dimension.
    pub fn any_num() -> Ty {
        Ty::Num {
            dim: None,
            int: false,
            konst: None,
            random: false,
        }
    }

    /// The dimension, if a number with a known one.
    pub fn dim(self) -> Option<Dim> {
        match self {
            Ty::Num { dim, .. } => dim,
            _ => None,
        }
    }

    /// The constant value, if known.
    pub fn konst(self) -> Option<f64> {
        match self {
            Ty::Num { konst, .. } => konst,
            _ => None,
        }
    }

    /// Whether this is a number (or an error, which fits anywhere).
    pub fn is_num_or_err(self) -> bool {
        matches!(self, Ty::Num { .. } | Ty::Error)
    }

    /// Whether it is drawn at random.
    pub fn is_random(self) -> bool {
        matches!(self, Ty::Num { random: true, .. })
    }

    /// Words for messages: `a boolean`, `a voltage (mV)`.
    pub fn describe(self) -> String {
        match self {
            Ty::Num {
                dim: Some(d),
                int: true,
                ..
            } if d.is_dimensionless() => "an integer".into(),
            Ty::Num { dim: Some(d), .. } if d.is_dimensionless() => {
                "a dimensionless real number".into()
            }
            Ty::Num { dim: Some(d), .. } => format!("a value of dimension {}", d.describe()),
            Ty::Num { dim: None, .. } => "a number".into(),
            Ty::Bool => "a boolean".into(),
            Ty::Str => "a string".into(),
            Ty::File => "a file".into(),
            Ty::Range(_) => "a range".into(),
            Ty::Array(_) => "an array".into(),
            Ty::Positions => "positions".into(),
            Ty::Error => "an erroneous value".into(),
        }
    }
}

/// Whether two optional dimensions agree (an unknown one agrees with all).
pub fn dims_agree(a: Option<Dim>, b: Option<Dim>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}
