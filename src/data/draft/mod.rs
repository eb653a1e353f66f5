//! Drafting a spec from a table (`healthscore init`): the roles (id, snapshot
//! date, labels, revenue, segment) detected from names and values, every other
//! column a feature under the category its name suggests, and the columns that
//! cannot be features left out with the reason, all written as a commented TOML
//! file that `train` accepts unedited.

mod category;
mod labels;
mod profile;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use polars::prelude::*;

use crate::data::spec::{Category, Spec};
use crate::data::{
    frame::{is_missing_text, parse_date},
    read::read_frame,
};
use crate::error::{Error, Result};
use category::category_of;
use labels::*;
use profile::*;

/// What `init` may be told instead of guessing.
#[derive(Debug, Clone, Default)]
pub struct DraftOptions {
    /// The risk (churn) label column; detected from names when `None`.
    pub label: Option<String>,
    /// The upsell (expansion) label column; detected from names when `None`.
    pub upsell_label: Option<String>,
    /// The account id column; detected when `None`.
    pub id: Option<String>,
}

/// A drafted spec: the checked spec, its commented TOML text and a summary for people.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The spec as `train` reads it back from [`Draft::toml`].
    pub spec: Spec,
    /// The spec file, with a comment on how each choice was made.
    pub toml: String,
    /// Short lines for the terminal: columns found, roles, what was left out and why.
    pub summary: Vec<String>,
}

/// Drafts a spec from a CSV or Parquet table.
///
/// ```no_run
/// use healthscore::{draft_spec, DraftOptions};
/// let d = draft_spec("notebooks-data/telco.csv".as_ref(), &DraftOptions::default())?;
/// std::fs::write("telco.toml", &d.toml)?;
/// println!("{} features", d.spec.feature_defs().len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn draft_spec(path: &Path, opts: &DraftOptions) -> Result<Draft> {
    let df = read_frame(path)?;
    draft_from_frame(path, &df, opts)
}

/// Why a column is not a feature.
#[derive(Debug, Clone)]
struct LeftOut {
    name: String,
    why: String,
}

