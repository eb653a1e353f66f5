//! The score-to-renewal report: how well the scores issued for a quarter
//! predicted what then happened, beside the hand-built score and any other
//! scores (e.g. the previous version), with bootstrap intervals.
//!
//! Risk: ROC-AUC with a 95% percentile bootstrap interval, PR-AUC, Brier,
//! log-loss, reliability table and expected calibration error, the
//! point-biserial correlation between health and renewal (with its p-value),
//! Spearman's rho, renewal rate per band, lift and capture per decile, and the
//! share of churned ARR caught in the top decile and the red band. Upsell: AUC
//! with its interval, precision and lift in the top decile, expansion rate per
//! action. Baselines: the paired AUC difference (model − baseline) with its
//! bootstrap interval.

pub mod join;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data::spec::health_of;
use crate::data::spec::{Band, Bands};
use crate::metrics::{self, DecileRow, Interval, ReliabilityBin};

/// Settings of a validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub resamples: usize,
    pub seed: u64,
    /// Minimum rows for a segment to be reported.
    pub min_segment_rows: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            resamples: 1000,
            seed: 42,
            min_segment_rows: 50,
        }
    }
}

/// Renewal figures of one band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandRow {
    pub band: String,
    pub count: usize,
    pub churned: usize,
    pub renewal_rate: f64,
}

/// Revenue-weighted capture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevenueCapture {
    pub churned_arr: f64,
    /// Share of churned ARR among the 10% riskiest accounts.
    pub top_decile_share: f64,
    /// Share of churned ARR in the red band.
    pub red_band_share: f64,
}

/// A score compared with the model on the same rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub name: String,
    pub roc_auc: Interval,
    /// AUC(model) − AUC(baseline), paired bootstrap.
    pub difference: Interval,
    /// ROC curve points (false positive rate, true positive rate), for charts.
    pub roc: Vec<(f64, f64)>,
}

/// Risk figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskReport {
    pub rows: usize,
    pub churn_rate: f64,
    pub roc_auc: Interval,
    pub pr_auc: f64,
    pub brier: f64,
    pub log_loss: f64,
    pub reliability: Vec<ReliabilityBin>,
    pub calibration_error: f64,
    /// Point-biserial correlation between health and renewal (1 renewed), and its p-value.
    pub point_biserial: (f64, f64),
    /// Spearman's rho between health and renewal, and its p-value.
    pub spearman: (f64, f64),
    pub bands: Vec<BandRow>,
    pub deciles: Vec<DecileRow>,
    pub revenue: Option<RevenueCapture>,
    pub roc: Vec<(f64, f64)>,
    pub baselines: Vec<Baseline>,
}

/// Upsell figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpsellReport {
    pub rows: usize,
    pub expansion_rate: f64,
    pub roc_auc: Interval,
    pub top_decile_precision: f64,
    pub top_decile_lift: f64,
    /// Expansion rate and count per action group.
    pub by_action: BTreeMap<String, (usize, f64)>,
}

/// The risk AUC of one segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentRow {
    pub segment: String,
    pub rows: usize,
    pub churn_rate: f64,
    pub roc_auc: Interval,
    pub baseline_roc_auc: Option<f64>,
}

/// Everything `validate` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub title: String,
    pub generated_at: String,
    pub model_version: Option<String>,
    pub joined_rows: usize,
    pub unmatched_scores: usize,
    pub unmatched_outcomes: usize,
    pub resamples: usize,
    pub seed: u64,
    pub risk: Option<RiskReport>,
    pub upsell: Option<UpsellReport>,
    pub segments: Vec<SegmentRow>,
    /// How the models were chosen (training reports only): every candidate and
    /// every segment decision.
    #[serde(default)]
    pub selection: Vec<SelectionRow>,
    /// Plain sentences on what the figures cannot support: a score that does
    /// not rank better than chance, an AUC that cannot be measured (see
    /// [`Report::with_verdicts`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verdicts: Vec<String>,
}

