//! `score`: scores live accounts with a version: both probabilities, the 0–100
//! health score and its band, the action, the exact drivers of each score, the
//! category roll-up, the hand-built score beside it, what changed since a
//! previous run (with alerts), and drift against the training data.
//!
//! Health = 100 × (1 − risk), rounded to one decimal: a 30% churn risk is a
//! health of 70. Attributions are in the model's log-odds (before calibration).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use polars::prelude::DataFrame;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

mod card;
mod checks;
mod previous;
mod rows;

use crate::data::spec::{health_of, Action, Band, Category, Spec};
use crate::data::write::{push_float, OutColumn, OutTable, Sink, TextCells};
use crate::data::{
    frame::Frame,
    read::{read_frame_text, read_table_date_optional, table_from_frame, TableBlocks},
    table::{Labels, Table},
    values::FeatureValues,
};
use crate::error::{Error, Result};
use crate::explain::{by_category, top_k, top_k_into, Explained, Explainer};
use crate::features::reference::{DriftLevel, LiveCounts};
use crate::model::Target;
use crate::registry::Loaded;
use crate::rules::CategoryScores;
pub use card::{account_card, card, card_change, card_text, AccountCard, CardChange, CardDriver, CardModel, CardMove};
pub use checks::data_checks;
use checks::DataChecks;
use previous::CONTRIB;
pub use previous::{Previous, PreviousRow};
use rows::render_rows;
pub use rows::value_text;

/// The scores of one target for every row.
#[derive(Debug, Clone)]
pub struct TargetScores {
    pub probability: Vec<f64>,
    pub explained: Explained,
}

/// Everything computed for the scored rows.
#[derive(Debug, Clone)]
pub struct Scored {
    pub table: Table,
    pub version: String,
    pub risk: Option<TargetScores>,
    pub upsell: Option<TargetScores>,
    pub health: Vec<Option<f64>>,
    pub band: Vec<Option<Band>>,
    pub action: Vec<Action>,
    pub rules_health: Vec<f64>,
    /// Accounts not in the red band that barely use the product ([`zombies`]).
    pub zombie: Vec<bool>,
}

/// Accounts outside the red band whose engagement and usage — the mean of
/// those two categories' scores in the hand-built score, each a percentile of
/// the training reference oriented so that higher is healthier — is at or
/// below `percentile`: the model does not expect them to churn while they
/// barely use the product. An account without engagement or usage features
/// is never one.
///
/// ```
/// use healthscore::{rules::CategoryScores, workflow::score::zombies, Band, Category};
/// let (low, busy) = (vec![Some(10.0), Some(15.0)], vec![Some(10.0), Some(90.0)]);
/// let scores = CategoryScores::from_rows(vec![Category::Engagement, Category::Usage], &[low.clone(), low.clone(), busy, low]);
/// let bands = [Some(Band::Green), Some(Band::Yellow), Some(Band::Green), Some(Band::Red)];
/// assert_eq!(zombies(&scores, &bands, 20.0), [true, true, false, false]);
/// ```
pub fn zombies(categories: &CategoryScores, band: &[Option<Band>], percentile: f64) -> Vec<bool> {
    band.iter()
        .enumerate()
        .map(|(r, b)| {
            let used: Vec<f64> = [Category::Engagement, Category::Usage]
                .into_iter()
                .filter_map(|k| categories.get(r, k))
                .collect();
            b.is_some_and(|b| b != Band::Red) && !used.is_empty() && used.iter().sum::<f64>() / used.len() as f64 <= percentile
        })
        .collect()
}

/// Reads a live table with the version's spec and features.
pub fn read_live(loaded: &Loaded, input: &Path) -> Result<Table> {
    read_table_date_optional(input, &loaded.manifest.spec.columns, &loaded.manifest.features, Labels::IfPresent)
        .and_then(|t| check_kept(loaded, t, || file_columns(input)))
}

