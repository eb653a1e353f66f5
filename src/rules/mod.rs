//! The hand-built weighted health score that customer-success teams keep in
//! spreadsheets, computed the way they compute it, as the baseline every model
//! must beat.
//!
//! Each feature becomes a 0–100 sub-score: numeric features are the percentile
//! of the value within the training reference, turned around when higher values
//! mean more churn (the sign of Spearman's correlation with the risk label on
//! the training rows, or the direction given in the spec); categorical features
//! score each level by the percentile of its renewal rate. Sub-scores are
//! averaged within their category, and categories combined with the spec's
//! weights (renormalised over categories that have a value). Missing values are
//! skipped, as a spreadsheet would.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::spec::{Category, Direction, Spec};
use crate::data::{
    table::Table,
    values::{Categories, FeatureValues},
};
use crate::features::reference::{FeatureReference, PercentileFinder};
use crate::features::MISSING;
use crate::metrics;

/// How one feature enters the hand-built score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleFeature {
    Numeric {
        name: String,
        category: Category,
        direction: Direction,
        /// `spec` when given in the spec, `training data` when learned, `default` otherwise.
        direction_from: String,
    },
    Categorical {
        name: String,
        category: Category,
        /// Sub-score per level; unseen levels get 50.
        level_scores: BTreeMap<String, f64>,
    },
}

/// The sub-score of one feature's cells.
enum SubScore<'a> {
    /// The percentile within the training reference, turned around when `flip`.
    Percentile {
        /// None when the reference has fewer than two percentiles (no sub-score).
        finder: Option<PercentileFinder<'a>>,
        values: &'a [f64],
        flip: bool,
    },
    /// The score of the cell's level (50 for a level not met in training).
    Level {
        /// The score of each level of `values`, then of a missing cell.
        scores: Vec<f64>,
        values: &'a Categories,
    },
}

impl SubScore<'_> {
    /// The 0–100 sub-score of row `r` (None when the cell is missing).
    fn score(&self, r: usize) -> Option<f64> {
        match self {
            SubScore::Percentile { finder, values, flip } => {
                let p = finder.as_ref()?.percentile(values[r])?;
                Some(if *flip { 100.0 - p } else { p })
            }
            SubScore::Level { scores, values } => Some(scores[values.slot(r)]),
        }
    }
}

/// A fitted hand-built score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulesModel {
    pub weights: BTreeMap<Category, f64>,
    pub features: Vec<RuleFeature>,
    pub reference: Vec<FeatureReference>,
}

impl RulesModel {
    /// Orients the features on the rows `rows` of `table` (using the risk label when present).
    ///
    /// ```no_run
    /// # use healthscore::{data::{read::*, spec::Spec, table::*}, features::reference, rules::RulesModel};
    /// # let spec = Spec::load("training/saas.toml".as_ref())?;
    /// # let t = read_table("notebooks-data/history.csv".as_ref(), &spec.columns, &spec.feature_defs(), Labels::Required)?;
    /// let rows: Vec<usize> = (0..t.len()).collect();
    /// let rules = RulesModel::fit(&spec, &t, &rows, reference::fit(&t, &rows));
    /// let health = rules.health(&t);
    /// # Ok::<(), healthscore::Error>(())
    /// ```
    pub fn fit(spec: &Spec, table: &Table, rows: &[usize], reference: Vec<FeatureReference>) -> RulesModel {
        let labeled: Vec<usize> = match &table.risk {
            Some(y) => rows.iter().copied().filter(|&r| y[r].is_some()).collect(),
            None => vec![],
        };
        let y: Vec<f64> = labeled
            .iter()
            .map(|&r| table.risk.as_ref().expect("risk")[r].expect("labeled") as f64)
            .collect();
        let features = table
            .features
            .iter()
            .map(|f| match &f.values {
                FeatureValues::Numeric(v) => {
                    let (direction, from) = if let Some(d) = spec.rules.direction.get(&f.def.name) {
                        (*d, "spec")
                    } else {
                        let pairs: Vec<(f64, f64)> = labeled
                            .iter()
                            .zip(&y)
                            .filter(|(&r, _)| v[r].is_finite())
                            .map(|(&r, &y)| (v[r], y))
                            .collect();
                        let (x, yy): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
                        let (rho, _) = metrics::spearman(&x, &yy);
                        if rho.is_finite() {
                            (
                                if rho > 0.0 {
                                    Direction::HigherIsRiskier
                                } else {
                                    Direction::HigherIsHealthier
                                },
                                "training data",
                            )
                        } else {
                            (Direction::HigherIsHealthier, "default")
                        }
                    };
                    RuleFeature::Numeric {
                        name: f.def.name.clone(),
                        category: f.def.category,
                        direction,
                        direction_from: from.into(),
                    }
                }
                FeatureValues::Categorical(v) => {
                    let mut stats: BTreeMap<String, (f64, f64)> = BTreeMap::new();
                    for (&r, &yy) in labeled.iter().zip(&y) {
                        let e = stats.entry(v.get(r).unwrap_or(MISSING).to_string()).or_default();
                        e.0 += yy;
                        e.1 += 1.0;
                    }
                    let total: f64 = stats.values().map(|s| s.1).sum();
                    let rates: BTreeMap<&String, f64> = stats.iter().map(|(k, (s, n))| (k, s / n)).collect();
                    let level_scores = stats
                        .keys()
                        .map(|k| {
                            let r = rates[k];
                            // Share of rows in levels that churn more, plus half of the level's own rows.
                            let worse: f64 = stats.iter().filter(|(l, _)| rates[l] > r).map(|(_, s)| s.1).sum();
                            let same: f64 = stats.iter().filter(|(l, _)| rates[l] == r).map(|(_, s)| s.1).sum();
                            (k.clone(), 100.0 * (worse + 0.5 * same) / total)
                        })
                        .collect();
                    RuleFeature::Categorical {
                        name: f.def.name.clone(),
                        category: f.def.category,
                        level_scores,
                    }
                }
            })
            .collect();
        RulesModel {
            weights: spec.rules.weights.clone(),
            features,
            reference,
        }
    }

