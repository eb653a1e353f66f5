//! Fitted preprocessing: turns the raw feature columns of a [`Table`] into the
//! numeric design matrix a model sees, and remembers how, so that scoring
//! applies exactly the transformation learned on the training rows.
//!
//! Numeric features: median imputation plus a missing-indicator column when the
//! training rows had missing values, `log1p` for heavy-tailed non-negative
//! counts, then standardisation. A feature is a log1p candidate when it is
//! non-negative with skewness above 2; with labels, `log1p` is kept when a
//! one-feature logistic fit on `ln(1 + x)` has a higher likelihood than on `x`
//! (a heavy tail is not always a log-shaped effect: days since the last meeting
//! often matter more, not less, as they grow); without labels, when `log1p`
//! reduces the skewness. The choice is recorded in the artifact. Categorical features: one-hot columns for every
//! level with at least `min_category_rows` training rows, and one `other`
//! bucket for rare levels and for levels never seen in training.
//!
//! Every design column records the input feature it came from and its mean on
//! the training rows, which is what exact per-feature attribution needs.
//!
//! One algorithm in one file: fitting the transformation and applying it are
//! the two halves of the same definition, kept together so they cannot drift.

pub mod reference;

use std::collections::BTreeMap;

use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::spec::{Category, FeatureDef};
use crate::data::{
    table::Table,
    values::{Categories, FeatureValues},
};
use crate::design::{gather_column, DesignRows, DESIGN_CHUNK};
use crate::error::{Error, Result};

/// The name of the bucket for rare and unseen category levels.
pub const OTHER: &str = "(other)";
/// The level a missing categorical cell is read as.
pub const MISSING: &str = "(missing)";

/// How one input feature is transformed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureTransform {
    Numeric {
        name: String,
        category: Category,
        /// Median of the raw training values, used for missing cells.
        median: f64,
        /// Whether `ln(1 + x)` is applied after imputation.
        log1p: bool,
        /// Mean and standard deviation of the (imputed, transformed) training values.
        mean: f64,
        sd: f64,
        /// Whether a `<name>_missing` indicator column exists.
        missing_indicator: bool,
        /// Range of the raw training values (for out-of-range warnings).
        min: f64,
        max: f64,
    },
    Categorical {
        name: String,
        category: Category,
        /// Levels that get their own column.
        levels: Vec<String>,
        /// Whether the `(other)` column exists (training had rare levels).
        other: bool,
    },
}

impl FeatureTransform {
    /// A raw numeric value as the design's column holds it: a missing value
    /// imputed with the median, `log1p` when chosen, then standardised. None
    /// for a categorical feature.
    pub fn standardised(&self, x: f64) -> Option<f64> {
        match self {
            FeatureTransform::Numeric {
                median, log1p, mean, sd, ..
            } => Some((apply(if x.is_finite() { x } else { *median }, *log1p) - mean) / sd),
            FeatureTransform::Categorical { .. } => None,
        }
    }

    /// The input feature's name.
    pub fn name(&self) -> &str {
        match self {
            FeatureTransform::Numeric { name, .. } | FeatureTransform::Categorical { name, .. } => name,
        }
    }
    /// The input feature's category.
    pub fn category(&self) -> Category {
        match self {
            FeatureTransform::Numeric { category, .. } | FeatureTransform::Categorical { category, .. } => *category,
        }
    }

    /// Columns it takes in the tree matrix: one for a number, one per level
    /// (plus `(other)`) for a category.
    pub fn tree_width(&self) -> usize {
        match self {
            FeatureTransform::Numeric { .. } => 1,
            FeatureTransform::Categorical { levels, other, .. } => levels.len() + *other as usize,
        }
    }

    /// Columns it takes in the design matrix: as [`FeatureTransform::tree_width`],
    /// plus a missing-value indicator where the numeric feature has one.
    pub fn design_width(&self) -> usize {
        match self {
            FeatureTransform::Numeric { missing_indicator, .. } => 1 + *missing_indicator as usize,
            categorical => categorical.tree_width(),
        }
    }
}

