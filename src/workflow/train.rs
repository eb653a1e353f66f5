//! `train`: fits the risk and upsell models of a spec on an account history and
//! assembles everything a version holds (manifest, model files, holdout report).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::Datelike;
use polars::prelude::{CsvWriter, DataFrame, SerWriter};

use crate::data::spec::{Action, Spec};
use crate::data::{
    read::{read_table, table_from_frame},
    table::{Labels, Table},
};
use crate::error::Result;
use crate::features::reference;
use crate::fsio::{sha256_hex, to_json};
use crate::model::{Target, SCHEMA_VERSION};
use crate::registry::manifest::{InputInfo, TargetSummary};
use crate::registry::Manifest;
use crate::rules::RulesModel;
use crate::train::progress::Ticker;
use crate::train::{train_target_reporting, TrainOptions, Trained};

/// A trained, not yet written, version.
pub struct TrainedVersion {
    pub manifest: Manifest,
    pub trained: BTreeMap<Target, Trained>,
    /// The table it was trained on.
    pub table: Table,
}

impl TrainedVersion {
    /// The files of the version besides the manifest: `risk.json`, `upsell.json`.
    pub fn model_files(&self) -> Vec<(String, Vec<u8>)> {
        self.trained
            .iter()
            .map(|(t, tr)| (format!("{}.json", t.name()), to_json(&tr.model)))
            .collect()
    }
}

/// The default version name: the quarter of the latest snapshot date (`2026Q3`),
/// or `v1`-style when the table has no dates.
pub fn default_version_name(table: &Table) -> Option<String> {
    let d = table.dates.as_ref()?.iter().max()?;
    Some(format!("{}Q{}", d.year(), d.month0() / 3 + 1))
}

/// A history to train on: the table, and what a version records of where it
/// came from (a file name and the sha256 fingerprint of its bytes).
pub struct History {
    pub table: Table,
    /// The file name (or the name given to a table held in memory).
    pub file: String,
    /// sha256 of the file's bytes; for a table held in memory, of the table
    /// written as CSV.
    pub sha256: String,
}

impl History {
    /// Reads a history file (CSV or Parquet) as the spec describes it.
    ///
    /// ```no_run
    /// use healthscore::{History, Spec};
    /// let spec = Spec::load("training/saas.toml".as_ref())?;
    /// let h = History::read(&spec, "notebooks-data/history.csv".as_ref())?;
    /// println!("{} rows, sha256 {}", h.table.len(), h.sha256);
    /// # Ok::<(), healthscore::Error>(())
    /// ```
    pub fn read(spec: &Spec, input: &Path) -> Result<History> {
        let bytes = std::fs::read(input).map_err(|e| crate::Error::io(input, e))?;
        let table = read_table(input, &spec.columns, &spec.feature_defs(), Labels::Required)?;
        Ok(History {
            table,
            file: input.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default(),
            sha256: sha256_hex(&bytes),
        })
    }

    /// A history held as a polars frame (the Python package's tables), checked
    /// as a file is; `name` stands for the file in error messages and in the
    /// manifest.
    ///
    /// ```
    /// use healthscore::{History, Spec};
    /// use polars::prelude::*;
    /// let text = "[columns]\nid = \"account_id\"\ndate = \"\"\nrisk_label = \"churned\"\nupsell_label = \"\"\n[features]\nengagement = [\"logins\"]\n";
    /// let spec = Spec::parse(text, "spec.toml".as_ref())?;
    /// let df = df!("account_id" => ["a", "b"], "churned" => [1i64, 0], "logins" => [3.0, 9.0]).unwrap();
    /// let h = History::from_frame(&spec, "history", df)?;
    /// assert_eq!(h.table.len(), 2);
    /// # Ok::<(), healthscore::Error>(())
    /// ```
    pub fn from_frame(spec: &Spec, name: &str, mut df: DataFrame) -> Result<History> {
        let path = Path::new(name);
        if df.height() == 0 {
            return Err(crate::Error::EmptyTable { path: path.to_path_buf() });
        }
        let mut csv = Vec::new();
        CsvWriter::new(&mut csv)
            .finish(&mut df)
            .map_err(|source| crate::Error::Encode { format: "CSV", source })?;
        let table = table_from_frame(path, df, &spec.columns, &spec.feature_defs(), Labels::Required)?;
        Ok(History {
            table,
            file: name.to_string(),
            sha256: sha256_hex(&csv),
        })
    }
}

