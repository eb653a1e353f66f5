//! Integration tests: they drive the real binary in temporary directories, and
//! the library on the bundled data. One test binary (see `util.rs`).

mod artifacts;
mod faults;
mod layers;
mod util;

use std::collections::HashMap;

use healthscore::data::spec::Spec;
use healthscore::data::write::Format;
use healthscore::data::{read::read_table, table::Labels};
use healthscore::metrics::{roc_auc, spearman};
use healthscore::model::Target;
use healthscore::registry::Registry;
use healthscore::synth::{generate, SynthParams, Truth};
use healthscore::workflow::score::{read_live, render, score, score_file, score_to_file, Previous, ScoreOptions};
use predicates::prelude::*;
use predicates::str::contains;
use util::*;

// ---------- generate ----------

#[test]
fn generate_is_deterministic_and_seeded() {
    let d = tempfile::tempdir().unwrap();
    let run = |seed: &str, out: &str| {
        hs().args(["generate", "--accounts", "2000", "--quarters", "6", "--seed", seed, "--out"])
            .arg(d.path().join(out))
            .assert()
            .success();
    };
    run("7", "a");
    run("7", "b");
    run("8", "c");
    for f in ["history.csv", "live.csv", "outcomes.csv", "truth.json"] {
        let a = std::fs::read(d.path().join("a").join(f)).unwrap();
        let b = std::fs::read(d.path().join("b").join(f)).unwrap();
        let c = std::fs::read(d.path().join("c").join(f)).unwrap();
        assert_eq!(a, b, "{f} differs for the same seed");
        assert_ne!(a, c, "{f} is the same for another seed");
    }
}

#[test]
fn generated_history_is_realistic() {
    let g = generate(&SynthParams {
        accounts: 2000,
        quarters: 6,
        seed: 7,
        ..Default::default()
    });
    let t = &g.truth;
    // True model's AUC on the labeled rows of the history.
    let live_date = t.rows.snapshot_date.iter().max().unwrap().clone();
    let mut y = vec![];
    let mut p = vec![];
    let rows_by_key: HashMap<(String, String), usize> = t
        .rows
        .account_id
        .iter()
        .zip(&t.rows.snapshot_date)
        .enumerate()
        .map(|(i, (a, d))| ((a.clone(), d.clone()), i))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let hist = tmp.path().join("history.csv");
    std::fs::write(&hist, g.history.render(healthscore::data::write::Format::Csv).unwrap()).unwrap();
    let spec = Spec::load(&repo("training/saas.toml")).unwrap();
    let table = read_table(&hist, &spec.columns, &spec.feature_defs(), Labels::Required).unwrap();
    let mut per_quarter: HashMap<String, (f64, f64, f64, f64)> = HashMap::new();
    for r in 0..table.len() {
        let d = table.dates.as_ref().unwrap()[r].to_string();
        assert_ne!(d, live_date);
        let e = per_quarter.entry(d.clone()).or_default();
        if let Some(c) = table.risk.as_ref().unwrap()[r] {
            let i = rows_by_key[&(table.ids[r].clone(), d)];
            y.push(c);
            p.push(t.rows.risk[i].unwrap());
            e.0 += c as f64;
            e.1 += 1.0;
        }
        e.2 += table.upsell.as_ref().unwrap()[r].unwrap() as f64;
        e.3 += 1.0;
    }
    let auc = roc_auc(&y, &p);
    assert!((0.70..=0.90).contains(&auc), "true risk AUC {auc}");
    for (q, (churn, renewals, exp, rows)) in per_quarter {
        let (c, x) = (churn / renewals, exp / rows);
        assert!((0.05..=0.25).contains(&c), "{q}: churn among renewals {c}");
        assert!((0.05..=0.30).contains(&x), "{q}: expansion {x}");
    }
}

// ---------- bad input ----------

fn bad_table(csv: &str) -> (tempfile::TempDir, assert_cmd::assert::Assert) {
    let d = tempfile::tempdir().unwrap();
    let spec = write(d.path(), "spec.toml", SMALL_SPEC);
    let input = write(d.path(), "t.csv", csv);
    let a = hs()
        .args(["train", "--spec"])
        .arg(&spec)
        .arg("--input")
        .arg(&input)
        .arg("--models")
        .arg(d.path().join("models"))
        .assert();
    (d, a)
}

const HEADER: &str = "account_id,snapshot_date,logins,plan,churned\n";

#[test]
fn missing_column_is_named() {
    let (d, a) = bad_table("account_id,snapshot_date,plan,churned\nA,2026-01-01,x,1\n");
    a.code(2).stderr(contains("column `logins` is missing"));
    assert!(!d.path().join("models").exists() || Registry::new(d.path().join("models")).versions().unwrap().is_empty());
}

#[test]
fn text_in_numeric_column_names_row() {
    let (_, a) = bad_table(&format!("{HEADER}A,2026-01-01,3,x,1\nB,2026-01-01,lots,x,0\n"));
    a.code(2).stderr(contains("column `logins`, row 2").and(contains("`lots`")));
}

#[test]
fn infinite_value_names_row() {
    let (_, a) = bad_table(&format!("{HEADER}A,2026-01-01,3,x,1\nB,2026-01-01,inf,x,0\n"));
    a.code(2).stderr(contains("column `logins`, row 2").and(contains("infinite")));
}

#[test]
fn bad_label_names_row() {
    let (_, a) = bad_table(&format!("{HEADER}A,2026-01-01,3,x,1\nB,2026-01-01,4,x,2\n"));
    a.code(2)
        .stderr(contains("column `churned`, row 2").and(contains("1/0, yes/no, true/false or empty")));
}

#[test]
fn bad_date_names_row() {
    let (_, a) = bad_table(&format!("{HEADER}A,2026-01-01,3,x,1\nB,01/02/2026,4,x,0\n"));
    a.code(2)
        .stderr(contains("column `snapshot_date`, row 2").and(contains("YYYY-MM-DD")));
}

#[test]
fn duplicate_account_and_date_names_rows() {
    let (_, a) = bad_table(&format!("{HEADER}A,2026-01-01,3,x,1\nB,2026-01-01,4,x,0\nA,2026-01-01,5,x,0\n"));
    a.code(2).stderr(
        contains("column `account_id`, row 3")
            .and(contains("duplicate account `A`"))
            .and(contains("row 1")),
    );
}

#[test]
fn empty_table_is_an_error() {
    let (_, a) = bad_table("");
    a.code(2).stderr(contains("no rows"));
    let (_, a) = bad_table(HEADER);
    a.code(2).stderr(contains("no rows"));
}

#[test]
fn no_labeled_rows_is_an_error() {
    let (_, a) = bad_table(&format!("{HEADER}A,2026-01-01,3,x,\nB,2026-01-01,4,x,\n"));
    a.code(2).stderr(contains("column `churned` has no labeled rows"));
}

#[test]
fn unknown_spec_key_is_named() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(d.path(), "spec.toml", &format!("{SMALL_SPEC}\n[bands]\ngren = 70\n"));
    let input = write(d.path(), "t.csv", &format!("{HEADER}A,2026-01-01,3,x,1\n"));
    hs().args(["train", "--spec"])
        .arg(&spec)
        .arg("--input")
        .arg(&input)
        .assert()
        .code(2)
        .stderr(contains("gren").and(contains("spec.toml")));
}

// ---------- train: the bundled data ----------

fn train(spec: &str, input: &str, models: &std::path::Path, extra: &[&str]) {
    train_files(&repo(spec), &repo(input), models, extra);
}

/// Trains a version from a spec and an input anywhere; returns it loaded.
fn train_files(spec: &std::path::Path, input: &std::path::Path, models: &std::path::Path, extra: &[&str]) -> healthscore::registry::Loaded {
    hs().args(["train", "--spec"])
        .arg(spec)
        .arg("--input")
        .arg(input)
        .arg("--models")
        .arg(models)
        .args(extra)
        .assert()
        .success();
    let reg = Registry::new(models);
    reg.load(&reg.resolve(None).unwrap()).unwrap()
}

#[test]
fn telco_test_auc_matches_scikit_learn() {
    let d = tempfile::tempdir().unwrap();
    let models = d.path().join("models");
    train("training/telco.toml", "notebooks-data/telco.train.csv", &models, &[]);
    let reg = Registry::new(&models);
    let loaded = reg.load(&reg.resolve(None).unwrap()).unwrap();
    let table = read_live(&loaded, &repo("notebooks-data/telco.test.csv")).unwrap();
    let y: Vec<u8> = table.risk.as_ref().unwrap().iter().map(|v| v.unwrap()).collect();
    let s = score(&loaded, table);
    let auc = roc_auc(&y, &s.risk.as_ref().unwrap().probability);
    // scikit-learn's LogisticRegression reaches 0.8465 on exactly this split.
    assert!(auc >= 0.846, "telco test AUC {auc}");
}

