//! Joining a scores file with the outcomes that followed (and, optionally,
//! another scores file of the same accounts) by account id, and snapshot date
//! when both files have one.

use std::collections::HashMap;
use std::path::Path;

use polars::prelude::DataFrame;

use crate::data::{frame::Frame, read::read_frame_text};
use crate::error::{Error, Result};

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

fn keys(f: &Frame<'_>, use_date: bool) -> Result<Vec<Option<String>>> {
    let ids = f.strings("account_id", "account id")?;
    if !use_date {
        return Ok(ids);
    }
    let dates = f.strings("snapshot_date", "snapshot date")?;
    Ok(ids
        .into_iter()
        .zip(dates)
        .map(|(i, d)| i.map(|i| format!("{i}\u{1f}{}", d.unwrap_or_default())))
        .collect())
}

fn index(path: &Path, keys: &[Option<String>]) -> Result<HashMap<String, usize>> {
    let mut m = HashMap::with_capacity(keys.len());
    for (r, k) in keys.iter().enumerate() {
        if let Some(k) = k {
            if let Some(first) = m.insert(k.clone(), r) {
                let id = k.split('\u{1f}').next().unwrap_or_default().to_string();
                return Err(Error::Duplicate {
                    path: path.into(),
                    column: "account_id".into(),
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

/// Reads and joins. `segment_column` names the segment column of the scores file.
pub fn join(scores: &Path, outcomes: &Path, compare: Option<&Path>, segment_column: Option<&str>) -> Result<Joined> {
    // Keys are text however they look (`007` stays `007`), in every file.
    let mut keys_text = vec!["account_id", "snapshot_date"];
    keys_text.extend(segment_column);
    let sdf = read_frame_text(scores, &keys_text)?;
    let odf = read_frame_text(outcomes, &keys_text)?;
    let cdf = compare.map(|c| read_frame_text(c, &keys_text)).transpose()?;
    join_frames((scores, &sdf), (outcomes, &odf), compare.zip(cdf.as_ref()), segment_column)
}

/// Joins tables already in memory, each with the name (a file's path, or a
/// name that stands for it) its errors quote.
pub fn join_frames(
    (scores, sdf): (&Path, &DataFrame),
    (outcomes, odf): (&Path, &DataFrame),
    compare: Option<(&Path, &DataFrame)>,
    segment_column: Option<&str>,
) -> Result<Joined> {
    let s = Frame::new(scores, sdf);
    let o = Frame::new(outcomes, odf);
    let use_date = s.has("snapshot_date") && o.has("snapshot_date");
    let skeys = keys(&s, use_date)?;
    let okeys = keys(&o, use_date)?;
    let oidx = index(outcomes, &okeys)?;
    index(scores, &skeys)?;
    if !o.has("churned") && !o.has("expanded") {
        return Err(Error::MissingColumn {
            path: outcomes.into(),
            column: "churned".into(),
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
    let churned = if o.has("churned") {
        o.labels("churned", "churn outcome", None)?
    } else {
        vec![None; odf.height()]
    };
    let expanded = if o.has("expanded") {
        o.labels("expanded", "expansion outcome", None)?
    } else {
        vec![None; odf.height()]
    };
    let arr = if o.has("arr") { Some(o.numbers("arr", "revenue")?) } else { None };
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
            "no row of {} joins a row of {} on account_id{}; are they of the same accounts and quarter?",
            scores.display(),
            outcomes.display(),
            if use_date { " and snapshot_date" } else { "" }
        )));
    }
    if let Some((c, cdf)) = compare {
        let cf = Frame::new(c, cdf);
        let cdate = use_date && cf.has("snapshot_date");
        let ck = keys(&cf, cdate)?;
        let cidx = index(c, &ck)?;
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
        let j = join(&s, &o, None, None).unwrap();
        assert_eq!(j.ids, ["007", "0420"]);
        assert_eq!(j.churned, [Some(0), Some(1)]);
        assert_eq!(j.unmatched_scores, 0);
    }
}
