//! Per-account attributions: how much each input feature moved a score, in
//! log-odds, such that base + Σ contributions = the model's log-odds exactly.
//!
//! Logistic model: the contribution of feature j is Σ_c β_c (x_c − x̄_c) over
//! every design column c that came from j (its value, its missing indicator, its
//! one-hot levels), with x̄_c the training mean; the base is b + Σ_c β_c x̄_c.
//! Gradient-boosted trees: exact path-dependent TreeSHAP ([`treeshap`]), summed
//! per input feature over its tree-matrix columns; the base is the ensemble's
//! cover-weighted expected margin.
//! Every model kind implements [`Attribute`]; the roll-up per category, the top
//! drivers and the explanation of a change work the same for all of them.

pub mod treeshap;

use treeshap::TreeExplainer;

use std::sync::OnceLock;

use ndarray::{Array2, ArrayView2};

use crate::data::spec::Category;
use crate::data::table::Table;
use crate::features::Preprocessor;
use crate::model::logistic::LogisticModel;
use crate::model::{FittedModel, SubModel, TargetModel};

/// Attributions of a set of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Attributions {
    /// Base value (log-odds) per row.
    pub base: Vec<f64>,
    /// Contribution per row and input feature (columns follow `Preprocessor::features`).
    pub contributions: Array2<f64>,
}

/// A model that can attribute its log-odds to input features exactly.
pub trait Attribute {
    /// Attributions of the rows of a design matrix `x` built by `pre`.
    fn attribute(&self, pre: &Preprocessor, x: &ArrayView2<f64>) -> Attributions;
}

impl Attribute for LogisticModel {
    fn attribute(&self, pre: &Preprocessor, x: &ArrayView2<f64>) -> Attributions {
        let base = self.intercept + pre.columns.iter().zip(&self.coef).map(|(c, b)| b * c.mean).sum::<f64>();
        use rayon::prelude::*;
        let nf = pre.features.len();
        let mut contributions = Array2::<f64>::zeros((x.nrows(), nf));
        if nf > 0 {
            let out = contributions.as_slice_mut().expect("a new array is contiguous");
            out.par_chunks_mut(nf).enumerate().for_each(|(i, out)| {
                for ((c, b), v) in pre.columns.iter().zip(&self.coef).zip(x.row(i)) {
                    out[c.feature] += b * (v - c.mean);
                }
            });
        }
        Attributions {
            base: vec![base; x.nrows()],
            contributions,
        }
    }
}

impl Attribute for TreeExplainer<'_> {
    /// Exact path-dependent TreeSHAP per tree-matrix column, summed per input feature.
    fn attribute(&self, pre: &Preprocessor, x: &ArrayView2<f64>) -> Attributions {
        use rayon::prelude::*;
        let cols = pre.tree_columns();
        let base = treeshap::expected_margin(self.model);
        let ncols = x.ncols();
        let nf = pre.features.len();
        let x = x.as_standard_layout();
        let flat = x.as_slice().expect("standard layout is contiguous");
        // Blocks of rows in parallel; within a block, tree by tree, so that a
        // tree's tables are fetched once per block while the block's columns
        // of contributions stay in L2 (see benches/RESULTS.md for the block size).
        let block_rows = 4096;
        let mut contributions = Array2::<f64>::zeros((x.nrows(), nf));
        if nf > 0 && ncols > 0 {
            let out = contributions.as_slice_mut().expect("a new array is contiguous");
            out.par_chunks_mut(block_rows * nf)
                .zip(flat.par_chunks(block_rows * ncols))
                .for_each(|(out, block)| {
                    // Column-major contributions, summed per feature row by
                    // row (in column order, as a row of them would be).
                    let phi = self.shap_block_columns(block, ncols);
                    let rows = block.len() / ncols;
                    for (r, out) in out.chunks_exact_mut(nf).enumerate() {
                        for (c, f) in cols.iter().enumerate() {
                            out[*f] += phi[c * rows + r];
                        }
                    }
                });
        }
        Attributions {
            base: vec![base; x.nrows()],
            contributions,
        }
    }
}