/// The table, or the error naming a column of `columns.keep` it lacks: the
/// scores were asked to carry it. (Training reads it when present, and
/// never needs it.)
fn check_kept(loaded: &Loaded, t: Table, columns: impl FnOnce() -> Vec<String>) -> Result<Table> {
    let keep = &loaded.manifest.spec.columns.keep;
    match keep.iter().find(|k| !t.kept.iter().any(|(n, _)| n == *k)) {
        None => Ok(t),
        Some(k) => Err(Error::MissingColumn {
            path: t.path.clone(),
            column: k.clone(),
            role: "kept column (columns.keep)".into(),
            available: crate::data::frame::column_list(columns()),
        }),
    }
}

/// The column names of a table file, for [`check_kept`]'s message.
fn file_columns(path: &Path) -> Vec<String> {
    crate::data::read::column_names(path).unwrap_or_default()
}

/// A live table held as a polars frame, checked as [`read_live`] checks a
/// file; `name` stands for the file in error messages. A snapshot date column
/// the spec names and the frame lacks is skipped.
pub fn live_from_frame(loaded: &Loaded, name: &Path, df: DataFrame) -> Result<Table> {
    let mut columns = loaded.manifest.spec.columns.clone();
    if columns.date.as_ref().is_some_and(|d| df.column(d).is_err()) {
        columns.date = None;
    }
    if df.height() == 0 {
        return Err(Error::EmptyTable { path: name.to_path_buf() });
    }
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    table_from_frame(name, df, &columns, &loaded.manifest.features, Labels::IfPresent).and_then(|t| check_kept(loaded, t, || names))
}

/// The explainers of a version's two models, kept for every block of a run
/// so that the TreeSHAP tables are built once.
#[derive(Debug)]
pub struct Explainers<'m> {
    pub risk: Option<Explainer<'m>>,
    pub upsell: Option<Explainer<'m>>,
}

impl<'m> Explainers<'m> {
    /// Explainers of the models of `loaded`; no table is built yet.
    pub fn new(loaded: &'m Loaded) -> Explainers<'m> {
        Explainers {
            risk: loaded.risk.as_ref().map(Explainer::new),
            upsell: loaded.upsell.as_ref().map(Explainer::new),
        }
    }

    /// The explainer of a target, if the version has its model.
    pub fn of(&self, t: Target) -> Option<&Explainer<'m>> {
        match t {
            Target::Risk => self.risk.as_ref(),
            Target::Upsell => self.upsell.as_ref(),
        }
    }
}

/// Scores every row of `table`.
pub fn score(loaded: &Loaded, table: Table) -> Scored {
    score_with(loaded, &Explainers::new(loaded), table)
}

/// Scores every row of `table` with explainers kept across calls.
pub fn score_with(loaded: &Loaded, explainers: &Explainers<'_>, table: Table) -> Scored {
    let spec = &loaded.manifest.spec;
    let run = |t: Target| {
        explainers.of(t).map(|e| {
            let m = e.model;
            let explained = e.explain(&table);
            let a = &explained.attributions;
            let probability = (0..table.len())
                .into_par_iter()
                .map(|r| m.probability(a.base[r] + a.contributions.row(r).sum()))
                .collect();
            TargetScores { probability, explained }
        })
    };
    let risk = run(Target::Risk);
    let upsell = run(Target::Upsell);
    let n = table.len();
    let health: Vec<Option<f64>> = (0..n).map(|r| risk.as_ref().map(|s| health_of(s.probability[r]))).collect();
    let band: Vec<Option<Band>> = health.iter().map(|h| h.map(|h| spec.band(h))).collect();
    let action = (0..n)
        .map(|r| {
            Action::of(
                &spec.actions,
                risk.as_ref().map(|s| s.probability[r]),
                upsell.as_ref().map(|s| s.probability[r]),
            )
        })
        .collect();
    let categories = loaded.manifest.rules.category_scores(&table);
    let rules_health = loaded.manifest.rules.health_of_categories(&categories);
    let zombie = zombies(&categories, &band, spec.actions.zombie_percentile);
    Scored {
        table,
        version: loaded.version.clone(),
        risk,
        upsell,
        health,
        band,
        action,
        rules_health,
        zombie,
    }
}

/// Drift of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub feature: String,
    pub psi: f64,
    pub level: DriftLevel,
    /// The feature grows with time by design (see
    /// [`FeatureReference::grows_with_time`](crate::features::reference::FeatureReference)):
    /// its drift is expected and no reason to retrain.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expected: bool,
}

