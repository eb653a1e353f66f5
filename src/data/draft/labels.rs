//! Label columns: which names and values mark a churn or an expansion outcome,
//! and how a column's values map to 0/1.

use super::*;

/// Values read as a positive / negative label without a mapping (as the table reader does).
pub(super) fn builtin_label(v: &str) -> Option<u8> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "1.0" | "true" | "t" | "yes" | "y" => Some(1),
        "0" | "0.0" | "false" | "f" | "no" | "n" => Some(0),
        _ => None,
    }
}

/// How a label column's values become 1 and 0.
#[derive(Debug, Clone)]
pub(super) enum LabelMap {
    /// 1/0, true/false, yes/no, y/n: read as they are.
    Builtin,
    /// Named values: one positive, the others negative; `guessed` when
    /// neither of two names says which is the outcome.
    Named {
        positive: String,
        negative: Vec<String>,
        guessed: bool,
    },
}

pub(super) const RISK_NAMES: &[&str] = &[
    "churn",
    "churned",
    "churns",
    "cancelled",
    "canceled",
    "cancel",
    "attrition",
    "attrited",
    "exited",
];
/// Words that name a churn label only in a short name (`left`, `is_lost`), not in `champion_left`.
pub(super) const RISK_WEAK_NAMES: &[&str] = &["lost", "left", "gone", "terminated"];
pub(super) const UPSELL_NAMES: &[&str] = &[
    "expanded",
    "expansion",
    "expand",
    "upsell",
    "upsold",
    "upgraded",
    "upgrade",
    "grew",
    "upsells",
];
pub(super) const POSITIVE_VALUES: &[&str] = &[
    "churn",
    "churned",
    "cancelled",
    "canceled",
    "cancel",
    "lost",
    "left",
    "exited",
    "attrited",
    "gone",
    "expanded",
    "upsold",
    "upgraded",
    "grew",
    "expansion",
    "won",
];

/// Values that make a two-valued text column the churn label whatever its
/// name (`status`: Churned / Active).
pub(super) const RISK_VALUES: &[&str] = &[
    "churn",
    "churned",
    "cancelled",
    "canceled",
    "cancel",
    "exited",
    "attrited",
    "lost",
    "left",
];
/// The same for the expansion label.
pub(super) const UPSELL_VALUES: &[&str] = &["expanded", "upsold", "upgraded", "expansion"];

/// A two-valued column as a label, if its values can be one.
pub(super) fn label_map(p: &Profile) -> Option<LabelMap> {
    let values = p.values.as_ref()?;
    if values.len() != 2 && values.len() != 1 {
        return None;
    }
    if values.iter().all(|v| builtin_label(v).is_some()) {
        return Some(LabelMap::Builtin);
    }
    if values.len() != 2 || p.kind != Kind::Text {
        return None;
    }
    let says_positive = |v: &str| {
        let w = words(v);
        w.iter().any(|w| POSITIVE_VALUES.iter().any(|k| w == k))
    };
    let (a, b) = (&values[0], &values[1]);
    let (positive, negative, guessed) = match (says_positive(a), says_positive(b)) {
        (true, false) => (a, b, false),
        (false, true) => (b, a, false),
        _ => {
            // Neither name says it: the rarer value is the outcome.
            let count = |v: &str| p.text.iter().flatten().filter(|x| x.as_str() == v).count();
            if count(a) <= count(b) {
                (a, b, true)
            } else {
                (b, a, true)
            }
        }
    };
    Some(LabelMap::Named {
        positive: positive.clone(),
        negative: vec![negative.clone()],
        guessed,
    })
}

/// A text column of two to four values exactly one of which names the
/// outcome (words of `outcomes`), the others taken as negatives: a
/// `Customer Status` of Churned / Stayed / Joined.
pub(super) fn outcome_values(p: &Profile, outcomes: &[&str]) -> Option<(String, Vec<String>)> {
    let values = p.values.as_ref()?;
    if p.kind != Kind::Text || !(2..=4).contains(&values.len()) {
        return None;
    }
    let names = |v: &String| words(v).iter().any(|w| outcomes.contains(&w.as_str()));
    let mut positive = values.iter().filter(|v| names(v));
    let (Some(one), None) = (positive.next(), positive.next()) else {
        return None;
    };
    Some((one.clone(), values.iter().filter(|v| *v != one).cloned().collect()))
}

impl LabelMap {
    /// The map of [`outcome_values`].
    pub(super) fn outcome((positive, negative): (String, Vec<String>)) -> LabelMap {
        LabelMap::Named {
            positive,
            negative,
            guessed: false,
        }
    }
}

/// Share of positives among the labeled cells.
pub(super) fn positive_rate(p: &Profile, map: &LabelMap) -> f64 {
    let mut pos = 0usize;
    let mut n = 0usize;
    for v in p.text.iter().flatten() {
        let y = match map {
            LabelMap::Builtin => builtin_label(v),
            LabelMap::Named { positive, negative, .. } => {
                if v.eq_ignore_ascii_case(positive) {
                    Some(1)
                } else if negative.iter().any(|n| v.eq_ignore_ascii_case(n)) {
                    Some(0)
                } else {
                    None
                }
            }
        };
        if let Some(y) = y {
            n += 1;
            pos += y as usize;
        }
    }
    if n == 0 {
        0.0
    } else {
        pos as f64 / n as f64
    }
}
