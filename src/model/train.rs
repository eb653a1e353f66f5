//! Training one target (risk or upsell) end to end: pick the labeled rows, hold
//! out the latest quarter (or a stratified share of accounts), choose the model
//! by group-aware out-of-time cross-validation, measure it on the holdout, probe
//! for leakage, and refit on every labeled row.

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::spec::{Calibration, HoldoutPolicy, ModelKind, SegmentModels, Spec};
use crate::data::table::{require_labeled, FeatureValues, Table};
use crate::error::{Error, Result};
use crate::features::{PreprocessParams, Preprocessor};
use crate::metrics::{self, Summary};
use crate::model::calibration::Calibrator;
use crate::model::cv::{folds, Fold};
use crate::model::gbdt::{self, GbdtModel, GbdtParams};
use crate::model::logistic::{sigmoid, LogisticParams};
use crate::model::{Candidate, FittedModel, SegmentChoice, Selection, SubModel, Target, TargetModel, SCHEMA_VERSION};

/// Options of a training run.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TrainOptions {
    /// Keep the model fitted without the holdout instead of refitting on all rows.
    pub keep_holdout_model: bool,
}

/// How the holdout was chosen and what the model scored on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holdout {
    /// `latest_date` or `accounts`.
    pub policy: String,
    /// The held-out snapshot date, for the `latest_date` policy.
    pub date: Option<String>,
    pub train_rows: usize,
    pub metrics: Summary,
    /// The same figures before calibration, when the model is calibrated.
    #[serde(default)]
    pub before_calibration: Option<Summary>,
    /// The chosen candidate of the model fitted without the holdout.
    pub model: String,
}

/// A feature that alone predicts the holdout suspiciously well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leak {
    pub feature: String,
    pub roc_auc: f64,
}

/// Everything a training run of one target produces.
#[derive(Debug, Clone)]
pub struct Trained {
    pub model: TargetModel,
    pub holdout: Holdout,
    /// Holdout labels and predicted probabilities (for the report).
    pub holdout_y: Vec<u8>,
    pub holdout_p: Vec<f64>,
    pub holdout_rows: Vec<usize>,
    pub leaks: Vec<Leak>,
    /// Labeled rows, label rate.
    pub labeled_rows: usize,
    pub label_rate: f64,
}

/// Single-feature AUC above which a feature is reported as a likely leak.
pub const LEAK_AUC: f64 = 0.95;