/// Attributions of every row, with the feature names and categories they refer to.
#[derive(Debug, Clone, PartialEq)]
pub struct Explained {
    pub features: Vec<(String, Category)>,
    pub attributions: Attributions,
}

/// A target model ready to explain: the model, and the TreeSHAP tables of its
/// boosted sub-models, each built on first use (or all at once by
/// [`Explainer::prepare`], e.g. while the caller reads its input) and kept for
/// every later block of rows. The tables are derived data: they belong to
/// this explainer, never to the model or its file.
///
/// ```no_run
/// # let reg = healthscore::registry::Registry::new("models");
/// # let v = reg.load("2026Q3")?;
/// # let t: healthscore::data::table::Table = unimplemented!();
/// let explainer = healthscore::explain::Explainer::new(v.risk.as_ref().unwrap());
/// let e = explainer.explain(&t);
/// let total: f64 = e.attributions.base[0] + e.attributions.contributions.row(0).sum();
/// # Ok::<(), healthscore::Error>(())
/// ```
#[derive(Debug)]
pub struct Explainer<'m> {
    /// The model explained.
    pub model: &'m TargetModel,
    /// The pooled sub-model's tables, then each segment's in the model's order.
    tables: Vec<OnceLock<Option<TreeExplainer<'m>>>>,
}

impl<'m> Explainer<'m> {
    /// An explainer of `model`; no table is built yet.
    pub fn new(model: &'m TargetModel) -> Explainer<'m> {
        Explainer {
            model,
            tables: (0..=model.segments.len()).map(|_| OnceLock::new()).collect(),
        }
    }

    fn sub_models(&self) -> impl Iterator<Item = &'m SubModel> {
        std::iter::once(&self.model.pooled).chain(self.model.segments.values())
    }

    /// The tree tables of sub-model `i` (0 = pooled), built on first use.
    fn trees(&self, i: usize) -> Option<&TreeExplainer<'m>> {
        let sub = self.sub_models().nth(i).expect("a sub-model per slot");
        self.tables[i]
            .get_or_init(|| match &sub.model {
                FittedModel::Gbdt(g) => Some(TreeExplainer::new(g)),
                FittedModel::Logistic(_) => None,
            })
            .as_ref()
    }

    /// Builds the TreeSHAP tables of every boosted sub-model now. Logistic
    /// models have none.
    pub fn prepare(&self) {
        for i in 0..self.tables.len() {
            self.trees(i);
        }
    }

    /// Attributions of the given rows of a table by sub-model `i`.
    fn attribute(&self, i: usize, table: &Table, rows: &[usize]) -> Attributions {
        let sub = self.sub_models().nth(i).expect("a sub-model per slot");
        let x = sub.model.design(&sub.preprocessor, table, rows);
        match (&sub.model, self.trees(i)) {
            (FittedModel::Gbdt(_), Some(t)) => t.attribute(&sub.preprocessor, &x.view()),
            (FittedModel::Logistic(m), _) => m.attribute(&sub.preprocessor, &x.view()),
            (FittedModel::Gbdt(_), None) => unreachable!("a boosted sub-model has tables"),
        }
    }

    /// Attributions of every row of the table, routed to each row's sub-model.
    /// Sub-models share the feature list, so columns line up across segments.
    pub fn explain(&self, table: &Table) -> Explained {
        let model = self.model;
        let features: Vec<(String, Category)> = model
            .pooled
            .preprocessor
            .features
            .iter()
            .map(|f| (f.name().to_string(), f.category()))
            .collect();
        let slot = |seg: Option<&str>| seg.and_then(|s| model.segments.keys().position(|k| k == s)).map_or(0, |k| k + 1);
        let mut routes = model.routes(table);
        if routes.len() == 1 {
            // One model serves every row, in order: its attributions are the answer.
            let (seg, rows) = routes.pop().expect("one route");
            let attributions = self.attribute(slot(seg.as_deref()), table, &rows);
            return Explained { features, attributions };
        }
        let mut base = vec![0.0; table.len()];
        let mut contributions = Array2::<f64>::zeros((table.len(), features.len()));
        for (seg, rows) in routes {
            let a = self.attribute(slot(seg.as_deref()), table, &rows);
            for (k, &r) in rows.iter().enumerate() {
                base[r] = a.base[k];
                contributions.row_mut(r).assign(&a.contributions.row(k));
            }
        }
        Explained {
            features,
            attributions: Attributions { base, contributions },
        }
    }
}