#[test]
fn telco_gradient_boosting_alone_matches_lightgbm() {
    let d = tempfile::tempdir().unwrap();
    let models = d.path().join("models");
    let spec = spec_with_kind(d.path(), "training/telco.toml", "gbdt");
    let loaded = train_files(&spec, &repo("notebooks-data/telco.train.csv"), &models, &[]);
    assert_eq!(loaded.risk.as_ref().unwrap().pooled.model.kind().name(), "gbdt");
    let table = read_live(&loaded, &repo("notebooks-data/telco.test.csv")).unwrap();
    let y: Vec<u8> = table.risk.as_ref().unwrap().iter().map(|v| v.unwrap()).collect();
    let s = score(&loaded, table);
    let r = s.risk.as_ref().unwrap();
    // LightGBM (15 leaves, learning rate 0.05, 300 trees) reaches 0.8405 on this split.
    let auc = roc_auc(&y, &r.probability);
    assert!(auc >= 0.840, "telco gbdt test AUC {auc}");
    // TreeSHAP attributions add up to the margin.
    let a = &r.explained.attributions;
    let max_err = (0..y.len())
        .map(|i| (a.base[i] + a.contributions.row(i).sum() - healthscore::model::logistic::logit(r.probability[i])).abs())
        .fold(0.0, f64::max);
    assert!(max_err < 1e-9, "additivity error {max_err}");
}

#[test]
fn training_twice_gives_the_same_model_bytes() {
    let models = sample_versions();
    for f in ["risk.json", "upsell.json"] {
        let a = std::fs::read(models.join("a").join(f)).unwrap();
        let b = std::fs::read(models.join("b").join(f)).unwrap();
        assert!(a == b, "{f} differs between two runs");
    }
}

#[test]
fn manifests_of_two_runs_differ_only_in_the_version_name() {
    let models = sample_versions();
    // Without the version name (and the reports that show it).
    let manifest = |v: &str| {
        let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(models.join(v).join("manifest.json")).unwrap()).unwrap();
        let o = m.as_object_mut().unwrap();
        o.remove("version");
        let files = o.get_mut("files").unwrap().as_object_mut().unwrap();
        files.remove("report.html");
        files.remove("report.json");
        m
    };
    assert!(manifest("a") == manifest("b"), "manifests differ beyond the version name");
}

#[test]
fn training_into_an_existing_version_fails_and_leaves_it_untouched() {
    let d = tempfile::tempdir().unwrap();
    let models = d.path().join("models");
    copy_dir(&sample_versions(), &models);
    let before = std::fs::read(models.join("a").join("risk.json")).unwrap();
    hs().args(["train", "--spec"])
        .arg(repo("training/saas.toml"))
        .arg("--input")
        .arg(repo("notebooks-data/telco.train.csv"))
        .arg("--models")
        .arg(&models)
        .args(["--version", "a"])
        .assert()
        .code(2)
        .stderr(contains("already exists"));
    assert_eq!(before, std::fs::read(models.join("a").join("risk.json")).unwrap());
}

#[test]
fn training_leaves_no_temporary_directories() {
    let leftovers: Vec<_> = std::fs::read_dir(sample_versions())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".healthscore-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_flipped_byte_in_a_model_file_stops_loading_scoring_and_promotion() {
    let d = tempfile::tempdir().unwrap();
    let models = d.path().join("models");
    copy_dir(&sample_versions(), &models);
    let p = models.join("b").join("risk.json");
    let mut bytes = std::fs::read(&p).unwrap();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'1' { b'2' } else { b'1' };
    std::fs::write(&p, bytes).unwrap();
    let e = Registry::new(&models).load("b").unwrap_err().to_string();
    assert!(e.contains("risk.json") && e.contains("checksum"), "{e}");
    hs().args(["score", "--version", "b", "--models"])
        .arg(&models)
        .arg("--input")
        .arg(repo("notebooks-data/live.csv"))
        .arg("--output")
        .arg(d.path().join("s.csv"))
        .assert()
        .code(2)
        .stderr(contains("risk.json"));
    assert!(!d.path().join("s.csv").exists());
    // Nor can it be promoted; in use stays as it was.
    hs().args(["promote", "b", "--models"])
        .arg(&models)
        .assert()
        .code(2)
        .stderr(contains("checksum"));
    assert_eq!(Registry::new(&models).in_use().unwrap().unwrap().version, "a");
}

#[test]
fn promotion_and_rollback_are_logged() {
    let d = tempfile::tempdir().unwrap();
    let models = d.path().join("models");
    copy_dir(&sample_versions(), &models);
    hs().args(["promote", "b", "--models"]).arg(&models).assert().success();
    assert_eq!(Registry::new(&models).in_use().unwrap().unwrap().version, "b");
    hs().args(["rollback", "--models"]).arg(&models).assert().success();
    let reg = Registry::new(&models);
    assert_eq!(reg.in_use().unwrap().unwrap().version, "a");
    let log: Vec<String> = reg
        .promotions()
        .unwrap()
        .into_iter()
        .map(|p| format!("{} {}", p.action, p.version))
        .collect();
    assert_eq!(log, ["first version a", "promote b", "rollback a"]);
    hs().args(["models", "list", "--models"])
        .arg(&models)
        .assert()
        .success()
        .stdout(contains("a ").and(contains("b ")));
}

fn load_truth() -> Truth {
    serde_json::from_slice(&std::fs::read(repo("notebooks-data/truth.json")).unwrap()).unwrap()
}

/// A copy of a bundled spec with `[model] kind` set.
fn spec_with_kind(dir: &std::path::Path, spec: &str, kind: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo(spec))
        .unwrap()
        .replace("\n[holdout]", &format!("\n[model]\nkind = \"{kind}\"\n\n[holdout]"));
    write(dir, "spec.toml", &text)
}

/// The bundled history trained with the logistic model only, once per test process.
fn sample_logistic() -> healthscore::registry::Loaded {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let d = DIR.get_or_init(|| {
        let d = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let spec = spec_with_kind(d.path(), "training/saas.toml", "logistic");
        train_files(&spec, &repo("notebooks-data/history.csv"), &d.path().join("models"), &[]);
        d
    });
    let reg = Registry::new(d.path().join("models"));
    reg.load(&reg.resolve(None).unwrap()).unwrap()
}

#[test]
fn synthetic_logistic_model_ranks_the_holdout_as_well_as_the_truth() {
    let loaded = sample_logistic();
    let truth = load_truth();
    // Holdout AUC against the true model's AUC on the same rows (the latest history quarter).
    let summary = &loaded.manifest.targets[&Target::Risk];
    let held = summary.holdout.date.clone().unwrap();
    let (mut y, mut p) = (vec![], vec![]);
    let spec = &loaded.manifest.spec;
    let table = read_table(
        &repo("notebooks-data/history.csv"),
        &spec.columns,
        &spec.feature_defs(),
        Labels::Required,
    )
    .unwrap();
    let key: HashMap<(&str, &str), usize> = truth
        .rows
        .account_id
        .iter()
        .zip(&truth.rows.snapshot_date)
        .enumerate()
        .map(|(i, (a, d))| ((a.as_str(), d.as_str()), i))
        .collect();
    for r in 0..table.len() {
        let d = table.dates.as_ref().unwrap()[r].to_string();
        if d == held {
            if let Some(c) = table.risk.as_ref().unwrap()[r] {
                y.push(c);
                p.push(truth.rows.risk[key[&(table.ids[r].as_str(), d.as_str())]].unwrap());
            }
        }
    }
    let true_auc = roc_auc(&y, &p);
    let model_auc = summary.holdout.metrics.roc_auc;
    assert_eq!(y.len(), summary.holdout.metrics.rows);
    assert!((model_auc - true_auc).abs() <= 0.02, "model {model_auc} vs truth {true_auc}");
}

#[test]
fn synthetic_logistic_model_gives_clear_linear_effects_their_sign() {
    let loaded = sample_logistic();
    let risk = loaded.risk.as_ref().unwrap();
    let healthscore::model::FittedModel::Logistic(lm) = &risk.pooled.model else {
        panic!("the spec asks for logistic")
    };
    for (feature, sign) in &load_truth().risk_sign {
        let j = risk.pooled.preprocessor.columns.iter().position(|c| &c.name == feature).unwrap();
        assert_eq!(lm.coef[j].signum() as i8, *sign, "{feature}: {}", lm.coef[j]);
    }
}

