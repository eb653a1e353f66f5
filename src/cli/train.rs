//! `healthscore train`: fits the models of a spec and saves a new version.

use std::path::PathBuf;

use anyhow::Context;

use healthscore::{Registry, SavedVersion, Spec, TrainOptions, LEAK_AUC};

use crate::cli::{Log, Outcome};

/// Train the risk and upsell models and save them as a new, immutable version.
///
/// Holds out the latest labeled snapshot date (or a stratified share of accounts
/// when there are no dates), measures the models on it, then refits on all
/// labeled rows. The first version trained becomes the version in use.
///
/// Example: healthscore train --spec training/saas.toml --input notebooks-data/history.csv
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model spec (TOML).
    #[arg(long)]
    pub spec: PathBuf,
    /// The labeled account history (CSV or Parquet).
    #[arg(long)]
    pub input: PathBuf,
    /// The model registry directory.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Version name (default: the quarter of the latest snapshot date, e.g. 2026Q3).
    #[arg(long)]
    pub version: Option<String>,
    /// Save the model fitted without the holdout instead of refitting on all rows.
    #[arg(long)]
    pub keep_holdout_model: bool,
}

pub fn run(a: Args, log: Log) -> anyhow::Result<Outcome> {
    let spec = Spec::load(&a.spec)?;
    train_and_save(&spec, &a, log)?;
    Ok(Outcome::Ok)
}

/// Trains and writes a version, printing its summary and warnings.
pub fn train_and_save(spec: &Spec, a: &Args, log: Log) -> anyhow::Result<SavedVersion> {
    let reg = Registry::new(&a.models);
    let pb = log.spinner();
    let progress = |m: &str| {
        pb.set_message(m.to_string());
        log.debug(m);
    };
    let saved = healthscore::train_and_save(
        &reg,
        spec,
        &a.input,
        a.version.as_deref(),
        TrainOptions {
            keep_holdout_model: a.keep_holdout_model,
        },
        &progress,
    )
    .with_context(|| format!("training on {}", a.input.display()))?;
    pb.finish_and_clear();
    for (t, tr) in &saved.trained.trained {
        for l in &tr.leaks {
            log.warn(format!(
                "feature `{}` alone reaches a holdout AUC of {:.3} for {} (>= {LEAK_AUC}); it may hold the label or be recorded after the outcome: drop it from the spec unless it is known before the renewal",
                l.feature,
                l.roc_auc,
                t.name()
            ));
        }
    }
    print_summary(&saved, log);
    if let Some(b) = saved.report.risk.as_ref().and_then(|r| r.baselines.first()) {
        log.info(format!(
            "  risk vs the hand-built score on the holdout: {:+.3} AUC [{:+.3}, {:+.3}]; report: {}",
            b.difference.estimate,
            b.difference.lower,
            b.difference.upper,
            saved.dir.join("report.html").display()
        ));
    }
    Ok(saved)
}

fn print_summary(saved: &SavedVersion, log: Log) {
    let m = &saved.trained.manifest;
    log.info(format!(
        "trained version {} on {} rows of {}{}",
        saved.name,
        m.input.rows,
        m.input.file,
        match (&m.input.first_date, &m.input.last_date) {
            (Some(a), Some(b)) => format!(" ({a} to {b})"),
            _ => String::new(),
        }
    ));
    for (t, s) in &m.targets {
        let h = &s.holdout.metrics;
        log.info(format!(
            "  {:<6} {} labeled rows, rate {:.1}%, {}; holdout ({}{}, {} rows): AUC {:.3}  PR-AUC {:.3}  Brier {:.4}  log-loss {:.4}",
            t.name(),
            s.labeled_rows,
            100.0 * s.label_rate,
            s.chosen,
            s.holdout.policy,
            s.holdout.date.as_ref().map(|d| format!(" {d}")).unwrap_or_default(),
            h.rows,
            h.roc_auc,
            h.pr_auc,
            h.brier,
            h.log_loss
        ));
    }
    log.info(format!(
        "written to {}{}",
        saved.dir.display(),
        if saved.in_use {
            " (in use)"
        } else {
            "; promote it with `healthscore promote`"
        }
    ));
}
