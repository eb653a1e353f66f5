//! The portfolio page a customer-success leader reads: where the expected ARR
//! at risk sits (by band, segment and action), the risk × upsell map of the
//! accounts, the score distribution by band, band migration since the
//! previous run, what drives the portfolio by category and feature, and the
//! accounts with the largest expected loss, and the zombies (outside the red
//! band, barely using the product). One self-contained HTML page
//! (inline SVG, no script) and the same figures as JSON.
//!
//! The figures are computed here; the page is drawn in `page.rs`.

mod clusters;
mod page;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use crate::data::frame::Frame;
use crate::data::spec::Category;
use crate::error::{Error, Result};
pub use clusters::{UsageCluster, UsageClusters, UsageFeatures, FIT_ROWS, USAGE_CATEGORIES};
pub use page::html;
use page::{capitalise, format_money};

/// Accounts drawn one dot each on the map; more are drawn as a density grid,
/// so that a million accounts stay a small page.
pub const MAP_DOTS: usize = 5_000;

/// Figures of one group of accounts (a band, a segment or an action).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub accounts: usize,
    pub arr: f64,
    /// Σ risk × ARR.
    pub expected_arr_at_risk: f64,
    /// Σ upsell × ARR.
    pub expansion_potential: f64,
    pub mean_risk: f64,
}

/// Mean absolute risk contribution (log-odds) of a category or a feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Driver {
    pub name: String,
    pub mean_abs_risk: f64,
    pub mean_abs_upsell: Option<f64>,
}

/// Accounts (and ARR) by previous band (rows) and current band (columns), red, yellow, green.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Migration {
    pub bands: Vec<String>,
    pub accounts: Vec<Vec<usize>>,
    pub arr: Vec<Vec<f64>>,
    /// Accounts of this run that the previous run did not have.
    pub new_accounts: usize,
    /// Accounts whose band fell (green → yellow or red, yellow → red).
    pub fell: usize,
    pub fell_arr: f64,
}

/// One of the accounts with the largest expected ARR loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopAccount {
    pub account_id: String,
    pub band: String,
    pub risk: f64,
    pub arr: f64,
    pub expected_arr_loss: f64,
    /// The three strongest risk drivers, e.g. `nps = 3 (+6.2 pts, +0.84 log-odds)`:
    /// percentage points of risk (the change from the base rate split in
    /// proportion to the log-odds contributions) and log-odds.
    pub drivers: Vec<String>,
}

/// Count of accounts per band in one bin of risk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskBin {
    pub from: f64,
    pub to: f64,
    pub red: usize,
    pub yellow: usize,
    pub green: usize,
}

/// Everything the portfolio page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Portfolio {
    pub scores_file: String,
    pub model_version: Option<String>,
    pub accounts: usize,
    /// Whether ARR was known; without it every account counts 1 and the
    /// figures are expected accounts, not money.
    pub arr_known: bool,
    pub total_arr: f64,
    pub expected_arr_at_risk: f64,
    pub expansion_potential: f64,
    /// Three plain sentences: where the expected loss sits, what drives it, what changed.
    pub summary: Vec<String>,
    pub by_band: Vec<Group>,
    pub by_segment: Vec<Group>,
    pub by_action: Vec<Group>,
    pub risk_distribution: Vec<RiskBin>,
    pub categories: Vec<Driver>,
    pub features: Vec<Driver>,
    /// The categories' drivers within each segment (when the spec names one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segment_categories: Vec<SegmentDrivers>,
    pub migration: Option<Migration>,
    pub top_accounts: Vec<TopAccount>,
    /// Accounts the scores file flags `zombie` (outside the red band while
    /// barely using the product), when it has the column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zombies: Option<Zombies>,
    /// Accounts grouped by how they use the product, when the live table's
    /// features were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<UsageClusters>,
    /// (risk, upsell, band, ARR) of every account, for the map; not in the JSON.
    #[serde(skip)]
    pub points: Vec<(f64, f64, usize, f64)>,
}

/// What drives the scores within one segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentDrivers {
    pub segment: String,
    pub accounts: usize,
    /// Mean |contribution| per category within the segment, largest first.
    pub categories: Vec<Driver>,
}

/// The zombie accounts of a portfolio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Zombies {
    pub accounts: usize,
    pub arr: f64,
    /// The largest by ARR (at most 25), with band and risk.
    pub largest: Vec<TopAccount>,
}