/// The sentence for a score whose ranking cannot be trusted, if it is one:
/// not measurable (one outcome only) or an AUC interval that holds 0.5.
///
/// ```
/// use healthscore::{metrics::Interval, validate::ranking_verdict};
/// let chance = Interval { estimate: 0.49, lower: 0.45, upper: 0.53 };
/// assert!(ranking_verdict("risk", &chance, 800, "renewals").unwrap().contains("better than chance"));
/// let good = Interval { estimate: 0.8, lower: 0.75, upper: 0.85 };
/// assert_eq!(ranking_verdict("risk", &good, 800, "renewals"), None);
/// ```
pub fn ranking_verdict(score: &str, auc: &Interval, rows: usize, what: &str) -> Option<String> {
    if !auc.estimate.is_finite() {
        return Some(format!(
            "{score} is not measurable on these {rows} {what}: they hold one outcome only, so no ranking can be judged; wait for both outcomes or join more {what}"
        ));
    }
    if auc.lower.is_finite() && auc.lower <= 0.5 {
        return Some(format!(
            "{score} does not rank accounts better than chance on {rows} {what}: AUC {:.3} [{:.3}, {:.3}]; more history (more {what}) or other features are needed before acting on it",
            auc.estimate, auc.lower, auc.upper
        ));
    }
    None
}

impl Report {
    /// The report with its [`Report::verdicts`] filled in from its figures.
    pub fn with_verdicts(mut self) -> Report {
        let mut v = Vec::new();
        if let Some(r) = &self.risk {
            v.extend(ranking_verdict("risk", &r.roc_auc, r.rows, "renewals"));
        }
        if let Some(u) = &self.upsell {
            v.extend(ranking_verdict(
                "upsell",
                &u.roc_auc,
                u.rows,
                "accounts with a known expansion outcome",
            ));
        }
        self.verdicts = v;
        self
    }
}

/// One line of the model-selection table of a training report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionRow {
    /// `risk` or `upsell`.
    pub target: String,
    /// `pooled` or `segment <value>`.
    pub scope: String,
    /// Candidate (kind and setting), or the segment decision.
    pub model: String,
    pub cv_log_loss: Option<f64>,
    /// Standard error of the CV log-loss.
    #[serde(default)]
    pub cv_log_loss_se: Option<f64>,
    pub cv_roc_auc: Option<f64>,
    /// Out-of-fold rows and positives the CV figures rest on.
    #[serde(default)]
    pub cv_rows: Option<usize>,
    #[serde(default)]
    pub cv_positives: Option<usize>,
    /// Whether this line was chosen (candidate) or the segment got its own model.
    pub chosen: bool,
}

/// ROC curve points, from (0,0) to (1,1), at every distinct score.
pub fn roc_curve(y: &[u8], p: &[f64]) -> Vec<(f64, f64)> {
    let npos = y.iter().filter(|&&v| v == 1).count() as f64;
    let nneg = y.len() as f64 - npos;
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let mut pts = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j < idx.len() && p[idx[j]] == p[idx[i]] {
            if y[idx[j]] == 1 {
                tp += 1.0
            } else {
                fp += 1.0
            }
            j += 1;
        }
        pts.push((fp / nneg.max(1.0), tp / npos.max(1.0)));
        i = j;
    }
    // Thin the curve for charts: at most ~400 points.
    let step = (pts.len() / 400).max(1);
    let last = *pts.last().expect("non-empty");
    let mut out: Vec<(f64, f64)> = pts.into_iter().step_by(step).collect();
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
}

/// The inputs of the risk report, row-aligned.
pub struct RiskInput<'a> {
    /// 1 churned, 0 renewed.
    pub churned: &'a [u8],
    pub risk: &'a [f64],
    pub health: &'a [f64],
    pub arr: Option<&'a [f64]>,
    /// Other scores where higher means riskier, with their names.
    pub baselines: Vec<(String, Vec<f64>)>,
}

