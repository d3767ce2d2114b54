//! Reads tables of numbers from CSV (with a header row) and NumPy `.npy`
//! files (structured arrays with named fields, or 1-D arrays). Every error
//! names the file and, for CSV, the line and column.

use std::collections::BTreeMap;
use std::path::Path;

/// Named columns of equal length.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Column name → values.
    pub columns: BTreeMap<String, Vec<f64>>,
    /// Number of rows.
    pub rows: usize,
}

impl Table {
    /// A column, or an error naming the columns there are.
    pub fn column(&self, file: &Path, name: &str) -> Result<&[f64], DataError> {
        self.columns.get(name).map(Vec::as_slice).ok_or_else(|| {
            DataError(format!(
                "{}: no column `{name}` (its columns are: {})",
                file.display(),
                self.columns.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// A column of indices below `limit`, as integers.
    pub fn indices(&self, file: &Path, name: &str, limit: usize) -> Result<Vec<u32>, DataError> {
        let col = self.column(file, name)?;
        col.iter()
            .enumerate()
            .map(|(row, &v)| {
                if v.fract() != 0.0 || v < 0.0 {
                    Err(DataError(format!("{}: row {} of column `{name}` is {v}, not an index (a whole number from 0)", file.display(), row + 1)))
                } else if v as usize >= limit {
                    Err(DataError(format!("{}: row {} of column `{name}` is {v}, but the population has {limit} neurons (indices 0 to {})", file.display(), row + 1, limit.saturating_sub(1))))
                } else {
                    Ok(v as u32)
                }
            })
            .collect()
    }
}

/// Why a data file could not be used.
#[derive(Clone, Debug, PartialEq)]
pub struct DataError(pub String);

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads a table from a `.csv` or `.npy` file.
pub fn read_table(path: &Path) -> Result<Table, DataError> {
    let bytes = std::fs::read(path)
        .map_err(|e| DataError(format!("cannot read {}: {e}", path.display())))?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => parse_npy(path, &bytes),
        _ => parse_csv(path, &bytes),
    }
}

/// Parses CSV text with a header row of column names.
pub fn parse_csv(path: &Path, bytes: &[u8]) -> Result<Table, DataError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        DataError(format!(
            "{}: not UTF-8 text (byte {})",
            path.display(),
            e.valid_up_to()
        ))
    })?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((_, header)) = lines.next() else {
        return Err(DataError(format!(
            "{}: the file is empty; expected a header row of column names",
            path.display()
        )));
    };
    let names: Vec<String> = header
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect();
    if names.iter().any(String::is_empty) {
        return Err(DataError(format!(
            "{}: line 1: an empty column name in the header",
            path.display()
        )));
    }
    let mut cols: Vec<Vec<f64>> = vec![vec![]; names.len()];
    for (n, line) in lines {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != names.len() {
            return Err(DataError(format!(
                "{}: line {}: {} values, but the header names {} columns",
                path.display(),
                n + 1,
                cells.len(),
                names.len()
            )));
        }
        for (k, cell) in cells.iter().enumerate() {
            let v: f64 = cell.trim().parse().map_err(|_| {
                DataError(format!(
                    "{}: line {}, column `{}`: `{}` is not a number",
                    path.display(),
                    n + 1,
                    names[k],
                    cell.trim()
                ))
            })?;
            cols[k].push(v);
        }
    }
    let rows = cols.first().map_or(0, Vec::len);
    if rows == 0 {
        return Err(DataError(format!(
            "{}: the file has a header but no rows",
            path.display()
        )));
    }
    Ok(Table {
        columns: names.into_iter().zip(cols).collect(),
        rows,
    })
}

/// Parses a `.npy` file: a structured array (each field a column), a 2-D
/// array (columns named `0`, `1`, ...) or a 1-D array (one column, `values`).
pub fn parse_npy(path: &Path, b: &[u8]) -> Result<Table, DataError> {
    let bad = |why: &str| DataError(format!("{}: not a valid .npy file: {why}", path.display()));
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err(bad("the magic bytes are missing"));
    }
    let (hlen, start) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        _ => return Err(bad("unknown format version")),
    };
    let header = b
        .get(start..start + hlen)
        .ok_or_else(|| bad("the header is cut short"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("the header is not text"))?;
    if header.contains("'fortran_order': True") {
        return Err(bad(
            "Fortran-ordered arrays are not supported; save with np.ascontiguousarray",
        ));
    }
    let shape_txt = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape"))?;
    let shape: Vec<usize> = shape_txt
        .trim()
        .trim_start_matches('(')
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("bad shape"))?;
    let descr = header
        .split("'descr':")
        .nth(1)
        .ok_or_else(|| bad("no descr"))?;
    // Fields: [('name', '<f8'), ...] or a plain type string '<f8'.
    let fields: Vec<(String, String)> = if descr.trim_start().starts_with('[') {
        let list = descr.trim_start();
        let end = list
            .find(']')
            .ok_or_else(|| bad("unterminated field list"))?;
        list[1..end]
            .split(')')
            .filter_map(|t| {
                let parts: Vec<&str> = t.split('\'').collect();
                (parts.len() >= 4).then(|| (parts[1].to_string(), parts[3].to_string()))
            })
            .collect()
    } else {
        let ty = descr.split('\'').nth(1).ok_or_else(|| bad("no type"))?;
        match shape.as_slice() {
            // A 2-D array: one column per array column, named "0", "1", ...
            [_, cols] => (0..*cols)
                .map(|c| (c.to_string(), ty.to_string()))
                .collect(),
            _ => vec![("values".to_string(), ty.to_string())],
        }
    };
    let size = |t: &str| -> Result<usize, DataError> {
        match &t[1..] {
            "f8" | "i8" | "u8" => Ok(8),
            "f4" | "i4" | "u4" => Ok(4),
            "i2" | "u2" => Ok(2),
            "i1" | "u1" | "b1" => Ok(1),
            other => Err(DataError(format!(
                "{}: the type `{other}` is not a number type circ reads",
                path.display()
            ))),
        }
    };
    let widths: Vec<usize> = fields
        .iter()
        .map(|(_, t)| size(t))
        .collect::<Result<_, _>>()?;
    if fields.iter().any(|(_, t)| t.starts_with('>')) {
        return Err(DataError(format!(
            "{}: big-endian data is not supported",
            path.display()
        )));
    }
    let record: usize = widths.iter().sum();
    let rows = match (shape.as_slice(), fields.len()) {
        ([n, _], _) => *n,
        _ => shape.iter().product::<usize>(),
    };
    let data = &b[start + hlen..];
    if data.len() < rows * record {
        return Err(bad(&format!(
            "the data is cut short ({} bytes for {rows} rows of {record})",
            data.len()
        )));
    }
    if rows == 0 {
        return Err(DataError(format!("{}: the array is empty", path.display())));
    }
    let mut columns = BTreeMap::new();
    let mut offset = 0;
    for ((name, ty), w) in fields.iter().zip(&widths) {
        let mut col = Vec::with_capacity(rows);
        for r in 0..rows {
            let at = r * record + offset;
            let cell = &data[at..at + w];
            let v = match &ty[1..] {
                "f8" => f64::from_le_bytes(cell.try_into().unwrap_or([0; 8])),
                "f4" => f64::from(f32::from_le_bytes(cell.try_into().unwrap_or([0; 4]))),
                "i8" => i64::from_le_bytes(cell.try_into().unwrap_or([0; 8])) as f64,
                "u8" => u64::from_le_bytes(cell.try_into().unwrap_or([0; 8])) as f64,
                "i4" => f64::from(i32::from_le_bytes(cell.try_into().unwrap_or([0; 4]))),
                "u4" => f64::from(u32::from_le_bytes(cell.try_into().unwrap_or([0; 4]))),
                "i2" => f64::from(i16::from_le_bytes(cell.try_into().unwrap_or([0; 2]))),
                "u2" => f64::from(u16::from_le_bytes(cell.try_into().unwrap_or([0; 2]))),
                "i1" => f64::from(cell[0] as i8),
                _ => f64::from(cell[0]),
            };
            col.push(v);
        }
        columns.insert(name.clone(), col);
        offset += w;
    }
    Ok(Table { columns, rows })
}

