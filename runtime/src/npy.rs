//! Reads NumPy `.npy` files (format 1.0 to 3.0) into named columns, from
//! bytes of any origin: every size in the header is checked against the
//! file's length before anything is allocated, and every malformed header
//! is an error that says what is wrong, never a panic.
//!
//! The header is a Python literal; it is parsed as one (strings, integers,
//! booleans, `None`, tuples, lists and dicts), not picked apart by text
//! search, so that a field list, a shape or a type string is read the way
//! NumPy wrote it.

use std::collections::BTreeMap;

/// A Python literal of a `.npy` header.
#[derive(Clone, Debug, PartialEq)]
enum Lit {
    Str(String),
    Int(u64),
    Bool(bool),
    None,
    Seq(Vec<Lit>),
    Dict(Vec<(String, Lit)>),
}

/// Parses a Python literal from `s` (nesting at most 8 deep).
struct LitParser<'a> {
    s: &'a [u8],
    at: usize,
}

impl LitParser<'_> {
    fn skip_space(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_space();
        if self.s.get(self.at) == Some(&c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: u32) -> Result<Lit, String> {
        if depth > 8 {
            return Err("the header nests too deeply".into());
        }
        self.skip_space();
        let Some(&c) = self.s.get(self.at) else {
            return Err("the header ends in the middle of a value".into());
        };
        match c {
            b'\'' | b'"' => {
                self.at += 1;
                let start = self.at;
                while self.at < self.s.len() && self.s[self.at] != c {
                    if self.s[self.at] == b'\\' {
                        return Err("escapes in header strings are not supported".into());
                    }
                    self.at += 1;
                }
                if self.at >= self.s.len() {
                    return Err("a string in the header is not closed".into());
                }
                let text = String::from_utf8_lossy(&self.s[start..self.at]).into_owned();
                self.at += 1;
                Ok(Lit::Str(text))
            }
            b'0'..=b'9' => {
                let start = self.at;
                while self.at < self.s.len() && self.s[self.at].is_ascii_digit() {
                    self.at += 1;
                }
                let digits = std::str::from_utf8(&self.s[start..self.at]).unwrap_or("");
                // Python 2 wrote long integers with an `L`.
                if self.s.get(self.at) == Some(&b'L') {
                    self.at += 1;
                }
                digits
                    .parse::<u64>()
                    .map(Lit::Int)
                    .map_err(|_| format!("the number {digits} in the header is too large"))
            }
            b'(' | b'[' => {
                let close = if c == b'(' { b')' } else { b']' };
                self.at += 1;
                let mut items = vec![];
                loop {
                    if self.eat(close) {
                        return Ok(Lit::Seq(items));
                    }
                    items.push(self.value(depth + 1)?);
                    if !self.eat(b',') {
                        if self.eat(close) {
                            return Ok(Lit::Seq(items));
                        }
                        return Err(format!("expected `,` or `{}` in the header", close as char));
                    }
                }
            }
            b'{' => {
                self.at += 1;
                let mut items = vec![];
                loop {
                    if self.eat(b'}') {
                        return Ok(Lit::Dict(items));
                    }
                    let Lit::Str(key) = self.value(depth + 1)? else {
                        return Err("a key of the header's dictionary is not a string".into());
                    };
                    if !self.eat(b':') {
                        return Err(format!("expected `:` after '{key}' in the header"));
                    }
                    items.push((key, self.value(depth + 1)?));
                    if !self.eat(b',') {
                        if self.eat(b'}') {
                            return Ok(Lit::Dict(items));
                        }
                        return Err("expected `,` or `}` in the header".into());
                    }
                }
            }
            _ => {
                for (word, lit) in [
                    ("True", Lit::Bool(true)),
                    ("False", Lit::Bool(false)),
                    ("None", Lit::None),
                ] {
                    if self.s[self.at..].starts_with(word.as_bytes()) {
                        self.at += word.len();
                        return Ok(lit);
                    }
                }
                Err(format!(
                    "unexpected `{}` in the header",
                    String::from_utf8_lossy(&self.s[self.at..(self.at + 12).min(self.s.len())])
                ))
            }
        }
    }
}