const BANDS: [&str; 3] = ["red", "yellow", "green"];

/// The seed of the usage clusters: the same scores give the same clusters.
const CLUSTER_SEED: u64 = 42;

fn band_index(b: Option<&str>) -> Option<usize> {
    BANDS.iter().position(|x| Some(*x) == b)
}

/// Whether [`portfolio`] reads a column of a scores file. The others — the
/// upsell drivers, drivers past the third, odds multipliers and points, the health
/// column, the hand-built score and the comparison with a previous run —
/// need not be read (see [`crate::data::read::read_frame_columns`]).
///
/// ```
/// use healthscore::report::portfolio::reads_column;
/// assert!(reads_column("risk_contrib_nps") && reads_column("risk_driver_3_value") && reads_column("arr"));
/// assert!(!reads_column("risk_driver_4") && !reads_column("upsell_driver_1") && !reads_column("rules_health"));
/// ```
pub fn reads_column(name: &str) -> bool {
    if ["upsell_driver_", "rules_", "previous_"].iter().any(|p| name.starts_with(p)) || name.ends_with("_odds") || name.ends_with("_points")
    {
        return false;
    }
    if let Some(rest) = name.strip_prefix("risk_driver_") {
        return rest
            .split('_')
            .next()
            .and_then(|k| k.parse::<usize>().ok())
            .is_some_and(|k| (1..=3).contains(&k));
    }
    !matches!(name, "health" | "snapshot_date" | "risk_change" | "moved_by" | "alert")
}

