//! `healthscore validate`: the score-to-renewal report.

use std::path::PathBuf;

use anyhow::Context;

use healthscore::{min_auc_gate, to_json, validate_files, validation_html, write_atomic, Gate, Registry, ValidateInput, ValidateSettings};

use crate::cli::{Log, Outcome};

/// Check how well the scores issued for a quarter predicted the renewals and
/// expansions that then happened, beside the hand-built score (the
/// `rules_health` column of the scores) and, with --compare, another scores file
/// (e.g. the previous version's). Prints a summary; writes JSON and a
/// self-contained HTML report on request.
///
/// Exit code 1 when --min-auc is given and the lower bound of the risk AUC
/// interval falls below it.
///
/// Example: healthscore validate --scores scores.csv --outcomes notebooks-data/outcomes.csv --report report.html
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scores written by `healthscore score`.
    #[arg(long)]
    pub scores: PathBuf,
    /// What happened: the id (and snapshot date), churn and expansion labels and ARR, named as in the spec of the scores' version (default account_id, snapshot_date, churned, expanded, arr).
    #[arg(long)]
    pub outcomes: PathBuf,
    /// Another scores file of the same accounts to compare with (paired AUC difference).
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// Write the HTML report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write every figure as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Fail (exit 1) when the lower bound of the risk AUC interval is below this.
    #[arg(long, value_name = "X")]
    pub min_auc: Option<f64>,
    /// Bootstrap resamples for the intervals.
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The model registry, used to read the bands and segment column of the scores' version.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// The segment column of the scores file (default: the version's spec).
    #[arg(long)]
    pub segment: Option<String>,
}

pub fn run(a: Args, log: Log) -> anyhow::Result<Outcome> {
    if let Some(m) = a.min_auc.filter(|m| !(0.0..=1.0).contains(m)) {
        anyhow::bail!("--min-auc {m} is not an AUC; give a number between 0 and 1");
    }
    if a.resamples < 100 {
        anyhow::bail!("--resamples must be at least 100 for a usable interval");
    }
    for p in [&a.report, &a.json].into_iter().flatten() {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
            anyhow::bail!("{}: the directory {} does not exist", p.display(), dir.display());
        }
    }
    let reg = Registry::new(&a.models);
    let input = ValidateInput {
        scores: &a.scores,
        outcomes: &a.outcomes,
        compare: a.compare.as_deref(),
        registry: &reg,
        segment: a.segment.as_deref(),
    };
    let settings = ValidateSettings {
        resamples: a.resamples,
        seed: a.seed,
        ..Default::default()
    };
    let title = format!(
        "Score-to-renewal validation: {}",
        a.scores.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default()
    );
    let report = validate_files(&input, &settings, &title).context("joining scores and outcomes")?;
    if report.risk.is_none() && report.upsell.is_none() {
        log.warn(format!(
            "{}: no score joins a known outcome: the file has no `risk` or `upsell` column, or no outcome is known; nothing could be measured",
            a.scores.display()
        ));
    } else if report.risk.is_none() {
        log.warn("the risk score is not measured: the scores have no `risk` column or no `churned` outcome joins them");
    }
    out!("{}", report.summary());
    if let Some(p) = &a.json {
        write_atomic(p, &to_json(&report))?;
        log.info(format!("wrote {}", p.display()));
    }
    if let Some(p) = &a.report {
        write_atomic(p, validation_html(&report).as_bytes())?;
        log.info(format!("wrote {}", p.display()));
    }
    if let Some(min) = a.min_auc {
        if let Gate::Failed(why) = min_auc_gate(&report, min) {
            log.warn(format!("{why} (--min-auc)"));
            return Ok(Outcome::CheckFailed);
        }
    }
    Ok(Outcome::Ok)
}