/// How a field's bytes become a number.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Float,
    Int,
    Uint,
    Bool,
}

/// One field (column) of a record.
#[derive(Clone, Debug)]
struct Field {
    name: String,
    kind: Kind,
    width: usize,
    big_endian: bool,
}

/// A NumPy type string (`<f8`, `|u1`, `>i4`, `?`) as a kind, width and byte order.
fn parse_type(t: &str) -> Result<(Kind, usize, bool), String> {
    let (order, rest) = match t.as_bytes().first() {
        Some(b'<' | b'|' | b'=') => (false, &t[1..]),
        Some(b'>') => (true, &t[1..]),
        Some(_) => (false, t),
        None => return Err("the type string (`descr`) is empty".into()),
    };
    let unsupported = || {
        format!(
            "the type `{t}` is not a number type circ reads (floats f4/f8, integers i1-i8, u1-u8, booleans)"
        )
    };
    if rest == "?" {
        return Ok((Kind::Bool, 1, false));
    }
    let mut chars = rest.chars();
    let kind = match chars.next() {
        Some('f') => Kind::Float,
        Some('i') => Kind::Int,
        Some('u') => Kind::Uint,
        Some('b') => Kind::Bool,
        _ => return Err(unsupported()),
    };
    let width: usize = chars.as_str().parse().map_err(|_| unsupported())?;
    let ok = match kind {
        Kind::Float => matches!(width, 4 | 8),
        Kind::Int | Kind::Uint => matches!(width, 1 | 2 | 4 | 8),
        Kind::Bool => width == 1,
    };
    if !ok {
        return Err(unsupported());
    }
    Ok((kind, width, order && width > 1))
}

/// The value of one cell (`cell` holds exactly `f.width` bytes).
fn cell_value(f: &Field, cell: &[u8]) -> f64 {
    let mut b = [0u8; 8];
    b[..f.width].copy_from_slice(cell);
    if f.big_endian {
        b[..f.width].reverse();
    }
    match (f.kind, f.width) {
        (Kind::Float, 8) => f64::from_le_bytes(b),
        (Kind::Float, _) => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        (Kind::Uint | Kind::Bool, _) => u64::from_le_bytes(b) as f64,
        (Kind::Int, w) => {
            // Sign-extend from `w` bytes.
            let shift = 64 - 8 * w as u32;
            ((u64::from_le_bytes(b) << shift) as i64 >> shift) as f64
        }
    }
}

/// The columns of a `.npy` file and its number of rows: a structured array
/// (each field a column), a 2-D array (columns `0`, `1`, ...) or any other
/// array, flattened (one column, `values`). `Err` says what is wrong.
pub fn parse(b: &[u8]) -> Result<(BTreeMap<String, Vec<f64>>, usize), String> {
    parse_with(b, false)
}

/// [`parse`], where an empty array is no error: no columns, no rows (a
/// run's recording of a population that never spiked).
pub fn parse_maybe_empty(b: &[u8]) -> Result<(BTreeMap<String, Vec<f64>>, usize), String> {
    parse_with(b, true)
}

