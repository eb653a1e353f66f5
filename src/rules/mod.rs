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

/// The 0–100 score of each category for many rows: the mean of the
/// category's feature sub-scores, `None` where the row has none.
///
/// ```
/// use healthscore::{rules::CategoryScores, Category};
/// let s = CategoryScores::from_rows(vec![Category::Usage, Category::Journey], &[vec![Some(40.0), None]]);
/// assert_eq!(s.get(0, Category::Usage), Some(40.0));
/// assert_eq!(s.get(0, Category::Journey), None);
/// assert_eq!(s.column(Category::Advocacy), None, "not a category of these scores");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryScores {
    /// The categories, in column order (see [`Category::all_with`]).
    pub categories: Vec<Category>,
    /// Row-major: row r holds `values[r * k..(r + 1) * k]`, k categories.
    values: Vec<Option<f64>>,
}

impl CategoryScores {
    /// Scores from rows, each with one value per category of `categories`.
    pub fn from_rows(categories: Vec<Category>, rows: &[Vec<Option<f64>>]) -> CategoryScores {
        let k = categories.len();
        let values = rows.iter().flat_map(|r| (0..k).map(|i| r.get(i).copied().flatten())).collect();
        CategoryScores { categories, values }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.categories.len()).unwrap_or(0)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The scores of row `r`, in the order of [`CategoryScores::categories`].
    pub fn row(&self, r: usize) -> &[Option<f64>] {
        let k = self.categories.len();
        &self.values[r * k..(r + 1) * k]
    }

    /// The score of category `c` in row `r` (None when it has none or `c` is not one of these).
    pub fn get(&self, r: usize, c: Category) -> Option<f64> {
        let i = self.categories.iter().position(|x| *x == c)?;
        self.row(r)[i]
    }

    /// Category `c` for every row, or None when `c` is not one of these.
    pub fn column(&self, c: Category) -> Option<Vec<Option<f64>>> {
        let i = self.categories.iter().position(|x| *x == c)?;
        Some(self.values.chunks(self.categories.len()).map(|row| row[i]).collect())
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
    pub fn category_scores(&self, table: &Table) -> CategoryScores {
        let scorers = self.scorers(table);
        let categories = Category::all_with(scorers.iter().map(|(c, _)| *c));
        let k = categories.len();
        let slots: Vec<usize> = scorers
            .iter()
            .map(|(c, _)| categories.iter().position(|x| x == c).expect("listed"))
            .collect();
        let mut values = vec![None; table.len() * k];
        // Rows in chunks; within a chunk, feature by feature, so that each
        // feature's column and reference are read in one sweep.
        const CHUNK: usize = 2_048;
        values.par_chunks_mut(CHUNK * k).enumerate().for_each(|(chunk, out)| {
            let first = chunk * CHUNK;
            let (mut sum, mut count) = (vec![0.0; out.len()], vec![0u32; out.len()]);
            for ((_, scorer), &c) in scorers.iter().zip(&slots) {
                for i in 0..out.len() / k {
                    if let Some(v) = scorer.score(first + i) {
                        sum[i * k + c] += v;
                        count[i * k + c] += 1;
                    }
                }
            }
            for ((o, sum), count) in out.iter_mut().zip(&sum).zip(&count) {
                *o = (*count > 0).then(|| sum / *count as f64);
            }
        });
        CategoryScores { categories, values }
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
    pub fn health_of_categories(&self, scores: &CategoryScores) -> Vec<f64> {
        let weights: Vec<f64> = scores
            .categories
            .iter()
            .map(|c| self.weights.get(c).copied().unwrap_or(0.0))
            .collect();
        (0..scores.len())
            .map(|r| {
                let (mut num, mut den) = (0.0, 0.0);
                for (&w, &v) in weights.iter().zip(scores.row(r)) {
                    if let (Some(v), true) = (v, w > 0.0) {
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
