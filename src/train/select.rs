//! Candidate selection: every candidate (logistic C grid, tree depths with
//! their rounds from the pooled out-of-fold loss curve) cross-validated on the
//! same folds; the lowest pooled out-of-fold log-loss wins.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::data::spec::{ModelKind, Spec};
use crate::data::table::Table;
use crate::design::DesignRows;
use crate::error::Result;
use crate::features::{FeatureTransform, PreprocessParams, Preprocessor};
use crate::metrics::{self};
use crate::model::gbdt::{self, GbdtModel, GbdtParams};
use crate::model::logistic::{sigmoid, LogisticModel, LogisticParams};
use crate::model::{Candidate, FittedModel, Kind, Selection, SubModel};
use crate::train::folds::Fold;
use crate::train::progress::Ticker;
use crate::train::shape::shape_test;

/// Cross-validates the candidates of the spec's model kind over `fold_list` and
/// marks the one with the lowest pooled out-of-fold log-loss (NaN, i.e. no folds, loses).
pub(crate) fn select(
    table: &Table,
    spec: &Spec,
    fold_list: &[Fold],
    labels: &[Option<u8>],
    pp: PreprocessParams,
    ticker: &Ticker,
) -> Result<Selection> {
    let mut selection = match spec.model.kind {
        ModelKind::Gbdt => Selection {
            folds: fold_list.len(),
            candidates: vec![],
            chosen: 0,
        },
        _ => select_logistic(table, spec, fold_list, labels, pp, ticker)?.0,
    };
    if spec.model.kind != ModelKind::Logistic {
        selection.candidates.extend(cv_gbdt(table, spec, fold_list, labels, pp, ticker)?);
    }
    selection.chosen = (0..selection.candidates.len())
        .min_by(|&a, &b| {
            let (x, y) = (selection.candidates[a].cv_log_loss, selection.candidates[b].cv_log_loss);
            x.is_nan().cmp(&y.is_nan()).then(x.total_cmp(&y))
        })
        .expect("at least one candidate");
    Ok(selection)
}

/// Fits the model a candidate describes on `rows`.
pub(crate) fn fit_candidate(
    table: &Table,
    spec: &Spec,
    rows: &[usize],
    labels: &[Option<u8>],
    pp: PreprocessParams,
    cand: &Candidate,
) -> Result<SubModel> {
    match cand.kind {
        Kind::Gbdt => {
            let pre = Preprocessor::fit(table, rows, Some(shape_test(labels)), pp)?;
            let params = gbdt_params(spec, cand.depth.unwrap_or(spec.model.depth_grid[0]), &pre);
            let m = fit_gbdt_rows(table, rows, labels, &pre, params, cand.rounds)?;
            let y: Vec<u8> = rows.iter().map(|&r| labels[r].expect("labeled")).collect();
            Ok(SubModel {
                preprocessor: pre,
                model: FittedModel::Gbdt(m),
                rows: rows.len(),
                base_rate: y.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64,
            })
        }
        Kind::Logistic => fit_sub(table, spec, rows, labels, pp, cand.c.unwrap_or(1.0)),
    }
}

/// The gbdt hyperparameters of the spec at one depth, with its monotone
/// constraints placed on the columns of `pre`'s tree matrix.
pub(crate) fn gbdt_params(spec: &Spec, depth: usize, pre: &Preprocessor) -> GbdtParams {
    GbdtParams {
        seed: spec.seed,
        max_depth: depth,
        learning_rate: spec.model.learning_rate,
        max_rounds: spec.model.max_rounds,
        monotone: monotone_columns(spec, pre, &pre.tree_columns()),
        ..Default::default()
    }
}

/// The spec's monotone sign (+1, −1, 0) of each column, from the input
/// feature each column comes from (`feature_of[j]`, an index into
/// `pre.features`); empty when the spec constrains nothing.
pub(crate) fn monotone_columns(spec: &Spec, pre: &Preprocessor, feature_of: &[usize]) -> Vec<i8> {
    if spec.model.monotone.is_empty() {
        return vec![];
    }
    feature_of
        .iter()
        .map(|&i| match &pre.features[i] {
            FeatureTransform::Numeric { name, .. } => spec.model.monotone.get(name).map_or(0, |m| m.sign()),
            FeatureTransform::Categorical { .. } => 0,
        })
        .collect()
}

