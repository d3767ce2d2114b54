//! circ-units owns physical dimensions and units: the dimension algebra over
//! the seven SI base dimensions (with rational exponents, so `sqrt` works),
//! the unit table with every SI prefix, dimension names for annotations and
//! messages. It must not know about syntax, names or models.

use std::fmt;

/// A rational exponent `n/d`, always normalised (`d > 0`, gcd 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Rat {
    n: i32,
    d: i32,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

impl Rat {
    /// Zero.
    pub const ZERO: Rat = Rat { n: 0, d: 1 };

    /// `n/d`, normalised; `None` when `d == 0` or the value does not fit.
    pub fn new(n: i64, d: i64) -> Option<Rat> {
        if d == 0 {
            return None;
        }
        let g = gcd(n, d).max(1);
        let (mut n, mut d) = (n / g, d / g);
        if d < 0 {
            n = -n;
            d = -d;
        }
        Some(Rat {
            n: i32::try_from(n).ok()?,
            d: i32::try_from(d).ok()?,
        })
    }

    /// An integer.
    pub fn int(n: i32) -> Rat {
        Rat { n, d: 1 }
    }

    /// Numerator.
    pub fn numer(self) -> i32 {
        self.n
    }

    /// Denominator (positive).
    pub fn denom(self) -> i32 {
        self.d
    }

    /// The value as a float.
    pub fn to_f64(self) -> f64 {
        f64::from(self.n) / f64::from(self.d)
    }

    fn plus(self, o: Rat) -> Option<Rat> {
        Rat::new(
            i64::from(self.n) * i64::from(o.d) + i64::from(o.n) * i64::from(self.d),
            i64::from(self.d) * i64::from(o.d),
        )
    }

    fn times(self, o: Rat) -> Option<Rat> {
        Rat::new(
            i64::from(self.n) * i64::from(o.n),
            i64::from(self.d) * i64::from(o.d),
        )
    }

    /// The nearest small rational to `x` (denominators up to 12), if exact.
    pub fn from_f64(x: f64) -> Option<Rat> {
        if !x.is_finite() || x.abs() > 1e6 {
            return None;
        }
        (1..=12).find_map(|d| {
            let n = x * f64::from(d);
            ((n - n.round()).abs() < 1e-9)
                .then(|| Rat::new(n.round() as i64, i64::from(d)))
                .flatten()
        })
    }
}

impl fmt::Display for Rat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.d == 1 {
            write!(f, "{}", self.n)
        } else {
            write!(f, "({}/{})", self.n, self.d)
        }
    }
}

/// The SI base dimensions, in the order of [`Dim`]'s exponents.
pub const BASE: [(&str, &str); 7] = [
    ("time", "s"),
    ("length", "m"),
    ("mass", "kg"),
    ("current", "A"),
    ("temperature", "K"),
    ("amount", "mol"),
    ("luminosity", "cd"),
];

/// A physical dimension: one rational exponent per SI base dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Dim(pub [Rat; 7]);

impl Dim {
    /// Dimensionless.
    pub const ONE: Dim = Dim([Rat::ZERO; 7]);

    /// From integer exponents (time, length, mass, current, temperature, amount, luminosity).
    pub const fn from_ints(e: [i32; 7]) -> Dim {
        Dim([
            Rat { n: e[0], d: 1 },
            Rat { n: e[1], d: 1 },
            Rat { n: e[2], d: 1 },
            Rat { n: e[3], d: 1 },
            Rat { n: e[4], d: 1 },
            Rat { n: e[5], d: 1 },
            Rat { n: e[6], d: 1 },
        ])
    }

    /// Whether all exponents are zero.
    pub fn is_dimensionless(self) -> bool {
        self == Dim::ONE
    }

    /// `self * other` (`None` only on exponent overflow).
    pub fn checked_mul(self, o: Dim) -> Option<Dim> {
        let mut r = Dim::ONE;
        for i in 0..7 {
            r.0[i] = self.0[i].plus(o.0[i])?;
        }
        Some(r)
    }

    /// `self / other`.
    pub fn checked_div(self, o: Dim) -> Option<Dim> {
        self.checked_mul(o.powr(Rat::int(-1))?)
    }

