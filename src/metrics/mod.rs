//! Metrics of binary scores against outcomes: ROC-AUC, PR-AUC (average
//! precision), Brier score, log-loss, reliability and expected calibration
//! error, correlations, lift and capture by decile, and seeded bootstrap
//! intervals (also for the paired difference of two scores).
//!
//! Conventions: `y` holds 0/1 outcomes, `p` scores where higher means "more
//! likely 1". Every function returns NaN (or an empty table) when the metric is
//! undefined, e.g. AUC with a single class.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Average ranks (1-based) of `v`, ties sharing the mean rank.
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// ROC-AUC by the Mann–Whitney statistic: the probability that a random
/// positive scores above a random negative, ties counting one half.
///
/// AUC = (Σ ranks of positives − n₊(n₊+1)/2) / (n₊ n₋)
///
/// ```
/// use healthscore::metrics::roc_auc;
/// assert_eq!(roc_auc(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8]), 0.75);
/// ```
pub fn roc_auc(y: &[u8], p: &[f64]) -> f64 {
    let npos = y.iter().filter(|&&v| v == 1).count() as f64;
    let nneg = y.len() as f64 - npos;
    if npos == 0.0 || nneg == 0.0 {
        return f64::NAN;
    }
    let r = ranks(p);
    let sum_pos: f64 = y.iter().zip(&r).filter(|(&v, _)| v == 1).map(|(_, r)| r).sum();
    (sum_pos - npos * (npos + 1.0) / 2.0) / (npos * nneg)
}

/// Average precision (PR-AUC), as scikit-learn's `average_precision_score`:
/// AP = Σ_k (R_k − R_{k−1}) P_k over distinct score thresholds, highest first.
pub fn average_precision(y: &[u8], p: &[f64]) -> f64 {
    let npos = y.iter().filter(|&&v| v == 1).count() as f64;
    if npos == 0.0 {
        return f64::NAN;
    }
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let (mut tp, mut fp, mut ap, mut prev_recall) = (0.0, 0.0, 0.0, 0.0);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j < idx.len() && p[idx[j]] == p[idx[i]] {
            if y[idx[j]] == 1 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            j += 1;
        }
        let recall = tp / npos;
        ap += (recall - prev_recall) * tp / (tp + fp);
        prev_recall = recall;
        i = j;
    }
    ap
}

/// The log-loss of one prediction, `p` clamped to [1e-15, 1 − 1e-15].
///
/// ```
/// assert!((healthscore::metrics::row_log_loss(1, 0.5) - 2f64.ln()).abs() < 1e-15);
/// ```
pub fn row_log_loss(y: u8, p: f64) -> f64 {
    let p = p.clamp(1e-15, 1.0 - 1e-15);
    if y == 1 {
        -p.ln()
    } else {
        -(1.0 - p).ln()
    }
}

/// The mean of `v` and its standard error (sample sd / √n; NaN below two values).
///
/// ```
/// let (m, se) = healthscore::metrics::mean_se(&[1.0, 2.0, 3.0]);
/// assert_eq!(m, 2.0);
/// assert!((se - 1.0 / 3f64.sqrt()).abs() < 1e-12);
/// ```
pub fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n.max(1) as f64;
    if n < 2 {
        return (mean, f64::NAN);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt() / (n as f64).sqrt())
}

/// Brier score: mean of (p − y)².
pub fn brier(y: &[u8], p: &[f64]) -> f64 {
    if y.is_empty() {
        return f64::NAN;
    }
    y.iter().zip(p).map(|(&y, &p)| (p - y as f64).powi(2)).sum::<f64>() / y.len() as f64
}

/// Log-loss: −mean(y ln p + (1 − y) ln(1 − p)), p clipped to [1e-15, 1 − 1e-15].
pub fn log_loss(y: &[u8], p: &[f64]) -> f64 {
    if y.is_empty() {
        return f64::NAN;
    }
    y.iter().zip(p).map(|(&y, &p)| row_log_loss(y, p)).sum::<f64>() / y.len() as f64
}

/// One bin of a reliability table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    pub lower: f64,
    pub upper: f64,
    pub mean_predicted: f64,
    pub observed_rate: f64,
    pub count: usize,
}

