//! `healthscore explain`: the card of one account.

use std::path::PathBuf;

use crate::cli::{Log, Outcome};
use healthscore::{
    account_card, card_change, card_html, card_text, read_table_date_optional, score, write_atomic, Labels, Previous, Registry,
};

/// Show why one account scores as it does: both scores, band, action, the
/// drivers in each direction with their values, odds multipliers and
/// percentage points of probability, and the roll-up per category. On a
/// history table, the account's latest snapshot (the card names its date).
///
/// Example: healthscore explain --account A00042 --input notebooks-data/live.csv
///
/// Example: healthscore explain --account A00042 --input notebooks-data/live.csv --json | jq .models[0].drivers[0]
///
/// Example: healthscore explain --account A00042 --input live.csv --previous scores-previous.csv --html card.html
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The account id.
    #[arg(long)]
    pub account: String,
    /// The table holding the account (CSV or Parquet).
    #[arg(long)]
    pub input: PathBuf,
    /// The model registry.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Use this version instead of the version in use.
    #[arg(long)]
    pub version: Option<String>,
    /// Print the card as JSON (every driver of each score, in log-odds, odds
    /// and probability points) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write the card as a self-contained HTML page here: a waterfall of
    /// the risk drivers in percentage points and every driver's table.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// An earlier scores file: what changed for this account since (risk,
    /// band, the features that moved it, with their values then and now).
    #[arg(long, value_name = "SCORES")]
    pub previous: Option<PathBuf>,
}

pub fn run(a: Args, _log: Log) -> anyhow::Result<Outcome> {
    let reg = Registry::new(&a.models);
    let loaded = reg.load(&reg.resolve(a.version.as_deref())?)?;
    // Read as scoring reads it, but without the kept columns: they are not on the card.
    let spec = &loaded.manifest.spec;
    let table = read_table_date_optional(&a.input, &spec.columns, &loaded.manifest.features, Labels::IfPresent)?;
    let rows: Vec<usize> = (0..table.len()).filter(|&r| table.ids[r] == a.account).collect();
    if rows.is_empty() {
        let column = &loaded.manifest.spec.columns.id;
        anyhow::bail!(
            "{}: no account `{}` {}",
            a.input.display(),
            a.account,
            if spec.columns.numbered_rows() {
                format!("(the table has no id column: accounts are its row numbers, 1 to {})", table.len())
            } else {
                format!("in column `{column}`")
            }
        );
    }
    // The latest snapshot of the account.
    let last = *rows.iter().max_by_key(|&&r| table.dates.as_ref().map(|d| d[r])).expect("non-empty");
    let scored = score(&loaded, table.select(&[last]));
    let mut c = account_card(&scored, 0, spec);
    if let Some(p) = &a.previous {
        let previous = Previous::read(p)?;
        c.previous = card_change(&scored, 0, &previous);
        if c.previous.is_none() {
            _log.warn(format!("{}: account `{}` is not in the previous scores", p.display(), a.account));
        }
    }
    if let Some(h) = &a.html {
        healthscore::refuse_input_as_output(h, &[a.input.as_path()])?;
        write_atomic(h, card_html(&c).as_bytes())?;
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        out!("{}", card_text(&c));
    }
    Ok(Outcome::Ok)
}
