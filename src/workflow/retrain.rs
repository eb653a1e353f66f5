//! `retrain`: champion against challenger on the quarter that matters.
//!
//! The challenger is trained on all labeled history; its model refitted
//! *without* the most recent labeled quarter (the holdout model of training) and
//! the champion (the version in use, as it stands) both score that quarter. The
//! two are compared on the same rows, with paired bootstrap intervals of the AUC
//! difference. The recommendation is `promote` when the interval of the
//! challenger's risk-AUC gain lies above zero and upsell does not get
//! significantly worse (its interval not entirely below zero).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::{
    read::read_table,
    table::{Labels, Table},
};
use crate::error::Result;
use crate::metrics::{self, Interval, Summary};
use crate::model::Target;
use crate::registry::Loaded;
use crate::validate::Settings;
use crate::workflow::train::TrainedVersion;

/// Champion and challenger on one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub target: Target,
    pub champion: Summary,
    pub challenger: Summary,
    /// AUC(challenger) − AUC(champion), paired bootstrap.
    pub auc_gain: Interval,
}

/// The outcome of a backtest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    /// The backtested quarter (the latest labeled snapshot date).
    pub date: Option<String>,
    pub champion: Option<String>,
    pub challenger: String,
    pub comparisons: Vec<Comparison>,
    /// `promote` or `keep`.
    pub recommendation: String,
    pub reason: String,
}

/// Backtests the champion against the challenger on the challenger's holdout;
/// the champion reads `input` with its own spec.
pub fn backtest(tv: &TrainedVersion, champion: Option<&Loaded>, input: &Path, s: &Settings) -> Result<Backtest> {
    let read = |champ: &Loaded| read_table(input, &champ.manifest.spec.columns, &champ.manifest.features, Labels::IfPresent);
    backtest_with(tv, champion, read, s)
}

/// [`backtest`] with the champion's view of the history read by
/// `champion_table` (for example from a frame held in memory): the same rows
/// as the challenger's history, through the champion's spec.
pub fn backtest_with(
    tv: &TrainedVersion,
    champion: Option<&Loaded>,
    champion_table: impl FnOnce(&Loaded) -> Result<Table>,
    s: &Settings,
) -> Result<Backtest> {
    let date = tv.trained.values().find_map(|t| t.holdout.date.clone());
    let Some(champ) = champion else {
        return Ok(Backtest {
            date,
            champion: None,
            challenger: tv.manifest.version.clone(),
            comparisons: vec![],
            recommendation: "promote".into(),
            reason: "no version is in use yet".into(),
        });
    };
    let ctable = champion_table(champ)?;
    let mut comparisons = vec![];
    for (target, tr) in &tv.trained {
        let Some(model) = champ.model(*target) else { continue };
        let champion_p: Vec<f64> = {
            let rows = &tr.holdout_rows;
            let sub = ctable.select(rows);
            model.margins(&sub).into_iter().map(|m| model.probability(m)).collect()
        };
        let y = &tr.holdout_y;
        comparisons.push(Comparison {
            target: *target,
            champion: Summary::of(y, &champion_p),
            challenger: Summary::of(y, &tr.holdout_p),
            auc_gain: metrics::bootstrap_auc_difference(y, &tr.holdout_p, &champion_p, s.resamples, 0.95, s.seed),
        });
    }
    let risk = comparisons.iter().find(|c| c.target == Target::Risk);
    let upsell = comparisons.iter().find(|c| c.target == Target::Upsell);
    let risk_better = risk.is_some_and(|c| c.auc_gain.lower > 0.0);
    let upsell_worse = upsell.is_some_and(|c| c.auc_gain.upper < 0.0);
    let (recommendation, reason) = match (risk, risk_better, upsell_worse) {
        (None, _, _) => ("keep", "the champion has no risk model to compare".to_string()),
        (Some(c), true, false) => (
            "promote",
            format!(
                "risk AUC gain {:+.3} [{:+.3}, {:+.3}] lies above zero",
                c.auc_gain.estimate, c.auc_gain.lower, c.auc_gain.upper
            ),
        ),
        (Some(_), true, true) => ("keep", "risk improves but upsell gets significantly worse".to_string()),
        (Some(c), false, _) => (
            "keep",
            format!(
                "risk AUC gain {:+.3} [{:+.3}, {:+.3}] is not clearly above zero",
                c.auc_gain.estimate, c.auc_gain.lower, c.auc_gain.upper
            ),
        ),
    };
    Ok(Backtest {
        date,
        champion: Some(champ.version.clone()),
        challenger: tv.manifest.version.clone(),
        comparisons,
        recommendation: recommendation.into(),
        reason,
    })
}

impl Backtest {
    /// The side-by-side table for the terminal.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "backtest on {}: champion {} vs challenger {}",
            self.date.as_deref().unwrap_or("the holdout"),
            self.champion.as_deref().unwrap_or("(none)"),
            self.challenger
        );
        if !self.comparisons.is_empty() {
            let _ = writeln!(
                s,
                "  {:<7} {:>10} {:>10} {:>26} {:>9} {:>9} {:>8} {:>8}",
                "model", "champ AUC", "chall AUC", "gain [95% interval]", "champ Br", "chall Br", "champ CE", "chall CE"
            );
        }
        for c in &self.comparisons {
            let _ = writeln!(
                s,
                "  {:<7} {:>10.3} {:>10.3} {:>8.3} [{:+.3}, {:+.3}] {:>9.4} {:>9.4} {:>8.3} {:>8.3}",
                c.target.name(),
                c.champion.roc_auc,
                c.challenger.roc_auc,
                c.auc_gain.estimate,
                c.auc_gain.lower,
                c.auc_gain.upper,
                c.champion.brier,
                c.challenger.brier,
                c.champion.calibration_error,
                c.challenger.calibration_error
            );
        }
        let _ = writeln!(s, "recommendation: {} ({})", self.recommendation, self.reason);
        s
    }
}
