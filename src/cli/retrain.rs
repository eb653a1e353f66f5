//! `healthscore retrain`: train a challenger and backtest it against the champion.

use std::path::PathBuf;

use crate::cli::{train, Log, Outcome};
use healthscore::backtest;
use healthscore::Registry;
use healthscore::Spec;
use healthscore::ValidateSettings as Settings;
use healthscore::{to_json, write_atomic};

/// Train a challenger version on all labeled history, then backtest the version
/// in use (the champion, as it stands) and the challenger (refitted without that
/// quarter) on the most recent labeled quarter, side by side: AUC, Brier and
/// calibration error of risk and upsell, with the paired bootstrap interval of
/// each AUC difference, and a recommendation (promote / keep).
///
/// With --promote-if-better the challenger is promoted only when the interval of
/// its risk-AUC gain lies above zero and upsell does not get significantly worse.
///
/// Example: healthscore retrain --spec training/saas.toml --input history.csv --promote-if-better
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model spec (TOML).
    #[arg(long)]
    pub spec: PathBuf,
    /// The labeled history, including the latest quarter's outcomes.
    #[arg(long)]
    pub input: PathBuf,
    /// The model registry directory.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Name of the challenger version (default: the quarter of the latest snapshot).
    #[arg(long)]
    pub version: Option<String>,
    /// Promote the challenger when it is clearly better.
    #[arg(long)]
    pub promote_if_better: bool,
    /// Write the backtest as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn run(a: Args, log: Log) -> anyhow::Result<Outcome> {
    let spec = Spec::load(&a.spec)?;
    let reg = Registry::new(&a.models);
    let champion = match reg.in_use()? {
        Some(u) => Some(reg.load(&u.version)?),
        None => None,
    };
    let targs = train::Args {
        spec: a.spec.clone(),
        input: a.input.clone(),
        models: a.models.clone(),
        version: a.version.clone(),
        keep_holdout_model: false,
    };
    let saved = train::train_and_save(&spec, &targs, log)?;
    let (tv, version) = (&saved.trained, saved.name.clone());
    let settings = Settings {
        seed: spec.seed,
        ..Default::default()
    };
    let bt = backtest(tv, champion.as_ref(), &a.input, &settings)?;
    out!("{}", bt.summary());
    if let Some(p) = &a.json {
        write_atomic(p, &to_json(&bt))?;
    }
    let in_use = reg.in_use()?.map(|u| u.version);
    if in_use.as_deref() == Some(version.as_str()) {
        log.info(format!("{version} is in use (it is the first version)"));
    } else if a.promote_if_better && bt.recommendation == "promote" {
        reg.promote(&version)?;
        log.info(format!("promoted {version} (was {})", in_use.unwrap_or_default()));
    } else if bt.recommendation == "promote" {
        log.info(format!(
            "to promote it: healthscore promote {version} --models {}",
            a.models.display()
        ));
    } else {
        log.info(format!(
            "{} stays in use; {version} is kept for the record",
            in_use.unwrap_or_default()
        ));
    }
    Ok(Outcome::Ok)
}