fn parse_with(b: &[u8], empty_ok: bool) -> Result<(BTreeMap<String, Vec<f64>>, usize), String> {
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err("the magic bytes are missing (not a .npy file)".into());
    }
    let (hlen, start) = match b[6] {
        1 => (usize::from(u16::from_le_bytes([b[8], b[9]])), 10usize),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        v => return Err(format!("unknown format version {v}")),
    };
    let header = start
        .checked_add(hlen)
        .and_then(|end| b.get(start..end))
        .ok_or_else(|| {
            format!(
                "the header is cut short ({hlen} bytes announced, {} in the file)",
                b.len().saturating_sub(start)
            )
        })?;
    let mut p = LitParser { s: header, at: 0 };
    let Lit::Dict(entries) = p.value(0)? else {
        return Err("the header is not a dictionary".into());
    };
    let get = |k: &str| entries.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    if get("fortran_order") == Some(&Lit::Bool(true)) {
        return Err(
            "Fortran-ordered arrays are not supported; save with np.ascontiguousarray".into(),
        );
    }
    let shape: Vec<u64> = match get("shape") {
        Some(Lit::Seq(dims)) => dims
            .iter()
            .map(|d| match d {
                Lit::Int(n) => Ok(*n),
                _ => Err("the shape holds something other than whole numbers".to_string()),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("the shape is not a tuple".into()),
        None => return Err("the header has no shape".into()),
    };
    let fields: Vec<Field> = match get("descr") {
        Some(Lit::Str(t)) => {
            let (kind, width, big_endian) = parse_type(t)?;
            let plain = |name: String| Field {
                name,
                kind,
                width,
                big_endian,
            };
            match shape.as_slice() {
                [_, cols] => {
                    // Columns cost memory before the data is read: their
                    // number must fit the file (at least one row of them).
                    let need = cols.checked_mul(width as u64);
                    if need.is_none_or(|n| n > b.len() as u64) {
                        return Err(format!(
                            "the shape {shape:?} does not fit the file's {} bytes",
                            b.len()
                        ));
                    }
                    (0..*cols).map(|c| plain(c.to_string())).collect()
                }
                _ => vec![plain("values".into())],
            }
        }
        Some(Lit::Seq(list)) => {
            let mut out = vec![];
            for item in list {
                let field = match item {
                    Lit::Seq(parts) => parts.as_slice(),
                    _ => return Err("a field of `descr` is not a (name, type) pair".into()),
                };
                match field {
                    [Lit::Str(name), Lit::Str(t)] => {
                        let (kind, width, big_endian) =
                            parse_type(t).map_err(|e| format!("field `{name}`: {e}"))?;
                        out.push(Field {
                            name: name.clone(),
                            kind,
                            width,
                            big_endian,
                        });
                    }
                    [Lit::Str(name), Lit::Str(_), _] => {
                        return Err(format!(
                            "field `{name}` is itself an array; circ reads one number per field"
                        ));
                    }
                    [Lit::Str(name), _, ..] => {
                        return Err(format!(
                            "field `{name}` is a nested record; circ reads one number per field"
                        ));
                    }
                    _ => return Err("a field of `descr` is not a (name, type) pair".into()),
                }
            }
            if out.is_empty() {
                return Err("the record type has no fields".into());
            }
            out
        }
        Some(_) => return Err("`descr` is neither a type string nor a field list".into()),
        None => return Err("the header has no `descr`".into()),
    };
    let record: u64 = fields.iter().map(|f| f.width as u64).sum();
    let plain_2d = matches!(get("descr"), Some(Lit::Str(_))) && shape.len() == 2;
    let rows: Option<u64> = if plain_2d {
        Some(shape[0])
    } else {
        shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
    };
    let data = &b[start + hlen..];
    let (Some(rows), Some(needed)) = (rows, rows.and_then(|r| r.checked_mul(record))) else {
        return Err(format!(
            "the shape {shape:?} is larger than any file could hold"
        ));
    };
    if (data.len() as u64) < needed {
        return Err(format!(
            "the data is cut short: the shape {shape:?} needs {needed} bytes, the file has {}",
            data.len()
        ));
    }
    if rows == 0 || fields.is_empty() {
        if empty_ok {
            return Ok((BTreeMap::new(), 0));
        }
        return Err("the array is empty".into());
    }
    // Sizes are checked against the file: `rows * record` bytes exist.
    let rows = usize::try_from(rows).map_err(|_| "the array is too large".to_string())?;
    let record = record as usize;
    let mut columns = BTreeMap::new();
    let mut offset = 0;
    for f in &fields {
        let col: Vec<f64> = (0..rows)
            .map(|r| {
                let at = r * record + offset;
                cell_value(f, &data[at..at + f.width])
            })
            .collect();
        columns.insert(f.name.clone(), col);
        offset += f.width;
    }
    Ok((columns, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{npy_bytes, npy_f64};

    #[test]
    fn plain_structured_two_d_and_byte_orders() {
        let (c, n) = parse(&npy_f64(&[3], &[1.0, 2.0, 3.0])).expect("plain");
        assert_eq!((n, &c["values"]), (3, &vec![1.0, 2.0, 3.0]));
        let (c, n) = parse(&npy_f64(&[2, 2], &[1.0, 2.0, 3.0, 4.0])).expect("2-D");
        assert_eq!((n, &c["0"], &c["1"]), (2, &vec![1.0, 3.0], &vec![2.0, 4.0]));
        let mut data = vec![];
        for (i, w) in [(-3i16, 0.5f32), (7, -1.0)] {
            data.extend(i.to_be_bytes());
            data.extend(w.to_le_bytes());
        }
        let b = npy_bytes("[('pre', '>i2'), ('w', '<f4')]", &[2], &data);
        let (c, _) = parse(&b).expect("structured");
        assert_eq!(c["pre"], vec![-3.0, 7.0]);
        assert_eq!(c["w"], vec![0.5, -1.0]);
    }

    #[test]
    fn malformed_headers_are_errors_not_panics() {
        let d8 = vec![0u8; 16];
        for (descr, shape, want) in [
            ("''", "(2,)", "the type string (`descr`) is empty"),
            ("'<c16'", "(1,)", "not a number type"),
            ("'<f3'", "(2,)", "not a number type"),
            ("'é8'", "(2,)", "not a number type"),
            ("'<f8'", "(2305843009213693952,)", "larger than any file"),
            ("'<f8'", "(99999999999999999999,)", "too large"),
            ("'<f8'", "(1, 2305843009213693952)", "does not fit"),
            ("'<f8'", "(3,)", "cut short"),
            ("'<f8'", "(0,)", "empty"),
            ("[('a', '<f8', (2,))]", "(1,)", "is itself an array"),
            ("[('a', [('b', '<f8')])]", "(1,)", "nested record"),
            ("[]", "(1,)", "no fields"),
            ("3", "(1,)", "neither"),
            ("'<f8'", "(-1,)", "unexpected"),
            ("'<f8'", "'x'", "not a tuple"),
        ] {
            let header =
                format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}");
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.extend((header.len() as u16).to_le_bytes());
            b.extend(header.as_bytes());
            b.extend(&d8);
            let e = parse(&b).expect_err(descr);
            assert!(e.contains(want), "{descr} {shape}: {e}");
        }
        for (bytes, want) in [
            (b"\x93NUMPY\x01\x00\xff\xff{".to_vec(), "cut short"),
            (b"\x93NUMPY\x09\x00\x00\x00".to_vec(), "version"),
            (b"\x93NUMPY\x01\x00\x02\x00{'".to_vec(), "not closed"),
            (b"\x93NUMPY\x01\x00\x01\x00[".to_vec(), "ends in the middle"),
            (b"\x93NUMP".to_vec(), "magic"),
        ] {
            let e = parse(&bytes).expect_err("bad");
            assert!(e.contains(want), "{bytes:?}: {e}");
        }
        // Deep nesting is refused, not a stack overflow.
        let deep = format!("{{'descr': {}'<f8'{}}}", "[".repeat(5000), "]".repeat(5000));
        let mut b = b"\x93NUMPY\x02\x00".to_vec();
        b.extend((deep.len() as u32).to_le_bytes());
        b.extend(deep.as_bytes());
        assert!(parse(&b).expect_err("deep").contains("nests too deeply"));
    }
}
