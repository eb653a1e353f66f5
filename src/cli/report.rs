//! `healthscore report`: the portfolio page for customer-success leaders.

use std::collections::HashMap;
use std::path::PathBuf;

use healthscore::{
    portfolio, portfolio_html, portfolio_reads_column, read_frame_columns, read_frame_text, read_table_date_optional,
    refuse_input_as_output, to_json, write_atomic, Frame, Labels, Registry, UsageFeatures,
};

use crate::cli::{Log, Outcome};

/// The portfolio a customer-success leader acts on, from a scores file.
///
/// Expected ARR at risk (Σ risk × ARR) and expansion potential (Σ upsell ×
/// ARR) by band, segment and action; the risk × upsell map of the accounts;
/// the risk distribution by band; band migration against --previous; what
/// drives the portfolio by category and feature; the 25 accounts with the
/// largest expected loss and their drivers; with --input, the usage
/// clusters (k-means on the engagement, usage and adoption features, k by
/// silhouette in 3..8, drawn on their first two principal components). ARR
/// comes from the scores file when it has the spec's revenue column, else
/// from --input (the scored table). One self-contained HTML page, and every
/// figure as JSON.
///
/// Example: healthscore report --scores scores.csv --input live.csv --previous scores-previous.csv --output portfolio.html
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A scores file written by `healthscore score`.
    #[arg(long)]
    pub scores: PathBuf,
    /// The table that was scored: the ARR of each account (the spec's revenue
    /// column) when the scores lack it, and the features of the usage clusters.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// An earlier scores file, for band migration.
    #[arg(long)]
    pub previous: Option<PathBuf>,
    /// The model registry, for the version's spec (revenue and segment columns).
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// The HTML page.
    #[arg(long, default_value = "portfolio.html")]
    pub output: PathBuf,
    /// Also write every figure as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn run(a: Args, log: Log) -> anyhow::Result<Outcome> {
    let mut inputs = vec![a.scores.as_path()];
    inputs.extend(a.input.as_deref());
    inputs.extend(a.previous.as_deref());
    for out in [Some(&a.output), a.json.as_ref()].into_iter().flatten() {
        refuse_input_as_output(out, &inputs)?;
    }
    // Only the columns the page uses: a scores file has a hundred.
    let scores = read_frame_columns(
        &a.scores,
        &["account_id", "band", "action", "model_version"],
        portfolio_reads_column,
    )?;
    // The version, when the registry has it: its spec's revenue and segment columns.
    let loaded = {
        let f = Frame::new(&a.scores, &scores);
        let version = if f.has("model_version") {
            f.strings("model_version", "model version")?.into_iter().flatten().next()
        } else {
            None
        };
        let reg = Registry::new(&a.models);
        version.and_then(|v| reg.load(&v).ok())
    };
    // The usage clusters need the scored table's features and the version's preprocessing.
    let usage = match (&loaded, &a.input) {
        (Some(l), Some(input)) => {
            let table = read_table_date_optional(input, &l.manifest.spec.columns, &l.manifest.features, Labels::IfPresent)?;
            let pre = l.risk.as_ref().or(l.upsell.as_ref()).map(|m| &m.pooled.preprocessor);
            pre.and_then(|pre| UsageFeatures::from_table(pre, &table))
        }
        _ => None,
    };
    let spec = loaded.map(|l| l.manifest.spec);
    let revenue = spec.as_ref().and_then(|s| s.columns.revenue.clone());
    let segment = spec.as_ref().and_then(|s| s.columns.segment.clone());
    let arr: Option<HashMap<String, f64>> = match (&revenue, &a.input) {
        (Some(col), _) if scores.column(col).is_ok() => Some(arr_map(&a.scores, &scores, "account_id", col)?),
        (Some(col), Some(input)) => {
            let id = spec.as_ref().map(|s| s.columns.id.clone()).unwrap_or_else(|| "account_id".into());
            let table = read_frame_text(input, &[id.as_str()])?;
            Some(arr_map(input, &table, &id, col)?)
        }
        _ => {
            log.warn("no ARR: the version's spec names no revenue column, or --input is not given; the figures count accounts");
            None
        }
    };
    let previous = match &a.previous {
        Some(p) => Some((p.as_path(), read_frame_text(p, &["account_id", "band"])?)),
        None => None,
    };
    let p = portfolio(
        &a.scores,
        &scores,
        arr.as_ref(),
        segment.as_deref(),
        previous.as_ref().map(|(p, df)| (*p, df)),
        usage.as_ref(),
    )?;
    write_atomic(&a.output, portfolio_html(&p).as_bytes())?;
    if let Some(j) = &a.json {
        write_atomic(j, &to_json(&p))?;
    }
    for s in &p.summary {
        log.info(s);
    }
    log.info(format!("wrote {}", a.output.display()));
    Ok(Outcome::Ok)
}

/// Account id → ARR from a table's id and revenue columns.
fn arr_map(path: &std::path::Path, df: &polars::prelude::DataFrame, id: &str, col: &str) -> anyhow::Result<HashMap<String, f64>> {
    let f = Frame::new(path, df);
    let ids = f.strings(id, "account id")?;
    let arr = f.numbers(col, "revenue")?;
    Ok(ids.into_iter().zip(arr).filter_map(|(i, a)| Some((i?, a.unwrap_or(0.0)))).collect())
}
