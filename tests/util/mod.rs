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
