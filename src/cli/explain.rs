//! `healthscore explain`: the card of one account.

use std::path::PathBuf;

use crate::cli::{Log, Outcome};
use healthscore::{account_card, card, read_table_date_optional, score, Labels, Registry};

/// Show why one account scores as it does: both scores, band, action, the
/// drivers in each direction with their values, odds multipliers and
/// percentage points of probability, and the roll-up per category. On a
/// history table, the account's latest snapshot (the card names its date).
///
/// Example: healthscore explain --account A00042 --input notebooks-data/live.csv
///
/// Example: healthscore explain --account A00042 --input notebooks-data/live.csv --json | jq .models[0].drivers[0]
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
    /// Print the card as JSON (every driver of each score, in log-odds, odds
    /// and probability points) instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args, _log: Log) -> anyhow::Result<Outcome> {
    let reg = Registry::new(&a.models);
    let loaded = reg.load(&reg.resolve(a.version.as_deref())?)?;
    // Read as scoring reads it, but without the kept columns: they are not on the card.
    let spec = &loaded.manifest.spec;
    let table = read_table_date_optional(&a.input, &spec.columns, &loaded.manifest.features, Labels::IfPresent)?;
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
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&account_card(&scored, 0, spec))?);
    } else {
        out!("{}", card(&scored, 0, spec));
    }
    Ok(Outcome::Ok)
}