/// One column of the design matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesignColumn {
    pub name: String,
    /// Index of the input feature in [`Preprocessor::features`].
    pub feature: usize,
    /// Mean of the column over the training rows.
    pub mean: f64,
}

/// Settings for fitting the preprocessing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreprocessParams {
    pub min_category_rows: usize,
}

/// The labels of the training rows and a one-feature fit of them, with which
/// the preprocessing decides whether a skewed feature is better taken as
/// `log1p`: the shape whose fit has the higher log-likelihood wins. The fit
/// comes from the layer that owns the classifiers
/// ([`crate::train::shape::log_likelihood`]), so this layer needs none.
#[derive(Clone, Copy)]
pub struct ShapeTest<'a> {
    /// Label per table row (`None` = unknown).
    pub labels: &'a [Option<u8>],
    /// Log-likelihood of a one-feature model of `y` on `x`.
    pub fit: &'a (dyn Fn(&[f64], &[u8]) -> f64 + Sync),
}

/// Fitted preprocessing, saved inside each model artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    pub features: Vec<FeatureTransform>,
    pub columns: Vec<DesignColumn>,
}

fn skewness(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    if n < 3.0 {
        return 0.0;
    }
    let mean = v.iter().sum::<f64>() / n;
    let m2 = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let m3 = v.iter().map(|x| (x - mean).powi(3)).sum::<f64>() / n;
    if m2 <= 0.0 {
        0.0
    } else {
        m3 / m2.powf(1.5)
    }
}

/// The median of finite values (NaN when there are none).
pub fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    // Selection, not a sort: linear time.
    let n = s.len();
    let (lower, mid, _) = s.select_nth_unstable_by(n / 2, f64::total_cmp);
    let mid = *mid;
    if n % 2 == 1 {
        mid
    } else {
        0.5 * (lower.iter().copied().fold(f64::NEG_INFINITY, f64::max) + mid)
    }
}

pub(crate) fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Category level of a cell after mapping rare/unseen levels to [`OTHER`].
fn level_of(cell: Option<&str>) -> &str {
    cell.unwrap_or(MISSING)
}

