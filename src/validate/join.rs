//! Joining a scores file with the outcomes that followed (and, optionally,
//! another scores file of the same accounts) by account id, and snapshot date
//! when both files have one.

use std::collections::HashMap;
use std::path::Path;

use polars::prelude::DataFrame;

use crate::data::spec::{Columns, LabelValues};
use crate::data::{
    frame::{parse_date, Frame},
    read::read_frame_text,
};
use crate::error::{Error, Result};

/// The outcome table's columns. By default `account_id`, `snapshot_date`,
/// `churned`, `expanded` and `arr`; for the scores of a known version, the
/// names its spec gives those roles, with its label values, so that the table
/// the model was trained from validates as it is. A role whose spec name the
/// table lacks falls back to the default name.
///
/// ```
/// use healthscore::{validate::join::OutcomeColumns, Spec};
/// let spec = Spec::parse("[columns]\nid = \"customerID\"\nrisk_label = \"Churn\"\n[features]\nusage = [\"tenure\"]\n", "x.toml".as_ref())?;
/// let c = OutcomeColumns::of_spec(&spec.columns);
/// assert_eq!((c.id.as_str(), c.churned.as_str()), ("customerID", "Churn"));
/// assert_eq!(OutcomeColumns::default().id, "account_id");
/// # Ok::<(), healthscore::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeColumns {
    pub id: String,
    pub date: Option<String>,
    pub churned: String,
    pub expanded: String,
    pub arr: String,
    /// How the `churned` column writes its labels, when not 1/0, yes/no or true/false.
    pub churned_values: Option<LabelValues>,
    /// The same for `expanded`.
    pub expanded_values: Option<LabelValues>,
}

impl Default for OutcomeColumns {
    fn default() -> Self {
        OutcomeColumns {
            id: "account_id".into(),
            date: Some("snapshot_date".into()),
            churned: "churned".into(),
            expanded: "expanded".into(),
            arr: "arr".into(),
            churned_values: None,
            expanded_values: None,
        }
    }
}

impl OutcomeColumns {
    /// The roles of a spec's `[columns]`.
    pub fn of_spec(c: &Columns) -> OutcomeColumns {
        let d = OutcomeColumns::default();
        OutcomeColumns {
            id: c.id.clone(),
            date: c.date.clone(),
            churned: c.risk_label.clone().unwrap_or(d.churned),
            expanded: c.upsell_label.clone().unwrap_or(d.expanded),
            arr: c.revenue.clone().unwrap_or(d.arr),
            churned_values: c.risk_values.clone(),
            expanded_values: c.upsell_values.clone(),
        }
    }

    /// The names to read from a table with columns `has`: each role's own
    /// when present, else the default (whose labels are read without the
    /// spec's values).
    fn in_table(&self, has: impl Fn(&str) -> bool) -> OutcomeColumns {
        let d = OutcomeColumns::default();
        let pick = |own: &String, default: String| if has(own) { own.clone() } else { default };
        let date = match &self.date {
            Some(own) if has(own) => Some(own.clone()),
            _ => d.date.clone(),
        };
        OutcomeColumns {
            id: if self.id.is_empty() { String::new() } else { pick(&self.id, d.id) },
            date,
            churned: pick(&self.churned, d.churned.clone()),
            expanded: pick(&self.expanded, d.expanded.clone()),
            arr: pick(&self.arr, d.arr),
            churned_values: self.churned_values.clone().filter(|_| has(&self.churned)),
            expanded_values: self.expanded_values.clone().filter(|_| has(&self.expanded)),
        }
    }

    /// The key columns, read as text in every file (`007` stays `007`).
    fn key_columns(&self) -> Vec<&str> {
        let mut v = vec!["account_id", "snapshot_date", self.id.as_str()];
        v.extend(self.date.as_deref());
        v.retain(|c| !c.is_empty());
        v
    }
}

/// Row-aligned joined data. Risk / upsell figures are `None` where missing.
#[derive(Debug, Clone, Default)]
pub struct Joined {
    pub ids: Vec<String>,
    pub risk: Vec<Option<f64>>,
    pub health: Vec<Option<f64>>,
    pub upsell: Vec<Option<f64>>,
    pub action: Vec<Option<String>>,
    pub rules_health: Option<Vec<Option<f64>>>,
    pub segment: Option<Vec<Option<String>>>,
    pub churned: Vec<Option<u8>>,
    pub expanded: Vec<Option<u8>>,
    pub arr: Option<Vec<Option<f64>>>,
    /// Risk of the `--compare` file, when given.
    pub compare: Option<Vec<Option<f64>>>,
    pub model_version: Option<String>,
    pub unmatched_scores: usize,
    pub unmatched_outcomes: usize,
}

