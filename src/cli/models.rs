//! `healthscore models list|show`: what versions exist and what is in them.

use std::path::PathBuf;

use crate::cli::{Log, Outcome};
use healthscore::Registry;
use healthscore::Target;

/// List and inspect model versions.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Versions with their creation time, holdout AUCs and which is in use.
    ///
    /// Example: healthscore models list
    List {
        #[arg(long, default_value = "models")]
        models: PathBuf,
    },
    /// Two versions side by side: metrics, features added or removed, largest changes of effect, drift.
    ///
    /// Example: healthscore models diff 2026Q2 2026Q3
    Diff {
        a: String,
        b: String,
        #[arg(long, default_value = "models")]
        models: PathBuf,
    },
    /// A version's manifest summary and its strongest effects per category.
    ///
    /// Example: healthscore models show 2026Q3
    Show {
        version: String,
        #[arg(long, default_value = "models")]
        models: PathBuf,
    },
}

pub fn run(c: Command, _log: Log) -> anyhow::Result<Outcome> {
    match c {
        Command::List { models } => {
            let reg = Registry::new(&models);
            let in_use = reg.in_use()?.map(|u| u.version);
            outln!("{:<14} {:<21} {:>9} {:>10}  in use", "version", "created", "risk AUC", "upsell AUC");
            for v in reg.versions()? {
                let l = match reg.load(&v) {
                    Ok(l) => l,
                    Err(e) => {
                        outln!("{v:<14} cannot be loaded: {}", e.full_message());
                        continue;
                    }
                };
                let auc = |t: Target| {
                    l.manifest
                        .targets
                        .get(&t)
                        .map(|s| format!("{:.3}", s.holdout.metrics.roc_auc))
                        .unwrap_or_else(|| "-".into())
                };
                outln!(
                    "{:<14} {:<21} {:>9} {:>10}  {}",
                    v,
                    l.manifest.created_at,
                    auc(Target::Risk),
                    auc(Target::Upsell),
                    if in_use.as_deref() == Some(&v) { "*" } else { "" }
                );
            }
        }
        Command::Diff { a, b, models } => {
            let reg = Registry::new(&models);
            let d = healthscore::diff(&reg.load(&a)?, &reg.load(&b)?);
            out!("{}", d.summary());
        }
        Command::Show { version, models } => {
            let reg = Registry::new(&models);
            let l = reg.load(&version)?;
            let m = &l.manifest;
            outln!("version {} (healthscore {}, created {})", m.version, m.tool_version, m.created_at);
            outln!("input   {} ({} rows, sha256 {})", m.input.file, m.input.rows, &m.input.sha256[..16]);
            if let (Some(a), Some(b)) = (&m.input.first_date, &m.input.last_date) {
                outln!("dates   {a} to {b}");
            }
            for (t, s) in &m.targets {
                let h = &s.holdout.metrics;
                outln!(
                    "\n{}: {} labeled rows, rate {:.1}%, {}; holdout AUC {:.3}, PR-AUC {:.3}, Brier {:.4}, log-loss {:.4} on {} rows",
                    t.name(),
                    s.labeled_rows,
                    100.0 * s.label_rate,
                    s.chosen,
                    h.roc_auc,
                    h.pr_auc,
                    h.brier,
                    h.log_loss,
                    h.rows
                );
                for (segment, why) in &s.segments {
                    outln!("  segment {segment}: {why}");
                }
                let Some(model) = l.model(*t) else { continue };
                let e = healthscore::strongest_effects(model, 3);
                outln!("  {}:", e.heading);
                for (c, top) in &e.per_category {
                    let top: Vec<String> = top.iter().map(|(name, v)| format!("{name} {}", e.format(*v))).collect();
                    outln!("    {:<14} {}", c.name(), top.join(", "));
                }
            }
        }
    }
    Ok(Outcome::Ok)
}
