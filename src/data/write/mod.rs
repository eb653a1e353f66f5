//! Output tables (scores, generated data) rendered to bytes as CSV, Parquet or
//! JSON lines. Rendering returns bytes; writing them atomically is a separate
//! step ([`crate::fsio::write_atomic`]), so outputs are easy to test.
//!
//! CSV and JSON lines are rendered here; Parquet row groups in `parquet.rs`;
//! files written block by block in `sink.rs`.

mod parquet;
mod sink;

use std::path::Path;

use polars::prelude::*;

use crate::error::{Error, Result};
use parquet::ParquetOut;
pub use sink::Sink;

/// One output column.
#[derive(Debug, Clone, PartialEq)]
pub enum OutColumn {
    Text(Vec<Option<String>>),
    Float(Vec<Option<f64>>),
    Int(Vec<Option<i64>>),
    /// Flags, none missing.
    Bool(Vec<bool>),
    /// Numbers with NaN for missing: half the memory of `Float`, for wide outputs.
    Num(Vec<f64>),
    /// Text from a small set of values (bands, feature names...): one code per
    /// row into `levels`, [`OutColumn::MISSING`] for missing. No string per row.
    Labels {
        levels: Vec<String>,
        codes: Vec<u32>,
    },
    /// Text of many distinct values (driver values...) in one buffer: no string per row.
    Cells(TextCells),
}

/// Text cells kept in one buffer, appended row by row.
///
/// ```
/// use healthscore::data::write::TextCells;
/// let mut c = TextCells::default();
/// c.push_with(|s| s.push_str("1.5"));
/// c.push(None);
/// c.push(Some("gold"));
/// assert_eq!((c.get(0), c.get(1), c.get(2), c.len()), (Some("1.5"), None, Some("gold"), 3));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextCells {
    text: String,
    /// End of each cell in `text`; a cell starts where the one before ends.
    ends: Vec<usize>,
    present: Vec<bool>,
}

impl TextCells {
    /// Room for `rows` cells of about `bytes` bytes each.
    pub fn with_capacity(rows: usize, bytes: usize) -> TextCells {
        TextCells {
            text: String::with_capacity(rows * bytes),
            ends: Vec::with_capacity(rows),
            present: Vec::with_capacity(rows),
        }
    }

    /// Appends a cell written by `write` into the buffer.
    pub fn push_with(&mut self, write: impl FnOnce(&mut String)) {
        write(&mut self.text);
        self.ends.push(self.text.len());
        self.present.push(true);
    }

    /// Appends a cell (`None` = missing).
    pub fn push(&mut self, cell: Option<&str>) {
        match cell {
            Some(t) => self.push_with(|s| s.push_str(t)),
            None => {
                self.ends.push(self.text.len());
                self.present.push(false);
            }
        }
    }

    /// Cell `r` (`None` when missing).
    pub fn get(&self, r: usize) -> Option<&str> {
        let start = if r == 0 { 0 } else { self.ends[r - 1] };
        self.present[r].then(|| &self.text[start..self.ends[r]])
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there is no cell.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Appends the cells of `other`.
    pub fn extend(&mut self, other: TextCells) {
        let shift = self.text.len();
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.into_iter().map(|e| e + shift));
        self.present.extend(other.present);
    }
}

impl OutColumn {
    /// The code of a missing value in [`OutColumn::Labels`].
    pub const MISSING: u32 = u32::MAX;

    fn len(&self) -> usize {
        match self {
            OutColumn::Text(v) => v.len(),
            OutColumn::Float(v) => v.len(),
            OutColumn::Int(v) => v.len(),
            OutColumn::Bool(v) => v.len(),
            OutColumn::Num(v) => v.len(),
            OutColumn::Labels { codes, .. } => codes.len(),
            OutColumn::Cells(c) => c.len(),
        }
    }

    /// A labels column of one value repeated `n` times.
    pub fn constant(value: &str, n: usize) -> OutColumn {
        OutColumn::Labels {
            levels: vec![value.to_string()],
            codes: vec![0; n],
        }
    }