#[test]
fn the_default_picks_trees_that_beat_logistic_on_the_cliff_and_interaction() {
    // The sample has a cliff and an interaction: with the default `auto`,
    // cross-validation picks the trees, and they beat the logistic model on
    // the same holdout.
    let logistic_auc = sample_logistic().manifest.targets[&Target::Risk].holdout.metrics.roc_auc;
    let auto = sample_loaded();
    let auto_summary = &auto.manifest.targets[&Target::Risk];
    assert!(auto_summary.chosen.starts_with("gbdt"), "{}", auto_summary.chosen);
    assert!(
        auto_summary.holdout.metrics.roc_auc > logistic_auc,
        "gbdt {} vs logistic {logistic_auc}",
        auto_summary.holdout.metrics.roc_auc
    );
    // Both kinds were cross-validated and are recorded.
    let kinds: std::collections::BTreeSet<&str> = auto
        .risk
        .as_ref()
        .unwrap()
        .selection
        .candidates
        .iter()
        .map(|c| c.kind.name())
        .collect();
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["gbdt", "logistic"]);
}

#[test]
fn attributions_add_up_to_the_probability_for_both_model_kinds() {
    for loaded in [sample_logistic(), sample_loaded()] {
        let s = score(&loaded, read_live(&loaded, &repo("notebooks-data/live.csv")).unwrap());
        // The probability is the sigmoid of base + contributions, through the
        // calibration map when the version has one.
        for (t, m) in [(&s.risk, &loaded.risk), (&s.upsell, &loaded.upsell)] {
            let (t, m) = (t.as_ref().unwrap(), m.as_ref().unwrap());
            let a = &t.explained.attributions;
            let max_err = (0..t.probability.len())
                .map(|r| {
                    let p = healthscore::model::logistic::sigmoid(a.base[r] + a.contributions.row(r).sum());
                    (m.calibration.as_ref().map_or(p, |c| c.apply(p)) - t.probability[r]).abs()
                })
                .fold(0.0, f64::max);
            assert!(max_err < 1e-12, "additivity error {max_err}");
        }
    }
}

#[test]
fn planted_zombies_are_flagged_well_above_chance() {
    // The generator plants zombies (accounts that barely use the product and
    // churn less); a flagged account is a planted zombie far more often than
    // the 4% base share.
    let loaded = sample_logistic();
    let s = score(&loaded, read_live(&loaded, &repo("notebooks-data/live.csv")).unwrap());
    let truth = load_truth();
    let zombie_of: std::collections::HashMap<&str, bool> = truth
        .rows
        .account_id
        .iter()
        .map(|a| a.as_str())
        .zip(truth.rows.zombie.iter().copied())
        .collect();
    let planted: Vec<usize> = (0..s.table.len()).filter(|&r| zombie_of[s.table.ids[r].as_str()]).collect();
    let flagged: Vec<usize> = (0..s.table.len()).filter(|&r| s.zombie[r]).collect();
    let caught = planted.iter().filter(|&&r| s.zombie[r]).count();
    let recall = caught as f64 / planted.len() as f64;
    let precision = caught as f64 / flagged.len().max(1) as f64;
    eprintln!(
        "zombies: {} planted, {} flagged, recall {recall:.2}, precision {precision:.2}",
        planted.len(),
        flagged.len()
    );
    assert!(recall >= 0.35 && precision >= 0.2, "recall {recall:.2}, precision {precision:.2}");
}

#[test]
fn the_logistic_attribution_ranking_follows_the_true_effect_sizes() {
    let loaded = sample_logistic();
    let s = score(&loaded, read_live(&loaded, &repo("notebooks-data/live.csv")).unwrap());
    let truth = load_truth();
    let r = s.risk.as_ref().unwrap();
    let names: Vec<&str> = r.explained.features.iter().map(|(n, _)| n.as_str()).collect();
    let mean_abs: Vec<f64> = (0..names.len())
        .map(|j| {
            r.explained
                .attributions
                .contributions
                .column(j)
                .iter()
                .map(|v| v.abs())
                .sum::<f64>()
        })
        .collect();
    let truth_size: Vec<f64> = names.iter().map(|n| truth.risk_effect_size[*n]).collect();
    let (rho, _) = spearman(&mean_abs, &truth_size);
    assert!(rho >= 0.8, "Spearman {rho} between attribution ranking and true effect sizes");
}

/// `healthscore score` of `input` into `out` with version `a` of the sample, plus `extra`.
fn score_sample(input: &std::path::Path, out: &std::path::Path, extra: &[&str]) -> assert_cmd::Command {
    let mut c = score_cmd(&sample_versions(), input, out);
    c.args(extra);
    c
}

/// Version `a` of the sample, loaded.
fn sample_loaded() -> healthscore::registry::Loaded {
    Registry::new(sample_versions()).load("a").unwrap()
}

#[test]
fn scoring_twice_writes_the_same_file_in_every_format() {
    let d = tempfile::tempdir().unwrap();
    let live = repo("notebooks-data/live.csv");
    for ext in ["csv", "parquet", "jsonl"] {
        let (a, b) = (d.path().join(format!("a.{ext}")), d.path().join(format!("b.{ext}")));
        score_sample(&live, &a, &[]).assert().success().stdout("");
        score_sample(&live, &b, &[]).assert().success();
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "{ext} differs between two runs"
        );
    }
}

#[test]
fn each_driver_carries_its_percentage_points_of_probability() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("scores.csv");
    score_sample(&repo("notebooks-data/live.csv"), &out, &[]).assert().success();
    let text = std::fs::read_to_string(&out).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no {name}"));
    let (risk, base) = (col("risk"), col("risk_base"));
    let mut checked = 0;
    for l in text.lines().skip(1).take(500) {
        let cells: Vec<&str> = l.split(',').collect();
        let (p, b): (f64, f64) = (cells[risk].parse().unwrap(), cells[base].parse().unwrap());
        for k in 1..=5 {
            let (Ok(c), Ok(pts)) = (
                cells[col(&format!("risk_driver_{k}_contribution"))].parse::<f64>(),
                cells[col(&format!("risk_driver_{k}_points"))].parse::<f64>(),
            ) else {
                continue;
            };
            // The distance from the base rate, split in proportion to the log-odds.
            let expected = 100.0 * (p - 1.0 / (1.0 + (-b).exp())) * c / ((p / (1.0 - p)).ln() - b);
            assert!((pts - expected).abs() < 1e-9, "{pts} vs {expected}");
            assert_eq!(pts > 0.0, c > 0.0, "points keep the sign of the contribution");
            checked += 1;
        }
    }
    assert!(checked > 2000, "{checked}");
}

#[test]
fn alerts_since_the_previous_quarter_come_sorted_by_expected_loss() {
    let d = tempfile::tempdir().unwrap();
    let now = d.path().join("now.csv");
    score_sample(
        &repo("notebooks-data/live.csv"),
        &now,
        &["--previous", sample_previous().to_str().unwrap()],
    )
    .assert()
    .success()
    .stderr(contains("alerts"));
    let alerts = std::fs::read_to_string(d.path().join("now.alerts.csv")).unwrap();
    let lines: Vec<&str> = alerts.lines().collect();
    assert!(lines.len() > 10, "expected alerts, got {}", lines.len());
    assert!(lines[0].starts_with("account_id,alert,reason,previous_band,band"));
    // Each alert says why in one sentence, with the values that moved: "band fell green→red: nps 9 → 4; ...".
    let reason_at = 2;
    for l in &lines[1..] {
        let reason = l.split(',').nth(reason_at).unwrap();
        let alert = l.split(',').nth(1).unwrap();
        assert!(reason.starts_with(alert), "{l}");
    }
    assert!(
        lines[1..]
            .iter()
            .filter(|l| l.split(',').nth(reason_at).unwrap().contains(" → "))
            .count()
            * 2
            > lines.len() - 1,
        "most alerts name a feature that moved from one value to another"
    );
    // Most at stake first: expected ARR loss = risk × ARR.
    let header: Vec<&str> = lines[0].split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (risk_at, arr_at, loss_at) = (col("risk"), col("arr"), col("expected_arr_loss"));
    let losses: Vec<f64> = lines[1..]
        .iter()
        .map(|l| {
            // moved_by holds no commas: the features are joined with "; ".
            let cells: Vec<&str> = l.split(',').collect();
            let (risk, arr, loss): (f64, f64, f64) = (
                cells[risk_at].parse().unwrap(),
                cells[arr_at].parse().unwrap(),
                cells[loss_at].parse().unwrap(),
            );
            assert!((loss - risk * arr).abs() <= 1e-6 * arr.max(1.0), "{l}");
            loss
        })
        .collect();
    assert!(losses.windows(2).all(|w| w[0] >= w[1]), "alerts not sorted by expected loss");
    assert!(lines
        .iter()
        .any(|l| l.contains("band fell") && l.contains("(+") || l.contains("band fell") && l.contains("(-")));
}

