//! Probability calibration fitted on out-of-fold predictions and applied after
//! the model: Platt scaling, p' = σ(a · logit(p) + b) (Platt 1999), or isotonic
//! regression by pool-adjacent-violators (Zadrozny & Elkan 2002), interpolated
//! linearly between block means. Attributions stay in the model's margin.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::metrics::{mean_se, row_log_loss};
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

/// How `calibration = "auto"` chose: the cross-fitted out-of-fold log-loss
/// of each map and the one kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationChoice {
    /// `none`, `platt` or `isotonic`.
    pub chosen: String,
    #[serde(deserialize_with = "crate::metrics::null_is_nan")]
    pub none_log_loss: f64,
    #[serde(deserialize_with = "crate::metrics::null_is_nan")]
    pub platt_log_loss: f64,
    #[serde(deserialize_with = "crate::metrics::null_is_nan")]
    pub isotonic_log_loss: f64,
}

/// The calibration of `calibration = "auto"`, from out-of-fold predictions `p`
/// of labels `y` in cross-validation folds `fold`: each map is fitted on the
/// rows of every fold but one and measured on the one left out, so that no
/// row judges a map fitted on itself. A map is kept only when its log-loss
/// gain over no calibration is more than twice its standard error: a
/// calibration that is not clearly better is left out, so it never hurts
/// more than noise allows.
///
/// ```
/// use healthscore::model::calibration::choose;
/// // Scores far too confident: p = 0.9 where the rate is 0.6 and 0.1 where it is 0.4.
/// let (mut y, mut p, mut fold) = (vec![], vec![], vec![]);
/// for i in 0..2000 {
///     let high = i % 2 == 0;
///     y.push(if high { (i % 10 < 6) as u8 } else { (i % 10 < 4) as u8 });
///     p.push(if high { 0.9 } else { 0.1 });
///     fold.push((i / 10) % 5);
/// }
/// let (map, how) = choose(&y, &p, &fold).unwrap();
/// assert!(map.is_some() && how.chosen != "none");
/// assert!(how.platt_log_loss < how.none_log_loss);
/// ```
pub fn choose(y: &[u8], p: &[f64], fold: &[usize]) -> Result<(Option<Calibrator>, CalibrationChoice)> {
    let folds: std::collections::BTreeSet<usize> = fold.iter().copied().collect();
    let none: Vec<f64> = y.iter().zip(p).map(|(&y, &p)| row_log_loss(y, p)).collect();
    // Per-row cross-fitted losses of a map; None when a fold's complement cannot fit it.
    type Fit<'a> = &'a dyn Fn(&[u8], &[f64]) -> Result<Calibrator>;
    let cross = |fit: Fit| -> Option<Vec<f64>> {
        let mut loss = vec![f64::NAN; y.len()];
        for &k in &folds {
            let (ty, tp): (Vec<u8>, Vec<f64>) = (0..y.len()).filter(|&i| fold[i] != k).map(|i| (y[i], p[i])).unzip();
            let positives = ty.iter().filter(|&&v| v == 1).count();
            if positives == 0 || positives == ty.len() {
                return None;
            }
            let c = fit(&ty, &tp).ok()?;
            for i in (0..y.len()).filter(|&i| fold[i] == k) {
                loss[i] = row_log_loss(y[i], c.apply(p[i]));
            }
        }
        Some(loss)
    };
    let platt = if folds.len() >= 2 {
        cross(&|y, p| Calibrator::platt(y, p))
    } else {
        None
    };
    let isotonic = if folds.len() >= 2 {
        cross(&|y, p| Ok(Calibrator::isotonic(y, p)))
    } else {
        None
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    // Mean gain over none and its standard error, from the paired per-row differences.
    let gain = |l: &[f64]| -> (f64, f64) {
        let d: Vec<f64> = none.iter().zip(l).map(|(a, b)| a - b).collect();
        mean_se(&d)
    };
    let mut best: Option<(&str, f64)> = None;
    for (name, l) in [("platt", &platt), ("isotonic", &isotonic)] {
        if let Some(l) = l {
            let (g, se) = gain(l);
            if g > 2.0 * se && g > 0.0 && best.is_none_or(|(_, b)| g > b) {
                best = Some((name, g));
            }
        }
    }
    let choice = CalibrationChoice {
        chosen: best.map_or("none", |b| b.0).to_string(),
        none_log_loss: mean(&none),
        platt_log_loss: platt.as_deref().map_or(f64::NAN, mean),
        isotonic_log_loss: isotonic.as_deref().map_or(f64::NAN, mean),
    };
    let map = match best.map(|b| b.0) {
        Some("platt") => Some(Calibrator::platt(y, p)?),
        Some(_) => Some(Calibrator::isotonic(y, p)),
        None => None,
    };
    Ok((map, choice))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_keeps_no_map_on_calibrated_scores_and_is_never_worse_than_none() {
        // Scores drawn as the truth: no map can be clearly better.
        let mut rng_state = 12345u64;
        let mut next = || {
            rng_state = rng_state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (rng_state >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut y, mut p, mut fold) = (vec![], vec![], vec![]);
        for i in 0..3000 {
            let q = 0.02 + 0.5 * next();
            y.push((next() < q) as u8);
            p.push(q);
            fold.push(i % 5);
        }
        let (map, how) = choose(&y, &p, &fold).unwrap();
        assert!(map.is_none(), "{how:?}");
        assert_eq!(how.chosen, "none");
        // Whatever is chosen has a cross-fitted loss no worse than none's.
        let chosen = match how.chosen.as_str() {
            "platt" => how.platt_log_loss,
            "isotonic" => how.isotonic_log_loss,
            _ => how.none_log_loss,
        };
        assert!(chosen <= how.none_log_loss);
    }

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
