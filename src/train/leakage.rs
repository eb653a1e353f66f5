//! The leakage probe: a feature that alone ranks the holdout almost perfectly
//! is likely recorded after the outcome.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data::{table::Table, values::FeatureValues};
use crate::metrics::{self};

/// A feature that alone predicts the holdout suspiciously well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leak {
    pub feature: String,
    pub roc_auc: f64,
}

/// Single-feature AUC above which a feature is reported as a likely leak.
pub const LEAK_AUC: f64 = 0.95;

/// Fewest holdout rows of each class for the probe to judge a feature: on
/// fewer, a single feature reaches a high AUC by chance.
pub const LEAK_MIN_CLASS_ROWS: usize = 10;

/// Single-feature holdout AUC (either orientation) for every feature; returns
/// those at or above [`LEAK_AUC`], or nothing when the holdout has fewer than
/// [`LEAK_MIN_CLASS_ROWS`] rows of either class. Categorical levels are scored
/// by their label rate in the training rows.
pub fn leakage_probe(table: &Table, train: &[usize], hold: &[usize], labels: &[Option<u8>]) -> Vec<Leak> {
    let y: Vec<u8> = hold.iter().map(|&r| labels[r].expect("labeled")).collect();
    let positives = y.iter().filter(|&&v| v == 1).count();
    if positives < LEAK_MIN_CLASS_ROWS || y.len() - positives < LEAK_MIN_CLASS_ROWS {
        return vec![];
    }
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
