//! `healthscore bench`: end-to-end timings at scale on generated data — reading
//! Parquet and CSV, fitting the logistic model and 300 boosted trees of depth 6,
//! scoring with top-5 attributions into Parquet with each model, and TreeSHAP
//! rows per second — with the peak resident memory of each step.
//!
//! Peak memory per step: the kernel's high-water mark (`VmHWM` in
//! `/proc/self/status`) is reset before each step by writing 5 to
//! `/proc/self/clear_refs` (Linux); elsewhere it reads as unknown.

use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::data::spec::{Category, Spec};
use crate::data::write::{Format, OutColumn, OutTable};
use crate::data::{read::read_table, table::Labels};
use crate::error::Result;
use crate::features::{reference, PreprocessParams, Preprocessor};
use crate::fsio::{to_json, write_atomic};
use crate::model::gbdt::{self, GbdtParams};
use crate::model::logistic::{sigmoid, LogisticParams};
use crate::model::{FittedModel, Selection, SubModel, Target, TargetModel, SCHEMA_VERSION};
use crate::registry::{Loaded, Manifest, Registry};
use crate::rules::RulesModel;
use crate::workflow::score::{score_file, ScoreOptions};

/// One timed step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub step: String,
    pub seconds: f64,
    /// Peak resident memory during the step, in MiB (None when unknown).
    pub peak_rss_mib: Option<f64>,
    /// Rows per second where that is the useful figure.
    pub rows_per_second: Option<f64>,
    pub note: String,
}

/// The benchmark's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub rows: usize,
    pub features: usize,
    pub seed: u64,
    pub threads: usize,
    /// Size of the f64 feature matrix, MiB.
    pub matrix_mib: f64,
    pub steps: Vec<Step>,
    /// Holdout-free AUCs on the training data (to compare with the peers at equal accuracy).
    pub logistic_auc: f64,
    pub gbdt_auc: f64,
}

/// Hands memory freed by earlier steps back to the OS, then resets the peak to
/// what the process holds now: a step's peak counts what it and the bench
/// hold, not pages the allocator kept from the steps before.
fn reset_peak() {
    // SAFETY: asks mimalloc (the binary's allocator) to free its unused pages;
    // harmless when mimalloc is not the global allocator.
    unsafe { libmimalloc_sys::mi_collect(true) };
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn timed<T>(steps: &mut Vec<Step>, name: &str, note: &str, f: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    reset_peak();
    let t = Instant::now();
    let out = f()?;
    let s = t.elapsed().as_secs_f64();
    steps.push(Step {
        step: name.into(),
        seconds: s,
        peak_rss_mib: peak_mib(),
        rows_per_second: None,
        note: note.into(),
    });
    Ok((out, s))
}

/// The generated table: `f00..` numeric (5% missing in every fifth), three categoricals, a 0/1 label.
pub fn generate(rows: usize, features: usize, seed: u64) -> (OutTable, Spec) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n01 = Normal::new(0.0, 1.0).expect("valid");
    let ncat = 3.min(features);
    let nnum = features - ncat;
    let coef: Vec<f64> = (0..nnum)
        .map(|j| if j % 3 == 2 { 0.0 } else { n01.sample(&mut rng) * 0.5 })
        .collect();
    let mut num: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(rows); nnum];
    let mut cat: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(rows); ncat];
    let levels = ["a", "b", "c", "d", "e"];
    let mut y = Vec::with_capacity(rows);
    for _ in 0..rows {
        let mut z = -1.5;
        for j in 0..nnum {
            let v: f64 = n01.sample(&mut rng);
            z += coef[j] * v;
            if j == 0 {
                z += 0.8 * (v * v - 1.0);
            }
            let missing = j % 5 == 4 && rng.gen::<f64>() < 0.05;
            num[j].push(if missing { None } else { Some((v * 1e4).round() / 1e4) });
        }
        for (k, c) in cat.iter_mut().enumerate() {
            let l = rng.gen_range(0..levels.len());
            z += if k == 0 { 0.3 * l as f64 - 0.6 } else { 0.0 };
            c.push(Some(levels[l].to_string()));
        }
        y.push(Some((rng.gen::<f64>() < sigmoid(z)) as i64));
    }
    let mut t = OutTable::default();
    t.push("account_id", OutColumn::Text((0..rows).map(|i| Some(format!("B{i:08}"))).collect()));
    let mut lists: BTreeMap<Category, Vec<String>> = BTreeMap::new();
    for (j, v) in num.into_iter().enumerate() {
        let name = format!("f{j:02}");
        lists.entry(Category::ALL[j % 8]).or_default().push(name.clone());
        t.push(name, OutColumn::Float(v));
    }
    for (k, v) in cat.into_iter().enumerate() {
        let name = format!("c{k}");
        lists.entry(Category::ALL[k % 8]).or_default().push(name.clone());
        t.push(name, OutColumn::Text(v));
    }
    t.push("churned", OutColumn::Int(y));
    let mut toml = String::from("categorical = [");
    toml += &(0..ncat).map(|k| format!("\"c{k}\"")).collect::<Vec<_>>().join(", ");
    toml += "]\n[columns]\ndate = \"\"\nupsell_label = \"\"\n[features]\n";
    for (c, names) in lists {
        toml += &format!(
            "{} = [{}]\n",
            c.name(),
            names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
        );
    }
    let spec = Spec::parse(&toml, Path::new("bench.toml")).expect("the bench spec is valid");
    (t, spec)
}