/// Reliability table with `bins` equal-width bins on [0, 1] (empty bins left out).
pub fn reliability(y: &[u8], p: &[f64], bins: usize) -> Vec<ReliabilityBin> {
    let mut sum_p = vec![0.0; bins];
    let mut sum_y = vec![0.0; bins];
    let mut n = vec![0usize; bins];
    for (&y, &p) in y.iter().zip(p) {
        let b = ((p * bins as f64) as usize).min(bins - 1);
        sum_p[b] += p;
        sum_y[b] += y as f64;
        n[b] += 1;
    }
    (0..bins)
        .filter(|&b| n[b] > 0)
        .map(|b| ReliabilityBin {
            lower: b as f64 / bins as f64,
            upper: (b + 1) as f64 / bins as f64,
            mean_predicted: sum_p[b] / n[b] as f64,
            observed_rate: sum_y[b] / n[b] as f64,
            count: n[b],
        })
        .collect()
}

/// Expected calibration error: Σ_b (n_b / n) |observed_b − predicted_b|.
pub fn expected_calibration_error(table: &[ReliabilityBin]) -> f64 {
    let n: usize = table.iter().map(|b| b.count).sum();
    if n == 0 {
        return f64::NAN;
    }
    table
        .iter()
        .map(|b| b.count as f64 * (b.observed_rate - b.mean_predicted).abs())
        .sum::<f64>()
        / n as f64
}

/// Pearson correlation and its two-sided p-value (t test with n − 2 degrees of freedom).
/// With one variable binary this is the point-biserial correlation.
pub fn pearson(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    if x.len() < 3 {
        return (f64::NAN, f64::NAN);
    }
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 {
        return (f64::NAN, f64::NAN);
    }
    let r = (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0);
    (r, correlation_p_value(r, x.len()))
}

/// Two-sided p-value of a correlation r from n pairs: t = r √((n−2)/(1−r²)).
pub fn correlation_p_value(r: f64, n: usize) -> f64 {
    if n < 3 || !r.is_finite() {
        return f64::NAN;
    }
    if r.abs() >= 1.0 {
        return 0.0;
    }
    let df = (n - 2) as f64;
    let t = r * (df / (1.0 - r * r)).sqrt();
    match StudentsT::new(0.0, 1.0, df) {
        Ok(d) => 2.0 * d.sf(t.abs()),
        Err(_) => f64::NAN,
    }
}

/// Spearman's rank correlation and its p-value (t approximation, as scipy).
pub fn spearman(x: &[f64], y: &[f64]) -> (f64, f64) {
    pearson(&ranks(x), &ranks(y))
}

/// Lift and capture of one decile of the score (decile 1 = highest scores).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecileRow {
    pub decile: usize,
    pub count: usize,
    pub positives: usize,
    pub rate: f64,
    /// rate / overall rate
    pub lift: f64,
    /// Share of all positives in deciles 1..=this one.
    pub cumulative_capture: f64,
    /// Share of the positives' weight (e.g. churned ARR) in deciles 1..=this one, when weights are given.
    pub cumulative_weight_capture: Option<f64>,
}

/// Lift and capture by decile, highest scores first; ties broken by input order.
pub fn deciles(y: &[u8], p: &[f64], weight: Option<&[f64]>) -> Vec<DecileRow> {
    let n = y.len();
    if n == 0 {
        return vec![];
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
    let total_pos = y.iter().filter(|&&v| v == 1).count() as f64;
    let total_w: f64 = weight
        .map(|w| idx.iter().filter(|&&i| y[i] == 1).map(|&i| w[i]).sum())
        .unwrap_or(0.0);
    let base = total_pos / n as f64;
    let (mut cum_pos, mut cum_w) = (0.0, 0.0);
    (0..10)
        .map(|d| {
            let (lo, hi) = (d * n / 10, (d + 1) * n / 10);
            let part = &idx[lo..hi];
            let pos = part.iter().filter(|&&i| y[i] == 1).count();
            cum_pos += pos as f64;
            if let Some(w) = weight {
                cum_w += part.iter().filter(|&&i| y[i] == 1).map(|&i| w[i]).sum::<f64>();
            }
            let rate = if part.is_empty() {
                f64::NAN
            } else {
                pos as f64 / part.len() as f64
            };
            DecileRow {
                decile: d + 1,
                count: part.len(),
                positives: pos,
                rate,
                lift: rate / base,
                cumulative_capture: cum_pos / total_pos,
                cumulative_weight_capture: weight.map(|_| cum_w / total_w),
            }
        })
        .collect()
}

/// A point estimate with a percentile bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
}

fn percentile_interval(mut stats: Vec<f64>, estimate: f64, level: f64) -> Interval {
    stats.retain(|x| x.is_finite());
    stats.sort_by(f64::total_cmp);
    if stats.is_empty() {
        return Interval {
            estimate,
            lower: f64::NAN,
            upper: f64::NAN,
        };
    }
    let q = |a: f64| stats[((a * (stats.len() - 1) as f64).round() as usize).min(stats.len() - 1)];
    let alpha = (1.0 - level) / 2.0;
    Interval {
        estimate,
        lower: q(alpha),
        upper: q(1.0 - alpha),
    }
}

