//! `models diff A B`: what changed between two versions — holdout metrics side
//! by side, features added or removed, the largest changes of each feature's
//! effect per category, and the drift (PSI) between the two training sets.
//!
//! A feature's effect: for the logistic model Σ_c |β_c|·σ_c over its design
//! columns (σ_c = 1 for standardised values, √(m(1−m)) for 0/1 columns of mean
//! m), signed by the coefficient of its value column for numeric features — the
//! change in log-odds for one standard deviation; for boosted trees its share of
//! all splits.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::data::spec::Category;
use crate::features::reference::{psi, Distribution, DriftLevel, FeatureReference};
use crate::features::FeatureTransform;
use crate::metrics::Summary;
use crate::model::{FittedModel, Target, TargetModel};
use crate::registry::Loaded;

/// One feature's effect in both versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffectChange {
    pub target: Target,
    pub feature: String,
    pub category: Category,
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub change: f64,
}

/// The difference of two versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    pub a: String,
    pub b: String,
    pub metrics: Vec<(Target, Option<Summary>, Option<Summary>)>,
    pub kinds: Vec<(Target, Option<String>, Option<String>)>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Sorted by |change|, largest first.
    pub effects: Vec<EffectChange>,
    /// PSI of each shared feature between the training sets, largest first.
    pub drift: Vec<(String, f64)>,
}

/// Effect of every input feature of a model (see the module docs).
pub fn feature_effects(m: &TargetModel) -> BTreeMap<String, f64> {
    let pre = &m.pooled.preprocessor;
    let mut out = BTreeMap::new();
    match &m.pooled.model {
        FittedModel::Logistic(lm) => {
            for (i, f) in pre.features.iter().enumerate() {
                let mut total = 0.0;
                let mut sign = 1.0;
                for (c, col) in pre.columns.iter().enumerate().filter(|(_, col)| col.feature == i) {
                    let is_value = matches!(f, FeatureTransform::Numeric { name, .. } if &col.name == name);
                    let sd = if is_value {
                        1.0
                    } else {
                        (col.mean * (1.0 - col.mean)).max(0.0).sqrt()
                    };
                    total += lm.coef[c].abs() * sd;
                    if is_value {
                        sign = lm.coef[c].signum();
                    }
                }
                out.insert(f.name().to_string(), sign * total);
            }
        }
        FittedModel::Gbdt(g) => {
            let cols = pre.tree_columns();
            let mut splits = vec![0.0; pre.features.len()];
            for t in &g.trees {
                for n in t.nodes.iter().filter(|n| !n.is_leaf()) {
                    splits[cols[n.feature as usize]] += 1.0;
                }
            }
            let total: f64 = splits.iter().sum::<f64>().max(1.0);
            for (i, f) in pre.features.iter().enumerate() {
                out.insert(f.name().to_string(), splits[i] / total);
            }
        }
    }
    out
}

/// Shares of `b`'s distribution over the bins of `a` (numeric: estimated from
/// b's percentiles), so PSI can compare two training sets.
fn reference_psi(a: &FeatureReference, b: &FeatureReference) -> Option<f64> {
    match (&a.distribution, &b.distribution) {
        (Distribution::Numeric { edges, shares, .. }, Distribution::Numeric { percentiles, missing, .. }) => {
            let mut est = vec![0.0; edges.len() + 2];
            let step = (1.0 - missing) / percentiles.len() as f64;
            for &p in percentiles {
                est[edges.partition_point(|e| *e <= p)] += step;
            }
            est[edges.len() + 1] = *missing;
            Some(psi(shares, &est))
        }
        (Distribution::Categorical { shares: sa }, Distribution::Categorical { shares: sb }) => {
            let keys: BTreeSet<&String> = sa.keys().chain(sb.keys()).collect();
            let e: Vec<f64> = keys.iter().map(|k| sa.get(*k).copied().unwrap_or(0.0)).collect();
            let f: Vec<f64> = keys.iter().map(|k| sb.get(*k).copied().unwrap_or(0.0)).collect();
            Some(psi(&e, &f))
        }
        _ => None,
    }
}