    /// `self ^ e`.
    pub fn powr(self, e: Rat) -> Option<Dim> {
        let mut r = Dim::ONE;
        for i in 0..7 {
            r.0[i] = self.0[i].times(e)?;
        }
        Some(r)
    }

    /// The SI form, e.g. `m^2*kg*s^-3*A^-1` (`1` when dimensionless).
    pub fn si(self) -> String {
        // Conventional order: m kg s A K mol cd.
        let order = [1usize, 2, 0, 3, 4, 5, 6];
        let parts: Vec<String> = order
            .iter()
            .filter(|&&i| self.0[i] != Rat::ZERO)
            .map(|&i| {
                let e = self.0[i];
                if e == Rat::int(1) {
                    BASE[i].1.to_string()
                } else {
                    format!("{}^{}", BASE[i].1, e)
                }
            })
            .collect();
        if parts.is_empty() {
            "1".to_string()
        } else {
            parts.join("*")
        }
    }

    /// The dimension written by [`Dim::si`] (`m^2*kg*s^-3*A^-1`, `1`),
    /// or `None` for other text.
    pub fn from_si(text: &str) -> Option<Dim> {
        let mut d = Dim::ONE;
        if text.trim() == "1" {
            return Some(d);
        }
        for part in text.split('*') {
            let (sym, exp) = match part.split_once('^') {
                Some((s, e)) => (s, e),
                None => (part, "1"),
            };
            let i = BASE.iter().position(|b| b.1 == sym)?;
            let e = exp.trim_start_matches('(').trim_end_matches(')');
            let r = match e.split_once('/') {
                Some((n, q)) => Rat::new(n.parse().ok()?, q.parse().ok()?)?,
                None => Rat::new(e.parse().ok()?, 1)?,
            };
            if d.0[i] != Rat::ZERO || r == Rat::ZERO {
                return None;
            }
            d.0[i] = r;
        }
        Some(d)
    }

    /// The dimension's name if it has one (`voltage`), else `None`.
    pub fn name(self) -> Option<&'static str> {
        NAMED.iter().find(|n| n.dim == self).map(|n| n.name)
    }

    /// How messages name the dimension: `voltage (mV)`, `voltage/time (mV/ms)`,
    /// or the SI form when no name fits.
    pub fn describe(self) -> String {
        if let Some(n) = NAMED.iter().find(|n| n.dim == self) {
            return if n.display.is_empty() {
                n.name.replace('_', " ")
            } else {
                format!("{} ({})", n.name.replace('_', " "), n.display)
            };
        }
        let named = || NAMED.iter().filter(|n| !n.dim.is_dimensionless());
        // Rates of change are the most common unnamed dimensions: try `/time` first.
        let by_time = || {
            named()
                .filter(|n| n.name == "time")
                .chain(named().filter(|n| n.name != "time"))
        };
        for b in by_time() {
            for a in named() {
                if a.dim.checked_div(b.dim) == Some(self) {
                    return format!(
                        "{}/{} ({}/{})",
                        a.name.replace('_', " "),
                        b.name.replace('_', " "),
                        a.display,
                        paren(b.display)
                    );
                }
            }
        }
        for a in named() {
            if Dim::ONE.checked_div(a.dim) == Some(self) {
                return format!("1/{} (1/{})", a.name.replace('_', " "), paren(a.display));
            }
        }
        for a in named() {
            for b in named() {
                if a.dim.checked_mul(b.dim) == Some(self) {
                    return format!(
                        "{}*{} ({}*{})",
                        a.name.replace('_', " "),
                        b.name.replace('_', " "),
                        a.display,
                        paren(b.display)
                    );
                }
            }
        }
        for a in named() {
            for e in [
                Rat::new(1, 2),
                Rat::new(-1, 2),
                Rat::new(2, 1),
                Rat::new(3, 1),
            ]
            .into_iter()
            .flatten()
            {
                if a.dim.powr(e) == Some(self) {
                    return format!(
                        "{}^{} ({}^{})",
                        a.name.replace('_', " "),
                        e,
                        paren(a.display),
                        e
                    );
                }
            }
        }
        format!("{} (SI)", self.si())
    }
}