/// Builds the portfolio from a scores frame (as `score` writes it), the ARR
/// of each account when known, and the previous scores frame for migration.
///
/// ```no_run
/// use healthscore::data::read::read_frame_text;
/// let scores = read_frame_text("scores.csv".as_ref(), &["account_id"])?;
/// let p = healthscore::report::portfolio::portfolio("scores.csv".as_ref(), &scores, None, None, None, None)?;
/// println!("{}", p.summary.join(" "));
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn portfolio(
    path: &Path,
    scores: &DataFrame,
    arr: Option<&HashMap<String, f64>>,
    segment: Option<&str>,
    previous: Option<(&Path, &DataFrame)>,
    usage: Option<&UsageFeatures>,
) -> Result<Portfolio> {
    let f = Frame::new(path, scores);
    let ids: Vec<String> = f
        .strings("account_id", "account id")?
        .into_iter()
        .map(|v| v.unwrap_or_default())
        .collect();
    let n = ids.len();
    if n == 0 {
        return Err(Error::EmptyTable { path: path.to_path_buf() });
    }
    let risk: Vec<f64> = f
        .numbers("risk", "risk score")?
        .into_iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect();
    let upsell: Option<Vec<f64>> = if f.has("upsell") {
        Some(
            f.numbers("upsell", "upsell score")?
                .into_iter()
                .map(|v| v.unwrap_or(f64::NAN))
                .collect(),
        )
    } else {
        None
    };
    let band: Vec<Option<String>> = f.strings("band", "band")?;
    let action: Vec<Option<String>> = if f.has("action") {
        f.strings("action", "action")?
    } else {
        vec![None; n]
    };
    let seg: Option<Vec<Option<String>>> = match segment {
        Some(s) if f.has(s) => Some(f.strings(s, "segment")?),
        _ => None,
    };
    let version = if f.has("model_version") {
        f.strings("model_version", "model version")?.into_iter().flatten().next()
    } else {
        None
    };
    let arr_of: Vec<f64> = ids
        .iter()
        .map(|id| arr.map_or(1.0, |m| m.get(id).copied().filter(|v| v.is_finite()).unwrap_or(0.0)))
        .collect();
    let up = |i: usize| upsell.as_ref().map_or(0.0, |u| if u[i].is_finite() { u[i] } else { 0.0 });
    let rk = |i: usize| if risk[i].is_finite() { risk[i] } else { 0.0 };

    let group_by = |key: &dyn Fn(usize) -> String, order: &[&str]| -> Vec<Group> {
        let mut g: BTreeMap<String, (usize, f64, f64, f64, f64)> = BTreeMap::new();
        for (i, &a) in arr_of.iter().enumerate() {
            let e = g.entry(key(i)).or_default();
            e.0 += 1;
            e.1 += a;
            e.2 += rk(i) * a;
            e.3 += up(i) * a;
            e.4 += rk(i);
        }
        let mut out: Vec<Group> = g
            .into_iter()
            .map(|(name, (k, a, r, u, s))| Group {
                name,
                accounts: k,
                arr: a,
                expected_arr_at_risk: r,
                expansion_potential: u,
                mean_risk: s / k as f64,
            })
            .collect();
        if order.is_empty() {
            out.sort_by(|a, b| b.expected_arr_at_risk.total_cmp(&a.expected_arr_at_risk));
        } else {
            out.sort_by_key(|g| order.iter().position(|o| *o == g.name).unwrap_or(order.len()));
        }
        out
    };
    let by_band = group_by(&|i| band[i].clone().unwrap_or_else(|| "(none)".into()), &BANDS);
    let by_action = group_by(
        &|i| action[i].clone().unwrap_or_else(|| "(none)".into()),
        &["protect", "grow", "nurture"],
    );
    let by_segment = match &seg {
        Some(s) => group_by(&|i| s[i].clone().unwrap_or_else(|| "(missing)".into()), &[]),
        None => vec![],
    };

    // Risk distribution by band, in bins of 5 points.
    let mut risk_distribution: Vec<RiskBin> = (0..20)
        .map(|b| RiskBin {
            from: b as f64 / 20.0,
            to: (b + 1) as f64 / 20.0,
            red: 0,
            yellow: 0,
            green: 0,
        })
        .collect();
    for i in 0..n {
        if !risk[i].is_finite() {
            continue;
        }
        let b = ((risk[i] * 20.0) as usize).min(19);
        match band_index(band[i].as_deref()) {
            Some(0) => risk_distribution[b].red += 1,
            Some(1) => risk_distribution[b].yellow += 1,
            Some(2) => risk_distribution[b].green += 1,
            _ => {}
        }
    }

    // Drivers: mean |contribution| per category and per feature.
    let mean_abs = |col: &str| -> Result<Option<f64>> {
        if !f.has(col) {
            return Ok(None);
        }
        let v = f.numbers(col, "contribution")?;
        let (s, k) = v.iter().flatten().fold((0.0, 0usize), |(s, k), x| (s + x.abs(), k + 1));
        Ok((k > 0).then(|| s / k as f64))
    };
    // The eight, then the categories of the spec's own whose roll-ups the
    // scores carry (a `risk_<name>` column no other column of the file can take).
    let rollups = Category::all_with(
        f.names()
            .iter()
            .filter_map(|n| n.strip_prefix("risk_").and_then(|c| Category::named(c).ok())),
    );
    let mut categories = Vec::new();
    for &c in &rollups {
        if let Some(r) = mean_abs(&format!("risk_{}", c.name()))? {
            categories.push(Driver {
                name: c.name().into(),
                mean_abs_risk: r,
                mean_abs_upsell: mean_abs(&format!("upsell_{}", c.name()))?,
            });
        }
    }
    // A category without features rolls up to 0 everywhere: nothing to show.
    categories.retain(|d| d.mean_abs_risk > 0.0 || d.mean_abs_upsell.is_some_and(|u| u > 0.0));
    categories.sort_by(|a, b| b.mean_abs_risk.total_cmp(&a.mean_abs_risk));
    // The same per segment: mean |contribution| of each category within it.
    let mut segment_categories = Vec::new();
    if let Some(seg) = &seg {
        let mut names: Vec<&str> = seg.iter().map(|s| s.as_deref().unwrap_or("(missing)")).collect();
        names.sort_unstable();
        names.dedup();
        let column = |col: &str| -> Result<Option<Vec<Option<f64>>>> {
            if f.has(col) {
                f.numbers(col, "contribution").map(Some)
            } else {
                Ok(None)
            }
        };
        let mut cols = Vec::new();
        for &c in rollups.iter().filter(|c| categories.iter().any(|d| d.name == c.name())) {
            if let Some(r) = column(&format!("risk_{}", c.name()))? {
                cols.push((c, r, column(&format!("upsell_{}", c.name()))?));
            }
        }
        for name in names {
            let rows: Vec<usize> = (0..n).filter(|&i| seg[i].as_deref().unwrap_or("(missing)") == name).collect();
            let mean = |v: &[Option<f64>]| {
                let (s, k) = rows
                    .iter()
                    .filter_map(|&i| v[i])
                    .fold((0.0, 0usize), |(s, k), x| (s + x.abs(), k + 1));
                (k > 0).then(|| s / k as f64)
            };
            let mut drivers: Vec<Driver> = cols
                .iter()
                .filter_map(|(c, r, u)| {
                    Some(Driver {
                        name: c.name().into(),
                        mean_abs_risk: mean(r)?,
                        mean_abs_upsell: u.as_ref().and_then(|u| mean(u)),
                    })
                })
                .collect();
            drivers.sort_by(|a, b| b.mean_abs_risk.total_cmp(&a.mean_abs_risk));
            segment_categories.push(SegmentDrivers {
                segment: name.to_string(),
                accounts: rows.len(),
                categories: drivers,
            });
        }
    }
    let mut features = Vec::new();
    for name in f.names() {
        if let Some(feat) = name.strip_prefix("risk_contrib_") {
            features.push(Driver {
                name: feat.into(),
                mean_abs_risk: mean_abs(&name)?.unwrap_or(0.0),
                mean_abs_upsell: mean_abs(&format!("upsell_contrib_{feat}"))?,
            });
        }
    }
    features.sort_by(|a, b| b.mean_abs_risk.total_cmp(&a.mean_abs_risk));

    // Band migration.
    let migration = match previous {
        Some((ppath, pdf)) => {
            let pf = Frame::new(ppath, pdf);
            let pids = pf.strings("account_id", "account id")?;
            let pband = pf.strings("band", "band")?;
            let before: HashMap<&str, usize> = pids
                .iter()
                .zip(&pband)
                .filter_map(|(id, b)| Some((id.as_deref()?, band_index(b.as_deref())?)))
                .collect();
            let mut accounts = vec![vec![0usize; 3]; 3];
            let mut money = vec![vec![0.0; 3]; 3];
            let (mut new_accounts, mut fell, mut fell_arr) = (0, 0, 0.0);
            for i in 0..n {
                let Some(now) = band_index(band[i].as_deref()) else { continue };
                match before.get(ids[i].as_str()) {
                    Some(&was) => {
                        accounts[was][now] += 1;
                        money[was][now] += arr_of[i];
                        if now < was {
                            fell += 1;
                            fell_arr += arr_of[i];
                        }
                    }
                    None => new_accounts += 1,
                }
            }
            Some(Migration {
                bands: BANDS.iter().map(|b| b.to_string()).collect(),
                accounts,
                arr: money,
                new_accounts,
                fell,
                fell_arr,
            })
        }
        None => None,
    };

    // The accounts with the largest expected loss.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| (rk(b) * arr_of[b]).total_cmp(&(rk(a) * arr_of[a])).then(ids[a].cmp(&ids[b])));
    let driver_cols: Vec<(String, String, String)> = (1..=3)
        .map(|k| {
            (
                format!("risk_driver_{k}"),
                format!("risk_driver_{k}_value"),
                format!("risk_driver_{k}_contribution"),
            )
        })
        .filter(|(a, _, c)| f.has(a) && f.has(c))
        .collect();
    // For each driver rank: the feature, its value and its contribution, by row.
    type DriverColumns = (Vec<Option<String>>, Vec<Option<String>>, Vec<Option<f64>>);
    let mut drivers_of: Vec<DriverColumns> = Vec::new();
    for (a, v, c) in &driver_cols {
        let values = if f.has(v) { f.strings(v, "driver value")? } else { vec![None; n] };
        drivers_of.push((f.strings(a, "driver")?, values, f.numbers(c, "driver contribution")?));
    }
    // A driver in percentage points of risk: the change from the base rate,
    // split in proportion to the exact log-odds contributions, so that the
    // points of all features add up to risk − base rate.
    let base: Option<Vec<Option<f64>>> = if f.has("risk_base") {
        Some(f.numbers("risk_base", "risk base")?)
    } else {
        None
    };
    let points_of = |i: usize, c: f64| -> Option<f64> {
        let b = base.as_ref()?[i]?;
        risk[i].is_finite().then(|| 100.0 * probability_points(risk[i], b, &[c])[0])
    };
    let top_accounts = order
        .iter()
        .take(25)
        .map(|&i| TopAccount {
            account_id: ids[i].clone(),
            band: band[i].clone().unwrap_or_default(),
            risk: rk(i),
            arr: arr_of[i],
            expected_arr_loss: rk(i) * arr_of[i],
            drivers: drivers_of
                .iter()
                .filter_map(|(names, values, contributions)| {
                    let name = names[i].as_ref()?;
                    let value = values[i].clone().unwrap_or_else(|| "missing".into());
                    let c = contributions[i].unwrap_or(0.0);
                    Some(match points_of(i, c) {
                        Some(pts) => format!("{name} = {value} ({pts:+.1} pts, {c:+.2} log-odds)"),
                        None => format!("{name} = {value} ({c:+.2} log-odds)"),
                    })
                })
                .collect(),
        })
        .collect();

    let zombies = if f.has("zombie") {
        let flag: Vec<bool> = f
            .strings("zombie", "zombie flag")?
            .into_iter()
            .map(|v| v.is_some_and(|v| v.eq_ignore_ascii_case("true")))
            .collect();
        let mut which: Vec<usize> = (0..n).filter(|&i| flag[i]).collect();
        which.sort_by(|&a, &b| arr_of[b].total_cmp(&arr_of[a]).then(ids[a].cmp(&ids[b])));
        Some(Zombies {
            accounts: which.len(),
            arr: which.iter().map(|&i| arr_of[i]).sum(),
            largest: which
                .iter()
                .take(25)
                .map(|&i| TopAccount {
                    account_id: ids[i].clone(),
                    band: band[i].clone().unwrap_or_default(),
                    risk: rk(i),
                    arr: arr_of[i],
                    expected_arr_loss: rk(i) * arr_of[i],
                    drivers: vec![],
                })
                .collect(),
        })
    } else {
        None
    };
    let total_arr: f64 = arr_of.iter().sum();
    let expected_arr_at_risk: f64 = (0..n).map(|i| rk(i) * arr_of[i]).sum();
    let expansion_potential: f64 = (0..n).map(|i| up(i) * arr_of[i]).sum();
    let money = |x: f64| {
        if arr.is_some() {
            format_money(x)
        } else {
            format!("{x:.0} accounts")
        }
    };
    let mut summary = Vec::new();
    if expected_arr_at_risk > 0.0 {
        let parts: Vec<String> = by_band
            .iter()
            .filter(|g| g.expected_arr_at_risk > 0.0)
            .map(|g| format!("{:.0}% in {}", 100.0 * g.expected_arr_at_risk / expected_arr_at_risk, g.name))
            .collect();
        summary.push(format!(
            "Expected {} at risk: {} of {} across {n} accounts, {}.",
            if arr.is_some() { "ARR" } else { "churn" },
            money(expected_arr_at_risk),
            money(total_arr),
            parts.join(", ")
        ));
    }
    if let Some(c) = categories.first() {
        let top_features: Vec<&str> = features.iter().take(3).map(|d| d.name.as_str()).collect();
        summary.push(format!(
            "{} drives risk most across the portfolio; the strongest single features are {}.",
            capitalise(&c.name),
            top_features.join(", ")
        ));
    }
    match &migration {
        Some(m) => summary.push(format!(
            "Since the previous run {} accounts fell a band ({} of ARR){}.",
            m.fell,
            money(m.fell_arr),
            if m.new_accounts > 0 {
                format!(" and {} accounts are new", m.new_accounts)
            } else {
                String::new()
            }
        )),
        None => summary.push("No previous run was given, so no change is shown (pass --previous).".into()),
    }
    let points = (0..n)
        .filter(|&i| risk[i].is_finite())
        .map(|i| (rk(i), up(i), band_index(band[i].as_deref()).unwrap_or(1), arr_of[i]))
        .collect();
    let clusters = usage.and_then(|u| {
        let band_of = |i: usize| band_index(band[i].as_deref());
        let accounts = clusters::Accounts {
            ids: &ids,
            risk: &rk,
            upsell: upsell.as_ref().map(|_| &up as &dyn Fn(usize) -> f64),
            band: &band_of,
            arr: &arr_of,
        };
        clusters::clusters(&accounts, u, CLUSTER_SEED)
    });
    Ok(Portfolio {
        scores_file: path.display().to_string(),
        model_version: version,
        accounts: n,
        arr_known: arr.is_some(),
        total_arr,
        expected_arr_at_risk,
        expansion_potential,
        summary,
        by_band,
        by_segment,
        by_action,
        risk_distribution,
        categories,
        features,
        segment_categories,
        migration,
        top_accounts,
        zombies,
        clusters,
        points,
    })
}