#[test]
fn the_previous_input_splits_each_change_into_the_customers_and_the_models() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("now.csv");
    let prev = sample_previous();
    score_sample(
        &repo("notebooks-data/live.csv"),
        &out,
        &[
            "--previous",
            prev.to_str().unwrap(),
            "--previous-input",
            repo("notebooks-data/history.csv").to_str().unwrap(),
        ],
    )
    .assert()
    .success();
    let text = std::fs::read_to_string(&out).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no {name}"));
    let (change, customer, model) = (col("risk_change"), col("risk_change_customer"), col("risk_change_model"));
    let mut both = 0;
    for l in text.lines().skip(1) {
        let cells: Vec<&str> = l.split(',').collect();
        let (Ok(c), Ok(u), Ok(m)) = (
            cells[change].parse::<f64>(),
            cells[customer].parse::<f64>(),
            cells[model].parse::<f64>(),
        ) else {
            continue;
        };
        both += 1;
        assert!((u + m - c).abs() < 1e-12, "{l}");
        // The previous run is this version on this table: the model did not change.
        assert!(m.abs() < 1e-12, "model change {m}");
    }
    assert!(both > 1000, "{both} accounts with both parts");
}

#[test]
fn scoring_against_a_previous_run_of_another_version_warns() {
    let d = tempfile::tempdir().unwrap();
    score_sample(
        &repo("notebooks-data/live.csv"),
        &d.path().join("now.csv"),
        &["--version", "b", "--previous", sample_previous().to_str().unwrap()],
    )
    .assert()
    .success()
    .stderr(contains("written by version a").and(contains("--previous-input")));
}

#[test]
fn scoring_in_blocks_writes_what_one_pass_writes() {
    let d = tempfile::tempdir().unwrap();
    let loaded = sample_loaded();
    let live = repo("notebooks-data/live.csv");
    let table = read_live(&loaded, &live).unwrap();
    let previous = Previous::read(&sample_previous()).unwrap();
    let whole = render(&score(&loaded, table.clone()), &loaded, Some(&previous), ScoreOptions::default());
    for ext in ["csv", "jsonl", "parquet"] {
        let path = d.path().join(format!("blocks.{ext}"));
        let opts = ScoreOptions {
            block_rows: 500,
            ..Default::default()
        };
        let (summary, alerts) = score_to_file(&loaded, &table, Some(&previous), opts, &path).unwrap();
        let format = Format::from_path(&path).unwrap();
        if format != Format::Parquet {
            assert_eq!(std::fs::read(&path).unwrap(), whole.scores.render(format).unwrap(), "{ext}");
        } else {
            use polars::prelude::SerReader;
            let df = polars::prelude::ParquetReader::new(std::fs::File::open(&path).unwrap())
                .finish()
                .unwrap();
            assert_eq!((df.height(), df.width()), (table.len(), whole.scores.names.len()));
        }
        assert_eq!(alerts, whole.alerts);
        assert_eq!((summary.alerts, &summary.bands), (whole.summary.alerts, &whole.summary.bands));
    }
    // The command writes what the library renders.
    let now = d.path().join("now.csv");
    score_sample(&live, &now, &["--previous", sample_previous().to_str().unwrap()])
        .assert()
        .success();
    assert_eq!(std::fs::read(&now).unwrap(), whole.scores.render(Format::Csv).unwrap());
}

#[test]
fn reading_the_input_in_blocks_gives_the_same_file() {
    let d = tempfile::tempdir().unwrap();
    let loaded = sample_loaded();
    let live = repo("notebooks-data/live.csv");
    let previous = Previous::read(&sample_previous()).unwrap();
    let whole = render(
        &score(&loaded, read_live(&loaded, &live).unwrap()),
        &loaded,
        Some(&previous),
        ScoreOptions::default(),
    );
    // Parquet decoded 300 rows at a time.
    let live_parquet = d.path().join("live.parquet");
    {
        use polars::prelude::*;
        let mut df = CsvReadOptions::default()
            .try_into_reader_with_file_path(Some(live.clone()))
            .unwrap()
            .finish()
            .unwrap();
        ParquetWriter::new(std::fs::File::create(&live_parquet).unwrap())
            .finish(&mut df)
            .unwrap();
    }
    let small = ScoreOptions {
        block_rows: 300,
        ..Default::default()
    };
    let streamed = d.path().join("streamed.csv");
    let (summary, alerts) = score_file(&loaded, &live_parquet, None, Some(&previous), small, &streamed).unwrap();
    assert_eq!(std::fs::read(&streamed).unwrap(), whole.scores.render(Format::Csv).unwrap());
    assert_eq!((alerts, &summary.drift), (whole.alerts.clone(), &whole.summary.drift));
    // One snapshot date of the history kept block by block: the file `--as-of` writes.
    let day = chrono::NaiveDate::from_ymd_opt(2026, 6, 30);
    score_file(&loaded, &repo("notebooks-data/history.csv"), day, None, small, &streamed).unwrap();
    assert_eq!(std::fs::read(&streamed).unwrap(), std::fs::read(sample_previous()).unwrap());
    let none = chrono::NaiveDate::from_ymd_opt(1999, 1, 1);
    let err = score_file(&loaded, &repo("notebooks-data/history.csv"), none, None, small, &streamed).unwrap_err();
    assert!(err.to_string().contains("no rows with snapshot date 1999-01-01"), "{err}");
}

#[test]
fn a_bad_cell_in_a_later_block_names_the_row_and_leaves_no_output() {
    let d = tempfile::tempdir().unwrap();
    let bad_parquet = d.path().join("bad.parquet");
    {
        use polars::prelude::*;
        let text = std::fs::read_to_string(repo("notebooks-data/live.csv")).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        // Data row 700 (line 701 of the file): logins_30d (9th column) becomes text.
        let mut cells: Vec<&str> = lines[700].split(',').collect();
        cells[8] = "many";
        lines[700] = cells.join(",");
        let bad_csv = write(d.path(), "bad_rows.csv", &(lines.join("\n") + "\n"));
        let mut df = CsvReadOptions::default()
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(bad_csv))
            .unwrap()
            .finish()
            .unwrap();
        ParquetWriter::new(std::fs::File::create(&bad_parquet).unwrap())
            .finish(&mut df)
            .unwrap();
    }
    let small = ScoreOptions {
        block_rows: 300,
        ..Default::default()
    };
    let out = d.path().join("never.parquet");
    let err = score_file(&sample_loaded(), &bad_parquet, None, None, small, &out)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 700") && err.contains("logins_30d") && err.contains("`many`"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn bad_scoring_input_exits_2_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let live = repo("notebooks-data/live.csv");
    let out = d.path().join("bad.csv");
    let no_feature = write(d.path(), "nofeat.csv", "account_id,logins_30d\nA1,3\n");
    score_sample(&no_feature, &out, &[]).assert().code(2).stderr(contains("is missing"));
    let text = std::fs::read_to_string(&live).unwrap().replacen(",0.", ",abc", 1);
    let texty = write(d.path(), "texty.csv", &text);
    score_sample(&texty, &out, &[])
        .assert()
        .code(2)
        .stderr(contains("expected a number"));
    let empty = write(d.path(), "empty.csv", "");
    score_sample(&empty, &out, &[]).assert().code(2).stderr(contains("no rows"));
    score_sample(&live, &out, &["--version", "1999Q1"])
        .assert()
        .code(2)
        .stderr(contains("does not exist"));
    score_sample(&live, &d.path().join("nodir").join("x.csv"), &[])
        .assert()
        .code(2)
        .stderr(contains("does not exist"));
    assert!(!out.exists());
}

#[test]
fn explain_shows_the_drivers_of_one_account() {
    hs().args(["explain", "--account", "A00001", "--models"])
        .arg(sample_versions())
        .arg("--input")
        .arg(repo("notebooks-data/live.csv"))
        .assert()
        .success()
        .stdout(contains("raise risk").and(contains("by category")));
}

