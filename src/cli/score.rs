//! `healthscore score`: scores live accounts with the version in use.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::{Log, Outcome};
use healthscore::parse_date;
use healthscore::Format;
use healthscore::Registry;
use healthscore::{read_table_date_optional, score_file, DriftLevel, Labels, Previous, ScoreOptions};
use healthscore::{refuse_input_as_output, write_atomic};

/// Score live accounts: risk, upsell, health (100 × (1 − risk)), band, action,
/// the top drivers of each score, a contribution per category, and the
/// hand-built score beside them.
///
/// With --previous, also the previous band and risk, what moved the score, and
/// alerts (band fell, or risk rose more than the spec's threshold), which are
/// also written to `<output stem>.alerts.<ext>`, each with a reason sentence.
/// With --previous-input too (the table the previous run scored), each
/// change splits into the customer's part and the model's. Output format by extension:
/// .csv, .parquet, .jsonl. Nothing but data goes to stdout.
///
/// Rows are read, scored and written in blocks of 32,768 (CSV or Parquet), so
/// memory stays near a few blocks plus the models. The output file appears
/// only when every block is written.
///
/// Example: healthscore score --input notebooks-data/live.csv --output scores.csv
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Live accounts (CSV or Parquet), with the features of the version.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the scores (.csv, .parquet or .jsonl).
    #[arg(long)]
    pub output: PathBuf,
    /// The model registry directory.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Score with this version instead of the version in use.
    #[arg(long)]
    pub version: Option<String>,
    /// Drivers listed per score.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// An earlier scores file of the same accounts, to explain changes and raise alerts.
    #[arg(long)]
    pub previous: Option<PathBuf>,
    /// The feature table the --previous run scored: it is scored again with
    /// this version, so that each account's change splits into
    /// `risk_change_customer` (the customer changed) and `risk_change_model`
    /// (the model changed).
    #[arg(long, requires = "previous", value_name = "TABLE")]
    pub previous_input: Option<PathBuf>,
    /// Leave out the per-feature `risk_contrib_<feature>` columns: a narrower,
    /// faster file. A later `--previous` run against it still raises alerts but
    /// cannot say which features moved the score.
    #[arg(long)]
    pub no_contributions: bool,
    /// Score only rows with this snapshot date (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
}

/// A temporary path beside `output` with its extension (so the format is the
/// same), removed when dropped unless persisted.
fn stage_beside(output: &Path) -> anyhow::Result<tempfile::TempPath> {
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let ext = output.extension().and_then(|e| e.to_str()).unwrap_or("csv");
    let tmp = tempfile::Builder::new()
        .prefix(&healthscore::temp_prefix())
        .suffix(&format!(".{ext}"))
        .tempfile_in(dir)
        .map_err(|e| healthscore::Error::io(output, e))?;
    Ok(tmp.into_temp_path())
}

/// The alerts file that goes with an output path.
pub fn alerts_path(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "scores".into());
    let ext = output
        .extension()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "csv".into());
    output.with_file_name(format!("{stem}.alerts.{ext}"))
}