/// Runs the benchmark; data files go to `dir` (kept for `benches/peers.py`),
/// and so do the fitted models, as registries `models-logistic` and `models-gbdt`.
/// Without `trees`, the gbdt fit, its scoring and TreeSHAP are skipped.
pub fn run(rows: usize, features: usize, seed: u64, dir: &Path, trees: bool) -> Result<BenchReport> {
    let mut steps = vec![];
    let (table, spec) = generate(rows, features, seed);
    // The registries of an earlier run hold other models.
    for kind in ["logistic", "gbdt"] {
        let models = dir.join(format!("models-{kind}"));
        if models.exists() {
            std::fs::remove_dir_all(&models).map_err(|e| crate::Error::io(&models, e))?;
        }
    }
    let parquet = dir.join("bench.parquet");
    let csv = dir.join("bench.csv");
    write_atomic(&parquet, &table.render(Format::Parquet)?)?;
    write_atomic(&csv, &table.render(Format::Csv)?)?;
    drop(table);
    let defs = spec.feature_defs();
    // CSV first and let go, so that each read's peak is its own.
    timed(&mut steps, "read CSV", "read and check the table", || {
        read_table(&csv, &spec.columns, &defs, Labels::Required)
    })?;
    // polars' own readers of the whole file into one frame, unchecked: what
    // the block readers of `read CSV` and `read Parquet` are measured against.
    timed(&mut steps, "polars read CSV", "polars' CSV reader, whole file, unchecked", || {
        crate::data::read::read_frame(&csv).map(|df| df.height())
    })?;
    timed(
        &mut steps,
        "polars read Parquet",
        "polars' Parquet reader, whole file, unchecked",
        || crate::data::read::read_frame(&parquet).map(|df| df.height()),
    )?;
    let (t, _) = timed(&mut steps, "read Parquet", "read and check the table", || {
        read_table(&parquet, &spec.columns, &defs, Labels::Required)
    })?;
    let labels = t.risk.clone().expect("labels");
    let all: Vec<usize> = (0..t.len()).collect();
    let y: Vec<u8> = labels.iter().map(|v| v.expect("labeled")).collect();
    let pp = PreprocessParams { min_category_rows: 10 };
    let ((pre, lm), _) = timed(&mut steps, "fit logistic", "preprocessing + Newton, C = 1", || {
        let pre = Preprocessor::fit(&t, &all, Some(crate::train::shape::shape_test(&labels)), pp)?;
        let m = LogisticParams::default().fit_rows(&pre.design(&t, &all), &y)?;
        Ok((pre, m))
    })?;
    let logistic_auc = crate::metrics::roc_auc(&y, &lm.margins_rows(&pre.design(&t, &all)));
    let params = GbdtParams {
        max_depth: 6,
        learning_rate: 0.1,
        subsample: 1.0,
        min_samples_leaf: 20,
        seed,
        ..Default::default()
    };
    let gm = if trees {
        let (gm, _) = timed(&mut steps, "fit gbdt", "300 trees, depth 6, learning rate 0.1", || {
            gbdt::fit(&pre.tree_design(&t, &all), &y, &all, &[], Some(300), params)
        })?;
        Some(gm)
    } else {
        None
    };
    let gbdt_auc = gm.as_ref().map_or(f64::NAN, |gm| {
        let parts: Vec<Vec<f64>> = all
            .par_chunks(4096)
            .map(|c| gm.margins(&pre.transform_tree(&t, c).view()))
            .collect();
        crate::metrics::roc_auc(&y, &parts.concat())
    });
    let reference = reference::fit(&t, &all);
    let rules = RulesModel::fit(&spec, &t, &all, reference.clone());
    drop(t);
    // (step name, model, every feature's contribution column too?, input)
    let lm = FittedModel::Logistic(lm);
    let mut runs = vec![
        ("logistic", lm.clone(), true, &parquet),
        ("logistic --no-contributions", lm.clone(), false, &parquet),
        ("logistic --no-contributions, CSV in", lm, false, &csv),
    ];
    if let Some(g) = &gm {
        runs.push(("gbdt", FittedModel::Gbdt(g.clone()), true, &parquet));
        runs.push(("gbdt --no-contributions", FittedModel::Gbdt(g.clone()), false, &parquet));
    }
    for (kind, model, contributions, input) in runs {
        let loaded = loaded_with(&spec, &pre, model, &reference, &rules, &defs);
        // Each model is kept as a registry, so that a scoring step can be rerun alone:
        // `healthscore score --models <dir>/models-gbdt --input <dir>/bench.parquet ...`.
        let models = dir.join(format!("models-{}", kind.split(' ').next().unwrap_or(kind)));
        if !models.join("bench").exists() {
            let risk = loaded.risk.as_ref().expect("a risk model");
            Registry::new(&models).write_version("bench", loaded.manifest.clone(), &[("risk.json".into(), to_json(risk))])?;
        }
        let out = dir.join(format!("scores-{}.parquet", kind.replace(" --", "-").replace(", CSV in", "-csv")));
        let (_, secs) = timed(&mut steps, &format!("score {kind}"), "", || {
            score_file(
                &loaded,
                input,
                None,
                None,
                ScoreOptions {
                    contributions,
                    ..Default::default()
                },
                &out,
            )
        })?;
        let from = if input == &csv { "CSV" } else { "Parquet" };
        steps.last_mut().expect("pushed").note = if contributions {
            format!("{from} in → top-5 drivers + every contribution → Parquet out")
        } else {
            format!("{from} in → top-5 drivers → Parquet out")
        };
        steps.last_mut().expect("pushed").rows_per_second = Some(rows as f64 / secs);
    }
    // TreeSHAP alone on up to 100,000 rows.
    if let Some(gm) = &gm {
        let n = rows.min(100_000);
        let sample: Vec<usize> = (0..n).collect();
        let t2 = read_table(&parquet, &spec.columns, &defs, Labels::IfPresent)?;
        let x = pre.transform_tree(&t2, &sample);
        let (_, secs) = timed(&mut steps, "TreeSHAP", "300 trees of depth 6, exact path-dependent", || {
            use crate::explain::Attribute;
            Ok(crate::explain::treeshap::TreeExplainer::new(gm).attribute(&pre, &x.view()))
        })?;
        steps.last_mut().expect("pushed").rows_per_second = Some(n as f64 / secs);
    }
    Ok(BenchReport {
        rows,
        features,
        seed,
        threads: rayon::current_num_threads(),
        matrix_mib: (rows * features * 8) as f64 / (1024.0 * 1024.0),
        steps,
        logistic_auc,
        gbdt_auc,
    })
}