#[test]
fn explain_with_a_previous_run_says_what_changed_and_writes_a_page() {
    let d = tempfile::tempdir().unwrap();
    let page = d.path().join("card.html");
    let out = hs()
        .args(["explain", "--json", "--account", "A00001", "--models"])
        .arg(sample_versions())
        .arg("--input")
        .arg(repo("notebooks-data/live.csv"))
        .arg("--previous")
        .arg(sample_previous())
        .arg("--html")
        .arg(&page)
        .assert()
        .success();
    let card: healthscore::AccountCard = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let change = card.previous.expect("A00001 was scored the quarter before");
    let (now, then) = (card.risk.unwrap(), change.previous_risk.unwrap());
    assert!((change.risk_change.unwrap() - (now - then)).abs() < 1e-12);
    assert_eq!(change.moved.len(), 5);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Since the previous run") && html.contains("<svg") && html.contains("base rate"));
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
}

#[test]
fn explain_json_gives_every_driver_in_log_odds_and_probability_points() {
    let out = hs()
        .args(["explain", "--json", "--account", "A00001", "--models"])
        .arg(sample_versions())
        .arg("--input")
        .arg(repo("notebooks-data/live.csv"))
        .assert()
        .success();
    let card: healthscore::AccountCard = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(card.account_id, "A00001");
    let risk = &card.models[0];
    assert_eq!(risk.target, healthscore::Target::Risk);
    let sum: f64 = risk.drivers.iter().map(|d| d.contribution).sum();
    assert!((risk.base + sum - risk.margin).abs() < 1e-9, "contributions add up to the margin");
    // Points add up to the score's distance from the base rate (the sample's
    // risk model keeps no calibration map, so risk = sigmoid(margin)).
    let p = card.risk.unwrap();
    assert!((p - 1.0 / (1.0 + (-risk.margin).exp())).abs() < 1e-9);
    let points: f64 = risk.drivers.iter().map(|d| d.points).sum();
    let base_rate = 1.0 / (1.0 + (-risk.base).exp());
    assert!(
        (points - 100.0 * (p - base_rate)).abs() < 1e-6,
        "{points} vs {}",
        100.0 * (p - base_rate)
    );
    assert!(risk.drivers.windows(2).all(|w| w[0].contribution.abs() >= w[1].contribution.abs()));
}

// ---------- validate, rules, demo ----------

#[test]
fn validation_shows_the_model_beating_the_hand_built_score() {
    let d = tempfile::tempdir().unwrap();
    let models = sample_versions();
    // The version holds its holdout report.
    let v = Registry::new(&models).resolve(None).unwrap();
    let holdout = std::fs::read_to_string(models.join(&v).join("report.html")).unwrap();
    assert!(holdout.contains("<svg") && holdout.contains("hand-built score"));
    let scores = d.path().join("scores.csv");
    score_cmd(&models, &repo("notebooks-data/live.csv"), &scores).assert().success();
    let (html, json) = (d.path().join("r.html"), d.path().join("r.json"));
    // `healthscore validate` on these scores and the sample's outcomes, plus `extra`.
    let validate = |extra: &[&std::ffi::OsStr]| {
        let mut c = hs();
        c.args(["validate", "--models"])
            .arg(&models)
            .arg("--scores")
            .arg(&scores)
            .arg("--outcomes")
            .arg(repo("notebooks-data/outcomes.csv"))
            .args(extra);
        c.assert()
    };
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    validate(&[
        os("--report"),
        html.as_os_str(),
        os("--json"),
        json.as_os_str(),
        os("--min-auc"),
        os("0.6"),
    ])
    .success()
    .stdout(contains("vs hand-built score").and(contains("model better")));
    let report: healthscore::validate::Report = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let risk = report.risk.unwrap();
    let hand = &risk.baselines[0];
    assert_eq!(hand.name, "hand-built score");
    assert!(hand.difference.lower > 0.0, "model − hand-built interval {:?}", hand.difference);
    assert!(risk.roc_auc.lower < risk.roc_auc.estimate && risk.roc_auc.estimate < risk.roc_auc.upper);
    assert_eq!(risk.bands.iter().map(|b| b.count).sum::<usize>(), risk.rows);
    assert!(!report.segments.is_empty(), "segments by plan");
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<svg").count(), 4, "ROC, reliability, bands, lift");
    assert!(!page.contains("<script") && !page.contains("src=\"http") && !page.contains("href=\"http") && !page.contains("url("));
    // The same seed gives the same figures.
    let again = d.path().join("r2.json");
    validate(&[os("--json"), again.as_os_str()]).success();
    assert_eq!(std::fs::read(&json).unwrap(), std::fs::read(&again).unwrap());
    // A threshold the scores cannot meet: exit code 1.
    validate(&[os("--min-auc"), os("0.99")]).code(1);
    // --compare with itself: a difference of exactly zero.
    validate(&[os("--compare"), scores.as_os_str()])
        .success()
        .stdout(contains("vs compared scores").and(contains("+0.000 [+0.000, +0.000]")));
}

#[test]
fn rules_scores_without_labels() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("rules.csv");
    hs().args(["rules", "--spec"])
        .arg(repo("training/saas.toml"))
        .arg("--input")
        .arg(repo("notebooks-data/live.csv"))
        .arg("--reference")
        .arg(repo("notebooks-data/history.csv"))
        .arg("--output")
        .arg(&out)
        .assert()
        .success();
    let text = std::fs::read_to_string(&out).unwrap();
    let header = text.lines().next().unwrap();
    assert!(header.starts_with("account_id,snapshot_date,rules_health,rules_band,rules_engagement"));
    let healths: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert!(healths.iter().all(|h| (0.0..=100.0).contains(h)));
    assert!(healths.iter().any(|&h| h > 70.0) && healths.iter().any(|&h| h < 30.0));
}

#[test]
fn demo_runs_twice() {
    let d = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        hs().current_dir(root())
            .args(["demo", "--dir"])
            .arg(d.path())
            .assert()
            .success()
            .stderr(contains("validation report"));
    }
    assert!(d.path().join("models/demo-2/report.html").is_file());
    assert!(d.path().join("validation.html").is_file());
    // The portfolio page: self-contained, its figures the sums of the scores.
    let page = std::fs::read_to_string(d.path().join("portfolio.html")).unwrap();
    assert!(page.contains("<svg") && !page.contains("<script") && !page.contains("src=\"http") && !page.contains("href=\"http"));
    let p: serde_json::Value = serde_json::from_slice(&std::fs::read(d.path().join("portfolio.json")).unwrap()).unwrap();
    let bands: f64 = p["by_band"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["expected_arr_at_risk"].as_f64().unwrap())
        .sum();
    let total = p["expected_arr_at_risk"].as_f64().unwrap();
    assert!(total > 0.0 && (bands - total).abs() < 1e-6 * total);
    assert!(p["migration"]["fell"].as_u64().unwrap() > 0);
    assert_eq!(p["top_accounts"].as_array().unwrap().len(), 25);
    // The usage clusters: every scored account in one, k chosen in 3..=8.
    let k = p["clusters"]["k"].as_u64().unwrap();
    assert!((3..=8).contains(&k), "k = {k}");
    let clustered: u64 = p["clusters"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["accounts"].as_u64().unwrap())
        .sum();
    assert_eq!(clustered, p["accounts"].as_u64().unwrap());
    assert!(page.contains("usage clusters"));
    // What drives the scores within each segment: every segment of the spec's column.
    assert_eq!(
        p["segment_categories"].as_array().unwrap().len(),
        p["by_segment"].as_array().unwrap().len()
    );
}