/// What the terminal summary of a scoring run shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ScoreSummary {
    pub rows: usize,
    pub version: String,
    pub bands: BTreeMap<String, usize>,
    pub actions: BTreeMap<String, usize>,
    pub alerts: usize,
    pub unseen_categories: BTreeMap<String, usize>,
    pub out_of_range: BTreeMap<String, usize>,
    pub drift: Vec<Drift>,
    /// Accounts of the previous run that joined.
    pub previous_matched: Option<usize>,
}

impl ScoreSummary {
    /// Adds the counts of one block's summary (rows, alerts, bands, actions,
    /// previous matches); the data checks are gathered over all blocks apart.
    fn add(&mut self, s: ScoreSummary) {
        self.rows += s.rows;
        self.alerts += s.alerts;
        for (k, v) in s.bands {
            *self.bands.entry(k).or_default() += v;
        }
        for (k, v) in s.actions {
            *self.actions.entry(k).or_default() += v;
        }
        if let (Some(a), Some(b)) = (self.previous_matched.as_mut(), s.previous_matched) {
            *a += b;
        }
    }
}

/// The output tables of a scoring run.
pub struct ScoreOutput {
    pub scores: OutTable,
    pub alerts: OutTable,
    pub summary: ScoreSummary,
}

pub(super) fn fmt_contrib(name: &str, v: f64) -> String {
    format!("{name} ({v:+.3})")
}

/// What a scores file holds, and how it is written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreOptions {
    /// Drivers listed per score.
    pub top: usize,
    /// Every feature's risk contribution (`risk_contrib_<f>`), which a later
    /// run's `--previous` needs to say which features moved a score.
    pub contributions: bool,
    /// Rows scored and written at a time by [`score_to_file`].
    pub block_rows: usize,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            top: 5,
            contributions: true,
            block_rows: 32_768,
        }
    }
}

/// Renders the scores (and alerts, with a previous run) as tables.
pub fn render(scored: &Scored, loaded: &Loaded, previous: Option<&Previous>, opts: ScoreOptions) -> ScoreOutput {
    let mut out = render_rows(scored, scored.table.ids.clone(), loaded, previous, opts);
    data_checks(loaded, &scored.table, &mut out.summary);
    sort_alerts(&mut out.alerts);
    out
}

/// Scores a live table held as a polars frame (checked as [`read_live`]
/// checks a file; `name` stands for the file in error messages) and renders
/// the scores, the alerts (with a previous run) and the summary: the same rows
/// and columns as the scores file of [`score_file`].
///
/// ```no_run
/// use healthscore::{Registry, ScoreOptions, workflow::score::score_frame};
/// use polars::prelude::*;
/// let reg = Registry::new("models");
/// let loaded = reg.load(&reg.resolve(None)?)?;
/// let file = std::fs::File::open("notebooks-data/live.csv").unwrap();
/// let live = CsvReader::new(file).finish().unwrap();
/// let out = score_frame(&loaded, "live".as_ref(), live, None, ScoreOptions::default())?;
/// let scores = out.scores.into_frame()?;
/// println!("{} accounts scored", scores.height());
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn score_frame(loaded: &Loaded, name: &Path, live: DataFrame, previous: Option<&Previous>, opts: ScoreOptions) -> Result<ScoreOutput> {
    let table = live_from_frame(loaded, name, live)?;
    // Block by block, as the files are scored: each block's attributions stay
    // in cache, and the output is the same rows as one block would give.
    let explainers = Explainers::new(loaded);
    let step = opts.block_rows.max(1);
    let mut summary = ScoreSummary {
        version: loaded.version.clone(),
        previous_matched: previous.map(|_| 0),
        ..Default::default()
    };
    let (mut scores, mut alerts) = (OutTable::default(), OutTable::default());
    for start in (0..table.len()).step_by(step) {
        let rows: Vec<usize> = (start..(start + step).min(table.len())).collect();
        let mut scored = score_with(loaded, &explainers, table.select(&rows));
        let ids = std::mem::take(&mut scored.table.ids);
        let part = render_rows(&scored, ids, loaded, previous, opts);
        summary.add(part.summary);
        scores.append(part.scores);
        alerts.append(part.alerts);
    }
    data_checks(loaded, &table, &mut summary);
    sort_alerts(&mut alerts);
    Ok(ScoreOutput { scores, alerts, summary })
}

