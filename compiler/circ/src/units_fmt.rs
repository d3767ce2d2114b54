//! Printing a value with its unit the way a modeler writes it: `-1.5 nA`,
//! `20 ms`, `0.1`.

use circ_units::Dim;

/// Units values are shown in, by dimension (the first that fits).
const SHOWN: &[&str] = &[
    "s", "Hz", "V", "A", "S", "F", "ohm", "C", "W", "J", "m", "mol", "K", "cd",
];

/// SI prefixes from 1e-15 to 1e12.
const PREFIXES: &[(i32, &str)] = &[
    (-15, "f"),
    (-12, "p"),
    (-9, "n"),
    (-6, "u"),
    (-3, "m"),
    (0, ""),
    (3, "k"),
    (6, "M"),
    (9, "G"),
    (12, "T"),
];

/// `x` (in SI units) with the unit of `dim`, scaled by an SI prefix so the
/// number is between 1 and 1000; the SI form where no unit is named.
pub fn format_quantity(x: f64, dim: Dim) -> String {
    if dim.is_dimensionless() {
        return number(x);
    }
    let unit = SHOWN
        .iter()
        .find(|u| circ_units::lookup(u).is_some_and(|unit| unit.dim == dim));
    let Some(unit) = unit else {
        return format!(
            "{} {}",
            number(x),
            compound(dim).unwrap_or_else(|| dim.si())
        );
    };
    if x == 0.0 || !x.is_finite() {
        return format!("{} {unit}", number(x));
    }
    let exp = (x.abs().log10() / 3.0).floor() as i32 * 3;
    let (e, prefix) = PREFIXES
        .iter()
        .min_by_key(|(e, _)| (e - exp).abs())
        .copied()
        .unwrap_or((0, ""));
    // `ohm` takes prefixes as a word would: `Mohm`, `kohm`.
    format!("{} {prefix}{unit}", number(x / 10f64.powi(e)))
}

/// The unit to show values of `dim` around `typical` (SI) in: what to
/// divide them by, and its name (`1e-3, "mV"`).
pub fn display_unit(dim: Dim, typical: f64) -> (f64, String) {
    if dim.is_dimensionless() {
        return (1.0, String::new());
    }
    let shown = format_quantity(
        if typical.is_finite() && typical != 0.0 {
            typical
        } else {
            1.0
        },
        dim,
    );
    let name = shown.split_once(' ').map_or("", |(_, u)| u).to_string();
    match circ_units::lookup(&name) {
        Some(u) if u.dim == dim => (u.scale, name),
        _ => (1.0, compound(dim).unwrap_or_else(|| dim.si())),
    }
}

/// A dimension as a quotient or product of two shown units (`V/s`).
fn compound(dim: Dim) -> Option<String> {
    let units: Vec<(&str, Dim)> = SHOWN
        .iter()
        .filter_map(|u| circ_units::lookup(u).map(|x| (*u, x.dim)))
        .collect();
    for &(a, da) in &units {
        for &(b, db) in &units {
            if da.checked_div(db) == Some(dim) {
                return Some(format!("{a}/{b}"));
            }
        }
    }
    for &(a, da) in &units {
        for &(b, db) in &units {
            if da.checked_mul(db) == Some(dim) {
                return Some(format!("{a}*{b}"));
            }
        }
    }
    None
}

/// A number rounded to 12 significant digits (arithmetic on decimal values
/// leaves last-bit noise: -1.5000000000000002), in its shortest form.
fn number(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    if !x.is_finite() {
        return format!("{x}");
    }
    let rounded: f64 = format!("{x:.11e}").parse().unwrap_or(x);
    let s = format!("{rounded}");
    // Very large or small numbers read better in exponent form.
    if rounded.abs() >= 1e15 || rounded.abs() < 1e-6 {
        format!("{rounded:e}")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dim(u: &str) -> Dim {
        circ_units::lookup(u).map_or(Dim::ONE, |u| u.dim)
    }

    #[test]
    fn axes_take_the_unit_of_their_values() {
        assert_eq!(display_unit(dim("V"), -0.065), (1e-3, "mV".to_string()));
        assert_eq!(display_unit(dim("S"), 4e-8), (1e-9, "nS".to_string()));
        assert_eq!(display_unit(Dim::ONE, 3.0), (1.0, String::new()));
    }

    #[test]
    fn values_print_as_modelers_write_them() {
        assert_eq!(format_quantity(0.02 * 5.0, Dim::ONE), "0.1");
        assert_eq!(
            format_quantity((-0.065 - -0.05) / 10e6, dim("A")),
            "-1.5 nA"
        );
        assert_eq!(format_quantity(0.02, dim("s")), "20 ms");
        assert_eq!(format_quantity(-0.0654, dim("V")), "-65.4 mV");
        assert_eq!(format_quantity(6e-9, dim("S")), "6 nS");
        assert_eq!(format_quantity(1e7, dim("ohm")), "10 Mohm");
        assert_eq!(format_quantity(200e-12, dim("F")), "200 pF");
        assert_eq!(format_quantity(15.0, dim("Hz")), "15 Hz");
        assert_eq!(format_quantity(0.0, dim("V")), "0 V");
        assert_eq!(
            format_quantity(3.0, dim("V").checked_div(dim("s")).unwrap_or(Dim::ONE)),
            "3 V/s"
        );
    }
}