/// AUC with a percentile bootstrap interval (resampling rows with replacement).
///
/// ```
/// use healthscore::metrics::bootstrap_auc;
/// let y = [0, 1, 0, 1, 1, 0, 0, 1];
/// let p = [0.1, 0.9, 0.3, 0.6, 0.7, 0.4, 0.2, 0.5];
/// let ci = bootstrap_auc(&y, &p, 200, 0.95, 7);
/// assert!(ci.lower <= ci.estimate && ci.estimate <= ci.upper);
/// ```
pub fn bootstrap_auc(y: &[u8], p: &[f64], resamples: usize, level: f64, seed: u64) -> Interval {
    let est = roc_auc(y, p);
    let stats = bootstrap(y.len(), resamples, seed, |idx| {
        let yy: Vec<u8> = idx.iter().map(|&i| y[i]).collect();
        let pp: Vec<f64> = idx.iter().map(|&i| p[i]).collect();
        roc_auc(&yy, &pp)
    });
    percentile_interval(stats, est, level)
}

/// The paired difference AUC(a) − AUC(b) on the same rows, with a bootstrap interval
/// from resampling rows (both scores resampled together).
pub fn bootstrap_auc_difference(y: &[u8], a: &[f64], b: &[f64], resamples: usize, level: f64, seed: u64) -> Interval {
    let est = roc_auc(y, a) - roc_auc(y, b);
    let stats = bootstrap(y.len(), resamples, seed, |idx| {
        let yy: Vec<u8> = idx.iter().map(|&i| y[i]).collect();
        let aa: Vec<f64> = idx.iter().map(|&i| a[i]).collect();
        let bb: Vec<f64> = idx.iter().map(|&i| b[i]).collect();
        roc_auc(&yy, &aa) - roc_auc(&yy, &bb)
    });
    percentile_interval(stats, est, level)
}

/// Runs `stat` on `resamples` bootstrap index sets, in parallel, reproducibly:
/// resample k draws from its own generator seeded with (seed, k).
fn bootstrap<F: Fn(&[usize]) -> f64 + Sync>(n: usize, resamples: usize, seed: u64, stat: F) -> Vec<f64> {
    use rayon::prelude::*;
    if n == 0 {
        return vec![];
    }
    (0..resamples)
        .into_par_iter()
        .map(|k| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(k as u64);
            let idx: Vec<usize> = (0..n).map(|_| rng.gen_range(0..n)).collect();
            stat(&idx)
        })
        .collect()
}

/// The standard binary-classification summary of a score on labeled rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub rows: usize,
    #[serde(deserialize_with = "null_is_nan")]
    pub base_rate: f64,
    #[serde(deserialize_with = "null_is_nan")]
    pub roc_auc: f64,
    #[serde(deserialize_with = "null_is_nan")]
    pub pr_auc: f64,
    #[serde(deserialize_with = "null_is_nan")]
    pub brier: f64,
    #[serde(deserialize_with = "null_is_nan")]
    pub log_loss: f64,
    #[serde(deserialize_with = "null_is_nan")]
    pub calibration_error: f64,
}

/// A figure that could not be measured (NaN) is written as JSON `null`; read it back as NaN.
pub(crate) fn null_is_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl Summary {
    /// Computes all summary metrics.
    pub fn of(y: &[u8], p: &[f64]) -> Summary {
        Summary {
            rows: y.len(),
            base_rate: y.iter().map(|&v| v as f64).sum::<f64>() / y.len().max(1) as f64,
            roc_auc: roc_auc(y, p),
            pr_auc: average_precision(y, p),
            brier: brier(y, p),
            log_loss: log_loss(y, p),
            calibration_error: expected_calibration_error(&reliability(y, p, 10)),
        }
    }
}

