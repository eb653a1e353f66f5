//! `healthscore bench`: timings and memory at scale.

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::{Log, Outcome};
use healthscore::{to_json, write_atomic};

/// Time the main steps on generated data of a given shape: reading Parquet and
/// CSV, fitting the logistic model and 300 boosted trees of depth 6, scoring
/// with top-5 drivers into Parquet with each model, TreeSHAP rows per second,
/// and the peak resident memory of each step. Prints a table; --json writes it.
/// The data files stay in --dir for `benches/peers.py` (scikit-learn, LightGBM, shap),
/// and so do the fitted models, as registries `models-logistic` and `models-gbdt`
/// (version `bench`), so that a scoring step can be rerun alone with `healthscore score`.
///
/// Example: healthscore bench --rows 1000000 --features 40 --json bench.json
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    #[arg(long, default_value_t = 40)]
    pub features: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where the generated data and scores go.
    #[arg(long, default_value = "bench-data")]
    pub dir: PathBuf,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Skip the boosted trees (their fit, scoring and TreeSHAP): a quick run of
    /// the reading, logistic and scoring steps.
    #[arg(long)]
    pub no_trees: bool,
}

pub fn run(a: Args, log: Log) -> anyhow::Result<Outcome> {
    if a.rows < 100 || a.features < 4 {
        anyhow::bail!("--rows must be at least 100 and --features at least 4");
    }
    std::fs::create_dir_all(&a.dir).with_context(|| format!("creating {}", a.dir.display()))?;
    log.info(format!(
        "generating {} × {} and running the steps (data in {})",
        a.rows,
        a.features,
        a.dir.display()
    ));
    let r = healthscore::bench::run(a.rows, a.features, a.seed, &a.dir, !a.no_trees)?;
    out!("{}", r.table());
    if let Some(p) = &a.json {
        write_atomic(p, &to_json(&r))?;
    }
    Ok(Outcome::Ok)
}
