//! `healthscore generate`: writes a synthetic account history.

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::{Log, Outcome};
use healthscore::Format;
use healthscore::{generate, SynthParams};
use healthscore::{to_json, write_atomic};

/// Generate a synthetic SaaS account history with known ground truth.
///
/// Writes `history` (labeled quarterly snapshots), `live` (the next snapshot,
/// unlabeled), `outcomes` (what then happened to the live accounts) and
/// `truth.json` (the true functions and each row's true probabilities).
/// The same arguments give the same bytes.
///
/// Example: healthscore generate --accounts 2000 --quarters 6 --seed 7 --out data/
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Accounts that ever exist.
    #[arg(long, default_value_t = 5000)]
    pub accounts: usize,
    /// Quarterly snapshot dates in the history.
    #[arg(long, default_value_t = 8)]
    pub quarters: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Cut the history after K quarters; `live` and `outcomes` are then quarter K+1
    /// of the same simulated business (for running the quarterly recipe).
    #[arg(long, value_name = "K")]
    pub cut: Option<usize>,
    /// Output directory (created if missing). Required, so that the bundled
    /// sample in `notebooks-data/` is never overwritten by accident.
    #[arg(long)]
    pub out: PathBuf,
    /// File format of the tables: csv or parquet.
    #[arg(long, default_value = "csv", value_parser = ["csv", "parquet"])]
    pub format: String,
}

pub fn run(a: Args, log: Log) -> anyhow::Result<Outcome> {
    if a.accounts == 0 || a.quarters == 0 {
        anyhow::bail!("--accounts and --quarters must be at least 1");
    }
    if let Some(k) = a.cut {
        if k == 0 || k > a.quarters {
            anyhow::bail!("--cut must lie between 1 and --quarters ({})", a.quarters);
        }
    }
    let g = generate(&SynthParams {
        accounts: a.accounts,
        quarters: a.quarters,
        seed: a.seed,
        cut: a.cut,
        ..Default::default()
    });
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let format = if a.format == "parquet" { Format::Parquet } else { Format::Csv };
    for (name, table) in [("history", &g.history), ("live", &g.live), ("outcomes", &g.outcomes)] {
        let path = a.out.join(format!("{name}.{}", format.extension()));
        write_atomic(&path, &table.render(format)?).with_context(|| format!("writing {}", path.display()))?;
        log.info(format!("wrote {} ({} rows)", path.display(), table.rows()));
    }
    let path = a.out.join("truth.json");
    write_atomic(&path, &to_json(&g.truth))?;
    log.info(format!("wrote {}", path.display()));
    Ok(Outcome::Ok)
}
