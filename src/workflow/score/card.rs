//! The account card: one account's scores and drivers, as a value for
//! programs ([`account_card`], `explain --json`) and as text for a terminal
//! ([`card`]).

use super::*;
use crate::report::portfolio::probability_points;

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
    /// ([`probability_points`]).
    pub points: f64,
}

/// The card of row `r` of `scored` as a value.
///
/// ```no_run
/// use healthscore::{read_live, score, Registry};
/// use healthscore::workflow::score::account_card;
/// let reg = Registry::new("models");
/// let version = reg.load(&reg.resolve(None)?)?;
/// let scored = score(&version, read_live(&version, "notebooks-data/live.csv".as_ref())?);
/// let card = account_card(&scored, 0, &version.manifest.spec);
/// println!("{} drivers of risk", card.models[0].drivers.len());
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn account_card(scored: &Scored, r: usize, spec: &Spec) -> AccountCard {
    let t = &scored.table;
    let mut models = vec![];
    for (target, ts) in [(Target::Risk, &scored.risk), (Target::Upsell, &scored.upsell)] {
        let Some(ts) = ts else { continue };
        let a = &ts.explained.attributions;
        let row: Vec<f64> = a.contributions.row(r).to_vec();
        let points = probability_points(ts.probability[r], a.base[r], &row);
        let mut idx: Vec<usize> = (0..row.len()).filter(|&j| row[j].abs() > 1e-9).collect();
        idx.sort_by(|&x, &y| row[y].abs().total_cmp(&row[x].abs()).then(x.cmp(&y)));
        let drivers = idx
            .into_iter()
            .map(|j| {
                let (f, c) = &ts.explained.features[j];
                CardDriver {
                    feature: f.clone(),
                    category: *c,
                    value: value_text(t, f, r),
                    contribution: row[j],
                    odds: row[j].exp(),
                    points: 100.0 * points[j],
                }
            })
            .collect();
        let cats = by_category(&ts.explained.features, &row);
        models.push(CardModel {
            target,
            base: a.base[r],
            margin: a.base[r] + row.iter().sum::<f64>(),
            drivers,
            categories: Category::ALL
                .into_iter()
                .filter(|c| ts.explained.features.iter().any(|(_, fc)| fc == c))
                .map(|c| (c, cats[c.index()]))
                .collect(),
        });
    }
    AccountCard {
        account_id: t.ids[r].clone(),
        snapshot_date: t.dates.as_ref().map(|d| d[r].to_string()),
        model_version: scored.version.clone(),
        segment: t.segment.as_ref().map(|s| s[r].clone()),
        risk: scored.risk.as_ref().map(|s| s.probability[r]),
        upsell: scored.upsell.as_ref().map(|s| s.probability[r]),
        health: scored.health[r],
        band: scored.band[r],
        action: scored.action[r],
        rules_health: scored.rules_health[r],
        rules_band: spec.band(scored.rules_health[r]),
        models,
    }
}

/// The plain-text card of one account (for `healthscore explain`): the five
/// largest drivers in each direction of each score, with their values, odds
/// multipliers and probability points, and the roll-up per category.
pub fn card(scored: &Scored, r: usize, spec: &Spec) -> String {
    use std::fmt::Write;
    let c = account_card(scored, r, spec);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "account {}{}  (model {})",
        c.account_id,
        c.snapshot_date.as_ref().map(|d| format!(" on {d}")).unwrap_or_default(),
        c.model_version
    );
    if let Some(seg) = &c.segment {
        let _ = writeln!(s, "segment   {seg}");
    }
    if let (Some(rk), Some(h), Some(b)) = (c.risk, c.health, c.band) {
        let _ = writeln!(s, "risk      {:.1}%   health {h:.1}   band {}", 100.0 * rk, b.name().to_uppercase());
    }
    if let Some(u) = c.upsell {
        let _ = writeln!(s, "upsell    {:.1}%", 100.0 * u);
    }
    let _ = writeln!(s, "action    {}", c.action);
    let _ = writeln!(s, "hand-built score {:.1} ({})", c.rules_health, c.rules_band.name());
    for m in &c.models {
        let _ = writeln!(
            s,
            "\n{} drivers (log-odds; base {:+.3}, total {:+.3}; points: percentage points of probability):",
            m.target.name(),
            m.base,
            m.margin
        );
        let (up, down) = if m.target == Target::Risk {
            ("raise risk", "lower risk")
        } else {
            ("raise upsell", "lower upsell")
        };
        for (label, sign) in [(up, 1.0), (down, -1.0)] {
            let _ = writeln!(s, "  {label}:");
            let mut side = m.drivers.iter().filter(|d| d.contribution * sign > 0.0).peekable();
            if side.peek().is_none() {
                let _ = writeln!(s, "    (none)");
            }
            for d in side.take(5) {
                let _ = writeln!(
                    s,
                    "    {:<28} {:>12}  {:+.3}  odds ×{:.2}  {:+.1} pts  [{}]",
                    d.feature, d.value, d.contribution, d.odds, d.points, d.category
                );
            }
        }
        let _ = writeln!(s, "  by category:");
        for (cat, v) in &m.categories {
            let _ = writeln!(s, "    {:<14} {:+.3}", cat.name(), v);
        }
    }
    s
}
