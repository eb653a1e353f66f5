//! The scores table itself: one row per account with its probabilities, health,
//! band, action, drivers and roll-ups, and the alerts beside it.

use super::*;

/// The rows of [`render`], without the data checks. `ids` are the table's
/// account ids, moved into the output rather than copied.
pub(super) fn render_rows(
    scored: &Scored,
    ids: Vec<String>,
    loaded: &Loaded,
    previous: Option<&Previous>,
    opts: ScoreOptions,
) -> ScoreOutput {
    let ScoreOptions { top, contributions, .. } = opts;
    let spec = &loaded.manifest.spec;
    let t = &scored.table;
    let n = ids.len();
    debug_assert_eq!(n, scored.action.len(), "one id per scored row");
    let mut out = OutTable::default();
    // Filled last, when the comparison with a previous run is done with the ids.
    out.push("account_id", OutColumn::Text(vec![]));
    if let Some(d) = &t.dates {
        out.push("snapshot_date", OutColumn::Text(d.iter().map(|d| Some(d.to_string())).collect()));
    }
    if let (Some(col), Some(seg)) = (&spec.columns.segment, &t.segment) {
        out.push(col.clone(), OutColumn::labels(seg.iter().map(|s| Some(s.as_str()))));
    }
    for (name, values) in &t.kept {
        out.push(name.clone(), OutColumn::Text(values.clone()));
    }
    let prob = |s: &Option<TargetScores>| OutColumn::Float((0..n).map(|r| s.as_ref().map(|s| s.probability[r])).collect());
    out.push("risk", prob(&scored.risk));
    out.push("upsell", prob(&scored.upsell));
    out.push("health", OutColumn::Float(scored.health.clone()));
    out.push("band", OutColumn::labels(scored.band.iter().map(|b| b.map(|b| b.name()))));
    out.push("action", OutColumn::labels(scored.action.iter().map(|a| Some(a.name()))));
    // Revenue passed through, and the loss a churn would cost, weighted by its chance.
    if let (Some(col), Some(rev), Some(risk)) = (&spec.columns.revenue, &t.revenue, &scored.risk) {
        out.push(col.clone(), OutColumn::Float(rev.clone()));
        out.push(
            "expected_arr_loss",
            OutColumn::Float(rev.iter().zip(&risk.probability).map(|(v, p)| v.map(|v| v * p)).collect()),
        );
    }
    out.push("zombie", OutColumn::Bool(scored.zombie.clone()));
    out.push("model_version", OutColumn::constant(&scored.version, n));
    out.push(
        "rules_health",
        OutColumn::Float(scored.rules_health.iter().map(|h| Some((h * 10.0).round() / 10.0)).collect()),
    );
    out.push(
        "rules_band",
        OutColumn::labels(scored.rules_health.iter().map(|h| Some(spec.band(*h).name()))),
    );
    for (target, s) in [(Target::Risk, &scored.risk), (Target::Upsell, &scored.upsell)] {
        let Some(s) = s else { continue };
        let name = target.name();
        let a = &s.explained.attributions;
        out.push(format!("{name}_base"), OutColumn::Num(a.base.clone()));
        // Which model served each account, when the version has segment models.
        if let (Some(m), Some(seg)) = (loaded.model(target), &t.segment) {
            if !m.segments.is_empty() {
                let served = seg
                    .iter()
                    .map(|v| Some(if m.segments.contains_key(v) { v.as_str() } else { "pooled" }));
                out.push(format!("{name}_model"), OutColumn::labels(served));
            }
        }
        // The roll-ups: per category, the sum of its features' contributions.
        let features = &s.explained.features;
        for c in Category::all_with(features.iter().map(|(_, c)| *c)) {
            let mine: Vec<usize> = (0..features.len()).filter(|&j| features[j].1 == c).collect();
            let sums: Vec<f64> = (0..n)
                .into_par_iter()
                .map(|r| mine.iter().fold(0.0, |s, &j| s + a.contributions[[r, j]]))
                .collect();
            out.push(format!("{name}_{}", c.name()), OutColumn::Num(sums));
        }
        // The drivers of row r are tops[r * top..][..top], NO_DRIVER past the last.
        const NO_DRIVER: u32 = u32::MAX;
        let mut tops = vec![NO_DRIVER; n * top];
        if top > 0 {
            tops.par_chunks_mut(top).enumerate().for_each_init(
                || Vec::with_capacity(top),
                |best, (r, slots)| {
                    top_k_into(a.contributions.row(r).as_slice().expect("contiguous"), top, best);
                    for (slot, &j) in slots.iter_mut().zip(best.iter()) {
                        *slot = j as u32;
                    }
                },
            );
        }
        // Feature columns resolved once, not per cell.
        let values: Vec<Option<&FeatureValues>> = s.explained.features.iter().map(|(f, _)| t.feature(f).map(|x| &x.values)).collect();
        // The driver values as text, one column per rank, written into one buffer each.
        let mut value_cells: Vec<TextCells> = (0..top)
            .into_par_iter()
            .map(|k| {
                let mut cells = TextCells::with_capacity(n, 12);
                for r in 0..n {
                    match tops[r * top + k] {
                        NO_DRIVER => cells.push(None),
                        j => cells.push_with(|s| push_cell(s, values[j as usize], r)),
                    }
                }
                cells
            })
            .collect();
        for k in 0..top {
            let feat = |r: usize| Some(tops[r * top + k]).filter(|&j| j != NO_DRIVER).map(|j| j as usize);
            out.push(
                format!("{name}_driver_{}", k + 1),
                OutColumn::Labels {
                    levels: s.explained.features.iter().map(|(f, _)| f.clone()).collect(),
                    codes: (0..n)
                        .into_par_iter()
                        .map(|r| feat(r).map_or(OutColumn::MISSING, |j| j as u32))
                        .collect(),
                },
            );
            out.push(
                format!("{name}_driver_{}_value", k + 1),
                OutColumn::Cells(std::mem::take(&mut value_cells[k])),
            );
            out.push(
                format!("{name}_driver_{}_contribution", k + 1),
                OutColumn::Num(
                    (0..n)
                        .into_par_iter()
                        .map(|r| feat(r).map_or(f64::NAN, |j| a.contributions[[r, j]]))
                        .collect(),
                ),
            );
            // In percentage points of probability: the score's distance from
            // the base rate split in proportion to the log-odds contributions.
            out.push(
                format!("{name}_driver_{}_points", k + 1),
                OutColumn::Num(
                    (0..n)
                        .into_par_iter()
                        .map(|r| {
                            feat(r).map_or(f64::NAN, |j| {
                                100.0 * point_share(s.probability[r], a.base[r], a.contributions[[r, j]])
                            })
                        })
                        .collect(),
                ),
            );
            out.push(
                format!("{name}_driver_{}_odds", k + 1),
                OutColumn::Num(
                    (0..n)
                        .into_par_iter()
                        .map(|r| feat(r).map_or(f64::NAN, |j| a.contributions[[r, j]].exp()))
                        .collect(),
                ),
            );
        }
        if target == Target::Risk && contributions {
            for (j, (f, _)) in s.explained.features.iter().enumerate() {
                out.push(format!("{CONTRIB}{f}"), OutColumn::Num(a.contributions.column(j).to_vec()));
            }
        }
    }
    let mut summary = ScoreSummary {
        rows: n,
        version: scored.version.clone(),
        ..Default::default()
    };
    count_names(scored.band.iter().flatten().map(|b| b.name()), &mut summary.bands);
    count_names(scored.action.iter().map(|a| a.name()), &mut summary.actions);
    let mut alerts = OutTable::default();
    if let (Some(prev), Some(risk)) = (previous, &scored.risk) {
        let (mut pb, mut pr, mut change, mut moved, mut alert) = (vec![], vec![], vec![], vec![], vec![]);
        let mut reasons = vec![];
        let mut alert_rows = vec![];
        let mut matched = 0;
        for (r, id) in ids.iter().enumerate() {
            let p = prev.rows.get(id);
            matched += p.is_some() as usize;
            pb.push(p.and_then(|p| p.band).map(|b| b.name().to_string()));
            pr.push(p.and_then(|p| p.risk));
            let now = risk.probability[r];
            let d = p.and_then(|p| p.risk).map(|old| now - old);
            change.push(d);
            // Which features moved the score: the change of each feature's contribution.
            let deltas: Option<Vec<f64>> = p.filter(|_| prev.has_contributions).map(|p| {
                risk.explained
                    .features
                    .iter()
                    .enumerate()
                    .map(|(j, (f, _))| risk.explained.attributions.contributions[[r, j]] - p.contributions.get(f).copied().unwrap_or(0.0))
                    .collect()
            });
            let mv = deltas.as_ref().map(|deltas| {
                top_k(deltas, 3)
                    .into_iter()
                    .map(|j| fmt_contrib(&risk.explained.features[j].0, deltas[j]))
                    .collect::<Vec<_>>()
                    .join("; ")
            });
            let reason = match (p.and_then(|p| p.band), scored.band[r], d) {
                (Some(old), Some(new), _) if new < old => Some(format!("band fell {}→{}", old.name(), new.name())),
                (_, _, Some(d)) if d > spec.actions.alert_risk_rise => Some(format!("risk rose by {:.0} points", 100.0 * d)),
                _ => None,
            };
            if let Some(a) = &reason {
                alert_rows.push(r);
                let features = &risk.explained.features;
                let detail = match (p, &deltas) {
                    (Some(p), Some(deltas)) => risers(deltas, 3)
                        .into_iter()
                        .map(|j| feature_move(&features[j].0, p.values.get(&features[j].0), &value_text(t, &features[j].0, r)))
                        .collect::<Vec<_>>()
                        .join("; "),
                    _ => String::new(),
                };
                reasons.push(Some(if detail.is_empty() { a.clone() } else { format!("{a}: {detail}") }));
            }
            moved.push(mv.filter(|s| !s.is_empty()));
            alert.push(reason);
        }
        summary.previous_matched = Some(matched);
        summary.alerts = alert_rows.len();
        out.push("previous_band", OutColumn::Text(pb.clone()));
        out.push("previous_risk", OutColumn::Float(pr.clone()));
        out.push("risk_change", OutColumn::Float(change.clone()));
        if let Some(rescored) = &prev.rescored {
            // The change split: the customer's part (this model, then against now)
            // and the model's (this model against the previous one, on the table then).
            let then = |r: usize| rescored.get(&ids[r]).copied();
            let customer = (0..n).map(|r| then(r).map(|t| risk.probability[r] - t)).collect();
            let model = (0..n).map(|r| Some(then(r)? - prev.rows.get(&ids[r])?.risk?)).collect();
            out.push("risk_change_customer", OutColumn::Float(customer));
            out.push("risk_change_model", OutColumn::Float(model));
        }
        out.push("moved_by", OutColumn::Text(moved.clone()));
        out.push("alert", OutColumn::Text(alert.clone()));
        let pick_t = |v: &Vec<Option<String>>| OutColumn::Text(alert_rows.iter().map(|&r| v[r].clone()).collect());
        let pick_f = |v: &Vec<Option<f64>>| OutColumn::Float(alert_rows.iter().map(|&r| v[r]).collect());
        alerts.push(
            "account_id",
            OutColumn::Text(alert_rows.iter().map(|&r| Some(ids[r].clone())).collect()),
        );
        alerts.push("alert", pick_t(&alert));
        alerts.push("reason", OutColumn::Text(reasons));
        alerts.push("previous_band", pick_t(&pb));
        alerts.push(
            "band",
            OutColumn::Text(alert_rows.iter().map(|&r| scored.band[r].map(|b| b.name().to_string())).collect()),
        );
        alerts.push("previous_risk", pick_f(&pr));
        alerts.push(
            "risk",
            OutColumn::Float(alert_rows.iter().map(|&r| Some(risk.probability[r])).collect()),
        );
        alerts.push("moved_by", pick_t(&moved));
        alerts.push(
            "action",
            OutColumn::Text(alert_rows.iter().map(|&r| Some(scored.action[r].to_string())).collect()),
        );
        if let (Some(col), Some(rev)) = (&spec.columns.revenue, &t.revenue) {
            alerts.push(col.clone(), OutColumn::Float(alert_rows.iter().map(|&r| rev[r]).collect()));
            alerts.push(
                "expected_arr_loss",
                OutColumn::Float(alert_rows.iter().map(|&r| rev[r].map(|v| v * risk.probability[r])).collect()),
            );
        }
        for (name, values) in &t.kept {
            alerts.push(name.clone(), pick_t(values));
        }
    }
    out.columns[0] = OutColumn::Text(ids.into_iter().map(Some).collect());
    ScoreOutput {
        scores: out,
        alerts,
        summary,
    }
}

