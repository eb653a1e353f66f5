//! healthscore: churn **risk** and **upsell** scores for SaaS accounts, trained on
//! the account history, saved as versioned and auditable artifacts, explained
//! feature by feature, and validated every quarter against real renewals.
//!
//! # The API
//!
//! The items at this crate root are the library's contract; the command line,
//! the benchmarks and other programs use them. The quarterly loop:
//!
//! | step | call |
//! |---|---|
//! | draft a spec | [`draft_spec`] from a table (what `healthscore init` writes) |
//! | load a spec | [`Spec::load`] |
//! | read a table | [`read_table`] (or [`read_live`] for a version's live table) |
//! | train a version | [`train_and_save`] into a [`Registry`] (or [`train_version`] without writing) |
//! | pick a version | [`Registry::in_use`], [`Registry::load`], [`Registry::promote`], [`Registry::rollback`] |
//! | score | [`score_file`] (a file, streamed in blocks) or [`score`] (a table in memory) |
//! | explain | [`Explainer`] (exact attributions), [`card`] (one account in words) |
//! | validate | [`validate_files`] → [`Report`], [`validation_html`], [`min_auc_gate`] |
//! | portfolio | [`portfolio`] of a scores frame → [`Portfolio`], [`portfolio_html`] |
//! | retrain | [`backtest`] a challenger against the version in use, [`diff`] two versions |
//! | baseline | [`rules_scores`]: the hand-built weighted score on its own |
//! | warehouse | [`export_sql`]: a version as one SQL query ([`Dialect`]) |
//! | sample data | [`generate`] a synthetic history with known truth |
//!
//! ```no_run
//! use healthscore::{score_file, train_and_save, Registry, ScoreOptions, Spec, TrainOptions};
//! let spec = Spec::load("training/saas.toml".as_ref())?;
//! let reg = Registry::new("models");
//! let saved = train_and_save(&reg, &spec, "notebooks-data/history.csv".as_ref(), None, TrainOptions::default(), &|_| {})?;
//! let version = reg.load(&saved.name)?;
//! let (summary, _alerts) = score_file(&version, "notebooks-data/live.csv".as_ref(), None, None, ScoreOptions::default(), "scores.csv".as_ref())?;
//! println!("scored {} accounts with {}", summary.rows, summary.version);
//! # Ok::<(), healthscore::Error>(())
//! ```
//!
//! # Layers
//!
//! Each module imports only the layers below it (checked by `tests/layers`):
//! `error` → `fsio`, `design`, `metrics` → `data` → `features`, `synth` →
//! `model`, `rules` → `explain` → `train` → `registry` → `validate`, `export` → `report`
//! → `workflow`. The modules stay reachable for the benchmarks and for doc
//! examples of the building blocks, but they are not the contract: use the
//! items above.

#[doc(hidden)]
pub mod bench;
#[doc(hidden)]
pub mod data;
#[doc(hidden)]
pub mod design;
#[doc(hidden)]
pub mod error;
#[doc(hidden)]
pub mod explain;
#[doc(hidden)]
pub mod export;
#[doc(hidden)]
pub mod features;
#[doc(hidden)]
pub mod fsio;
#[doc(hidden)]
pub mod metrics;
#[doc(hidden)]
pub mod model;
#[doc(hidden)]
pub mod registry;
#[doc(hidden)]
pub mod report;
#[doc(hidden)]
pub mod rules;
#[doc(hidden)]
pub mod synth;
#[doc(hidden)]
pub mod train;
#[doc(hidden)]
pub mod validate;
#[doc(hidden)]
pub mod workflow;

pub use data::draft::{draft_from_frame, draft_spec, Draft, DraftOptions};
pub use data::frame::{parse_date, Frame};
pub use data::read::{column_names, read_frame_columns, read_frame_text, read_table, read_table_date_optional};
pub use data::spec::{health_of, Action, Band, Bands, Category, LabelValues, Spec, Target};
pub use data::table::{Labels, Table};
pub use data::write::{Format, OutTable};
pub use error::{Error, Result};
pub use explain::{Attributions, Explained, Explainer};
pub use export::sql::{select as export_sql, Dialect, SqlOptions};
pub use features::reference::DriftLevel;
pub use fsio::{refuse_input_as_output, temp_prefix, to_json, write_atomic};
pub use model::TargetModel;
pub use registry::{InUse, Loaded, Manifest, Promotion, Registry, Written};
pub use report::card::card_html;
pub use report::portfolio::{
    portfolio, probability_points, reads_column as portfolio_reads_column, Portfolio, UsageClusters, UsageFeatures,
};
pub use synth::{generate, Generated, SynthParams, Truth};
pub use train::{Leak, TrainOptions, LEAK_AUC};
pub use validate::{Report, Settings as ValidateSettings};
pub use workflow::diff::{diff, strongest_effects, Diff, StrongestEffects};
pub use workflow::retrain::{backtest, backtest_with, Backtest};
pub use workflow::rules::{rules_scores, RulesRun};
pub use workflow::score::{
    account_card, card, card_change, card_text, live_from_frame, read_live, score, score_file, score_frame, score_to_file, AccountCard,
    Drift, Previous, ScoreOptions, ScoreOutput, ScoreSummary, Scored,
};
pub use workflow::train::{save_history, train_and_save, train_history, train_version, History, SavedVersion, TrainedVersion};
pub use workflow::validate::{min_auc_gate, validate_files, validate_frames, Gate, ValidateInput};

/// The HTML score-to-renewal report of a [`Report`]: one self-contained page
/// (inline SVG charts, no script, no external resource).
///
/// ```no_run
/// # let report: healthscore::Report = unimplemented!();
/// healthscore::write_atomic("report.html".as_ref(), healthscore::validation_html(&report).as_bytes())?;
/// # Ok::<(), healthscore::Error>(())
/// ```
pub fn validation_html(report: &Report) -> String {
    report::html(report)
}

/// The portfolio page of a [`Portfolio`]: one self-contained HTML file.
///
/// ```no_run
/// let scores = healthscore::read_frame_text("scores.csv".as_ref(), &["account_id"])?;
/// let p = healthscore::portfolio("scores.csv".as_ref(), &scores, None, None, None, None)?;
/// std::fs::write("portfolio.html", healthscore::portfolio_html(&p))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn portfolio_html(p: &Portfolio) -> String {
    report::portfolio::html(p)
}