/// Compares two loaded versions.
pub fn diff(a: &Loaded, b: &Loaded) -> Diff {
    let fa: BTreeSet<&str> = a.manifest.features.iter().map(|f| f.name.as_str()).collect();
    let fb: BTreeSet<&str> = b.manifest.features.iter().map(|f| f.name.as_str()).collect();
    let mut metrics = vec![];
    let mut kinds = vec![];
    let mut effects = vec![];
    for t in Target::ALL {
        let ma = a.manifest.targets.get(&t).map(|s| s.holdout.metrics.clone());
        let mb = b.manifest.targets.get(&t).map(|s| s.holdout.metrics.clone());
        if ma.is_none() && mb.is_none() {
            continue;
        }
        metrics.push((t, ma, mb));
        kinds.push((
            t,
            a.model(t).map(|m| m.pooled.model.kind().to_string()),
            b.model(t).map(|m| m.pooled.model.kind().to_string()),
        ));
        let ea = a.model(t).map(feature_effects).unwrap_or_default();
        let eb = b.model(t).map(feature_effects).unwrap_or_default();
        let cats: BTreeMap<&str, Category> = a
            .manifest
            .features
            .iter()
            .chain(&b.manifest.features)
            .map(|f| (f.name.as_str(), f.category))
            .collect();
        for (f, c) in cats {
            let (x, y) = (ea.get(f).copied(), eb.get(f).copied());
            effects.push(EffectChange {
                target: t,
                feature: f.to_string(),
                category: c,
                a: x,
                b: y,
                change: y.unwrap_or(0.0) - x.unwrap_or(0.0),
            });
        }
    }
    effects.sort_by(|x, y| y.change.abs().total_cmp(&x.change.abs()));
    let mut drift: Vec<(String, f64)> = a
        .manifest
        .reference
        .iter()
        .filter_map(|ra| {
            let rb = b.manifest.reference.iter().find(|r| r.name == ra.name)?;
            Some((ra.name.clone(), reference_psi(ra, rb)?))
        })
        .collect();
    drift.sort_by(|x, y| y.1.total_cmp(&x.1));
    Diff {
        a: a.version.clone(),
        b: b.version.clone(),
        metrics,
        kinds,
        added: fb.difference(&fa).map(|s| s.to_string()).collect(),
        removed: fa.difference(&fb).map(|s| s.to_string()).collect(),
        effects,
        drift,
    }
}

impl Diff {
    /// The terminal rendering.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "{} → {}", self.a, self.b);
        let f = |m: &Option<Summary>, g: fn(&Summary) -> f64| m.as_ref().map(|m| format!("{:.4}", g(m))).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "\nholdout metrics:\n  {:<7} {:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "model", "kind", "AUC A", "AUC B", "Brier A", "Brier B", "logloss A", "logloss B"
        );
        for ((t, a, b), (_, ka, kb)) in self.metrics.iter().zip(&self.kinds) {
            let kind = format!("{} → {}", ka.as_deref().unwrap_or("-"), kb.as_deref().unwrap_or("-"));
            let _ = writeln!(
                s,
                "  {:<7} {:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                t.name(),
                kind,
                f(a, |m| m.roc_auc),
                f(b, |m| m.roc_auc),
                f(a, |m| m.brier),
                f(b, |m| m.brier),
                f(a, |m| m.log_loss),
                f(b, |m| m.log_loss)
            );
        }
        let _ = writeln!(
            s,
            "\nfeatures added: {}",
            if self.added.is_empty() {
                "none".into()
            } else {
                self.added.join(", ")
            }
        );
        let _ = writeln!(
            s,
            "features removed: {}",
            if self.removed.is_empty() {
                "none".into()
            } else {
                self.removed.join(", ")
            }
        );
        let _ = writeln!(
            s,
            "\nlargest changes of effect (per category, log-odds per sd for logistic, split share for trees):"
        );
        for t in Target::ALL {
            let mut shown = BTreeSet::new();
            let rows: Vec<&EffectChange> = self.effects.iter().filter(|e| e.target == t && shown.insert(e.category)).collect();
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(s, "  {}:", t.name());
            for e in rows {
                let v = |x: Option<f64>| x.map(|x| format!("{x:+.3}")).unwrap_or_else(|| "-".into());
                let _ = writeln!(
                    s,
                    "    {:<14} {:<26} {:>8} → {:>8}  ({:+.3})",
                    e.category.name(),
                    e.feature,
                    v(e.a),
                    v(e.b),
                    e.change
                );
            }
        }
        let _ = writeln!(s, "\ndrift between the training sets (PSI, largest first):");
        for (f, p) in self.drift.iter().take(5) {
            let _ = writeln!(s, "  {f:<26} {p:.3} {}", DriftLevel::of(*p));
        }
        s
    }
}