/// Reads the input and trains every model the spec names.
///
/// ```no_run
/// use healthscore::{data::spec::Spec, workflow::train::train_version, train::TrainOptions};
/// let spec = Spec::load("training/saas.toml".as_ref())?;
/// let v = train_version(&spec, "notebooks-data/history.csv".as_ref(), "2026Q3", TrainOptions::default(), &|_| {})?;
/// println!("{:?}", v.manifest.targets.keys());
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn train_version(
    spec: &Spec,
    input: &Path,
    version: &str,
    opts: TrainOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<TrainedVersion> {
    progress("reading the history");
    let history = History::read(spec, input)?;
    train_history(spec, history, version, opts, progress)
}

/// Trains every model the spec names on a history already read.
pub fn train_history(
    spec: &Spec,
    history: History,
    version: &str,
    opts: TrainOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<TrainedVersion> {
    let History { table, file, sha256 } = history;
    let mut trained = BTreeMap::new();
    for target in Target::ALL {
        let named = match target {
            Target::Risk => spec.columns.risk_label.is_some(),
            Target::Upsell => spec.columns.upsell_label.is_some(),
        };
        if named {
            trained.insert(target, train_target_reporting(&table, spec, target, opts, &Ticker::new(progress))?);
        }
    }
    let all: Vec<usize> = (0..table.len()).collect();
    let reference = reference::fit(&table, &all);
    let rules = RulesModel::fit(spec, &table, &all, reference.clone());
    let targets = trained
        .iter()
        .map(|(t, tr)| {
            let chosen = &tr.model.selection.candidates[tr.model.selection.chosen];
            // Segment value → the model that serves it and why.
            let mut segments: BTreeMap<String, String> = tr
                .model
                .segment_choices
                .iter()
                .map(|c| (c.segment.clone(), c.reason.clone()))
                .collect();
            if let Some(seg) = &table.segment {
                for s in seg.iter() {
                    segments.entry(s.clone()).or_insert_with(|| "pooled".to_string());
                }
            }
            (
                *t,
                TargetSummary {
                    label_column: tr.model.label_column.clone(),
                    labeled_rows: tr.labeled_rows,
                    label_rate: tr.label_rate,
                    chosen: format!("{} {}", chosen.kind, chosen.setting),
                    holdout: tr.holdout.clone(),
                    refit_on_all: tr.model.refit_on_all,
                    leaks: tr.leaks.clone(),
                    segments,
                },
            )
        })
        .collect();
    let dates = table.dates.as_ref();
    let manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        version: version.into(),
        created_at: crate::fsio::now(),
        spec: spec.clone(),
        input: InputInfo {
            file,
            sha256,
            rows: table.len(),
            first_date: dates.and_then(|d| d.iter().min()).map(|d| d.to_string()),
            last_date: dates.and_then(|d| d.iter().max()).map(|d| d.to_string()),
        },
        features: spec.feature_defs(),
        targets,
        reference,
        rules,
        files: BTreeMap::new(),
    };
    Ok(TrainedVersion { manifest, trained, table })
}

/// The validation report of the holdout, in the same form as `healthscore
/// validate` writes: risk on the risk holdout beside the hand-built score
/// (oriented on the rows outside the holdout), upsell on the upsell holdout.
pub fn holdout_report(tv: &TrainedVersion, settings: &crate::validate::Settings) -> crate::validate::Report {
    use crate::validate::{risk_report, segment_rows, upsell_report, Report, RiskInput, HAND_BUILT};
    let spec = &tv.manifest.spec;
    let t = &tv.table;
    let mut joined_rows = 0;
    let risk = tv.trained.get(&Target::Risk).map(|tr| {
        let held: std::collections::BTreeSet<usize> = tr.holdout_rows.iter().copied().collect();
        let outside: Vec<usize> = (0..t.len()).filter(|r| !held.contains(r)).collect();
        let rules = RulesModel::fit(spec, t, &outside, reference::fit(t, &outside));
        let hold_table = t.select(&tr.holdout_rows);
        let rules_risk: Vec<f64> = rules.health(&hold_table).into_iter().map(|h| 100.0 - h).collect();
        let health: Vec<f64> = tr.holdout_p.iter().map(|p| 100.0 * (1.0 - p)).collect();
        let arr: Option<Vec<f64>> = hold_table.revenue.as_ref().map(|v| v.iter().map(|x| x.unwrap_or(0.0)).collect());
        joined_rows = joined_rows.max(tr.holdout_rows.len());
        let report = risk_report(
            &RiskInput {
                churned: &tr.holdout_y,
                risk: &tr.holdout_p,
                health: &health,
                arr: arr.as_deref(),
                baselines: vec![(HAND_BUILT.to_string(), rules_risk.clone())],
            },
            &spec.bands,
            settings,
        );
        let segments = hold_table
            .segment
            .as_ref()
            .map(|seg| segment_rows(seg, &tr.holdout_y, &tr.holdout_p, Some(&rules_risk), settings));
        (report, segments.unwrap_or_default())
    });
    let upsell = tv.trained.get(&Target::Upsell).map(|tr| {
        joined_rows = joined_rows.max(tr.holdout_rows.len());
        let action: Vec<String> = tr
            .holdout_p
            .iter()
            // Risk is not known for these rows: the action by upsell alone.
            .map(|&u| Action::of(&spec.actions, None, Some(u)).name().to_string())
            .collect();
        upsell_report(&tr.holdout_y, &tr.holdout_p, &action, settings)
    });
    let (risk, segments) = match risk {
        Some((r, s)) => (Some(r), s),
        None => (None, vec![]),
    };
    Report {
        title: format!("Holdout report of version {}", tv.manifest.version),
        generated_at: tv.manifest.created_at.clone(),
        model_version: Some(tv.manifest.version.clone()),
        joined_rows,
        unmatched_scores: 0,
        unmatched_outcomes: 0,
        resamples: settings.resamples,
        seed: settings.seed,
        risk,
        upsell,
        segments,
        selection: selection_rows(tv),
        verdicts: vec![],
    }
    .with_verdicts()
}

/// The model-selection table of a training report: every candidate of every
/// target, then every segment decision.
fn selection_rows(tv: &TrainedVersion) -> Vec<crate::validate::SelectionRow> {
    use crate::validate::SelectionRow;
    let finite = |v: f64| v.is_finite().then_some(v);
    let mut out = vec![];
    for (t, tr) in &tv.trained {
        let sel = &tr.model.selection;
        for (i, c) in sel.candidates.iter().enumerate() {
            out.push(SelectionRow {
                target: t.name().into(),
                scope: "pooled".into(),
                model: format!("{} {}", c.kind, c.setting),
                cv_log_loss: finite(c.cv_log_loss),
                cv_log_loss_se: finite(c.cv_log_loss_se),
                cv_roc_auc: finite(c.cv_roc_auc),
                cv_rows: (c.cv_rows > 0).then_some(c.cv_rows),
                cv_positives: (c.cv_rows > 0).then_some(c.cv_positives),
                chosen: i == sel.chosen,
            });
        }
        for c in &tr.model.segment_choices {
            out.push(SelectionRow {
                target: t.name().into(),
                scope: format!("segment {}", c.segment),
                model: match &c.candidate {
                    Some(k) => format!("{} {} — {}", k.kind, k.setting, c.reason),
                    None => c.reason.clone(),
                },
                cv_log_loss: c.own_cv_log_loss,
                cv_log_loss_se: None,
                cv_roc_auc: c.candidate.as_ref().and_then(|k| finite(k.cv_roc_auc)),
                cv_rows: Some(c.rows),
                cv_positives: Some(c.positives),
                chosen: c.own,
            });
        }
    }
    out
}

/// A version trained and written to the registry.
pub struct SavedVersion {
    /// Its name (given, or the quarter of the latest snapshot date, or `vN`).
    pub name: String,
    /// Its directory.
    pub dir: std::path::PathBuf,
    /// What was trained.
    pub trained: TrainedVersion,
    /// The holdout report written beside the models (`report.json`, `report.html`).
    pub report: crate::validate::Report,
    /// Whether it is the version in use (the first version of a registry is).
    pub in_use: bool,
}

/// Trains every model the spec names on `input` and writes the result as a
/// new, immutable version of `registry`: the models, the manifest and the
/// holdout report (JSON and HTML). An explicit `version` that already exists
/// is refused before any training.
///
/// ```no_run
/// use healthscore::{train_and_save, Registry, Spec, TrainOptions};
/// let spec = Spec::load("training/saas.toml".as_ref())?;
/// let reg = Registry::new("models");
/// let saved = train_and_save(&reg, &spec, "notebooks-data/history.csv".as_ref(), None, TrainOptions::default(), &|_| {})?;
/// println!("wrote {} to {}", saved.name, saved.dir.display());
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn train_and_save(
    registry: &crate::registry::Registry,
    spec: &Spec,
    input: &Path,
    version: Option<&str>,
    opts: TrainOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<SavedVersion> {
    refuse_existing(registry, version)?;
    progress("reading the history");
    let history = History::read(spec, input)?;
    save_history(registry, spec, history, version, opts, progress)
}

/// [`train_and_save`] on a history already read (for example a
/// [`History::from_frame`]).
pub fn save_history(
    registry: &crate::registry::Registry,
    spec: &Spec,
    history: History,
    version: Option<&str>,
    opts: TrainOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<SavedVersion> {
    refuse_existing(registry, version)?;
    let mut tv = train_history(spec, history, version.unwrap_or("pending"), opts, progress)?;
    let name = match version {
        Some(v) => v.to_string(),
        None => default_version_name(&tv.table).unwrap_or_else(|| next_plain_name(registry)),
    };
    tv.manifest.version = name.clone();
    let mut files = tv.model_files();
    let settings = crate::validate::Settings {
        seed: spec.seed,
        ..Default::default()
    };
    let report = holdout_report(&tv, &settings);
    files.push(("report.json".into(), to_json(&report)));
    files.push(("report.html".into(), crate::report::html(&report).into_bytes()));
    let dir = registry.write_version(&name, tv.manifest.clone(), &files)?;
    let in_use = registry.in_use()?.is_some_and(|u| u.version == name);
    Ok(SavedVersion {
        name,
        dir,
        trained: tv,
        report,
        in_use,
    })
}

/// Refuses an explicit version name that already exists, before any training.
fn refuse_existing(registry: &crate::registry::Registry, version: Option<&str>) -> Result<()> {
    if let Some(v) = version {
        if registry.root.join(v).exists() {
            return Err(crate::Error::Registry(format!(
                "version `{v}` already exists in {}; versions never change: choose another version name",
                registry.root.display()
            )));
        }
    }
    Ok(())
}

/// The first free `vN` name of a registry.
fn next_plain_name(reg: &crate::registry::Registry) -> String {
    let n = reg.versions().map(|v| v.len()).unwrap_or(0);
    (n + 1..)
        .map(|i| format!("v{i}"))
        .find(|v| !reg.root.join(v).exists())
        .expect("a free name")
}