fn loaded_with(
    spec: &Spec,
    pre: &Preprocessor,
    model: FittedModel,
    reference: &[reference::FeatureReference],
    rules: &RulesModel,
    defs: &[crate::data::spec::FeatureDef],
) -> Loaded {
    let tm = TargetModel {
        schema_version: SCHEMA_VERSION,
        target: Target::Risk,
        label_column: "churned".into(),
        pooled: SubModel {
            preprocessor: pre.clone(),
            model,
            rows: 0,
            base_rate: 0.0,
        },
        segments: BTreeMap::new(),
        segment_choices: vec![],
        selection: Selection {
            folds: 0,
            candidates: vec![],
            chosen: 0,
        },
        refit_on_all: true,
        calibration: None,
        calibration_choice: None,
    };
    Loaded {
        version: "bench".into(),
        dir: Default::default(),
        manifest: Manifest {
            schema_version: SCHEMA_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").into(),
            version: "bench".into(),
            created_at: String::new(),
            spec: spec.clone(),
            input: crate::registry::manifest::InputInfo {
                file: String::new(),
                sha256: String::new(),
                rows: 0,
                first_date: None,
                last_date: None,
            },
            features: defs.to_vec(),
            targets: BTreeMap::new(),
            reference: reference.to_vec(),
            rules: rules.clone(),
            files: BTreeMap::new(),
        },
        risk: Some(tm),
        upsell: None,
    }
}

