//! The manifest of a model version: what was trained, from which data, how well
//! it did on the holdout, and the checksums of every other file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data::spec::{FeatureDef, Spec};
use crate::features::reference::FeatureReference;
use crate::model::Target;
use crate::rules::RulesModel;
use crate::train::{Holdout, Leak};

/// The training input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputInfo {
    /// File name as given on the command line.
    pub file: String,
    /// sha256 of the file's bytes (the training-data fingerprint).
    pub sha256: String,
    pub rows: usize,
    /// First and last snapshot date, when the table has dates.
    pub first_date: Option<String>,
    pub last_date: Option<String>,
}

/// What the manifest says of one target's model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetSummary {
    pub label_column: String,
    pub labeled_rows: usize,
    pub label_rate: f64,
    /// Model kind and setting chosen by cross-validation.
    pub chosen: String,
    pub holdout: Holdout,
    /// Whether the saved model was refitted on every labeled row.
    pub refit_on_all: bool,
    pub leaks: Vec<Leak>,
    /// Which model serves which segment (`pooled` or the segment's own).
    pub segments: BTreeMap<String, String>,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    /// The healthscore version that wrote it.
    pub tool_version: String,
    pub version: String,
    /// RFC 3339 time of training (`HEALTHSCORE_NOW` overrides it).
    pub created_at: String,
    pub spec: Spec,
    pub input: InputInfo,
    pub features: Vec<FeatureDef>,
    pub targets: BTreeMap<Target, TargetSummary>,
    /// Training distribution of every feature (for drift and the hand-built score).
    pub reference: Vec<FeatureReference>,
    /// The hand-built score fitted on the same training rows.
    pub rules: RulesModel,
    /// sha256 of every other file of the version.
    pub files: BTreeMap<String, String>,
}
