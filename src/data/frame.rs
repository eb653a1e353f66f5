//! Column access on a polars frame with errors that name the file, the column
//! and the first offending row: numbers, text, categories, dates and labels.

use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::*;

use crate::data::spec::LabelValues;
use crate::data::values::Categories;
use crate::error::{Error, Result};

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

    pub(crate) fn column(&self, name: &str, role: &str) -> Result<&'a Column> {
        self.df.column(name).map_err(|_| Error::MissingColumn {
            path: self.path.to_path_buf(),
            column: name.to_string(),
            role: role.to_string(),
            available: column_list(self.names()),
        })
    }

    pub(crate) fn bad(&self, column: &str, row: usize, message: String) -> Error {
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

/// A table's column names for an error message: the first twelve, then `...`.
pub(crate) fn column_list(mut names: Vec<String>) -> String {
    if names.len() > 12 {
        names.truncate(12);
        names.push("...".into());
    }
    names.join(", ")
}

/// Parses `YYYY-MM-DD` (a trailing time part is ignored).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let day = s.get(..10).unwrap_or(s);
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .filter(|_| s.len() == 10 || s.as_bytes().get(10).is_some_and(|c| *c == b'T' || *c == b' '))
}