fn keys(f: &Frame<'_>, (id, date): (&str, Option<&str>)) -> Result<Vec<Option<String>>> {
    // No id column (a spec's `id = ""`): accounts are named by their row, as `score` names them.
    let ids = if id.is_empty() {
        (1..=f.df.height()).map(|r| Some(r.to_string())).collect()
    } else {
        f.strings(id, "account id")?
    };
    let Some(date) = date else {
        return Ok(ids);
    };
    let dates = f.strings(date, "snapshot date")?;
    Ok(ids
        .into_iter()
        .zip(dates)
        .map(|(i, d)| {
            // `2026-06-30T00:00:00` in the outcomes is the scores' `2026-06-30`.
            let d = d.unwrap_or_default();
            let day = parse_date(&d).map_or(d, |day| day.to_string());
            i.map(|i| format!("{i}\u{1f}{day}"))
        })
        .collect())
}

fn index(path: &Path, column: &str, keys: &[Option<String>]) -> Result<HashMap<String, usize>> {
    let mut m = HashMap::with_capacity(keys.len());
    for (r, k) in keys.iter().enumerate() {
        if let Some(k) = k {
            if let Some(first) = m.insert(k.clone(), r) {
                let id = k.split('\u{1f}').next().unwrap_or_default().to_string();
                return Err(Error::Duplicate {
                    path: path.into(),
                    column: column.into(),
                    row: r + 1,
                    first: first + 1,
                    id,
                    date: String::new(),
                });
            }
        }
    }
    Ok(m)
}

/// Reads and joins. `segment_column` names the segment column of the scores
/// file; `columns` the outcome table's columns.
pub fn join(
    scores: &Path,
    outcomes: &Path,
    compare: Option<&Path>,
    segment_column: Option<&str>,
    columns: &OutcomeColumns,
) -> Result<Joined> {
    // Keys are text however they look (`007` stays `007`), in every file.
    let mut keys_text = columns.key_columns();
    keys_text.extend(segment_column);
    let sdf = read_frame_text(scores, &keys_text)?;
    let odf = read_frame_text(outcomes, &keys_text)?;
    let cdf = compare.map(|c| read_frame_text(c, &keys_text)).transpose()?;
    join_frames((scores, &sdf), (outcomes, &odf), compare.zip(cdf.as_ref()), segment_column, columns)
}

