//! The portfolio page a customer-success leader reads: where the expected ARR
//! at risk sits (by band, segment and action), the risk × upsell map of the
//! accounts, the score distribution by band, band migration since the
//! previous run, what drives the portfolio by category and feature, and the
//! accounts with the largest expected loss, and the zombies (outside the red
//! band, barely using the product). One self-contained HTML page
//! (inline SVG, no script) and the same figures as JSON.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use plotters::prelude::*;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use crate::data::spec::Category;
use crate::data::table::Frame;
use crate::error::{Error, Result};

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
    pub migration: Option<Migration>,
    pub top_accounts: Vec<TopAccount>,
    /// Accounts the scores file flags `zombie` (outside the red band while
    /// barely using the product), when it has the column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zombies: Option<Zombies>,
    /// (risk, upsell, band, ARR) of every account, for the map; not in the JSON.
    #[serde(skip)]
    pub points: Vec<(f64, f64, usize, f64)>,
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

fn band_index(b: Option<&str>) -> Option<usize> {
    BANDS.iter().position(|x| Some(*x) == b)
}

/// Builds the portfolio from a scores frame (as `score` writes it), the ARR
/// of each account when known, and the previous scores frame for migration.
///
/// ```no_run
/// use healthscore::data::table::read_frame_text;
/// let scores = read_frame_text("scores.csv".as_ref(), &["account_id"])?;
/// let p = healthscore::report::portfolio::portfolio("scores.csv".as_ref(), &scores, None, None, None)?;
/// println!("{}", p.summary.join(" "));
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn portfolio(
    path: &Path,
    scores: &DataFrame,
    arr: Option<&HashMap<String, f64>>,
    segment: Option<&str>,
    previous: Option<(&Path, &DataFrame)>,
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
    let mut categories = Vec::new();
    for c in Category::ALL {
        if let Some(r) = mean_abs(&format!("risk_{}", c.name()))? {
            categories.push(Driver {
                name: c.name().into(),
                mean_abs_risk: r,
                mean_abs_upsell: mean_abs(&format!("upsell_{}", c.name()))?,
            });
        }
    }
    categories.sort_by(|a, b| b.mean_abs_risk.total_cmp(&a.mean_abs_risk));
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
        migration,
        top_accounts,
        zombies,
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

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// 1234567 → `1.23M`, 45600 → `45.6k`.
fn format_money(x: f64) -> String {
    if x.abs() >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x.abs() >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

const COLOURS: [RGBColor; 3] = [RGBColor(214, 39, 40), RGBColor(230, 160, 0), RGBColor(44, 160, 44)];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn svg(w: u32, h: u32, draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> DrawResult) -> String {
    let mut out = String::new();
    let res = {
        let root = SVGBackend::with_string(&mut out, (w, h)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|_| draw(&root).map_err(|e| e.to_string()))
    };
    match res {
        Ok(()) => out,
        Err(e) => format!("<p>chart not drawn: {}</p>", esc(&e)),
    }
}

/// The risk × upsell map: a dot per account (size by ARR) up to [`MAP_DOTS`], else a density grid.
fn map_chart(p: &Portfolio) -> String {
    svg(560, 440, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Portfolio map: churn risk × upsell", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc("churn risk")
            .y_desc("upsell probability")
            .x_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        if p.points.len() <= MAP_DOTS {
            let max_arr = p.points.iter().map(|q| q.3).fold(0.0, f64::max).max(1e-9);
            for (k, name) in BANDS.iter().enumerate() {
                let colour = COLOURS[k];
                chart
                    .draw_series(
                        p.points
                            .iter()
                            .filter(|q| q.2 == k)
                            .map(|&(x, y, _, a)| Circle::new((x, y), 2 + (6.0 * (a / max_arr).sqrt()) as i32, colour.mix(0.55).filled())),
                    )?
                    .label(*name)
                    .legend(move |(x, y)| Circle::new((x, y), 5, colour.filled()));
            }
        } else {
            const G: usize = 50;
            let mut cells = vec![[0usize; 3]; G * G];
            for &(x, y, b, _) in &p.points {
                let i = ((x * G as f64) as usize).min(G - 1);
                let j = ((y * G as f64) as usize).min(G - 1);
                cells[j * G + i][b] += 1;
            }
            let max = cells.iter().map(|c| c.iter().sum::<usize>()).max().unwrap_or(1).max(1) as f64;
            for (k, name) in BANDS.iter().enumerate() {
                let colour = COLOURS[k];
                let rects = cells.iter().enumerate().filter_map(move |(c, counts)| {
                    let total: usize = counts.iter().sum();
                    let dominant = (0..3).max_by_key(|&b| counts[b]).unwrap_or(0);
                    if total == 0 || dominant != k {
                        return None;
                    }
                    let (i, j) = ((c % G) as f64, (c / G) as f64);
                    let alpha = 0.15 + 0.85 * ((total as f64).ln_1p() / max.ln_1p());
                    Some(Rectangle::new(
                        [(i / G as f64, j / G as f64), ((i + 1.0) / G as f64, (j + 1.0) / G as f64)],
                        colour.mix(alpha).filled(),
                    ))
                });
                chart
                    .draw_series(rects)?
                    .label(format!("{name} (density)"))
                    .legend(move |(x, y)| Rectangle::new([(x - 5, y - 5), (x + 5, y + 5)], colour.filled()));
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// Accounts per risk bin, stacked by band.
fn distribution_chart(p: &Portfolio) -> String {
    svg(560, 440, |root| {
        let max = p
            .risk_distribution
            .iter()
            .map(|b| b.red + b.yellow + b.green)
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let mut chart = ChartBuilder::on(root)
            .caption("Risk distribution by band", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..1.0, 0.0..max * 1.08)?;
        chart
            .configure_mesh()
            .x_desc("churn risk")
            .y_desc("accounts")
            .x_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        for (k, name) in BANDS.iter().enumerate() {
            let colour = COLOURS[k];
            chart
                .draw_series(p.risk_distribution.iter().map(|b| {
                    let counts = [b.red, b.yellow, b.green];
                    let below: usize = counts[..k].iter().sum();
                    Rectangle::new(
                        [(b.from + 0.002, below as f64), (b.to - 0.002, (below + counts[k]) as f64)],
                        colour.filled(),
                    )
                }))?
                .label(*name)
                .legend(move |(x, y)| Rectangle::new([(x - 5, y - 5), (x + 5, y + 5)], colour.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

fn groups_table(title: &str, groups: &[Group], money: &dyn Fn(f64) -> String) -> String {
    let mut h = format!(
        "<h3>{}</h3><table><tr><th>{}</th><th>accounts</th><th>ARR</th><th>expected ARR at risk</th><th>share of the risk</th><th>expansion potential</th><th>mean risk</th></tr>",
        esc(title),
        esc(title.trim_start_matches("By ").trim_start_matches("by "))
    );
    let total: f64 = groups.iter().map(|g| g.expected_arr_at_risk).sum();
    for g in groups {
        h += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{:.1}%</td></tr>",
            esc(&g.name),
            g.accounts,
            money(g.arr),
            money(g.expected_arr_at_risk),
            if total > 0.0 { 100.0 * g.expected_arr_at_risk / total } else { 0.0 },
            money(g.expansion_potential),
            100.0 * g.mean_risk
        );
    }
    h + "</table>"
}

fn bars(title: &str, drivers: &[Driver]) -> String {
    let max = drivers.iter().map(|d| d.mean_abs_risk).fold(0.0, f64::max).max(1e-12);
    let upsell = drivers.iter().any(|d| d.mean_abs_upsell.is_some());
    let mut h = format!(
        "<h3>{}</h3><table class=bars><tr><th>name</th><th>mean |risk contribution| (log-odds)</th>{}</tr>",
        esc(title),
        if upsell { "<th>mean |upsell contribution|</th>" } else { "" }
    );
    for d in drivers {
        h += &format!(
            "<tr><td>{}</td><td><span class=bar style=\"width:{:.0}px\"></span> {:.3}</td>{}</tr>",
            esc(&d.name),
            240.0 * d.mean_abs_risk / max,
            d.mean_abs_risk,
            if upsell {
                format!(
                    "<td>{}</td>",
                    d.mean_abs_upsell.map(|u| format!("{u:.3}")).unwrap_or_else(|| "–".into())
                )
            } else {
                String::new()
            }
        );
    }
    h + "</table>"
}

/// The portfolio as one self-contained HTML page.
pub fn html(p: &Portfolio) -> String {
    let arr_known = p.arr_known;
    let money = move |x: f64| if arr_known { format_money(x) } else { format!("{x:.1}") };
    let mut h = String::from(
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>healthscore portfolio</title><style>\
         body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1160px;color:#222}\
         table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}\
         th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}\
         .charts{display:grid;grid-template-columns:1fr 1fr;gap:8px}figure{margin:0}.meta{color:#666}\
         .summary{background:#f5f8ff;border-left:4px solid #3b6fd8;padding:.6em 1em;font-size:1.05em}\
         .kpi{display:flex;gap:2em;margin:1em 0}.kpi div{font-size:.9em;color:#555}.kpi b{display:block;font-size:1.6em;color:#222}\
         .bar{display:inline-block;height:.8em;background:#3b6fd8;vertical-align:middle}.bars td:nth-child(2){text-align:left}\
         .red{color:#d62728}.yellow{color:#b07800}.green{color:#2ca02c}</style></head><body>",
    );
    h += "<h1>Portfolio health</h1>";
    h += &format!(
        "<p class=meta>{} accounts from {} · model version {}{}</p>",
        p.accounts,
        esc(&p.scores_file),
        esc(p.model_version.as_deref().unwrap_or("–")),
        if p.arr_known {
            ""
        } else {
            " · no ARR given: figures count accounts (expected churned accounts)"
        }
    );
    h += "<div class=summary>";
    for s in &p.summary {
        h += &format!("<p>{}</p>", esc(s));
    }
    h += "</div>";
    h += &format!(
        "<div class=kpi><div><b>{}</b>{}</div><div><b>{}</b>expected at risk (Σ risk × ARR)</div><div><b>{}</b>expansion potential (Σ upsell × ARR)</div></div>",
        money(p.total_arr),
        if p.arr_known { "total ARR" } else { "accounts" },
        money(p.expected_arr_at_risk),
        money(p.expansion_potential)
    );
    h += &format!(
        "<div class=charts><figure>{}</figure><figure>{}</figure></div>",
        map_chart(p),
        distribution_chart(p)
    );
    h += "<h2>Where the expected ARR at risk sits</h2>";
    h += &groups_table("By band", &p.by_band, &money);
    if !p.by_segment.is_empty() {
        h += &groups_table("By segment", &p.by_segment, &money);
    }
    h += &groups_table("By action", &p.by_action, &money);
    if let Some(m) = &p.migration {
        h += &format!(
            "<h2>Band migration since the previous run</h2><p>{} accounts fell a band ({} of ARR); {} accounts are new.</p>",
            m.fell,
            money(m.fell_arr),
            m.new_accounts
        );
        h += "<table><tr><th>previous ↓ / now →</th>";
        for b in &m.bands {
            h += &format!("<th class={b}>{b}</th>");
        }
        h += "</tr>";
        for (i, b) in m.bands.iter().enumerate() {
            h += &format!("<tr><td class={b}>{b}</td>");
            for j in 0..m.bands.len() {
                h += &format!("<td>{} <span class=meta>({})</span></td>", m.accounts[i][j], money(m.arr[i][j]));
            }
            h += "</tr>";
        }
        h += "</table>";
    }
    h += "<h2>What drives the portfolio</h2>";
    h += &bars("By category", &p.categories);
    h += &bars("By feature (top 12)", &p.features[..p.features.len().min(12)]);
    h += "<h2>The 25 accounts with the largest expected loss</h2><table><tr><th>account</th><th>band</th><th>risk</th><th>ARR</th><th>expected loss</th><th>top risk drivers (percentage points of risk, log-odds)</th></tr>";
    for t in &p.top_accounts {
        h += &format!(
            "<tr><td>{}</td><td class={}>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td><td style=\"text-align:left\">{}</td></tr>",
            esc(&t.account_id),
            esc(&t.band),
            esc(&t.band),
            100.0 * t.risk,
            money(t.arr),
            money(t.expected_arr_loss),
            esc(&t.drivers.join("; "))
        );
    }
    h += "</table>";
    if let Some(z) = &p.zombies {
        h += &format!(
            "<h2>Zombies: renewing on paper, barely using the product</h2><p>{} accounts ({} of ARR) are outside the red band \
             while their engagement and usage sit in the bottom of the training history. The model does not expect them to \
             churn; nobody uses what they pay for. {}</p>",
            z.accounts,
            money(z.arr),
            if z.accounts > 0 { "The largest:" } else { "" }
        );
        if !z.largest.is_empty() {
            h += "<table><tr><th>account</th><th>band</th><th>risk</th><th>ARR</th></tr>";
            for t in &z.largest {
                h += &format!(
                    "<tr><td>{}</td><td class={}>{}</td><td>{:.1}%</td><td>{}</td></tr>",
                    esc(&t.account_id),
                    esc(&t.band),
                    esc(&t.band),
                    100.0 * t.risk,
                    money(t.arr)
                );
            }
            h += "</table>";
        }
    }
    h += "</body></html>\n";
    h
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
        let p = portfolio(Path::new("s.csv"), &scores(), Some(&arr), None, None).unwrap();
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
        let p = portfolio(Path::new("s.csv"), &df, Some(&arr), None, None).unwrap();
        let z = p.zombies.as_ref().unwrap();
        assert_eq!((z.accounts, z.arr), (2, 4000.0));
        assert_eq!(z.largest[0].account_id, "d");
        assert!(html(&p).contains("Zombies"));
        // Without the column there is no section.
        assert!(portfolio(Path::new("s.csv"), &scores(), None, None, None)
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
        let p = portfolio(Path::new("s.csv"), &scores(), None, None, Some((Path::new("p.csv"), &prev))).unwrap();
        let m = p.migration.unwrap();
        assert_eq!(m.accounts[2][0], 1, "a: green → red");
        assert_eq!(m.accounts[1][1], 1, "c stays yellow");
        assert_eq!((m.fell, m.new_accounts), (1, 1));
    }
}