    /// A labels column from per-row values (`None` = missing).
    ///
    /// ```
    /// use healthscore::data::write::OutColumn;
    /// let c = OutColumn::labels(["red", "green", "red"].iter().map(|s| Some(*s)));
    /// let OutColumn::Labels { levels, codes } = c else { unreachable!() };
    /// assert_eq!((levels.len(), codes), (2, vec![0, 1, 0]));
    /// ```
    pub fn labels<'a>(values: impl Iterator<Item = Option<&'a str>>) -> OutColumn {
        let mut levels: Vec<String> = vec![];
        let mut index: std::collections::HashMap<&'a str, u32> = std::collections::HashMap::new();
        let codes = values
            .map(|v| match v {
                None => OutColumn::MISSING,
                Some(v) => *index.entry(v).or_insert_with(|| {
                    levels.push(v.to_string());
                    (levels.len() - 1) as u32
                }),
            })
            .collect();
        OutColumn::Labels { levels, codes }
    }

    /// The rows `range` as a column of their own.
    fn slice(&self, range: std::ops::Range<usize>) -> OutColumn {
        match self {
            OutColumn::Text(v) => OutColumn::Text(v[range].to_vec()),
            OutColumn::Float(v) => OutColumn::Float(v[range].to_vec()),
            OutColumn::Int(v) => OutColumn::Int(v[range].to_vec()),
            OutColumn::Bool(v) => OutColumn::Bool(v[range].to_vec()),
            OutColumn::Num(v) => OutColumn::Num(v[range].to_vec()),
            OutColumn::Labels { levels, codes } => OutColumn::Labels {
                levels: levels.clone(),
                codes: codes[range].to_vec(),
            },
            OutColumn::Cells(c) => {
                let mut out = TextCells::default();
                range.for_each(|r| out.push(c.get(r)));
                OutColumn::Cells(out)
            }
        }
    }

    fn label(levels: &[String], code: u32) -> Option<&str> {
        levels.get(code as usize).map(String::as_str)
    }
}

/// Rows per row group when a whole table is rendered as Parquet.
pub const PARQUET_GROUP_ROWS: usize = 65_536;

/// A table to write: named columns of equal length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutTable {
    pub names: Vec<String>,
    pub columns: Vec<OutColumn>,
}

/// File formats for output tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
    JsonLines,
}

impl Format {
    /// The format for a path's extension: `.csv`, `.parquet`, `.jsonl` / `.ndjson`.
    pub fn from_path(path: &Path) -> Result<Format> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("parquet") | Some("pq") => Ok(Format::Parquet),
            Some("jsonl") | Some("ndjson") => Ok(Format::JsonLines),
            _ => Err(Error::Input(format!(
                "{}: unknown output format; use a .csv, .parquet or .jsonl extension",
                path.display()
            ))),
        }
    }

    /// The usual extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::JsonLines => "jsonl",
        }
    }
}