impl Preprocessor {
    /// Learns the preprocessing on the rows `rows` of `table`.
    ///
    /// ```no_run
    /// # use healthscore::{data::{read::*, spec::Spec, table::*}, features::*};
    /// # let spec = Spec::load("training/saas.toml".as_ref())?;
    /// # let t = read_table("notebooks-data/history.csv".as_ref(), &spec.columns, &spec.feature_defs(), Labels::Required)?;
    /// let rows: Vec<usize> = (0..t.len()).collect();
    /// let pre = Preprocessor::fit(&t, &rows, None, PreprocessParams { min_category_rows: 10 })?;
    /// let x = pre.transform(&t);
    /// assert_eq!(x.ncols(), pre.columns.len());
    /// # Ok::<(), healthscore::Error>(())
    /// ```
    pub fn fit(table: &Table, rows: &[usize], shape: Option<ShapeTest<'_>>, params: PreprocessParams) -> Result<Preprocessor> {
        if rows.is_empty() {
            return Err(Error::Param("cannot fit preprocessing on zero rows".into()));
        }
        // Features are independent: fitted in parallel, kept in order.
        let features: Vec<FeatureTransform> = table
            .features
            .par_iter()
            .map(|f| {
                let FeatureDef { name, category, .. } = f.def.clone();
                match &f.values {
                    FeatureValues::Numeric(v) => {
                        let vals: Vec<f64> = rows.iter().map(|&r| v[r]).collect();
                        let present: Vec<f64> = vals.iter().copied().filter(|x| x.is_finite()).collect();
                        let med = median(&present);
                        let med = if med.is_finite() { med } else { 0.0 };
                        let min = present.iter().copied().fold(f64::INFINITY, f64::min);
                        let max = present.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let log1p = !present.is_empty() && min >= 0.0 && {
                            let s = skewness(&present);
                            let logged: Vec<f64> = present.iter().map(|x| x.ln_1p()).collect();
                            s > 2.0
                                && match shape {
                                    Some(ShapeTest { labels: y, fit }) => {
                                        let (xs, ys): (Vec<f64>, Vec<u8>) = rows
                                            .iter()
                                            .filter_map(|&r| Some((v[r], y[r]?)))
                                            .filter(|(x, _)| x.is_finite())
                                            .unzip();
                                        let logx: Vec<f64> = xs.iter().map(|x| x.ln_1p()).collect();
                                        fit(&logx, &ys) > fit(&xs, &ys)
                                    }
                                    None => skewness(&logged).abs() < s,
                                }
                        };
                        let t: Vec<f64> = vals.iter().map(|&x| apply(if x.is_finite() { x } else { med }, log1p)).collect();
                        let (mean, sd) = mean_sd(&t);
                        FeatureTransform::Numeric {
                            name,
                            category,
                            median: med,
                            log1p,
                            mean,
                            sd: if sd > 1e-12 { sd } else { 1.0 },
                            missing_indicator: present.len() < vals.len(),
                            min: if min.is_finite() { min } else { 0.0 },
                            max: if max.is_finite() { max } else { 0.0 },
                        }
                    }
                    FeatureValues::Categorical(v) => {
                        let mut per_slot = v.map_levels(|_| 0usize);
                        for &r in rows {
                            per_slot[v.slot(r)] += 1;
                        }
                        // A label spelled like the missing level counts with the missing cells.
                        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                        for (l, n) in v.map_levels(level_of).into_iter().zip(per_slot) {
                            if n > 0 {
                                *counts.entry(l).or_default() += n;
                            }
                        }
                        let levels: Vec<String> = counts
                            .iter()
                            .filter(|(_, &c)| c >= params.min_category_rows)
                            .map(|(l, _)| l.to_string())
                            .collect();
                        let other = counts.len() > levels.len();
                        FeatureTransform::Categorical {
                            name,
                            category,
                            levels,
                            other,
                        }
                    }
                }
            })
            .collect();
        // Values whose squares overflow (|x| near 1e154 and beyond) leave no
        // finite spread: refuse them here, naming the feature and the row,
        // rather than write a model that can never be loaded.
        for (f, raw) in features.iter().zip(&table.features) {
            if let (FeatureTransform::Numeric { name, mean, sd, .. }, FeatureValues::Numeric(v)) = (f, &raw.values) {
                if !(mean.is_finite() && sd.is_finite()) {
                    let row = rows
                        .iter()
                        .copied()
                        .filter(|&r| v[r].is_finite())
                        .max_by(|&a, &b| v[a].abs().total_cmp(&v[b].abs()))
                        .unwrap_or(0);
                    return Err(Error::BadValue {
                        path: table.path.clone(),
                        column: name.clone(),
                        row: row + 1,
                        message: format!(
                            "the value {} is too large to standardise (its square overflows); rescale the column, e.g. to thousands",
                            v[row]
                        ),
                    });
                }
            }
        }
        let mut pre = Preprocessor {
            features,
            columns: Vec::new(),
        };
        pre.columns = pre
            .column_names()
            .into_iter()
            .map(|(name, feature)| DesignColumn { name, feature, mean: 0.0 })
            .collect();
        // Column means, summed a chunk of rows at a time in a fixed order:
        // the design matrix is never held whole.
        let mut sums = vec![0.0; pre.columns.len()];
        let design = pre.design(table, rows);
        for start in (0..rows.len()).step_by(DESIGN_CHUNK) {
            let xc = design.rows(start..(start + DESIGN_CHUNK).min(rows.len()));
            for (s, col) in sums.iter_mut().zip(xc.columns()) {
                *s += col.sum();
            }
        }
        for (c, s) in pre.columns.iter_mut().zip(sums) {
            c.mean = s / rows.len() as f64;
        }
        Ok(pre)
    }

