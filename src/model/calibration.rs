//! Probability calibration fitted on out-of-fold predictions and applied after
//! the model: Platt scaling, p' = σ(a · logit(p) + b) (Platt 1999), or isotonic
//! regression by pool-adjacent-violators (Zadrozny & Elkan 2002), interpolated
//! linearly between block means. Attributions stay in the model's margin.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::logistic::{logit, sigmoid, LogisticParams};

/// A fitted calibration map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Calibrator {
    Platt { a: f64, b: f64 },
    Isotonic { x: Vec<f64>, y: Vec<f64> },
}

/// Rows at the base rate added to each isotonic block (see [`Calibrator::isotonic`]).
const PRIOR_ROWS: f64 = 2.0;

impl Calibrator {
    /// Platt scaling on (label, probability) pairs.
    pub fn platt(y: &[u8], p: &[f64]) -> Result<Calibrator> {
        let z = Array2::from_shape_fn((p.len(), 1), |(i, _)| logit(p[i]));
        let m = LogisticParams {
            c: 1e6,
            ..Default::default()
        }
        .fit(&z.view(), y)?;
        Ok(Calibrator::Platt {
            a: m.coef[0],
            b: m.intercept,
        })
    }

    /// Isotonic regression of y on p (non-decreasing), by pool-adjacent-violators,
    /// each block's rate smoothed toward the base rate so that no output is
    /// exactly 0 or 1.
    pub fn isotonic(y: &[u8], p: &[f64]) -> Calibrator {
        let mut idx: Vec<usize> = (0..p.len()).collect();
        idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
        // Blocks of (sum x, sum y, count).
        let mut blocks: Vec<(f64, f64, f64)> = Vec::with_capacity(p.len());
        for &i in &idx {
            blocks.push((p[i], y[i] as f64, 1.0));
            while blocks.len() >= 2 {
                let (b, a) = (blocks[blocks.len() - 1], blocks[blocks.len() - 2]);
                if a.1 / a.2 >= b.1 / b.2 {
                    blocks.pop();
                    let last = blocks.last_mut().expect("two blocks");
                    *last = (a.0 + b.0, a.1 + b.1, a.2 + b.2);
                } else {
                    break;
                }
            }
        }
        // Each block's rate is smoothed toward the base rate as if it held two
        // more rows at that rate, so that a block without a churner is not a
        // certainty: the map never outputs exactly 0 or 1. Smoothing moves
        // small blocks more than large ones; a running maximum keeps the map
        // non-decreasing.
        let n = p.len().max(1) as f64;
        let base = (y.iter().map(|&v| v as f64).sum::<f64>() / n).clamp(0.5 / n, 1.0 - 0.5 / n);
        let mut rates: Vec<f64> = blocks.iter().map(|b| (b.1 + PRIOR_ROWS * base) / (b.2 + PRIOR_ROWS)).collect();
        for i in 1..rates.len() {
            rates[i] = rates[i].max(rates[i - 1]);
        }
        Calibrator::Isotonic {
            x: blocks.iter().map(|b| b.0 / b.2).collect(),
            y: rates,
        }
    }

    /// The calibrated probability.
    ///
    /// ```
    /// use healthscore::model::calibration::Calibrator;
    /// let c = Calibrator::isotonic(&[0, 0, 1, 1], &[0.1, 0.2, 0.3, 0.4]);
    /// assert_eq!(c.apply(0.05), 0.25); // (0 + 2 × 0.5) / (2 + 2)
    /// assert_eq!(c.apply(0.45), 0.75);
    /// ```
    pub fn apply(&self, p: f64) -> f64 {
        match self {
            Calibrator::Platt { a, b } => sigmoid(a * logit(p) + b),
            Calibrator::Isotonic { x, y } => {
                if x.is_empty() {
                    return p;
                }
                let k = x.partition_point(|v| *v < p);
                if k == 0 {
                    y[0]
                } else if k == x.len() {
                    y[x.len() - 1]
                } else {
                    let t = (p - x[k - 1]) / (x[k] - x[k - 1]);
                    y[k - 1] + t * (y[k] - y[k - 1])
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isotonic_is_monotone_and_pools_violators() {
        let c = Calibrator::isotonic(&[0, 1, 0, 1, 1], &[0.1, 0.2, 0.3, 0.4, 0.5]);
        let Calibrator::Isotonic { y, .. } = &c else { panic!() };
        // 0.2 (y=1) and 0.3 (y=0) violate the order and are pooled to 0.5;
        // the blocks of 1, 2 and 2 rows are smoothed toward the base rate 0.6.
        let want = [1.2 / 3.0, 2.2 / 4.0, 3.2 / 4.0];
        assert!(y.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12), "{y:?}");
        let mut prev = 0.0;
        for i in 0..=100 {
            let v = c.apply(i as f64 / 100.0);
            assert!(v >= prev);
            prev = v;
        }
    }

    #[test]
    fn isotonic_never_outputs_certainty_on_few_positives() {
        // 200 scores, 4 churners, all among the highest scores.
        let p: Vec<f64> = (0..200).map(|i| i as f64 / 200.0).collect();
        let y: Vec<u8> = (0..200).map(|i| (i >= 196) as u8).collect();
        let c = Calibrator::isotonic(&y, &p);
        for q in [0.0, 0.1, 0.5, 0.97, 0.99, 1.0] {
            let v = c.apply(q);
            assert!(v > 0.0 && v < 1.0, "apply({q}) = {v}");
        }
        assert!(c.apply(0.99) > c.apply(0.1));
    }

    #[test]
    fn platt_fixes_overconfident_scores() {
        // Scores twice as extreme (in log-odds) as the truth: Platt's slope comes out near 0.5.
        let mut y = vec![];
        let mut p = vec![];
        for i in 0..4000 {
            let z = (i % 200) as f64 / 25.0 - 4.0;
            let truth = sigmoid(z / 2.0);
            let u = ((i * 7919) % 4000) as f64 / 4000.0;
            y.push((u < truth) as u8);
            p.push(sigmoid(z));
        }
        let Calibrator::Platt { a, .. } = Calibrator::platt(&y, &p).unwrap() else {
            panic!()
        };
        assert!((a - 0.5).abs() < 0.1, "slope {a}");
    }
}