/// Trains the model of one target.
///
/// ```no_run
/// use healthscore::{data::{spec::Spec, table::*}, model::{Target, train::*}};
/// let spec = Spec::load("training/saas.toml".as_ref())?;
/// let t = read_table("notebooks-data/history.csv".as_ref(), &spec.columns, &spec.feature_defs(), Labels::Required)?;
/// let trained = train_target(&t, &spec, Target::Risk, TrainOptions::default())?;
/// println!("holdout AUC {:.3}", trained.holdout.metrics.roc_auc);
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn train_target(table: &Table, spec: &Spec, target: Target, opts: TrainOptions) -> Result<Trained> {
    let column = match target {
        Target::Risk => spec.columns.risk_label.clone(),
        Target::Upsell => spec.columns.upsell_label.clone(),
    }
    .ok_or_else(|| Error::Param(format!("the spec names no {} label", target.name())))?;
    let labels = table.labels(target).ok_or_else(|| Error::MissingColumn {
        path: table.path.clone(),
        column: column.clone(),
        role: format!("{} label", target.name()),
        available: String::new(),
    })?;
    require_labeled(table, labels, &column, target.name())?;
    let labeled: Vec<usize> = (0..table.len()).filter(|&r| labels[r].is_some()).collect();
    let y_of = |rows: &[usize]| -> Vec<u8> { rows.iter().map(|&r| labels[r].expect("labeled")).collect() };
    let y_all = y_of(&labeled);
    let positives = y_all.iter().filter(|&&v| v == 1).count();
    if positives == 0 || positives == y_all.len() {
        return Err(Error::OneClass {
            path: table.path.clone(),
            column,
            model: target.name().into(),
            value: (positives > 0) as u8,
        });
    }

    let (train_rows, hold_rows, policy, date) = split_holdout(table, spec, &labeled, labels);
    let hold_model = fit_target(table, spec, target, &train_rows, labels)?;
    let hold_margins = hold_model.margins_of(table, &hold_rows);
    let holdout_p: Vec<f64> = hold_margins.iter().map(|&m| hold_model.probability(m)).collect();
    let uncalibrated: Vec<f64> = hold_margins.iter().map(|&m| sigmoid(m)).collect();
    let holdout_y = y_of(&hold_rows);
    let chosen = &hold_model.selection.candidates[hold_model.selection.chosen];
    let holdout = Holdout {
        policy,
        date,
        train_rows: train_rows.len(),
        metrics: Summary::of(&holdout_y, &holdout_p),
        before_calibration: hold_model.calibration.as_ref().map(|_| Summary::of(&holdout_y, &uncalibrated)),
        model: format!("{} {}", chosen.kind, chosen.setting),
    };
    let leaks = leakage_probe(table, &train_rows, &hold_rows, labels);
    let model = if opts.keep_holdout_model {
        TargetModel {
            refit_on_all: false,
            ..hold_model
        }
    } else {
        // Same kind and setting as chosen before the holdout, refitted on every labeled row.
        let pp = PreprocessParams {
            min_category_rows: spec.model.min_category_rows,
        };
        let chosen = hold_model.selection.candidates[hold_model.selection.chosen].clone();
        let seg = table.segment.as_ref();
        let mut segments = BTreeMap::new();
        for c in hold_model.segment_choices.iter().filter(|c| c.own) {
            let seg_rows: Vec<usize> = labeled
                .iter()
                .copied()
                .filter(|&r| seg.is_some_and(|s| s[r] == c.segment))
                .collect();
            let cand = c.candidate.as_ref().expect("a segment with its own model has a candidate");
            segments.insert(c.segment.clone(), fit_candidate(table, spec, &seg_rows, labels, pp, cand)?);
        }
        TargetModel {
            pooled: fit_candidate(table, spec, &labeled, labels, pp, &chosen)?,
            segments,
            ..hold_model
        }
    };
    Ok(Trained {
        model,
        holdout,
        holdout_y,
        holdout_p,
        holdout_rows: hold_rows,
        leaks,
        labeled_rows: labeled.len(),
        label_rate: positives as f64 / y_all.len() as f64,
    })
}