/// Adds how often each name occurs to `counts`. The few distinct names are
/// counted first, so that no row allocates or hashes a key.
pub(super) fn count_names(names: impl Iterator<Item = &'static str>, counts: &mut BTreeMap<String, usize>) {
    let mut seen: Vec<(&'static str, usize)> = vec![];
    for name in names {
        match seen.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => seen.push((name, 1)),
        }
    }
    for (name, c) in seen {
        *counts.entry(name.to_string()).or_default() += c;
    }
}

/// One contribution's share of `p − sigmoid(base)`, as
/// [`crate::report::portfolio::probability_points`] computes it.
fn point_share(p: f64, base: f64, contribution: f64) -> f64 {
    crate::report::portfolio::probability_points(p, base, &[contribution])[0]
}

/// The features that raised the risk most since the previous run (their
/// contributions' change above zero), largest first, at most `k`.
fn risers(deltas: &[f64], k: usize) -> Vec<usize> {
    let up: Vec<f64> = deltas.iter().map(|&d| d.max(0.0)).collect();
    top_k(&up, k)
}

/// One feature's move in words: `nps 9 → 4`; `nps now 4` when the previous
/// run did not list its value (it was not among that run's drivers).
fn feature_move(feature: &str, before: Option<&String>, now: &str) -> String {
    match before {
        Some(b) if b == now => format!("{feature} still {now}"),
        Some(b) => format!("{feature} {b} → {now}"),
        None => format!("{feature} now {now}"),
    }
}

/// A feature's value in a row, as text.
pub fn value_text(t: &Table, feature: &str, r: usize) -> String {
    cell_text(t.feature(feature).map(|f| &f.values), r)
}

/// A cell of a feature column as text (`(missing)` for an empty cell).
pub(super) fn cell_text(values: Option<&FeatureValues>, r: usize) -> String {
    let mut s = String::new();
    push_cell(&mut s, values, r);
    s
}

/// Appends [`cell_text`] to `out`.
pub(super) fn push_cell(out: &mut String, values: Option<&FeatureValues>, r: usize) {
    match values {
        Some(FeatureValues::Numeric(v)) if v[r].is_finite() => push_float(out, v[r]),
        Some(FeatureValues::Categorical(v)) if v.get(r).is_some() => out.push_str(v.get(r).unwrap_or_default()),
        Some(_) => out.push_str("(missing)"),
        None => {}
    }
}
