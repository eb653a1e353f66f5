//! `healthscore export sql`: a version as one SQL query the warehouse runs.

use std::path::PathBuf;

use crate::cli::{Log, Outcome};
use healthscore::{export_sql, write_atomic, Dialect, Registry, SqlOptions};

/// A version in a form another engine runs.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// One SQL SELECT over the live table that computes what `score` computes:
    /// the preprocessing, the model (each tree a nested CASE), the calibration,
    /// segment routing, then risk, upsell, health, band, action, model_version,
    /// and for logistic models each category's contribution in log-odds.
    ///
    /// Example: healthscore export sql --dialect duckdb --table accounts --output score.sql
    Sql(SqlArgs),
}

#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// duckdb, postgres, spark, bigquery or snowflake.
    #[arg(long, value_parser = parse_dialect)]
    pub dialect: Dialect,
    /// The live table the query reads (`schema.table` allowed).
    #[arg(long, default_value = "accounts")]
    pub table: String,
    /// Write the query here (default: stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// The model registry directory.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// The version to export (default: the one in use).
    #[arg(long)]
    pub version: Option<String>,
}

fn parse_dialect(s: &str) -> Result<Dialect, String> {
    Dialect::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Dialect::ALL.iter().map(|d| d.name()).collect();
        format!("unknown dialect `{s}`; use one of {}", names.join(", "))
    })
}

pub fn run(c: Command, log: Log) -> anyhow::Result<Outcome> {
    let Command::Sql(a) = c;
    if a.table.trim().is_empty() || a.table.split('.').any(|p| p.is_empty()) {
        anyhow::bail!("--table `{}` is not a table name", a.table);
    }
    let reg = Registry::new(&a.models);
    let loaded = reg.load(&reg.resolve(a.version.as_deref())?)?;
    if loaded.manifest.spec.columns.numbered_rows() {
        anyhow::bail!(
            "version {} was trained on a table without an id column (its accounts are numbered by row), and a SQL table has no row order to number them by; add an id column to the table and to the spec's columns.id, then train again",
            loaded.version
        );
    }
    let opts = SqlOptions {
        dialect: a.dialect,
        table: a.table.clone(),
        checksum: loaded.manifest_sha256()?,
    };
    let sql = export_sql(&loaded, &opts);
    match &a.output {
        Some(p) => {
            write_atomic(p, sql.as_bytes())?;
            log.info(format!(
                "wrote {} ({} dialect, version {})",
                p.display(),
                a.dialect.name(),
                loaded.version
            ));
        }
        None => out!("{sql}"),
    }
    Ok(Outcome::Ok)
}