#[test]
fn quarterly_recipe_over_two_quarters() {
    // training/RETRAINING.md, step by step. Last quarter's version was trained on a
    // narrower spec (no usage features); this quarter's spec adds them.
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let run = |args: &[&str]| hs().current_dir(dir).args(args).assert();
    run(&["generate", "--accounts", "3000", "--quarters", "8", "--cut", "7", "--out", "q1"]).success();
    run(&["generate", "--accounts", "3000", "--quarters", "8", "--cut", "8", "--out", "q2"]).success();
    let full = std::fs::read_to_string(repo("training/saas.toml")).unwrap();
    write(dir, "saas.toml", &full);
    write(
        dir,
        "narrow.toml",
        &full.replace("usage = [\"license_utilization\", \"api_calls_30d\"]\n", ""),
    );
    run(&["train", "--spec", "narrow.toml", "--input", "q1/history.csv", "--version", "2026Q1"]).success();
    run(&["score", "--input", "q1/live.csv", "--output", "q1-scores.csv"]).success();
    // 2. validate last quarter's scores
    run(&[
        "validate",
        "--scores",
        "q1-scores.csv",
        "--outcomes",
        "q1/outcomes.csv",
        "--json",
        "v.json",
        "--min-auc",
        "0.6",
    ])
    .success()
    .stdout(contains("ROC-AUC"));
    // 3. retrain, promote if better
    run(&[
        "retrain",
        "--spec",
        "saas.toml",
        "--input",
        "q2/history.csv",
        "--version",
        "2026Q2",
        "--promote-if-better",
        "--json",
        "bt.json",
    ])
    .success()
    .stdout(contains("recommendation: promote"));
    let bt: healthscore::workflow::retrain::Backtest = serde_json::from_slice(&std::fs::read(dir.join("bt.json")).unwrap()).unwrap();
    let risk = bt.comparisons.iter().find(|c| c.target == Target::Risk).unwrap();
    assert!(risk.auc_gain.lower > 0.0 && risk.challenger.roc_auc > risk.champion.roc_auc);
    let reg = Registry::new(dir.join("models"));
    assert_eq!(reg.in_use().unwrap().unwrap().version, "2026Q2");
    // models diff names the features whose effect changed most: the added usage features.
    run(&["models", "diff", "2026Q1", "2026Q2"])
        .success()
        .stdout(contains("features added: api_calls_30d, license_utilization").and(contains("usage          license_utilization")));
    // 4. score the live accounts with what changed
    run(&[
        "score",
        "--input",
        "q2/live.csv",
        "--output",
        "q2-scores.csv",
        "--previous",
        "q1-scores.csv",
    ])
    .success()
    .stderr(contains("alerts"));
    assert!(std::fs::read_to_string(dir.join("q2-scores.alerts.csv")).unwrap().lines().count() > 1);
    // 5. roll back
    run(&["rollback"]).success();
    let log: Vec<String> = reg
        .promotions()
        .unwrap()
        .into_iter()
        .map(|p| format!("{} {}", p.action, p.version))
        .collect();
    assert_eq!(log, ["first version 2026Q1", "promote 2026Q2", "rollback 2026Q1"]);
    assert_eq!(reg.in_use().unwrap().unwrap().version, "2026Q1");
}

#[test]
fn leakage_probe_warns_about_a_copied_label() {
    let d = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("notebooks-data/telco.train.csv")).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{},refund_requested\n", lines.next().unwrap());
    for l in lines {
        // A post-outcome field: 1 exactly when the customer churned.
        out += &format!("{l},{}\n", l.rsplit(',').next().unwrap());
    }
    let input = write(d.path(), "leaky.csv", &out);
    let spec = std::fs::read_to_string(repo("training/telco.toml"))
        .unwrap()
        .replace("[features]\n", "[features]\nsentiment = [\"refund_requested\"]\n");
    let spec = write(d.path(), "leaky.toml", &spec);
    hs().args(["train", "--spec"])
        .arg(&spec)
        .arg("--input")
        .arg(&input)
        .arg("--models")
        .arg(d.path().join("models"))
        .assert()
        .success()
        .stderr(contains("feature `refund_requested` alone reaches a holdout AUC of 1.000").and(contains("drop it from the spec")));
}

// ---------- per-segment models ----------

/// Accounts in three regions: churn rises with `x1` in the north and falls with
/// it in the south (no pooled model can fit both), `x2` acts the same everywhere,
/// and the west is too small for a model of its own.
fn segmented_table(dir: &std::path::Path) -> std::path::PathBuf {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut csv = String::from("account_id,region,x1,x2,churned\n");
    for i in 0..4300 {
        let region = match i % 43 {
            0..=20 => "north",
            21..=41 => "south",
            _ => "west",
        };
        let (x1, x2): (f64, f64) = (rng.gen_range(-2.0..2.0), rng.gen_range(-2.0..2.0));
        let slope = if region == "south" { -1.5 } else { 1.5 };
        let p = 1.0 / (1.0 + (-(-1.2 + slope * x1 + 0.8 * x2)).exp());
        let y = (rng.gen::<f64>() < p) as u8;
        csv += &format!("C{i:05},{region},{x1:.4},{x2:.4},{y}\n");
    }
    write(dir, "segmented.csv", &csv)
}

fn segmented_spec(dir: &std::path::Path, segment_models: &str) -> std::path::PathBuf {
    let spec = format!(
        "[columns]\nid = \"account_id\"\ndate = \"\"\nrisk_label = \"churned\"\nupsell_label = \"\"\nsegment = \"region\"\n\
         [features]\nusage = [\"x1\"]\nengagement = [\"x2\"]\n[model]\nkind = \"logistic\"\nsegment_models = \"{segment_models}\"\n"
    );
    write(dir, &format!("spec-{segment_models}.toml"), &spec)
}

#[test]
fn segments_that_differ_get_their_own_models_and_scoring_routes_to_them() {
    let d = tempfile::tempdir().unwrap();
    let input = segmented_table(d.path());
    let mut holdout_auc = HashMap::new();
    for mode in ["auto", "never"] {
        let models = d.path().join(format!("models-{mode}"));
        let loaded = train_files(&segmented_spec(d.path(), mode), &input, &models, &[]);
        let summary = &loaded.manifest.targets[&Target::Risk];
        holdout_auc.insert(mode, summary.holdout.metrics.roc_auc);
        let risk = loaded.risk.as_ref().unwrap();
        if mode == "never" {
            assert!(risk.segments.is_empty());
            continue;
        }
        // The manifest records which model serves which segment, and why.
        let own: Vec<&String> = risk.segments.keys().collect();
        assert_eq!(own, ["north", "south"], "{:?}", summary.segments);
        assert!(summary.segments["north"].starts_with("own model"), "{}", summary.segments["north"]);
        assert!(summary.segments["west"].contains("fewer than 500"), "{}", summary.segments["west"]);
        // The two own models have opposite slopes on x1.
        let slope = |s: &str| match &risk.segments[s].model {
            healthscore::model::FittedModel::Logistic(m) => {
                m.coef[risk.segments[s].preprocessor.columns.iter().position(|c| c.name == "x1").unwrap()]
            }
            _ => panic!("logistic spec"),
        };
        assert!(slope("north") > 0.5 && slope("south") < -0.5);
        // Scoring routes each account to its model and says which one served it.
        let out = d.path().join("scores.csv");
        score_cmd(&models, &input, &out).assert().success();
        let text = std::fs::read_to_string(&out).unwrap();
        let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        let (rc, mc) = (
            header.iter().position(|h| *h == "region").unwrap(),
            header.iter().position(|h| *h == "risk_model").unwrap(),
        );
        for line in text.lines().skip(1) {
            let cells: Vec<&str> = line.split(',').collect();
            let want = if cells[rc] == "west" { "pooled" } else { cells[rc] };
            assert_eq!(cells[mc], want);
        }
    }
    // The pooled model cannot fit opposite slopes; the segment models can.
    assert!(
        holdout_auc["auto"] > holdout_auc["never"] + 0.1,
        "holdout AUC with segment models {} vs pooled only {}",
        holdout_auc["auto"],
        holdout_auc["never"]
    );
}

// ---------- init: a drafted spec trains unedited ----------

/// The test AUC on the telco split of a version trained from `spec`.
fn telco_test_auc(spec: &std::path::Path, models: &std::path::Path) -> f64 {
    let loaded = train_files(spec, &repo("notebooks-data/telco.train.csv"), models, &[]);
    let table = read_live(&loaded, &repo("notebooks-data/telco.test.csv")).unwrap();
    let y: Vec<u8> = table.risk.as_ref().unwrap().iter().map(|v| v.unwrap()).collect();
    let s = score(&loaded, table);
    roc_auc(&y, &s.risk.as_ref().unwrap().probability)
}