/// Splits labeled rows into (train, holdout, policy, held-out date).
fn split_holdout(table: &Table, spec: &Spec, labeled: &[usize], labels: &[Option<u8>]) -> (Vec<usize>, Vec<usize>, String, Option<String>) {
    if let (HoldoutPolicy::LatestDate, Some(dates)) = (spec.holdout.policy, &table.dates) {
        let distinct: BTreeSet<_> = labeled.iter().map(|&r| dates[r]).collect();
        if distinct.len() >= 2 {
            let last = *distinct.iter().next_back().expect("non-empty");
            let (hold, train): (Vec<usize>, Vec<usize>) = labeled.iter().partition(|&&r| dates[r] == last);
            return (train, hold, "latest_date".into(), Some(last.to_string()));
        }
    }
    // Stratified by account: accounts with any positive label are split separately.
    let mut by_account: BTreeMap<&str, bool> = BTreeMap::new();
    for &r in labeled {
        *by_account.entry(table.ids[r].as_str()).or_default() |= labels[r] == Some(1);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut held: BTreeSet<&str> = BTreeSet::new();
    for want in [true, false] {
        let mut ids: Vec<&str> = by_account.iter().filter(|(_, &p)| p == want).map(|(id, _)| *id).collect();
        ids.shuffle(&mut rng);
        let n = (ids.len() as f64 * spec.holdout.fraction).round() as usize;
        held.extend(ids.into_iter().take(n));
    }
    let (hold, train): (Vec<usize>, Vec<usize>) = labeled.iter().partition(|&&r| held.contains(table.ids[r].as_str()));
    (train, hold, "accounts".into(), None)
}

/// Chooses and fits the model of a target on `rows` (all labeled).
pub fn fit_target(table: &Table, spec: &Spec, target: Target, rows: &[usize], labels: &[Option<u8>]) -> Result<TargetModel> {
    let column = match target {
        Target::Risk => spec.columns.risk_label.clone(),
        Target::Upsell => spec.columns.upsell_label.clone(),
    }
    .unwrap_or_default();
    let pp = PreprocessParams {
        min_category_rows: spec.model.min_category_rows,
    };
    let fold_list = folds(&table.ids, table.dates.as_deref(), rows, labels, spec.model.cv_folds, spec.seed);
    let selection = select(table, spec, &fold_list, labels, pp)?;
    let chosen = selection.candidates[selection.chosen].clone();
    let pooled = fit_candidate(table, spec, rows, labels, pp, &chosen)?;
    // Out-of-fold predictions by row: fold by fold, each fold's validation rows in order.
    let oof_rows: Vec<usize> = fold_list.iter().flat_map(|f| f.valid.iter().copied()).collect();
    let mut served_oof: BTreeMap<usize, f64> = match &chosen.oof {
        Some((_, p)) => oof_rows.iter().copied().zip(p.iter().copied()).collect(),
        None => BTreeMap::new(),
    };
    let (segments, segment_choices) = fit_segments(table, spec, rows, labels, pp, &fold_list, &selection, &mut served_oof)?;
    // Calibration is fitted on the out-of-fold predictions of the model that serves each row.
    let (y_oof, p_oof): (Vec<u8>, Vec<f64>) = oof_rows
        .iter()
        .filter_map(|r| served_oof.get(r).map(|&p| (labels[*r].expect("labeled"), p)))
        .unzip();
    let calibration = match spec.model.calibration {
        _ if y_oof.is_empty() => None,
        Calibration::Platt => Some(Calibrator::platt(&y_oof, &p_oof)?),
        Calibration::Isotonic => Some(Calibrator::isotonic(&y_oof, &p_oof)),
        Calibration::None => None,
    };
    Ok(TargetModel {
        schema_version: SCHEMA_VERSION,
        target,
        label_column: column,
        pooled,
        segments,
        segment_choices,
        selection,
        refit_on_all: true,
        calibration,
    })
}

/// Cross-validates the candidates of the spec's model kind over `fold_list` and
/// marks the one with the lowest pooled out-of-fold log-loss (NaN, i.e. no folds, loses).
fn select(table: &Table, spec: &Spec, fold_list: &[Fold], labels: &[Option<u8>], pp: PreprocessParams) -> Result<Selection> {
    let mut selection = match spec.model.kind {
        ModelKind::Gbdt => Selection {
            folds: fold_list.len(),
            candidates: vec![],
            chosen: 0,
        },
        _ => select_logistic(table, spec, fold_list, labels, pp)?.0,
    };
    if spec.model.kind != ModelKind::Logistic {
        selection.candidates.extend(cv_gbdt(table, spec, fold_list, labels, pp)?);
    }
    selection.chosen = (0..selection.candidates.len())
        .min_by(|&a, &b| {
            let (x, y) = (selection.candidates[a].cv_log_loss, selection.candidates[b].cv_log_loss);
            x.is_nan().cmp(&y.is_nan()).then(x.total_cmp(&y))
        })
        .expect("at least one candidate");
    Ok(selection)
}

/// Models of their own for the segments that earn one. A segment is a candidate
/// when it has at least `min_segment_rows` labeled rows of both classes; its
/// own model is chosen by the same cross-validation restricted to its rows, and
/// with `segment_models = "auto"` it is kept only when its out-of-fold log-loss
/// beats every pooled candidate's on the same rows (both sides then pick their
/// best of the same grid, so the segment gains nothing from the selection alone).
/// `served_oof` (row → out-of-fold probability) is updated to the predictions
/// of the model that serves each row.
#[allow(clippy::too_many_arguments)]
fn fit_segments(
    table: &Table,
    spec: &Spec,
    rows: &[usize],
    labels: &[Option<u8>],
    pp: PreprocessParams,
    fold_list: &[Fold],
    pooled: &Selection,
    served_oof: &mut BTreeMap<usize, f64>,
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
        if seg_rows.len() < spec.model.min_segment_rows || positives == 0 || positives == seg_rows.len() {
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
        let selection = select(table, spec, &seg_folds, labels, pp)?;
        let cand = selection.candidates[selection.chosen].clone();
        let seg_oof_rows: Vec<usize> = seg_folds.iter().flat_map(|f| f.valid.iter().copied()).collect();
        let y: Vec<u8> = seg_oof_rows.iter().map(|&r| labels[r].expect("labeled")).collect();
        // Per-row out-of-fold losses of the segment's best candidate and of the
        // pooled candidate that does best on the segment's rows.
        let row_loss = |y: u8, p: f64| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            if y == 1 {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        };
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
                let m = mean(&d);
                let sd = (d.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (d.len() - 1) as f64).sqrt();
                Some((m, sd / (d.len() as f64).sqrt()))
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

/// Fits the model a candidate describes on `rows`.
fn fit_candidate(
    table: &Table,
    spec: &Spec,
    rows: &[usize],
    labels: &[Option<u8>],
    pp: PreprocessParams,
    cand: &Candidate,
) -> Result<SubModel> {
    match cand.kind.as_str() {
        "gbdt" => {
            let pre = Preprocessor::fit(table, rows, Some(labels), pp)?;
            let params = gbdt_params(spec, cand.depth.unwrap_or(spec.model.depth_grid[0]));
            let m = fit_gbdt_rows(table, rows, labels, &pre, params, cand.rounds)?;
            let y: Vec<u8> = rows.iter().map(|&r| labels[r].expect("labeled")).collect();
            Ok(SubModel {
                preprocessor: pre,
                model: FittedModel::Gbdt(m),
                rows: rows.len(),
                base_rate: y.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64,
            })
        }
        _ => fit_sub(table, rows, labels, pp, cand.c.unwrap_or(1.0)),
    }
}

/// The gbdt hyperparameters of the spec at one depth.
fn gbdt_params(spec: &Spec, depth: usize) -> GbdtParams {
    GbdtParams {
        seed: spec.seed,
        max_depth: depth,
        learning_rate: spec.model.learning_rate,
        max_rounds: spec.model.max_rounds,
        ..Default::default()
    }
}

/// Rows (indices into `rows`) used for early stopping: the latest snapshot date
/// when there are at least three, else a seeded fifth of the accounts.
fn stopping_split(table: &Table, rows: &[usize], seed: u64) -> (Vec<usize>, Vec<usize>) {
    if let Some(d) = &table.dates {
        let distinct: BTreeSet<_> = rows.iter().map(|&r| d[r]).collect();
        if distinct.len() >= 3 {
            let last = *distinct.iter().next_back().expect("non-empty");
            return (0..rows.len()).partition(|&i| d[rows[i]] != last);
        }
    }
    let mut ids: Vec<&str> = rows
        .iter()
        .map(|&r| table.ids[r].as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    ids.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x5EED));
    let held: BTreeSet<&str> = ids.iter().take(ids.len() / 5).copied().collect();
    (0..rows.len()).partition(|&i| !held.contains(table.ids[rows[i]].as_str()))
}

/// Boosted trees on all `rows` with `rounds` rounds (chosen by cross-validation);
/// without a number, it is found by early stopping on [`stopping_split`] first.
fn fit_gbdt_rows(
    table: &Table,
    rows: &[usize],
    labels: &[Option<u8>],
    pre: &Preprocessor,
    params: GbdtParams,
    rounds: Option<usize>,
) -> Result<GbdtModel> {
    // The trees' fit reads the design a column at a time from the table.
    let x = pre.tree_design(table, rows);
    let y: Vec<u8> = rows.iter().map(|&r| labels[r].expect("labeled")).collect();
    let rounds = match rounds {
        Some(n) => n,
        None => {
            let (fit_idx, stop_idx) = stopping_split(table, rows, params.seed);
            let single = |idx: &[usize]| idx.iter().all(|&i| y[i] == y[idx[0]]);
            if fit_idx.is_empty() || stop_idx.is_empty() || single(&fit_idx) || single(&stop_idx) {
                200
            } else {
                gbdt::fit(&x, &y, &fit_idx, &stop_idx, None, params)?.trees.len()
            }
        }
    };
    let all: Vec<usize> = (0..rows.len()).collect();
    gbdt::fit(&x, &y, &all, &[], Some(rounds), params)
}

/// One fold's trees at one depth: the model grown a little past its best round
/// on the fold's validation rows, and the summed loss after every round.
struct FoldPath {
    model: Option<GbdtModel>,
    curve: Vec<f64>,
}

/// Cross-validates boosted trees at every depth of the spec's grid. The number
/// of rounds of a depth is the minimum of the pooled out-of-fold loss curve
/// (as `lgb.cv` / `xgb.cv` do), so the choice does not rest on one small fold.
fn cv_gbdt(table: &Table, spec: &Spec, fold_list: &[Fold], labels: &[Option<u8>], pp: PreprocessParams) -> Result<Vec<Candidate>> {
    let depths = &spec.model.depth_grid;
    // The validation rows' design is computed by chunks from the table when
    // it is read (loss curves, out-of-fold margins), never held as a matrix.
    struct FoldData<'a> {
        yv: Vec<u8>,
        pre: Preprocessor,
        valid: &'a [usize],
        paths: Vec<FoldPath>,
        train_rate: f64,
    }
    let per_fold: Vec<Result<FoldData>> = fold_list
        .par_iter()
        .map(|f| {
            let pre = Preprocessor::fit(table, &f.train, Some(labels), pp)?;
            let both: Vec<usize> = f.train.iter().chain(&f.valid).copied().collect();
            let x = pre.tree_design(table, &both);
            let y: Vec<u8> = both.iter().map(|&r| labels[r].expect("labeled")).collect();
            let ti: Vec<usize> = (0..f.train.len()).collect();
            let vi: Vec<usize> = (f.train.len()..both.len()).collect();
            let yv = y[f.train.len()..].to_vec();
            let xv = pre.tree_design(table, &f.valid);
            let single = ti.iter().all(|&i| y[i] == y[0]);
            let paths = depths
                .iter()
                .map(|&d| {
                    if single || vi.is_empty() {
                        return Ok(FoldPath {
                            model: None,
                            curve: vec![],
                        });
                    }
                    let m = gbdt::fit_path(&x, &y, &ti, &vi, gbdt_params(spec, d))?;
                    let curve = m.staged_log_loss(&xv, &yv);
                    Ok(FoldPath { model: Some(m), curve })
                })
                .collect::<Result<Vec<_>>>()?;
            let train_rate = ti.iter().map(|&i| y[i] as f64).sum::<f64>() / ti.len().max(1) as f64;
            Ok(FoldData {
                yv,
                pre,
                valid: &f.valid,
                paths,
                train_rate,
            })
        })
        .collect();
    let per_fold: Vec<FoldData> = per_fold.into_iter().collect::<Result<_>>()?;
    let mut out = Vec::with_capacity(depths.len());
    for (di, &depth) in depths.iter().enumerate() {
        // Pooled loss after k + 1 rounds; a fold that stopped early keeps its last value.
        let longest = per_fold.iter().map(|f| f.paths[di].curve.len()).max().unwrap_or(0);
        let best = (0..longest)
            .map(|k| {
                per_fold
                    .iter()
                    .filter_map(|f| f.paths[di].curve.get(k).or(f.paths[di].curve.last()))
                    .sum::<f64>()
            })
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(k, _)| k + 1);
        let (mut y, mut p) = (vec![], vec![]);
        for f in &per_fold {
            y.extend_from_slice(&f.yv);
            match (&f.paths[di].model, best) {
                (Some(m), Some(k)) => {
                    let xv = f.pre.tree_design(table, f.valid);
                    p.extend(m.truncated(k).margins_rows(&xv).into_iter().map(sigmoid))
                }
                // A fold whose training rows hold one class predicts that class.
                _ => p.extend(std::iter::repeat_n(f.train_rate, f.yv.len())),
            }
        }
        out.push(Candidate {
            kind: "gbdt".into(),
            setting: format!(
                "depth {depth}, learning rate {}, {} rounds",
                spec.model.learning_rate,
                best.map_or("early-stopped".to_string(), |k| k.to_string())
            ),
            cv_log_loss: if y.is_empty() { f64::NAN } else { metrics::log_loss(&y, &p) },
            cv_roc_auc: if y.is_empty() { f64::NAN } else { metrics::roc_auc(&y, &p) },
            c: None,
            depth: Some(depth),
            rounds: best,
            oof: (!y.is_empty()).then_some((y, p)),
        });
    }
    Ok(out)
}

