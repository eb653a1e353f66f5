//! Reference distributions of the training features, kept in the manifest: the
//! percentiles the hand-built score ranks against, and the bins the population
//! stability index (PSI) compares live data with.
//!
//! PSI = Σ_b (a_b − e_b) · ln(a_b / e_b) over the training deciles plus a
//! missing bin, with e the training share and a the live share of each bin
//! (shares floored at 1e-4). Conventional reading: < 0.1 stable, 0.1–0.25
//! moderate shift, > 0.25 major shift (Yurdakul, "Statistical properties of
//! population stability index", 2018).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data::spec::Category;
use crate::data::{
    table::Table,
    values::{Categories, FeatureValues},
};
use crate::features::MISSING;

/// The training distribution of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Distribution {
    Numeric {
        /// Percentiles 0, 1, ..., 100 of the present values.
        percentiles: Vec<f64>,
        /// Share of missing cells.
        missing: f64,
        /// Interior bin edges (training deciles, deduplicated); a value v falls
        /// in bin k = number of edges <= v.
        edges: Vec<f64>,
        /// Training share per bin (edges.len() + 1 bins), then the missing bin.
        shares: Vec<f64>,
    },
    Categorical {
        /// Share of each level (missing as `(missing)`).
        shares: BTreeMap<String, f64>,
    },
}

/// The reference of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureReference {
    pub name: String,
    pub category: Category,
    pub distribution: Distribution,
    /// The feature grows with time by design (tenure, account age): within
    /// accounts it rose from one snapshot to the next almost always, so a
    /// later population differs from the training one by construction and
    /// its drift is expected, not a warning.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub grows_with_time: bool,
}

/// Fewest pairs of consecutive snapshots of one account for [`grows_with_time`] to judge.
const TREND_MIN_PAIRS: usize = 30;

/// Whether `values` rose between consecutive snapshots of the same account in
/// at least 90% of the pairs and fell in at most 2%: a feature that grows with
/// time by design. `false` without dates.
pub fn grows_with_time(table: &Table, rows: &[usize], values: &[f64]) -> bool {
    let Some(dates) = &table.dates else {
        return false;
    };
    let mut order: Vec<usize> = rows.to_vec();
    order.sort_by(|&a, &b| table.ids[a].cmp(&table.ids[b]).then(dates[a].cmp(&dates[b])));
    let (mut pairs, mut up, mut down) = (0usize, 0usize, 0usize);
    for w in order.windows(2) {
        let (a, b) = (w[0], w[1]);
        if table.ids[a] != table.ids[b] || !(values[a].is_finite() && values[b].is_finite()) {
            continue;
        }
        pairs += 1;
        up += (values[b] > values[a]) as usize;
        down += (values[b] < values[a]) as usize;
    }
    pairs >= TREND_MIN_PAIRS && up * 10 >= pairs * 9 && down * 50 <= pairs
}

