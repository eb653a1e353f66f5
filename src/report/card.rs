//! The card of one account as a page: its scores, band and action, a
//! waterfall of the risk drivers in percentage points of probability (from
//! the base rate to the account's risk), the drivers of each score with their
//! values, and what changed since a previous run. Self-contained HTML, inline
//! SVG, no script.

use std::collections::BTreeMap;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::spec::{Action, Band, Category, Target};
use crate::report::{esc, svg};

/// One account's scores and every driver of each, as `healthscore explain
/// --json` writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountCard {
    pub account_id: String,
    /// The snapshot scored, when the table has dates.
    pub snapshot_date: Option<String>,
    pub model_version: String,
    pub segment: Option<String>,
    pub risk: Option<f64>,
    pub upsell: Option<f64>,
    pub health: Option<f64>,
    pub band: Option<Band>,
    pub action: Action,
    /// The hand-built score and its band, beside the model's.
    pub rules_health: f64,
    pub rules_band: Band,
    /// The drivers of each model the version has (risk first).
    pub models: Vec<CardModel>,
    /// What changed since a previous run, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<CardChange>,
}

/// The drivers of one model's score for the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardModel {
    pub target: Target,
    /// The model's base margin (log-odds) and the account's margin; the
    /// contributions add up to their difference.
    pub base: f64,
    pub margin: f64,
    /// Every feature with a non-zero contribution, largest first by size.
    pub drivers: Vec<CardDriver>,
    /// The contributions summed per category, for the categories the model uses.
    pub categories: BTreeMap<Category, f64>,
}

/// One feature's part in a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardDriver {
    pub feature: String,
    pub category: Category,
    /// The account's value, as the scores file writes it.
    pub value: String,
    /// In log-odds: exact (TreeSHAP or coefficient × centred value).
    pub contribution: f64,
    /// The odds multiplier, `exp(contribution)`.
    pub odds: f64,
    /// In percentage points of probability: the score's difference from the
    /// model's base rate split in proportion to the log-odds contributions
    /// ([`crate::report::portfolio::probability_points`]).
    pub points: f64,
}

/// What changed for the account since a previous run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardChange {
    pub previous_band: Option<Band>,
    pub previous_risk: Option<f64>,
    /// Risk now minus risk then.
    pub risk_change: Option<f64>,
    /// The features whose risk contribution changed most (when the previous
    /// run wrote contributions), largest change first.
    pub moved: Vec<CardMove>,
}

/// One feature's change since the previous run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardMove {
    pub feature: String,
    /// Its value then (when the previous run listed it among its drivers) and now.
    pub before: Option<String>,
    pub now: String,
    /// Its risk contribution's change, in log-odds.
    pub contribution_change: f64,
}

/// Drivers drawn one bar each in the waterfall; the rest share one bar.
const WATERFALL_BARS: usize = 10;

/// The waterfall of a model's drivers in percentage points: from the base
/// rate, each driver's bar up (raises) or down (lowers), the rest in one bar,
/// ending at the account's probability.
fn waterfall(m: &CardModel, probability: f64) -> String {
    let base = 100.0 / (1.0 + (-m.base).exp());
    let mut bars: Vec<(String, f64)> = m
        .drivers
        .iter()
        .take(WATERFALL_BARS)
        .map(|d| (format!("{} = {}", d.feature, d.value), d.points))
        .collect();
    let rest: f64 = m.drivers.iter().skip(WATERFALL_BARS).map(|d| d.points).sum();
    if m.drivers.len() > WATERFALL_BARS {
        bars.push((format!("{} other features", m.drivers.len() - WATERFALL_BARS), rest));
    }
    let mut steps = vec![];
    let mut at = base;
    for (name, p) in &bars {
        steps.push((name.clone(), at, at + p));
        at += p;
    }
    let end = 100.0 * probability;
    let lo = steps
        .iter()
        .flat_map(|s| [s.1, s.2])
        .chain([base, end])
        .fold(f64::INFINITY, f64::min);
    let hi = steps
        .iter()
        .flat_map(|s| [s.1, s.2])
        .chain([base, end])
        .fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.08).max(0.5);
    let rows = steps.len() + 2;
    let height = 60 + 26 * rows as u32;
    svg(760, height, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("{}: from the base rate to this account, in percentage points", m.target.name()),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(300)
            .build_cartesian_2d((lo - pad)..(hi + pad), 0.0..rows as f64)?;
        let names: Vec<String> = std::iter::once(format!("base rate {base:.1}%"))
            .chain(steps.iter().map(|s| s.0.clone()))
            .chain(std::iter::once(format!("{} {end:.1}%", m.target.name())))
            .collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_desc("probability, %")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        let row_y = |i: usize| rows as f64 - i as f64 - 1.0;
        let grey = RGBColor(120, 120, 120);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(lo - pad, row_y(0) + 0.2), (base, row_y(0) + 0.8)],
            grey.filled(),
        )))?;
        chart.draw_series(steps.iter().enumerate().map(|(i, (_, a, b))| {
            let colour = if b >= a { RGBColor(214, 39, 40) } else { RGBColor(44, 160, 44) };
            Rectangle::new([(a.min(*b), row_y(i + 1) + 0.2), (a.max(*b), row_y(i + 1) + 0.8)], colour.filled())
        }))?;
        let last = rows - 1;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(lo - pad, row_y(last) + 0.2), (end, row_y(last) + 0.8)],
            RGBColor(31, 119, 180).filled(),
        )))?;
        // Each bar's name in the margin on its left, level with the bar.
        for (i, name) in names.iter().enumerate() {
            let (_, y) = chart.backend_coord(&(lo - pad, row_y(i) + 0.5));
            root.draw(&Text::new(name.clone(), (10, y - 7), ("sans-serif", 13)))?;
        }
        Ok(())
    })
}