/// Joins tables already in memory, each with the name (a file's path, or a
/// name that stands for it) its errors quote.
pub fn join_frames(
    (scores, sdf): (&Path, &DataFrame),
    (outcomes, odf): (&Path, &DataFrame),
    compare: Option<(&Path, &DataFrame)>,
    segment_column: Option<&str>,
    columns: &OutcomeColumns,
) -> Result<Joined> {
    let s = Frame::new(scores, sdf);
    let o = Frame::new(outcomes, odf);
    let oc = columns.in_table(|n| o.has(n));
    let odate = oc.date.as_deref().filter(|d| s.has("snapshot_date") && o.has(d));
    let use_date = odate.is_some();
    let skeys = keys(&s, ("account_id", odate.map(|_| "snapshot_date")))?;
    let okeys = keys(&o, (&oc.id, odate))?;
    let oidx = index(outcomes, &oc.id, &okeys)?;
    index(scores, "account_id", &skeys)?;
    if !o.has(&oc.churned) && !o.has(&oc.expanded) {
        return Err(Error::MissingColumn {
            path: outcomes.into(),
            column: oc.churned.clone(),
            role: "outcome (churned and/or expanded)".into(),
            available: o.names().join(", "),
        });
    }
    let probabilities = |name: &str, role: &str| -> Result<Vec<Option<f64>>> {
        let v = s.numbers(name, role)?;
        // A score is a probability: anything else is not a scores file of ours.
        if let Some(r) = v.iter().position(|x| x.is_some_and(|x| !(0.0..=1.0).contains(&x))) {
            return Err(Error::BadValue {
                path: scores.into(),
                column: name.into(),
                row: r + 1,
                message: format!("{} is not a probability between 0 and 1", v[r].unwrap_or(f64::NAN)),
            });
        }
        Ok(v)
    };
    let risk = if s.has("risk") {
        probabilities("risk", "risk score")?
    } else {
        vec![None; sdf.height()]
    };
    let upsell = if s.has("upsell") {
        probabilities("upsell", "upsell score")?
    } else {
        vec![None; sdf.height()]
    };
    let health = if s.has("health") {
        s.numbers("health", "health score")?
    } else {
        risk.iter().map(|r| r.map(crate::data::spec::health_of)).collect()
    };
    let action = if s.has("action") {
        s.strings("action", "action")?
    } else {
        vec![None; sdf.height()]
    };
    let rules = if s.has("rules_health") {
        Some(s.numbers("rules_health", "hand-built health")?)
    } else {
        None
    };
    let seg = match segment_column {
        Some(c) if s.has(c) => Some(s.strings(c, "segment")?),
        _ => None,
    };
    let churned = if o.has(&oc.churned) {
        o.labels(&oc.churned, "churn outcome", oc.churned_values.as_ref())?
    } else {
        vec![None; odf.height()]
    };
    let expanded = if o.has(&oc.expanded) {
        o.labels(&oc.expanded, "expansion outcome", oc.expanded_values.as_ref())?
    } else {
        vec![None; odf.height()]
    };
    let arr = if o.has(&oc.arr) {
        Some(o.numbers(&oc.arr, "revenue")?)
    } else {
        None
    };
    let model_version = if s.has("model_version") {
        s.strings("model_version", "model version")?.into_iter().flatten().next()
    } else {
        None
    };

    let mut j = Joined {
        model_version,
        ..Default::default()
    };
    let mut matched_outcomes = 0;
    for (r, k) in skeys.iter().enumerate() {
        let Some(orow) = k.as_ref().and_then(|k| oidx.get(k)).copied() else {
            continue;
        };
        matched_outcomes += 1;
        j.ids
            .push(k.clone().unwrap_or_default().split('\u{1f}').next().unwrap_or_default().to_string());
        j.risk.push(risk[r]);
        j.upsell.push(upsell[r]);
        j.health.push(health[r]);
        j.action.push(action[r].clone());
        if let Some(v) = &rules {
            j.rules_health.get_or_insert_with(Vec::new).push(v[r]);
        }
        if let Some(v) = &seg {
            j.segment.get_or_insert_with(Vec::new).push(v[r].clone());
        }
        j.churned.push(churned[orow]);
        j.expanded.push(expanded[orow]);
        if let Some(a) = &arr {
            j.arr.get_or_insert_with(Vec::new).push(a[orow]);
        }
    }
    j.unmatched_scores = sdf.height() - j.ids.len();
    j.unmatched_outcomes = odf.height() - matched_outcomes;
    if j.ids.is_empty() {
        return Err(Error::Input(format!(
            "no row of {} joins a row of {} on account_id = {}{}; are they of the same accounts and quarter?",
            scores.display(),
            outcomes.display(),
            oc.id,
            odate.map(|d| format!(" and snapshot_date = {d}")).unwrap_or_default()
        )));
    }
    if let Some((c, cdf)) = compare {
        let cf = Frame::new(c, cdf);
        let cdate = use_date && cf.has("snapshot_date");
        let ck = keys(&cf, ("account_id", cdate.then_some("snapshot_date")))?;
        let cidx = index(c, "account_id", &ck)?;
        let crisk = cf.numbers("risk", "risk score of the compared scores")?;
        let joined_keys: Vec<Option<String>> = skeys
            .iter()
            .filter(|k| k.as_ref().is_some_and(|k| oidx.contains_key(k)))
            .cloned()
            .collect();
        j.compare = Some(
            joined_keys
                .iter()
                .map(|k| {
                    let k = k.as_ref()?;
                    let k = if cdate {
                        k.clone()
                    } else {
                        k.split('\u{1f}').next().unwrap_or_default().to_string()
                    };
                    cidx.get(&k).and_then(|&r| crisk[r])
                })
                .collect(),
        );
    }
    Ok(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zero-padded ids join as written: a Parquet scores file holds `007` as
    /// text, and the CSV outcomes must not read it as the number 7.
    #[test]
    fn zero_padded_ids_join_across_formats() {
        use crate::data::write::{Format, OutColumn, OutTable};
        let dir = tempfile::tempdir().unwrap();
        let ids = || OutColumn::Text(["007", "0420"].map(|s| Some(s.to_string())).to_vec());
        let mut scores = OutTable::default();
        scores.push("account_id", ids());
        scores.push("risk", OutColumn::Num(vec![0.2, 0.7]));
        let mut outcomes = OutTable::default();
        outcomes.push("account_id", ids());
        outcomes.push("churned", OutColumn::Int(vec![Some(0), Some(1)]));
        let s = dir.path().join("scores.parquet");
        let o = dir.path().join("outcomes.csv");
        std::fs::write(&s, scores.render(Format::Parquet).unwrap()).unwrap();
        std::fs::write(&o, outcomes.render(Format::Csv).unwrap()).unwrap();
        let j = join(&s, &o, None, None, &OutcomeColumns::default()).unwrap();
        assert_eq!(j.ids, ["007", "0420"]);
        assert_eq!(j.churned, [Some(0), Some(1)]);
        assert_eq!(j.unmatched_scores, 0);
    }

    /// Outcomes under the names of the spec (and its label values) join as
    /// the defaults do; a role the table lacks falls back to its default name.
    #[test]
    fn outcomes_are_read_under_the_spec_names() {
        use crate::data::write::{Format, OutColumn, OutTable};
        let dir = tempfile::tempdir().unwrap();
        let text = |v: &[&str]| OutColumn::Text(v.iter().map(|s| Some(s.to_string())).collect());
        let mut scores = OutTable::default();
        scores.push("account_id", text(&["a", "b", "c"]));
        scores.push("risk", OutColumn::Num(vec![0.2, 0.7, 0.4]));
        let mut outcomes = OutTable::default();
        outcomes.push("customerID", text(&["c", "b", "a"]));
        outcomes.push("Status", text(&["Renewed", "churned", "RENEWED"]));
        outcomes.push("arr", OutColumn::Float(vec![Some(1.0), Some(2.0), Some(3.0)]));
        let (s, o) = (dir.path().join("scores.csv"), dir.path().join("outcomes.csv"));
        std::fs::write(&s, scores.render(Format::Csv).unwrap()).unwrap();
        std::fs::write(&o, outcomes.render(Format::Csv).unwrap()).unwrap();
        let spec = crate::data::spec::Spec::parse(
            "[columns]\nid = \"customerID\"\nrisk_label = \"Status\"\nrevenue = \"ARR\"\nrisk_values = { positive = [\"Churned\"], negative = [\"Renewed\"] }\n[features]\nusage = [\"x\"]\n",
            "x.toml".as_ref(),
        )
        .unwrap();
        let j = join(&s, &o, None, None, &OutcomeColumns::of_spec(&spec.columns)).unwrap();
        assert_eq!(j.ids, ["a", "b", "c"]);
        assert_eq!(j.churned, [Some(0), Some(1), Some(0)]);
        assert_eq!(j.arr, Some(vec![Some(3.0), Some(2.0), Some(1.0)]), "`ARR` is absent: `arr` is read");
        let e = join(&s, &o, None, None, &OutcomeColumns::default()).unwrap_err().to_string();
        assert!(e.contains("account_id") && e.contains("customerID"), "{e}");
    }

    #[test]
    fn a_date_with_a_time_part_joins_its_day() {
        use crate::data::write::{Format, OutColumn, OutTable};
        let dir = tempfile::tempdir().unwrap();
        let text = |v: &[&str]| OutColumn::Text(v.iter().map(|s| Some(s.to_string())).collect());
        let mut scores = OutTable::default();
        scores.push("account_id", text(&["a", "a"]));
        scores.push("snapshot_date", text(&["2026-03-31", "2026-06-30"]));
        scores.push("risk", OutColumn::Num(vec![0.2, 0.7]));
        let mut outcomes = OutTable::default();
        outcomes.push("account_id", text(&["a", "a"]));
        outcomes.push("snapshot_date", text(&["2026-06-30T00:00:00", "2026-03-31 00:00:00"]));
        outcomes.push("churned", OutColumn::Int(vec![Some(1), Some(0)]));
        let (s, o) = (dir.path().join("scores.csv"), dir.path().join("outcomes.csv"));
        std::fs::write(&s, scores.render(Format::Csv).unwrap()).unwrap();
        std::fs::write(&o, outcomes.render(Format::Csv).unwrap()).unwrap();
        let j = join(&s, &o, None, None, &OutcomeColumns::default()).unwrap();
        assert_eq!(j.churned, [Some(0), Some(1)]);
    }
}