fn paren(s: &str) -> String {
    if s.contains('/') || s.contains('*') {
        format!("({s})")
    } else {
        s.to_string()
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A named dimension: usable in annotations, and shown in messages with
/// the unit modelers usually write it in.
#[derive(Clone, Copy, Debug)]
pub struct NamedDim {
    /// Name in annotations (`current_density`).
    pub name: &'static str,
    /// The dimension.
    pub dim: Dim,
    /// The unit used in messages (`uA/cm^2`).
    pub display: &'static str,
}

const T: i32 = 0;
const fn d(time: i32, len: i32, mass: i32, cur: i32) -> Dim {
    Dim::from_ints([time, len, mass, cur, 0, 0, 0])
}
const VOLT: Dim = d(-3, 2, 1, -1);

/// Every named dimension. The first entry with a given dimension is the one
/// messages use.
pub const NAMED: &[NamedDim] = &[
    NamedDim {
        name: "dimensionless",
        dim: Dim::ONE,
        display: "",
    },
    NamedDim {
        name: "time",
        dim: d(1, 0, 0, 0),
        display: "ms",
    },
    NamedDim {
        name: "frequency",
        dim: d(-1, 0, 0, 0),
        display: "Hz",
    },
    NamedDim {
        name: "length",
        dim: d(T, 1, 0, 0),
        display: "um",
    },
    NamedDim {
        name: "area",
        dim: d(T, 2, 0, 0),
        display: "um^2",
    },
    NamedDim {
        name: "volume",
        dim: d(T, 3, 0, 0),
        display: "um^3",
    },
    NamedDim {
        name: "mass",
        dim: d(T, 0, 1, 0),
        display: "kg",
    },
    NamedDim {
        name: "current",
        dim: d(T, 0, 0, 1),
        display: "nA",
    },
    NamedDim {
        name: "temperature",
        dim: Dim::from_ints([0, 0, 0, 0, 1, 0, 0]),
        display: "K",
    },
    NamedDim {
        name: "amount",
        dim: Dim::from_ints([0, 0, 0, 0, 0, 1, 0]),
        display: "mol",
    },
    NamedDim {
        name: "luminosity",
        dim: Dim::from_ints([0, 0, 0, 0, 0, 0, 1]),
        display: "cd",
    },
    NamedDim {
        name: "voltage",
        dim: VOLT,
        display: "mV",
    },
    NamedDim {
        name: "conductance",
        dim: d(3, -2, -1, 2),
        display: "nS",
    },
    NamedDim {
        name: "resistance",
        dim: d(-3, 2, 1, -2),
        display: "Mohm",
    },
    NamedDim {
        name: "capacitance",
        dim: d(4, -2, -1, 2),
        display: "pF",
    },
    NamedDim {
        name: "charge",
        dim: d(1, 0, 0, 1),
        display: "pC",
    },
    NamedDim {
        name: "power",
        dim: d(-3, 2, 1, 0),
        display: "W",
    },
    NamedDim {
        name: "energy",
        dim: d(-2, 2, 1, 0),
        display: "J",
    },
    NamedDim {
        name: "force",
        dim: d(-2, 1, 1, 0),
        display: "N",
    },
    NamedDim {
        name: "pressure",
        dim: d(-2, -1, 1, 0),
        display: "Pa",
    },
    NamedDim {
        name: "concentration",
        dim: Dim::from_ints([0, -3, 0, 0, 0, 1, 0]),
        display: "mM",
    },
    NamedDim {
        name: "current_density",
        dim: d(0, -2, 0, 1),
        display: "uA/cm^2",
    },
    NamedDim {
        name: "conductance_density",
        dim: d(3, -4, -1, 2),
        display: "mS/cm^2",
    },
    NamedDim {
        name: "capacitance_density",
        dim: d(4, -4, -1, 2),
        display: "uF/cm^2",
    },
    NamedDim {
        name: "specific_resistance",
        dim: d(-3, 3, 1, -2),
        display: "ohm*cm",
    },
];

/// Looks up a dimension name used in an annotation.
pub fn dim_by_name(name: &str) -> Option<Dim> {
    NAMED.iter().find(|n| n.name == name).map(|n| n.dim)
}

/// A unit: its size in SI base units and its dimension.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unit {
    /// How many SI base units one of it is (`mV` → 1e-3).
    pub scale: f64,
    /// Its dimension.
    pub dim: Dim,
}

impl Unit {
    /// Dimensionless 1.
    pub const ONE: Unit = Unit {
        scale: 1.0,
        dim: Dim::ONE,
    };

    /// `self * other`.
    pub fn checked_mul(self, o: Unit) -> Option<Unit> {
        Some(Unit {
            scale: self.scale * o.scale,
            dim: self.dim.checked_mul(o.dim)?,
        })
    }

    /// `self / other`.
    pub fn checked_div(self, o: Unit) -> Option<Unit> {
        Some(Unit {
            scale: self.scale / o.scale,
            dim: self.dim.checked_div(o.dim)?,
        })
    }

    /// `self ^ e`.
    pub fn powr(self, e: Rat) -> Option<Unit> {
        Some(Unit {
            scale: self.scale.powf(e.to_f64()),
            dim: self.dim.powr(e)?,
        })
    }
}

/// Every SI prefix and its factor. `u`, `µ` (micro sign) and `μ` (Greek mu)
/// all mean micro.
pub const PREFIXES: &[(&str, f64)] = &[
    ("Q", 1e30),
    ("R", 1e27),
    ("Y", 1e24),
    ("Z", 1e21),
    ("E", 1e18),
    ("P", 1e15),
    ("T", 1e12),
    ("G", 1e9),
    ("M", 1e6),
    ("k", 1e3),
    ("h", 1e2),
    ("da", 1e1),
    ("d", 1e-1),
    ("c", 1e-2),
    ("m", 1e-3),
    ("u", 1e-6),
    ("\u{b5}", 1e-6),
    ("\u{3bc}", 1e-6),
    ("n", 1e-9),
    ("p", 1e-12),
    ("f", 1e-15),
    ("a", 1e-18),
    ("z", 1e-21),
    ("y", 1e-24),
    ("r", 1e-27),
    ("q", 1e-30),
];

const AMP: Dim = d(0, 0, 0, 1);
/// The unprefixed units: symbol, SI scale, dimension.
pub const UNITS: &[(&str, f64, Dim)] = &[
    ("s", 1.0, d(1, 0, 0, 0)),
    ("second", 1.0, d(1, 0, 0, 0)),
    ("m", 1.0, d(0, 1, 0, 0)),
    ("metre", 1.0, d(0, 1, 0, 0)),
    ("meter", 1.0, d(0, 1, 0, 0)),
    ("g", 1e-3, d(0, 0, 1, 0)),
    ("gram", 1e-3, d(0, 0, 1, 0)),
    ("A", 1.0, AMP),
    ("amp", 1.0, AMP),
    ("K", 1.0, Dim::from_ints([0, 0, 0, 0, 1, 0, 0])),
    ("kelvin", 1.0, Dim::from_ints([0, 0, 0, 0, 1, 0, 0])),
    ("mol", 1.0, Dim::from_ints([0, 0, 0, 0, 0, 1, 0])),
    ("mole", 1.0, Dim::from_ints([0, 0, 0, 0, 0, 1, 0])),
    ("cd", 1.0, Dim::from_ints([0, 0, 0, 0, 0, 0, 1])),
    ("Hz", 1.0, d(-1, 0, 0, 0)),
    ("hertz", 1.0, d(-1, 0, 0, 0)),
    ("V", 1.0, VOLT),
    ("volt", 1.0, VOLT),
    ("ohm", 1.0, d(-3, 2, 1, -2)),
    ("\u{3a9}", 1.0, d(-3, 2, 1, -2)),
    ("S", 1.0, d(3, -2, -1, 2)),
    ("siemens", 1.0, d(3, -2, -1, 2)),
    ("F", 1.0, d(4, -2, -1, 2)),
    ("farad", 1.0, d(4, -2, -1, 2)),
    ("C", 1.0, d(1, 0, 0, 1)),
    ("coulomb", 1.0, d(1, 0, 0, 1)),
    ("W", 1.0, d(-3, 2, 1, 0)),
    ("watt", 1.0, d(-3, 2, 1, 0)),
    ("J", 1.0, d(-2, 2, 1, 0)),
    ("joule", 1.0, d(-2, 2, 1, 0)),
    ("N", 1.0, d(-2, 1, 1, 0)),
    ("newton", 1.0, d(-2, 1, 1, 0)),
    ("Pa", 1.0, d(-2, -1, 1, 0)),
    ("pascal", 1.0, d(-2, -1, 1, 0)),
    ("L", 1e-3, d(0, 3, 0, 0)),
    ("litre", 1e-3, d(0, 3, 0, 0)),
    ("liter", 1e-3, d(0, 3, 0, 0)),
    ("M", 1e3, Dim::from_ints([0, -3, 0, 0, 0, 1, 0])),
    ("molar", 1e3, Dim::from_ints([0, -3, 0, 0, 0, 1, 0])),
];

/// Looks up a unit name: an unprefixed unit, or an SI prefix followed by one
/// (`ms`, `mV`, `Mohm`, `uA`, `µm`, `mM`). An exact unit name wins over a
/// prefixed reading (`Pa` is pascal, `M` is molar, `mM` millimolar).
pub fn lookup(name: &str) -> Option<Unit> {
    if let Some(&(_, scale, dim)) = UNITS.iter().find(|u| u.0 == name) {
        return Some(Unit { scale, dim });
    }
    let mut prefixes: Vec<&(&str, f64)> = PREFIXES.iter().collect();
    prefixes.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
    prefixes.into_iter().find_map(|&(p, f)| {
        let rest = name.strip_prefix(p)?;
        let &(_, scale, dim) = UNITS.iter().find(|u| u.0 == rest)?;
        Some(Unit {
            scale: scale * f,
            dim,
        })
    })
}

/// Parses a unit token with an optional written-together integer exponent
/// (`cm^2`, `ms^-1`).
pub fn lookup_with_exponent(text: &str) -> Option<Unit> {
    match text.split_once('^') {
        None => lookup(text),
        Some((base, e)) => lookup(base.trim())?.powr(Rat::int(e.trim().parse().ok()?)),
    }
}

/// Units commonly written in models, for "did you mean" suggestions.
pub const COMMON: &[&str] = &[
    "s", "ms", "us", "m", "cm", "mm", "um", "nm", "V", "mV", "uV", "A", "mA", "uA", "nA", "pA",
    "S", "mS", "uS", "nS", "pS", "F", "uF", "nF", "pF", "ohm", "kohm", "Mohm", "Gohm", "Hz", "kHz",
    "C", "nC", "pC", "M", "mM", "uM", "nM", "mol", "K", "g", "kg", "W", "J", "N", "Pa", "L",
];

/// Edit distance counting an adjacent transposition as one edit (`tua` → `tau`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The closest candidate to `name`: a case-insensitive match first; then,
/// for names of three characters or more, the smallest edit distance within a
/// third of the name's length (at least 1), or a candidate that extends the
/// name (`tau` → `tau_m`). One- and two-letter names get no guesses: any
/// other short name would be "close".
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // Sorted, so that ties resolve the same way whatever order the caller
    // gathered the candidates in (hash maps): output must be reproducible.
    let mut cands: Vec<&str> = candidates.into_iter().filter(|c| *c != name).collect();
    cands.sort_unstable();
    cands.dedup();
    if let Some(c) = cands.iter().find(|c| c.eq_ignore_ascii_case(name)) {
        return Some(c);
    }
    let len = name.chars().count();
    if len < 3 {
        // `vm` → `v`: only a short name it extends or that extends it.
        return cands
            .iter()
            .filter(|c| len == 2 && (name.starts_with(**c) || c.starts_with(name)))
            .min_by_key(|c| (c.len(), **c))
            .copied();
    }
    let limit = (len / 3).max(1);
    let by_distance = cands
        .iter()
        .map(|c| (edit_distance(name, c), *c))
        .filter(|(dist, _)| *dist <= limit)
        .min_by_key(|(dist, c)| (*dist, c.len(), *c))
        .map(|(_, c)| c);
    by_distance.or_else(|| {
        cands
            .iter()
            .filter(|c| c.starts_with(name))
            .min_by_key(|c| (c.len(), **c))
            .copied()
    })
}