/// Reads a matrix: a 2-D `.npy`, or CSV rows of numbers (a first line that
/// is not numbers is a header and skipped).
pub fn read_matrix(path: &Path) -> Result<Vec<Vec<f64>>, DataError> {
    let bytes = std::fs::read(path)
        .map_err(|e| DataError(format!("cannot read {}: {e}", path.display())))?;
    if path.extension().and_then(|e| e.to_str()) == Some("npy") {
        let t = parse_npy(path, &bytes)?;
        let mut cols: Vec<(usize, &Vec<f64>)> = t
            .columns
            .iter()
            .filter_map(|(k, v)| k.parse::<usize>().ok().map(|i| (i, v)))
            .collect();
        if cols.is_empty() {
            return Err(DataError(format!(
                "{}: a matrix must be a 2-D array",
                path.display()
            )));
        }
        cols.sort_by_key(|c| c.0);
        return Ok((0..t.rows)
            .map(|r| cols.iter().map(|c| c.1[r]).collect())
            .collect());
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        DataError(format!(
            "{}: not UTF-8 text (byte {})",
            path.display(),
            e.valid_up_to()
        ))
    })?;
    let mut rows: Vec<Vec<f64>> = vec![];
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let cells: Result<Vec<f64>, _> = line.split(',').map(|c| c.trim().parse::<f64>()).collect();
        match cells {
            Ok(r) => {
                if let Some(first) = rows.first()
                    && first.len() != r.len()
                {
                    return Err(DataError(format!(
                        "{}: line {}: {} values, but the first row has {}",
                        path.display(),
                        n + 1,
                        r.len(),
                        first.len()
                    )));
                }
                rows.push(r);
            }
            Err(_) if n == 0 => {}
            Err(_) => {
                return Err(DataError(format!(
                    "{}: line {}: not a row of numbers",
                    path.display(),
                    n + 1
                )));
            }
        }
    }
    if rows.is_empty() {
        return Err(DataError(format!(
            "{}: the matrix is empty",
            path.display()
        )));
    }
    Ok(rows)
}

