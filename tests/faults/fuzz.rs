//! Random mutations of valid inputs (a table, a spec, a version's artifacts):
//! the readers never panic, every error names the file, and a version that
//! loads can be scored. The artifacts are re-signed after each mutation (their
//! checksums recomputed, as a careful attacker would), so that the mutation
//! reaches the parser and the consistency checks instead of the checksum.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use healthscore::{read_live, read_table, score, Labels, Registry, Spec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use super::{fixture, registry_copy};
use crate::util::*;

/// One to four edits: a random byte, a digit changed, a syntax byte inserted,
/// a byte lost, a span duplicated, or the end cut off.
fn mutate(rng: &mut ChaCha8Rng, bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        if b.is_empty() {
            b.push(rng.gen());
            continue;
        }
        let i = rng.gen_range(0..b.len());
        match rng.gen_range(0..6) {
            0 => b[i] = rng.gen(),
            1 => b[i] = b"0123456789"[rng.gen_range(0..10)],
            2 => b.insert(i, b"\n,\"-e.0[]{}:"[rng.gen_range(0..12)]),
            3 => {
                b.remove(i);
            }
            4 => {
                let span: Vec<u8> = b[i..(i + rng.gen_range(1..40)).min(b.len())].to_vec();
                let j = rng.gen_range(0..b.len());
                b.splice(j..j, span);
            }
            _ => b.truncate(i),
        }
    }
    b
}

/// A JSON document with one to three numbers, strings or booleans changed
/// (indices, counts, names: what byte edits rarely reach without breaking
/// the syntax).
fn mutate_json(rng: &mut ChaCha8Rng, bytes: &[u8]) -> Vec<u8> {
    fn leaves(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => m
                .iter()
                .for_each(|(k, v)| leaves(v, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out)),
            serde_json::Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| leaves(v, format!("{at}/{i}"), out)),
            _ => out.push(at),
        }
    }
    let mut doc: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let mut at = Vec::new();
    leaves(&doc, String::new(), &mut at);
    for _ in 0..rng.gen_range(1..=3) {
        let p = &at[rng.gen_range(0..at.len())];
        let leaf = doc.pointer_mut(p).unwrap();
        *leaf = match (leaf.clone(), rng.gen_range(0..4)) {
            (serde_json::Value::Number(n), k) => {
                let v = n.as_f64().unwrap_or(0.0);
                let w = [v + 1.0, v - 1.0, 0.0, 1e6][k];
                if n.is_u64() && w >= 0.0 {
                    serde_json::json!(w as u64)
                } else {
                    serde_json::json!(w)
                }
            }
            (serde_json::Value::String(s), 0) => serde_json::json!(format!("{s}x")),
            (serde_json::Value::String(_), _) => serde_json::json!(""),
            (serde_json::Value::Bool(b), _) => serde_json::json!(!b),
            (other, _) => other,
        };
    }
    serde_json::to_vec_pretty(&doc).unwrap()
}

/// Runs `f`, failing the test with the case's number if it panics.
fn no_panic<T>(case: usize, what: &str, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => panic!("{what}: mutation {case} panicked"),
    }
}

#[test]
fn mutated_tables_never_panic_and_errors_name_the_file() {
    let d = tempfile::tempdir().unwrap();
    let spec = Spec::load(&repo("training/saas.toml")).unwrap();
    let text = std::fs::read_to_string(repo("notebooks-data/history.csv")).unwrap();
    let head: String = text.lines().take(80).map(|l| format!("{l}\n")).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let (mut ok, mut refused) = (0, 0);
    for case in 0..300 {
        let p = d.path().join(format!("t{case}.csv"));
        std::fs::write(&p, mutate(&mut rng, head.as_bytes())).unwrap();
        match no_panic(case, "read_table", || {
            read_table(&p, &spec.columns, &spec.feature_defs(), Labels::Required)
        }) {
            Ok(_) => ok += 1,
            Err(e) => {
                let m = e.full_message();
                assert!(m.contains(&p.display().to_string()), "mutation {case}: {m}");
                refused += 1;
            }
        }
    }
    // Both sides are exercised: some mutations are harmless, most are not.
    eprintln!("tables: {ok} read, {refused} refused");
    assert!(ok > 0 && refused > 100, "{ok} read, {refused} refused");
}

#[test]
fn mutated_specs_never_panic_and_errors_name_the_file() {
    let d = tempfile::tempdir().unwrap();
    let text = std::fs::read(repo("training/saas.toml")).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(24);
    let mut refused = 0;
    for case in 0..300 {
        let p = d.path().join(format!("s{case}.toml"));
        std::fs::write(&p, mutate(&mut rng, &text)).unwrap();
        if let Err(e) = no_panic(case, "Spec::load", || Spec::load(&p)) {
            let m = e.full_message();
            assert!(m.contains(&p.display().to_string()), "mutation {case}: {m}");
            refused += 1;
        }
    }
    assert!(refused > 100, "{refused} refused");
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// Records `bytes` as `file` of version `v1` of `models` with fresh checksums
/// in the manifest and in versions.jsonl, as if training had written them.
fn resign(models: &Path, file: &str, bytes: &[u8]) {
    let dir = models.join("v1");
    std::fs::write(dir.join(file), bytes).unwrap();
    let manifest_path = dir.join("manifest.json");
    if file != "manifest.json" {
        let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
        m["files"][file] = serde_json::Value::String(sha256_hex(bytes));
        std::fs::write(&manifest_path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    }
    let sum = sha256_hex(&std::fs::read(&manifest_path).unwrap());
    let log = models.join("versions.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| {
            let mut w: serde_json::Value = serde_json::from_str(l).unwrap();
            w["manifest_sha256"] = serde_json::Value::String(sum.clone());
            w.to_string()
        })
        .collect();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
}

#[test]
fn mutated_artifacts_never_panic_and_a_version_that_loads_scores() {
    let (_, models, live) = fixture();
    let d = tempfile::tempdir().unwrap();
    let copy = registry_copy(d.path());
    let mut rng = ChaCha8Rng::seed_from_u64(25);
    let (mut loaded, mut refused) = (0, 0);
    for file in ["risk.json", "upsell.json", "manifest.json"] {
        let good = std::fs::read(models.join("v1").join(file)).unwrap();
        // Mutations within the numbers and names of a large JSON file mostly
        // keep it valid JSON: the consistency checks are what they reach.
        for case in 0..60 {
            let bad = if case % 2 == 0 {
                mutate(&mut rng, &good)
            } else {
                mutate_json(&mut rng, &good)
            };
            resign(&copy, file, &bad);
            let reg = Registry::new(&copy);
            match no_panic(case, file, || reg.load("v1")) {
                Ok(v) => {
                    loaded += 1;
                    if let Ok(t) = no_panic(case, file, || read_live(&v, live)) {
                        let s = no_panic(case, file, || score(&v, t));
                        assert_eq!(s.health.len(), s.table.len());
                    }
                }
                Err(e) => {
                    let m = e.full_message();
                    assert!(m.contains(file), "{file} mutation {case}: {m}");
                    if std::env::var("FUZZ_SHOW").is_ok() {
                        eprintln!("{m}");
                    }
                    refused += 1;
                }
            }
        }
        resign(&copy, file, &good);
    }
    eprintln!("artifacts: {loaded} loaded, {refused} refused");
    assert!(loaded > 0 && refused > 30, "{loaded} loaded, {refused} refused");
}
