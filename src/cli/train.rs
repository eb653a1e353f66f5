//! `healthscore train`: fits the models of a spec and saves a new version.

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::{Log, Outcome};
use crate::data::spec::Spec;
use crate::registry::Registry;
use crate::train::{TrainOptions, LEAK_AUC};
use crate::workflow::train::{default_version_name, holdout_report, train_version, TrainedVersion};

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
    let (_, version) = train_and_save(&spec, &a, log)?;
    let _ = version;
    Ok(Outcome::Ok)
}

/// Trains and writes a version; returns it and its name.
pub fn train_and_save(spec: &Spec, a: &Args, log: Log) -> anyhow::Result<(TrainedVersion, String)> {
    let reg = Registry::new(&a.models);
    // Refuse an existing explicit version before spending time on training.
    if let Some(v) = &a.version {
        if reg.root.join(v).exists() {
            anyhow::bail!(
                "version `{v}` already exists in {}; versions never change: choose another --version",
                reg.root.display()
            );
        }
    }
    let pb = log.spinner();
    let progress = |m: &str| {
        pb.set_message(m.to_string());
        log.debug(m);
    };
    let name_hint = a.version.clone().unwrap_or_else(|| "pending".into());
    let mut tv = train_version(
        spec,
        &a.input,
        &name_hint,
        TrainOptions {
            keep_holdout_model: a.keep_holdout_model,
        },
        &progress,
    )
    .with_context(|| format!("training on {}", a.input.display()))?;
    pb.finish_and_clear();
    let version = match &a.version {
        Some(v) => v.clone(),
        None => default_version_name(&tv.table).unwrap_or_else(|| next_plain_name(&reg)),
    };
    tv.manifest.version = version.clone();
    let mut files = tv.model_files();
    let settings = crate::validate::Settings {
        seed: spec.seed,
        ..Default::default()
    };
    let report = holdout_report(&tv, &settings);
    files.push(("report.json".into(), crate::fsio::to_json(&report)));
    files.push(("report.html".into(), crate::report::html(&report).into_bytes()));
    let dir = reg.write_version(&version, tv.manifest.clone(), &files)?;
    for (t, tr) in &tv.trained {
        for l in &tr.leaks {
            log.warn(format!(
                "feature `{}` alone reaches a holdout AUC of {:.3} for {} (>= {LEAK_AUC}); it may hold the label or be recorded after the outcome: drop it from the spec unless it is known before the renewal",
                l.feature,
                l.roc_auc,
                t.name()
            ));
        }
    }
    print_summary(&tv, &version, &dir.display().to_string(), &reg, log)?;
    if let Some(b) = report.risk.as_ref().and_then(|r| r.baselines.first()) {
        log.info(format!(
            "  risk vs the hand-built score on the holdout: {:+.3} AUC [{:+.3}, {:+.3}]; report: {}",
            b.difference.estimate,
            b.difference.lower,
            b.difference.upper,
            dir.join("report.html").display()
        ));
    }
    Ok((tv, version))
}

fn next_plain_name(reg: &Registry) -> String {
    let n = reg.versions().map(|v| v.len()).unwrap_or(0);
    (n + 1..)
        .map(|i| format!("v{i}"))
        .find(|v| !reg.root.join(v).exists())
        .expect("a free name")
}

fn print_summary(tv: &TrainedVersion, version: &str, dir: &str, reg: &Registry, log: Log) -> anyhow::Result<()> {
    let m = &tv.manifest;
    log.info(format!(
        "trained version {version} on {} rows of {}{}",
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
    let in_use = reg.in_use()?.map(|u| u.version).unwrap_or_default();
    log.info(format!(
        "written to {dir}{}",
        if in_use == version {
            " (in use)"
        } else {
            "; promote it with `healthscore promote`"
        }
    ));
    Ok(())
}
