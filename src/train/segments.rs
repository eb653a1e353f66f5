//! Segment models: a segment gets a model of its own only when its own
//! cross-validation beats the pooled model on its rows.

use std::collections::BTreeMap;

use crate::data::spec::{SegmentModels, Spec};
use crate::data::table::Table;
use crate::error::Result;
use crate::features::PreprocessParams;
use crate::model::{SegmentChoice, Selection, SubModel};
use crate::train::folds::Fold;
use crate::train::progress::{fits_of, Ticker};
use crate::train::select::*;

/// Models of their own for the segments that earn one. A segment is a candidate
/// when it has at least `min_segment_rows` labeled rows of both classes; its
/// own model is chosen by the same cross-validation restricted to its rows, and
/// with `segment_models = "auto"` it is kept only when its out-of-fold log-loss
/// beats every pooled candidate's on the same rows (both sides then pick their
/// best of the same grid, so the segment gains nothing from the selection alone).
/// `served_oof` (row → out-of-fold probability) is updated to the predictions
/// of the model that serves each row.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fit_segments(
    table: &Table,
    spec: &Spec,
    rows: &[usize],
    labels: &[Option<u8>],
    pp: PreprocessParams,
    fold_list: &[Fold],
    pooled: &Selection,
    served_oof: &mut BTreeMap<usize, f64>,
    ticker: &Ticker,
) -> Result<(BTreeMap<String, SubModel>, Vec<SegmentChoice>)> {
    let oof_rows: Vec<usize> = fold_list.iter().flat_map(|f| f.valid.iter().copied()).collect();
    let pooled_oof: Vec<BTreeMap<usize, f64>> = pooled
        .candidates
        .iter()
        .filter_map(|c| c.oof.as_ref())
        .map(|(_, p)| oof_rows.iter().copied().zip(p.iter().copied()).collect())
        .collect();
    let (mut models, mut choices) = (BTreeMap::new(), vec![]);
    let Some(seg) = &table.segment else {
        return Ok((models, choices));
    };
    if spec.model.segment_models == SegmentModels::Never {
        return Ok((models, choices));
    }
    let mut by_segment: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for &r in rows {
        by_segment.entry(seg[r].as_str()).or_default().push(r);
    }
    let eligible = |seg_rows: &[usize]| {
        let positives = seg_rows.iter().filter(|&&r| labels[r] == Some(1)).count();
        seg_rows.len() >= spec.model.min_segment_rows && positives > 0 && positives < seg_rows.len()
    };
    let to_fit = by_segment.values().filter(|r| eligible(r)).count();
    let mut fitted = 0;
    for (name, seg_rows) in by_segment {
        let positives = seg_rows.iter().filter(|&&r| labels[r] == Some(1)).count();
        let mut choice = SegmentChoice {
            segment: name.to_string(),
            rows: seg_rows.len(),
            positives,
            own: false,
            candidate: None,
            own_cv_log_loss: None,
            pooled_cv_log_loss: None,
            reason: String::new(),
        };
        if !eligible(&seg_rows) {
            choice.reason = format!(
                "{} labeled rows of one class or fewer than {}",
                seg_rows.len(),
                spec.model.min_segment_rows
            );
            choices.push(choice);
            continue;
        }
        let in_seg = |r: &usize| seg[*r] == name;
        let seg_folds: Vec<Fold> = fold_list
            .iter()
            .map(|f| Fold {
                train: f.train.iter().copied().filter(in_seg).collect(),
                valid: f.valid.iter().copied().filter(in_seg).collect(),
            })
            .filter(|f| !f.train.is_empty() && !f.valid.is_empty())
            .collect();
        fitted += 1;
        ticker.stage(
            &format!("segment `{name}` ({fitted} of {to_fit}): cross-validating"),
            fits_of(spec, seg_folds.len()),
        );
        let selection = select(table, spec, &seg_folds, labels, pp, ticker)?;
        let cand = selection.candidates[selection.chosen].clone();
        let seg_oof_rows: Vec<usize> = seg_folds.iter().flat_map(|f| f.valid.iter().copied()).collect();
        let y: Vec<u8> = seg_oof_rows.iter().map(|&r| labels[r].expect("labeled")).collect();
        // Per-row out-of-fold losses of the segment's best candidate and of the
        // pooled candidate that does best on the segment's rows.
        let row_loss = crate::metrics::row_log_loss;
        let own_losses: Option<Vec<f64>> = cand
            .oof
            .as_ref()
            .map(|(_, p)| y.iter().zip(p).map(|(&y, &p)| row_loss(y, p)).collect());
        let pooled_losses: Option<Vec<f64>> = pooled_oof
            .iter()
            .filter_map(|by_row| {
                seg_oof_rows
                    .iter()
                    .zip(&y)
                    .map(|(r, &y)| by_row.get(r).map(|&p| row_loss(y, p)))
                    .collect::<Option<Vec<f64>>>()
            })
            .filter(|l| !l.is_empty())
            .min_by(|a, b| a.iter().sum::<f64>().total_cmp(&b.iter().sum::<f64>()));
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        choice.own_cv_log_loss = own_losses.as_deref().filter(|l| !l.is_empty()).map(mean);
        choice.pooled_cv_log_loss = pooled_losses.as_deref().map(mean);
        // The one-standard-error rule: the own model must beat the pooled one by
        // more than the standard error of the paired per-row difference.
        let gain = match (&own_losses, &pooled_losses) {
            (Some(o), Some(p)) if o.len() == p.len() && o.len() > 1 => {
                let d: Vec<f64> = o.iter().zip(p).map(|(a, b)| b - a).collect();
                Some(crate::metrics::mean_se(&d))
            }
            _ => None,
        };
        choice.own = match (spec.model.segment_models, gain) {
            (SegmentModels::Always, _) => true,
            (_, Some((m, se))) => m > se,
            _ => false,
        };
        choice.reason = match (choice.own, gain, choice.own_cv_log_loss, choice.pooled_cv_log_loss) {
            (own, Some((m, se)), Some(o), Some(p)) => format!(
                "{}: CV log-loss own {o:.4}, pooled {p:.4}; gain {m:+.4} (standard error {se:.4})",
                if own { "own model" } else { "pooled" }
            ),
            (true, ..) => "own model (segment_models = \"always\")".to_string(),
            (false, ..) => "pooled: too few rows for cross-validation within the segment".to_string(),
        };
        if choice.own {
            models.insert(name.to_string(), fit_candidate(table, spec, &seg_rows, labels, pp, &cand)?);
            if let Some((_, p)) = &cand.oof {
                for (&r, &v) in seg_oof_rows.iter().zip(p) {
                    served_oof.insert(r, v);
                }
            }
        }
        choice.candidate = Some(cand);
        choices.push(choice);
    }
    Ok((models, choices))
}
