//! `healthscore rules`: the hand-built weighted health score on its own.

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::{Log, Outcome};
use crate::data::spec::{Category, Spec};
use crate::data::table::{read_table_date_optional, Labels};
use crate::data::write::{Format, OutColumn, OutTable};
use crate::features::reference;
use crate::fsio::write_atomic;
use crate::rules::RulesModel;

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
    let input = read_table_date_optional(&a.input, &spec.columns, &spec.feature_defs(), Labels::IfPresent)?;
    let reference_table = match &a.reference {
        Some(p) => read_table_date_optional(p, &spec.columns, &spec.feature_defs(), Labels::IfPresent)?,
        None => input.clone(),
    };
    let rows: Vec<usize> = (0..reference_table.len()).collect();
    let rules = RulesModel::fit(&spec, &reference_table, &rows, reference::fit(&reference_table, &rows));
    let unoriented: Vec<String> = rules
        .features
        .iter()
        .filter_map(|f| match f {
            crate::rules::RuleFeature::Numeric { name, direction_from, .. } if direction_from == "default" => Some(name.clone()),
            _ => None,
        })
        .collect();
    if !unoriented.is_empty() {
        log.warn(format!(
            "no churn label to orient {} feature(s) ({}); they count as higher-is-healthier: set [rules.direction] in the spec",
            unoriented.len(),
            unoriented.join(", ")
        ));
    }
    let health = rules.health(&input);
    let cats = rules.category_scores(&input);
    let mut out = OutTable::default();
    out.push("account_id", OutColumn::Text(input.ids.iter().cloned().map(Some).collect()));
    if let Some(d) = &input.dates {
        out.push("snapshot_date", OutColumn::Text(d.iter().map(|d| Some(d.to_string())).collect()));
    }
    out.push(
        "rules_health",
        OutColumn::Float(health.iter().map(|h| Some((h * 10.0).round() / 10.0)).collect()),
    );
    out.push(
        "rules_band",
        OutColumn::Text(health.iter().map(|h| Some(spec.band(*h).name().to_string())).collect()),
    );
    for c in Category::ALL {
        if cats.iter().any(|v| v[c.index()].is_some()) {
            out.push(
                format!("rules_{}", c.name()),
                OutColumn::Float(cats.iter().map(|v| v[c.index()]).collect()),
            );
        }
    }
    write_atomic(&a.output, &out.render(format)?).with_context(|| format!("writing {}", a.output.display()))?;
    log.info(format!(
        "wrote the hand-built score of {} accounts to {}",
        input.len(),
        a.output.display()
    ));
    Ok(Outcome::Ok)
}