/// The card as one self-contained HTML page (for `healthscore explain --html`).
///
/// ```no_run
/// use healthscore::{account_card, card_html, read_live, score, Registry};
/// let reg = Registry::new("models");
/// let version = reg.load(&reg.resolve(None)?)?;
/// let scored = score(&version, read_live(&version, "notebooks-data/live.csv".as_ref())?);
/// std::fs::write("card.html", card_html(&account_card(&scored, 0, &version.manifest.spec)))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn card_html(c: &AccountCard) -> String {
    let pct = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:.1}%", 100.0 * v));
    let mut h = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>healthscore: account card</title><style>\
         body{font-family:sans-serif;margin:24px;max-width:1000px;color:#222}table{border-collapse:collapse;margin:8px 0 16px}\
         td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}\
         .red{color:#d62728;font-weight:bold}.yellow{color:#b8860b;font-weight:bold}.green{color:#2ca02c;font-weight:bold}\
         .up{color:#d62728}.down{color:#2ca02c}</style></head><body>",
    );
    let band = c.band.map_or("—".to_string(), |b| b.name().to_string());
    h += &format!(
        "<h1>Account {}</h1><p>{}model version {}{}</p>",
        esc(&c.account_id),
        c.snapshot_date
            .as_ref()
            .map(|d| format!("snapshot {}, ", esc(d)))
            .unwrap_or_default(),
        esc(&c.model_version),
        c.segment.as_ref().map(|s| format!(", segment {}", esc(s))).unwrap_or_default()
    );
    h += &format!(
        "<table><tr><th>risk</th><th>health</th><th>band</th><th>upsell</th><th>action</th><th>hand-built score</th></tr>\
         <tr><td>{}</td><td>{}</td><td class=\"{band}\">{band}</td><td>{}</td><td>{}</td><td>{:.1} ({})</td></tr></table>",
        pct(c.risk),
        c.health.map_or("—".to_string(), |v| format!("{v:.1}")),
        pct(c.upsell),
        c.action,
        c.rules_health,
        c.rules_band.name()
    );
    if let Some(p) = &c.previous {
        h += &format!(
            "<h2>Since the previous run</h2><p>risk {} → {} ({}), band {} → {}.</p>",
            pct(p.previous_risk),
            pct(c.risk),
            p.risk_change.map_or("—".to_string(), |d| format!("{:+.1} points", 100.0 * d)),
            p.previous_band.map_or("—", |b| b.name()),
            band
        );
        if !p.moved.is_empty() {
            h += "<table><tr><th class=l>feature</th><th>then</th><th>now</th><th>change of its risk contribution (log-odds)</th></tr>";
            for m in &p.moved {
                h += &format!(
                    "<tr><td class=l>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{:+.3}</td></tr>",
                    esc(&m.feature),
                    esc(m.before.as_deref().unwrap_or("—")),
                    esc(&m.now),
                    if m.contribution_change > 0.0 { "up" } else { "down" },
                    m.contribution_change
                );
            }
            h += "</table>";
        }
    }
    for m in &c.models {
        let p = match m.target {
            Target::Risk => c.risk,
            Target::Upsell => c.upsell,
        };
        h += &format!("<h2>Why: the {} drivers</h2>", m.target.name());
        if let Some(p) = p {
            h += &waterfall(m, p);
        }
        h += "<table><tr><th class=l>feature</th><th class=l>category</th><th>value</th><th>points</th><th>log-odds</th><th>odds</th></tr>";
        for d in &m.drivers {
            h += &format!(
                "<tr><td class=l>{}</td><td class=l>{}</td><td>{}</td><td class=\"{}\">{:+.1}</td><td>{:+.3}</td><td>×{:.2}</td></tr>",
                esc(&d.feature),
                d.category,
                esc(&d.value),
                if d.points > 0.0 { "up" } else { "down" },
                d.points,
                d.contribution,
                d.odds
            );
        }
        h += "</table>";
    }
    h += "</body></html>\n";
    h
}