    fn column_names(&self) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        for (i, f) in self.features.iter().enumerate() {
            match f {
                FeatureTransform::Numeric {
                    name, missing_indicator, ..
                } => {
                    out.push((name.clone(), i));
                    if *missing_indicator {
                        out.push((format!("{name}_missing"), i));
                    }
                }
                FeatureTransform::Categorical { name, levels, other, .. } => {
                    for l in levels {
                        out.push((format!("{name}={l}"), i));
                    }
                    if *other {
                        out.push((format!("{name}={OTHER}"), i));
                    }
                }
            }
        }
        out
    }

    /// The design matrix of the given rows of `table`, computed a chunk of
    /// rows at a time as a fit asks for it: the same values as
    /// [`Preprocessor::transform_rows`] without holding them all.
    ///
    /// ```no_run
    /// # use healthscore::{data::{read::*, spec::Spec, table::*}, features::*, model::logistic::LogisticParams};
    /// # let spec = Spec::load("training/saas.toml".as_ref())?;
    /// # let t = read_table("notebooks-data/history.csv".as_ref(), &spec.columns, &spec.feature_defs(), Labels::Required)?;
    /// let labels = t.risk.clone().expect("labels");
    /// let rows: Vec<usize> = (0..t.len()).collect();
    /// let y: Vec<u8> = labels.iter().map(|v| v.expect("labeled")).collect();
    /// let pre = Preprocessor::fit(&t, &rows, Some(healthscore::train::shape::shape_test(&labels)), PreprocessParams { min_category_rows: 10 })?;
    /// let model = LogisticParams::default().fit_rows(&pre.design(&t, &rows), &y)?;
    /// # Ok::<(), healthscore::Error>(())
    /// ```
    pub fn design<'a>(&'a self, table: &'a Table, rows: &'a [usize]) -> TableDesign<'a> {
        TableDesign {
            pre: self,
            table,
            rows,
            ncols: self.columns.len(),
            tree: false,
        }
    }

    /// As [`Preprocessor::design`] for the matrix trees see
    /// ([`Preprocessor::transform_tree`]); the trees' fit reads it a column
    /// at a time.
    pub fn tree_design<'a>(&'a self, table: &'a Table, rows: &'a [usize]) -> TableDesign<'a> {
        TableDesign {
            pre: self,
            table,
            rows,
            ncols: self.tree_columns().len(),
            tree: true,
        }
    }

    /// The design matrix of every row of `table`.
    pub fn transform(&self, table: &Table) -> Array2<f64> {
        let rows: Vec<usize> = (0..table.len()).collect();
        self.transform_rows(table, &rows)
    }

    /// The design matrix of the given rows (in that order).
    ///
    /// The table must hold this preprocessor's features (in any order); the
    /// scoring path checks that when it reads the table.
    pub fn transform_rows(&self, table: &Table, rows: &[usize]) -> Array2<f64> {
        let ncols = self.column_names().len();
        let raws = self.raws(table);
        fill_rows(rows, ncols, |out, r| {
            let mut col = 0;
            for (f, raw) in self.features.iter().zip(&raws) {
                match (f, raw) {
                    (FeatureTransform::Numeric { missing_indicator, .. }, Raw::Numeric(v)) => {
                        let present = v[r].is_finite();
                        out[col] = f.standardised(v[r]).expect("a numeric transform");
                        if *missing_indicator {
                            out[col + 1] = (!present) as u8 as f64;
                        }
                    }
                    (FeatureTransform::Categorical { .. }, Raw::Slots(v, slots)) => {
                        if let Some(k) = slots[v.slot(r)] {
                            out[col + k] = 1.0;
                        }
                    }
                    // A missing or mistyped column is caught when the table is read;
                    // its columns stay at 0 (the training mean for numeric features).
                    _ => {}
                }
                col += f.design_width();
            }
        })
    }

    /// Input feature of each column of the tree matrix ([`Preprocessor::transform_tree`]).
    pub fn tree_columns(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, f) in self.features.iter().enumerate() {
            out.extend(std::iter::repeat_n(i, f.tree_width()));
        }
        out
    }

    /// The matrix trees see: numeric features raw (missing stays NaN: trees learn
    /// where missing values go), categorical features one-hot as for the linear model.
    pub fn transform_tree(&self, table: &Table, rows: &[usize]) -> Array2<f64> {
        let ncols = self.tree_columns().len();
        let raws = self.raws(table);
        fill_rows(rows, ncols, |out, r| {
            let mut col = 0;
            for (f, raw) in self.features.iter().zip(&raws) {
                match (f, raw) {
                    (FeatureTransform::Numeric { .. }, Raw::Numeric(v)) => out[col] = v[r],
                    (FeatureTransform::Numeric { .. }, _) => out[col] = f64::NAN,
                    (FeatureTransform::Categorical { .. }, Raw::Slots(v, slots)) => {
                        if let Some(k) = slots[v.slot(r)] {
                            out[col + k] = 1.0;
                        }
                    }
                    (FeatureTransform::Categorical { .. }, _) => {}
                }
                col += f.tree_width();
            }
        })
    }

    /// Number of cells in `table` whose category level was not seen in training.
    pub fn unseen_levels(&self, table: &Table) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for f in &self.features {
            if let (FeatureTransform::Categorical { name, levels, .. }, Some(FeatureValues::Categorical(v))) =
                (f, table.feature(f.name()).map(|r| &r.values))
            {
                let unseen = v.map_levels(|c| !levels.iter().any(|l| l == level_of(c)));
                let n = (0..v.len()).filter(|&r| unseen[v.slot(r)]).count();
                if n > 0 {
                    out.insert(name.clone(), n);
                }
            }
        }
        out
    }

    /// Per numeric feature, how many values lie far outside the training range
    /// (more than one range-width below the minimum or above the maximum).
    pub fn out_of_range(&self, table: &Table) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for f in &self.features {
            if let (FeatureTransform::Numeric { name, min, max, .. }, Some(FeatureValues::Numeric(v))) =
                (f, table.feature(f.name()).map(|r| &r.values))
            {
                let w = (max - min).max(1e-9);
                let (lo, hi) = (min - w, max + w);
                // Missing cells (NaN) compare false both ways; no branch per value.
                let n: usize = v.iter().map(|&x| ((x < lo) | (x > hi)) as usize).sum();
                if n > 0 {
                    out.insert(name.clone(), n);
                }
            }
        }
        out
    }
}