fn fit_sub(table: &Table, rows: &[usize], labels: &[Option<u8>], pp: PreprocessParams, c: f64) -> Result<SubModel> {
    let pre = Preprocessor::fit(table, rows, Some(labels), pp)?;
    let y: Vec<u8> = rows.iter().map(|&r| labels[r].expect("labeled")).collect();
    let m = LogisticParams { c, ..Default::default() }.fit_rows(&pre.design(table, rows), &y)?;
    Ok(SubModel {
        preprocessor: pre,
        model: FittedModel::Logistic(m),
        rows: rows.len(),
        base_rate: y.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64,
    })
}

/// Cross-validates every C of the grid; returns the selection and the best C.
fn select_logistic(
    table: &Table,
    spec: &Spec,
    fold_list: &[Fold],
    labels: &[Option<u8>],
    pp: PreprocessParams,
) -> Result<(Selection, f64)> {
    let grid = &spec.model.c_grid;
    if fold_list.is_empty() {
        // Too little data for folds: take the middle of the grid.
        let c = grid[grid.len() / 2];
        let cand = Candidate {
            kind: "logistic".into(),
            setting: format!("C={c}"),
            cv_log_loss: f64::NAN,
            cv_roc_auc: f64::NAN,
            c: Some(c),
            depth: None,
            rounds: None,
            oof: None,
        };
        return Ok((
            Selection {
                folds: 0,
                candidates: vec![cand],
                chosen: 0,
            },
            c,
        ));
    }
    // Per fold: fit the preprocessing on the fold's training rows, then every C.
    type FoldPredictions = Vec<(Vec<u8>, Vec<f64>)>;
    let per_fold: Vec<Result<FoldPredictions>> = fold_list
        .par_iter()
        .map(|f| {
            let pre = Preprocessor::fit(table, &f.train, Some(labels), pp)?;
            // Design rows computed chunk by chunk: no fold holds its matrix.
            let (xt, xv) = (pre.design(table, &f.train), pre.design(table, &f.valid));
            let yt: Vec<u8> = f.train.iter().map(|&r| labels[r].expect("labeled")).collect();
            let yv: Vec<u8> = f.valid.iter().map(|&r| labels[r].expect("labeled")).collect();
            let single_class = yt.iter().all(|&v| v == yt[0]);
            grid.iter()
                .map(|&c| {
                    let p = if single_class {
                        vec![yt[0] as f64; yv.len()]
                    } else {
                        let m = LogisticParams { c, ..Default::default() }.fit_rows(&xt, &yt)?;
                        m.margins_rows(&xv).into_iter().map(sigmoid).collect()
                    };
                    Ok((yv.clone(), p))
                })
                .collect()
        })
        .collect();
    let per_fold: Vec<FoldPredictions> = per_fold.into_iter().collect::<Result<_>>()?;
    let mut candidates = Vec::with_capacity(grid.len());
    for (i, &c) in grid.iter().enumerate() {
        let (mut y, mut p) = (vec![], vec![]);
        for f in &per_fold {
            y.extend_from_slice(&f[i].0);
            p.extend_from_slice(&f[i].1);
        }
        candidates.push(Candidate {
            kind: "logistic".into(),
            setting: format!("C={c}"),
            cv_log_loss: metrics::log_loss(&y, &p),
            cv_roc_auc: metrics::roc_auc(&y, &p),
            c: Some(c),
            depth: None,
            rounds: None,
            oof: Some((y, p)),
        });
    }
    let chosen = (0..candidates.len())
        .min_by(|&a, &b| candidates[a].cv_log_loss.total_cmp(&candidates[b].cv_log_loss))
        .expect("non-empty grid");
    Ok((
        Selection {
            folds: fold_list.len(),
            candidates,
            chosen,
        },
        grid[chosen],
    ))
}