/// Reads one column (see [`crate::layout::Column`]), relative to `base`.
pub fn read_column(base: &Path, col: &crate::layout::Column) -> Result<Vec<f64>, DataError> {
    let path = base.join(&col.path);
    let table = read_table(&path)?;
    // The named column if it is there; a plain array (one column named
    // `values`) stands for any name; a lone column stands for `values`.
    let lone = table.columns.len() == 1;
    let plain = lone && table.columns.contains_key("values");
    match &col.column {
        Some(name) if table.columns.contains_key(name) => {
            table.column(&path, name).map(<[f64]>::to_vec)
        }
        Some(name) if plain || (lone && name == "values") => {
            Ok(table.columns.into_values().next().unwrap_or_default())
        }
        None if lone => Ok(table.columns.into_values().next().unwrap_or_default()),
        Some(name) => table.column(&path, name).map(<[f64]>::to_vec),
        None => Err(DataError(format!(
            "{}: {} columns ({}); name the one to use",
            path.display(),
            table.columns.len(),
            table.columns.keys().cloned().collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Loads every table of a network (`origin` names where each is used).
pub fn load_tables(
    base: &Path,
    tables: &[(crate::layout::Column, String)],
) -> Result<Vec<Vec<f64>>, DataError> {
    tables
        .iter()
        .map(|(col, origin)| {
            read_column(base, col).map_err(|e| DataError(format!("{origin}: {}", e.0)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{npy_bytes, npy_f64};

    fn p() -> &'static Path {
        Path::new("edges.csv")
    }

    #[test]
    fn csv_tables_and_their_errors() {
        let t = parse_csv(p(), b"pre,post,w\n0,1,0.5\n2,0,1e-9\n").expect("table");
        assert_eq!(t.rows, 2);
        assert_eq!(t.column(p(), "w").expect("w"), &[0.5, 1e-9]);
        assert_eq!(t.indices(p(), "pre", 3).expect("pre"), vec![0, 2]);
        let e = |b: &[u8]| parse_csv(p(), b).expect_err("error").0;
        assert!(e(b"").contains("empty"));
        assert!(e(b"pre,post\n").contains("no rows"));
        assert!(
            e(b"pre,post\n0,1\n2\n").contains("line 3: 1 values, but the header names 2 columns")
        );
        assert!(e(b"pre,post\n0,x\n").contains("line 2, column `post`: `x` is not a number"));
        assert!(
            t.column(p(), "weight")
                .expect_err("missing")
                .0
                .contains("no column `weight` (its columns are: post, pre, w)")
        );
        assert!(
            t.indices(p(), "pre", 2)
                .expect_err("range")
                .0
                .contains("row 2 of column `pre` is 2, but the population has 2 neurons")
        );
        assert!(
            t.indices(p(), "w", 9)
                .expect_err("fraction")
                .0
                .contains("not an index")
        );
    }

    #[test]
    fn npy_plain_and_structured() {
        let q = Path::new("x.npy");
        let t = parse_npy(q, &npy_f64(&[3], &[1.0, 2.0, 3.0])).expect("plain");
        assert_eq!(t.column(q, "values").expect("values"), &[1.0, 2.0, 3.0]);
        let mut data = vec![];
        for (i, j, w) in [(0i64, 1i64, 0.5f64), (2, 0, 0.25)] {
            data.extend(i.to_le_bytes());
            data.extend(j.to_le_bytes());
            data.extend(w.to_le_bytes());
        }
        let b = npy_bytes(
            "[('pre', '<i8'), ('post', '<i8'), ('w', '<f8')]",
            &[2],
            &data,
        );
        let t = parse_npy(q, &b).expect("structured");
        assert_eq!(t.indices(q, "post", 5).expect("post"), vec![1, 0]);
        assert_eq!(t.column(q, "w").expect("w"), &[0.5, 0.25]);
        assert!(parse_npy(q, b"not numpy").is_err());
        assert!(
            parse_npy(q, &b[..b.len() - 4])
                .expect_err("short")
                .0
                .contains("cut short")
        );
    }
}