/// The one-hot column (among a categorical feature's: one per known level,
/// then the `(other)` bucket when it exists) that a cell sets, if any.
fn one_hot_slot(levels: &[String], other: bool, cell: Option<&str>) -> Option<usize> {
    let l = level_of(cell);
    match levels.iter().position(|x| x == l) {
        Some(k) => Some(k),
        None if other => Some(levels.len()),
        None => None,
    }
}

/// A feature's column of a table, as the transforms read it: categorical
/// labels with each level's one-hot column worked out once.
enum Raw<'a> {
    Numeric(&'a [f64]),
    Slots(&'a Categories, Vec<Option<usize>>),
    /// Absent from the table, or of the other kind.
    Absent,
}

impl Preprocessor {
    fn raw<'a>(&self, f: &FeatureTransform, table: &'a Table) -> Raw<'a> {
        match (f, table.feature(f.name()).map(|r| &r.values)) {
            (FeatureTransform::Numeric { .. }, Some(FeatureValues::Numeric(v))) => Raw::Numeric(v),
            (FeatureTransform::Categorical { levels, other, .. }, Some(FeatureValues::Categorical(v))) => {
                Raw::Slots(v, v.map_levels(|c| one_hot_slot(levels, *other, c)))
            }
            _ => Raw::Absent,
        }
    }

    fn raws<'a>(&self, table: &'a Table) -> Vec<Raw<'a>> {
        self.features.iter().map(|f| self.raw(f, table)).collect()
    }
}