#[test]
fn init_drafts_a_telco_spec_that_trains_as_well_as_the_hand_written_one() {
    let d = tempfile::tempdir().unwrap();
    let out = hs()
        .args(["init", "--input"])
        .arg(repo("notebooks-data/telco.csv"))
        .args(["--label", "churned"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let drafted = write(d.path(), "t.toml", &String::from_utf8(out.stdout).unwrap());
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains("id account_id") && summary.contains("risk label churned"),
        "{summary}"
    );
    let spec = healthscore::Spec::load(&drafted).unwrap();
    assert_eq!(spec.columns.date, None);
    assert_eq!(spec.feature_defs().len(), 19, "every other column is a feature");
    let auto = telco_test_auc(&drafted, &d.path().join("drafted"));
    let hand = telco_test_auc(&repo("training/telco.toml"), &d.path().join("hand"));
    assert!((auto - hand).abs() <= 0.005, "drafted {auto:.4} vs hand-written {hand:.4}");
}

#[test]
fn init_finds_both_labels_and_the_snapshot_date_of_a_history() {
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("saas.toml");
    hs().args(["init", "--input"])
        .arg(repo("notebooks-data/history.csv"))
        .arg("--output")
        .arg(&spec)
        .assert()
        .success();
    let s = healthscore::Spec::load(&spec).unwrap();
    assert_eq!(s.columns.id, "account_id");
    assert_eq!(s.columns.date.as_deref(), Some("snapshot_date"));
    assert_eq!(s.columns.risk_label.as_deref(), Some("churned"));
    assert_eq!(s.columns.upsell_label.as_deref(), Some("expanded"));
    assert_eq!(s.columns.revenue.as_deref(), Some("arr"));
    let text = std::fs::read_to_string(&spec).unwrap();
    assert!(text.contains("#   renewal_date: a date"), "{text}");
    // An existing file is not replaced without --force.
    hs().args(["init", "--input"])
        .arg(repo("notebooks-data/history.csv"))
        .arg("--output")
        .arg(&spec)
        .assert()
        .code(2)
        .stderr(contains("--force"));
}

#[test]
fn every_schema_problem_is_named_in_one_run() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(
        d.path(),
        "spec.toml",
        "[columns]\ndate = \"\"\nupsell_label = \"\"\n[features]\nusage = [\"logins\", \"seats\", \"plan\"]\n",
    );
    // Three problems: `seats` is missing, `plan` is text but not categorical, a label is `maybe`.
    let input = write(
        d.path(),
        "t.csv",
        "account_id,logins,plan,churned\nA1,3,basic,1\nA2,4,pro,maybe\nA3,5,pro,0\n",
    );
    hs().args(["train", "--spec"])
        .arg(&spec)
        .arg("--input")
        .arg(&input)
        .arg("--models")
        .arg(d.path().join("models"))
        .assert()
        .code(2)
        .stderr(
            contains("3 problems")
                .and(contains("`seats` is missing"))
                .and(contains("`plan`, row 1"))
                .and(contains("`churned`, row 2"))
                .and(contains("`maybe`")),
        );
    assert!(!d.path().join("models").exists(), "nothing written");
}

/// The risk of `rows` of the live table when `feature` is set to each value
/// of `grid` in turn, everything else as it is: one curve per row.
fn risk_curves(loaded: &healthscore::Loaded, feature: &str, grid: &[f64]) -> Vec<Vec<f64>> {
    let live = read_live(loaded, &repo("notebooks-data/live.csv")).unwrap();
    let rows: Vec<usize> = (0..live.len()).step_by(live.len() / 60).collect();
    let base = live.select(&rows);
    let per_value: Vec<Vec<f64>> = grid
        .iter()
        .map(|&v| {
            let mut t = base.clone();
            let f = t.features.iter_mut().find(|f| f.def.name == feature).unwrap();
            let healthscore::data::values::FeatureValues::Numeric(values) = &mut f.values else {
                panic!("{feature} is numeric")
            };
            values.iter_mut().for_each(|x| *x = v);
            score(loaded, t).risk.unwrap().probability
        })
        .collect();
    (0..rows.len()).map(|r| per_value.iter().map(|p| p[r]).collect()).collect()
}

/// Rows whose curve moves against `sign` (+1: must not fall, −1: must not rise).
fn against(curves: &[Vec<f64>], sign: f64) -> usize {
    curves
        .iter()
        .filter(|c| c.windows(2).any(|w| sign * (w[1] - w[0]) < -1e-12))
        .count()
}

#[test]
fn monotone_constraints_hold_along_the_feature_for_both_model_kinds() {
    let grid: Vec<f64> = (0..=40).map(|i| i as f64 * 3.0).collect(); // days 0..120, logins 0..120
    for kind in ["gbdt", "logistic"] {
        let d = tempfile::tempdir().unwrap();
        let base = std::fs::read_to_string(repo("training/saas.toml")).unwrap().replace(
            "\n[holdout]",
            &format!("\n[model]\nkind = \"{kind}\"\ndepth_grid = [3]\nmax_rounds = 300\nsegment_models = \"never\"\n\n[holdout]"),
        );
        let free = write(d.path(), "free.toml", &base);
        let constrained = write(
            d.path(),
            "constrained.toml",
            &format!("{base}\n[model.monotone]\ndays_since_last_meeting = \"raises_risk\"\nlogins_30d = \"lowers_risk\"\n"),
        );
        let load = |spec: &std::path::Path, name: &str| train_files(spec, &repo("notebooks-data/history.csv"), &d.path().join(name), &[]);
        let (free, constrained) = (load(&free, "free"), load(&constrained, "constrained"));
        let mut free_against = 0;
        for (feature, sign) in [("days_since_last_meeting", 1.0), ("logins_30d", -1.0)] {
            let bad = against(&risk_curves(&constrained, feature, &grid), sign);
            assert_eq!(bad, 0, "{kind}: {bad} accounts' risk moves against the constraint on {feature}");
            free_against += against(&risk_curves(&free, feature, &grid), sign);
        }
        if kind == "gbdt" {
            // The check can fail: without constraints the trees do move against them.
            assert!(free_against > 0, "the unconstrained trees were monotone already");
        }
        // The upsell model is left free.
        assert!(constrained.upsell.is_some());
    }
}

#[test]
fn kept_columns_pass_through_to_the_scores_and_a_missing_one_is_named() {
    let d = tempfile::tempdir().unwrap();
    let spec = std::fs::read_to_string(repo("training/telco.toml"))
        .unwrap()
        .replace("upsell_label = \"\"", "upsell_label = \"\"\nkeep = [\"owner\", \"contract\"]");
    let spec = write(d.path(), "spec.toml", &spec);
    // The history has no owner column: training reads the kept columns only when present.
    let models = d.path().join("models");
    train_files(&spec, &repo("notebooks-data/telco.train.csv"), &models, &[]);
    let text = std::fs::read_to_string(repo("notebooks-data/telco.test.csv")).unwrap();
    let with_owner: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{l},owner\n")
            } else {
                format!("{l},csm-{}\n", i % 7)
            }
        })
        .collect();
    let live = write(d.path(), "live.csv", &with_owner);
    let out = d.path().join("scores.csv");
    score_cmd(&models, &live, &out).assert().success();
    let scores = std::fs::read_to_string(&out).unwrap();
    let header: Vec<&str> = scores.lines().next().unwrap().split(',').collect();
    assert_eq!(
        &header[..3],
        ["account_id", "owner", "contract"],
        "kept columns follow the id, in the spec's order"
    );
    let first: Vec<&str> = scores.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(first[1], "csm-1");
    assert_eq!(
        first[2],
        text.lines().nth(1).unwrap().split(',').nth(15).unwrap(),
        "contract of the first row"
    );
    // A live table without it: exit 2 naming the column, no output.
    let out = d.path().join("never.csv");
    score_cmd(&models, &repo("notebooks-data/telco.test.csv"), &out)
        .assert()
        .code(2)
        .stderr(contains("`owner` is missing").and(contains("columns.keep")));
    assert!(!out.exists());
    // A kept column may not take a name the scores file writes.
    let clash = write(
        d.path(),
        "clash.toml",
        &std::fs::read_to_string(&spec).unwrap().replace("\"owner\"", "\"band\""),
    );
    hs().args(["train", "--spec"])
        .arg(&clash)
        .arg("--input")
        .arg(repo("notebooks-data/telco.train.csv"))
        .arg("--models")
        .arg(d.path().join("m2"))
        .assert()
        .code(2)
        .stderr(contains("columns.keep lists `band`"));
}