/// A suggestion for an unknown unit name.
pub fn suggest_unit(name: &str) -> Option<String> {
    let aliases = [
        ("sec", "s"),
        ("msec", "ms"),
        ("usec", "us"),
        ("mv", "mV"),
        ("hz", "Hz"),
        ("Ohm", "ohm"),
        ("MOhm", "Mohm"),
        ("kOhm", "kohm"),
        ("mho", "S"),
    ];
    if let Some((_, to)) = aliases.iter().find(|(from, _)| *from == name) {
        return Some((*to).to_string());
    }
    closest(
        name,
        COMMON.iter().copied().chain(UNITS.iter().map(|u| u.0)),
    )
    .map(str::to_string)
}

/// A suggestion for an unknown dimension name (or a unit written where a
/// dimension was expected: `mV` → `voltage`).
pub fn suggest_dim(name: &str) -> Option<String> {
    if let Some(u) = lookup_with_exponent(name) {
        if let Some(n) = u.dim.name() {
            return Some(n.to_string());
        }
        return Some(format!("[{name}]"));
    }
    closest(name, NAMED.iter().map(|n| n.name)).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_si_form_reads_back() {
        let half = Dim([
            Rat::ZERO,
            Rat::ZERO,
            Rat::ZERO,
            Rat::ZERO,
            Rat::new(1, 2).expect("1/2"),
            Rat::ZERO,
            Rat::ZERO,
        ]);
        for dim in [Dim::ONE, VOLT, d(-2, -1, 1, 0), d(-1, 0, 0, 0), half] {
            assert_eq!(Dim::from_si(&dim.si()), Some(dim), "{}", dim.si());
        }
        assert_eq!(VOLT.si(), "m^2*kg*s^-3*A^-1");
        for bad in ["", "V", "m^2*m", "m^0", "m^x", "m^(1/0)"] {
            assert_eq!(Dim::from_si(bad), None, "{bad}");
        }
    }

    #[test]
    fn prefixes_and_units() {
        let mv = lookup("mV").expect("mV");
        assert_eq!(mv.dim, VOLT);
        assert!((mv.scale - 1e-3).abs() < 1e-18);
        assert_eq!(lookup("mM").map(|u| u.scale), Some(1.0));
        assert_eq!(lookup("Mohm").map(|u| u.scale), Some(1e6));
        assert_eq!(lookup("\u{b5}m").map(|u| u.dim), Some(d(0, 1, 0, 0)));
        assert_eq!(lookup("Pa").map(|u| u.dim), Some(d(-2, -1, 1, 0)));
        assert_eq!(lookup("kg").map(|u| u.scale), Some(1.0));
        assert_eq!(lookup("dam").map(|u| u.scale), Some(10.0));
        assert!(lookup("mx").is_none());
        assert!(lookup("").is_none());
    }

    #[test]
    fn every_prefix_on_every_unit() {
        for &(p, f) in PREFIXES {
            for &(u, s, dim) in UNITS {
                let name = format!("{p}{u}");
                let found = lookup(&name).unwrap_or_else(|| panic!("{name}"));
                // An exact unit name can shadow a prefixed reading (`Pa`, `cd`).
                if UNITS.iter().all(|x| x.0 != name) {
                    assert_eq!(found.dim, dim, "{name}");
                    assert!((found.scale / (s * f) - 1.0).abs() < 1e-12, "{name}");
                }
            }
        }
    }

    #[test]
    fn derived_units_agree() {
        let v = lookup("V").expect("V");
        let a = lookup("A").expect("A");
        assert_eq!(
            v.checked_div(a).map(|u| u.dim),
            lookup("ohm").map(|u| u.dim)
        );
        assert_eq!(a.checked_div(v).map(|u| u.dim), lookup("S").map(|u| u.dim));
        let c = lookup("C").expect("C");
        assert_eq!(c.checked_div(v).map(|u| u.dim), lookup("F").map(|u| u.dim));
        assert_eq!(lookup("W").map(|u| u.dim), v.checked_mul(a).map(|u| u.dim));
    }

    #[test]
    fn descriptions_name_dimensions_in_words() {
        assert_eq!(VOLT.describe(), "voltage (mV)");
        assert_eq!(
            VOLT.checked_div(d(1, 0, 0, 0))
                .map(Dim::describe)
                .as_deref(),
            Some("voltage/time (mV/ms)")
        );
        assert_eq!(
            d(-1, 0, 0, 0)
                .powr(Rat::new(1, 2).expect("1/2"))
                .map(Dim::describe)
                .as_deref(),
            Some("time^(-1/2) (ms^(-1/2))")
        );
        assert_eq!(Dim::ONE.describe(), "dimensionless");
        assert_eq!(
            lookup("uA")
                .and_then(|u| u.checked_div(lookup("cm")?.powr(Rat::int(2))?))
                .map(|u| u.dim.describe())
                .as_deref(),
            Some("current density (uA/cm^2)")
        );
    }

    #[test]
    fn closest_is_deterministic_and_counts_transpositions() {
        assert_eq!(closest("tua", ["tab", "tau"]), Some("tau"));
        assert_eq!(closest("tua", ["tau", "tab"]), Some("tau"));
        assert_eq!(closest("q", ["n", "v"]), None);
        assert_eq!(closest("vm", ["v", "w"]), Some("v"));
        assert_eq!(closest("tau", ["tau_m", "v"]), Some("tau_m"));
        assert_eq!(closest("V", ["v", "w"]), Some("v"));
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest_unit("mv").as_deref(), Some("mV"));
        assert_eq!(suggest_unit("nAA").as_deref(), Some("nA"));
        assert_eq!(suggest_dim("voltge").as_deref(), Some("voltage"));
        assert_eq!(suggest_dim("mV").as_deref(), Some("voltage"));
        assert_eq!(suggest_unit("zzzzzz"), None);
    }
}