    /// How to score the cells of each feature the table has, with its category.
    fn scorers<'a>(&'a self, table: &'a Table) -> Vec<(Category, SubScore<'a>)> {
        self.features
            .iter()
            .filter_map(|rf| match rf {
                RuleFeature::Numeric {
                    name, category, direction, ..
                } => {
                    let reference = self.reference.iter().find(|r| &r.name == name)?;
                    let FeatureValues::Numeric(values) = &table.feature(name)?.values else {
                        return None;
                    };
                    let flip = *direction == Direction::HigherIsRiskier;
                    let finder = reference.percentile_finder();
                    Some((*category, SubScore::Percentile { finder, values, flip }))
                }
                RuleFeature::Categorical {
                    name,
                    category,
                    level_scores,
                } => {
                    let FeatureValues::Categorical(values) = &table.feature(name)?.values else {
                        return None;
                    };
                    let scores = values.map_levels(|l| *level_scores.get(l.unwrap_or(MISSING)).unwrap_or(&50.0));
                    Some((*category, SubScore::Level { scores, values }))
                }
            })
            .collect()
    }

    /// The 0–100 score of each category (mean of its features' sub-scores) for every row.
    pub fn category_scores(&self, table: &Table) -> Vec<[Option<f64>; 8]> {
        let scorers = self.scorers(table);
        let mut out = vec![[None; 8]; table.len()];
        // Rows in chunks; within a chunk, feature by feature, so that each
        // feature's column and reference are read in one sweep.
        const CHUNK: usize = 2_048;
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(k, out)| {
            let first = k * CHUNK;
            let (mut sum, mut count) = (vec![[0.0; 8]; out.len()], vec![[0u32; 8]; out.len()]);
            for (c, scorer) in &scorers {
                let c = c.index();
                for (i, (sum, count)) in sum.iter_mut().zip(&mut count).enumerate() {
                    if let Some(v) = scorer.score(first + i) {
                        sum[c] += v;
                        count[c] += 1;
                    }
                }
            }
            for ((o, sum), count) in out.iter_mut().zip(&sum).zip(&count) {
                *o = std::array::from_fn(|i| (count[i] > 0).then(|| sum[i] / count[i] as f64));
            }
        });
        out
    }

    /// Numeric features whose direction came from no label and no spec entry
    /// (they count as higher-is-healthier).
    pub fn unoriented(&self) -> Vec<String> {
        self.features
            .iter()
            .filter_map(|f| match f {
                RuleFeature::Numeric { name, direction_from, .. } if direction_from == "default" => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    /// The hand-built health score (0–100, higher is healthier) of every row:
    /// the weighted mean of the category scores present (50 when none is).
    pub fn health(&self, table: &Table) -> Vec<f64> {
        self.health_of_categories(&self.category_scores(table))
    }

    /// [`RulesModel::health`] from the category scores of every row.
    pub fn health_of_categories(&self, categories: &[[Option<f64>; 8]]) -> Vec<f64> {
        categories
            .iter()
            .map(|cats| {
                let (mut num, mut den) = (0.0, 0.0);
                for c in Category::ALL {
                    let w = self.weights.get(&c).copied().unwrap_or(0.0);
                    if let (Some(v), true) = (cats[c.index()], w > 0.0) {
                        num += w * v;
                        den += w;
                    }
                }
                if den > 0.0 {
                    num / den
                } else {
                    50.0
                }
            })
            .collect()
    }
}