/// Drafts a spec from a frame; `path` names the table in comments and messages.
pub fn draft_from_frame(path: &Path, df: &DataFrame, opts: &DraftOptions) -> Result<Draft> {
    let table_err = |message: String| Error::Table {
        path: path.to_path_buf(),
        message,
    };
    if df.height() == 0 {
        return Err(Error::EmptyTable { path: path.to_path_buf() });
    }
    let n = df.height();
    let mut profiles = Vec::with_capacity(df.width());
    for c in df.columns() {
        profiles.push(profile(c.name(), c).map_err(|e| match e {
            Error::Table { message, .. } => table_err(message),
            e => e,
        })?);
    }
    let find = |name: &str, role: &str| -> Result<usize> {
        profiles.iter().position(|p| p.name == name).ok_or_else(|| Error::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            role: role.to_string(),
            available: profiles.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    };
    let mut used: HashSet<usize> = HashSet::new();
    let mut notes: BTreeMap<&'static str, String> = BTreeMap::new();

    // The account id.
    let id = match &opts.id {
        Some(c) => {
            let i = find(c, "account id")?;
            notes.insert("id", "given with --id".into());
            Some(i)
        }
        None => {
            let named = |p: &Profile| p.words.last().is_some_and(|w| w == "id" || w == "uuid" || w == "key");
            let whole = |p: &Profile| p.filled == n;
            let owner = [
                "account",
                "customer",
                "client",
                "company",
                "org",
                "organization",
                "tenant",
                "user",
                "subscriber",
            ];
            let by_owner = profiles
                .iter()
                .position(|p| named(p) && whole(p) && p.words.iter().any(|w| owner.contains(&w.as_str())));
            let by_name = profiles.iter().position(|p| named(p) && whole(p));
            let unique_text = profiles.iter().position(|p| p.kind == Kind::Text && whole(p) && p.distinct == n);
            match (by_owner, by_name, unique_text) {
                (Some(i), _, _) | (None, Some(i), _) => {
                    notes.insert("id", "named like an id, filled in every row".into());
                    Some(i)
                }
                (None, None, Some(i)) => {
                    notes.insert("id", "the first text column unique in every row".into());
                    Some(i)
                }
                _ => {
                    notes.insert(
                        "id",
                        "no id column: each row is an account, numbered by its row (1, 2, ...); name one with --id if it has one".into(),
                    );
                    None
                }
            }
        }
    };
    used.extend(id);
    let ids_repeat = id.is_some_and(|id| profiles[id].distinct < n);

    // The snapshot date: the date column that makes (id, date) unique.
    let unique_with_id = |j: usize| {
        let mut seen = HashSet::with_capacity(n);
        id.is_some_and(|id| {
            profiles[id]
                .text
                .iter()
                .zip(&profiles[j].text)
                .all(|(a, b)| b.is_some() && seen.insert((a.as_deref(), b.as_deref())))
        })
    };
    let snapshot_named = |p: &Profile| {
        has_word(
            p,
            &[
                "snapshot",
                "asof",
                "as",
                "period",
                "observation",
                "observed",
                "month",
                "quarter",
                "week",
                "extract",
                "report",
            ],
        )
    };
    let date_cols: Vec<usize> = (0..profiles.len())
        .filter(|&j| Some(j) != id && profiles[j].kind == Kind::Date)
        .collect();
    let date = if ids_repeat {
        let ok: Vec<usize> = date_cols
            .iter()
            .copied()
            .filter(|&j| profiles[j].filled == n && unique_with_id(j))
            .collect();
        let pick = ok
            .iter()
            .copied()
            .find(|&j| snapshot_named(&profiles[j]))
            .or_else(|| ok.iter().copied().min_by_key(|&j| profiles[j].distinct));
        match pick {
            Some(j) => {
                notes.insert(
                    "date",
                    format!("dates in every row, one row per account and date ({} dates)", profiles[j].distinct),
                );
                Some(j)
            }
            None => {
                notes.insert(
                    "date",
                    "ids repeat, but no date column makes (id, date) unique: train will name the duplicates".into(),
                );
                None
            }
        }
    } else {
        match date_cols
            .iter()
            .copied()
            .find(|&j| profiles[j].filled == n && snapshot_named(&profiles[j]))
        {
            Some(j) => {
                notes.insert("date", "a date in every row, named like a snapshot date".into());
                Some(j)
            }
            None => {
                notes.insert("date", "one row per account: no snapshot date".into());
                None
            }
        }
    };
    if let Some(j) = date {
        used.insert(j);
    }

    // The labels.
    let pick_label = |given: &Option<String>,
                      names: &[&str],
                      weak: &[&str],
                      outcomes: &[&str],
                      role: &str,
                      used: &HashSet<usize>|
     -> Result<Option<(usize, LabelMap, String)>> {
        if let Some(c) = given {
            let j = find(c, role)?;
            let map = label_map(&profiles[j])
                .or_else(|| outcome_values(&profiles[j], outcomes).map(LabelMap::outcome))
                .ok_or_else(|| Error::BadValue {
                    path: path.to_path_buf(),
                    column: c.clone(),
                    row: 1,
                    message: format!(
                        "a {role} needs two values (1/0, yes/no, true/false or two names), found {}",
                        match &profiles[j].values {
                            Some(v) => format!("{} values: {}", v.len(), v.join(", ")),
                            None => format!("{} distinct values", profiles[j].distinct),
                        }
                    ),
                })?;
            return Ok(Some((j, map, "given on the command line".into())));
        }
        let short = |p: &Profile| {
            p.words.len() <= 2
                && p.words
                    .iter()
                    .all(|w| weak.contains(&w.as_str()) || ["is", "has", "was", "flag"].contains(&w.as_str()))
        };
        for strong in [true, false] {
            for (j, p) in profiles.iter().enumerate() {
                let named = if strong { has_word(p, names) } else { short(p) };
                if used.contains(&j) || !named {
                    continue;
                }
                if let Some(map) = label_map(p) {
                    return Ok(Some((j, map, "named like one, two values".into())));
                }
            }
        }
        // Last, a text column of a few values one of which names the outcome
        // (`status`: Churned / Active).
        for (j, p) in profiles.iter().enumerate() {
            if used.contains(&j) {
                continue;
            }
            if let Some((positive, negative)) = outcome_values(p, outcomes) {
                let why = format!(
                    "its values name the outcome: `{positive}` vs {}",
                    negative.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                );
                return Ok(Some((j, LabelMap::outcome((positive, negative)), why)));
            }
        }
        Ok(None)
    };
    let risk = pick_label(&opts.label, RISK_NAMES, RISK_WEAK_NAMES, RISK_VALUES, "risk label", &used)?;
    if let Some((j, ..)) = &risk {
        used.insert(*j);
    }
    let upsell = pick_label(&opts.upsell_label, UPSELL_NAMES, &[], UPSELL_VALUES, "upsell label", &used)?;
    if let Some((j, ..)) = &upsell {
        used.insert(*j);
    }
    if risk.is_none() && upsell.is_none() {
        return Err(table_err(
            "no label column found (none with two values is named like `churned` or `expanded`, or holds a value like `Churned`); name it with --label".into(),
        ));
    }

    // Revenue and segment.
    let revenue = profiles.iter().enumerate().position(|(j, p)| {
        !used.contains(&j)
            && matches!(p.kind, Kind::Number { .. })
            && (p.words.iter().any(|w| w == "arr" || w == "acv")
                || p.words == ["revenue"]
                || p.words.ends_with(&["annual".into(), "revenue".into()])
                || p.words.ends_with(&["contract".into(), "value".into()]))
    });
    if let Some(j) = revenue {
        used.insert(j);
    }
    let segment = profiles.iter().enumerate().position(|(j, p)| {
        !used.contains(&j)
            && p.kind == Kind::Text
            && (2..=12).contains(&p.distinct)
            && has_word(p, &["segment", "plan", "tier", "edition", "package"])
    });

    // Features: every other column that can be one.
    let labels: Vec<Option<u8>> = match &risk.as_ref().or(upsell.as_ref()) {
        Some((j, map, _)) => profiles[*j]
            .text
            .iter()
            .map(|v| {
                v.as_deref().and_then(|v| match map {
                    LabelMap::Builtin => builtin_label(v),
                    LabelMap::Named { positive, .. } => Some(u8::from(v.eq_ignore_ascii_case(positive))),
                })
            })
            .collect(),
        None => vec![None; n],
    };
    let mut left_out = Vec::new();
    let mut features: Vec<(usize, Category, bool, bool)> = Vec::new(); // (column, category, categorical, guessed)
    for (j, p) in profiles.iter().enumerate() {
        if used.contains(&j) {
            continue;
        }
        let out = |why: String| LeftOut { name: p.name.clone(), why };
        let id_named = p
            .words
            .last()
            .is_some_and(|w| w == "id" || w == "uuid" || w == "key" || w == "email" || w == "phone");
        let why = if p.filled == 0 {
            Some("empty in every row".to_string())
        } else if has_word(p, RISK_NAMES) || has_word(p, UPSELL_NAMES) || has_word(p, &["reason", "outcome", "renewed", "cancellation"]) {
            Some("looks recorded after the outcome (named like churn, cancellation, renewal or expansion); add it under a category if it is known before the renewal".into())
        } else if p.distinct == 1 {
            Some(format!(
                "one value (`{}`) in every row that is filled",
                p.text.iter().flatten().next().unwrap()
            ))
        } else if p.kind == Kind::Date {
            Some("a date; derive a number from it (e.g. days until renewal) to use it as a feature".into())
        } else if (p.kind == Kind::Text || matches!(p.kind, Kind::Number { integer: true })) && id_named {
            Some("named like an identifier".into())
        } else if p.kind == Kind::Text && p.distinct == p.filled && p.filled > 20 {
            Some("a different value in every row: an identifier or free text, not a feature".into())
        } else if p.kind == Kind::Text && p.distinct > 200 && p.distinct * 2 > p.filled {
            Some(format!(
                "{} distinct values: free text or an identifier, not a category",
                p.distinct
            ))
        } else if separates(p, &labels) {
            Some("each of its values goes with one label only: it looks recorded after the outcome; add it under a category if it is known before the renewal".into())
        } else {
            None
        };
        if let Some(why) = why {
            left_out.push(out(why));
            continue;
        }
        let categorical = p.kind == Kind::Text
            || (matches!(p.kind, Kind::Number { integer: true })
                && p.distinct <= 50
                && has_word(p, &["code", "codes", "type", "category", "class", "zip", "postal", "group"]));
        let (category, guessed) = match category_of(p) {
            Some(c) => (c, false),
            None => (Category::Usage, true),
        };
        features.push((j, category, categorical, guessed));
    }
    if features.is_empty() {
        return Err(table_err(
            "no column can be a feature (all are roles, empty, constant or identifiers)".into(),
        ));
    }

    // The text.
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let file = path.display().to_string();
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("accounts").to_string();
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Drafted by `healthscore init` from {file} ({n} rows, {} columns).",
        profiles.len()
    );
    let _ = writeln!(t, "# Check the roles, the categories marked `# guessed` and the columns left out");
    let _ = writeln!(t, "# (at the end), then: healthscore train --spec THIS_FILE --input {file}");
    let _ = writeln!(t, "name = {}", q(&stem));
    let _ = writeln!(t, "seed = 42\n");
    let cats: Vec<&str> = features.iter().filter(|f| f.2).map(|f| profiles[f.0].name.as_str()).collect();
    let _ = writeln!(t, "# Features holding labels rather than numbers (text in the table).");
    if cats.is_empty() {
        let _ = writeln!(t, "categorical = []\n");
    } else {
        let _ = writeln!(t, "categorical = [");
        for c in &cats {
            let _ = writeln!(t, "  {},", q(c));
        }
        let _ = writeln!(t, "]\n");
    }
    let _ = writeln!(t, "[columns]");
    let role_line = |t: &mut String, key: &str, col: Option<usize>, why: &str| {
        let v = col.map(|j| profiles[j].name.as_str()).unwrap_or("");
        let _ = writeln!(t, "{:<34} # {why}", format!("{key} = {}", q(v)));
    };
    role_line(&mut t, "id", id, &notes["id"]);
    role_line(&mut t, "date", date, &notes["date"]);
    let label_note = |l: &Option<(usize, LabelMap, String)>, what: &str, flag: &str| match l {
        Some((j, map, how)) => format!("{how}, {:.1}% {what}", 100.0 * positive_rate(&profiles[*j], map)),
        None => format!("no two-valued column named like {flag}: no model for it"),
    };
    role_line(
        &mut t,
        "risk_label",
        risk.as_ref().map(|r| r.0),
        &label_note(&risk, "churned", "`churned`"),
    );
    role_line(
        &mut t,
        "upsell_label",
        upsell.as_ref().map(|r| r.0),
        &label_note(&upsell, "expanded", "`expanded` or `upsell`"),
    );
    role_line(
        &mut t,
        "revenue",
        revenue,
        if revenue.is_some() {
            "numbers, named like annual revenue"
        } else {
            "no column named like ARR: figures are not revenue-weighted"
        },
    );
    let seg_note = segment.map(|j| format!("{} levels, named like a plan or segment; also a feature", profiles[j].distinct));
    role_line(
        &mut t,
        "segment",
        segment,
        seg_note.as_deref().unwrap_or("no column named like a plan or segment"),
    );
    for (key, l) in [("risk_values", &risk), ("upsell_values", &upsell)] {
        if let Some((
            _,
            LabelMap::Named {
                positive,
                negative,
                guessed,
            },
            _,
        )) = l
        {
            let _ = writeln!(
                t,
                "\n[columns.{key}]{}",
                if *guessed {
                    "   # guessed: the rarer value is taken as the outcome"
                } else {
                    ""
                }
            );
            let _ = writeln!(t, "positive = [{}]", q(positive));
            let _ = writeln!(t, "negative = [{}]", negative.iter().map(|n| q(n)).collect::<Vec<_>>().join(", "));
        }
    }
    let _ = writeln!(t, "\n[holdout]");
    if date.is_some() {
        let _ = writeln!(
            t,
            "policy = \"latest_date\"   # the models are measured on the latest labeled snapshot"
        );
    } else {
        let _ = writeln!(
            t,
            "policy = \"accounts\"      # no dates: a stratified quarter of the accounts is held out"
        );
        let _ = writeln!(t, "fraction = 0.25");
    }
    let _ = writeln!(t, "\n# Every feature under one of the eight categories, guessed from its name;");
    let _ = writeln!(
        t,
        "# the categories weigh the hand-built score and group the reports, not the models."
    );
    let _ = writeln!(
        t,
        "# A category of your own: list its features here and give it a weight under\n# [rules], e.g. `security = [\"sso_enabled\"]` and `weights = {{ security = 10 }}`."
    );
    let _ = writeln!(t, "[features]");
    for c in Category::ALL {
        let mine: Vec<_> = features.iter().filter(|f| f.1 == c).collect();
        if mine.is_empty() {
            continue;
        }
        let _ = writeln!(t, "{} = [", c.name());
        for f in mine {
            let name = q(&profiles[f.0].name);
            if f.3 {
                let _ = writeln!(t, "  {:<30} # guessed: the name says nothing", format!("{name},"));
            } else {
                let _ = writeln!(t, "  {name},");
            }
        }
        let _ = writeln!(t, "]");
    }
    if !left_out.is_empty() {
        let _ = writeln!(t, "\n# Left out:");
        for l in &left_out {
            let _ = writeln!(t, "#   {}: {}", l.name, l.why);
        }
    }
    let spec = Spec::parse(&t, Path::new("(drafted spec)"))?;

    let mut summary = vec![format!("{file}: {n} rows, {} columns", profiles.len())];
    let role = |j: Option<usize>| j.map(|j| profiles[j].name.clone()).unwrap_or_else(|| "—".into());
    summary.push(format!(
        "  roles: id {}, date {}, risk label {}, upsell label {}, revenue {}, segment {}",
        role(id),
        role(date),
        role(risk.as_ref().map(|r| r.0)),
        role(upsell.as_ref().map(|r| r.0)),
        role(revenue),
        role(segment)
    ));
    let guessed = features.iter().filter(|f| f.3).count();
    summary.push(format!(
        "  features: {} ({} categorical){}",
        features.len(),
        cats.len(),
        if guessed > 0 {
            format!(", {guessed} with a guessed category")
        } else {
            String::new()
        }
    ));
    for l in &left_out {
        summary.push(format!("  left out {}: {}", l.name, l.why));
    }
    Ok(Draft { spec, toml: t, summary })
}