fn percentile_sorted(s: &[f64], q: f64) -> f64 {
    if s.is_empty() {
        return f64::NAN;
    }
    let pos = q * (s.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

fn bin_of(edges: &[f64], v: f64) -> usize {
    // At most nine edges: counting them all beats a search that branches.
    edges.iter().map(|e| (*e <= v) as usize).sum()
}

/// Shares of `values` over the bins of `edges` plus a final missing bin.
fn numeric_shares(edges: &[f64], values: &[f64]) -> Vec<f64> {
    let mut counts = vec![0usize; edges.len() + 2];
    for &v in values {
        if v.is_finite() {
            counts[bin_of(edges, v)] += 1;
        } else {
            counts[edges.len() + 1] += 1;
        }
    }
    let n = values.len().max(1) as f64;
    counts.into_iter().map(|c| c as f64 / n).collect()
}

fn values_len(v: &FeatureValues) -> usize {
    match v {
        FeatureValues::Numeric(v) => v.len(),
        FeatureValues::Categorical(v) => v.len(),
    }
}

/// Cells per level among the rows `rows` (all rows when `None`), missing
/// cells under `(missing)`; levels without a cell are left out.
fn level_counts(values: &Categories, rows: Option<&[usize]>) -> BTreeMap<String, usize> {
    let mut per_slot = values.map_levels(|_| 0usize);
    match rows {
        Some(rows) => rows.iter().for_each(|&r| per_slot[values.slot(r)] += 1),
        None => (0..values.len()).for_each(|r| per_slot[values.slot(r)] += 1),
    }
    let mut m = BTreeMap::new();
    for (level, n) in values.map_levels(|l| l.unwrap_or(MISSING).to_string()).into_iter().zip(per_slot) {
        if n > 0 {
            *m.entry(level).or_default() += n;
        }
    }
    m
}

fn categorical_shares(values: &Categories, rows: &[usize]) -> BTreeMap<String, f64> {
    let n = rows.len().max(1) as f64;
    level_counts(values, Some(rows))
        .into_iter()
        .map(|(l, c)| (l, c as f64 / n))
        .collect()
}

/// Fits the reference of every feature on the rows `rows`.
pub fn fit(table: &Table, rows: &[usize]) -> Vec<FeatureReference> {
    table
        .features
        .iter()
        .map(|f| {
            let grows = match &f.values {
                FeatureValues::Numeric(v) => grows_with_time(table, rows, v),
                FeatureValues::Categorical(_) => false,
            };
            let distribution = match &f.values {
                FeatureValues::Numeric(v) => {
                    let vals: Vec<f64> = rows.iter().map(|&r| v[r]).collect();
                    let mut present: Vec<f64> = vals.iter().copied().filter(|x| x.is_finite()).collect();
                    present.sort_by(f64::total_cmp);
                    let percentiles: Vec<f64> = (0..=100)
                        .map(|p| percentile_sorted(&present, p as f64 / 100.0))
                        .map(|x| if x.is_finite() { x } else { 0.0 })
                        .collect();
                    let mut edges: Vec<f64> = (1..10)
                        .map(|d| percentile_sorted(&present, d as f64 / 10.0))
                        .filter(|x| x.is_finite())
                        .collect();
                    edges.dedup();
                    let shares = numeric_shares(&edges, &vals);
                    Distribution::Numeric {
                        percentiles,
                        missing: 1.0 - present.len() as f64 / vals.len().max(1) as f64,
                        edges,
                        shares,
                    }
                }
                FeatureValues::Categorical(v) => Distribution::Categorical {
                    shares: categorical_shares(v, rows),
                },
            };
            FeatureReference {
                name: f.def.name.clone(),
                category: f.def.category,
                distribution,
                grows_with_time: grows,
            }
        })
        .collect()
}

/// Population stability index between two share vectors.
///
/// ```
/// use healthscore::features::reference::psi;
/// assert_eq!(psi(&[0.5, 0.5], &[0.5, 0.5]), 0.0);
/// assert!(psi(&[0.5, 0.5], &[0.9, 0.1]) > 0.25);
/// ```
pub fn psi(expected: &[f64], actual: &[f64]) -> f64 {
    expected
        .iter()
        .zip(actual)
        .map(|(&e, &a)| {
            let (e, a) = (e.max(1e-4), a.max(1e-4));
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// Live counts over the bins of a reference, gathered block by block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveCounts {
    /// Numeric: one count per bin, then the missing bin.
    bins: Vec<usize>,
    /// Categorical: count per level (missing as `(missing)`).
    levels: BTreeMap<String, usize>,
    rows: usize,
}

impl FeatureReference {
    /// Adds a live column's cells to `counts` (false if the column is of another kind).
    pub fn count(&self, values: &FeatureValues, counts: &mut LiveCounts) -> bool {
        match (&self.distribution, values) {
            (Distribution::Numeric { edges, .. }, FeatureValues::Numeric(v)) => {
                counts.bins.resize(edges.len() + 2, 0);
                for &x in v {
                    let b = if x.is_finite() { bin_of(edges, x) } else { edges.len() + 1 };
                    counts.bins[b] += 1;
                }
            }
            (Distribution::Categorical { .. }, FeatureValues::Categorical(v)) => {
                for (level, n) in level_counts(v, None) {
                    *counts.levels.entry(level).or_default() += n;
                }
            }
            _ => return false,
        }
        counts.rows += values_len(values);
        true
    }

    /// PSI of the live cells gathered in `counts`.
    pub fn psi_of(&self, counts: &LiveCounts) -> f64 {
        let n = counts.rows.max(1) as f64;
        match &self.distribution {
            Distribution::Numeric { shares, .. } => {
                let live: Vec<f64> = counts.bins.iter().map(|&c| c as f64 / n).collect();
                psi(shares, &live)
            }
            Distribution::Categorical { shares } => {
                let keys: std::collections::BTreeSet<&String> = shares.keys().chain(counts.levels.keys()).collect();
                let e: Vec<f64> = keys.iter().map(|k| shares.get(*k).copied().unwrap_or(0.0)).collect();
                let a: Vec<f64> = keys.iter().map(|k| counts.levels.get(*k).map_or(0.0, |&c| c as f64 / n)).collect();
                psi(&e, &a)
            }
        }
    }

    /// PSI of a live column against this reference (`None` if the column is of another kind).
    pub fn psi(&self, values: &FeatureValues) -> Option<f64> {
        let mut counts = LiveCounts::default();
        self.count(values, &mut counts).then(|| self.psi_of(&counts))
    }

    /// The percentile (0–100) of a value within the training distribution, by
    /// linear interpolation between the stored percentiles; ties take the middle.
    pub fn percentile(&self, v: f64) -> Option<f64> {
        let p = self.percentiles()?;
        percentile_in(p, v, |v| p.partition_point(|x| *x < v))
    }

    /// The stored percentiles, when there are at least two.
    fn percentiles(&self) -> Option<&[f64]> {
        match &self.distribution {
            Distribution::Numeric { percentiles: p, .. } if p.len() >= 2 => Some(p),
            _ => None,
        }
    }

    /// A [`PercentileFinder`] for this feature (None where
    /// [`FeatureReference::percentile`] is always None).
    ///
    /// ```
    /// use healthscore::data::spec::Category;
    /// use healthscore::features::reference::{Distribution, FeatureReference};
    /// let r = FeatureReference {
    ///     name: "logins".into(),
    ///     category: Category::Engagement,
    ///     distribution: Distribution::Numeric {
    ///         percentiles: (0..=100).map(|i| (i * i) as f64).collect(),
    ///         missing: 0.0,
    ///         edges: vec![],
    ///         shares: vec![],
    ///     },
    ///     grows_with_time: false,
    /// };
    /// let finder = r.percentile_finder().expect("a numeric feature");
    /// assert_eq!(finder.percentile(30.0), r.percentile(30.0));
    /// assert_eq!(finder.percentile(25.0), Some(5.0));
    /// ```
    pub fn percentile_finder(&self) -> Option<PercentileFinder<'_>> {
        self.percentiles().map(PercentileFinder::new)
    }
}

/// [`FeatureReference::percentile`] for many values, with few branches: a
/// grid of equal-width buckets between the first and last percentile gives
/// the few percentiles a value can fall between, which are compared with it
/// all at once; ties are resolved from precomputed runs. A binary search over
/// all 101 took seven dependent steps per value. The answers are exactly
/// [`FeatureReference::percentile`]'s: a value whose bucket spans more than
/// [`PercentileFinder::WINDOW`] percentiles, or that rounding put in the
/// wrong bucket, gets the whole search.
#[derive(Debug, Clone)]
pub struct PercentileFinder<'a> {
    p: &'a [f64],
    /// −∞, the percentiles, then WINDOW times +∞: every window is in bounds.
    padded: Vec<f64>,
    /// Buckets per unit of value: bucket of v = ⌊(v − p[0]) · scale⌋.
    scale: f64,
    /// Number of percentiles below each bucket's lower edge (one more entry than buckets).
    starts: Vec<u32>,
    /// For each percentile, the end of its run of equal percentiles.
    run_end: Vec<u32>,
}

impl<'a> PercentileFinder<'a> {
    /// Buckets of the grid.
    const BUCKETS: usize = 256;
    /// Percentiles compared at once.
    pub const WINDOW: usize = 4;

    fn new(p: &'a [f64]) -> PercentileFinder<'a> {
        let (first, last) = (p[0], p[p.len() - 1]);
        let width = last - first;
        let scale = if width > 0.0 && width.is_finite() {
            Self::BUCKETS as f64 / width
        } else {
            0.0
        };
        let starts = (0..=Self::BUCKETS)
            .map(|b| match b {
                0 => 0,
                b if b == Self::BUCKETS => p.len() as u32,
                b => p.partition_point(|x| *x < first + b as f64 / scale) as u32,
            })
            .collect();
        let mut padded = Vec::with_capacity(p.len() + 1 + Self::WINDOW);
        padded.push(f64::NEG_INFINITY);
        padded.extend_from_slice(p);
        padded.extend([f64::INFINITY; Self::WINDOW]);
        let mut run_end = vec![p.len() as u32; p.len()];
        for i in (0..p.len().saturating_sub(1)).rev() {
            run_end[i] = if p[i + 1] == p[i] { run_end[i + 1] } else { i as u32 + 1 };
        }
        PercentileFinder {
            p,
            padded,
            scale,
            starts,
            run_end,
        }
    }

    /// Number of percentiles below `v` (a finite value).
    #[inline(always)]
    fn below(&self, v: f64) -> usize {
        // NaN (from an infinite width) and negatives go to bucket 0; `as` saturates.
        let b = (((v - self.p[0]) * self.scale) as usize).min(Self::BUCKETS - 1);
        let (lo, hi) = (self.starts[b] as usize, self.starts[b + 1] as usize);
        // padded[k + 1] is p[k]. The answer is in lo..=hi when p[lo − 1] < v <= p[hi];
        // past hi every percentile is >= v, so counting a whole window is exact.
        let q = &self.padded;
        if hi - lo <= Self::WINDOW && q[lo] < v && q[hi + 1] >= v {
            lo + q[lo + 1..lo + 1 + Self::WINDOW].iter().map(|x| (*x < v) as usize).sum::<usize>()
        } else {
            self.p.partition_point(|x| *x < v)
        }
    }

    /// The same as [`FeatureReference::percentile`].
    #[inline(always)]
    pub fn percentile(&self, v: f64) -> Option<f64> {
        let p = self.p;
        if let Some(outside) = percentile_outside(p, v) {
            return outside;
        }
        let lo = self.below(v);
        // Both answers, then one picked: whether v ties a percentile is data, not a pattern.
        let tie = (lo + self.run_end[lo] as usize - 1) as f64 / 2.0;
        // padded[lo] is p[lo − 1] (−∞ when lo = 0, which only a tie reaches).
        let (a, b) = (self.padded[lo], p[lo]);
        let between = (lo as f64 - 1.0) + (v - a) / (b - a);
        Some(if b == v { tie } else { between })
    }
}

/// The answer for a `v` that no search is needed for: None when missing or
/// infinite, 0 below the first percentile, 100 above the last.
#[inline(always)]
fn percentile_outside(p: &[f64], v: f64) -> Option<Option<f64>> {
    if !v.is_finite() {
        Some(None)
    } else if v < p[0] {
        Some(Some(0.0))
    } else if v > p[p.len() - 1] {
        Some(Some(100.0))
    } else {
        None
    }
}

/// The percentile of `v` among the sorted percentiles `p` (at least two),
/// with `below(v)` the number of them below `v`.
fn percentile_in(p: &[f64], v: f64, below: impl Fn(f64) -> usize) -> Option<f64> {
    if let Some(outside) = percentile_outside(p, v) {
        return outside;
    }
    let lo = below(v);
    if p[lo] == v {
        let hi = lo + p[lo..].iter().take_while(|x| **x == v).count();
        // v equals one or more stored percentiles: the middle of that run.
        return Some((lo + hi - 1) as f64 / 2.0);
    }
    let (a, b) = (p[lo - 1], p[lo]);
    Some((lo - 1) as f64 + (v - a) / (b - a))
}

/// How far a feature's distribution moved, by its population stability
/// index: `stable` below 0.1, `moderate` from 0.1 to 0.25, `major` above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftLevel {
    Stable,
    Moderate,
    Major,
}

impl DriftLevel {
    /// The level of a PSI.
    ///
    /// ```
    /// use healthscore::DriftLevel;
    /// assert_eq!(DriftLevel::of(0.3), DriftLevel::Major);
    /// assert_eq!(DriftLevel::of(0.1), DriftLevel::Moderate);
    /// assert_eq!(DriftLevel::of(0.01), DriftLevel::Stable);
    /// ```
    pub fn of(psi: f64) -> DriftLevel {
        if psi > 0.25 {
            DriftLevel::Major
        } else if psi >= 0.1 {
            DriftLevel::Moderate
        } else {
            DriftLevel::Stable
        }
    }

    /// `stable`, `moderate` or `major`.
    pub fn name(self) -> &'static str {
        match self {
            DriftLevel::Stable => "stable",
            DriftLevel::Moderate => "moderate",
            DriftLevel::Major => "major",
        }
    }
}

impl std::fmt::Display for DriftLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates() {
        let r = FeatureReference {
            name: "x".into(),
            category: Category::Usage,
            distribution: Distribution::Numeric {
                percentiles: (0..=100).map(|i| i as f64 * 2.0).collect(),
                missing: 0.0,
                edges: vec![],
                shares: vec![],
            },
            grows_with_time: false,
        };
        assert_eq!(r.percentile(50.0), Some(25.0));
        assert_eq!(r.percentile(51.0), Some(25.5));
        assert_eq!(r.percentile(-1.0), Some(0.0));
        assert_eq!(r.percentile(f64::NAN), None);
    }

    #[test]
    fn percentile_finder_answers_as_the_binary_search() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let reference = |percentiles: Vec<f64>| FeatureReference {
            name: "x".into(),
            category: Category::Usage,
            distribution: Distribution::Numeric {
                percentiles,
                missing: 0.0,
                edges: vec![],
                shares: vec![],
            },
            grows_with_time: false,
        };
        let uniform: Vec<f64> = (0..=100).map(|i| i as f64 * 0.37 - 5.0).collect();
        // Heavy tail: most percentiles in one bucket of the grid.
        let tail: Vec<f64> = (0..=100)
            .map(|i| if i < 99 { i as f64 * 1e-3 } else { 1e9 * (i - 98) as f64 })
            .collect();
        // Runs of ties (a count that is mostly 0), and a constant feature.
        let ties: Vec<f64> = (0..=100).map(|i| if i < 60 { 0.0 } else { ((i - 59) / 10) as f64 }).collect();
        let constant = vec![4.0; 101];
        let huge = vec![-f64::MAX, 0.0, f64::MAX];
        for p in [uniform, tail, ties, constant, huge, vec![1.0, 2.0]] {
            let r = reference(p.clone());
            let finder = r.percentile_finder().expect("two percentiles or more");
            let mut values: Vec<f64> = p.clone();
            values.extend(p.iter().map(|v| v + 1e-9 * v.abs().max(1.0)));
            values.extend(p.iter().map(|v| v - 1e-9 * v.abs().max(1.0)));
            values.extend(p.iter().map(|v| v.next_up()));
            values.extend((0..5_000).map(|_| rng.gen_range(p[0] - 1.0..p[p.len() - 1].min(1e12) + 1.0)));
            values.extend([f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, f64::MIN]);
            for v in values {
                let (got, want) = (finder.percentile(v), r.percentile(v));
                assert!(
                    got == want || got.zip(want).is_some_and(|(a, b)| a.to_bits() == b.to_bits()),
                    "{v}: {got:?} vs {want:?}"
                );
            }
        }
        assert!(reference(vec![1.0]).percentile_finder().is_none());
    }

    #[test]
    fn psi_matches_hand_computation() {
        // (0.6-0.5) ln(0.6/0.5) + (0.4-0.5) ln(0.4/0.5)
        let expected = 0.1 * (1.2f64).ln() - 0.1 * (0.8f64).ln();
        assert!((psi(&[0.5, 0.5], &[0.6, 0.4]) - expected).abs() < 1e-12);
    }
}