/// Parses a command-line time with its unit (`200 ms`, `1 s`, `0.1ms`) to
/// seconds: a decimal number (as the language writes them) and a unit of
/// time. `flag` names the option in messages.
pub fn parse_time(flag: &str, text: &str) -> Result<f64, String> {
    let bad =
        || format!("--{flag} {text:?}: expected a time with its unit, such as `200 ms` or `1 s`");
    let t = text.trim();
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    // The number: digits, then a fraction, then an exponent, each optional
    // after the first (`1`, `1.5`, `1.5e-3`, `2e3`).
    let mut end = digits(t);
    if end == 0 {
        return Err(bad());
    }
    if t[end..].starts_with('.') && digits(&t[end + 1..]) > 0 {
        end += 1 + digits(&t[end + 1..]);
    }
    if t[end..].starts_with(['e', 'E']) {
        let sign = usize::from(t[end + 1..].starts_with(['+', '-']));
        let n = digits(&t[end + 1 + sign..]);
        if n > 0 {
            end += 1 + sign + n;
        }
    }
    let value: f64 = t[..end].parse().map_err(|_| bad())?;
    let name = t[end..].trim();
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(bad());
    }
    let u = lookup(name).ok_or_else(bad)?;
    if Some(u.dim) != dim_by_name("time") {
        return Err(format!("--{flag} {text:?}: `{name}` is not a unit of time"));
    }
    let v = value * u.scale;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("--{flag} {text:?}: must be positive"));
    }
    Ok(v)
}

#[cfg(test)]
mod time_tests {
    use super::parse_time;

    #[test]
    fn times_parse_with_their_units() {
        assert_eq!(parse_time("d", "200 ms"), Ok(0.2));
        assert_eq!(parse_time("d", "1 s"), Ok(1.0));
        assert_eq!(parse_time("d", " 0.1ms "), Ok(0.1e-3));
        assert_eq!(parse_time("d", "1.5e3 ms"), Ok(1.5));
        assert_eq!(parse_time("d", "2e-1 s"), Ok(0.2));
        for bad in [
            "", "ms", "200", "-1 ms", "1. ms", "1 ms ms", "1 [ms]", "x ms",
        ] {
            let e = parse_time("d", bad).expect_err(bad);
            assert!(e.contains("expected a time"), "{bad}: {e}");
        }
        assert!(parse_time("d", "1 mV").is_err_and(|e| e.contains("not a unit of time")));
        assert!(parse_time("d", "0 ms").is_err_and(|e| e.contains("must be positive")));
        assert!(parse_time("d", "1e999 s").is_err_and(|e| e.contains("must be positive")));
    }
}