/// Rows (indices into `rows`) used for early stopping: the latest snapshot date
/// when there are at least three, else a seeded fifth of the accounts.
pub(crate) fn stopping_split(table: &Table, rows: &[usize], seed: u64) -> (Vec<usize>, Vec<usize>) {
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
pub(crate) fn fit_gbdt_rows(
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
                gbdt::fit(&x, &y, &fit_idx, &stop_idx, None, params.clone())?.trees.len()
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
pub(crate) fn cv_gbdt(
    table: &Table,
    spec: &Spec,
    fold_list: &[Fold],
    labels: &[Option<u8>],
    pp: PreprocessParams,
    ticker: &Ticker,
) -> Result<Vec<Candidate>> {
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
            let pre = Preprocessor::fit(table, &f.train, Some(shape_test(labels)), pp)?;
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
                    let m = gbdt::fit_path(&x, &y, &ti, &vi, gbdt_params(spec, d, &pre))?;
                    let curve = m.staged_log_loss(&xv, &yv);
                    ticker.tick();
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
        out.push(
            Candidate {
                kind: Kind::Gbdt,
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
                cv_log_loss_se: f64::NAN,
                cv_rows: 0,
                cv_positives: 0,
            }
            .with_cv_figures(),
        );
    }
    Ok(out)
}

pub(crate) fn fit_sub(table: &Table, spec: &Spec, rows: &[usize], labels: &[Option<u8>], pp: PreprocessParams, c: f64) -> Result<SubModel> {
    let pre = Preprocessor::fit(table, rows, Some(shape_test(labels)), pp)?;
    let y: Vec<u8> = rows.iter().map(|&r| labels[r].expect("labeled")).collect();
    let m = fit_logistic(c, &pre.design(table, rows), &y, &design_signs(spec, &pre))?;
    Ok(SubModel {
        preprocessor: pre,
        model: FittedModel::Logistic(m),
        rows: rows.len(),
        base_rate: y.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64,
    })
}

/// The spec's monotone sign of each design column: a numeric feature's own
/// column carries it; missing-value indicators and levels do not.
fn design_signs(spec: &Spec, pre: &Preprocessor) -> Vec<i8> {
    if spec.model.monotone.is_empty() {
        return vec![];
    }
    pre.columns
        .iter()
        .map(|c| match &pre.features[c.feature] {
            FeatureTransform::Numeric { name, .. } if *name == c.name => spec.model.monotone.get(name).map_or(0, |m| m.sign()),
            _ => 0,
        })
        .collect()
}

/// A logistic model whose coefficients keep the sign `signs` asks (+1: ≥ 0,
/// −1: ≤ 0, 0: free). A coefficient fitted with the wrong sign is held at 0
/// (its column zeroed) and the model refitted, until none is wrong: for this
/// convex loss that is where the constrained optimum puts a coefficient whose
/// free optimum lies on the wrong side.
pub(crate) fn fit_logistic(c: f64, x: &impl DesignRows, y: &[u8], signs: &[i8]) -> Result<LogisticModel> {
    let params = LogisticParams { c, ..Default::default() };
    let mut zero: Vec<usize> = vec![];
    loop {
        let mut m = if zero.is_empty() {
            params.fit_rows(x, y)?
        } else {
            params.fit_rows(&ZeroColumns { inner: x, zero: &zero }, y)?
        };
        let wrong: Vec<usize> = signs
            .iter()
            .enumerate()
            .filter(|&(j, &s)| s != 0 && !zero.contains(&j) && m.coef[j] * f64::from(s) < 0.0)
            .map(|(j, _)| j)
            .collect();
        if wrong.is_empty() {
            for &j in &zero {
                m.coef[j] = 0.0;
            }
            return Ok(m);
        }
        zero.extend(wrong);
    }
}

/// A design with some columns read as zero.
struct ZeroColumns<'a, D> {
    inner: &'a D,
    zero: &'a [usize],
}