/// Computes the risk report.
///
/// ```
/// use healthscore::validate::{risk_report, RiskInput, Settings};
/// let y = [0, 1, 0, 1, 0, 0, 1, 0];
/// let r = [0.1, 0.8, 0.3, 0.6, 0.2, 0.4, 0.5, 0.05];
/// let h: Vec<f64> = r.iter().map(|p| 100.0 * (1.0 - p)).collect();
/// let rep = risk_report(&RiskInput { churned: &y, risk: &r, health: &h, arr: None, baselines: vec![] },
///                       &Default::default(), &Settings { resamples: 100, ..Default::default() });
/// assert_eq!(rep.roc_auc.estimate, 1.0);
/// ```
pub fn risk_report(input: &RiskInput<'_>, bands: &Bands, s: &Settings) -> RiskReport {
    let y = input.churned;
    let renewed: Vec<f64> = y.iter().map(|&v| 1.0 - v as f64).collect();
    let reliability = metrics::reliability(y, input.risk, 10);
    let band_of = |h: f64| {
        if h >= bands.green {
            Band::Green
        } else if h >= bands.yellow {
            Band::Yellow
        } else {
            Band::Red
        }
    };
    let mut band_rows = vec![];
    for b in [Band::Green, Band::Yellow, Band::Red] {
        let rows: Vec<usize> = (0..y.len()).filter(|&r| band_of(input.health[r]) == b).collect();
        let churned = rows.iter().filter(|&&r| y[r] == 1).count();
        band_rows.push(BandRow {
            band: b.name().into(),
            count: rows.len(),
            churned,
            renewal_rate: if rows.is_empty() {
                f64::NAN
            } else {
                1.0 - churned as f64 / rows.len() as f64
            },
        });
    }
    let deciles = metrics::deciles(y, input.risk, input.arr);
    let revenue = input.arr.map(|arr| {
        let churned_arr: f64 = (0..y.len()).filter(|&r| y[r] == 1).map(|r| arr[r]).sum();
        let red: f64 = (0..y.len())
            .filter(|&r| y[r] == 1 && band_of(input.health[r]) == Band::Red)
            .map(|r| arr[r])
            .sum();
        RevenueCapture {
            churned_arr,
            top_decile_share: deciles.first().and_then(|d| d.cumulative_weight_capture).unwrap_or(f64::NAN),
            red_band_share: if churned_arr > 0.0 { red / churned_arr } else { f64::NAN },
        }
    });
    let baselines = input
        .baselines
        .iter()
        .map(|(name, b)| Baseline {
            name: name.clone(),
            roc_auc: metrics::bootstrap_auc(y, b, s.resamples, 0.95, s.seed),
            difference: metrics::bootstrap_auc_difference(y, input.risk, b, s.resamples, 0.95, s.seed),
            roc: roc_curve(y, b),
        })
        .collect();
    RiskReport {
        rows: y.len(),
        churn_rate: y.iter().map(|&v| v as f64).sum::<f64>() / y.len().max(1) as f64,
        roc_auc: metrics::bootstrap_auc(y, input.risk, s.resamples, 0.95, s.seed),
        pr_auc: metrics::average_precision(y, input.risk),
        brier: metrics::brier(y, input.risk),
        log_loss: metrics::log_loss(y, input.risk),
        calibration_error: metrics::expected_calibration_error(&reliability),
        reliability,
        point_biserial: metrics::pearson(input.health, &renewed),
        spearman: metrics::spearman(input.health, &renewed),
        bands: band_rows,
        deciles,
        revenue,
        roc: roc_curve(y, input.risk),
        baselines,
    }
}

/// Computes the upsell report.
pub fn upsell_report(expanded: &[u8], upsell: &[f64], action: &[String], s: &Settings) -> UpsellReport {
    let d = metrics::deciles(expanded, upsell, None);
    let mut by_action: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for (a, &y) in action.iter().zip(expanded) {
        let e = by_action.entry(a.clone()).or_default();
        e.0 += 1;
        e.1 += y as f64;
    }
    for v in by_action.values_mut() {
        v.1 /= v.0 as f64;
    }
    UpsellReport {
        rows: expanded.len(),
        expansion_rate: expanded.iter().map(|&v| v as f64).sum::<f64>() / expanded.len().max(1) as f64,
        roc_auc: metrics::bootstrap_auc(expanded, upsell, s.resamples, 0.95, s.seed),
        top_decile_precision: d.first().map_or(f64::NAN, |d| d.rate),
        top_decile_lift: d.first().map_or(f64::NAN, |d| d.lift),
        by_action,
    }
}