/// Contributions in probability: the score's difference from the base rate
/// (`sigmoid(base)`), split in proportion to the log-odds `contributions`
/// (whose sum is `logit(risk) − base`), so that all of them add up to
/// `risk − sigmoid(base)`.
///
/// ```
/// use healthscore::report::portfolio::probability_points;
/// let (base, c) = (-2.0, [0.9, -0.3, 0.6]);
/// let risk = 1.0 / (1.0 + (-(base + 1.2f64)).exp());
/// let pts = probability_points(risk, base, &c);
/// let total: f64 = pts.iter().sum();
/// assert!((total - (risk - 1.0 / (1.0 + 2f64.exp()))).abs() < 1e-12);
/// ```
pub fn probability_points(risk: f64, base: f64, contributions: &[f64]) -> Vec<f64> {
    let margin = (risk / (1.0 - risk)).ln() - base;
    let change = risk - 1.0 / (1.0 + (-base).exp());
    if margin.abs() < 1e-12 {
        return vec![0.0; contributions.len()];
    }
    contributions.iter().map(|c| change * c / margin).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    fn scores() -> DataFrame {
        DataFrame::new_infer_height(vec![
            Column::new("account_id".into(), ["a", "b", "c", "d"]),
            Column::new("risk".into(), [0.5, 0.1, 0.3, 0.05]),
            Column::new("upsell".into(), [0.1, 0.4, 0.2, 0.3]),
            Column::new("band".into(), ["red", "green", "yellow", "green"]),
            Column::new("action".into(), ["protect", "grow", "nurture", "grow"]),
            Column::new("risk_usage".into(), [0.4, -0.2, 0.1, -0.3]),
        ])
        .unwrap()
    }

    #[test]
    fn expected_arr_at_risk_is_the_sum_of_risk_times_arr() {
        let arr: HashMap<String, f64> = [("a", 100.0), ("b", 1000.0), ("c", 50.0), ("d", 0.0)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let p = portfolio(Path::new("s.csv"), &scores(), Some(&arr), None, None, None).unwrap();
        let want = 0.5 * 100.0 + 0.1 * 1000.0 + 0.3 * 50.0;
        assert!((p.expected_arr_at_risk - want).abs() < 1e-9);
        let by_band: f64 = p.by_band.iter().map(|g| g.expected_arr_at_risk).sum();
        assert!((by_band - want).abs() < 1e-9);
        assert_eq!(p.by_band[0].name, "red");
        assert_eq!(p.top_accounts[0].account_id, "b", "100 of expected loss is the largest");
        assert!(p.summary[0].contains("at risk"), "{:?}", p.summary);
        let page = html(&p);
        assert!(page.contains("<svg") && !page.contains("<script"));
    }

    #[test]
    fn zombies_are_counted_with_their_arr_largest_first() {
        let mut df = scores();
        df.with_column(Column::new("zombie".into(), ["false", "true", "false", "true"]))
            .unwrap();
        let arr: HashMap<String, f64> = [("a", 100.0), ("b", 1000.0), ("c", 50.0), ("d", 3000.0)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let p = portfolio(Path::new("s.csv"), &df, Some(&arr), None, None, None).unwrap();
        let z = p.zombies.as_ref().unwrap();
        assert_eq!((z.accounts, z.arr), (2, 4000.0));
        assert_eq!(z.largest[0].account_id, "d");
        assert!(html(&p).contains("Zombies"));
        // Without the column there is no section.
        assert!(portfolio(Path::new("s.csv"), &scores(), None, None, None, None)
            .unwrap()
            .zombies
            .is_none());
    }

    #[test]
    fn migration_counts_accounts_that_fell() {
        let prev = DataFrame::new_infer_height(vec![
            Column::new("account_id".into(), ["a", "b", "c"]),
            Column::new("band".into(), ["green", "green", "yellow"]),
        ])
        .unwrap();
        let p = portfolio(Path::new("s.csv"), &scores(), None, None, Some((Path::new("p.csv"), &prev)), None).unwrap();
        let m = p.migration.unwrap();
        assert_eq!(m.accounts[2][0], 1, "a: green → red");
        assert_eq!(m.accounts[1][1], 1, "c stays yellow");
        assert_eq!((m.fell, m.new_accounts), (1, 1));
    }
}