impl OutTable {
    /// Appends a column.
    pub fn push(&mut self, name: impl Into<String>, col: OutColumn) {
        self.names.push(name.into());
        self.columns.push(col);
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, OutColumn::len)
    }

    /// The table as a polars frame, the same columns as the files: text as
    /// strings, numbers as `f64` (missing as null), counts as `i64`. This is
    /// the table the Python package hands out.
    ///
    /// ```
    /// use healthscore::data::write::{OutColumn, OutTable};
    /// let mut t = OutTable::default();
    /// t.push("account_id", OutColumn::Text(vec![Some("a1".into()), Some("a2".into())]));
    /// t.push("risk", OutColumn::Num(vec![0.25, f64::NAN]));
    /// t.push("band", OutColumn::labels([Some("green"), None].into_iter()));
    /// let df = t.into_frame()?;
    /// assert_eq!(df.shape(), (2, 3));
    /// assert_eq!(df.column("risk")?.null_count(), 1);
    /// assert_eq!(df.column("band")?.str()?.get(0), Some("green"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_frame(self) -> Result<DataFrame> {
        use polars_arrow::array::{MutableBinaryViewArray, Utf8ViewArray};
        let encode = |source: PolarsError| Error::Encode {
            format: "a polars frame",
            source,
        };
        let mut columns = Vec::with_capacity(self.columns.len());
        for (name, c) in self.names.into_iter().zip(self.columns) {
            let array = match c {
                // Labels leave as plain text, not as a dictionary: the same type as the files'.
                OutColumn::Labels { levels, codes } => {
                    let mut a = MutableBinaryViewArray::<str>::with_capacity(codes.len());
                    for &code in &codes {
                        match OutColumn::label(&levels, code) {
                            Some(s) => a.push_value(s),
                            None => a.push_null(),
                        }
                    }
                    let a: Utf8ViewArray = a.freeze();
                    a.boxed()
                }
                other => other.into_arrow().0,
            };
            columns.push(
                Series::from_arrow(PlSmallStr::from_string(name), array)
                    .map_err(encode)?
                    .into_column(),
            );
        }
        DataFrame::new_infer_height(columns).map_err(encode)
    }

    /// Renders the table in a format.
    pub fn render(&self, format: Format) -> Result<Vec<u8>> {
        match format {
            Format::Csv => Ok(self.to_csv()),
            Format::JsonLines => Ok(self.to_jsonl()),
            Format::Parquet => self.to_parquet(),
        }
    }

    fn to_csv(&self) -> Vec<u8> {
        self.to_csv_part(true)
    }

    /// CSV text of the rows, with or without the header line.
    fn to_csv_part(&self, header: bool) -> Vec<u8> {
        let mut out = String::with_capacity(self.rows() * self.names.len() * 8);
        let line = |out: &mut String, cells: &mut dyn Iterator<Item = String>| {
            let mut first = true;
            for c in cells {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&c);
            }
            out.push('\n');
        };
        if header {
            line(&mut out, &mut self.names.iter().map(|n| csv_quote(n)));
        }
        for r in 0..self.rows() {
            line(
                &mut out,
                &mut self.columns.iter().map(|c| match c {
                    OutColumn::Text(v) => v[r].as_deref().map(csv_quote).unwrap_or_default(),
                    OutColumn::Float(v) => v[r].filter(|x| x.is_finite()).map(fmt_float).unwrap_or_default(),
                    OutColumn::Int(v) => v[r].map(|x| x.to_string()).unwrap_or_default(),
                    OutColumn::Bool(v) => v[r].to_string(),
                    OutColumn::Num(v) => Some(v[r]).filter(|x| x.is_finite()).map(fmt_float).unwrap_or_default(),
                    OutColumn::Labels { levels, codes } => OutColumn::label(levels, codes[r]).map(csv_quote).unwrap_or_default(),
                    OutColumn::Cells(c) => c.get(r).map(csv_quote).unwrap_or_default(),
                }),
            );
        }
        out.into_bytes()
    }

    fn to_jsonl(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for r in 0..self.rows() {
            let mut obj = serde_json::Map::new();
            for (n, c) in self.names.iter().zip(&self.columns) {
                let v = match c {
                    OutColumn::Text(v) => v[r].clone().map(serde_json::Value::String),
                    OutColumn::Float(v) => v[r].and_then(serde_json::Number::from_f64).map(serde_json::Value::Number),
                    OutColumn::Int(v) => v[r].map(|x| serde_json::Value::Number(x.into())),
                    OutColumn::Bool(v) => Some(serde_json::Value::Bool(v[r])),
                    OutColumn::Num(v) => serde_json::Number::from_f64(v[r]).map(serde_json::Value::Number),
                    OutColumn::Labels { levels, codes } => {
                        OutColumn::label(levels, codes[r]).map(|s| serde_json::Value::String(s.to_string()))
                    }
                    OutColumn::Cells(c) => c.get(r).map(|s| serde_json::Value::String(s.to_string())),
                };
                obj.insert(n.clone(), v.unwrap_or(serde_json::Value::Null));
            }
            serde_json::to_writer(&mut out, &obj).expect("writing JSON to memory cannot fail");
            out.push(b'\n');
        }
        out
    }

    /// Row groups of [`PARQUET_GROUP_ROWS`], each copied out of the table
    /// only while it is written.
    fn to_parquet(&self) -> Result<Vec<u8>> {
        let err = |source: PolarsError| Error::Encode { format: "Parquet", source };
        let mut w = ParquetOut::new(Vec::new(), self).map_err(err)?;
        let rows = self.rows();
        for start in (0..rows).step_by(PARQUET_GROUP_ROWS) {
            let range = start..(start + PARQUET_GROUP_ROWS).min(rows);
            let group = OutTable {
                names: self.names.clone(),
                columns: self.columns.iter().map(|c| c.slice(range.clone())).collect(),
            };
            w.write(group).map_err(err)?;
        }
        w.finish().map_err(err)
    }

    /// The column called `name`, if any.
    pub fn column(&self, name: &str) -> Option<&OutColumn> {
        self.names.iter().position(|n| n == name).map(|i| &self.columns[i])
    }

    /// Keeps the rows in `order` (row indices), in that order.
    ///
    /// ```
    /// use healthscore::data::write::{OutColumn, OutTable};
    /// let mut t = OutTable::default();
    /// t.push("id", OutColumn::Text(vec![Some("a".into()), Some("b".into())]));
    /// t.push("band", OutColumn::labels(["red", "green"].iter().map(|s| Some(*s))));
    /// t.reorder(&[1, 0]);
    /// let OutColumn::Text(ids) = t.column("id").unwrap() else { unreachable!() };
    /// assert_eq!(ids[0].as_deref(), Some("b"));
    /// ```
    pub fn reorder(&mut self, order: &[usize]) {
        for c in &mut self.columns {
            *c = match std::mem::replace(c, OutColumn::Num(vec![])) {
                OutColumn::Text(v) => OutColumn::Text(order.iter().map(|&r| v[r].clone()).collect()),
                OutColumn::Float(v) => OutColumn::Float(order.iter().map(|&r| v[r]).collect()),
                OutColumn::Int(v) => OutColumn::Int(order.iter().map(|&r| v[r]).collect()),
                OutColumn::Bool(v) => OutColumn::Bool(order.iter().map(|&r| v[r]).collect()),
                OutColumn::Num(v) => OutColumn::Num(order.iter().map(|&r| v[r]).collect()),
                OutColumn::Labels { levels, codes } => OutColumn::Labels {
                    levels,
                    codes: order.iter().map(|&r| codes[r]).collect(),
                },
                OutColumn::Cells(cells) => {
                    let mut out = TextCells::default();
                    for &r in order {
                        out.push(cells.get(r));
                    }
                    OutColumn::Cells(out)
                }
            };
        }
    }

    /// Appends the rows of `other`, which has the same columns.
    pub fn append(&mut self, other: OutTable) {
        if self.names.is_empty() {
            *self = other;
            return;
        }
        for (a, b) in self.columns.iter_mut().zip(other.columns) {
            match (a, b) {
                (OutColumn::Text(a), OutColumn::Text(b)) => a.extend(b),
                (OutColumn::Float(a), OutColumn::Float(b)) => a.extend(b),
                (OutColumn::Int(a), OutColumn::Int(b)) => a.extend(b),
                (OutColumn::Bool(a), OutColumn::Bool(b)) => a.extend(b),
                (OutColumn::Num(a), OutColumn::Num(b)) => a.extend(b),
                (OutColumn::Cells(a), OutColumn::Cells(b)) => a.extend(b),
                (OutColumn::Labels { levels, codes }, OutColumn::Labels { levels: l2, codes: c2 }) => {
                    let map: Vec<u32> = l2
                        .into_iter()
                        .map(|l| match levels.iter().position(|x| *x == l) {
                            Some(k) => k as u32,
                            None => {
                                levels.push(l);
                                (levels.len() - 1) as u32
                            }
                        })
                        .collect();
                    codes.extend(c2.into_iter().map(|c| map.get(c as usize).copied().unwrap_or(OutColumn::MISSING)));
                }
                (a, _) => unreachable!("appending a table with other column types to {a:?}"),
            }
        }
    }
}

