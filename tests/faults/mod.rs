//! The fault suite: bad input, tampered registries and closed pipes, each a
//! case that must end with a clear error (exit 2) and no change of state, or
//! succeed correctly. One shared trained registry, built once.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use healthscore::Registry;

use predicates::str::contains;

use crate::util::*;

mod fuzz;
mod matrix;

/// A small trained registry and its live table, shared by the cases (read only).
fn fixture() -> &'static (tempfile::TempDir, PathBuf, PathBuf) {
    static F: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    F.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        hs().args(["generate", "--accounts", "300", "--quarters", "3", "--seed", "7", "--out"])
            .arg(d.path().join("gen"))
            .assert()
            .success();
        let models = d.path().join("models");
        hs().args(["train", "--spec"])
            .arg(repo("training/saas.toml"))
            .arg("--input")
            .arg(d.path().join("gen/history.csv"))
            .arg("--models")
            .arg(&models)
            .args(["--version", "v1"])
            .assert()
            .success();
        let live = d.path().join("gen/live.csv");
        (d, models, live)
    })
}

/// A copy of the shared registry that a case may change.
fn registry_copy(dir: &Path) -> PathBuf {
    let (_, models, _) = fixture();
    let to = dir.join("models");
    copy_dir(models, &to);
    to
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let t = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &t);
        } else {
            std::fs::copy(&p, &t).unwrap();
        }
    }
}

/// Every file under `dir` with its bytes, to show that a failed command changed nothing.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn version_names_cannot_leave_the_registry() {
    let (_, _, live) = fixture();
    let d = tempfile::tempdir().unwrap();
    let models = registry_copy(d.path());
    // A second registry beside it, whose version a name like `../other/v1` would reach.
    copy_dir(&models, &d.path().join("other"));
    let before = snapshot(d.path());
    for args in [
        vec!["promote", "../other/v1"],
        vec!["models", "show", "../other/v1"],
        vec!["models", "diff", "v1", "../other/v1"],
    ] {
        hs().args(&args)
            .arg("--models")
            .arg(&models)
            .assert()
            .code(2)
            .stderr(contains("invalid version name"));
    }
    score_cmd(&models, live, &d.path().join("s.csv"))
        .args(["--version", "../other/v1"])
        .assert()
        .code(2)
        .stderr(contains("invalid version name"));
    assert!(!d.path().join("s.csv").exists());
    assert_eq!(snapshot(d.path()), before, "a refused command changed nothing");
    // The version in use is the promotion log's last entry: an in_use.json
    // edited to point outside the registry is not followed.
    std::fs::write(
        models.join("in_use.json"),
        r#"{"version": "../other/v1", "since": "2026-11-22T00:00:00Z"}"#,
    )
    .unwrap();
    score_cmd(&models, live, &d.path().join("s.csv"))
        .assert()
        .success()
        .stderr(contains("with version v1"));
    // A log entry naming a version outside the registry is refused.
    let log = models.join("promotions.jsonl");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str(r#"{"time":"2026-11-23T00:00:00Z","action":"promote","version":"../other/v1","previous":"v1"}"#);
    text.push('\n');
    std::fs::write(&log, text).unwrap();
    score_cmd(&models, live, &d.path().join("s2.csv"))
        .assert()
        .code(2)
        .stderr(contains("promotions.jsonl").and(contains("invalid version name")));
}

/// A pid that no process has: above the kernel's largest.
fn dead_pid() -> u64 {
    std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(4_194_304)
        + 1
}

#[test]
#[cfg(target_os = "linux")]
fn temporaries_of_a_killed_run_are_swept_by_the_next() {
    let (_, models, live) = fixture();
    let d = tempfile::tempdir().unwrap();
    let pid = dead_pid();
    let stale_file = d.path().join(format!(".healthscore-{pid}-abc123.tmp"));
    std::fs::write(&stale_file, "half a file").unwrap();
    // Another process's temporaries, and files that only look alike, stay.
    let live_file = d.path().join(format!(".healthscore-{}-x.tmp", std::process::id()));
    std::fs::write(&live_file, "in use").unwrap();
    let mine = d.path().join(".healthscore-notes.txt");
    std::fs::write(&mine, "a user's file").unwrap();
    score_cmd(models, live, &d.path().join("s.csv")).assert().success();
    assert!(!stale_file.exists(), "the dead run's temporary is removed");
    assert!(live_file.exists() && mine.exists(), "nothing else is touched");
    // The same in a registry: a version directory left by a killed train.
    let reg = registry_copy(d.path());
    let stale_dir = reg.join(format!(".healthscore-{pid}-v2-xyz"));
    std::fs::create_dir(&stale_dir).unwrap();
    std::fs::write(stale_dir.join("risk.json"), "{").unwrap();
    let input = history_for_retrain(d.path());
    hs().args(["train", "--spec"])
        .arg(repo("training/saas.toml"))
        .arg("--input")
        .arg(&input)
        .arg("--models")
        .arg(&reg)
        .args(["--version", "v2"])
        .assert()
        .success();
    assert!(!stale_dir.exists(), "the dead run's version directory is removed");
}

