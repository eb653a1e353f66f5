//! The account card: one account's scores and drivers, as a value for
//! programs ([`account_card`], `explain --json`) and as text for a terminal
//! ([`card`]).

use super::*;
pub use crate::report::card::{AccountCard, CardChange, CardDriver, CardModel, CardMove};
use crate::report::portfolio::probability_points;

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
        let (names, sums) = by_category(&ts.explained.features, &row);
        models.push(CardModel {
            target,
            base: a.base[r],
            margin: a.base[r] + row.iter().sum::<f64>(),
            drivers,
            categories: names
                .into_iter()
                .zip(sums)
                .filter(|(c, _)| ts.explained.features.iter().any(|(_, fc)| fc == c))
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
        previous: None,
    }
}

/// What changed for row `r` of `scored` since `previous`, for its card: the
/// previous band and risk, and the five features whose risk contribution
/// changed most, with their values then (when the previous run listed them)
/// and now. None when the account is not in the previous run.
pub fn card_change(scored: &Scored, r: usize, previous: &Previous) -> Option<CardChange> {
    let t = &scored.table;
    let p = previous.rows.get(&t.ids[r])?;
    let risk = scored.risk.as_ref();
    let mut moved = vec![];
    if let (Some(risk), true) = (risk, previous.has_contributions) {
        let features = &risk.explained.features;
        let deltas: Vec<f64> = features
            .iter()
            .enumerate()
            .map(|(j, (f, _))| risk.explained.attributions.contributions[[r, j]] - p.contributions.get(f).copied().unwrap_or(0.0))
            .collect();
        for j in top_k(&deltas, 5) {
            let f = &features[j].0;
            moved.push(CardMove {
                feature: f.clone(),
                before: p.values.get(f).cloned(),
                now: value_text(t, f, r),
                contribution_change: deltas[j],
            });
        }
    }
    Some(CardChange {
        previous_band: p.band,
        previous_risk: p.risk,
        risk_change: risk.zip(p.risk).map(|(s, old)| s.probability[r] - old),
        moved,
    })
}

/// The plain-text card of one account (for `healthscore explain`): the five
/// largest drivers in each direction of each score, with their values, odds
/// multipliers and probability points, and the roll-up per category.
pub fn card(scored: &Scored, r: usize, spec: &Spec) -> String {
    card_text(&account_card(scored, r, spec))
}

/// The plain-text form of a card, what changed since a previous run included.
pub fn card_text(c: &AccountCard) -> String {
    use std::fmt::Write;
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
    if let Some(p) = &c.previous {
        let pct = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:.1}%", 100.0 * v));
        let _ = writeln!(
            s,
            "\nsince the previous run: risk {} → {} ({}), band {} → {}",
            pct(p.previous_risk),
            pct(c.risk),
            p.risk_change.map_or("—".to_string(), |d| format!("{:+.1} points", 100.0 * d)),
            p.previous_band.map_or("—", |b| b.name()),
            c.band.map_or("—", |b| b.name())
        );
        for m in &p.moved {
            let _ = writeln!(
                s,
                "    {:<28} {:>12} → {:<12} {:+.3} log-odds",
                m.feature,
                m.before.as_deref().unwrap_or("—"),
                m.now,
                m.contribution_change
            );
        }
    }
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
