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

use crate::data::spec::{health_of, Action, Band, Category, Spec};
use crate::data::table::{read_frame_text, read_table_date_optional, table_from_frame, FeatureValues, Frame, Labels, Table, TableBlocks};
use crate::data::write::{push_float, OutColumn, OutTable, Sink, TextCells};
use crate::error::{Error, Result};
use crate::explain::{by_category, top_k, top_k_into, Explained, Explainer};
use crate::features::reference::{DriftLevel, LiveCounts};
use crate::model::Target;
use crate::registry::Loaded;

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
/// use healthscore::{data::spec::Category, workflow::score::zombies, Band};
/// let mut low = [None; 8];
/// low[Category::Engagement.index()] = Some(10.0);
/// low[Category::Usage.index()] = Some(15.0);
/// let mut busy = low;
/// busy[Category::Usage.index()] = Some(90.0);
/// let bands = [Some(Band::Green), Some(Band::Yellow), Some(Band::Green), Some(Band::Red)];
/// assert_eq!(zombies(&[low, low, busy, low], &bands, 20.0), [true, true, false, false]);
/// ```
pub fn zombies(categories: &[[Option<f64>; 8]], band: &[Option<Band>], percentile: f64) -> Vec<bool> {
    use crate::data::spec::Category;
    categories
        .iter()
        .zip(band)
        .map(|(c, b)| {
            let used: Vec<f64> = [Category::Engagement, Category::Usage]
                .iter()
                .filter_map(|k| c[k.index()])
                .collect();
            b.is_some_and(|b| b != Band::Red) && !used.is_empty() && used.iter().sum::<f64>() / used.len() as f64 <= percentile
        })
        .collect()
}