/// The generated history of the shared fixture.
fn history_for_retrain(_dir: &Path) -> PathBuf {
    let (d, _, _) = fixture();
    d.path().join("gen/history.csv")
}

/// Files under the hidden temporaries of a registry.
fn temporaries_files(dir: &Path) -> usize {
    temporaries(dir)
        .iter()
        .map(|t| {
            let p = dir.join(t);
            if p.is_dir() {
                std::fs::read_dir(&p).unwrap().count()
            } else {
                1
            }
        })
        .sum()
}

/// Names of the hidden temporaries in a directory.
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter(|n| n.starts_with(".healthscore-"))
        .collect()
}

#[test]
#[cfg(unix)]
fn a_killed_train_leaves_no_version_and_the_next_run_cleans_up() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry_copy(d.path());
    let before = snapshot(&reg);
    let history = history_for_retrain(d.path());
    for delay_ms in [150u64, 600, 1500] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("healthscore"))
            .args(["train", "--spec"])
            .arg(repo("training/saas.toml"))
            .arg("--input")
            .arg(&history)
            .arg("--models")
            .arg(&reg)
            .args(["--version", "killed"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.success() {
            break; // finished before the kill: nothing to check at this delay
        }
        assert!(!reg.join("killed").exists(), "no half version after a kill at {delay_ms} ms");
        let reg_now = Registry::new(&reg);
        assert_eq!(reg_now.resolve(None).unwrap(), "v1");
        reg_now.load("v1").unwrap();
        assert_eq!(
            snapshot(&reg).len(),
            before.len() + temporaries_files(&reg),
            "only temporaries were added"
        );
    }
    // The next run that writes the registry removes whatever the kills left.
    hs().args(["train", "--spec"])
        .arg(repo("training/saas.toml"))
        .arg("--input")
        .arg(&history)
        .arg("--models")
        .arg(&reg)
        .args(["--version", "after"])
        .assert()
        .success();
    assert_eq!(temporaries(&reg), Vec::<String>::new());
}

#[test]
#[cfg(unix)]
fn a_killed_score_leaves_no_partial_output() {
    let (_, models, _) = fixture();
    let d = tempfile::tempdir().unwrap();
    // A live table large enough that scoring takes a while.
    hs().args(["generate", "--accounts", "40000", "--quarters", "1", "--seed", "3", "--out"])
        .arg(d.path().join("big"))
        .assert()
        .success();
    let big = d.path().join("big/history.csv");
    let out = d.path().join("scores.csv");
    let mut killed = false;
    for delay_ms in [200u64, 700] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("healthscore"))
            .args(["score", "--models"])
            .arg(models)
            .arg("--input")
            .arg(&big)
            .arg("--output")
            .arg(&out)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        if !child.wait().unwrap().success() {
            killed = true;
            assert!(!out.exists(), "no partial scores file after a kill at {delay_ms} ms");
        }
    }
    // Scoring works afterwards and sweeps the killed runs' temporaries.
    score_cmd(models, &big, &out).assert().success();
    assert_eq!(temporaries(d.path()), Vec::<String>::new(), "killed: {killed}");
    let rows = std::fs::read_to_string(&out).unwrap().lines().count() - 1;
    let input_rows = std::fs::read_to_string(&big).unwrap().lines().count() - 1;
    assert_eq!(rows, input_rows);
}

#[test]
fn concurrent_trains_into_an_empty_registry_make_one_first_version() {
    let (gen, _, _) = fixture();
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("models");
    let children: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|v| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("healthscore"))
                .args(["train", "--spec"])
                .arg(repo("training/saas.toml"))
                .arg("--input")
                .arg(gen.path().join("gen/history.csv"))
                .arg("--models")
                .arg(&reg)
                .args(["--version", v])
                .env("HEALTHSCORE_NOW", "2026-11-22T00:00:00Z")
                .output_in_thread()
        })
        .collect();
    let outs: Vec<std::process::Output> = children.into_iter().map(|h| h.join().unwrap()).collect();
    let in_use_claims = outs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stderr).contains("(in use)"))
        .count();
    assert!(outs.iter().all(|o| o.status.success()));
    assert_eq!(in_use_claims, 1, "exactly one version says it is in use");
    let r = Registry::new(&reg);
    let log = r.promotions().unwrap();
    assert_eq!(log.len(), 1, "one first-version entry: {log:?}");
    assert_eq!(r.versions().unwrap().len(), 3);
    assert_eq!(r.written().unwrap().len(), 3);
}

