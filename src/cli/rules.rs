//! `healthscore rules`: the hand-built weighted health score on its own.

use std::path::PathBuf;

use anyhow::Context;

use healthscore::{refuse_input_as_output, write_atomic, Format, Spec};

use crate::cli::{Log, Outcome};

/// Compute the hand-built weighted health score (the spreadsheet score) for a
/// table, for teams that have no labels yet: each feature becomes a 0–100
/// percentile against the reference table (default: the input itself), turned
/// around for features where higher means riskier (from the spec's
/// [rules.direction], or learned from the churn label when the reference has
/// one), averaged per category and weighted by the spec's category weights.
///
/// Example: healthscore rules --spec training/saas.toml --input notebooks-data/live.csv --output rules.csv
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub spec: PathBuf,
    /// Accounts to score (CSV or Parquet).
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the scores (.csv, .parquet or .jsonl).
    #[arg(long)]
    pub output: PathBuf,
    /// Table whose distribution the percentiles refer to (e.g. the training history).
    #[arg(long)]
    pub reference: Option<PathBuf>,
}

pub fn run(a: Args, log: Log) -> anyhow::Result<Outcome> {
    let spec = Spec::load(&a.spec)?;
    let format = Format::from_path(&a.output)?;
    let mut inputs: Vec<&std::path::Path> = vec![&a.input, &a.spec];
    inputs.extend(a.reference.as_deref());
    refuse_input_as_output(&a.output, &inputs)?;
    let run = healthscore::rules_scores(&spec, &a.input, a.reference.as_deref())?;
    let unoriented = run.rules.unoriented();
    if !unoriented.is_empty() {
        log.warn(format!(
            "no churn label to orient {} feature(s) ({}); they count as higher-is-healthier: set [rules.direction] in the spec",
            unoriented.len(),
            unoriented.join(", ")
        ));
    }
    write_atomic(&a.output, &run.output.render(format)?).with_context(|| format!("writing {}", a.output.display()))?;
    log.info(format!(
        "wrote the hand-built score of {} accounts to {}",
        run.output.rows(),
        a.output.display()
    ));
    Ok(Outcome::Ok)
}
