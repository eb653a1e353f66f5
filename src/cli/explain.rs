//! `healthscore explain`: the card of one account.

use std::path::PathBuf;

use crate::cli::{Log, Outcome};
use healthscore::Registry;
use healthscore::{card, read_live, score};

/// Show why one account scores as it does: both scores, band, action, the
/// drivers in each direction with their values and odds multipliers, and the
/// roll-up per category.
///
/// Example: healthscore explain --account A00042 --input notebooks-data/live.csv
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The account id.
    #[arg(long)]
    pub account: String,
    /// The table holding the account (CSV or Parquet).
    #[arg(long)]
    pub input: PathBuf,
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Use this version instead of the version in use.
    #[arg(long)]
    pub version: Option<String>,
}

pub fn run(a: Args, _log: Log) -> anyhow::Result<Outcome> {
    let reg = Registry::new(&a.models);
    let loaded = reg.load(&reg.resolve(a.version.as_deref())?)?;
    let table = read_live(&loaded, &a.input)?;
    let rows: Vec<usize> = (0..table.len()).filter(|&r| table.ids[r] == a.account).collect();
    if rows.is_empty() {
        anyhow::bail!(
            "{}: no account `{}` in column `{}`",
            a.input.display(),
            a.account,
            loaded.manifest.spec.columns.id
        );
    }
    // The latest snapshot of the account.
    let last = *rows.iter().max_by_key(|&&r| table.dates.as_ref().map(|d| d[r])).expect("non-empty");
    let scored = score(&loaded, table.select(&[last]));
    out!("{}", card(&scored, 0, &loaded.manifest.spec));
    Ok(Outcome::Ok)
}