/// The logistic function σ(z) = 1 / (1 + e^−z), computed without overflow
/// for either sign of z.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// The inverse of [`sigmoid`].
pub fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-15, 1.0 - 1e-15);
    (p / (1.0 - p)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_of_one_class_round_trips_through_json() {
        let s = Summary::of(&[0, 0, 0], &[0.1, 0.2, 0.3]);
        assert!(s.roc_auc.is_nan());
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"roc_auc\":null"), "{json}");
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert!(back.roc_auc.is_nan());
        assert_eq!(back.rows, 3);
        assert_eq!(back.log_loss, s.log_loss);
    }

    // A fixed example; the golden values below were computed with scikit-learn 1.x and
    // scipy on this exact Y and P (Python 3.11, see the comment on each assertion).
    const Y: [u8; 10] = [0, 0, 1, 1, 0, 1, 0, 1, 1, 0];
    const P: [f64; 10] = [0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.6, 0.3, 0.05];

    fn brute_force_auc(y: &[u8], p: &[f64]) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..y.len() {
            for j in 0..y.len() {
                if y[i] == 1 && y[j] == 0 {
                    den += 1.0;
                    num += if p[i] > p[j] {
                        1.0
                    } else if p[i] == p[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        num / den
    }

    #[test]
    fn auc_golden_and_brute_force() {
        // sklearn.metrics.roc_auc_score(Y, P) == 0.82
        assert!((roc_auc(&Y, &P) - 0.82).abs() < 1e-12);
        assert!((roc_auc(&Y, &P) - brute_force_auc(&Y, &P)).abs() < 1e-12);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..20 {
            let y: Vec<u8> = (0..57).map(|_| rng.gen_range(0..2)).collect();
            let p: Vec<f64> = (0..57).map(|_| (rng.gen_range(0..10) as f64) / 10.0).collect();
            assert!((roc_auc(&y, &p) - brute_force_auc(&y, &p)).abs() < 1e-12);
        }
        assert!(roc_auc(&[1, 1], &[0.2, 0.3]).is_nan());
    }

    #[test]
    fn pr_auc_brier_log_loss_golden() {
        // sklearn.metrics.average_precision_score(Y, P) == 0.8261904761904761
        assert!((average_precision(&Y, &P) - 0.8261904761904761).abs() < 1e-12);
        // sklearn.metrics.brier_score_loss(Y, P) == 0.1695
        assert!((brier(&Y, &P) - 0.1695).abs() < 1e-12);
        // sklearn.metrics.log_loss(Y, P) == 0.49000383365623723
        assert!((log_loss(&Y, &P) - 0.49000383365623723).abs() < 1e-12);
    }

    #[test]
    fn correlations_golden() {
        let x: Vec<f64> = Y.iter().map(|&v| v as f64).collect();
        // scipy.stats.pointbiserialr(Y, P) == (0.5858016207505701, p=0.07515819053819511)
        let (r, pv) = pearson(&x, &P);
        assert!((r - 0.5858016207505701).abs() < 1e-12, "{r}");
        assert!((pv - 0.07515819053819511).abs() < 1e-9, "{pv}");
        // scipy.stats.spearmanr(Y, P) == (0.5587442366156626, p=0.09316471525127164)
        let (rho, pv) = spearman(&x, &P);
        assert!((rho - 0.5587442366156626).abs() < 1e-12, "{rho}");
        assert!((pv - 0.09316471525127164).abs() < 1e-9, "{pv}");
    }

    #[test]
    fn reliability_and_ece() {
        let t = reliability(&Y, &P, 10);
        assert_eq!(t.iter().map(|b| b.count).sum::<usize>(), 10);
        // Bin [0.6, 0.7) holds the two 0.6s, one positive.
        let b = t.iter().find(|b| (b.lower - 0.6).abs() < 1e-12).unwrap();
        assert_eq!((b.count, b.observed_rate), (2, 0.5));
        let ece = expected_calibration_error(&t);
        // By hand: Σ n_b |o_b - p_b| / n over the 8 non-empty bins.
        let by_hand = (0.05 + 0.1 + 0.2 + (1.0 - 0.3) + (1.0 - 0.35) + 0.4 + 2.0 * 0.1 + 0.2 + 0.1) / 10.0;
        assert!((ece - by_hand).abs() < 1e-12, "{ece} vs {by_hand}");
    }

    #[test]
    fn deciles_capture_everything() {
        let d = deciles(&Y, &P, None);
        assert_eq!(d.len(), 10);
        assert!((d[9].cumulative_capture - 1.0).abs() < 1e-12);
        assert_eq!(d[0].positives, 1, "0.9 is positive");
    }

    #[test]
    fn bootstrap_is_reproducible() {
        let a = bootstrap_auc(&Y, &P, 500, 0.95, 11);
        let b = bootstrap_auc(&Y, &P, 500, 0.95, 11);
        assert_eq!(a, b);
        assert!(a.lower < a.estimate && a.estimate < a.upper);
        let c = bootstrap_auc(&Y, &P, 500, 0.95, 12);
        assert_ne!(a.lower, c.lower);
        let d = bootstrap_auc_difference(&Y, &P, &P, 200, 0.95, 1);
        assert_eq!((d.estimate, d.lower, d.upper), (0.0, 0.0, 0.0));
    }
}
