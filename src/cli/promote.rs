//! `healthscore promote` and `healthscore rollback`: change the version in use.

use std::path::PathBuf;

use crate::cli::{Log, Outcome};
use healthscore::Registry;

/// Make a version the one in use; the change is appended to models/promotions.jsonl.
///
/// Example: healthscore promote 2026Q3
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The version to put in use.
    pub version: String,
    /// The model registry directory.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
}

/// Put the version that was in use before the current one back in use (logged).
///
/// Example: healthscore rollback --models models
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The model registry directory.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
}

pub fn run(a: Args, log: Log) -> anyhow::Result<Outcome> {
    let p = Registry::new(&a.models).promote(&a.version)?;
    log.info(format!("{} is in use (was {})", p.version, p.previous.as_deref().unwrap_or("none")));
    Ok(Outcome::Ok)
}

pub fn rollback(a: RollbackArgs, log: Log) -> anyhow::Result<Outcome> {
    let p = Registry::new(&a.models).rollback()?;
    log.info(format!(
        "rolled back: {} is in use again (was {})",
        p.version,
        p.previous.as_deref().unwrap_or("none")
    ));
    Ok(Outcome::Ok)
}