pub fn run(a: Args, log: Log) -> anyhow::Result<Outcome> {
    let format = Format::from_path(&a.output)?;
    if let Some(dir) = a.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            anyhow::bail!(
                "{}: the output directory {} does not exist; create it first",
                a.output.display(),
                dir.display()
            );
        }
    }
    // Neither the scores nor the alerts may replace a file the run reads.
    let mut inputs: Vec<&std::path::Path> = vec![&a.input];
    inputs.extend(a.previous.as_deref());
    inputs.extend(a.previous_input.as_deref());
    for out in [a.output.clone(), alerts_path(&a.output)] {
        refuse_input_as_output(&out, &inputs)?;
    }
    let as_of = match &a.as_of {
        Some(s) => Some(parse_date(s).with_context(|| format!("--as-of `{s}` is not a date; write YYYY-MM-DD"))?),
        None => None,
    };
    let reg = Registry::new(&a.models);
    let version = reg.resolve(a.version.as_deref())?;
    let loaded = reg.load(&version)?;
    if a.version.is_none() {
        let written = reg.written()?;
        if let Some(at) = written.iter().position(|w| w.version == version) {
            let newer: Vec<&str> = written[at + 1..].iter().map(|w| w.version.as_str()).collect();
            if let Some(last) = newer.last() {
                log.warn(format!(
                    "scoring with {version}, the version in use; {} trained after it and not promoted: compare with `healthscore retrain`, or `healthscore promote {last}`",
                    newer.join(", ")
                ));
            }
        }
    }
    let mut previous = a
        .previous
        .as_deref()
        .map(Previous::read)
        .transpose()
        .context("reading the previous scores")?;
    if let Some(p) = &mut previous {
        match (&p.version, &a.previous_input) {
            (Some(v), None) if *v != version => log.warn(format!(
                "the previous scores were written by version {v}, these by {version}: a change of risk may be the model's, not \
                 the customer's; give --previous-input (the table the previous run scored) to tell them apart"
            )),
            _ => {}
        }
        if let Some(input) = &a.previous_input {
            // Read as the live table is, without requiring the kept columns: they are not scored.
            let spec = &loaded.manifest.spec;
            let table = read_table_date_optional(input, &spec.columns, &loaded.manifest.features, Labels::IfPresent)
                .context("reading --previous-input")?;
            p.rescore(&loaded, table);
        }
    }
    // With alerts, the scores go to a temporary file that takes its place only
    // once the alerts are written too: a failed run leaves neither behind.
    let staged = match &previous {
        Some(_) => Some(stage_beside(&a.output)?),
        None => None,
    };
    let (summary, alerts) = score_file(
        &loaded,
        &a.input,
        as_of,
        previous.as_ref(),
        ScoreOptions {
            top: a.top,
            contributions: !a.no_contributions,
            ..Default::default()
        },
        staged.as_ref().map(|t| t.as_ref()).unwrap_or(&a.output),
    )?;
    let s = &summary;
    log.info(format!(
        "scored {} accounts with version {} → {}",
        s.rows,
        s.version,
        a.output.display()
    ));
    let counts = |m: &std::collections::BTreeMap<String, usize>, keys: &[&str]| {
        keys.iter()
            .map(|k| format!("{k} {}", m.get(*k).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    log.info(format!("  bands: {}", counts(&s.bands, &["green", "yellow", "red"])));
    log.info(format!("  actions: {}", counts(&s.actions, &["protect", "grow", "nurture"])));
    if let Some(staged) = staged {
        let path = alerts_path(&a.output);
        write_atomic(&path, &alerts.render(format)?)?;
        staged.persist(&a.output).map_err(|e| healthscore::Error::io(&a.output, e.error))?;
        log.info(format!(
            "  {} alerts ({} of {} accounts matched the previous run) → {}",
            s.alerts,
            s.previous_matched.unwrap_or(0),
            s.rows,
            path.display()
        ));
    }
    for (f, n) in &s.unseen_categories {
        log.warn(format!(
            "feature `{f}`: {n} rows hold a category never seen in training; they were scored in the `(other)` bucket"
        ));
    }
    if !s.out_of_range.is_empty() {
        let list: Vec<String> = s.out_of_range.iter().map(|(f, n)| format!("{f} ({n})")).collect();
        log.warn(format!(
            "values far outside the training range: {}; check units and exports, or retrain",
            list.join(", ")
        ));
    }
    let major: Vec<String> = s
        .drift
        .iter()
        .filter(|d| d.level == DriftLevel::Major && !d.expected)
        .map(|d| format!("{} (PSI {:.2})", d.feature, d.psi))
        .collect();
    let moderate: Vec<String> = s
        .drift
        .iter()
        .filter(|d| d.level == DriftLevel::Moderate && !d.expected)
        .map(|d| format!("{} ({:.2})", d.feature, d.psi))
        .collect();
    if !major.is_empty() {
        log.warn(format!(
            "major drift against the training data (PSI > 0.25): {}; scores may be off until you retrain",
            major.join(", ")
        ));
    }
    let expected: Vec<String> = s
        .drift
        .iter()
        .filter(|d| d.expected && d.level != DriftLevel::Stable)
        .map(|d| format!("{} (PSI {:.2})", d.feature, d.psi))
        .collect();
    if !expected.is_empty() {
        log.info(format!(
            "  expected drift, features that grow with time by design: {}; no reason to retrain",
            expected.join(", ")
        ));
    }
    if !moderate.is_empty() {
        log.info(format!("  moderate drift (PSI 0.1–0.25): {}", moderate.join(", ")));
    }
    Ok(Outcome::Ok)
}
