//! Reading account tables (CSV or Parquet, by extension) with polars, checking
//! them against the spec, and turning them into plain vectors: ids, dates,
//! labels, revenue, segment and one column of values per feature.
//!
//! This is one of the two modules that import polars; everything downstream
//! works on the [`Table`] it returns. Every problem is reported with the file,
//! the column and the first offending row (1-based, header not counted).

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;

use crate::data::spec::{Columns, FeatureDef, LabelValues};
use crate::error::{Error, Result};

/// The values of one feature column.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureValues {
    /// Numbers; a missing cell is NaN.
    Numeric(Vec<f64>),
    /// Category labels, one code per cell (see [`Categories`]).
    Categorical(Categories),
}

/// The labels of a categorical column: each distinct label once, and one
/// `u32` code per cell. A table of a million rows holds 4 MB per column this
/// way, where a `String` per cell took about 40.
///
/// ```
/// use healthscore::data::table::Categories;
/// let c = Categories::from_labels([Some("pro"), None, Some("basic"), Some("pro")]);
/// assert_eq!(c.get(3), Some("pro"));
/// assert_eq!(c.get(1), None);
/// assert_eq!(c.levels().len(), 2);
/// // One value per level, plus one for a missing cell, looked up by `slot`.
/// let seats = c.map_levels(|l| if l == Some("pro") { 10 } else { 1 });
/// assert_eq!(seats[c.slot(0)], 10);
/// assert_eq!(seats[c.slot(1)], 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Categories {
    levels: Vec<String>,
    codes: Vec<u32>,
}

/// The code of a missing cell in [`Categories`].
const MISSING_CODE: u32 = u32::MAX;

impl Categories {
    /// The labels in order (`None` = missing); levels are numbered as first seen.
    pub fn from_labels<S: AsRef<str>>(labels: impl IntoIterator<Item = Option<S>>) -> Categories {
        let mut index: hashbrown::HashMap<String, u32> = hashbrown::HashMap::new();
        let mut out = Categories::default();
        for label in labels {
            let code = match label {
                None => MISSING_CODE,
                Some(l) => {
                    let l = l.as_ref();
                    match index.get(l) {
                        Some(&c) => c,
                        None => {
                            let c = out.levels.len() as u32;
                            index.insert(l.to_string(), c);
                            out.levels.push(l.to_string());
                            c
                        }
                    }
                }
            };
            out.codes.push(code);
        }
        out
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// True when there are no cells.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The label of row `r` (`None` when missing).
    pub fn get(&self, r: usize) -> Option<&str> {
        match self.codes[r] {
            MISSING_CODE => None,
            c => Some(&self.levels[c as usize]),
        }
    }

    /// The labels in row order.
    pub fn iter(&self) -> impl Iterator<Item = Option<&str>> + '_ {
        (0..self.len()).map(|r| self.get(r))
    }

    /// The distinct labels; a level may have no cell left after [`Categories::select`].
    pub fn levels(&self) -> &[String] {
        &self.levels
    }

    /// Where row `r` reads a vector from [`Categories::map_levels`]: its
    /// level's index, or the last slot when the cell is missing.
    pub fn slot(&self, r: usize) -> usize {
        match self.codes[r] {
            MISSING_CODE => self.levels.len(),
            c => c as usize,
        }
    }

    /// `f` of every level, then of a missing cell: a lookup table for [`Categories::slot`],
    /// so that work per label is done once per level, not once per cell.
    pub fn map_levels<'a, T>(&'a self, mut f: impl FnMut(Option<&'a str>) -> T) -> Vec<T> {
        let mut out: Vec<T> = self.levels.iter().map(|l| f(Some(l))).collect();
        out.push(f(None));
        out
    }

    /// Appends the cells of `other`, renumbering its levels into these.
    pub fn append(&mut self, other: &Categories) {
        let index: hashbrown::HashMap<&str, u32> = self.levels.iter().enumerate().map(|(k, l)| (l.as_str(), k as u32)).collect();
        let mut added = vec![];
        let map: Vec<u32> = other
            .levels
            .iter()
            .map(|l| match index.get(l.as_str()) {
                Some(&k) => k,
                None => {
                    added.push(l.clone());
                    (self.levels.len() + added.len() - 1) as u32
                }
            })
            .collect();
        drop(index);
        self.levels.extend(added);
        self.codes
            .extend(other.codes.iter().map(|&c| if c == MISSING_CODE { c } else { map[c as usize] }));
    }

    /// Room for `more` cells without growing.
    fn reserve_exact(&mut self, more: usize) {
        self.codes.reserve_exact(more);
    }

    /// The cells of the rows `rows`, in that order (the levels are kept).
    pub fn select(&self, rows: &[usize]) -> Categories {
        Categories {
            levels: self.levels.clone(),
            codes: rows.iter().map(|&r| self.codes[r]).collect(),
        }
    }
}

/// Collects labels (`None` = missing) as [`Categories::from_labels`] does.
impl<S: AsRef<str>> FromIterator<Option<S>> for Categories {
    fn from_iter<I: IntoIterator<Item = Option<S>>>(labels: I) -> Categories {
        Categories::from_labels(labels)
    }
}

/// Equal when the labels are equal row by row, however the levels are numbered.
impl PartialEq for Categories {
    fn eq(&self, other: &Categories) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// One feature column with its definition from the spec.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFeature {
    pub def: FeatureDef,
    pub values: FeatureValues,
}

/// A checked account table.
#[derive(Debug, Clone)]
pub struct Table {
    /// The file it came from (for messages).
    pub path: PathBuf,
    pub ids: Vec<String>,
    /// Snapshot dates when the spec names a date column.
    pub dates: Option<Vec<NaiveDate>>,
    /// Risk label per row (None = unknown) when the column is present.
    pub risk: Option<Vec<Option<u8>>>,
    /// Upsell label per row when the column is present.
    pub upsell: Option<Vec<Option<u8>>>,
    /// Revenue (ARR) per row when the column is present.
    pub revenue: Option<Vec<Option<f64>>>,
    /// Segment per row when the spec names one (missing → `"(missing)"`).
    pub segment: Option<Vec<String>>,
    pub features: Vec<RawFeature>,
}

/// Whether label columns must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    /// Training: the spec's label columns must exist.
    Required,
    /// Scoring / outcomes: read them when present.
    IfPresent,
}

