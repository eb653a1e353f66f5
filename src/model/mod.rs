//! The classifiers and what is saved of them.
//!
//! A [`TargetModel`] is the content of `risk.json` or `upsell.json`: the fitted
//! preprocessing and classifier of the pooled model, one more per segment that
//! earned its own, and how the model kind and its regularisation were chosen.
//! A fitted classifier is plain data ([`FittedModel`], tagged by `kind`).

pub mod calibration;
mod check;
pub mod gbdt;
pub mod logistic;

use std::collections::BTreeMap;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

pub use crate::data::spec::Target;
use crate::data::table::Table;
use crate::design::DESIGN_CHUNK;
use crate::features::Preprocessor;
use logistic::{sigmoid, LogisticModel};

/// The version of the model file format. Loading refuses other versions.
pub const SCHEMA_VERSION: u32 = 1;

/// The kind of a fitted classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// L2-regularised logistic regression.
    Logistic,
    /// Gradient-boosted trees.
    Gbdt,
}

impl Kind {
    /// `logistic` or `gbdt`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Logistic => "logistic",
            Kind::Gbdt => "gbdt",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A fitted classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FittedModel {
    Logistic(LogisticModel),
    Gbdt(gbdt::GbdtModel),
}

impl FittedModel {
    /// The model's kind.
    pub fn kind(&self) -> Kind {
        match self {
            FittedModel::Logistic(_) => Kind::Logistic,
            FittedModel::Gbdt(_) => Kind::Gbdt,
        }
    }

    /// Log-odds per row of the model's design matrix (see [`FittedModel::design`]).
    pub fn margins(&self, x: &ArrayView2<f64>) -> Vec<f64> {
        match self {
            FittedModel::Logistic(m) => m.margins(x),
            FittedModel::Gbdt(m) => m.margins(x),
        }
    }

    /// The design matrix this kind of model reads: standardised and imputed for
    /// the logistic model, raw with missing values for trees.
    pub fn design(&self, pre: &Preprocessor, table: &Table, rows: &[usize]) -> ndarray::Array2<f64> {
        match self {
            FittedModel::Logistic(_) => pre.transform_rows(table, rows),
            FittedModel::Gbdt(_) => pre.transform_tree(table, rows),
        }
    }
}

/// Preprocessing plus classifier: everything needed to score rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubModel {
    pub preprocessor: Preprocessor,
    pub model: FittedModel,
    /// Labeled rows it was fitted on.
    pub rows: usize,
    /// Share of label 1 in those rows.
    pub base_rate: f64,
}

impl SubModel {
    /// Log-odds of the given rows of a table, a chunk of rows at a time:
    /// the design matrix of all the rows is never held.
    pub fn margins(&self, table: &Table, rows: &[usize]) -> Vec<f64> {
        use rayon::prelude::*;
        let parts: Vec<Vec<f64>> = rows
            .par_chunks(DESIGN_CHUNK)
            .map(|chunk| self.model.margins(&self.model.design(&self.preprocessor, table, chunk).view()))
            .collect();
        parts.concat()
    }
}

/// One candidate tried during model selection, with its cross-validated figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub kind: Kind,
    /// Hyperparameters in words, e.g. `C=0.3`.
    pub setting: String,
    /// Pooled out-of-fold log-loss (lower is better).
    #[serde(deserialize_with = "crate::metrics::null_is_nan")]
    pub cv_log_loss: f64,
    #[serde(deserialize_with = "crate::metrics::null_is_nan")]
    pub cv_roc_auc: f64,
    /// Standard error of the pooled out-of-fold log-loss (over its rows): how
    /// far apart two candidates must be before the difference means anything.
    #[serde(default = "nan", deserialize_with = "crate::metrics::null_is_nan")]
    pub cv_log_loss_se: f64,
    /// Out-of-fold rows and positives the figures rest on.
    #[serde(default)]
    pub cv_rows: usize,
    #[serde(default)]
    pub cv_positives: usize,
    /// C of a logistic candidate.
    pub c: Option<f64>,
    /// Tree depth of a gbdt candidate.
    #[serde(default)]
    pub depth: Option<usize>,
    /// Boosting rounds of a gbdt candidate (picked on the pooled out-of-fold loss curve).
    #[serde(default)]
    pub rounds: Option<usize>,
    /// Pooled out-of-fold labels and probabilities (for calibration; not saved).
    #[serde(skip)]
    pub oof: Option<(Vec<u8>, Vec<f64>)>,
}

fn nan() -> f64 {
    f64::NAN
}

