//! `validate`: scores joined to what happened, measured into the
//! score-to-renewal report, with the bands, the segment column and the
//! outcome columns (id, date, labels and their values, revenue) of the
//! scores' version when the registry has it.

use std::path::Path;

use crate::data::frame::Frame;
use crate::data::read::{column_names, read_frame_columns};
use crate::data::spec::{Bands, Spec};
use crate::error::Result;
use crate::registry::Registry;
use polars::prelude::DataFrame;

use crate::validate::join::{join, join_frames, OutcomeColumns};
use crate::validate::{build, Report, Settings};

/// The version named in a scores frame's `model_version` column, if any.
fn version_of(path: &Path, scores: &DataFrame) -> Result<Option<String>> {
    let f = Frame::new(path, scores);
    if !f.has("model_version") {
        return Ok(None);
    }
    Ok(f.strings("model_version", "model version")?.into_iter().flatten().next())
}

/// What the scores' version says of the validation: its bands, its segment
/// column (unless `segment` is given) and the outcome table's columns.
fn settings_of(spec: Option<Spec>, segment: Option<&str>) -> (Bands, Option<String>, OutcomeColumns) {
    let bands = spec.as_ref().map(|s| s.bands.clone()).unwrap_or_default();
    let segment = segment
        .map(str::to_string)
        .or_else(|| spec.as_ref().and_then(|s| s.columns.segment.clone()));
    let columns = spec.map(|s| OutcomeColumns::of_spec(&s.columns)).unwrap_or_default();
    (bands, segment, columns)
}

/// What to validate.
#[derive(Debug, Clone, Copy)]
pub struct ValidateInput<'a> {
    /// Scores written by `score`.
    pub scores: &'a Path,
    /// What happened: the id (and snapshot date), churn and expansion labels
    /// and ARR, under the names of the version's spec (by default
    /// `account_id`, `snapshot_date`, `churned`, `expanded`, `arr`).
    pub outcomes: &'a Path,
    /// Another scores file of the same accounts (paired AUC difference).
    pub compare: Option<&'a Path>,
    /// The registry that holds the scores' version (for its bands and segment column).
    pub registry: &'a Registry,
    /// The segment column of the scores file (default: the version's spec).
    pub segment: Option<&'a str>,
}

/// The score-to-renewal report of a scores file against the outcomes.
///
/// ```no_run
/// use healthscore::{validate_files, Registry, ValidateInput, ValidateSettings};
/// let reg = Registry::new("models");
/// let input = ValidateInput {
///     scores: "scores.csv".as_ref(),
///     outcomes: "notebooks-data/outcomes.csv".as_ref(),
///     compare: None,
///     registry: &reg,
///     segment: None,
/// };
/// let report = validate_files(&input, &ValidateSettings::default(), "Q3 validation")?;
/// print!("{}", report.summary());
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn validate_files(input: &ValidateInput<'_>, settings: &Settings, title: &str) -> Result<Report> {
    // The version first, from the one column that names it.
    let version = if column_names(input.scores)?.iter().any(|c| c == "model_version") {
        let df = read_frame_columns(input.scores, &["model_version"], |c| c == "model_version")?;
        version_of(input.scores, &df)?
    } else {
        None
    };
    let spec = version.and_then(|v| input.registry.load(&v).ok().map(|l| l.manifest.spec));
    let (bands, segment, columns) = settings_of(spec, input.segment);
    let joined = join(input.scores, input.outcomes, input.compare, segment.as_deref(), &columns)?;
    Ok(build(&joined, &bands, settings, title))
}

/// The score-to-renewal report of scores and outcomes held as polars frames
/// (each with the name its errors quote), with the bands and segment column of
/// the scores' version when `registry` holds it.
///
/// ```no_run
/// use healthscore::{workflow::validate::validate_frames, Registry, ValidateSettings};
/// use polars::prelude::*;
/// let read = |p: &str| CsvReader::new(std::fs::File::open(p).unwrap()).finish().unwrap();
/// let (scores, outcomes) = (read("scores.csv"), read("notebooks-data/outcomes.csv"));
/// let reg = Registry::new("models");
/// let report = validate_frames(
///     ("scores".as_ref(), &scores),
///     ("outcomes".as_ref(), &outcomes),
///     None,
///     Some(&reg),
///     None,
///     &ValidateSettings::default(),
///     "Q3 validation",
/// )?;
/// print!("{}", report.summary());
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn validate_frames(
    scores: (&Path, &DataFrame),
    outcomes: (&Path, &DataFrame),
    compare: Option<(&Path, &DataFrame)>,
    registry: Option<&Registry>,
    segment: Option<&str>,
    settings: &Settings,
    title: &str,
) -> Result<Report> {
    let spec = version_of(scores.0, scores.1)?
        .zip(registry)
        .and_then(|(v, r)| r.load(&v).ok().map(|l| l.manifest.spec));
    let (bands, segment, columns) = settings_of(spec, segment);
    let joined = join_frames(scores, outcomes, compare, segment.as_deref(), &columns)?;
    Ok(build(&joined, &bands, settings, title))
}

/// The outcome of the minimum-AUC gate.
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    /// The lower bound of the risk AUC's interval is at least the minimum.
    Passed,
    /// It is below (or not measurable); the reason in words.
    Failed(String),
}

/// The minimum-AUC gate: passes when the lower bound of the risk AUC's
/// bootstrap interval is at least `min`.
pub fn min_auc_gate(report: &Report, min: f64) -> Gate {
    match &report.risk {
        Some(r) if r.roc_auc.lower.is_nan() || r.roc_auc.lower < min => Gate::Failed(format!(
            "the risk AUC interval's lower bound {:.3} is below the minimum {min}",
            r.roc_auc.lower
        )),
        Some(_) => Gate::Passed,
        None => Gate::Failed("a minimum AUC was asked for but the scores hold no risk with known outcomes".into()),
    }
}