#[test]
fn a_category_of_ones_own_changes_the_hand_built_score_and_the_roll_ups_not_the_models() {
    // The sample's spec with the advocacy features moved to a category of
    // the spec's own, weighted four times as much. Advocacy comes last of
    // the eight, so the features keep their order.
    let d = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("training/saas.toml")).unwrap();
    assert!(!text.contains("[rules]"), "the sample spec takes the default weights");
    let text = text.replace("advocacy = [", "community = [") + "\n[rules]\nweights = { community = 40 }\n";
    let spec = write(d.path(), "own.toml", &text);
    let models = d.path().join("models");
    train_files(&spec, &repo("notebooks-data/history.csv"), &models, &["--version", "own"]);
    let live = repo("notebooks-data/live.csv");
    let (theirs, ours) = (d.path().join("eight.csv"), d.path().join("own.csv"));
    score_sample(&live, &theirs, &[]).assert().success();
    score_cmd(&models, &live, &ours).assert().success();
    let read = |p: &std::path::Path| {
        let text = std::fs::read_to_string(p).unwrap();
        let mut lines = text.lines();
        let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
        let rows: Vec<Vec<String>> = lines.map(|l| l.split(',').map(String::from).collect()).collect();
        (header, rows)
    };
    let ((h8, r8), (h9, r9)) = (read(&theirs), read(&ours));
    let column = |h: &[String], rows: &[Vec<String>], name: &str| -> Vec<String> {
        let i = h.iter().position(|x| x == name).unwrap_or_else(|| panic!("no column {name}"));
        rows.iter().map(|r| r[i].clone()).collect()
    };
    let num = |v: Vec<String>| -> Vec<f64> { v.iter().map(|x| x.parse().unwrap()).collect() };
    // The models: the same scores and drivers.
    for name in ["risk", "upsell", "risk_driver_1", "risk_driver_1_contribution", "upsell_driver_2"] {
        assert_eq!(column(&h8, &r8, name), column(&h9, &r9, name), "{name} changed");
    }
    // The roll-ups: the new category after the eight, the sum of its features.
    let at = |name: &str| h9.iter().position(|x| x == name).unwrap_or_else(|| panic!("no {name}"));
    assert!(at("risk_advocacy") < at("risk_community") && at("risk_community") < at("risk_driver_1"));
    assert!(num(column(&h9, &r9, "risk_advocacy")).iter().all(|&v| v == 0.0));
    let community = num(column(&h9, &r9, "risk_community"));
    let parts: Vec<f64> = num(column(&h9, &r9, "risk_contrib_referrals_12m"))
        .iter()
        .zip(num(column(&h9, &r9, "risk_contrib_community_posts_90d")))
        .map(|(a, b)| a + b)
        .collect();
    assert!(community.iter().zip(&parts).all(|(a, b)| (a - b).abs() < 1e-9));
    assert_eq!(num(column(&h8, &r8, "risk_advocacy")), community, "the same sums under a new name");
    // The hand-built score: the same category scores, another weight.
    let (old, new) = (num(column(&h8, &r8, "rules_health")), num(column(&h9, &r9, "rules_health")));
    assert!(old.iter().zip(&new).filter(|(a, b)| a != b).count() > old.len() / 2);
    // The portfolio and the card speak of it too.
    let json = d.path().join("portfolio.json");
    hs().args(["report", "--scores"])
        .arg(&ours)
        .arg("--models")
        .arg(&models)
        .arg("--output")
        .arg(d.path().join("portfolio.html"))
        .arg("--json")
        .arg(&json)
        .assert()
        .success();
    let p: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let names: Vec<&str> = p["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"community") && !names.contains(&"advocacy"), "{names:?}");
    let id = column(&h9, &r9, "account_id")[0].clone();
    let card = hs()
        .args(["explain", "--json", "--models"])
        .arg(&models)
        .arg("--input")
        .arg(&live)
        .arg("--account")
        .arg(&id)
        .output()
        .unwrap();
    assert!(card.status.success(), "{}", String::from_utf8_lossy(&card.stderr));
    assert!(String::from_utf8_lossy(&card.stdout).contains("\"community\""));
}

/// A telco file as the public data set writes it: CamelCase names, a text
/// id, Yes/No for every flag and for `Churn`, a blank for a missing charge.
fn raw_telco(from: &str, to: &std::path::Path) {
    let text = std::fs::read_to_string(repo(from)).unwrap();
    let mut lines = text.lines();
    let names: Vec<&str> = lines.next().unwrap().split(',').collect();
    let camel = |n: &str| match n {
        "account_id" => "customerID".to_string(),
        "churned" => "Churn".to_string(),
        n => n.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect(),
    };
    let flags = ["partner", "dependents", "phone_service", "paperless_billing", "churned"];
    let mut out = names.iter().map(|n| camel(n)).collect::<Vec<_>>().join(",") + "\n";
    for l in lines {
        let cells: Vec<String> = l
            .split(',')
            .zip(&names)
            .map(|(v, n)| match (*n, v) {
                ("account_id", v) => format!("{}-QXZT", &v[1..]),
                (n, "1") if flags.contains(&n) => "Yes".into(),
                (n, "0") if flags.contains(&n) => "No".into(),
                ("total_charges", "") => " ".into(),
                (_, v) => v.to_string(),
            })
            .collect();
        out += &(cells.join(",") + "\n");
    }
    std::fs::write(to, out).unwrap();
}

#[test]
fn a_raw_churn_table_goes_from_init_to_validation_unedited() {
    let d = tempfile::tempdir().unwrap();
    let (train, test) = (d.path().join("train.csv"), d.path().join("test.csv"));
    raw_telco("notebooks-data/telco.train.csv", &train);
    raw_telco("notebooks-data/telco.test.csv", &test);
    let spec = d.path().join("spec.toml");
    hs().args(["init", "--input"])
        .arg(&train)
        .arg("--output")
        .arg(&spec)
        .assert()
        .success();
    let drafted = healthscore::Spec::load(&spec).unwrap();
    assert_eq!(drafted.columns.id, "customerID");
    assert_eq!(drafted.columns.risk_label.as_deref(), Some("Churn"));
    let models = d.path().join("models");
    train_files(&spec, &train, &models, &[]);
    let scores = d.path().join("scores.csv");
    score_cmd(&models, &test, &scores).assert().success();
    // The outcomes are the test table itself: its id, its `Churn` in Yes/No.
    let json = d.path().join("validation.json");
    hs().args(["validate", "--models"])
        .arg(&models)
        .arg("--scores")
        .arg(&scores)
        .arg("--outcomes")
        .arg(&test)
        .arg("--json")
        .arg(&json)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let auc = v["risk"]["roc_auc"]["estimate"].as_f64().unwrap_or_else(|| panic!("{}", v["risk"]));
    assert!(auc > 0.8, "test AUC {auc}");
    assert_eq!(v["risk"]["rows"].as_u64(), Some(1761), "{}", v["risk"]);
}

#[test]
fn a_table_without_an_id_column_numbers_its_accounts_by_row() {
    // Public churn tables often have no customer id: every row is an account.
    let d = tempfile::tempdir().unwrap();
    let drop_id = |from: &str, to: &str| {
        let text = std::fs::read_to_string(repo(from)).unwrap();
        let out: String = text.lines().map(|l| l.split_once(',').unwrap().1.to_string() + "\n").collect();
        write(d.path(), to, &out)
    };
    let (train, test) = (
        drop_id("notebooks-data/telco.train.csv", "train.csv"),
        drop_id("notebooks-data/telco.test.csv", "test.csv"),
    );
    let spec = d.path().join("spec.toml");
    hs().args(["init", "--input"])
        .arg(&train)
        .arg("--output")
        .arg(&spec)
        .assert()
        .success()
        .stderr(contains("roles: id —"));
    assert_eq!(healthscore::Spec::load(&spec).unwrap().columns.id, "");
    let models = d.path().join("models");
    train_files(&spec, &train, &models, &[]);
    let scores = d.path().join("scores.csv");
    score_cmd(&models, &test, &scores).assert().success();
    let text = std::fs::read_to_string(&scores).unwrap();
    let ids: Vec<&str> = text.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(ids.len(), 1761);
    assert_eq!((ids[0], ids[1760]), ("1", "1761"), "rows of the file, in order");
    // The outcomes join by row too, and `explain` takes a row number.
    let json = d.path().join("validation.json");
    hs().args(["validate", "--models"])
        .arg(&models)
        .arg("--scores")
        .arg(&scores)
        .arg("--outcomes")
        .arg(&test)
        .arg("--json")
        .arg(&json)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["risk"]["rows"].as_u64(), Some(1761));
    assert!(v["risk"]["roc_auc"]["estimate"].as_f64().unwrap() > 0.8);
    hs().args(["explain", "--account", "17", "--models"])
        .arg(&models)
        .arg("--input")
        .arg(&test)
        .assert()
        .success()
        .stdout(contains("account 17"));
    hs().args(["export", "sql", "--dialect", "duckdb", "--models"])
        .arg(&models)
        .assert()
        .code(2)
        .stderr(contains("without an id column"));
}