/// Scores `table` in blocks of `opts.block_rows` and streams the rows to
/// `output` (CSV, Parquet or JSON lines by extension) through a temporary file
/// renamed into place at the end: memory holds the input table and one block,
/// not the whole output. Returns the summary and the alerts (with a previous
/// run); the rows are the same as [`render`]'s. [`score_file`] streams the
/// input too.
///
/// ```no_run
/// use healthscore::{registry::Registry, workflow::score::*};
/// let reg = Registry::new("models");
/// let loaded = reg.load(&reg.resolve(None)?)?;
/// let live = read_live(&loaded, "notebooks-data/live.csv".as_ref())?;
/// let (summary, _alerts) = score_to_file(&loaded, &live, None, ScoreOptions::default(), "scores.parquet".as_ref())?;
/// println!("{} accounts, bands {:?}", summary.rows, summary.bands);
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn score_to_file(
    loaded: &Loaded,
    table: &Table,
    previous: Option<&Previous>,
    opts: ScoreOptions,
    output: &Path,
) -> Result<(ScoreSummary, OutTable)> {
    let step = opts.block_rows.max(1);
    let blocks = (0..table.len()).step_by(step).map(|start| {
        let rows: Vec<usize> = (start..(start + step).min(table.len())).collect();
        Ok(table.select(&rows))
    });
    let no_rows = || Error::Input(format!("{}: no rows to score", table.path.display()));
    score_blocks(loaded, blocks, previous, opts, output, no_rows)
}

/// Reads the live accounts in `input` block by block (see [`TableBlocks`]),
/// keeps the rows of snapshot date `as_of` when given, scores them and streams
/// them to `output` as [`score_to_file`] does: memory holds one block of the
/// input and of the output, not the files.
///
/// ```no_run
/// use healthscore::{registry::Registry, workflow::score::*};
/// let reg = Registry::new("models");
/// let loaded = reg.load(&reg.resolve(None)?)?;
/// let (summary, _alerts) = score_file(&loaded, "live.parquet".as_ref(), None, None, ScoreOptions::default(), "scores.parquet".as_ref())?;
/// println!("{} accounts, drift {:?}", summary.rows, summary.drift);
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn score_file(
    loaded: &Loaded,
    input: &Path,
    as_of: Option<chrono::NaiveDate>,
    previous: Option<&Previous>,
    opts: ScoreOptions,
    output: &Path,
) -> Result<(ScoreSummary, OutTable)> {
    let spec = &loaded.manifest.spec;
    let blocks = TableBlocks::open(input, &spec.columns, &loaded.manifest.features, Labels::IfPresent, opts.block_rows)?;
    let Some(day) = as_of else {
        let no_rows = || Error::Input(format!("{}: no rows to score", input.display()));
        return score_blocks(loaded, blocks, previous, opts, output, no_rows);
    };
    if !blocks.has_dates() {
        return Err(Error::Input(format!(
            "{}: scoring as of a date needs a snapshot date column",
            input.display()
        )));
    }
    let kept = blocks
        .map(|b| b.map(|t| keep_date(t, day)))
        .filter(|b| b.as_ref().map_or(true, |t| !t.is_empty()));
    let no_rows = || Error::Input(format!("{}: no rows with snapshot date {day}", input.display()));
    score_blocks(loaded, kept, previous, opts, output, no_rows)
}

/// The rows of `t` with snapshot date `day`.
fn keep_date(t: Table, day: chrono::NaiveDate) -> Table {
    let Some(dates) = &t.dates else { return t };
    if dates.iter().all(|d| *d == day) {
        return t;
    }
    let rows: Vec<usize> = (0..t.len()).filter(|&r| dates[r] == day).collect();
    t.select(&rows)
}

