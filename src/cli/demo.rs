//! `healthscore demo`: the quarterly loop on the bundled sample, end to end.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::{generate, report, score, train, validate, Log, Outcome};
use healthscore::Registry;
use healthscore::Spec;

/// Run the whole loop on the bundled sample: train a version on the synthetic
/// history (holdout report included), score the previous quarter and the live
/// accounts (drivers, what changed, alerts), validate the live scores against
/// what then happened (beside the hand-built score), and print where the HTML
/// reports are. Safe to re-run: each run trains a new version name.
///
/// Uses notebooks-data/ and training/saas.toml when run from the repository;
/// elsewhere it generates the sample into DIR/data first.
///
/// Example: healthscore demo --dir demo-out
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the models, scores and reports go.
    #[arg(long, default_value = "demo-out")]
    pub dir: PathBuf,
}

const SPEC: &str = include_str!("../../training/saas.toml");

pub fn run(a: Args, log: Log) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(&a.dir).with_context(|| format!("creating {}", a.dir.display()))?;
    let (data, spec) = if Path::new("notebooks-data/history.csv").is_file() && Path::new("training/saas.toml").is_file() {
        (PathBuf::from("notebooks-data"), Spec::load(Path::new("training/saas.toml"))?)
    } else {
        let data = a.dir.join("data");
        log.info(format!("generating the sample into {}", data.display()));
        generate::run(
            generate::Args {
                accounts: 5000,
                quarters: 8,
                seed: 42,
                cut: None,
                out: data.clone(),
                format: "csv".into(),
            },
            Log { quiet: true, ..log },
        )?;
        (data, Spec::parse(SPEC, Path::new("training/saas.toml"))?)
    };
    let models = a.dir.join("models");
    let reg = Registry::new(&models);
    log.info("== 1. train the risk and upsell models on the history (latest quarter held out)");
    let version = (1..)
        .map(|i| format!("demo-{i}"))
        .find(|v| !models.join(v).exists())
        .expect("a free version name");
    let targs = train::Args {
        spec: PathBuf::from("training/saas.toml"),
        input: data.join("history.csv"),
        models: models.clone(),
        version: Some(version.clone()),
        keep_holdout_model: false,
    };
    train::train_and_save(&spec, &targs, log)?;
    if reg.in_use()?.map(|u| u.version) != Some(version.clone()) {
        reg.promote(&version)?;
        log.info(format!("promoted {version}"));
    }

    log.info("\n== 2. score last quarter's accounts, then the live accounts with what changed");
    let dates = healthscore::read_table(&data.join("history.csv"), &spec.columns, &[], healthscore::Labels::IfPresent)?;
    let last = dates.dates.as_ref().and_then(|d| d.iter().max()).map(|d| d.to_string());
    let prev = a.dir.join("scores-previous.csv");
    score::run(
        score::Args {
            input: data.join("history.csv"),
            output: prev.clone(),
            models: models.clone(),
            version: None,
            top: 5,
            previous: None,
            previous_input: None,
            no_contributions: false,
            as_of: last,
        },
        Log { quiet: true, ..log },
    )?;
    let scores = a.dir.join("scores.csv");
    score::run(
        score::Args {
            input: data.join("live.csv"),
            output: scores.clone(),
            models: models.clone(),
            version: None,
            top: 5,
            previous: Some(prev),
            previous_input: None,
            no_contributions: false,
            as_of: None,
        },
        log,
    )?;
    print_alerts(&score::alerts_path(&scores), log)?;

    log.info("\n== 3. validate the live scores against what then happened");
    let report = a.dir.join("validation.html");
    validate::run(
        validate::Args {
            scores: scores.clone(),
            outcomes: data.join("outcomes.csv"),
            compare: None,
            report: Some(report.clone()),
            json: Some(a.dir.join("validation.json")),
            min_auc: None,
            resamples: 1000,
            seed: spec.seed,
            models: models.clone(),
            segment: None,
        },
        log,
    )?;
    let portfolio = a.dir.join("portfolio.html");
    report::run(
        report::Args {
            scores: scores.clone(),
            input: Some(data.join("live.csv")),
            previous: Some(a.dir.join("scores-previous.csv")),
            models: models.clone(),
            output: portfolio.clone(),
            json: Some(a.dir.join("portfolio.json")),
        },
        Log { quiet: true, ..log },
    )?;
    log.info("\n== reports");
    log.info(format!(
        "  holdout report:    {}",
        models.join(&version).join("report.html").display()
    ));
    log.info(format!("  validation report: {}", report.display()));
    log.info(format!("  portfolio:         {}", portfolio.display()));
    log.info(format!("  scores:            {}", scores.display()));
    log.info(format!("  alerts:            {}", score::alerts_path(&scores).display()));
    log.info(format!(
        "next: healthscore explain --models {} --input {} --account <id>",
        models.display(),
        data.join("live.csv").display()
    ));
    Ok(Outcome::Ok)
}

/// Shows the first alerts.
fn print_alerts(path: &Path, log: Log) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let _header = lines.next();
    let rows: Vec<&str> = lines.collect();
    log.info(format!("  {} alerts; the first ones:", rows.len()));
    for l in rows.iter().take(5) {
        let cells: Vec<&str> = l.split(',').collect();
        log.info(format!("    {}  {}", cells.first().unwrap_or(&""), cells.get(1).unwrap_or(&"")));
    }
    Ok(())
}
