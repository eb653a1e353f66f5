//! A column's profile: its kind (numbers, text, dates, booleans), distinct
//! values, missing share, and the words of its name.

use super::*;

/// What a column holds, from its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Every cell that is not empty is a number; `integer` when all are whole.
    Number {
        integer: bool,
    },
    Bool,
    Date,
    Text,
}

/// One column's facts.
#[derive(Debug, Clone)]
pub(super) struct Profile {
    pub(super) name: String,
    pub(super) words: Vec<String>,
    pub(super) kind: Kind,
    /// Cells that are not empty.
    pub(super) filled: usize,
    /// Distinct values among them.
    pub(super) distinct: usize,
    /// The distinct values as text (trimmed), when there are at most 32.
    pub(super) values: Option<Vec<String>>,
    /// The cells as text, for the checks that pair two columns.
    pub(super) text: Vec<Option<String>>,
}

pub(super) const MAX_LISTED: usize = 32;

pub(super) fn profile(name: &str, col: &Column) -> Result<Profile> {
    let s = col.as_materialized_series();
    let text: Vec<Option<String>> = if matches!(s.dtype(), DataType::Date | DataType::Datetime(_, _)) {
        let c = s.cast(&DataType::String).map_err(|e| Error::Table {
            path: Default::default(),
            message: format!("column `{name}`: {e}"),
        })?;
        c.str()
            .expect("cast to text")
            .iter()
            .map(|v| v.map(|v| v[..v.len().min(10)].to_string()))
            .collect()
    } else {
        let c = s.cast(&DataType::String).map_err(|e| Error::Table {
            path: Default::default(),
            message: format!("column `{name}` cannot be read as text: {e}"),
        })?;
        c.str()
            .expect("cast to text")
            .iter()
            .map(|v| v.map(str::trim).filter(|v| !is_missing_text(v)).map(str::to_string))
            .collect()
    };
    let filled = text.iter().flatten().count();
    let mut set: HashSet<&str> = HashSet::new();
    for v in text.iter().flatten() {
        set.insert(v.as_str());
    }
    let distinct = set.len();
    let mut values: Option<Vec<String>> = (distinct <= MAX_LISTED).then(|| set.iter().map(|s| s.to_string()).collect());
    if let Some(v) = &mut values {
        v.sort();
    }
    let kind = match s.dtype() {
        DataType::Boolean => Kind::Bool,
        DataType::Date | DataType::Datetime(_, _) => Kind::Date,
        dt if dt.is_integer() => Kind::Number { integer: true },
        dt if dt.is_float() => Kind::Number {
            integer: text.iter().flatten().all(|v| v.parse::<f64>().is_ok_and(|x| x.fract() == 0.0)),
        },
        _ => {
            let lower = |v: &str| v.to_ascii_lowercase();
            if filled > 0 && text.iter().flatten().all(|v| v.parse::<f64>().is_ok_and(f64::is_finite)) {
                Kind::Number {
                    integer: text.iter().flatten().all(|v| v.parse::<f64>().is_ok_and(|x| x.fract() == 0.0)),
                }
            } else if filled > 0 && text.iter().flatten().all(|v| parse_date(v).is_some()) {
                Kind::Date
            } else if filled > 0 && text.iter().flatten().all(|v| matches!(lower(v).as_str(), "true" | "false")) {
                Kind::Bool
            } else {
                Kind::Text
            }
        }
    };
    Ok(Profile {
        name: name.to_string(),
        words: words(name),
        kind,
        filled,
        distinct,
        values,
        text,
    })
}

/// The lowercase words of a column name: `customerID` → `customer`, `id`;
/// `logins_30d` → `logins`, `30d`.
pub(super) fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1);
        let boundary =
            c.is_uppercase() && prev.is_some_and(|p| p.is_lowercase() || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase())));
        if boundary && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub(super) fn has_word(p: &Profile, list: &[&str]) -> bool {
    p.words
        .iter()
        .any(|w| list.iter().any(|k| w == k || (k.len() >= 4 && w.starts_with(k))))
}
