//! `healthscore train`: fits the models of a spec and saves a new version.

use std::path::PathBuf;

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

/// Says in one line which columns of the table the spec leaves unused (all of them with `-v`).
pub fn report_unused_columns(spec: &Spec, input: &std::path::Path, log: Log) {
    let Ok(names) = healthscore::column_names(input) else {
        return; // the read itself names the problem
    };
    let unused = spec.unused_columns(&names);
    if unused.is_empty() {
        return;
    }
    let shown: Vec<&str> = unused
        .iter()
        .take(if log.verbose > 0 { usize::MAX } else { 6 })
        .map(String::as_str)
        .collect();
    log.info(format!(
        "{} column{} of {} in no role and no feature: {}{}",
        unused.len(),
        if unused.len() == 1 { "" } else { "s" },
        input.display(),
        shown.join(", "),
        if shown.len() < unused.len() {
            ", ... (-v lists them all)"
        } else {
            ""
        }
    ));
}

/// Trains and writes a version, printing its summary and warnings.
pub fn train_and_save(spec: &Spec, a: &Args, log: Log) -> anyhow::Result<SavedVersion> {
    let reg = Registry::new(&a.models);
    let pb = log.spinner();
    // The spinner shows every line; `-v` logs each stage once, not each fit.
    let stage = std::sync::Mutex::new(String::new());
    let progress = |m: &str| {
        pb.set_message(m.to_string());
        let name = m.split(": ").take(2).collect::<Vec<_>>().join(": ");
        let name = name
            .split(" of ")
            .next()
            .unwrap_or(&name)
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == ' ');
        if let Ok(mut last) = stage.lock() {
            if *last != name {
                log.debug(name);
                *last = name.to_string();
            }
        }
    };
    report_unused_columns(spec, &a.input, log);
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
    .map_err(|e| {
        // Most errors name the file already; the others get it here.
        let input = a.input.display().to_string();
        if e.full_message().contains(&input) {
            anyhow::Error::new(e)
        } else {
            anyhow::Error::new(e).context(format!("training on {input}"))
        }
    })?;
    pb.finish_and_clear();
    for (t, tr) in &saved.trained.trained {
        let sel = &tr.model.selection;
        for (i, c) in sel.candidates.iter().enumerate() {
            log.debug(format!(
                "  {} candidate {}/{}: {} {}: CV log-loss {:.4} ± {:.4}, AUC {:.3} on {} out-of-fold rows ({} positive){}",
                t.name(),
                i + 1,
                sel.candidates.len(),
                c.kind.name(),
                c.setting,
                c.cv_log_loss,
                c.cv_log_loss_se,
                c.cv_roc_auc,
                c.cv_rows,
                c.cv_positives,
                if i == sel.chosen { " (chosen)" } else { "" }
            ));
        }
    }
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
    for (t, tr) in &saved.trained.trained {
        if let Some(c) = &tr.model.calibration_choice {
            log.info(format!(
                "  {} calibration: {} (out-of-fold log-loss {:.4} none, {:.4} platt, {:.4} isotonic; a map is kept only when clearly better)",
                t.name(),
                c.chosen,
                c.none_log_loss,
                c.platt_log_loss,
                c.isotonic_log_loss
            ));
        }
    }
    for (t, tr) in &saved.trained.trained {
        let y = &tr.holdout_y;
        let positives = y.iter().filter(|&&v| v == 1).count();
        let negatives = y.len() - positives;
        if positives < 20 || negatives < 20 {
            let h = &saved.trained.manifest.targets[t].holdout.metrics;
            log.warn(format!(
                "the {} holdout holds only {positives} positive and {negatives} negative rows: its AUC {:.3} rests on too few to mean much; train on more history",
                t.name(),
                h.roc_auc
            ));
        }
        let (lo, hi) = tr
            .holdout_p
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &p| (a.min(p), b.max(p)));
        if tr.holdout_p.len() >= 20 && hi - lo < 0.05 {
            log.warn(format!(
                "the {} model is nearly constant: every holdout score lies between {lo:.3} and {hi:.3}, so it barely tells accounts apart",
                t.name()
            ));
        }
    }
    for (t, s) in &saved.trained.manifest.targets {
        if let Some(before) = &s.holdout.before_calibration {
            let after = &s.holdout.metrics;
            if after.log_loss > before.log_loss || after.brier > before.brier {
                log.warn(format!(
                    "calibration made the {} holdout worse: log-loss {:.4} → {:.4}, Brier {:.4} → {:.4}; set model.calibration = \"auto\" or \"none\"",
                    t.name(),
                    before.log_loss,
                    after.log_loss,
                    before.brier,
                    after.brier
                ));
            }
        }
    }
    for v in &saved.report.verdicts {
        log.warn(v);
    }
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