/// Design rows of a table computed chunk by chunk: the logistic model's
/// ([`Preprocessor::design`]) or the trees' ([`Preprocessor::tree_design`]).
pub struct TableDesign<'a> {
    pre: &'a Preprocessor,
    table: &'a Table,
    rows: &'a [usize],
    ncols: usize,
    tree: bool,
}

impl DesignRows for TableDesign<'_> {
    fn nrows(&self) -> usize {
        self.rows.len()
    }
    fn ncols(&self) -> usize {
        self.ncols
    }
    fn rows(&self, rows: std::ops::Range<usize>) -> ndarray::CowArray<'_, f64, ndarray::Ix2> {
        let rows = &self.rows[rows];
        ndarray::CowArray::from(if self.tree {
            self.pre.transform_tree(self.table, rows)
        } else {
            self.pre.transform_rows(self.table, rows)
        })
    }

    /// A column of the trees' design straight from its table column (the
    /// logistic design's gathered from chunks).
    fn column(&self, j: usize) -> Vec<f64> {
        if !self.tree {
            return gather_column(self, j);
        }
        let columns = self.pre.tree_columns();
        let i = columns[j];
        let k = j - columns.iter().position(|&c| c == i).expect("the feature has a column");
        let f = &self.pre.features[i];
        match (f, self.pre.raw(f, self.table)) {
            (_, Raw::Numeric(v)) => self.rows.iter().map(|&r| v[r]).collect(),
            (FeatureTransform::Numeric { .. }, _) => vec![f64::NAN; self.rows.len()],
            (_, Raw::Slots(v, slots)) => self.rows.iter().map(|&r| (slots[v.slot(r)] == Some(k)) as u8 as f64).collect(),
            (FeatureTransform::Categorical { .. }, Raw::Absent) => vec![0.0; self.rows.len()],
        }
    }
}

/// A row-major matrix with one row per entry of `rows`, filled in parallel by
/// `fill(row_slice, table_row)` (the slice starts zeroed).
fn fill_rows(rows: &[usize], ncols: usize, fill: impl Fn(&mut [f64], usize) + Sync) -> Array2<f64> {
    let mut data = vec![0.0; rows.len() * ncols];
    if ncols > 0 {
        data.par_chunks_mut(ncols * 1024).zip(rows.par_chunks(1024)).for_each(|(out, rc)| {
            for (o, &r) in out.chunks_mut(ncols).zip(rc) {
                fill(o, r);
            }
        });
    }
    Array2::from_shape_vec((rows.len(), ncols), data).expect("rows × columns")
}