/// The strongest effects of a model per category: for a logistic model its
/// largest standardised coefficients (log-odds per standard deviation), for
/// boosted trees the features its splits use most.
#[derive(Debug, Clone, PartialEq)]
pub struct StrongestEffects {
    /// What the figures are, in words.
    pub heading: String,
    /// Whether the figures are split counts (else coefficients).
    pub counts: bool,
    /// Per category (in [`Category::all_with`] order, those with features), the
    /// strongest columns or features, strongest first.
    pub per_category: Vec<(Category, Vec<(String, f64)>)>,
}

impl StrongestEffects {
    /// A figure as the heading says: a signed coefficient or a count.
    pub fn format(&self, v: f64) -> String {
        if self.counts {
            format!("{v}")
        } else {
            format!("{v:+.3}")
        }
    }
}

/// The `k` strongest effects per category of a model's pooled sub-model.
///
/// ```no_run
/// # let v = healthscore::Registry::new("models").load("2026Q3")?;
/// let e = healthscore::strongest_effects(v.risk.as_ref().unwrap(), 3);
/// for (category, top) in &e.per_category {
///     println!("{}: {:?}", category.name(), top);
/// }
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn strongest_effects(model: &TargetModel, k: usize) -> StrongestEffects {
    let pre = &model.pooled.preprocessor;
    let categories = Category::all_with(pre.features.iter().map(|f| f.category()));
    let mut per_category = Vec::new();
    match &model.pooled.model {
        FittedModel::Logistic(lm) => {
            for &c in &categories {
                let mut cols: Vec<(usize, f64)> = pre
                    .columns
                    .iter()
                    .enumerate()
                    .filter(|(_, col)| pre.features[col.feature].category() == c)
                    .map(|(i, _)| (i, lm.coef[i]))
                    .collect();
                if cols.is_empty() {
                    continue;
                }
                cols.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
                per_category.push((c, cols.iter().take(k).map(|(i, b)| (pre.columns[*i].name.clone(), *b)).collect()));
            }
            StrongestEffects {
                heading: "strongest coefficients per category (standardised log-odds)".into(),
                counts: false,
                per_category,
            }
        }
        FittedModel::Gbdt(g) => {
            let cols = pre.tree_columns();
            let mut splits = vec![0usize; pre.features.len()];
            for t in &g.trees {
                for n in t.nodes.iter().filter(|n| !n.is_leaf()) {
                    splits[cols[n.feature as usize]] += 1;
                }
            }
            for &c in &categories {
                let mut f: Vec<(usize, usize)> = (0..pre.features.len())
                    .filter(|&i| pre.features[i].category() == c)
                    .map(|i| (i, splits[i]))
                    .collect();
                if f.is_empty() {
                    continue;
                }
                f.sort_by_key(|x| std::cmp::Reverse(x.1));
                per_category.push((
                    c,
                    f.iter()
                        .take(k)
                        .map(|(i, n)| (pre.features[*i].name().to_string(), *n as f64))
                        .collect(),
                ));
            }
            StrongestEffects {
                heading: format!(
                    "{} trees of depth <= {}; most used features per category (splits)",
                    g.trees.len(),
                    g.max_depth
                ),
                counts: true,
                per_category,
            }
        }
    }
}
