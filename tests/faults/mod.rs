//! The fault suite: bad input, tampered registries and closed pipes, each a
//! case that must end with a clear error (exit 2) and no change of state, or
//! succeed correctly. One shared trained registry, built once.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use predicates::str::contains;

use crate::util::*;

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
    // The version in use pointing outside the registry is refused too.
    std::fs::write(
        models.join("in_use.json"),
        r#"{"version": "../other/v1", "since": "2026-11-22T00:00:00Z"}"#,
    )
    .unwrap();
    score_cmd(&models, live, &d.path().join("s.csv"))
        .assert()
        .code(2)
        .stderr(contains("in_use.json").and(contains("invalid version name")));
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