fn apply(x: f64, log1p: bool) -> f64 {
    if log1p {
        x.max(0.0).ln_1p()
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::table::RawFeature;
    use std::path::PathBuf;

    fn table() -> Table {
        let def = |n: &str, c: bool| FeatureDef {
            name: n.into(),
            category: Category::Usage,
            categorical: c,
        };
        Table {
            path: PathBuf::from("t.csv"),
            ids: (0..6).map(|i| i.to_string()).collect(),
            dates: None,
            risk: None,
            upsell: None,
            revenue: None,
            segment: None,
            kept: vec![],
            features: vec![
                RawFeature {
                    def: def("x", false),
                    values: FeatureValues::Numeric(vec![1.0, 2.0, f64::NAN, 4.0, 5.0, 6.0]),
                },
                RawFeature {
                    def: def("plan", true),
                    values: FeatureValues::Categorical(Categories::from_labels([
                        Some("a"),
                        Some("a"),
                        Some("b"),
                        Some("b"),
                        Some("c"),
                        None,
                    ])),
                },
            ],
        }
    }

    #[test]
    fn imputes_indicates_and_encodes() {
        let t = table();
        let pre = Preprocessor::fit(&t, &[0, 1, 2, 3, 4, 5], None, PreprocessParams { min_category_rows: 2 }).unwrap();
        let names: Vec<&str> = pre.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["x", "x_missing", "plan=a", "plan=b", "plan=(other)"]);
        let x = pre.transform(&t);
        // Row 2 is missing: imputed with the median 4, flagged.
        let FeatureTransform::Numeric { median, .. } = &pre.features[0] else {
            panic!()
        };
        assert_eq!(*median, 4.0);
        assert_eq!(x[[2, 1]], 1.0);
        assert_eq!(x[[4, 4]], 1.0, "rare level c goes to other");
        assert_eq!(x[[5, 4]], 1.0, "missing level is rare here");
        // Standardised column has mean 0 on training rows.
        assert!(pre.columns[0].mean.abs() < 1e-12);
        assert!((pre.columns[2].mean - 2.0 / 6.0).abs() < 1e-12);
    }

    /// A table of `n` rows: a numeric feature with missing cells and a
    /// categorical one with a rare level and missing cells.
    fn wide_table(n: usize) -> Table {
        let mut t = table();
        t.ids = (0..n).map(|i| i.to_string()).collect();
        t.risk = Some((0..n).map(|i| Some(((i * 7 + i / 3) % 5 < 2) as u8)).collect());
        let x: Vec<f64> = (0..n)
            .map(|i| if i % 9 == 4 { f64::NAN } else { ((i * 37) % 101) as f64 / 7.0 })
            .collect();
        let plan: Vec<Option<String>> = (0..n)
            .map(|i| match i % 11 {
                0 => None,
                5 if i < 40 => Some("rare".into()),
                k => Some(["a", "b", "c"][k % 3].into()),
            })
            .collect();
        t.features[0].values = FeatureValues::Numeric(x);
        t.features[1].values = FeatureValues::Categorical(plan.into_iter().collect());
        t
    }

    /// The chunked designs give the matrices' bits, row by row and column by
    /// column, for rows in any order, and so the same fitted models.
    #[test]
    fn table_designs_match_the_matrices() {
        let n = 9_000;
        let t = wide_table(n);
        let labels = t.risk.clone().unwrap();
        // Every third row, backwards: not the table's order, more than two chunks.
        let rows: Vec<usize> = (0..n).rev().step_by(3).chain((1..n).step_by(3)).collect();
        let pre = Preprocessor::fit(
            &t,
            &rows,
            Some(crate::train::shape::shape_test(&labels)),
            PreprocessParams { min_category_rows: 20 },
        )
        .unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let x = pre.transform_rows(&t, &rows);
        let xt = pre.transform_tree(&t, &rows);
        let (d, dt) = (pre.design(&t, &rows), pre.tree_design(&t, &rows));
        assert_eq!((d.nrows(), d.ncols(), dt.ncols()), (rows.len(), x.ncols(), xt.ncols()));
        assert_eq!(
            pre.columns.iter().filter(|c| c.name.starts_with("plan=")).count(),
            5,
            "a, b, c, missing and other"
        );
        for (a, b) in [(0, 1), (17, 4113), (4096, rows.len())] {
            assert_eq!(d.rows(a..b), x.slice(ndarray::s![a..b, ..]));
            let chunk = dt.rows(a..b);
            assert_eq!(
                bits(chunk.as_slice().unwrap()),
                bits(xt.slice(ndarray::s![a..b, ..]).to_owned().as_slice().unwrap())
            );
        }
        for j in 0..x.ncols() {
            assert_eq!(d.column(j), x.column(j).to_vec(), "design column {j}");
        }
        for j in 0..xt.ncols() {
            assert_eq!(bits(&dt.column(j)), bits(&xt.column(j).to_vec()), "tree column {j}");
        }
        let y: Vec<u8> = rows.iter().map(|&r| labels[r].unwrap()).collect();
        let lp = crate::model::logistic::LogisticParams::default();
        let m = lp.fit_rows(&d, &y).unwrap();
        assert_eq!(m, lp.fit(&x.view(), &y).unwrap());
        assert_eq!(m.margins_rows(&d), m.margins(&x.view()));
        let gp = crate::model::gbdt::GbdtParams {
            max_depth: 3,
            min_samples_leaf: 5,
            ..Default::default()
        };
        let all: Vec<usize> = (0..rows.len()).collect();
        let (train, valid) = all.split_at(6_000);
        let g1 = crate::model::gbdt::fit(&dt, &y, train, valid, None, gp.clone()).unwrap();
        let g2 = crate::model::gbdt::fit(&xt.view(), &y, train, valid, None, gp).unwrap();
        assert!(g1.trees.len() > 1);
        assert_eq!(serde_json::to_string(&g1).unwrap(), serde_json::to_string(&g2).unwrap());
        // Loss curves and margins of the trees, by chunks of the table or on the matrix.
        assert_eq!(bits(&g1.staged_log_loss(&dt, &y)), bits(&g1.staged_log_loss(&xt.view(), &y)));
        assert_eq!(bits(&g1.margins_rows(&dt)), bits(&g1.margins(&xt.view())));
    }

    /// The column means come from chunks of rows, and are the means.
    #[test]
    fn column_means_from_chunks_are_the_means() {
        let t = wide_table(10_000);
        let rows: Vec<usize> = (0..10_000).collect();
        let pre = Preprocessor::fit(&t, &rows, None, PreprocessParams { min_category_rows: 20 }).unwrap();
        let x = pre.transform(&t);
        for (j, c) in pre.columns.iter().enumerate() {
            let mean = x.column(j).sum() / rows.len() as f64;
            assert!(
                (c.mean - mean).abs() <= 1e-12 * (1.0 + mean.abs()),
                "{}: {} vs {mean}",
                c.name,
                c.mean
            );
        }
        // Shares of the one-hot columns: c is every level k % 11 in 3, 6 and 9 (not 5 under 40).
        let c = pre.columns.iter().find(|c| c.name == "plan=c").unwrap();
        let share = (0..10_000)
            .filter(|i| matches!(i % 11, 2 | 5 | 8) && !(i % 11 == 5 && *i < 40))
            .count() as f64
            / 1e4;
        assert!((c.mean - share).abs() < 1e-12, "{} vs {share}", c.mean);
    }

    #[test]
    fn heavy_tail_gets_log1p() {
        let mut t = table();
        let v: Vec<f64> = (0..200).map(|i| if i % 50 == 0 { 10_000.0 } else { (i % 7) as f64 }).collect();
        t.ids = (0..200).map(|i| i.to_string()).collect();
        t.features = vec![RawFeature {
            def: t.features[0].def.clone(),
            values: FeatureValues::Numeric(v),
        }];
        let rows: Vec<usize> = (0..200).collect();
        let pre = Preprocessor::fit(&t, &rows, None, PreprocessParams { min_category_rows: 2 }).unwrap();
        assert!(matches!(pre.features[0], FeatureTransform::Numeric { log1p: true, .. }));
    }

    #[test]
    fn serde_round_trip() {
        let t = table();
        let pre = Preprocessor::fit(&t, &[0, 1, 2, 3, 4, 5], None, PreprocessParams { min_category_rows: 2 }).unwrap();
        let back: Preprocessor = serde_json::from_str(&serde_json::to_string(&pre).unwrap()).unwrap();
        assert_eq!(back, pre);
    }
}
