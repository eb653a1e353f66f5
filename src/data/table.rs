//! Reading account tables (CSV or Parquet, by extension) with polars, checking
//! them against the spec, and turning them into plain vectors: ids, dates,
//! labels, revenue, segment and one column of values per feature.
//!
//! This is one of the two modules that import polars; everything downstream
//! works on the [`Table`] it returns. Every problem is reported with the file,
//! the column and the first offending row (1-based, header not counted).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;

use crate::data::spec::{Columns, FeatureDef};
use crate::error::{Error, Result};

/// The values of one feature column.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureValues {
    /// Numbers; a missing cell is NaN.
    Numeric(Vec<f64>),
    /// Category labels; a missing cell is `None`.
    Categorical(Vec<Option<String>>),
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
                        FeatureValues::Categorical(v) => FeatureValues::Categorical(pick(v, rows)),
                    },
                })
                .collect(),
        }
    }

    /// The feature with this name.
    pub fn feature(&self, name: &str) -> Option<&RawFeature> {
        self.features.iter().find(|f| f.def.name == name)
    }

    /// The label vector of a model, if present.
    pub fn labels(&self, target: crate::model::Target) -> Option<&Vec<Option<u8>>> {
        match target {
            crate::model::Target::Risk => self.risk.as_ref(),
            crate::model::Target::Upsell => self.upsell.as_ref(),
        }
    }
}

/// Reads a CSV or Parquet file into a polars frame, by extension.
///
/// CSV is first read with inferred types; if a column does not parse as its
/// inferred type further down, the file is read again as text so that the
/// checks below can name the offending row.
pub fn read_frame(path: &Path) -> Result<DataFrame> {
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
            let read = |infer: Option<usize>| {
                CsvReadOptions::default()
                    .with_has_header(true)
                    .with_infer_schema_length(infer)
                    .try_into_reader_with_file_path(Some(path.to_path_buf()))
                    .and_then(|r| r.finish())
            };
            match read(Some(10_000)) {
                Ok(df) => df,
                Err(_) => read(Some(0)).map_err(table_err)?,
            }
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

/// Cells read as missing in text columns (besides empty).
fn is_missing_text(s: &str) -> bool {
    matches!(s, "" | "NA" | "N/A" | "na" | "null" | "NULL" | "None")
}

/// A frame with its path, for column access with good errors.
pub struct Frame<'a> {
    pub path: &'a Path,
    pub df: &'a DataFrame,
}

impl<'a> Frame<'a> {
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
            row: row + 1,
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

    /// A 0/1 label column: 1, 0 or empty; anything else (2, NaN, "yes") is an error.
    pub fn labels(&self, name: &str, role: &str) -> Result<Vec<Option<u8>>> {
        let col = self.column(name, role)?;
        let text = col.cast(&DataType::String).map_err(|e| self.bad(name, 0, e.to_string()))?;
        let ca = text.str().map_err(|e| self.bad(name, 0, e.to_string()))?;
        let mut out = Vec::with_capacity(ca.len());
        for (i, v) in ca.iter().enumerate() {
            let v = v.map(str::trim).unwrap_or("");
            out.push(match v {
                "" => None,
                "1" | "1.0" | "true" => Some(1),
                "0" | "0.0" | "false" => Some(0),
                other => return Err(self.bad(name, i, format!("label must be 1, 0 or empty, found `{other}`"))),
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
    table_from_frame(path, read_frame(path)?, columns, defs, labels)
}

/// As [`read_table`], but a date column the spec names and the file lacks is
/// skipped instead of being an error: live tables and tables for the hand-built
/// score often hold one snapshot without a date. The file is read once.
pub fn read_table_date_optional(path: &Path, columns: &Columns, defs: &[FeatureDef], labels: Labels) -> Result<Table> {
    let df = read_frame(path)?;
    let mut columns = columns.clone();
    if columns.date.as_ref().is_some_and(|d| df.column(d).is_err()) {
        columns.date = None;
    }
    table_from_frame(path, df, &columns, defs, labels)
}

/// Checks a frame and turns it into a [`Table`]. Feature columns leave the
/// frame as they are converted, so the frame and the table are not both held
/// in full.
pub fn table_from_frame(path: &Path, mut df: DataFrame, columns: &Columns, defs: &[FeatureDef], labels: Labels) -> Result<Table> {
    let f = &Frame { path, df: &df };
    let ids: Vec<String> = {
        let raw = f.strings(&columns.id, "account id")?;
        raw.into_iter()
            .enumerate()
            .map(|(i, v)| v.ok_or_else(|| f.bad(&columns.id, i, "the account id is empty; every row needs one".into())))
            .collect::<Result<_>>()?
    };
    let dates = match &columns.date {
        Some(c) => Some(f.dates(c, "snapshot date")?),
        None => None,
    };
    check_duplicates(f, &columns.id, &ids, dates.as_deref())?;
    let label = |c: &Option<String>, role: &str| -> Result<Option<Vec<Option<u8>>>> {
        match c {
            Some(c) if labels == Labels::Required || f.has(c) => Ok(Some(f.labels(c, role)?)),
            _ => Ok(None),
        }
    };
    let risk = label(&columns.risk_label, "risk label")?;
    let upsell = label(&columns.upsell_label, "upsell label")?;
    let revenue = match &columns.revenue {
        Some(c) if f.has(c) || labels == Labels::Required => Some(f.numbers(c, "revenue")?),
        _ => None,
    };
    let segment = match &columns.segment {
        Some(c) => Some(
            f.strings(c, "segment")?
                .into_iter()
                .map(|s| s.unwrap_or_else(|| "(missing)".into()))
                .collect(),
        ),
        None => None,
    };
    // Every feature column must exist (named against the whole frame) before any is moved out.
    for d in defs {
        f.column(&d.name, &format!("{} feature", d.category))?;
    }
    let mut features = Vec::with_capacity(defs.len());
    for d in defs {
        let col = df.drop_in_place(&d.name).expect("checked above");
        let single = DataFrame::new_infer_height(vec![col]).map_err(|e| Error::Table {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let f = &Frame { path, df: &single };
        let values = if d.categorical {
            FeatureValues::Categorical(f.strings(&d.name, &format!("{} feature", d.category))?)
        } else {
            FeatureValues::Numeric(
                f.numbers(&d.name, &format!("{} feature", d.category))?
                    .into_iter()
                    .map(|v| v.unwrap_or(f64::NAN))
                    .collect(),
            )
        };
        features.push(RawFeature { def: d.clone(), values });
    }
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

fn check_duplicates(f: &Frame<'_>, id_col: &str, ids: &[String], dates: Option<&[NaiveDate]>) -> Result<()> {
    let mut seen: HashMap<(&str, Option<NaiveDate>), usize> = HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let d = dates.map(|d| d[i]);
        if let Some(first) = seen.insert((id.as_str(), d), i) {
            return Err(Error::Duplicate {
                path: f.path.to_path_buf(),
                column: id_col.to_string(),
                row: i + 1,
                first: first + 1,
                id: id.clone(),
                date: d.map(|d| format!(" on {d}")).unwrap_or_default(),
            });
        }
    }
    Ok(())
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