/// Risk AUC per segment with at least `min_segment_rows` rows (and both classes).
pub fn segment_rows(segment: &[String], churned: &[u8], risk: &[f64], baseline: Option<&[f64]>, s: &Settings) -> Vec<SegmentRow> {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (r, seg) in segment.iter().enumerate() {
        groups.entry(seg.as_str()).or_default().push(r);
    }
    groups
        .into_iter()
        .filter(|(_, rows)| rows.len() >= s.min_segment_rows)
        .map(|(seg, rows)| {
            let y: Vec<u8> = rows.iter().map(|&r| churned[r]).collect();
            let p: Vec<f64> = rows.iter().map(|&r| risk[r]).collect();
            SegmentRow {
                segment: seg.into(),
                rows: rows.len(),
                churn_rate: y.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64,
                roc_auc: metrics::bootstrap_auc(&y, &p, s.resamples, 0.95, s.seed),
                baseline_roc_auc: baseline.map(|b| metrics::roc_auc(&y, &rows.iter().map(|&r| b[r]).collect::<Vec<_>>())),
            }
        })
        .collect()
}

impl Report {
    /// The terminal summary.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "{}", self.title);
        for v in &self.verdicts {
            let _ = writeln!(s, "note: {v}");
        }
        let _ = writeln!(
            s,
            "joined {} rows ({} scores and {} outcomes did not join)",
            self.joined_rows, self.unmatched_scores, self.unmatched_outcomes
        );
        if let Some(r) = &self.risk {
            let _ = writeln!(s, "\nrisk ({} renewals, churn rate {:.1}%)", r.rows, 100.0 * r.churn_rate);
            let _ = writeln!(
                s,
                "  ROC-AUC  {:.3}  [{:.3}, {:.3}]   PR-AUC {:.3}   Brier {:.4}   log-loss {:.4}   calibration error {:.3}",
                r.roc_auc.estimate, r.roc_auc.lower, r.roc_auc.upper, r.pr_auc, r.brier, r.log_loss, r.calibration_error
            );
            let _ = writeln!(
                s,
                "  health vs renewal: point-biserial r {:.3} (p {:.2e}), Spearman rho {:.3} (p {:.2e})",
                r.point_biserial.0, r.point_biserial.1, r.spearman.0, r.spearman.1
            );
            let bands: Vec<String> = r
                .bands
                .iter()
                .map(|b| {
                    if b.count == 0 {
                        format!("{} — of 0", b.band)
                    } else {
                        format!("{} {:.1}% of {}", b.band, 100.0 * b.renewal_rate, b.count)
                    }
                })
                .collect();
            let _ = writeln!(s, "  renewal rate by band: {}", bands.join(", "));
            if let Some(d) = r.deciles.first() {
                let _ = writeln!(
                    s,
                    "  top-risk decile: lift {:.2}, captures {:.1}% of churners",
                    d.lift,
                    100.0 * d.cumulative_capture
                );
            }
            if let Some(rev) = &r.revenue {
                let _ = writeln!(
                    s,
                    "  churned ARR {:.0}: {:.1}% in the top-risk decile, {:.1}% in the red band",
                    rev.churned_arr,
                    100.0 * rev.top_decile_share,
                    100.0 * rev.red_band_share
                );
            }
            for b in &r.baselines {
                let _ = writeln!(
                    s,
                    "  vs {}: AUC {:.3} [{:.3}, {:.3}]; model − baseline {:+.3} [{:+.3}, {:+.3}]{}",
                    b.name,
                    b.roc_auc.estimate,
                    b.roc_auc.lower,
                    b.roc_auc.upper,
                    b.difference.estimate,
                    b.difference.lower,
                    b.difference.upper,
                    if b.difference.lower > 0.0 {
                        " (model better)"
                    } else if b.difference.upper < 0.0 {
                        " (model worse)"
                    } else {
                        " (no clear difference)"
                    }
                );
            }
        }
        if let Some(u) = &self.upsell {
            let _ = writeln!(s, "\nupsell ({} accounts, expansion rate {:.1}%)", u.rows, 100.0 * u.expansion_rate);
            let _ = writeln!(
                s,
                "  ROC-AUC  {:.3}  [{:.3}, {:.3}]   top decile: precision {:.1}%, lift {:.2}",
                u.roc_auc.estimate,
                u.roc_auc.lower,
                u.roc_auc.upper,
                100.0 * u.top_decile_precision,
                u.top_decile_lift
            );
            let acts: Vec<String> = u
                .by_action
                .iter()
                .map(|(a, (n, r))| {
                    if *n == 0 {
                        format!("{a} — of 0")
                    } else {
                        format!("{a} {:.1}% of {n}", 100.0 * r)
                    }
                })
                .collect();
            let _ = writeln!(s, "  expansion rate by action: {}", acts.join(", "));
        }
        if !self.segments.is_empty() {
            let _ = writeln!(s, "\nrisk by segment:");
            for g in &self.segments {
                let _ = writeln!(
                    s,
                    "  {:<16} {:>6} rows  churn {:>5.1}%  AUC {:.3} [{:.3}, {:.3}]{}",
                    g.segment,
                    g.rows,
                    100.0 * g.churn_rate,
                    g.roc_auc.estimate,
                    g.roc_auc.lower,
                    g.roc_auc.upper,
                    g.baseline_roc_auc.map(|b| format!("  hand-built {b:.3}")).unwrap_or_default()
                );
            }
        }
        s
    }
}