impl Candidate {
    /// Fills the rows, positives and standard error of the cross-validated
    /// figures from the pooled out-of-fold predictions.
    pub(crate) fn with_cv_figures(mut self) -> Candidate {
        if let Some((y, p)) = &self.oof {
            let losses: Vec<f64> = y.iter().zip(p).map(|(&y, &p)| crate::metrics::row_log_loss(y, p)).collect();
            self.cv_rows = losses.len();
            self.cv_positives = y.iter().filter(|&&v| v == 1).count();
            self.cv_log_loss_se = crate::metrics::mean_se(&losses).1;
        }
        self
    }
}

/// How the saved model was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// Folds used (group-aware, out-of-time when dates exist).
    pub folds: usize,
    pub candidates: Vec<Candidate>,
    /// Index of the chosen candidate.
    pub chosen: usize,
}

/// Whether a segment got a model of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentChoice {
    pub segment: String,
    /// Labeled rows and positives of the segment.
    pub rows: usize,
    pub positives: usize,
    /// True when the segment is served by its own model.
    pub own: bool,
    /// The best candidate of the segment's own cross-validation.
    pub candidate: Option<Candidate>,
    /// Out-of-fold log-loss of that candidate and of the pooled model on the same rows.
    pub own_cv_log_loss: Option<f64>,
    pub pooled_cv_log_loss: Option<f64>,
    /// The decision in words.
    pub reason: String,
}

/// The content of `risk.json` / `upsell.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetModel {
    pub schema_version: u32,
    pub target: Target,
    /// The label column it was trained on.
    pub label_column: String,
    /// The model for accounts whose segment has no model of its own.
    pub pooled: SubModel,
    /// Models of segments with enough labeled rows (segment value → model).
    pub segments: BTreeMap<String, SubModel>,
    /// What was decided for every segment of the training rows, and why.
    #[serde(default)]
    pub segment_choices: Vec<SegmentChoice>,
    pub selection: Selection,
    /// Whether the saved model was refitted on every labeled row (true) or is the
    /// model measured on the holdout (false).
    pub refit_on_all: bool,
    /// Calibration applied to the model's probabilities (fitted on out-of-fold predictions).
    #[serde(default)]
    pub calibration: Option<calibration::Calibrator>,
    /// How `calibration = "auto"` chose the map (absent for the other settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_choice: Option<calibration::CalibrationChoice>,
}

impl TargetModel {
    /// The sub-model that serves a segment value.
    pub fn route(&self, segment: Option<&str>) -> &SubModel {
        segment.and_then(|s| self.segments.get(s)).unwrap_or(&self.pooled)
    }

    /// Rows of `table` grouped by the sub-model that serves them (pooled = `None`).
    pub fn routes(&self, table: &Table) -> Vec<(Option<String>, Vec<usize>)> {
        self.routes_of(table, 0..table.len())
    }

    /// The given rows grouped by the sub-model that serves them (pooled = `None`).
    pub fn routes_of(&self, table: &Table, rows: impl IntoIterator<Item = usize>) -> Vec<(Option<String>, Vec<usize>)> {
        let Some(seg) = table.segment.as_ref().filter(|_| !self.segments.is_empty()) else {
            return vec![(None, rows.into_iter().collect())];
        };
        let mut groups: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
        for r in rows {
            let s = Some(seg[r].as_str()).filter(|s| self.segments.contains_key(*s));
            groups.entry(s).or_default().push(r);
        }
        groups.into_iter().map(|(s, rows)| (s.map(str::to_string), rows)).collect()
    }

    /// Log-odds of every row of the table.
    pub fn margins(&self, table: &Table) -> Vec<f64> {
        let all: Vec<usize> = (0..table.len()).collect();
        self.margins_of(table, &all)
    }

    /// Log-odds of the given rows, each from the sub-model that serves it.
    pub fn margins_of(&self, table: &Table, rows: &[usize]) -> Vec<f64> {
        if self.segments.is_empty() {
            return self.pooled.margins(table, rows);
        }
        let position: BTreeMap<usize, usize> = rows.iter().enumerate().map(|(i, &r)| (r, i)).collect();
        let mut out = vec![0.0; rows.len()];
        for (seg, group) in self.routes_of(table, rows.iter().copied()) {
            let m = self.route(seg.as_deref()).margins(table, &group);
            for (r, v) in group.into_iter().zip(m) {
                out[position[&r]] = v;
            }
        }
        out
    }

    /// The probability of a margin, calibrated when the model has a calibration.
    pub fn probability(&self, margin: f64) -> f64 {
        let p = sigmoid(margin);
        match &self.calibration {
            Some(c) => c.apply(p),
            None => p,
        }
    }

    /// Probabilities of label 1 for every row of the table.
    pub fn probabilities(&self, table: &Table) -> Vec<f64> {
        self.margins(table).into_iter().map(|m| self.probability(m)).collect()
    }
}