/// True when every value of a column (with at least two values among the
/// labeled rows, each met at least 10 times) goes with one label only: a
/// column recorded after the outcome.
fn separates(p: &Profile, labels: &[Option<u8>]) -> bool {
    if p.values.is_none() {
        return false;
    }
    let mut seen: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (v, y) in p.text.iter().zip(labels) {
        if let (Some(v), Some(y)) = (v, y) {
            let e = seen.entry(v.as_str()).or_default();
            if *y == 1 {
                e.1 += 1;
            } else {
                e.0 += 1;
            }
        }
    }
    seen.len() >= 2 && seen.values().all(|&(a, b)| (a == 0 || b == 0) && a + b >= 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_names() {
        assert_eq!(words("customerID"), ["customer", "id"]);
        assert_eq!(words("logins_30d"), ["logins", "30d"]);
        assert_eq!(words("MonthlyCharges"), ["monthly", "charges"]);
        assert_eq!(words("NPS score"), ["nps", "score"]);
    }

    fn frame(cols: Vec<Column>) -> DataFrame {
        DataFrame::new_infer_height(cols).unwrap()
    }

    #[test]
    fn roles_features_and_left_out_columns() {
        let n = 40;
        let ids: Vec<String> = (0..n).map(|i| format!("C{i:03}")).collect();
        let churn: Vec<&str> = (0..n).map(|i| if i % 3 == 0 { "Yes" } else { "No" }).collect();
        let logins: Vec<i64> = (0..n).map(|i| (i * 7 % 13) as i64).collect();
        let plan: Vec<&str> = (0..n).map(|i| ["basic", "pro"][i % 2]).collect();
        let constant = vec![1i64; n];
        let reason: Vec<Option<&str>> = (0..n).map(|i| (i % 3 == 0).then_some("price")).collect();
        let df = frame(vec![
            Column::new("customerID".into(), ids),
            Column::new("logins_30d".into(), logins),
            Column::new("Plan".into(), plan),
            Column::new("country_flag".into(), constant),
            Column::new("churn_reason".into(), reason),
            Column::new("Churn".into(), churn),
        ]);
        let d = draft_from_frame(Path::new("t.csv"), &df, &DraftOptions::default()).unwrap();
        assert_eq!(d.spec.columns.id, "customerID");
        assert_eq!(d.spec.columns.risk_label.as_deref(), Some("Churn"));
        assert_eq!(d.spec.columns.date, None);
        assert_eq!(d.spec.columns.segment.as_deref(), Some("Plan"));
        let names: Vec<String> = d.spec.feature_defs().iter().map(|f| f.name.clone()).collect();
        assert_eq!(names, ["logins_30d", "Plan"], "{}", d.toml);
        assert_eq!(d.spec.categorical, ["Plan"]);
        assert!(d.toml.contains("#   country_flag: one value"), "{}", d.toml);
        assert!(d.toml.contains("#   churn_reason: looks recorded after the outcome"), "{}", d.toml);
    }

    #[test]
    fn named_label_values_are_mapped() {
        let n = 30;
        let df = frame(vec![
            Column::new("account_id".into(), (0..n).map(|i| format!("A{i}")).collect::<Vec<_>>()),
            Column::new("usage_hours".into(), (0..n).map(|i| i as f64 * 1.5).collect::<Vec<_>>()),
            Column::new(
                "status".into(),
                (0..n).map(|i| if i % 4 == 0 { "Churned" } else { "Renewed" }).collect::<Vec<_>>(),
            ),
        ]);
        let d = draft_from_frame(
            Path::new("t.csv"),
            &df,
            &DraftOptions {
                label: Some("status".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let v = d.spec.columns.risk_values.as_ref().expect("mapped values");
        assert_eq!(v.positive, ["Churned"]);
        assert_eq!(v.negative, ["Renewed"]);
    }

    #[test]
    fn a_label_is_found_by_values_that_name_the_outcome() {
        let n = 40;
        let df = frame(vec![
            Column::new("account_id".into(), (0..n).map(|i| format!("A{i}")).collect::<Vec<_>>()),
            Column::new("usage_hours".into(), (0..n).map(|i| i as f64 * 1.5).collect::<Vec<_>>()),
            Column::new(
                "region".into(),
                (0..n).map(|i| if i % 2 == 0 { "North" } else { "South" }).collect::<Vec<_>>(),
            ),
            Column::new(
                "Status".into(),
                (0..n).map(|i| if i % 4 == 0 { "Churned" } else { "Active" }).collect::<Vec<_>>(),
            ),
        ]);
        let d = draft_from_frame(Path::new("t.csv"), &df, &DraftOptions::default()).unwrap();
        assert_eq!(d.spec.columns.risk_label.as_deref(), Some("Status"));
        let v = d.spec.columns.risk_values.as_ref().expect("mapped values");
        assert_eq!(
            (v.positive.as_slice(), v.negative.as_slice()),
            (&["Churned".to_string()][..], &["Active".to_string()][..])
        );
        assert!(d.toml.contains("its values name the outcome"), "{}", d.toml);
    }

    #[test]
    fn a_status_of_three_values_one_naming_the_outcome_is_the_label() {
        let n = 60;
        let status = ["Stayed", "Churned", "Joined", "Stayed"];
        let df = frame(vec![
            Column::new("Customer ID".into(), (0..n).map(|i| format!("C{i}")).collect::<Vec<_>>()),
            Column::new("Monthly Charge".into(), (0..n).map(|i| i as f64 * 1.5).collect::<Vec<_>>()),
            Column::new("Customer Status".into(), (0..n).map(|i| status[i % 4]).collect::<Vec<_>>()),
        ]);
        let d = draft_from_frame(Path::new("t.csv"), &df, &DraftOptions::default()).unwrap();
        assert_eq!(d.spec.columns.risk_label.as_deref(), Some("Customer Status"));
        let v = d.spec.columns.risk_values.as_ref().expect("mapped values");
        assert_eq!(v.positive, ["Churned"]);
        let mut negative = v.negative.clone();
        negative.sort();
        assert_eq!(negative, ["Joined", "Stayed"]);
    }

    #[test]
    fn a_table_without_a_label_is_refused_with_the_remedy() {
        let df = frame(vec![
            Column::new("account_id".into(), ["a", "b"]),
            Column::new("x".into(), [1.0, 2.0]),
        ]);
        let e = draft_from_frame(Path::new("t.csv"), &df, &DraftOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.csv") && e.contains("--label"), "{e}");
    }
}