/// The name of the hand-built baseline in reports.
pub const HAND_BUILT: &str = "hand-built score";

/// Builds the report from joined scores and outcomes.
pub fn build(j: &join::Joined, bands: &Bands, s: &Settings, title: &str) -> Report {
    // Risk rows: scored, with a known outcome, and (for paired comparisons) a compared score.
    let rows: Vec<usize> = (0..j.ids.len())
        .filter(|&r| j.risk[r].is_some() && j.churned[r].is_some())
        .filter(|&r| j.compare.as_ref().is_none_or(|c| c[r].is_some()))
        .collect();
    let risk = (!rows.is_empty()).then(|| {
        let y: Vec<u8> = rows.iter().map(|&r| j.churned[r].expect("filtered")).collect();
        let p: Vec<f64> = rows.iter().map(|&r| j.risk[r].expect("filtered")).collect();
        // A row without a health cell takes its own risk's health.
        let h: Vec<f64> = rows
            .iter()
            .zip(&p)
            .map(|(&r, &risk)| j.health[r].unwrap_or_else(|| health_of(risk)))
            .collect();
        let arr: Option<Vec<f64>> = j.arr.as_ref().map(|a| rows.iter().map(|&r| a[r].unwrap_or(0.0)).collect());
        let mut baselines = vec![];
        if let Some(rh) = &j.rules_health {
            baselines.push((
                HAND_BUILT.to_string(),
                rows.iter().map(|&r| 100.0 - rh[r].unwrap_or(50.0)).collect(),
            ));
        }
        if let Some(c) = &j.compare {
            baselines.push((
                "compared scores".to_string(),
                rows.iter().map(|&r| c[r].expect("filtered")).collect(),
            ));
        }
        risk_report(
            &RiskInput {
                churned: &y,
                risk: &p,
                health: &h,
                arr: arr.as_deref(),
                baselines,
            },
            bands,
            s,
        )
    });
    let urows: Vec<usize> = (0..j.ids.len())
        .filter(|&r| j.upsell[r].is_some() && j.expanded[r].is_some())
        .collect();
    let upsell = (!urows.is_empty()).then(|| {
        let y: Vec<u8> = urows.iter().map(|&r| j.expanded[r].expect("filtered")).collect();
        let p: Vec<f64> = urows.iter().map(|&r| j.upsell[r].expect("filtered")).collect();
        let a: Vec<String> = urows
            .iter()
            .map(|&r| j.action[r].clone().unwrap_or_else(|| "(none)".into()))
            .collect();
        upsell_report(&y, &p, &a, s)
    });
    let segments = match &j.segment {
        Some(seg) if !rows.is_empty() => {
            let sg: Vec<String> = rows.iter().map(|&r| seg[r].clone().unwrap_or_else(|| "(missing)".into())).collect();
            let y: Vec<u8> = rows.iter().map(|&r| j.churned[r].expect("filtered")).collect();
            let p: Vec<f64> = rows.iter().map(|&r| j.risk[r].expect("filtered")).collect();
            let b: Option<Vec<f64>> = j
                .rules_health
                .as_ref()
                .map(|rh| rows.iter().map(|&r| 100.0 - rh[r].unwrap_or(50.0)).collect());
            segment_rows(&sg, &y, &p, b.as_deref(), s)
        }
        _ => vec![],
    };
    Report {
        title: title.to_string(),
        generated_at: crate::fsio::now(),
        model_version: j.model_version.clone(),
        joined_rows: j.ids.len(),
        unmatched_scores: j.unmatched_scores,
        unmatched_outcomes: j.unmatched_outcomes,
        resamples: s.resamples,
        seed: s.seed,
        risk,
        upsell,
        segments,
        selection: vec![],
        verdicts: vec![],
    }
    .with_verdicts()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_curve_ends_at_corners_and_matches_auc() {
        let y = [0, 0, 1, 1, 0, 1, 0, 1, 1, 0];
        let p = [0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.6, 0.3, 0.05];
        let c = roc_curve(&y, &p);
        assert_eq!(c[0], (0.0, 0.0));
        assert_eq!(*c.last().unwrap(), (1.0, 1.0));
        // Trapezoid area under the curve equals the AUC.
        let area: f64 = c.windows(2).map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0).sum();
        assert!((area - metrics::roc_auc(&y, &p)).abs() < 1e-12);
    }

    #[test]
    fn bands_and_revenue() {
        let y = [1, 0, 1, 0];
        let risk = [0.9, 0.1, 0.5, 0.3];
        let health: Vec<f64> = risk.iter().map(|r| 100.0 * (1.0 - r)).collect();
        let arr = [100.0, 50.0, 300.0, 10.0];
        let r = risk_report(
            &RiskInput {
                churned: &y,
                risk: &risk,
                health: &health,
                arr: Some(&arr),
                baselines: vec![("flat".into(), vec![0.5; 4])],
            },
            &Bands::default(),
            &Settings {
                resamples: 50,
                ..Default::default()
            },
        );
        let red = r.bands.iter().find(|b| b.band == "red").unwrap();
        assert_eq!((red.count, red.churned), (2, 2));
        // Both churners are red: all churned ARR is in the red band.
        assert_eq!(r.revenue.as_ref().unwrap().red_band_share, 1.0);
        assert_eq!(r.baselines[0].roc_auc.estimate, 0.5);
        assert_eq!(r.baselines[0].difference.estimate, 0.5);
    }

    /// A scores file without health cells: each row's band comes from its own
    /// risk (the report once took the first row's risk for every row).
    #[test]
    fn missing_health_comes_from_each_rows_own_risk() {
        let n = 40;
        let risk: Vec<Option<f64>> = (0..n).map(|i| Some(if i % 2 == 0 { 0.05 } else { 0.9 })).collect();
        let j = join::Joined {
            ids: (0..n).map(|i| format!("a{i}")).collect(),
            health: vec![None; n],
            upsell: vec![None; n],
            action: vec![None; n],
            churned: (0..n).map(|i| Some((i % 2 == 1 && i % 3 != 0) as u8)).collect(),
            expanded: vec![None; n],
            risk,
            ..Default::default()
        };
        let r = build(&j, &Bands::default(), &Settings::default(), "t").risk.expect("risk rows");
        let count = |b: &str| r.bands.iter().find(|x| x.band == b).map_or(0, |x| x.count);
        assert_eq!((count("green"), count("red")), (20, 20), "{:?}", r.bands);
    }
}
