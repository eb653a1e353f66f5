//! Helpers for the integration tests: the binary, temporary directories, small tables.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The `healthscore` binary with a fixed clock.
pub fn hs() -> Command {
    let mut c = Command::cargo_bin("healthscore").expect("binary built");
    c.env("HEALTHSCORE_NOW", "2026-11-22T00:00:00Z");
    c
}

/// `healthscore score` of `input` into `output` with the version in use of `models`.
pub fn score_cmd(models: &Path, input: &Path, output: &Path) -> Command {
    let mut c = hs();
    c.args(["score", "--models"])
        .arg(models)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output);
    c
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under the repository.
pub fn repo(p: &str) -> PathBuf {
    root().join(p)
}

/// Writes a file and returns its path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

/// A small spec used by the bad-input tests.
pub const SMALL_SPEC: &str = r#"
categorical = ["plan"]
[columns]
upsell_label = ""
[features]
usage = ["logins"]
adoption = ["plan"]
"#;

/// Copies a directory tree (a registry, say) to `to`, for a test that changes it.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Two versions, `a` and `b`, trained the same way on the bundled history
/// (`training/saas.toml`), `a` in use; trained once per test process. Tests
/// read it; a test that changes a registry copies it first ([`copy_dir`]).
pub fn sample_versions() -> PathBuf {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        for v in ["a", "b"] {
            hs().args(["train", "--spec"])
                .arg(repo("training/saas.toml"))
                .arg("--input")
                .arg(repo("notebooks-data/history.csv"))
                .arg("--models")
                .arg(d.path().join("models"))
                .args(["--version", v])
                .assert()
                .success();
        }
        d
    })
    .path()
    .join("models")
}

/// The scores of the history's last quarter (2026-06-30) by version `a` of
/// [`sample_versions`]: the previous run of the live accounts.
pub fn sample_previous() -> PathBuf {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        score_cmd(
            &sample_versions(),
            &repo("notebooks-data/history.csv"),
            &d.path().join("previous.csv"),
        )
        .args(["--as-of", "2026-06-30"])
        .assert()
        .success();
        d
    })
    .path()
    .join("previous.csv")
}