/// Sum of contributions per category, in the order of
/// [`Category::all_with`] the features' categories (returned first).
///
/// ```
/// use healthscore::{explain::by_category, Category};
/// let features = [("logins".to_string(), Category::Engagement), ("nps".to_string(), Category::Sentiment)];
/// let (cats, sums) = by_category(&features, &[0.5, -0.25]);
/// assert_eq!(cats, Category::ALL);
/// assert_eq!((sums[0], sums[6], sums[1]), (0.5, -0.25, 0.0));
/// ```
pub fn by_category(features: &[(String, Category)], contributions: &[f64]) -> (Vec<Category>, Vec<f64>) {
    let cats = Category::all_with(features.iter().map(|(_, c)| *c));
    let mut out = vec![0.0; cats.len()];
    for ((_, c), v) in features.iter().zip(contributions) {
        out[cats.iter().position(|x| x == c).expect("listed")] += v;
    }
    (cats, out)
}

/// Indices of the `k` largest |contributions|, largest first (ties by feature
/// order); zero contributions are never drivers.
///
/// ```
/// use healthscore::explain::top_k;
/// assert_eq!(top_k(&[0.1, -0.5, 0.0, 0.3], 2), vec![1, 3]);
/// ```
pub fn top_k(contributions: &[f64], k: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(k);
    top_k_into(contributions, k, &mut out);
    out
}

/// [`top_k`] into a buffer the caller reuses, with no allocation once `out`
/// has room for `k`: by maxima for a few drivers of a few features
/// (`top_k_by_maxima`), otherwise by one pass of insertions.
pub fn top_k_into(contributions: &[f64], k: usize, out: &mut Vec<usize>) {
    out.clear();
    if k == 0 {
        return;
    }
    if k <= FEW_DRIVERS && contributions.len() <= FEW_FEATURES && top_k_by_maxima(contributions, k, out) {
        return;
    }
    top_k_by_insertion(contributions, k, out);
}

/// Most drivers and features for [`top_k_by_maxima`].
const FEW_DRIVERS: usize = 8;
const FEW_FEATURES: usize = 64;

/// [`top_k_into`] as k passes that each take the largest size left (the
/// first feature of that size on a tie), with no branch per feature: the
/// passes are simple enough to run as vector instructions, where the one-pass
/// selection mispredicted a branch on about every third feature. False (and
/// `out` untouched) when a contribution is NaN, which only the one-pass
/// selection orders.
fn top_k_by_maxima(contributions: &[f64], k: usize, out: &mut Vec<usize>) -> bool {
    const LANES: usize = 8;
    let n = contributions.len();
    // Sizes in whole rows of LANES, padded with −1 (never taken).
    let mut size = [-1.0f64; FEW_FEATURES];
    let size = &mut size[..n.div_ceil(LANES) * LANES];
    for (s, c) in size.iter_mut().zip(contributions) {
        *s = c.abs();
    }
    if size.iter().any(|s| s.is_nan()) {
        return false;
    }
    for _ in 0..k {
        // Lane by lane, then across lanes: no step waits on the one before.
        let mut lanes = [0.0f64; LANES];
        for row in size.chunks_exact(LANES) {
            for (m, &s) in lanes.iter_mut().zip(row) {
                *m = if s > *m { s } else { *m };
            }
        }
        let largest = lanes.iter().fold(0.0f64, |m, &s| if s > m { s } else { m });
        if largest <= 0.0 {
            break;
        }
        let at = size.iter().position(|&s| s == largest).expect("the largest size is one of them");
        out.push(at);
        // Taken: below every size still in the running.
        size[at] = -1.0;
    }
    true
}