/// Reads a live table with the version's spec and features.
pub fn read_live(loaded: &Loaded, input: &Path) -> Result<Table> {
    read_table_date_optional(input, &loaded.manifest.spec.columns, &loaded.manifest.features, Labels::IfPresent)
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
    table_from_frame(name, df, &columns, &loaded.manifest.features, Labels::IfPresent)
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

/// A previous scores file: per account, band, risk and per-feature risk contributions.
#[derive(Debug, Clone, Default)]
pub struct Previous {
    pub rows: HashMap<String, PreviousRow>,
    /// Whether the file has per-feature risk contributions (written without
    /// `--no-contributions`); without them, changes cannot be attributed.
    pub has_contributions: bool,
}

/// One account of a previous run.
#[derive(Debug, Clone, Default)]
pub struct PreviousRow {
    pub band: Option<Band>,
    pub risk: Option<f64>,
    pub contributions: BTreeMap<String, f64>,
}

const CONTRIB: &str = "risk_contrib_";

impl Previous {
    /// Reads a scores file written by `healthscore score`.
    pub fn read(path: &Path) -> Result<Previous> {
        let df = read_frame_text(path, &["account_id", "band"])?;
        Previous::from_frame(path, &df)
    }

    /// A previous run's scores held as a frame; `name` stands for the file
    /// in error messages.
    pub fn from_frame(name: &Path, df: &DataFrame) -> Result<Previous> {
        let path = name;
        let f = Frame::new(path, df);
        let ids = f.strings("account_id", "account id of the previous scores")?;
        let band = f.strings("band", "band of the previous scores")?;
        let risk = f.numbers("risk", "risk of the previous scores")?;
        let mut contrib_cols = vec![];
        for name in f.names() {
            if let Some(feat) = name.strip_prefix(CONTRIB) {
                contrib_cols.push((feat.to_string(), f.numbers(&name, "a previous contribution")?));
            }
        }
        let mut rows = HashMap::new();
        for (i, id) in ids.into_iter().enumerate() {
            let Some(id) = id else { continue };
            let contributions = contrib_cols.iter().filter_map(|(n, v)| v[i].map(|x| (n.clone(), x))).collect();
            let row = PreviousRow {
                band: band[i].as_deref().and_then(Band::parse),
                risk: risk[i],
                contributions,
            };
            if rows.insert(id.clone(), row).is_some() {
                return Err(Error::Duplicate {
                    path: path.to_path_buf(),
                    column: "account_id".into(),
                    row: i + 1,
                    first: 0,
                    id,
                    date: String::new(),
                });
            }
        }
        Ok(Previous {
            rows,
            has_contributions: !contrib_cols.is_empty(),
        })
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

fn fmt_contrib(name: &str, v: f64) -> String {
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

/// The rows of [`render`], without the data checks. `ids` are the table's
/// account ids, moved into the output rather than copied.
fn render_rows(scored: &Scored, ids: Vec<String>, loaded: &Loaded, previous: Option<&Previous>, opts: ScoreOptions) -> ScoreOutput {
    let ScoreOptions { top, contributions, .. } = opts;
    let spec = &loaded.manifest.spec;
    let t = &scored.table;
    let n = ids.len();
    debug_assert_eq!(n, scored.action.len(), "one id per scored row");
    let mut out = OutTable::default();
    // Filled last, when the comparison with a previous run is done with the ids.
    out.push("account_id", OutColumn::Text(vec![]));
    if let Some(d) = &t.dates {
        out.push("snapshot_date", OutColumn::Text(d.iter().map(|d| Some(d.to_string())).collect()));
    }
    if let (Some(col), Some(seg)) = (&spec.columns.segment, &t.segment) {
        out.push(col.clone(), OutColumn::labels(seg.iter().map(|s| Some(s.as_str()))));
    }
    let prob = |s: &Option<TargetScores>| OutColumn::Float((0..n).map(|r| s.as_ref().map(|s| s.probability[r])).collect());
    out.push("risk", prob(&scored.risk));
    out.push("upsell", prob(&scored.upsell));
    out.push("health", OutColumn::Float(scored.health.clone()));
    out.push("band", OutColumn::labels(scored.band.iter().map(|b| b.map(|b| b.name()))));
    out.push("action", OutColumn::labels(scored.action.iter().map(|a| Some(a.name()))));
    // Revenue passed through, and the loss a churn would cost, weighted by its chance.
    if let (Some(col), Some(rev), Some(risk)) = (&spec.columns.revenue, &t.revenue, &scored.risk) {
        out.push(col.clone(), OutColumn::Float(rev.clone()));
        out.push(
            "expected_arr_loss",
            OutColumn::Float(rev.iter().zip(&risk.probability).map(|(v, p)| v.map(|v| v * p)).collect()),
        );
    }
    out.push("zombie", OutColumn::Bool(scored.zombie.clone()));
    out.push("model_version", OutColumn::constant(&scored.version, n));
    out.push(
        "rules_health",
        OutColumn::Float(scored.rules_health.iter().map(|h| Some((h * 10.0).round() / 10.0)).collect()),
    );
    out.push(
        "rules_band",
        OutColumn::labels(scored.rules_health.iter().map(|h| Some(spec.band(*h).name()))),
    );
    for (target, s) in [(Target::Risk, &scored.risk), (Target::Upsell, &scored.upsell)] {
        let Some(s) = s else { continue };
        let name = target.name();
        let a = &s.explained.attributions;
        out.push(format!("{name}_base"), OutColumn::Num(a.base.clone()));
        // Which model served each account, when the version has segment models.
        if let (Some(m), Some(seg)) = (loaded.model(target), &t.segment) {
            if !m.segments.is_empty() {
                let served = seg
                    .iter()
                    .map(|v| Some(if m.segments.contains_key(v) { v.as_str() } else { "pooled" }));
                out.push(format!("{name}_model"), OutColumn::labels(served));
            }
        }
        let cats: Vec<[f64; 8]> = (0..n)
            .into_par_iter()
            .map(|r| by_category(&s.explained.features, a.contributions.row(r).as_slice().expect("contiguous")))
            .collect();
        for c in Category::ALL {
            out.push(
                format!("{name}_{}", c.name()),
                OutColumn::Num(cats.iter().map(|v| v[c.index()]).collect()),
            );
        }
        // The drivers of row r are tops[r * top..][..top], NO_DRIVER past the last.
        const NO_DRIVER: u32 = u32::MAX;
        let mut tops = vec![NO_DRIVER; n * top];
        if top > 0 {
            tops.par_chunks_mut(top).enumerate().for_each_init(
                || Vec::with_capacity(top),
                |best, (r, slots)| {
                    top_k_into(a.contributions.row(r).as_slice().expect("contiguous"), top, best);
                    for (slot, &j) in slots.iter_mut().zip(best.iter()) {
                        *slot = j as u32;
                    }
                },
            );
        }
        // Feature columns resolved once, not per cell.
        let values: Vec<Option<&FeatureValues>> = s.explained.features.iter().map(|(f, _)| t.feature(f).map(|x| &x.values)).collect();
        // The driver values as text, one column per rank, written into one buffer each.
        let mut value_cells: Vec<TextCells> = (0..top)
            .into_par_iter()
            .map(|k| {
                let mut cells = TextCells::with_capacity(n, 12);
                for r in 0..n {
                    match tops[r * top + k] {
                        NO_DRIVER => cells.push(None),
                        j => cells.push_with(|s| push_cell(s, values[j as usize], r)),
                    }
                }
                cells
            })
            .collect();
        for k in 0..top {
            let feat = |r: usize| Some(tops[r * top + k]).filter(|&j| j != NO_DRIVER).map(|j| j as usize);
            out.push(
                format!("{name}_driver_{}", k + 1),
                OutColumn::Labels {
                    levels: s.explained.features.iter().map(|(f, _)| f.clone()).collect(),
                    codes: (0..n)
                        .into_par_iter()
                        .map(|r| feat(r).map_or(OutColumn::MISSING, |j| j as u32))
                        .collect(),
                },
            );
            out.push(
                format!("{name}_driver_{}_value", k + 1),
                OutColumn::Cells(std::mem::take(&mut value_cells[k])),
            );
            out.push(
                format!("{name}_driver_{}_contribution", k + 1),
                OutColumn::Num(
                    (0..n)
                        .into_par_iter()
                        .map(|r| feat(r).map_or(f64::NAN, |j| a.contributions[[r, j]]))
                        .collect(),
                ),
            );
            out.push(
                format!("{name}_driver_{}_odds", k + 1),
                OutColumn::Num(
                    (0..n)
                        .into_par_iter()
                        .map(|r| feat(r).map_or(f64::NAN, |j| a.contributions[[r, j]].exp()))
                        .collect(),
                ),
            );
        }
        if target == Target::Risk && contributions {
            for (j, (f, _)) in s.explained.features.iter().enumerate() {
                out.push(format!("{CONTRIB}{f}"), OutColumn::Num(a.contributions.column(j).to_vec()));
            }
        }
    }
    let mut summary = ScoreSummary {
        rows: n,
        version: scored.version.clone(),
        ..Default::default()
    };
    count_names(scored.band.iter().flatten().map(|b| b.name()), &mut summary.bands);
    count_names(scored.action.iter().map(|a| a.name()), &mut summary.actions);
    let mut alerts = OutTable::default();
    if let (Some(prev), Some(risk)) = (previous, &scored.risk) {
        let (mut pb, mut pr, mut change, mut moved, mut alert) = (vec![], vec![], vec![], vec![], vec![]);
        let mut alert_rows = vec![];
        let mut matched = 0;
        for (r, id) in ids.iter().enumerate() {
            let p = prev.rows.get(id);
            matched += p.is_some() as usize;
            pb.push(p.and_then(|p| p.band).map(|b| b.name().to_string()));
            pr.push(p.and_then(|p| p.risk));
            let now = risk.probability[r];
            let d = p.and_then(|p| p.risk).map(|old| now - old);
            change.push(d);
            // Which features moved the score: the change of each feature's contribution.
            let mv = p.filter(|_| prev.has_contributions).map(|p| {
                let deltas: Vec<f64> = risk
                    .explained
                    .features
                    .iter()
                    .enumerate()
                    .map(|(j, (f, _))| risk.explained.attributions.contributions[[r, j]] - p.contributions.get(f).copied().unwrap_or(0.0))
                    .collect();
                top_k(&deltas, 3)
                    .into_iter()
                    .map(|j| fmt_contrib(&risk.explained.features[j].0, deltas[j]))
                    .collect::<Vec<_>>()
                    .join("; ")
            });
            let reason = match (p.and_then(|p| p.band), scored.band[r], d) {
                (Some(old), Some(new), _) if new < old => Some(format!("band fell {}→{}", old.name(), new.name())),
                (_, _, Some(d)) if d > spec.actions.alert_risk_rise => Some(format!("risk rose by {:.0} points", 100.0 * d)),
                _ => None,
            };
            if reason.is_some() {
                alert_rows.push(r);
            }
            moved.push(mv.filter(|s| !s.is_empty()));
            alert.push(reason);
        }
        summary.previous_matched = Some(matched);
        summary.alerts = alert_rows.len();
        out.push("previous_band", OutColumn::Text(pb.clone()));
        out.push("previous_risk", OutColumn::Float(pr.clone()));
        out.push("risk_change", OutColumn::Float(change.clone()));
        out.push("moved_by", OutColumn::Text(moved.clone()));
        out.push("alert", OutColumn::Text(alert.clone()));
        let pick_t = |v: &Vec<Option<String>>| OutColumn::Text(alert_rows.iter().map(|&r| v[r].clone()).collect());
        let pick_f = |v: &Vec<Option<f64>>| OutColumn::Float(alert_rows.iter().map(|&r| v[r]).collect());
        alerts.push(
            "account_id",
            OutColumn::Text(alert_rows.iter().map(|&r| Some(ids[r].clone())).collect()),
        );
        alerts.push("alert", pick_t(&alert));
        alerts.push("previous_band", pick_t(&pb));
        alerts.push(
            "band",
            OutColumn::Text(alert_rows.iter().map(|&r| scored.band[r].map(|b| b.name().to_string())).collect()),
        );
        alerts.push("previous_risk", pick_f(&pr));
        alerts.push(
            "risk",
            OutColumn::Float(alert_rows.iter().map(|&r| Some(risk.probability[r])).collect()),
        );
        alerts.push("moved_by", pick_t(&moved));
        alerts.push(
            "action",
            OutColumn::Text(alert_rows.iter().map(|&r| Some(scored.action[r].to_string())).collect()),
        );
        if let (Some(col), Some(rev)) = (&spec.columns.revenue, &t.revenue) {
            alerts.push(col.clone(), OutColumn::Float(alert_rows.iter().map(|&r| rev[r]).collect()));
            alerts.push(
                "expected_arr_loss",
                OutColumn::Float(alert_rows.iter().map(|&r| rev[r].map(|v| v * risk.probability[r])).collect()),
            );
        }
    }
    out.columns[0] = OutColumn::Text(ids.into_iter().map(Some).collect());
    ScoreOutput {
        scores: out,
        alerts,
        summary,
    }
}

/// Adds how often each name occurs to `counts`. The few distinct names are
/// counted first, so that no row allocates or hashes a key.
fn count_names(names: impl Iterator<Item = &'static str>, counts: &mut BTreeMap<String, usize>) {
    let mut seen: Vec<(&'static str, usize)> = vec![];
    for name in names {
        match seen.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => seen.push((name, 1)),
        }
    }
    for (name, c) in seen {
        *counts.entry(name.to_string()).or_default() += c;
    }
}

/// A feature's value in a row, as text.
pub fn value_text(t: &Table, feature: &str, r: usize) -> String {
    cell_text(t.feature(feature).map(|f| &f.values), r)
}

/// A cell of a feature column as text (`(missing)` for an empty cell).
fn cell_text(values: Option<&FeatureValues>, r: usize) -> String {
    let mut s = String::new();
    push_cell(&mut s, values, r);
    s
}

/// Appends [`cell_text`] to `out`.
fn push_cell(out: &mut String, values: Option<&FeatureValues>, r: usize) {
    match values {
        Some(FeatureValues::Numeric(v)) if v[r].is_finite() => push_float(out, v[r]),
        Some(FeatureValues::Categorical(v)) if v.get(r).is_some() => out.push_str(v.get(r).unwrap_or_default()),
        Some(_) => out.push_str("(missing)"),
        None => {}
    }
}

/// The plain-text card of one account (for `healthscore explain`).
pub fn card(scored: &Scored, r: usize, spec: &Spec) -> String {
    use std::fmt::Write;
    let t = &scored.table;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "account {}{}  (model {})",
        t.ids[r],
        t.dates.as_ref().map(|d| format!(" on {}", d[r])).unwrap_or_default(),
        scored.version
    );
    if let Some(seg) = &t.segment {
        let _ = writeln!(s, "segment   {}", seg[r]);
    }
    if let (Some(rk), Some(h), Some(b)) = (&scored.risk, scored.health[r], scored.band[r]) {
        let _ = writeln!(
            s,
            "risk      {:.1}%   health {h:.1}   band {}",
            100.0 * rk.probability[r],
            b.name().to_uppercase()
        );
    }
    if let Some(u) = &scored.upsell {
        let _ = writeln!(s, "upsell    {:.1}%", 100.0 * u.probability[r]);
    }
    let _ = writeln!(s, "action    {}", scored.action[r]);
    let _ = writeln!(
        s,
        "hand-built score {:.1} ({})",
        scored.rules_health[r],
        spec.band(scored.rules_health[r]).name()
    );
    for (target, ts) in [(Target::Risk, &scored.risk), (Target::Upsell, &scored.upsell)] {
        let Some(ts) = ts else { continue };
        let a = &ts.explained.attributions;
        let row = a.contributions.row(r);
        let _ = writeln!(
            s,
            "\n{} drivers (log-odds; base {:+.3}, total {:+.3}):",
            target.name(),
            a.base[r],
            a.base[r] + row.sum()
        );
        let (up, down) = if target == Target::Risk {
            ("raise risk", "lower risk")
        } else {
            ("raise upsell", "lower upsell")
        };
        for (label, sign) in [(up, 1.0), (down, -1.0)] {
            let mut idx: Vec<usize> = (0..row.len()).filter(|&j| row[j] * sign > 1e-9).collect();
            idx.sort_by(|&x, &y| (row[y] * sign).total_cmp(&(row[x] * sign)));
            let _ = writeln!(s, "  {label}:");
            if idx.is_empty() {
                let _ = writeln!(s, "    (none)");
            }
            for &j in idx.iter().take(5) {
                let (f, c) = &ts.explained.features[j];
                let _ = writeln!(
                    s,
                    "    {:<28} {:>12}  {:+.3}  odds ×{:.2}  [{}]",
                    f,
                    value_text(t, f, r),
                    row[j],
                    row[j].exp(),
                    c
                );
            }
        }
        let cats = by_category(&ts.explained.features, row.as_slice().expect("contiguous"));
        let _ = writeln!(s, "  by category:");
        for c in Category::ALL {
            if ts.explained.features.iter().any(|(_, fc)| *fc == c) {
                let _ = writeln!(s, "    {:<14} {:+.3}", c.name(), cats[c.index()]);
            }
        }
    }
    s
}

/// Drift and schema checks of the scored table against the training data:
/// unseen categories, values far out of range, PSI per feature.
pub fn data_checks(loaded: &Loaded, t: &Table, summary: &mut ScoreSummary) {
    let mut checks = DataChecks::new(loaded);
    checks.add(t);
    checks.finish(summary);
}

/// The data checks of [`data_checks`], gathered block by block.
struct DataChecks<'a> {
    loaded: &'a Loaded,
    unseen: BTreeMap<String, usize>,
    out_of_range: BTreeMap<String, usize>,
    /// Live counts per reference feature (None until a column of its kind is seen).
    live: Vec<Option<LiveCounts>>,
}

impl<'a> DataChecks<'a> {
    fn new(loaded: &'a Loaded) -> DataChecks<'a> {
        DataChecks {
            loaded,
            unseen: BTreeMap::new(),
            out_of_range: BTreeMap::new(),
            live: vec![None; loaded.manifest.reference.len()],
        }
    }

    fn add(&mut self, t: &Table) {
        let pooled = self
            .loaded
            .model(Target::Risk)
            .or(self.loaded.model(Target::Upsell))
            .map(|m| &m.pooled.preprocessor);
        if let Some(pre) = pooled {
            for (f, n) in pre.unseen_levels(t) {
                *self.unseen.entry(f).or_default() += n;
            }
            for (f, n) in pre.out_of_range(t) {
                *self.out_of_range.entry(f).or_default() += n;
            }
        }
        self.loaded
            .manifest
            .reference
            .par_iter()
            .zip(self.live.par_iter_mut())
            .for_each(|(r, live)| {
                let Some(v) = t.feature(&r.name) else { return };
                let mut counts = live.take().unwrap_or_default();
                if r.count(&v.values, &mut counts) {
                    *live = Some(counts);
                }
            });
    }

    fn finish(self, summary: &mut ScoreSummary) {
        summary.unseen_categories = self.unseen;
        summary.out_of_range = self.out_of_range;
        let mut drift: Vec<Drift> = self
            .loaded
            .manifest
            .reference
            .iter()
            .zip(&self.live)
            .filter_map(|(r, live)| {
                let psi = r.psi_of(live.as_ref()?);
                Some(Drift {
                    feature: r.name.clone(),
                    psi,
                    level: DriftLevel::of(psi),
                    expected: r.grows_with_time,
                })
            })
            .collect();
        drift.sort_by(|a, b| b.psi.total_cmp(&a.psi));
        summary.drift = drift;
    }
}
