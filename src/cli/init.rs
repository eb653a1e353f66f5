//! `healthscore init`: drafts a spec from a table.

use std::io::Write as _;
use std::path::PathBuf;

use healthscore::{draft_spec, write_atomic, DraftOptions};

use crate::cli::{Log, Outcome};

/// Draft a complete, commented spec from your table (CSV or Parquet).
///
/// Detects the account id, the snapshot date, the risk and upsell labels, the
/// revenue and segment columns from names and values, makes every other
/// column a feature (numeric or categorical from its values) under the
/// category its name suggests, and leaves out identifiers, constant, empty and
/// date columns and columns that look recorded after the outcome, each with a
/// comment saying why. `train` accepts the draft unedited; read it first.
///
/// Example: healthscore init --input accounts.csv --label churned --output training/accounts.toml
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The account table (CSV or Parquet), labeled history or one row per account.
    #[arg(long)]
    pub input: PathBuf,
    /// The risk (churn) label column, if its name does not say so.
    #[arg(long)]
    pub label: Option<String>,
    /// The upsell (expansion) label column, if its name does not say so.
    #[arg(long)]
    pub upsell_label: Option<String>,
    /// The account id column, if it is not named like one.
    #[arg(long)]
    pub id: Option<String>,
    /// Write the spec here instead of to stdout (refused if the file exists, unless --force).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Replace an existing --output file.
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: Args, log: Log) -> anyhow::Result<Outcome> {
    if let Some(out) = &a.output {
        if out.exists() && !a.force {
            anyhow::bail!("{} exists; pass --force to replace it", out.display());
        }
        healthscore::refuse_input_as_output(out, &[a.input.as_path()])?;
    }
    let draft = draft_spec(
        &a.input,
        &DraftOptions {
            label: a.label.clone(),
            upsell_label: a.upsell_label.clone(),
            id: a.id.clone(),
        },
    )?;
    for line in &draft.summary {
        log.info(line);
    }
    match &a.output {
        Some(out) => {
            write_atomic(out, draft.toml.as_bytes())?;
            log.info(format!("spec written to {}", out.display()));
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(draft.toml.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(Outcome::Ok)
}