impl Table {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Keeps the rows whose index is in `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Table {
        fn pick<T: Clone>(v: &[T], rows: &[usize]) -> Vec<T> {
            rows.iter().map(|&r| v[r].clone()).collect()
        }
        Table {
            path: self.path.clone(),
            ids: pick(&self.ids, rows),
            dates: self.dates.as_ref().map(|v| pick(v, rows)),
            risk: self.risk.as_ref().map(|v| pick(v, rows)),
            upsell: self.upsell.as_ref().map(|v| pick(v, rows)),
            revenue: self.revenue.as_ref().map(|v| pick(v, rows)),
            segment: self.segment.as_ref().map(|v| pick(v, rows)),
            features: self
                .features
                .iter()
                .map(|f| RawFeature {
                    def: f.def.clone(),
                    values: match &f.values {
                        FeatureValues::Numeric(v) => FeatureValues::Numeric(pick(v, rows)),
                        FeatureValues::Categorical(v) => FeatureValues::Categorical(v.select(rows)),
                    },
                })
                .collect(),
        }
    }

    /// Room for `more` rows in every column without growing.
    fn reserve_exact(&mut self, more: usize) {
        self.ids.reserve_exact(more);
        if let Some(v) = &mut self.dates {
            v.reserve_exact(more);
        }
        for v in [&mut self.risk, &mut self.upsell].into_iter().flatten() {
            v.reserve_exact(more);
        }
        if let Some(v) = &mut self.revenue {
            v.reserve_exact(more);
        }
        if let Some(v) = &mut self.segment {
            v.reserve_exact(more);
        }
        for f in &mut self.features {
            match &mut f.values {
                FeatureValues::Numeric(v) => v.reserve_exact(more),
                FeatureValues::Categorical(v) => v.reserve_exact(more),
            }
        }
    }

    /// Appends the rows of `other`, a later block of the same file (same
    /// columns, same features in the same order).
    fn append(&mut self, other: Table) {
        fn extend<T>(a: &mut Option<Vec<T>>, b: Option<Vec<T>>) {
            if let (Some(a), Some(b)) = (a, b) {
                a.extend(b);
            }
        }
        self.ids.extend(other.ids);
        extend(&mut self.dates, other.dates);
        extend(&mut self.risk, other.risk);
        extend(&mut self.upsell, other.upsell);
        extend(&mut self.revenue, other.revenue);
        extend(&mut self.segment, other.segment);
        for (a, b) in self.features.iter_mut().zip(other.features) {
            match (&mut a.values, b.values) {
                (FeatureValues::Numeric(a), FeatureValues::Numeric(b)) => a.extend(b),
                (FeatureValues::Categorical(a), FeatureValues::Categorical(b)) => a.append(&b),
                _ => unreachable!("blocks of one file read each feature as its spec kind"),
            }
        }
    }

    /// The feature with this name.
    pub fn feature(&self, name: &str) -> Option<&RawFeature> {
        self.features.iter().find(|f| f.def.name == name)
    }

    /// The label vector of a model, if present.
    pub fn labels(&self, target: crate::data::spec::Target) -> Option<&Vec<Option<u8>>> {
        match target {
            crate::data::spec::Target::Risk => self.risk.as_ref(),
            crate::data::spec::Target::Upsell => self.upsell.as_ref(),
        }
    }
}

/// Reads a CSV or Parquet file into a polars frame, by extension.
///
/// CSV is first read with inferred types; if a column does not parse as its
/// inferred type further down, the file is read again as text so that the
/// checks below can name the offending row.
pub fn read_frame(path: &Path) -> Result<DataFrame> {
    read_frame_text(path, &[])
}

/// The columns of a table read as text from CSV whatever they look like: ids
/// such as `007` keep their zeros, and a segment or category named by
/// digits stays a label.
pub fn text_columns<'a>(columns: &'a Columns, defs: &'a [FeatureDef]) -> Vec<&'a str> {
    [Some(&columns.id), columns.date.as_ref(), columns.segment.as_ref()]
        .into_iter()
        .flatten()
        .chain(defs.iter().filter(|d| d.categorical).map(|d| &d.name))
        .map(String::as_str)
        .collect()
}

/// As [`read_frame`], with the CSV columns `text` read as text (see [`text_columns`]).
///
/// ```no_run
/// use healthscore::data::table::read_frame_text;
/// let df = read_frame_text("outcomes.csv".as_ref(), &["account_id"])?;
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn read_frame_text(path: &Path, text: &[&str]) -> Result<DataFrame> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if !path.exists() {
        return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")));
    }
    let table_err = |e: PolarsError| Error::Table {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let df = match ext.as_str() {
        "csv" | "txt" => {
            if std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len() == 0 {
                return Err(Error::EmptyTable { path: path.to_path_buf() });
            }
            parse_csv(path, || Ok(std::fs::File::open(path)?), text)?
        }
        "parquet" | "pq" => {
            let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            ParquetReader::new(file).finish().map_err(table_err)?
        }
        _ => {
            return Err(Error::Table {
                path: path.to_path_buf(),
                message: format!("unknown extension `.{ext}`; use .csv or .parquet"),
            })
        }
    };
    if df.height() == 0 {
        return Err(Error::EmptyTable { path: path.to_path_buf() });
    }
    Ok(df)
}

/// The column names of a CSV or Parquet table, read from its header or schema only.
///
/// ```no_run
/// let names = healthscore::data::table::column_names("notebooks-data/history.csv".as_ref())?;
/// assert!(names.iter().any(|n| n == "account_id"));
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn column_names(path: &Path) -> Result<Vec<String>> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let table_err = |e: PolarsError| Error::Table {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let names: Vec<String> = if matches!(ext.as_str(), "parquet" | "pq") {
        let schema = ParquetReader::new(file).schema().map_err(table_err)?;
        schema.iter_names().map(|n| n.to_string()).collect()
    } else {
        let df = CsvReadOptions::default()
            .with_has_header(true)
            .with_n_rows(Some(1))
            .with_infer_schema_length(Some(0))
            .into_reader_with_file_handle(file)
            .finish()
            .map_err(table_err)?;
        df.get_column_names().iter().map(|n| n.to_string()).collect()
    };
    Ok(names)
}

/// Cells read as missing in text columns (besides empty).
pub(crate) fn is_missing_text(s: &str) -> bool {
    matches!(s, "" | "NA" | "N/A" | "na" | "null" | "NULL" | "None")
}

/// A frame with its path, for column access with good errors.
pub struct Frame<'a> {
    pub path: &'a Path,
    pub df: &'a DataFrame,
    /// Row of the file where the frame starts (0 unless it is a later block).
    pub first_row: usize,
}