impl BenchReport {
    /// The table for the terminal.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = format!(
            "{} rows × {} features ({:.0} MiB as f64), {} threads\n{:<34} {:>9} {:>11} {:>14}  note\n",
            self.rows, self.features, self.matrix_mib, self.threads, "step", "seconds", "peak MiB", "rows/s"
        );
        for st in &self.steps {
            let _ = writeln!(
                s,
                "{:<34} {:>9.3} {:>11} {:>14}  {}",
                st.step,
                st.seconds,
                st.peak_rss_mib.map(|m| format!("{m:.0}")).unwrap_or_else(|| "-".into()),
                st.rows_per_second.map(|r| format!("{r:.0}")).unwrap_or_else(|| "-".into()),
                st.note
            );
        }
        let _ = writeln!(s, "training AUC: logistic {:.4}, gbdt {:.4}", self.logistic_auc, self.gbdt_auc);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small run has every step, and the registries it leaves score the
    /// bench file to the same scores as the bench's own step.
    #[test]
    fn a_small_run_times_every_step_and_keeps_its_models() {
        let dir = tempfile::tempdir().unwrap();
        let r = run(3_000, 6, 5, dir.path(), true).unwrap();
        let names: Vec<&str> = r.steps.iter().map(|s| s.step.as_str()).collect();
        assert_eq!(
            names,
            [
                "read CSV",
                "polars read CSV",
                "polars read Parquet",
                "read Parquet",
                "fit logistic",
                "fit gbdt",
                "score logistic",
                "score logistic --no-contributions",
                "score logistic --no-contributions, CSV in",
                "score gbdt",
                "score gbdt --no-contributions",
                "TreeSHAP"
            ]
        );
        assert!(r.steps.iter().all(|s| s.seconds > 0.0));
        assert!(r.logistic_auc > 0.6 && r.gbdt_auc > r.logistic_auc - 0.05, "{r:?}");
        let loaded = Registry::new(dir.path().join("models-gbdt")).load("bench").unwrap();
        let out = dir.path().join("again.parquet");
        let opts = ScoreOptions {
            contributions: false,
            ..Default::default()
        };
        score_file(&loaded, &dir.path().join("bench.parquet"), None, None, opts, &out).unwrap();
        let bench = std::fs::read(dir.path().join("scores-gbdt-no-contributions.parquet")).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), bench);
    }
}
