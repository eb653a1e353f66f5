//! The files a user keeps and reads. Every persisted JSON file reads back into
//! its type and writes out the same value (no field lost or renamed on the
//! way), and the reports and headers a user reads are snapshot-tested: a
//! change to them shows up as a reviewed snapshot diff (`cargo insta review`).
//!
//! One `healthscore demo` run (fixed seed and clock) is shared by the tests
//! of this module.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::util::*;

/// The output of one `healthscore demo` run, made on first use.
fn demo() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        hs().current_dir(root()).args(["demo", "--dir"]).arg(d.path()).assert().success();
        d
    })
    .path()
}

/// A version trained on the telco table with the logistic model, so that both
/// model kinds are read back (the demo's own choice is the trees).
fn telco_logistic() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let spec = std::fs::read_to_string(repo("training/telco.toml"))
            .unwrap()
            .replace("\n[holdout]", "\n[model]\nkind = \"logistic\"\n\n[holdout]");
        assert!(spec.contains("kind = \"logistic\""), "the telco spec has a [holdout] table");
        let spec = write(d.path(), "spec.toml", &spec);
        hs().args(["train", "--spec"])
            .arg(&spec)
            .args(["--input"])
            .arg(repo("notebooks-data/telco.train.csv"))
            .arg("--models")
            .arg(d.path().join("models"))
            .assert()
            .success();
        d
    })
    .path()
}

/// The directory of the version in use of the registry at `models`.
fn in_use(models: &Path) -> PathBuf {
    let reg = healthscore::Registry::new(models);
    models.join(reg.resolve(None).unwrap())
}

/// Reads `text` as a `T` and writes it back: the same JSON value.
fn same_value<T: Serialize + DeserializeOwned>(text: &str, what: &str) -> T {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
    let typed: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: does not read as its type: {e}"));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(value, back, "{what}: written back differently");
    typed
}

/// A JSON file read as a `T` and written back.
fn round_trips<T: Serialize + DeserializeOwned>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    same_value(&text, &path.display().to_string())
}

/// Each line of a JSON-lines file read as a `T` and written back.
fn lines_round_trip<T: Serialize + DeserializeOwned>(path: &Path) -> Vec<T> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, l)| same_value(l, &format!("{} line {}", path.display(), i + 1)))
        .collect()
}

#[test]
fn a_version_reads_back_into_its_types() {
    use healthscore::model::{FittedModel, TargetModel};
    use healthscore::Manifest;
    let version = in_use(&demo().join("models"));
    let manifest: Manifest = round_trips(&version.join("manifest.json"));
    assert!(!manifest.files.is_empty(), "the manifest lists the version's files");
    let risk: TargetModel = round_trips(&version.join("risk.json"));
    let upsell: TargetModel = round_trips(&version.join("upsell.json"));
    assert_eq!((risk.target.name(), upsell.target.name()), ("risk", "upsell"));
    let _: healthscore::validate::Report = round_trips(&version.join("report.json"));
    // The other model kind, from the telco version.
    let logistic: TargetModel = round_trips(&in_use(&telco_logistic().join("models")).join("risk.json"));
    assert!(matches!(logistic.pooled.model, FittedModel::Logistic(_)));
    let kinds = [&risk, &upsell].map(|m| matches!(m.pooled.model, FittedModel::Gbdt(_)));
    assert!(kinds.contains(&true), "the demo's version has a tree model to read back");
}

#[test]
fn the_registry_logs_read_back_into_their_types() {
    use healthscore::registry::{InUse, Promotion, Written};
    let models = demo().join("models");
    let written: Vec<Written> = lines_round_trip(&models.join("versions.jsonl"));
    assert!(!written.is_empty());
    let promotions: Vec<Promotion> = lines_round_trip(&models.join("promotions.jsonl"));
    assert!(!promotions.is_empty());
    let _: InUse = round_trips(&models.join("in_use.json"));
}

#[test]
fn the_reports_and_generated_truth_read_back_into_their_types() {
    let _: healthscore::validate::Report = round_trips(&demo().join("validation.json"));
    let _: healthscore::report::portfolio::Portfolio = round_trips(&demo().join("portfolio.json"));
    let _: healthscore::synth::Truth = round_trips(&repo("notebooks-data/truth.json"));
}

/// A JSON file with the demo's directory written as `[dir]`, for a snapshot.
fn snapshot_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    let dir = serde_json::to_string(&demo().display().to_string()).unwrap();
    serde_json::from_str(&text.replace(dir.trim_matches('"'), "[dir]")).unwrap()
}

#[test]
fn the_validation_report_is_as_reviewed() {
    insta::assert_json_snapshot!("validation", snapshot_json(&demo().join("validation.json")));
}

#[test]
fn the_holdout_report_is_as_reviewed() {
    let version = in_use(&demo().join("models"));
    insta::assert_json_snapshot!("holdout_report", snapshot_json(&version.join("report.json")));
}

#[test]
fn the_scores_header_is_as_reviewed() {
    let text = std::fs::read_to_string(demo().join("scores.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    insta::assert_snapshot!("scores_header", header.join("\n"));
}

#[test]
fn the_portfolio_figures_are_as_reviewed() {
    insta::assert_json_snapshot!("portfolio", snapshot_json(&demo().join("portfolio.json")));
}