impl<'a> Frame<'a> {
    /// A whole file's frame.
    pub fn new(path: &'a Path, df: &'a DataFrame) -> Frame<'a> {
        Frame { path, df, first_row: 0 }
    }

    /// Names of all columns.
    pub fn names(&self) -> Vec<String> {
        self.df.get_column_names().iter().map(|s| s.to_string()).collect()
    }

    /// True when the column exists.
    pub fn has(&self, name: &str) -> bool {
        self.df.column(name).is_ok()
    }

    fn column(&self, name: &str, role: &str) -> Result<&'a Column> {
        self.df.column(name).map_err(|_| {
            let mut names = self.names();
            if names.len() > 12 {
                names.truncate(12);
                names.push("...".into());
            }
            Error::MissingColumn {
                path: self.path.to_path_buf(),
                column: name.to_string(),
                role: role.to_string(),
                available: names.join(", "),
            }
        })
    }

    fn bad(&self, column: &str, row: usize, message: String) -> Error {
        Error::BadValue {
            path: self.path.to_path_buf(),
            column: column.to_string(),
            row: self.first_row + row + 1,
            message,
        }
    }

    /// A column as text; missing cells are `None`.
    pub fn strings(&self, name: &str, role: &str) -> Result<Vec<Option<String>>> {
        let col = self.column(name, role)?;
        let s = col
            .cast(&DataType::String)
            .map_err(|e| self.bad(name, 0, format!("cannot read as text: {e}")))?;
        let ca = s.str().map_err(|e| self.bad(name, 0, e.to_string()))?;
        Ok(ca
            .iter()
            .map(|v| v.map(str::trim).filter(|v| !is_missing_text(v)).map(str::to_string))
            .collect())
    }

    /// A column as category labels (see [`Categories`]); missing cells as for [`Frame::strings`].
    pub fn categories(&self, name: &str, role: &str) -> Result<Categories> {
        let col = self.column(name, role)?;
        let s = col
            .cast(&DataType::String)
            .map_err(|e| self.bad(name, 0, format!("cannot read as text: {e}")))?;
        let ca = s.str().map_err(|e| self.bad(name, 0, e.to_string()))?;
        Ok(Categories::from_labels(
            ca.iter().map(|v| v.map(str::trim).filter(|v| !is_missing_text(v))),
        ))
    }

    /// A numeric column; missing cells are `None`. Text or infinite values are errors.
    pub fn numbers(&self, name: &str, role: &str) -> Result<Vec<Option<f64>>> {
        let col = self.column(name, role)?;
        let out: Vec<Option<f64>> = match col.dtype() {
            DataType::String => {
                let ca = col.str().map_err(|e| self.bad(name, 0, e.to_string()))?;
                let mut out = Vec::with_capacity(ca.len());
                for (i, v) in ca.iter().enumerate() {
                    let v = v.map(str::trim).filter(|v| !is_missing_text(v));
                    out.push(match v {
                        None => None,
                        Some(t) => Some(t.parse::<f64>().map_err(|_| {
                            self.bad(
                                name,
                                i,
                                format!(
                                    "expected a number, found text `{t}`; fix the cell or list `{name}` under `categorical` in the spec"
                                ),
                            )
                        })?),
                    });
                }
                out
            }
            DataType::Boolean => col
                .bool()
                .map_err(|e| self.bad(name, 0, e.to_string()))?
                .iter()
                .map(|b| b.map(|b| b as u8 as f64))
                .collect(),
            dt if dt.is_primitive_numeric() => {
                let c = col.cast(&DataType::Float64).map_err(|e| self.bad(name, 0, e.to_string()))?;
                c.f64().map_err(|e| self.bad(name, 0, e.to_string()))?.iter().collect()
            }
            dt => return Err(self.bad(name, 0, format!("expected a number, found a column of type {dt}"))),
        };
        for (i, v) in out.iter().enumerate() {
            if let Some(x) = v {
                if x.is_infinite() {
                    return Err(self.bad(
                        name,
                        i,
                        format!("infinite value `{x}`; replace it with a finite number or leave the cell empty"),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// A numeric feature column with missing cells as NaN; one pass for a
    /// column of floats, else as [`Frame::numbers`].
    pub fn numeric_values(&self, name: &str, role: &str) -> Result<Vec<f64>> {
        let col = self.column(name, role)?;
        if col.dtype() != &DataType::Float64 {
            return Ok(self.numbers(name, role)?.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect());
        }
        let ca = col.f64().map_err(|e| self.bad(name, 0, e.to_string()))?;
        let mut out = Vec::with_capacity(ca.len());
        for arr in ca.downcast_iter() {
            if arr.validity().is_none_or(|v| v.unset_bits() == 0) {
                out.extend_from_slice(arr.values());
            } else {
                out.extend(arr.iter().map(|v| v.copied().unwrap_or(f64::NAN)));
            }
        }
        if let Some(i) = out.iter().position(|x| x.is_infinite()) {
            let x = out[i];
            return Err(self.bad(
                name,
                i,
                format!("infinite value `{x}`; replace it with a finite number or leave the cell empty"),
            ));
        }
        Ok(out)
    }

    /// A label column: 1/0, true/false, yes/no, y/n (any case) or empty, or
    /// the named `values` of the spec when given; anything else (2, NaN,
    /// "maybe") is an error naming the row.
    pub fn labels(&self, name: &str, role: &str, values: Option<&LabelValues>) -> Result<Vec<Option<u8>>> {
        let col = self.column(name, role)?;
        let dtype = col.dtype();
        if let Some(values) = values {
            let text = col.cast(&DataType::String).map_err(|e| self.bad(name, 0, e.to_string()))?;
            let ca = text.str().map_err(|e| self.bad(name, 0, e.to_string()))?;
            let mut out = Vec::with_capacity(ca.len());
            for (i, v) in ca.iter().enumerate() {
                out.push(values.read(v.unwrap_or("")).ok_or_else(|| {
                    self.bad(
                        name,
                        i,
                        format!(
                            "label `{}` is neither a positive ({}) nor a negative ({}) value of the spec",
                            v.unwrap_or("").trim(),
                            values.positive.join(", "),
                            values.negative.join(", ")
                        ),
                    )
                })?);
            }
            return Ok(out);
        }
        let bad = |i: usize, other: &dyn std::fmt::Display| {
            self.bad(
                name,
                i,
                format!(
                    "label must be 1/0, yes/no, true/false or empty, found `{other}`; name other values in the spec's [columns.{}_values]",
                    if role.starts_with("upsell") { "upsell" } else { "risk" }
                ),
            )
        };
        // Numbers are read as numbers, not through text.
        if dtype.is_integer() || dtype.is_float() || dtype.is_bool() {
            let floats = col.cast(&DataType::Float64).map_err(|e| self.bad(name, 0, e.to_string()))?;
            let ca = floats.f64().map_err(|e| self.bad(name, 0, e.to_string()))?;
            return ca
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    None => Ok(None),
                    Some(v) if v == 0.0 || v == 1.0 => Ok(Some(v as u8)),
                    Some(other) if dtype.is_integer() => Err(bad(i, &(other as i64))),
                    Some(other) => Err(bad(i, &format!("{other:?}"))),
                })
                .collect();
        }
        let text = col.cast(&DataType::String).map_err(|e| self.bad(name, 0, e.to_string()))?;
        let ca = text.str().map_err(|e| self.bad(name, 0, e.to_string()))?;
        let mut out = Vec::with_capacity(ca.len());
        for (i, v) in ca.iter().enumerate() {
            let v = v.map(str::trim).unwrap_or("");
            out.push(match v.to_ascii_lowercase().as_str() {
                "" => None,
                "1" | "1.0" | "true" | "t" | "yes" | "y" => Some(1),
                "0" | "0.0" | "false" | "f" | "no" | "n" => Some(0),
                _ => return Err(bad(i, &v)),
            });
        }
        Ok(out)
    }

    /// An ISO date column (`YYYY-MM-DD`); every cell must hold a date.
    pub fn dates(&self, name: &str, role: &str) -> Result<Vec<NaiveDate>> {
        let v = self.strings(name, role)?;
        v.into_iter()
            .enumerate()
            .map(|(i, s)| match s {
                None => Err(self.bad(name, i, "the snapshot date is empty; every row needs one".into())),
                Some(s) => parse_date(&s).ok_or_else(|| self.bad(name, i, format!("`{s}` is not a date; write dates as YYYY-MM-DD"))),
            })
            .collect()
    }
}

/// Parses `YYYY-MM-DD` (a trailing time part is ignored).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let day = s.get(..10).unwrap_or(s);
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .filter(|_| s.len() == 10 || s.as_bytes().get(10).is_some_and(|c| *c == b'T' || *c == b' '))
}

/// Reads and checks an account table against the spec's columns and features.
///
/// ```no_run
/// use healthscore::data::{spec::Spec, table::{read_table, Labels}};
/// let spec = Spec::load("training/saas.toml".as_ref())?;
/// let t = read_table("notebooks-data/history.csv".as_ref(), &spec.columns, &spec.feature_defs(), Labels::Required)?;
/// println!("{} rows", t.len());
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn read_table(path: &Path, columns: &Columns, defs: &[FeatureDef], labels: Labels) -> Result<Table> {
    let blocks = TableBlocks::open(path, columns, defs, labels, READ_BLOCK_ROWS)?;
    if columns.date.is_some() && !blocks.has_dates() {
        // The whole read names the missing date column.
        return table_from_frame(path, read_frame_text(path, &text_columns(columns, defs))?, columns, defs, labels);
    }
    blocks.collect_table()
}

/// Rows per block when a whole table is read ([`read_table`]): the file is
/// decoded a block at a time into the table's columns, so that the decoded
/// file and the table are never both held. Reading 1M rows × 40 features,
/// 32,768-row blocks peaked at 544–560 MiB from CSV (0.95 s) and 486 MiB
/// from Parquet, where 65,536-row blocks peaked at 570–611 and 513 MiB and
/// were no faster; 16,384 saved 10–20 MiB more and was slower from CSV.
pub const READ_BLOCK_ROWS: usize = 32_768;

/// As [`read_table`], but a date column the spec names and the file lacks is
/// skipped instead of being an error: live tables and tables for the hand-built
/// score often hold one snapshot without a date. The file is read once.
pub fn read_table_date_optional(path: &Path, columns: &Columns, defs: &[FeatureDef], labels: Labels) -> Result<Table> {
    TableBlocks::open(path, columns, defs, labels, READ_BLOCK_ROWS)?.collect_table()
}

/// Checks a frame and turns it into a [`Table`]. Feature columns leave the
/// frame as they are converted, so the frame and the table are not both held
/// in full.
pub fn table_from_frame(path: &Path, df: DataFrame, columns: &Columns, defs: &[FeatureDef], labels: Labels) -> Result<Table> {
    // Converted a block at a time, as a file is read: each block's columns stay
    // in cache (a 1M-row frame converts several times faster than whole).
    let n = df.height();
    let mut seen = Seen::with_capacity(n);
    if n <= READ_BLOCK_ROWS {
        return table_from_block(path, df, 0, columns, defs, labels, &mut seen);
    }
    let mut table: Option<Table> = None;
    for start in (0..n).step_by(READ_BLOCK_ROWS) {
        let block = df.slice(start as i64, READ_BLOCK_ROWS);
        let block = table_from_block(path, block, start, columns, defs, labels, &mut seen)?;
        match &mut table {
            Some(t) => t.append(block),
            None => {
                let mut t = block;
                t.reserve_exact(n - t.len());
                table = Some(t);
            }
        }
    }
    Ok(table.expect("at least one block"))
}

/// Account ids (with their dates) met so far, so that a duplicate is found
/// across blocks too. Entry k is row k of the file. The ids are kept end to
/// end in one buffer and the hash table holds entry numbers: no allocation per
/// id, and a table a quarter of the size of one keyed by owned strings.
#[derive(Default)]
struct Seen {
    text: String,
    /// End of each id in `text`; an id starts where the one before ends.
    ends: Vec<usize>,
    dates: Vec<Option<NaiveDate>>,
    table: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl Seen {
    fn with_capacity(rows: usize) -> Seen {
        Seen {
            table: hashbrown::HashTable::with_capacity(rows),
            ends: Vec::with_capacity(rows),
            dates: Vec::with_capacity(rows),
            ..Seen::default()
        }
    }

    /// Records the next row's id and date; returns the earlier row that has
    /// them too, if any.
    fn insert(&mut self, id: &str, date: Option<NaiveDate>) -> Option<usize> {
        use std::hash::BuildHasher;
        let Seen {
            text,
            ends,
            dates,
            table,
            hasher,
        } = self;
        let key = |k: u32| {
            let k = k as usize;
            let start = if k == 0 { 0 } else { ends[k - 1] };
            (&text[start..ends[k]], dates[k])
        };
        let hash = hasher.hash_one((id, date));
        let next = u32::try_from(ends.len()).expect("fewer than 4 billion rows");
        match table.entry(hash, |&k| key(k) == (id, date), |&k| hasher.hash_one(key(k))) {
            hashbrown::hash_table::Entry::Occupied(first) => return Some(*first.get() as usize),
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(next);
            }
        }
        text.push_str(id);
        ends.push(text.len());
        dates.push(date);
        None
    }
}

/// As [`table_from_frame`] for the block of the file that starts at row `first_row`.
fn table_from_block(
    path: &Path,
    mut df: DataFrame,
    first_row: usize,
    columns: &Columns,
    defs: &[FeatureDef],
    labels: Labels,
    seen: &mut Seen,
) -> Result<Table> {
    // Every problem of the block is collected, so that one run names them all.
    let mut problems: Vec<Error> = Vec::new();
    let f = &Frame { path, df: &df, first_row };
    fn keep<T>(problems: &mut Vec<Error>, r: Result<T>) -> Option<T> {
        r.map_err(|e| problems.push(e)).ok()
    }
    let ids: Option<Vec<String>> = keep(
        &mut problems,
        f.strings(&columns.id, "account id").and_then(|raw| {
            raw.into_iter()
                .enumerate()
                .map(|(i, v)| v.ok_or_else(|| f.bad(&columns.id, i, "the account id is empty; every row needs one".into())))
                .collect::<Result<_>>()
        }),
    );
    let dates = match &columns.date {
        Some(c) => keep(&mut problems, f.dates(c, "snapshot date")).map(Some),
        None => Some(None),
    };
    if let (Some(ids), Some(dates)) = (&ids, &dates) {
        keep(&mut problems, check_duplicates(f, &columns.id, ids, dates.as_deref(), seen));
    }
    let label = |c: &Option<String>, role: &str, values: Option<&LabelValues>| -> Result<Option<Vec<Option<u8>>>> {
        match c {
            Some(c) if labels == Labels::Required || f.has(c) => Ok(Some(f.labels(c, role, values)?)),
            _ => Ok(None),
        }
    };
    let risk = keep(
        &mut problems,
        label(&columns.risk_label, "risk label", columns.risk_values.as_ref()),
    );
    let upsell = keep(
        &mut problems,
        label(&columns.upsell_label, "upsell label", columns.upsell_values.as_ref()),
    );
    let revenue = keep(
        &mut problems,
        match &columns.revenue {
            Some(c) if f.has(c) || labels == Labels::Required => f.numbers(c, "revenue").map(Some),
            _ => Ok(None),
        },
    );
    let segment = keep(
        &mut problems,
        match &columns.segment {
            Some(c) => f
                .strings(c, "segment")
                .map(|v| Some(v.into_iter().map(|s| s.unwrap_or_else(|| "(missing)".into())).collect())),
            None => Ok(None),
        },
    );
    // Every feature column must exist (named against the whole frame) before any is moved out.
    let present: Vec<bool> = defs
        .iter()
        .map(|d| keep(&mut problems, f.column(&d.name, &format!("{} feature", d.category))).is_some())
        .collect();
    let mut features = Vec::with_capacity(defs.len());
    for (d, present) in defs.iter().zip(present) {
        if !present {
            continue;
        }
        let col = df.drop_in_place(&d.name).expect("checked above");
        let single = DataFrame::new_infer_height(vec![col]).map_err(|e| Error::Table {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let f = &Frame {
            path,
            df: &single,
            first_row,
        };
        let values = if d.categorical {
            f.categories(&d.name, &format!("{} feature", d.category))
                .map(FeatureValues::Categorical)
        } else {
            f.numeric_values(&d.name, &format!("{} feature", d.category))
                .map(FeatureValues::Numeric)
        };
        if let Some(values) = keep(&mut problems, values) {
            features.push(RawFeature { def: d.clone(), values });
        }
    }
    if problems.len() == 1 {
        return Err(problems.pop().expect("one problem"));
    }
    if !problems.is_empty() {
        return Err(Error::Schema {
            path: path.to_path_buf(),
            problems,
        });
    }
    let (Some(ids), Some(dates), Some(risk), Some(upsell), Some(revenue), Some(segment)) = (ids, dates, risk, upsell, revenue, segment)
    else {
        unreachable!("every failed read left a problem");
    };
    Ok(Table {
        path: path.to_path_buf(),
        ids,
        dates,
        risk,
        upsell,
        revenue,
        segment,
        features,
    })
}

fn check_duplicates(f: &Frame<'_>, id_col: &str, ids: &[String], dates: Option<&[NaiveDate]>, seen: &mut Seen) -> Result<()> {
    for (i, id) in ids.iter().enumerate() {
        let d = dates.map(|d| d[i]);
        let row = f.first_row + i;
        debug_assert_eq!(seen.ends.len(), row, "rows are met in file order");
        if let Some(first) = seen.insert(id, d) {
            return Err(Error::Duplicate {
                path: f.path.to_path_buf(),
                column: id_col.to_string(),
                row: row + 1,
                first: first + 1,
                id: id.clone(),
                date: d.map(|d| format!(" on {d}")).unwrap_or_default(),
            });
        }
    }
    Ok(())
}

/// Where [`TableBlocks`] reads from.
enum Source {
    /// A CSV file, parsed a block of records at a time.
    Csv(CsvSource),
    /// A Parquet file, decoded a block at a time.
    Parquet(ParquetSource),
}

impl Source {
    /// The block of up to `rows` rows that starts at row `next` as a frame, or None after the last.
    fn next_frame(&mut self, path: &Path, rows: usize, next: usize) -> Result<Option<DataFrame>> {
        match self {
            Source::Csv(source) => source.next_block(path, rows),
            Source::Parquet(source) if next < source.rows => {
                let len = rows.min(source.rows - next);
                source.read(path, next, len).map(Some)
            }
            Source::Parquet(_) => Ok(None),
        }
    }
}

/// A CSV file read a block of records at a time: the bytes of whole records
/// are gathered (a line break inside quotes does not end a record) and parsed
/// behind the header line. Each block is parsed with the column types of the
/// block before; when a cell does not fit them, the block infers its types as
/// a whole file would: a text cell in a numeric column makes that block's
/// column text, and the checks then name the cell's row.
struct CsvSource {
    file: std::fs::File,
    /// The header record, with its line break.
    header: Vec<u8>,
    /// Bytes read past the records handed out so far.
    pending: Vec<u8>,
    eof: bool,
    /// Bytes of the records handed out so far.
    consumed: usize,
    /// The first block, parsed when the file is opened.
    first: Option<DataFrame>,
    /// Columns read as text whatever they look like ([`text_columns`]).
    text: Vec<String>,
    /// The column types of the last block, tried first on the next one: a
    /// block that parses with them needs no type inference.
    schema: Option<SchemaRef>,
}

impl CsvSource {
    /// Bytes read from the file at a time.
    const READ_BYTES: usize = 8 << 20;

    /// Opens `path` and parses its first block of up to `rows` records; the
    /// column names come from that block.
    fn open(path: &Path, rows: usize, text: Vec<String>) -> Result<CsvSource> {
        if std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len() == 0 {
            return Err(Error::EmptyTable { path: path.to_path_buf() });
        }
        let mut source = CsvSource {
            file: std::fs::File::open(path).map_err(|e| Error::io(path, e))?,
            header: vec![],
            pending: vec![],
            eof: false,
            consumed: 0,
            first: None,
            text,
            schema: None,
        };
        let header = source.records(path, 1)?;
        source.header = header;
        if !source.header.ends_with(b"\n") {
            source.header.push(b'\n');
        }
        source.first = source.next_block(path, rows)?;
        if source.first.is_none() {
            return Err(Error::EmptyTable { path: path.to_path_buf() });
        }
        Ok(source)
    }

    /// The bytes of the next `n` records (fewer at the end of the file).
    fn records(&mut self, path: &Path, n: usize) -> Result<Vec<u8>> {
        use std::io::Read;
        let (mut scanned, mut count, mut quoted) = (0, 0, false);
        let cut = loop {
            let mut cut = None;
            for at in memchr::memchr2_iter(b'"', b'\n', &self.pending[scanned..]) {
                let at = scanned + at;
                if self.pending[at] == b'"' {
                    quoted = !quoted;
                } else if !quoted {
                    count += 1;
                    if count == n {
                        cut = Some(at + 1);
                        break;
                    }
                }
            }
            if let Some(cut) = cut {
                break cut;
            }
            scanned = self.pending.len();
            if self.eof {
                break scanned;
            }
            let len = self.pending.len();
            self.pending.resize(len + Self::READ_BYTES, 0);
            let got = self.file.read(&mut self.pending[len..]).map_err(|e| Error::io(path, e))?;
            self.pending.truncate(len + got);
            self.eof = got == 0;
        };
        self.consumed += cut;
        let rest = self.pending.split_off(cut);
        Ok(std::mem::replace(&mut self.pending, rest))
    }

    /// The next block of up to `rows` records, or None at the end of the file.
    fn next_block(&mut self, path: &Path, rows: usize) -> Result<Option<DataFrame>> {
        if let Some(first) = self.first.take() {
            return Ok(Some(first));
        }
        loop {
            let body = self.records(path, rows)?;
            if body.iter().all(u8::is_ascii_whitespace) {
                if self.eof && self.pending.is_empty() {
                    return Ok(None);
                }
                continue;
            }
            let mut bytes = self.header.clone();
            bytes.extend_from_slice(&body);
            drop(body);
            let open = || Ok(std::io::Cursor::new(bytes.as_slice()));
            // The last block's types, else inferred as for a whole file
            // (a cell that does not parse as the last block's type).
            let df = match self.schema.take() {
                Some(schema) => parse_csv_as(open, schema).or_else(|_| parse_csv(path, open, &self.text))?,
                None => parse_csv(path, open, &self.text)?,
            };
            self.schema = Some(df.schema().clone());
            if df.height() > 0 {
                return Ok(Some(df));
            }
        }
    }
}

/// Parses CSV with a header line as the column types `schema`, without
/// inference; fails on a cell that does not parse as its column's type.
fn parse_csv_as<R: polars::io::mmap::MmapBytesReader>(open: impl Fn() -> PolarsResult<R>, schema: SchemaRef) -> PolarsResult<DataFrame> {
    CsvReadOptions::default()
        .with_has_header(true)
        .with_schema(Some(schema))
        .into_reader_with_file_handle(open()?)
        .finish()
}

/// The CSV schema overwrite that reads the columns `text` as text.
fn text_schema(text: &[impl AsRef<str>]) -> Option<SchemaRef> {
    let fields = text.iter().map(|c| Field::new(c.as_ref().into(), DataType::String));
    (!text.is_empty()).then(|| Arc::new(Schema::from_iter(fields)))
}

/// Parses CSV with a header line from the source `open` gives (a file or
/// bytes in memory), inferring column types from the first 10,000 rows; when a
/// later cell does not fit, every column is read as text. The columns `text`
/// are always text. `path` names the file in errors.
fn parse_csv<R: polars::io::mmap::MmapBytesReader>(
    path: &Path,
    open: impl Fn() -> PolarsResult<R>,
    text: &[impl AsRef<str>],
) -> Result<DataFrame> {
    let read = |infer: Option<usize>| {
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(infer)
            .with_schema_overwrite(text_schema(text))
            .into_reader_with_file_handle(open()?)
            .finish()
    };
    read(Some(10_000)).or_else(|_| read(Some(0))).map_err(|e| Error::Table {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// A Parquet file, decoded a block at a time.
struct ParquetSource {
    metadata: polars::io::parquet::metadata::FileMetadataRef,
    /// The file's columns that the spec names (others are never decoded).
    columns: Vec<String>,
    rows: usize,
    /// First row of each row group, then the row count.
    group_starts: Vec<usize>,
    /// Rows decoded ahead of the block asked for: its first row and the frame.
    window: Option<(usize, DataFrame)>,
}

impl ParquetSource {
    /// Most blocks decoded at once. A page of a column (about a megabyte) is
    /// decompressed whole for any slice of it: one slice per block of 32,768
    /// rows decompressed each page three to four times. Decoding the 1M-row
    /// bench file took 0.69 CPU-seconds by blocks, 0.48 by pairs of blocks and
    /// 0.39 by four; two keep most of the gain for half the extra memory.
    const WINDOW_BLOCKS: usize = 2;

    /// Rows `start..start + len`, cut from a window of up to
    /// [`ParquetSource::WINDOW_BLOCKS`] × `len` rows that ends within the row
    /// group of `start` (a page never spans row groups).
    fn read(&mut self, path: &Path, start: usize, len: usize) -> Result<DataFrame> {
        let in_window = |w: &(usize, DataFrame)| start >= w.0 && start + len <= w.0 + w.1.height();
        if !self.window.as_ref().is_some_and(in_window) {
            let group_end = self.group_starts.iter().copied().find(|&g| g > start).unwrap_or(self.rows);
            let end = (start + len * Self::WINDOW_BLOCKS).min(group_end).max(start + len).min(self.rows);
            // The old window is dropped before the new one is decoded.
            self.window = None;
            self.window = Some((start, self.decode(path, start, end - start)?));
        }
        let (first, frame) = self.window.as_ref().expect("a window holds the block");
        Ok(frame.slice((start - first) as i64, len))
    }

    /// Decodes rows `start..start + len` of the named columns.
    fn decode(&self, path: &Path, start: usize, len: usize) -> Result<DataFrame> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut reader = ParquetReader::new(file)
            .with_slice(Some((start, len)))
            .with_columns(Some(self.columns.clone()));
        reader.set_metadata(self.metadata.clone());
        reader.finish().map_err(|e| Error::Table {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

/// An account table read and checked block by block, so that memory holds one
/// block of the table rather than the file.
///
/// Parquet blocks are decoded from the file as they are asked for, only the
/// columns the spec names. A CSV file is read a block of records at a time,
/// each block with the column types of the one before, inferred again when a
/// cell does not fit them (a text cell in a numeric column is named by row, as
/// in a whole read). Errors name rows counted from the top
/// of the file, and duplicate ids are found across blocks.
///
/// ```no_run
/// use healthscore::data::{spec::Spec, table::{Labels, TableBlocks}};
/// let spec = Spec::load("training/saas.toml".as_ref())?;
/// let blocks = TableBlocks::open("live.parquet".as_ref(), &spec.columns, &spec.feature_defs(), Labels::IfPresent, 65_536)?;
/// let mut rows = 0;
/// for block in blocks {
///     rows += block?.len();
/// }
/// println!("{rows} rows");
/// # Ok::<(), healthscore::Error>(())
/// ```
pub struct TableBlocks {
    path: PathBuf,
    source: Source,
    columns: Columns,
    defs: Vec<FeatureDef>,
    labels: Labels,
    block_rows: usize,
    /// Row of the file where the next block starts.
    next: usize,
    done: bool,
    seen: Seen,
    /// Rows in the file: exact for Parquet, estimated for CSV.
    rows_hint: usize,
}

impl TableBlocks {
    /// Opens `path` (CSV or Parquet, by extension). A date column the spec
    /// names and the file lacks is skipped, as in [`read_table_date_optional`].
    pub fn open(path: &Path, columns: &Columns, defs: &[FeatureDef], labels: Labels, block_rows: usize) -> Result<TableBlocks> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        let mut columns = columns.clone();
        let (source, rows) = if matches!(ext.as_str(), "parquet" | "pq") && path.exists() {
            let table_err = |e: PolarsError| Error::Table {
                path: path.to_path_buf(),
                message: e.to_string(),
            };
            let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            let mut reader = ParquetReader::new(file);
            let schema = reader.schema().map_err(table_err)?;
            let metadata = reader.get_metadata().map_err(table_err)?.clone();
            if columns.date.as_ref().is_some_and(|d| !schema.contains(d)) {
                columns.date = None;
            }
            let rows = metadata.num_rows;
            let named = [Some(&columns.id), columns.date.as_ref(), columns.risk_label.as_ref()]
                .into_iter()
                .chain([columns.upsell_label.as_ref(), columns.revenue.as_ref(), columns.segment.as_ref()])
                .flatten()
                .chain(defs.iter().map(|d| &d.name));
            // Only columns the file has: a missing one is named by the checks of each block.
            let mut wanted: Vec<String> = named.filter(|c| schema.contains(c)).cloned().collect();
            wanted.sort();
            wanted.dedup();
            if rows == 0 {
                return Err(Error::EmptyTable { path: path.to_path_buf() });
            }
            let mut group_starts: Vec<usize> = metadata
                .row_groups
                .iter()
                .scan(0, |start, g| {
                    let first = *start;
                    *start += g.num_rows();
                    Some(first)
                })
                .collect();
            group_starts.push(rows);
            let source = ParquetSource {
                metadata,
                columns: wanted,
                rows,
                group_starts,
                window: None,
            };
            (Source::Parquet(source), rows)
        } else if matches!(ext.as_str(), "csv" | "txt") && path.exists() {
            let block_rows = block_rows.max(1);
            let text = text_columns(&columns, defs).into_iter().map(String::from).collect();
            let source = CsvSource::open(path, block_rows, text)?;
            let first = source.first.as_ref().expect("the first block of an open file");
            if columns.date.as_ref().is_some_and(|d| first.column(d).is_err()) {
                columns.date = None;
            }
            // Rows of the whole file, estimated from the bytes of the first block.
            let bytes = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len() as f64;
            let per_row = (source.consumed - source.header.len()) as f64 / first.height() as f64;
            let rows = (bytes / per_row.max(1.0)) as usize;
            (Source::Csv(source), rows)
        } else {
            // An unknown extension or a missing file: the error of a whole read.
            return Err(read_frame(path).err().unwrap_or_else(|| Error::Table {
                path: path.to_path_buf(),
                message: "cannot be read block by block".into(),
            }));
        };
        Ok(TableBlocks {
            path: path.to_path_buf(),
            source,
            columns,
            defs: defs.to_vec(),
            labels,
            block_rows: block_rows.max(1),
            next: 0,
            done: false,
            // Sized once for the file: growing it block by block rehashes every id again.
            seen: Seen::with_capacity(rows),
            rows_hint: rows,
        })
    }

    /// Rows in the file: known up front for Parquet; for CSV, once every block has been read.
    pub fn rows(&self) -> Option<usize> {
        match &self.source {
            Source::Parquet(p) => Some(p.rows),
            Source::Csv(_) => self.done.then_some(self.next),
        }
    }

    /// Reads every block into one table, its columns sized once from the
    /// file's row count (for CSV, an estimate from the first block's bytes).
    /// A thread decodes the next block while this one converts and checks
    /// the last.
    ///
    /// ```no_run
    /// use healthscore::data::{spec::Spec, table::{Labels, TableBlocks, READ_BLOCK_ROWS}};
    /// let spec = Spec::load("training/saas.toml".as_ref())?;
    /// let blocks = TableBlocks::open("history.parquet".as_ref(), &spec.columns, &spec.feature_defs(), Labels::Required, READ_BLOCK_ROWS)?;
    /// let table = blocks.collect_table()?;
    /// println!("{} rows", table.len());
    /// # Ok::<(), healthscore::Error>(())
    /// ```
    pub fn collect_table(self) -> Result<Table> {
        let TableBlocks {
            path,
            mut source,
            columns,
            defs,
            labels,
            block_rows,
            mut next,
            mut seen,
            rows_hint,
            ..
        } = self;
        let hint = match source {
            Source::Parquet(_) => rows_hint,
            // Room for an estimate a little short.
            Source::Csv(_) => rows_hint + rows_hint / 16,
        };
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<DataFrame>>(1);
            let path = path.as_path();
            scope.spawn(move || loop {
                match source.next_frame(path, block_rows, next) {
                    Ok(Some(df)) => {
                        next += df.height();
                        // A closed channel: the converter stopped at an error.
                        if tx.send(Ok(df)).is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                }
            });
            let mut table: Option<Table> = None;
            let mut start = 0;
            for frame in rx {
                let frame = frame?;
                let rows = frame.height();
                let block = table_from_block(path, frame, start, &columns, &defs, labels, &mut seen)?;
                start += rows;
                match &mut table {
                    Some(t) => t.append(block),
                    None => {
                        let mut t = block;
                        t.reserve_exact(hint.saturating_sub(t.len()));
                        table = Some(t);
                    }
                }
            }
            table.ok_or_else(|| Error::EmptyTable { path: path.to_path_buf() })
        })
    }

    /// Whether the blocks carry snapshot dates.
    pub fn has_dates(&self) -> bool {
        self.columns.date.is_some()
    }

    /// The next block's rows as a frame, or None after the last.
    fn next_frame(&mut self) -> Result<Option<DataFrame>> {
        self.source.next_frame(&self.path, self.block_rows, self.next)
    }
}

impl Iterator for TableBlocks {
    type Item = Result<Table>;

    fn next(&mut self) -> Option<Result<Table>> {
        if self.done {
            return None;
        }
        let start = self.next;
        let block = match self.next_frame() {
            Ok(None) => {
                self.done = true;
                return None;
            }
            Ok(Some(df)) => {
                self.next += df.height();
                table_from_block(&self.path, df, start, &self.columns, &self.defs, self.labels, &mut self.seen)
            }
            Err(e) => Err(e),
        };
        // Nothing after an error: the caller stops there.
        self.done = block.is_err();
        Some(block)
    }
}

/// Fails with [`Error::NoLabels`] when a label vector has no 0/1 value.
pub fn require_labeled(t: &Table, labels: &[Option<u8>], column: &str, model: &str) -> Result<()> {
    if labels.iter().all(Option::is_none) {
        return Err(Error::NoLabels {
            path: t.path.clone(),
            column: column.into(),
            model: model.into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::spec::Category;
    use crate::data::write::{OutColumn, OutTable};

    fn defs() -> Vec<FeatureDef> {
        vec![
            FeatureDef {
                name: "x".into(),
                category: Category::Usage,
                categorical: false,
            },
            FeatureDef {
                name: "plan".into(),
                category: Category::Adoption,
                categorical: true,
            },
        ]
    }

    fn columns() -> Columns {
        Columns {
            date: None,
            upsell_label: None,
            revenue: None,
            ..Default::default()
        }
    }

    /// A table of `n` rows: ids A0.., x = row, plan alternating, churned = row % 2.
    fn file(dir: &Path, name: &str, n: usize, edit: impl Fn(usize, &mut (String, String))) -> PathBuf {
        let mut ids = vec![];
        let mut xs = vec![];
        for r in 0..n {
            let mut cell = (format!("A{r}"), r.to_string());
            edit(r, &mut cell);
            ids.push(Some(cell.0));
            xs.push(Some(cell.1));
        }
        let mut t = OutTable::default();
        t.push("account_id", OutColumn::Text(ids));
        t.push("x", OutColumn::Text(xs));
        t.push(
            "plan",
            OutColumn::Text((0..n).map(|r| Some(["pro", "basic"][r % 2].to_string())).collect()),
        );
        t.push("churned", OutColumn::Int((0..n).map(|r| Some(r as i64 % 2)).collect()));
        let path = dir.join(name);
        let format = crate::data::write::Format::from_path(&path).unwrap();
        std::fs::write(&path, t.render(format).unwrap()).unwrap();
        path
    }

    fn blocks(path: &Path, rows: usize) -> Result<Vec<Table>> {
        TableBlocks::open(path, &columns(), &defs(), Labels::Required, rows)?.collect()
    }

    /// The values of the first (numeric) feature across blocks, in order.
    fn first_feature(parts: &[Table]) -> Vec<f64> {
        parts
            .iter()
            .flat_map(|t| match &t.features[0].values {
                FeatureValues::Numeric(v) => v.clone(),
                _ => panic!("numeric"),
            })
            .collect()
    }

    #[test]
    fn blocks_hold_the_same_rows_as_one_read() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["t.csv", "t.parquet"] {
            let path = file(dir.path(), name, 23, |_, _| {});
            let whole = read_table(&path, &columns(), &defs(), Labels::Required).unwrap();
            let parts = blocks(&path, 5).unwrap();
            assert_eq!(parts.iter().map(Table::len).collect::<Vec<_>>(), [5, 5, 5, 5, 3], "{name}");
            let ids: Vec<String> = parts.iter().flat_map(|t| t.ids.clone()).collect();
            assert_eq!(ids, whole.ids);
            let x = first_feature(&parts);
            assert_eq!(FeatureValues::Numeric(x), whole.features[0].values);
            let risk: Vec<Option<u8>> = parts.iter().flat_map(|t| t.risk.clone().unwrap()).collect();
            assert_eq!(Some(risk), whole.risk);
        }
    }

    /// A whole read joins blocks: labels first met in a later block, missing
    /// cells and every column come out as from one frame of the file.
    #[test]
    fn whole_reads_join_blocks_with_levels_met_late() {
        let dir = tempfile::tempdir().unwrap();
        let n = 2 * READ_BLOCK_ROWS + 10;
        let mut t = OutTable::default();
        t.push("account_id", OutColumn::Text((0..n).map(|r| Some(format!("A{r}"))).collect()));
        t.push(
            "x",
            OutColumn::Float((0..n).map(|r| (r % 13 != 0).then_some(r as f64 / 8.0)).collect()),
        );
        let plan = |r: usize| match r {
            _ if r.is_multiple_of(17) => None,
            _ if r > READ_BLOCK_ROWS + 5 && r.is_multiple_of(3) => Some("enterprise".to_string()),
            _ => Some(["pro", "basic"][r % 2].to_string()),
        };
        t.push("plan", OutColumn::Text((0..n).map(plan).collect()));
        t.push("churned", OutColumn::Int((0..n).map(|r| Some(r as i64 % 2)).collect()));
        for name in ["late.csv", "late.parquet"] {
            let path = dir.path().join(name);
            std::fs::write(&path, t.render(crate::data::write::Format::from_path(&path).unwrap()).unwrap()).unwrap();
            let read = read_table(&path, &columns(), &defs(), Labels::Required).unwrap();
            let frame = read_frame_text(&path, &text_columns(&columns(), &defs())).unwrap();
            let one = table_from_frame(&path, frame, &columns(), &defs(), Labels::Required).unwrap();
            assert_eq!(read.len(), n, "{name}");
            assert!(read.ids == one.ids && read.risk == one.risk, "{name}");
            let (FeatureValues::Numeric(a), FeatureValues::Numeric(b)) = (&read.features[0].values, &one.features[0].values) else {
                panic!("numeric")
            };
            assert!(a.iter().map(|x| x.to_bits()).eq(b.iter().map(|x| x.to_bits())), "{name}: x");
            assert!(read.features[1] == one.features[1], "{name}: plan");
            let FeatureValues::Categorical(c) = &read.features[1].values else {
                panic!("categorical")
            };
            assert!(c.iter().map(|l| l.map(String::from)).eq((0..n).map(plan)), "{name}: plan");
            assert_eq!(c.levels().len(), 3, "{name}: each label once");
        }
    }

    /// Parquet blocks are cut from windows that end with a row group: blocks
    /// that straddle row groups, and windows that end mid-block, still hand
    /// out every row once and in order.
    #[test]
    fn parquet_blocks_cross_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("groups.parquet");
        let mut sink = crate::data::write::Sink::create(&path).unwrap();
        let mut first = 0;
        for n in [7, 9, 4, 1, 12] {
            let mut t = OutTable::default();
            t.push(
                "account_id",
                OutColumn::Text((first..first + n).map(|r| Some(format!("A{r}"))).collect()),
            );
            t.push("x", OutColumn::Float((first..first + n).map(|r| Some(r as f64)).collect()));
            t.push("plan", OutColumn::Text((0..n).map(|_| Some("pro".to_string())).collect()));
            t.push("churned", OutColumn::Int((0..n).map(|r| Some(r as i64 % 2)).collect()));
            sink.write(t).unwrap();
            first += n;
        }
        sink.finish().unwrap();
        for rows in [1, 2, 3, 5, 8, 40] {
            let parts = blocks(&path, rows).unwrap();
            let sizes: Vec<usize> = parts.iter().map(Table::len).collect();
            let mut expected = vec![rows; 33 / rows];
            expected.extend((33 % rows > 0).then_some(33 % rows));
            assert_eq!(sizes, expected, "blocks of {rows}");
            let ids: Vec<String> = parts.iter().flat_map(|t| t.ids.clone()).collect();
            assert_eq!(ids, (0..33).map(|r| format!("A{r}")).collect::<Vec<_>>(), "blocks of {rows}");
            let x = first_feature(&parts);
            assert_eq!(x, (0..33).map(|r| r as f64).collect::<Vec<_>>(), "blocks of {rows}");
        }
    }

    /// CSV blocks end only at record ends: quoted cells with line breaks,
    /// commas and quotes, CRLF line ends and a last line without one.
    #[test]
    fn csv_blocks_end_between_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.csv");
        let mut text = String::from("account_id,x,plan,churned\r\n");
        for r in 0..11 {
            let plan = if r % 3 == 0 { "\"multi\r\nline, \"\"quoted\"\"\"" } else { "basic" };
            text += &format!("A{r},{r}.5,{plan},{}", r % 2);
            if r < 10 {
                text += "\r\n";
            }
        }
        std::fs::write(&path, text).unwrap();
        let whole = read_table(&path, &columns(), &defs(), Labels::Required).unwrap();
        assert_eq!(whole.len(), 11);
        for rows in [1, 2, 4, 100] {
            let parts = blocks(&path, rows).unwrap();
            assert_eq!(parts.len(), 11_usize.div_ceil(rows), "blocks of {rows}");
            let ids: Vec<String> = parts.iter().flat_map(|t| t.ids.clone()).collect();
            assert_eq!(ids, whole.ids, "blocks of {rows}");
            for k in 0..2 {
                let values: Vec<FeatureValues> = parts.iter().map(|t| t.features[k].values.clone()).collect();
                let joined = match &whole.features[k].values {
                    FeatureValues::Numeric(_) => FeatureValues::Numeric(
                        values
                            .iter()
                            .flat_map(|v| if let FeatureValues::Numeric(v) = v { v.clone() } else { vec![] })
                            .collect(),
                    ),
                    FeatureValues::Categorical(_) => FeatureValues::Categorical(
                        values
                            .iter()
                            .flat_map(|v| match v {
                                FeatureValues::Categorical(v) => v.iter().map(|l| l.map(str::to_string)).collect(),
                                FeatureValues::Numeric(_) => vec![],
                            })
                            .collect(),
                    ),
                };
                assert_eq!(joined, whole.features[k].values, "feature {k}, blocks of {rows}");
            }
        }
        let FeatureValues::Categorical(plans) = &whole.features[1].values else {
            panic!("categorical")
        };
        assert_eq!(plans.get(3), Some("multi\r\nline, \"quoted\""));
    }

    /// Categorical cells are read as codes: blank and NA cells are missing,
    /// labels are trimmed, and a selection keeps the labels of its rows.
    #[test]
    fn categories_read_as_codes_keep_their_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.csv");
        std::fs::write(
            &path,
            "account_id,x,plan,churned\nA,1,pro ,1\nB,2,,0\nC,3,basic,0\nD,4,NA,1\nE,5,pro,0\n",
        )
        .unwrap();
        let t = read_table(&path, &columns(), &defs(), Labels::Required).unwrap();
        let FeatureValues::Categorical(plan) = &t.features[1].values else {
            panic!("categorical")
        };
        let labels: Vec<Option<&str>> = plan.iter().collect();
        assert_eq!(labels, [Some("pro"), None, Some("basic"), None, Some("pro")]);
        assert_eq!(plan.levels(), ["pro", "basic"]);
        let picked = plan.select(&[4, 3, 2]);
        assert_eq!(picked.iter().collect::<Vec<_>>(), [Some("pro"), None, Some("basic")]);
        // Equal by label, whatever the numbering of the levels.
        assert_eq!(picked, Categories::from_labels([Some("pro"), None, Some("basic")]));
        assert_ne!(picked, Categories::from_labels([Some("pro"), Some("basic"), None]));
        let slots = picked.map_levels(|l| l.map_or(0, str::len));
        assert_eq!((0..3).map(|r| slots[picked.slot(r)]).collect::<Vec<_>>(), [3, 0, 5]);
    }

    #[test]
    fn zero_padded_ids_keep_their_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.csv");
        std::fs::write(&path, "account_id,x,plan,churned\n007,1,pro,1\n0420,2,basic,0\n").unwrap();
        let whole = read_table(&path, &columns(), &defs(), Labels::Required).unwrap();
        assert_eq!(whole.ids, ["007", "0420"]);
        let parts = blocks(&path, 1).unwrap();
        assert_eq!(parts.iter().flat_map(|t| t.ids.clone()).collect::<Vec<_>>(), ["007", "0420"]);
    }

    #[test]
    fn empty_csv_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [("empty.csv", ""), ("header.csv", "account_id,x,plan,churned\n")] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let err = TableBlocks::open(&path, &columns(), &defs(), Labels::Required, 4)
                .err()
                .expect("an error");
            assert!(matches!(err, Error::EmptyTable { .. }), "{name}: {err}");
        }
    }

    #[test]
    fn seen_ids_tell_a_repeat_from_a_near_miss() {
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 1, d);
        // Room for two: the table grows past it.
        let mut seen = Seen::with_capacity(2);
        // (id, date, the earlier row it repeats)
        let rows = [
            ("A1", day(1), None),
            ("A12", day(1), None),
            ("A", day(1), None),
            ("", None, None),
            ("A1", day(2), None),
            ("A12", day(1), Some(1)),
            ("", None, Some(3)),
            ("A1", None, None),
            ("A1", day(2), Some(4)),
        ];
        // A repeat is not recorded (the reader stops there), so the repeats
        // here all point at rows before the first one.
        for (row, (id, date, repeat)) in rows.into_iter().enumerate() {
            assert_eq!(seen.insert(id, date), repeat, "row {row}: {id} {date:?}");
        }
    }

    #[test]
    fn labels_are_read_from_numbers_booleans_and_text() {
        let path = Path::new("live.parquet");
        let ok = |c: Column| -> Vec<Option<u8>> {
            let df = DataFrame::new_infer_height(vec![c]).unwrap();
            Frame::new(path, &df).labels("y", "risk label", None).unwrap()
        };
        let err = |c: Column| -> String {
            let df = DataFrame::new_infer_height(vec![c]).unwrap();
            Frame::new(path, &df).labels("y", "risk label", None).unwrap_err().to_string()
        };
        let want = vec![Some(1), None, Some(0)];
        assert_eq!(ok(Column::new("y".into(), [Some(1i64), None, Some(0)])), want);
        assert_eq!(ok(Column::new("y".into(), [Some(1i32), None, Some(0)])), want);
        assert_eq!(ok(Column::new("y".into(), [Some(1.0f64), None, Some(0.0)])), want);
        assert_eq!(ok(Column::new("y".into(), [Some(true), None, Some(false)])), want);
        assert_eq!(ok(Column::new("y".into(), [Some("1"), Some(""), Some("0")])), want);
        assert_eq!(ok(Column::new("y".into(), [Some("Yes"), None, Some("no")])), want);
        assert_eq!(ok(Column::new("y".into(), [Some("Y"), Some(" "), Some("N")])), want);
        assert_eq!(ok(Column::new("y".into(), [Some("TRUE"), None, Some("False")])), want);
        // Named values, case-insensitive; a value not named is an error with its row.
        let values = LabelValues {
            positive: vec!["Churned".into()],
            negative: vec!["Renewed".into(), "Active".into()],
        };
        let df = DataFrame::new_infer_height(vec![Column::new("y".into(), [Some("churned"), None, Some("ACTIVE")])]).unwrap();
        assert_eq!(Frame::new(path, &df).labels("y", "risk label", Some(&values)).unwrap(), want);
        let df = DataFrame::new_infer_height(vec![Column::new("y".into(), ["Renewed", "Paused"])]).unwrap();
        let msg = Frame::new(path, &df)
            .labels("y", "risk label", Some(&values))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("row 2") && msg.contains("`Paused`"), "{msg}");
        for (c, value) in [
            (Column::new("y".into(), [1i64, 2]), "`2`"),
            (Column::new("y".into(), [1.0f64, f64::NAN]), "`NaN`"),
            (Column::new("y".into(), [0.0f64, 0.5]), "`0.5`"),
            (Column::new("y".into(), ["1", "maybe"]), "`maybe`"),
        ] {
            let msg = err(c);
            assert!(
                msg.contains("row 2") && msg.contains(value) && msg.contains("live.parquet"),
                "{msg}"
            );
        }
    }

    /// A CSV block is parsed with the types of the block before; when a cell
    /// does not fit them (a fraction in a column of integers so far, a word),
    /// that block's types are inferred again: no value is lost or changed.
    #[test]
    fn csv_blocks_read_cells_that_change_type() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), "types.csv", 20, |r, c| match r {
            13 => c.1 = "2.5".into(),
            17 => c.1 = String::new(),
            18 => c.1 = "NA".into(),
            _ => {}
        });
        let parts = blocks(&path, 4).unwrap();
        let want: Vec<u64> = (0..20)
            .map(|r| match r {
                13 => 2.5,
                17 | 18 => f64::NAN,
                _ => r as f64,
            })
            .map(f64::to_bits)
            .collect();
        let got: Vec<u64> = first_feature(&parts).into_iter().map(f64::to_bits).collect();
        assert_eq!(got, want);
        let FeatureValues::Numeric(whole) = read_table(&path, &columns(), &defs(), Labels::Required).unwrap().features[0]
            .values
            .clone()
        else {
            panic!("numeric")
        };
        assert_eq!(whole.into_iter().map(f64::to_bits).collect::<Vec<_>>(), want);
    }

    #[test]
    fn errors_in_later_blocks_name_the_row_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        // (what changes, on which 0-based row, what the error must say)
        type Edit = fn(&mut (String, String));
        let cases: [(&str, usize, Edit, [&str; 3]); 2] = [
            // Row 18 repeats the id of row 3: they sit in different blocks.
            ("dup", 17, |c| c.0 = "A2".into(), ["row 18", "row 3", "A2"]),
            // A text cell on row 15 (the fourth block of 4 rows).
            ("bad", 14, |c| c.1 = "abc".into(), ["row 15", "`x`", "expected a number"]),
        ];
        for ext in ["csv", "parquet"] {
            for (name, row, edit, expected) in cases {
                let path = file(dir.path(), &format!("{name}.{ext}"), 20, |r, c| {
                    if r == row {
                        edit(c);
                    }
                });
                let msg = blocks(&path, 4).unwrap_err().to_string();
                assert!(expected.iter().all(|e| msg.contains(e)), "{name}.{ext}: {msg}");
            }
        }
    }
}