/// Shortest plain decimal text (no exponent, like `Display`) that reads back as the same f64, without `-0`.
///
/// Whole numbers go through integer formatting and others through `ryu`,
/// which finds the same shortest digits several times faster; values `ryu`
/// would print with an exponent or a trailing `.0` fall back to `Display`.
///
/// ```
/// use healthscore::data::write::fmt_float;
/// assert_eq!(fmt_float(12.0), "12");
/// assert_eq!(fmt_float(0.35), "0.35");
/// assert_eq!(fmt_float(-0.0), "0");
/// assert_eq!(fmt_float(1e-7), "0.0000001");
/// ```
pub fn fmt_float(x: f64) -> String {
    let mut s = String::new();
    push_float(&mut s, x);
    s
}

/// Appends [`fmt_float`]'s text of `x` to `out`.
pub fn push_float(out: &mut String, x: f64) {
    use std::fmt::Write;
    if x == 0.0 {
        out.push('0');
        return;
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        let _ = write!(out, "{}", x as i64);
        return;
    }
    if x.is_finite() {
        let mut buf = ryu::Buffer::new();
        let s = buf.format_finite(x);
        // ryu writes `1e16` or `7485383561515295.0` where `Display` writes plain digits.
        if !s.contains('e') && !s.ends_with(".0") {
            out.push_str(s);
            return;
        }
    }
    let _ = write!(out, "{x}");
}

fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn only_number_columns_that_repeat_are_compressed() {
        let distinct: Vec<f64> = (0..70_000).map(|i| (i as f64 * 0.618_034).fract()).collect();
        assert!(!OutColumn::Num(distinct.clone()).compresses());
        assert!(!OutColumn::Float(distinct.iter().map(|&v| Some(v)).collect()).compresses());
        // A constant (a base value) and a score rounded to tenths repeat.
        assert!(OutColumn::Num(vec![-1.25; 70_000]).compresses());
        let rounded = distinct.iter().map(|v| Some((v * 1000.0).round() / 10.0)).collect();
        assert!(OutColumn::Float(rounded).compresses());
        // Mostly missing: the missing cells repeat.
        let sparse = (0..5_000).map(|i| if i % 8 == 0 { distinct[i] } else { f64::NAN }).collect();
        assert!(OutColumn::Num(sparse).compresses());
        // Text is always compressed; tiny columns are judged on every value.
        assert!(OutColumn::Text(vec![Some("a".into())]).compresses());
        assert!(!OutColumn::Num(vec![1.0, 2.0, 3.0]).compresses());
    }

    #[test]
    fn fast_float_text_reads_back_and_is_as_short_as_display() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for i in 0..200_000 {
            let x: f64 = match i % 4 {
                0 => rng.gen_range(-1000.0..1000.0),
                1 => rng.gen_range(-1.0..1.0) * 10f64.powi(rng.gen_range(-12..18)),
                2 => (rng.gen_range(-1e6..1e6) * 100.0f64).round() / 100.0,
                _ => f64::from_bits(rng.gen::<u64>()),
            };
            if x.is_finite() && x != 0.0 {
                // Same value back, as short as Display's, and no exponent; the
                // last digit may differ from Display's on an exact tie.
                let (fast, display) = (fmt_float(x), x.to_string());
                assert_eq!(fast.parse::<f64>().unwrap(), x, "{x:e}");
                assert_eq!(fast.len(), display.len(), "{fast} vs {display}");
                assert!(!fast.contains('e'));
            }
        }
    }

    fn sample() -> OutTable {
        let mut t = OutTable::default();
        t.push("id", OutColumn::Text(vec![Some("a,1".into()), None]));
        t.push("x", OutColumn::Float(vec![Some(0.5), None]));
        t.push("n", OutColumn::Int(vec![Some(3), Some(-1)]));
        t.push("f", OutColumn::Num(vec![f64::NAN, 2.5]));
        t.push("b", OutColumn::labels([None, Some("red")].into_iter()));
        t
    }

    #[test]
    fn csv_quotes_and_leaves_missing_empty() {
        let s = String::from_utf8(sample().render(Format::Csv).unwrap()).unwrap();
        assert_eq!(s, "id,x,n,f,b\n\"a,1\",0.5,3,,\n,,-1,2.5,red\n");
    }

    #[test]
    fn jsonl_has_nulls() {
        let s = String::from_utf8(sample().render(Format::JsonLines).unwrap()).unwrap();
        assert_eq!(s.lines().nth(1).unwrap(), r#"{"id":null,"x":null,"n":-1,"f":2.5,"b":"red"}"#);
    }

    #[test]
    fn parquet_reads_back() {
        let bytes = sample().render(Format::Parquet).unwrap();
        let df = ParquetReader::new(Cursor::new(bytes)).finish().unwrap();
        assert_eq!(df.height(), 2);
        assert_eq!(df.column("n").unwrap().i64().unwrap().get(1), Some(-1));
        assert_eq!(df.column("f").unwrap().f64().unwrap().get(0), None);
        assert_eq!(df.column("f").unwrap().f64().unwrap().get(1), Some(2.5));
        assert_eq!(df.column("b").unwrap().str().unwrap().get(0), None);
        assert_eq!(df.column("b").unwrap().str().unwrap().get(1), Some("red"));
    }

    /// Each column kind keeps every cell through the Parquet sink, across
    /// blocks whose labels have other levels (or none), and reads back as
    /// the type it was written as: labels are strings, not categories.
    #[test]
    fn parquet_keeps_every_kind_of_column_across_blocks() {
        let block = |levels: &[&str], codes: Vec<u32>, cells: [Option<&str>; 3], k: f64| {
            let mut t = OutTable::default();
            t.push(
                "label",
                OutColumn::Labels {
                    levels: levels.iter().map(|s| s.to_string()).collect(),
                    codes,
                },
            );
            let mut c = TextCells::default();
            cells.iter().for_each(|s| c.push(*s));
            t.push("cells", OutColumn::Cells(c));
            t.push("text", OutColumn::Text(cells.iter().rev().map(|s| s.map(String::from)).collect()));
            t.push("float", OutColumn::Float(vec![Some(k), None, Some(-k)]));
            t.push("int", OutColumn::Int(vec![None, Some(k as i64), Some(7)]));
            t.push("num", OutColumn::Num(vec![k, f64::NAN, f64::INFINITY]));
            t
        };
        let m = OutColumn::MISSING;
        let blocks = [
            block(&["red", "green"], vec![1, m, 0], [Some("1.5"), None, Some("gold")], 1.0),
            block(&[], vec![m, m, m], [None, None, None], 2.0),
            block(&["a", "b", "c"], vec![2, 9, 0], [Some(""), Some("x y"), Some("é")], 3.0),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.parquet");
        let mut sink = Sink::create(&path).unwrap();
        for b in blocks.iter().cloned() {
            sink.write(b).unwrap();
        }
        sink.finish().unwrap();
        let df = crate::data::read::read_frame(&path).unwrap();
        let text = |c: &str| -> Vec<Option<String>> {
            let col = df.column(c).unwrap();
            assert_eq!(col.dtype(), &DataType::String, "{c}");
            let ca = col.str().unwrap();
            (0..ca.len()).map(|i| ca.get(i).map(String::from)).collect()
        };
        let s = |v: &[Option<&str>]| -> Vec<Option<String>> { v.iter().map(|s| s.map(String::from)).collect() };
        assert_eq!(
            text("label"),
            s(&[Some("green"), None, Some("red"), None, None, None, Some("c"), None, Some("a")])
        );
        let cells = [Some("1.5"), None, Some("gold"), None, None, None, Some(""), Some("x y"), Some("é")];
        assert_eq!(text("cells"), s(&cells));
        let reversed: Vec<Option<&str>> = cells.chunks(3).flat_map(|c| c.iter().rev().copied()).collect();
        assert_eq!(text("text"), s(&reversed));
        let f64s = |c: &str| {
            let ca = df.column(c).unwrap().f64().unwrap();
            (0..ca.len()).map(|i| ca.get(i)).collect::<Vec<_>>()
        };
        let floats = f64s("float");
        assert_eq!(
            floats,
            [1.0, 2.0, 3.0].iter().flat_map(|&k| [Some(k), None, Some(-k)]).collect::<Vec<_>>()
        );
        let ca = df.column("int").unwrap().i64().unwrap();
        let ints: Vec<Option<i64>> = (0..ca.len()).map(|i| ca.get(i)).collect();
        assert_eq!(ints, [1, 2, 3].iter().flat_map(|&k| [None, Some(k), Some(7)]).collect::<Vec<_>>());
        let nums = f64s("num");
        assert_eq!(
            nums,
            [1.0, 2.0, 3.0].iter().flat_map(|&k| [Some(k), None, None]).collect::<Vec<_>>()
        );
    }

    /// A table rendered whole is written in row groups; every row reads back
    /// across the group boundaries, for every kind of column.
    #[test]
    fn rendered_parquet_spans_row_groups() {
        let n = 2 * PARQUET_GROUP_ROWS + 7;
        let mut t = OutTable::default();
        let ids: Vec<Option<String>> = (0..n).map(|i| Some(format!("A{i}"))).collect();
        t.push("id", OutColumn::Text(ids.clone()));
        t.push("band", OutColumn::labels((0..n).map(|i| [Some("red"), None, Some("green")][i % 3])));
        let mut cells = TextCells::default();
        (0..n).for_each(|i| cells.push((i % 5 != 0).then_some(if i % 2 == 0 { "even" } else { "odd" })));
        t.push("cells", OutColumn::Cells(cells));
        t.push("x", OutColumn::Num((0..n).map(|i| i as f64 / 4.0).collect()));
        t.push("k", OutColumn::Int((0..n).map(|i| (i % 4 != 1).then_some(i as i64)).collect()));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("whole.parquet");
        std::fs::write(&path, t.render(Format::Parquet).unwrap()).unwrap();
        let df = crate::data::read::read_frame(&path).unwrap();
        assert_eq!(df.height(), n);
        let text = |c: &str| -> Vec<Option<String>> { df.column(c).unwrap().str().unwrap().iter().map(|v| v.map(String::from)).collect() };
        assert_eq!(text("id"), ids);
        let band: Vec<Option<String>> = (0..n)
            .map(|i| [Some("red"), None, Some("green")][i % 3].map(String::from))
            .collect();
        assert_eq!(text("band"), band);
        let cells: Vec<Option<String>> = (0..n)
            .map(|i| (i % 5 != 0).then(|| if i % 2 == 0 { "even" } else { "odd" }.to_string()))
            .collect();
        assert_eq!(text("cells"), cells);
        let x: Vec<Option<f64>> = df.column("x").unwrap().f64().unwrap().iter().collect();
        assert_eq!(x, (0..n).map(|i| Some(i as f64 / 4.0)).collect::<Vec<_>>());
        let k: Vec<Option<i64>> = df.column("k").unwrap().i64().unwrap().iter().collect();
        assert_eq!(k, (0..n).map(|i| (i % 4 != 1).then_some(i as i64)).collect::<Vec<_>>());
    }

    /// Two columns of one name cannot make a file.
    #[test]
    fn parquet_refuses_a_column_named_twice() {
        let mut t = OutTable::default();
        t.push("x", OutColumn::Num(vec![1.0]));
        t.push("x", OutColumn::Num(vec![2.0]));
        let e = t.render(Format::Parquet).unwrap_err().full_message();
        assert!(e.contains("twice"), "{e}");
    }

    /// Blocks past the periodic data syncs are all in the finished file, in
    /// order, and nothing is at the path until `finish`.
    #[test]
    fn sink_writes_every_block_across_syncs() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["s.parquet", "s.csv"] {
            let path = dir.path().join(name);
            let mut sink = Sink::create(&path).unwrap();
            let blocks = Sink::SYNC_BLOCKS * 2 + 3;
            for b in 0..blocks {
                let mut t = OutTable::default();
                t.push("x", OutColumn::Num(vec![b as f64, b as f64 + 0.5]));
                sink.write(t).unwrap();
            }
            assert!(!path.exists(), "{name}");
            sink.finish().unwrap();
            let df = crate::data::read::read_frame(&path).unwrap();
            let x: Vec<f64> = df.column("x").unwrap().f64().unwrap().into_no_null_iter().collect();
            let expected: Vec<f64> = (0..blocks).flat_map(|b| [b as f64, b as f64 + 0.5]).collect();
            assert_eq!(x, expected, "{name}");
        }
    }
}