/// Scores and writes each block in turn; the data checks are gathered over all
/// blocks. Nothing is left at `output` unless every block was written; when
/// no block holds a row, the error is `no_rows()`.
///
/// Three stages run at once, handing blocks over through one-slot channels:
/// reading (and the data checks), scoring, and writing — so that reading the
/// next block and encoding the last one overlap with scoring this one.
fn score_blocks(
    loaded: &Loaded,
    blocks: impl Iterator<Item = Result<Table>> + Send,
    previous: Option<&Previous>,
    opts: ScoreOptions,
    output: &Path,
    no_rows: impl FnOnce() -> Error,
) -> Result<(ScoreSummary, OutTable)> {
    use std::sync::mpsc::sync_channel;
    let sink = Sink::create(output)?;
    let mut summary = ScoreSummary {
        version: loaded.version.clone(),
        previous_matched: previous.map(|_| 0),
        ..Default::default()
    };
    let mut alerts = OutTable::default();
    let explainers = Explainers::new(loaded);
    let explainers = &explainers;
    std::thread::scope(|scope| {
        // The boosted models' TreeSHAP tables are built while the first block
        // is read; should the thread not start, the first block builds them.
        for e in [&explainers.risk, &explainers.upsell].into_iter().flatten() {
            let _ = std::thread::Builder::new()
                .name("score-tables".into())
                .spawn_scoped(scope, move || e.prepare());
        }
        let (read_tx, read_rx) = sync_channel::<Result<Table>>(1);
        let reader = std::thread::Builder::new()
            .name("score-reader".into())
            .spawn_scoped(scope, move || {
                let mut checks = DataChecks::new(loaded);
                for block in blocks {
                    let block = block.and_then(|t| {
                        let path = t.path.clone();
                        check_kept(loaded, t, move || file_columns(&path))
                    });
                    if let Ok(t) = &block {
                        checks.add(t);
                    }
                    let failed = block.is_err();
                    // A closed channel means scoring stopped; so does a failed block.
                    if read_tx.send(block).is_err() || failed {
                        break;
                    }
                }
                checks
            })
            .map_err(|e| Error::io(output, e))?;
        let (write_tx, write_rx) = sync_channel::<OutTable>(1);
        let writer = std::thread::Builder::new()
            .name("score-writer".into())
            .spawn_scoped(scope, move || -> Result<Sink> {
                let mut sink = sink;
                for part in write_rx {
                    sink.write(part)?;
                }
                Ok(sink)
            })
            .map_err(|e| Error::io(output, e))?;
        for block in read_rx {
            let block = block?;
            let mut scored = score_with(loaded, explainers, block);
            let ids = std::mem::take(&mut scored.table.ids);
            let part = render_rows(&scored, ids, loaded, previous, opts);
            drop(scored);
            if write_tx.send(part.scores).is_err() {
                // The writer failed; its error is collected below.
                break;
            }
            summary.add(part.summary);
            alerts.append(part.alerts);
        }
        drop(write_tx);
        let sink = writer.join().expect("the writer thread does not panic")?;
        let checks = reader.join().expect("the reader thread does not panic");
        if summary.rows == 0 {
            return Err(no_rows());
        }
        sink.finish()?;
        checks.finish(&mut summary);
        Ok(())
    })?;
    sort_alerts(&mut alerts);
    Ok((summary, alerts))
}

/// Alerts, most at stake first: by expected ARR loss when the revenue is
/// known, else by risk; ties by account id, so the order is reproducible.
pub fn sort_alerts(alerts: &mut OutTable) {
    let key = |name: &str| match alerts.column(name) {
        Some(OutColumn::Float(v)) => Some(v.iter().map(|x| x.unwrap_or(f64::NEG_INFINITY)).collect::<Vec<f64>>()),
        _ => None,
    };
    let Some(k) = key("expected_arr_loss").or_else(|| key("risk")) else {
        return;
    };
    let ids: Vec<Option<String>> = match alerts.column("account_id") {
        Some(OutColumn::Text(v)) => v.clone(),
        _ => vec![None; k.len()],
    };
    let mut order: Vec<usize> = (0..k.len()).collect();
    order.sort_by(|&a, &b| k[b].total_cmp(&k[a]).then_with(|| ids[a].cmp(&ids[b])));
    alerts.reorder(&order);
}