/// Single-feature holdout AUC (either orientation) for every feature; returns
/// those at or above [`LEAK_AUC`]. Categorical levels are scored by their
/// label rate in the training rows.
pub fn leakage_probe(table: &Table, train: &[usize], hold: &[usize], labels: &[Option<u8>]) -> Vec<Leak> {
    let y: Vec<u8> = hold.iter().map(|&r| labels[r].expect("labeled")).collect();
    let mut out = vec![];
    for f in &table.features {
        let score: Vec<f64> = match &f.values {
            FeatureValues::Numeric(v) => {
                let med = crate::features::median(&train.iter().map(|&r| v[r]).collect::<Vec<_>>());
                hold.iter().map(|&r| if v[r].is_finite() { v[r] } else { med }).collect()
            }
            FeatureValues::Categorical(v) => {
                let mut rate: BTreeMap<Option<&str>, (f64, f64)> = BTreeMap::new();
                for &r in train {
                    let e = rate.entry(v.get(r)).or_default();
                    e.0 += labels[r].expect("labeled") as f64;
                    e.1 += 1.0;
                }
                hold.iter().map(|&r| rate.get(&v.get(r)).map_or(0.0, |(s, n)| s / n)).collect()
            }
        };
        let auc = metrics::roc_auc(&y, &score);
        let auc = auc.max(1.0 - auc);
        if auc >= LEAK_AUC {
            out.push(Leak {
                feature: f.def.name.clone(),
                roc_auc: auc,
            });
        }
    }
    out
}