impl<D: DesignRows> DesignRows for ZeroColumns<'_, D> {
    fn nrows(&self) -> usize {
        self.inner.nrows()
    }
    fn ncols(&self) -> usize {
        self.inner.ncols()
    }
    fn rows(&self, rows: std::ops::Range<usize>) -> ndarray::CowArray<'_, f64, ndarray::Ix2> {
        let mut a = self.inner.rows(rows).into_owned();
        for &j in self.zero {
            a.column_mut(j).fill(0.0);
        }
        ndarray::CowArray::from(a)
    }
}

/// Cross-validates every C of the grid; returns the selection and the best C.
pub(crate) fn select_logistic(
    table: &Table,
    spec: &Spec,
    fold_list: &[Fold],
    labels: &[Option<u8>],
    pp: PreprocessParams,
    ticker: &Ticker,
) -> Result<(Selection, f64)> {
    let grid = &spec.model.c_grid;
    if fold_list.is_empty() {
        // Too little data for folds: take the middle of the grid.
        let c = grid[grid.len() / 2];
        let cand = Candidate {
            kind: Kind::Logistic,
            setting: format!("C={c}"),
            cv_log_loss: f64::NAN,
            cv_roc_auc: f64::NAN,
            c: Some(c),
            depth: None,
            rounds: None,
            oof: None,
            cv_log_loss_se: f64::NAN,
            cv_rows: 0,
            cv_positives: 0,
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
            let pre = Preprocessor::fit(table, &f.train, Some(shape_test(labels)), pp)?;
            // Design rows computed chunk by chunk: no fold holds its matrix.
            let (xt, xv) = (pre.design(table, &f.train), pre.design(table, &f.valid));
            let yt: Vec<u8> = f.train.iter().map(|&r| labels[r].expect("labeled")).collect();
            let yv: Vec<u8> = f.valid.iter().map(|&r| labels[r].expect("labeled")).collect();
            let single_class = yt.iter().all(|&v| v == yt[0]);
            let signs = design_signs(spec, &pre);
            grid.iter()
                .map(|&c| {
                    let p = if single_class {
                        vec![yt[0] as f64; yv.len()]
                    } else {
                        let m = fit_logistic(c, &xt, &yt, &signs)?;
                        m.margins_rows(&xv).into_iter().map(sigmoid).collect()
                    };
                    ticker.tick();
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
        candidates.push(
            Candidate {
                kind: Kind::Logistic,
                setting: format!("C={c}"),
                cv_log_loss: metrics::log_loss(&y, &p),
                cv_roc_auc: metrics::roc_auc(&y, &p),
                c: Some(c),
                depth: None,
                rounds: None,
                oof: Some((y, p)),
                cv_log_loss_se: f64::NAN,
                cv_rows: 0,
                cv_positives: 0,
            }
            .with_cv_figures(),
        );
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

#[cfg(test)]
mod monotone_tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn a_coefficient_of_the_wrong_sign_is_held_at_zero() {
        // y rises with column 0 and falls with column 1.
        let n = 400;
        let x = Array2::from_shape_fn((n, 2), |(i, j)| {
            if j == 0 {
                (i % 20) as f64 / 10.0 - 1.0
            } else {
                ((i * 7) % 13) as f64 / 6.0 - 1.0
            }
        });
        let y: Vec<u8> = (0..n)
            .map(|i| (x[[i, 0]] - x[[i, 1]] + ((i * 31) % 17) as f64 / 8.0 - 1.0 > 0.0) as u8)
            .collect();
        let free = fit_logistic(1.0, &x.view(), &y, &[]).unwrap();
        assert!(free.coef[0] > 0.0 && free.coef[1] < 0.0, "{:?}", free.coef);
        // Asking column 0 to lower the score holds it at zero; column 1 keeps its sign.
        let held = fit_logistic(1.0, &x.view(), &y, &[-1, -1]).unwrap();
        assert_eq!(held.coef[0], 0.0);
        assert!(held.coef[1] < 0.0);
        // A constraint the data agrees with changes nothing.
        assert_eq!(fit_logistic(1.0, &x.view(), &y, &[1, -1]).unwrap(), free);
    }
}