#[test]
fn concurrent_promotes_keep_the_log_a_chain() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry_copy(d.path());
    // Three more versions, written as train writes them.
    let r = Registry::new(&reg);
    let v1 = r.load("v1").unwrap();
    let files: Vec<(String, Vec<u8>)> = v1
        .manifest
        .files
        .keys()
        .map(|f| (f.clone(), std::fs::read(reg.join("v1").join(f)).unwrap()))
        .collect();
    for v in ["v2", "v3", "v4"] {
        let mut m = v1.manifest.clone();
        m.version = v.into();
        r.write_version(v, m, &files).unwrap();
    }
    let handles: Vec<_> = ["v2", "v3", "v4", "v2", "v3", "v4", "v1", "v2"]
        .iter()
        .map(|v| {
            let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("healthscore"));
            c.args(["promote", v]).arg("--models").arg(&reg);
            c.output_in_thread()
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let log = r.promotions().unwrap();
    for w in log.windows(2) {
        assert_eq!(w[1].previous.as_deref(), Some(w[0].version.as_str()), "{log:#?}");
    }
    let copy: serde_json::Value = serde_json::from_slice(&std::fs::read(reg.join("in_use.json")).unwrap()).unwrap();
    assert_eq!(copy["version"], log.last().unwrap().version.as_str());
    // Rollback follows the chain.
    let before = r.in_use().unwrap().unwrap().version;
    let back = r.rollback().unwrap();
    assert_eq!(back.previous.as_deref(), Some(before.as_str()));
}

/// Runs a command on a thread of its own, its output collected.
trait OutputInThread {
    fn output_in_thread(&mut self) -> std::thread::JoinHandle<std::process::Output>;
}

impl OutputInThread for std::process::Command {
    fn output_in_thread(&mut self) -> std::thread::JoinHandle<std::process::Output> {
        let child = self
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::spawn(move || child.wait_with_output().unwrap())
    }
}

use predicates::prelude::PredicateBooleanExt;

#[test]
fn an_output_never_replaces_an_input() {
    let (_, models, live) = fixture();
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("live.csv");
    std::fs::copy(live, &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    score_cmd(models, &input, &input)
        .assert()
        .code(2)
        .stderr(contains("the output is the input"));
    // The same file by another path.
    let other = d.path().join(".").join("live.csv");
    score_cmd(models, &input, &other).assert().code(2);
    hs().args(["rules", "--spec"])
        .arg(repo("training/saas.toml"))
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&input)
        .assert()
        .code(2)
        .stderr(contains("the output is the input"));
    assert_eq!(std::fs::read(&input).unwrap(), before);
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let (_, models, live) = fixture();
    let first_account = std::fs::read_to_string(live)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let m = models.to_str().unwrap();
    let l = live.to_str().unwrap();
    for args in [
        vec!["models", "list", "--models", m],
        vec!["models", "show", "v1", "--models", m],
        vec!["explain", "--models", m, "--input", l, "--account", &first_account],
    ] {
        // The read end is closed before the command starts: its first write
        // to stdout fails with a broken pipe, every time.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("healthscore"))
            .args(&args)
            .env("HEALTHSCORE_NOW", "2026-11-22T00:00:00Z")
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn huge_values_are_refused_with_the_row_not_written_into_a_model() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(d.path(), "spec.toml", SMALL_SPEC);
    let mut csv = String::from("account_id,snapshot_date,logins,plan,churned\n");
    for i in 0..40 {
        let logins = if i == 17 { "1e200".to_string() } else { (i % 7).to_string() };
        csv.push_str(&format!("a{i},2026-01-01,{logins},p{},{}\n", i % 2, (i % 3 == 0) as u8));
    }
    let input = write(d.path(), "t.csv", &csv);
    hs().args(["train", "--spec"])
        .arg(&spec)
        .arg("--input")
        .arg(&input)
        .arg("--models")
        .arg(d.path().join("models"))
        .assert()
        .code(2)
        .stderr(contains("column `logins`, row 18").and(contains("too large")));
    assert!(!d.path().join("models").join("in_use.json").exists());
}

#[test]
fn weights_that_sum_to_zero_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(
        d.path(),
        "spec.toml",
        &format!(
            "{SMALL_SPEC}\n[rules.weights]\nengagement = 0\nusage = 0\nadoption = 0\njourney = 0\npayments = 0\nrelationships = 0\nsentiment = 0\nadvocacy = 0\n"
        ),
    );
    let input = write(
        d.path(),
        "t.csv",
        "account_id,snapshot_date,logins,plan,churned\na,2026-01-01,1,x,0\n",
    );
    hs().args(["rules", "--spec"])
        .arg(&spec)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(d.path().join("r.csv"))
        .assert()
        .code(2)
        .stderr(contains("sum to 0"));
    assert!(!d.path().join("r.csv").exists());
}

