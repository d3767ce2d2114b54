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
    /// The line of each row in a text file (empty for binary files).
    pub lines: Vec<usize>,
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

    /// Where row `r` (from 0) is: `line 5` in a text file, `row 3` in a
    /// binary one.
    pub fn row_name(&self, r: usize) -> String {
        match self.lines.get(r) {
            Some(l) => format!("line {l}"),
            None => format!("row {}", r + 1),
        }
    }

    /// A column of indices below `limit`, as integers.
    pub fn indices(&self, file: &Path, name: &str, limit: usize) -> Result<Vec<u32>, DataError> {
        let col = self.column(file, name)?;
        col.iter()
            .enumerate()
            .map(|(row, &v)| {
                let at = format!("{}: {}, column `{name}`", file.display(), self.row_name(row));
                if v.fract() != 0.0 || v < 0.0 {
                    Err(DataError(format!("{at}: {v} is not an index (a whole number from 0)")))
                } else if v >= limit as f64 {
                    Err(DataError(format!("{at}: {v} is not a neuron of the population (it has {limit}, indices 0 to {})", limit.saturating_sub(1))))
                } else {
                    Ok(v as u32)
                }
            })
            .collect()
    }

    /// A column whose every value is a finite number (NaN and infinity
    /// are refused, naming where).
    pub fn finite(&self, file: &Path, name: &str) -> Result<&[f64], DataError> {
        let col = self.column(file, name)?;
        match col.iter().position(|v| !v.is_finite()) {
            Some(r) => Err(DataError(format!(
                "{}: {}, column `{name}`: {} is not a finite number",
                file.display(),
                self.row_name(r),
                col[r]
            ))),
            None => Ok(col),
        }
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
    let mut numbers = vec![];
    for (n, line) in lines {
        numbers.push(n + 1);
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
    if let Some(dup) = names
        .iter()
        .enumerate()
        .find(|(k, n)| names[..*k].contains(n))
    {
        return Err(DataError(format!(
            "{}: line 1: the column `{}` is named twice",
            path.display(),
            dup.1
        )));
    }
    Ok(Table {
        columns: names.into_iter().zip(cols).collect(),
        rows,
        lines: numbers,
    })
}

/// Parses a `.npy` file: a structured array (each field a column), a 2-D
/// array (columns named `0`, `1`, ...) or a 1-D array (one column, `values`).
pub fn parse_npy(path: &Path, b: &[u8]) -> Result<Table, DataError> {
    let (columns, rows) = crate::npy::parse(b)
        .map_err(|why| DataError(format!("{}: not a valid .npy file: {why}", path.display())))?;
    Ok(Table {
        columns,
        rows,
        lines: vec![],
    })
}

/// Reads a matrix: a 2-D `.npy`, or CSV rows of numbers (a first line that
/// is not numbers is a header and skipped).
pub fn read_matrix(path: &Path) -> Result<Vec<Vec<f64>>, DataError> {
    let bytes = std::fs::read(path)
        .map_err(|e| DataError(format!("cannot read {}: {e}", path.display())))?;
    parse_matrix(path, &bytes)
}

/// Parses a matrix file's bytes (`path` names it and, by its extension,
/// the format: `.npy` or CSV).
pub fn parse_matrix(path: &Path, bytes: &[u8]) -> Result<Vec<Vec<f64>>, DataError> {
    if path.extension().and_then(|e| e.to_str()) == Some("npy") {
        let t = parse_npy(path, bytes)?;
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
        for (c, col) in &cols {
            if let Some(r) = col.iter().position(|v| !v.is_finite()) {
                return Err(DataError(format!(
                    "{}: row {}, column {c}: {} is not a finite number",
                    path.display(),
                    r + 1,
                    col[r]
                )));
            }
        }
        return Ok((0..t.rows)
            .map(|r| cols.iter().map(|c| c.1[r]).collect())
            .collect());
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
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
                if let Some(c) = r.iter().position(|v| !v.is_finite()) {
                    return Err(DataError(format!(
                        "{}: line {}, value {}: {} is not a finite number",
                        path.display(),
                        n + 1,
                        c + 1,
                        r[c]
                    )));
                }
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

/// One column of a data file, with what is needed to name a row of it.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnData {
    /// The file.
    pub path: std::path::PathBuf,
    /// The column's name in the file.
    pub name: String,
    /// Its values.
    pub values: Vec<f64>,
    /// The line of each value in a text file (empty for binary files).
    pub lines: Vec<usize>,
}

impl ColumnData {
    /// Where value `k` (from 0) is: `spikes.csv: line 5, column `t``.
    pub fn at(&self, k: usize) -> String {
        let row = match self.lines.get(k) {
            Some(l) => format!("line {l}"),
            None => format!("row {}", k + 1),
        };
        format!("{}: {row}, column `{}`", self.path.display(), self.name)
    }
}

/// Reads one column (see [`crate::layout::Column`]), relative to `base`.
pub fn read_column(base: &Path, col: &crate::layout::Column) -> Result<ColumnData, DataError> {
    let path = base.join(&col.path);
    let table = read_table(&path)?;
    // The named column if it is there; a plain array (one column named
    // `values`) stands for any name; a lone column stands for `values`.
    let lone = table.columns.len() == 1;
    let plain = lone && table.columns.contains_key("values");
    let name = match &col.column {
        Some(name) if table.columns.contains_key(name) => name.clone(),
        Some(name) if plain || (lone && name == "values") => {
            table.columns.keys().next().cloned().unwrap_or_default()
        }
        None if lone => table.columns.keys().next().cloned().unwrap_or_default(),
        Some(name) => {
            table.column(&path, name)?;
            name.clone()
        }
        None => {
            return Err(DataError(format!(
                "{}: {} columns ({}); name the one to use",
                path.display(),
                table.columns.len(),
                table.columns.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
    };
    let Table {
        mut columns, lines, ..
    } = table;
    Ok(ColumnData {
        values: columns.remove(&name).unwrap_or_default(),
        path,
        name,
        lines,
    })
}

/// Loads every table of a network (`origin` names where each is used);
/// every value must be a finite number.
pub fn load_tables(
    base: &Path,
    tables: &[(crate::layout::Column, String)],
) -> Result<Vec<Vec<f64>>, DataError> {
    tables
        .iter()
        .map(|(col, origin)| {
            let c = read_column(base, col).map_err(|e| DataError(format!("{origin}: {}", e.0)))?;
            if let Some(n) = col.rows
                && c.values.len() != n
            {
                return Err(DataError(format!(
                    "{origin}: {} holds {} values, but they are for {n} neurons, one each",
                    base.join(&col.path).display(),
                    c.values.len()
                )));
            }
            if let Some(k) = c.values.iter().position(|v| !v.is_finite()) {
                return Err(DataError(format!(
                    "{origin}: {}: {} is not a finite number",
                    c.at(k),
                    c.values[k]
                )));
            }
            Ok(c.values)
        })
        .collect()
}

/// Runs one input through every reader and what the runtime asks of its
/// result, the first byte choosing the reader (`.npy` or CSV table, `.npy`
/// or CSV matrix). For fuzzing: it must return, whatever the bytes.
pub fn exercise(data: &[u8]) {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    let table = match kind % 4 {
        0 => parse_npy(Path::new("f.npy"), bytes),
        1 => parse_csv(Path::new("f.csv"), bytes),
        2 => {
            let _ = parse_matrix(Path::new("m.npy"), bytes);
            return;
        }
        _ => {
            let _ = parse_matrix(Path::new("m.csv"), bytes);
            return;
        }
    };
    if let Ok(t) = table {
        let file = Path::new("f");
        for name in t.columns.keys() {
            let _ = t.indices(file, name, 1000);
            let _ = t.finite(file, name);
        }
        let _ = t.row_name(t.rows.saturating_sub(1));
    }
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
                .contains("edges.csv: line 3, column `pre`: 2 is not a neuron of the population (it has 2, indices 0 to 1)")
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
