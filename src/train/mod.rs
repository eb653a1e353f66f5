//! Training one target (risk or upsell) end to end: pick the labeled rows, hold
//! out the latest quarter (or a stratified share of accounts), choose the model
//! by group-aware out-of-time cross-validation (`folds`, `select`), give
//! segments that earn it a model of their own (`segments`), measure the
//! choice on the holdout, probe for leakage (`leakage`), and refit on every
//! labeled row. The layer above the classifiers: it decides, they fit.

pub mod folds;
pub mod leakage;
pub mod progress;
pub mod segments;
pub mod select;
pub mod shape;

pub use leakage::{leakage_probe, Leak, LEAK_AUC};

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::spec::{Calibration, HoldoutPolicy, Spec};
use crate::data::table::{require_labeled, Table};
use crate::error::{Error, Result};
use crate::features::PreprocessParams;
use crate::metrics::Summary;
use crate::model::calibration::Calibrator;
use crate::model::logistic::sigmoid;
use crate::model::{Target, TargetModel, SCHEMA_VERSION};
use crate::train::folds::folds;
use crate::train::progress::{fits_of, Ticker};
use crate::train::segments::fit_segments;
use crate::train::select::*;

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

/// Trains the model of one target.
///
/// ```no_run
/// use healthscore::{data::{read::*, spec::Spec, table::*}, model::Target, train::*};
/// let spec = Spec::load("training/saas.toml".as_ref())?;
/// let t = read_table("notebooks-data/history.csv".as_ref(), &spec.columns, &spec.feature_defs(), Labels::Required)?;
/// let trained = train_target(&t, &spec, Target::Risk, TrainOptions::default())?;
/// println!("holdout AUC {:.3}", trained.holdout.metrics.roc_auc);
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn train_target(table: &Table, spec: &Spec, target: Target, opts: TrainOptions) -> Result<Trained> {
    train_target_reporting(table, spec, target, opts, &Ticker::new(&|_| {}))
}

/// [`train_target`], reporting its stages and fits to `ticker`.
pub fn train_target_reporting(table: &Table, spec: &Spec, target: Target, opts: TrainOptions, ticker: &Ticker) -> Result<Trained> {
    // The monotone constraints are the risk model's.
    let unconstrained;
    let spec = if target == Target::Upsell && !spec.model.monotone.is_empty() {
        let mut s = spec.clone();
        s.model.monotone.clear();
        unconstrained = s;
        &unconstrained
    } else {
        spec
    };
    let column = match target {
        Target::Risk => spec.columns.risk_label.clone(),
        Target::Upsell => spec.columns.upsell_label.clone(),
    }
    .ok_or_else(|| Error::Input(format!("the spec names no {} label", target.name())))?;
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
    let hold_model = fit_target(table, spec, target, &train_rows, labels, ticker)?;
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
    ticker.stage(&format!("{} model: the leakage probe on the holdout", target.name()), 0);
    let leaks = leakage_probe(table, &train_rows, &hold_rows, labels);
    if !opts.keep_holdout_model {
        ticker.stage(
            &format!(
                "{} model: refitting {} on all {} labeled rows",
                target.name(),
                holdout.model,
                labeled.len()
            ),
            0,
        );
    }
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
            // A holdout (or training side) of one class measures nothing: fall back to accounts.
            let both = |rows: &[usize]| {
                let pos = rows.iter().filter(|&&r| labels[r] == Some(1)).count();
                pos > 0 && pos < rows.len()
            };
            if both(&hold) && both(&train) {
                return (train, hold, "latest_date".into(), Some(last.to_string()));
            }
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
pub fn fit_target(
    table: &Table,
    spec: &Spec,
    target: Target,
    rows: &[usize],
    labels: &[Option<u8>],
    ticker: &Ticker,
) -> Result<TargetModel> {
    let column = match target {
        Target::Risk => spec.columns.risk_label.clone(),
        Target::Upsell => spec.columns.upsell_label.clone(),
    }
    .unwrap_or_default();
    let pp = PreprocessParams {
        min_category_rows: spec.model.min_category_rows,
    };
    let fold_list = folds(&table.ids, table.dates.as_deref(), rows, labels, spec.model.cv_folds, spec.seed);
    ticker.stage(
        &format!("{} model: cross-validating on {} folds", target.name(), fold_list.len()),
        fits_of(spec, fold_list.len()),
    );
    let selection = select(table, spec, &fold_list, labels, pp, ticker)?;
    let chosen = selection.candidates[selection.chosen].clone();
    let pooled = fit_candidate(table, spec, rows, labels, pp, &chosen)?;
    // Out-of-fold predictions by row: fold by fold, each fold's validation rows in order.
    let oof_rows: Vec<usize> = fold_list.iter().flat_map(|f| f.valid.iter().copied()).collect();
    let mut served_oof: BTreeMap<usize, f64> = match &chosen.oof {
        Some((_, p)) => oof_rows.iter().copied().zip(p.iter().copied()).collect(),
        None => BTreeMap::new(),
    };
    let (segments, segment_choices) = fit_segments(table, spec, rows, labels, pp, &fold_list, &selection, &mut served_oof, ticker)?;
    // Calibration is fitted on the out-of-fold predictions of the model that serves each row.
    let fold_of: Vec<usize> = fold_list
        .iter()
        .enumerate()
        .flat_map(|(k, f)| f.valid.iter().map(move |_| k))
        .collect();
    let mut y_oof = Vec::with_capacity(oof_rows.len());
    let mut p_oof = Vec::with_capacity(oof_rows.len());
    let mut k_oof = Vec::with_capacity(oof_rows.len());
    for (r, k) in oof_rows.iter().zip(&fold_of) {
        if let Some(&p) = served_oof.get(r) {
            y_oof.push(labels[*r].expect("labeled"));
            p_oof.push(p);
            k_oof.push(*k);
        }
    }
    let mut calibration_choice = None;
    let calibration = match spec.model.calibration {
        _ if y_oof.is_empty() => None,
        Calibration::Platt => Some(Calibrator::platt(&y_oof, &p_oof)?),
        Calibration::Isotonic => Some(Calibrator::isotonic(&y_oof, &p_oof)),
        Calibration::Auto => {
            let (map, how) = crate::model::calibration::choose(&y_oof, &p_oof, &k_oof)?;
            calibration_choice = Some(how);
            map
        }
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
        calibration_choice,
    })
}