/// [`top_k_into`] for more drivers or features, or NaN contributions: one
/// pass that keeps the best so far in order in `out`.
fn top_k_by_insertion(contributions: &[f64], k: usize, out: &mut Vec<usize>) {
    let size = |j: usize| contributions[j].abs();
    let mut worst = f64::NEG_INFINITY;
    for (i, &c) in contributions.iter().enumerate() {
        let a = c.abs();
        if c == 0.0 || a.total_cmp(&worst).is_le() {
            continue;
        }
        let at = out.iter().position(|&j| a.total_cmp(&size(j)).is_gt()).unwrap_or(out.len());
        if out.len() == k {
            out.pop();
        }
        out.insert(at, i);
        if out.len() == k {
            worst = size(out[k - 1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{DesignColumn, FeatureTransform};
    use ndarray::array;

    #[test]
    fn logistic_attributions_add_up() {
        let pre = Preprocessor {
            features: vec![
                FeatureTransform::Numeric {
                    name: "a".into(),
                    category: Category::Usage,
                    median: 0.0,
                    log1p: false,
                    mean: 0.0,
                    sd: 1.0,
                    missing_indicator: true,
                    min: 0.0,
                    max: 1.0,
                },
                FeatureTransform::Categorical {
                    name: "b".into(),
                    category: Category::Journey,
                    levels: vec!["x".into(), "y".into()],
                    other: false,
                },
            ],
            columns: vec![
                DesignColumn {
                    name: "a".into(),
                    feature: 0,
                    mean: 0.1,
                },
                DesignColumn {
                    name: "a_missing".into(),
                    feature: 0,
                    mean: 0.2,
                },
                DesignColumn {
                    name: "b=x".into(),
                    feature: 1,
                    mean: 0.6,
                },
                DesignColumn {
                    name: "b=y".into(),
                    feature: 1,
                    mean: 0.4,
                },
            ],
        };
        let m = LogisticModel {
            intercept: -1.0,
            coef: vec![0.5, 1.5, -0.3, 0.7],
            c: 1.0,
        };
        let x = array![[1.0, 0.0, 1.0, 0.0], [-2.0, 1.0, 0.0, 1.0]];
        let a = m.attribute(&pre, &x.view());
        for i in 0..2 {
            let total = a.base[i] + a.contributions.row(i).sum();
            assert!((total - m.margin_row(x.row(i))).abs() < 1e-12);
        }
        // Feature a of row 0: 0.5 (1 - 0.1) + 1.5 (0 - 0.2)
        assert!((a.contributions[[0, 0]] - (0.45 - 0.3)).abs() < 1e-12);
        let (names, cats) = by_category(&[("a".into(), Category::Usage), ("b".into(), Category::Journey)], &[1.0, -2.0]);
        assert_eq!(cats[names.iter().position(|c| *c == Category::Usage).unwrap()], 1.0);
        assert_eq!(top_k(&[0.1, -0.5, 0.3], 2), vec![1, 2]);
    }

    /// The one-pass selection agrees with sorting every nonzero contribution,
    /// including ties (which keep feature order) and rows with fewer than k drivers.
    #[test]
    fn top_k_matches_a_full_sort() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for trial in 0..2_000 {
            // Up to FEW_FEATURES and past it.
            let n = rng.gen_range(0..if trial % 3 == 0 { 80 } else { 40 });
            // Few distinct magnitudes, so that ties and zeros are common.
            let mut v: Vec<f64> = (0..n).map(|_| rng.gen_range(-3i32..=3) as f64 * 0.5).collect();
            if trial % 5 == 0 {
                // Distinct sizes, infinite ones and negative zeros too.
                v = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
                v.extend([f64::INFINITY, -0.0, f64::NEG_INFINITY].iter().take(trial % 4));
                if trial % 15 == 0 {
                    // NaN: ordered first by size, as total_cmp orders it.
                    v.push(f64::NAN);
                }
            }
            let mut want: Vec<usize> = (0..v.len()).filter(|&i| v[i] != 0.0).collect();
            want.sort_by(|&a, &b| v[b].abs().total_cmp(&v[a].abs()).then(a.cmp(&b)));
            // Past FEW_DRIVERS too, where the one-pass insertion selects.
            let k = if trial % 10 == 9 { FEW_DRIVERS + 1 + trial % 7 } else { trial % 8 };
            want.truncate(k);
            assert_eq!(top_k(&v, k), want, "{v:?}, k = {k}");
        }
    }
}