#[test]
fn validate_refuses_what_it_cannot_check() {
    let d = tempfile::tempdir().unwrap();
    let outcomes = write(d.path(), "o.csv", "account_id,churned\na,1\nb,0\nc,0\n");
    let bad_risk = write(d.path(), "s.csv", "account_id,risk\na,1.7\nb,0.2\nc,0.1\n");
    let val = |scores: &Path, extra: &[&str]| {
        let mut c = hs();
        c.args(["validate", "--scores"])
            .arg(scores)
            .arg("--outcomes")
            .arg(&outcomes)
            .arg("--models")
            .arg(d.path().join("none"))
            .args(extra);
        c
    };
    val(&bad_risk, &[])
        .assert()
        .code(2)
        .stderr(contains("column `risk`, row 1").and(contains("not a probability")));
    let good = write(d.path(), "g.csv", "account_id,risk\na,0.7\nb,0.2\nc,0.1\n");
    val(&good, &["--min-auc", "nan"]).assert().code(2).stderr(contains("--min-auc"));
    let no_risk = write(d.path(), "n.csv", "account_id,other\na,1\nb,2\nc,3\n");
    val(&no_risk, &[]).assert().stderr(contains("nothing could be measured"));
}

/// A history written as warehouses export it: Parquet with the snapshot date
/// as a DATE column, or as a TIMESTAMP.
fn parquet_history(path: &Path, timestamp: bool) {
    use polars::prelude::*;
    let n = 80;
    let days: Vec<i32> = (0..n).map(|i| 20_453 + 90 * (i % 2)).collect(); // 2025-12-31 and 2026-03-31
    let date = Column::new("snapshot_date".into(), days).cast(&DataType::Date).unwrap();
    let date = if timestamp {
        date.cast(&DataType::Datetime(TimeUnit::Microseconds, None)).unwrap()
    } else {
        date
    };
    let mut df = DataFrame::new_infer_height(vec![
        Column::new("account_id".into(), (0..n).map(|i| format!("a{}", i / 2)).collect::<Vec<_>>()),
        date.clone(),
        Column::new("logins".into(), (0..n).map(|i| ((i * 7) % 11) as f64).collect::<Vec<_>>()),
        Column::new("plan".into(), (0..n).map(|i| format!("p{}", i % 3)).collect::<Vec<_>>()),
        Column::new("churned".into(), (0..n).map(|i| (i % 4 == 0) as i64).collect::<Vec<_>>()),
        date.with_name("signup_date".into()),
    ])
    .unwrap();
    ParquetWriter::new(std::fs::File::create(path).unwrap()).finish(&mut df).unwrap();
}

#[test]
fn parquet_dates_and_timestamps_are_snapshot_dates() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(d.path(), "spec.toml", SMALL_SPEC);
    for (name, timestamp) in [("dates.parquet", false), ("timestamps.parquet", true)] {
        let input = d.path().join(name);
        parquet_history(&input, timestamp);
        hs().args(["train", "--spec"])
            .arg(&spec)
            .arg("--input")
            .arg(&input)
            .arg("--models")
            .arg(d.path().join(format!("models-{name}")))
            .args(["--version", "v1"])
            .assert()
            .success();
        let reg = Registry::new(d.path().join(format!("models-{name}")));
        let m = reg.load("v1").unwrap().manifest;
        assert_eq!(m.input.last_date.as_deref(), Some("2026-03-31"), "{name}");
    }
    // A date-valued column used as a numeric feature is refused, named.
    let bad = write(
        d.path(),
        "bad.toml",
        &SMALL_SPEC.replace("usage = [\"logins\"]", "usage = [\"logins\", \"signup_date\"]"),
    );
    hs().args(["train", "--spec"])
        .arg(&bad)
        .arg("--input")
        .arg(d.path().join("dates.parquet"))
        .arg("--models")
        .arg(d.path().join("m-bad"))
        .assert()
        .code(2)
        .stderr(contains("dates.parquet").and(contains("`signup_date`")));
}
