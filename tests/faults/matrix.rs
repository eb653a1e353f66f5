//! The table of fault cases: each sets up a copy of the shared registry and
//! live table, runs one command, and checks its exit code, that its message
//! names what a user needs (file, column, row), that it did not panic, and —
//! for every refused command — that no file changed.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

use super::{copy_dir, fixture, registry_copy, snapshot};
use crate::util::*;

/// What a case works on: its own directory, a copy of the trained registry
/// (version `v1` in use) and of the live table.
struct Env {
    dir: PathBuf,
    models: PathBuf,
    live: PathBuf,
}

impl Env {
    fn new() -> (tempfile::TempDir, Env) {
        let (_, _, live) = fixture();
        let d = tempfile::tempdir().unwrap();
        let models = registry_copy(d.path());
        let copy = d.path().join("live.csv");
        std::fs::copy(live, &copy).unwrap();
        let env = Env {
            dir: d.path().to_path_buf(),
            models,
            live: copy,
        };
        (d, env)
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The live table with `edit` applied to its text.
    fn live_with(&self, name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
        let text = std::fs::read_to_string(&self.live).unwrap();
        write(&self.dir, name, &edit(&text))
    }

    fn score(&self, input: &Path) -> Command {
        score_cmd(&self.models, input, &self.p("scores.csv"))
    }

    fn train(&self, spec: &Path, input: &Path, version: &str) -> Command {
        let mut c = hs();
        c.args(["train", "--spec"])
            .arg(spec)
            .arg("--input")
            .arg(input)
            .arg("--models")
            .arg(&self.models)
            .args(["--version", version]);
        c
    }

    fn models_cmd(&self, args: &[&str]) -> Command {
        let mut c = hs();
        c.args(args).arg("--models").arg(&self.models);
        c
    }

    fn edit(&self, rel: &str, edit: impl Fn(&str) -> String) {
        let p = self.models.join(rel);
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, edit(&text)).unwrap();
    }
}

type Setup = Box<dyn Fn(&Env)>;
type Run = Box<dyn Fn(&Env) -> Command>;

struct Case {
    name: &'static str,
    setup: Setup,
    run: Run,
    code: i32,
    needles: Vec<&'static str>,
}

fn case(
    name: &'static str,
    setup: impl Fn(&Env) + 'static,
    run: impl Fn(&Env) -> Command + 'static,
    code: i32,
    needles: &[&'static str],
) -> Case {
    Case {
        name,
        setup: Box::new(setup),
        run: Box::new(run),
        code,
        needles: needles.to_vec(),
    }
}

fn nothing(_: &Env) {}

/// A labeled history in the shape of the small spec, `rows` rows, with `edit` applied per row.
fn small_history(env: &Env, name: &str, rows: usize, edit: impl Fn(usize, &mut Vec<String>)) -> PathBuf {
    let mut csv = String::from("account_id,snapshot_date,logins,plan,churned\n");
    for i in 0..rows {
        let mut cells = vec![
            format!("a{i}"),
            "2026-03-31".to_string(),
            ((i * 7) % 11).to_string(),
            format!("p{}", i % 3),
            ((i % 4 == 0) as u8).to_string(),
        ];
        edit(i, &mut cells);
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    write(&env.dir, name, &csv)
}

fn small_spec(env: &Env) -> PathBuf {
    write(&env.dir, "small.toml", SMALL_SPEC)
}

fn cases() -> Vec<Case> {
    vec![
        // ---- tables ----
        case(
            "score: the input does not exist",
            nothing,
            |e| e.score(&e.p("nope.csv")),
            2,
            &["nope.csv"],
        ),
        case(
            "score: an empty file",
            |e| {
                write(&e.dir, "empty.csv", "");
            },
            |e| e.score(&e.p("empty.csv")),
            2,
            &["empty.csv", "no rows"],
        ),
        case(
            "score: a header and no rows",
            |e| {
                e.live_with("header.csv", |t| t.lines().next().unwrap().to_string() + "\n");
            },
            |e| e.score(&e.p("header.csv")),
            2,
            &["header.csv", "no rows"],
        ),
        case(
            "score: a feature column is missing",
            |e| {
                e.live_with("nologins.csv", |t| t.replace("logins_30d", "logins_7d"));
            },
            |e| e.score(&e.p("nologins.csv")),
            2,
            &["nologins.csv", "`logins_30d` is missing"],
        ),
        case(
            "score: text in a numeric column",
            |e| {
                e.live_with("text.csv", |t| {
                    let mut lines: Vec<String> = t.lines().map(String::from).collect();
                    let header: Vec<&str> = lines[0].split(',').collect();
                    let col = header.iter().position(|h| *h == "nps").unwrap();
                    let mut cells: Vec<String> = lines[3].split(',').map(String::from).collect();
                    cells[col] = "lots".into();
                    lines[3] = cells.join(",");
                    lines.join("\n") + "\n"
                });
            },
            |e| e.score(&e.p("text.csv")),
            2,
            &["text.csv", "column `nps`, row 3", "`lots`"],
        ),
        case(
            "score: a duplicate account id",
            |e| {
                e.live_with("dup.csv", |t| {
                    let lines: Vec<&str> = t.lines().collect();
                    format!("{}\n{}\n{}\n", lines.join("\n"), lines[1], lines[2])
                });
            },
            |e| e.score(&e.p("dup.csv")),
            2,
            &["dup.csv", "duplicate account"],
        ),
        case(
            "score: an unknown file type",
            |e| {
                std::fs::copy(&e.live, e.p("live.xlsx")).unwrap();
            },
            |e| e.score(&e.p("live.xlsx")),
            2,
            &["live.xlsx", "unknown extension"],
        ),
        case(
            "score: binary bytes named .csv",
            |e| {
                std::fs::write(e.p("bin.csv"), [0u8, 159, 146, 150, 255, 0, 1, 2, 10, 200, 201]).unwrap();
            },
            |e| e.score(&e.p("bin.csv")),
            2,
            &["bin.csv"],
        ),
        case(
            "score: a Parquet file that is not Parquet",
            |e| {
                std::fs::copy(&e.live, e.p("fake.parquet")).unwrap();
            },
            |e| e.score(&e.p("fake.parquet")),
            2,
            &["fake.parquet"],
        ),
        case(
            "score: the output directory does not exist",
            nothing,
            |e| score_cmd(&e.models, &e.live, &e.p("no/such/dir/s.csv")),
            2,
            &["does not exist"],
        ),
        case(
            "score: an infinite value",
            |e| {
                e.live_with("inf.csv", |t| {
                    let mut lines: Vec<String> = t.lines().map(String::from).collect();
                    let header: Vec<&str> = lines[0].split(',').collect();
                    let col = header.iter().position(|h| *h == "days_to_pay").unwrap();
                    let mut cells: Vec<String> = lines[2].split(',').map(String::from).collect();
                    cells[col] = "inf".into();
                    lines[2] = cells.join(",");
                    lines.join("\n") + "\n"
                });
            },
            |e| e.score(&e.p("inf.csv")),
            2,
            &["inf.csv", "column `days_to_pay`, row 2", "infinite"],
        ),
        case(
            "score: an empty account id",
            |e| {
                e.live_with("noid.csv", |t| {
                    let mut lines: Vec<String> = t.lines().map(String::from).collect();
                    let rest = lines[4].split_once(',').unwrap().1.to_string();
                    lines[4] = format!(",{rest}");
                    lines.join("\n") + "\n"
                });
            },
            |e| e.score(&e.p("noid.csv")),
            2,
            &["noid.csv", "row 4", "account id is empty"],
        ),
        // ---- training input and specs ----
        case(
            "train: a label that is not 0/1",
            |e| {
                small_history(e, "h.csv", 40, |i, c| {
                    if i == 6 {
                        c[4] = "maybe".into()
                    }
                });
                small_spec(e);
            },
            |e| e.train(&e.p("small.toml"), &e.p("h.csv"), "v2"),
            2,
            &["h.csv", "column `churned`, row 7", "`maybe`"],
        ),
        case(
            "train: the spec does not exist",
            nothing,
            |e| e.train(&e.p("none.toml"), &e.live, "v2"),
            2,
            &["none.toml"],
        ),
        case(
            "train: the spec is not TOML",
            |e| {
                write(&e.dir, "bad.toml", "[features\nusage = [");
            },
            |e| e.train(&e.p("bad.toml"), &e.live, "v2"),
            2,
            &["bad.toml", "line 1"],
        ),
        case(
            "train: a typo in a spec key",
            |e| {
                write(&e.dir, "typo.toml", &format!("{SMALL_SPEC}\n[bands]\ngren = 70\n"));
            },
            |e| e.train(&e.p("typo.toml"), &e.live, "v2"),
            2,
            &["typo.toml", "gren"],
        ),
        case(
            "train: a feature listed twice",
            |e| {
                write(
                    &e.dir,
                    "twice.toml",
                    "[features]\nusage = [\"logins\"]\nengagement = [\"logins\"]\n",
                );
            },
            |e| e.train(&e.p("twice.toml"), &e.live, "v2"),
            2,
            &["twice.toml", "listed twice"],
        ),
        case(
            "train: an empty snapshot date",
            |e| {
                small_history(e, "h.csv", 40, |i, c| {
                    if i == 9 {
                        c[1] = String::new()
                    }
                });
                small_spec(e);
            },
            |e| e.train(&e.p("small.toml"), &e.p("h.csv"), "v2"),
            2,
            &["h.csv", "column `snapshot_date`, row 10", "empty"],
        ),
        case(
            "train: a date that is not a date",
            |e| {
                small_history(e, "h.csv", 40, |i, c| {
                    if i == 2 {
                        c[1] = "2026-13-45".into()
                    }
                });
                small_spec(e);
            },
            |e| e.train(&e.p("small.toml"), &e.p("h.csv"), "v2"),
            2,
            &["h.csv", "row 3", "`2026-13-45` is not a date"],
        ),
        case(
            "train: no labeled rows",
            |e| {
                small_history(e, "h.csv", 40, |_, c| c[4] = String::new());
                small_spec(e);
            },
            |e| e.train(&e.p("small.toml"), &e.p("h.csv"), "v2"),
            2,
            &["h.csv", "`churned` has no labeled rows"],
        ),
        case(
            "train: one class only",
            |e| {
                small_history(e, "h.csv", 40, |_, c| c[4] = "0".into());
                small_spec(e);
            },
            |e| e.train(&e.p("small.toml"), &e.p("h.csv"), "v2"),
            2,
            &["h.csv", "only the value 0"],
        ),
        case(
            "train: the version exists",
            |e| {
                small_history(e, "h.csv", 40, |_, _| {});
                small_spec(e);
            },
            |e| e.train(&e.p("small.toml"), &e.p("h.csv"), "v1"),
            2,
            &["`v1` already exists"],
        ),
        case(
            "train: a version name that leaves the registry",
            |e| {
                small_history(e, "h.csv", 40, |_, _| {});
                small_spec(e);
            },
            |e| e.train(&e.p("small.toml"), &e.p("h.csv"), "../v9"),
            2,
            &["invalid version name"],
        ),
        case(
            "train: three schema problems at once",
            |e| {
                small_history(e, "h.csv", 40, |i, c| {
                    c[2] = if i == 4 { "many".into() } else { c[2].clone() };
                    if i == 8 {
                        c[4] = "2".into()
                    }
                });
                write(&e.dir, "more.toml", &format!("{SMALL_SPEC}sentiment = [\"nps\"]\n"));
            },
            |e| e.train(&e.p("more.toml"), &e.p("h.csv"), "v2"),
            2,
            &[
                "3 problems",
                "`nps` is missing",
                "column `logins`, row 5",
                "column `churned`, row 9",
            ],
        ),
        case(
            "init: a table without a label",
            |e| {
                write(&e.dir, "nolabel.csv", "account_id,logins\na,1\nb,2\n");
            },
            |e| {
                let mut c = hs();
                c.args(["init", "--input"]).arg(e.p("nolabel.csv"));
                c
            },
            2,
            &["nolabel.csv", "--label"],
        ),
        case(
            "init: a label column that is not two-valued",
            |e| {
                write(&e.dir, "three.csv", "account_id,logins,status\na,1,x\nb,2,y\nc,3,z\n");
            },
            |e| {
                let mut c = hs();
                c.args(["init", "--label", "status", "--input"]).arg(e.p("three.csv"));
                c
            },
            2,
            &["three.csv", "`status`", "3 values"],
        ),
        // ---- a tampered registry ----
        case(
            "promote: an unknown version",
            nothing,
            |e| e.models_cmd(&["promote", "v7"]),
            2,
            &["`v7` does not exist"],
        ),
        case(
            "promote: the version in use",
            nothing,
            |e| e.models_cmd(&["promote", "v1"]),
            2,
            &["already in use"],
        ),
        case(
            "promote: a corrupt line in the promotion log",
            |e| {
                copy_dir(&e.models.join("v1"), &e.models.join("v2"));
                let p = e.models.join("promotions.jsonl");
                let mut log = std::fs::read_to_string(&p).unwrap();
                log.push_str("{not json\n");
                std::fs::write(&p, log).unwrap();
            },
            |e| e.models_cmd(&["promote", "v2"]),
            2,
            &["promotions.jsonl", "line 2"],
        ),
        case(
            "score: bands edited in the manifest",
            |e| e.edit("v1/manifest.json", |t| t.replacen("\"green\": 80.0", "\"green\": 90.0", 1)),
            |e| e.score(&e.live),
            2,
            &["manifest.json", "changed after training"],
        ),
        case(
            "score: a model file edited",
            |e| e.edit("v1/risk.json", |t| t.replacen("\"sd\": ", "\"sd\": 1", 1)),
            |e| e.score(&e.live),
            2,
            &["risk.json", "checksum mismatch"],
        ),
        case(
            "score: the manifest is not JSON",
            |e| e.edit("v1/manifest.json", |t| t[..t.len() / 2].to_string()),
            |e| e.score(&e.live),
            2,
            &["manifest.json"],
        ),
        case(
            "score: a version copied in from elsewhere",
            |e| copy_dir(&e.models.join("v1"), &e.models.join("v3")),
            |e| {
                let mut c = e.score(&e.live);
                c.args(["--version", "v3"]);
                c
            },
            2,
            &["v3", "versions.jsonl"],
        ),
        case(
            "rollback: no earlier version",
            nothing,
            |e| e.models_cmd(&["rollback"]),
            2,
            &["no earlier version"],
        ),
        case(
            "models show: an unknown version",
            nothing,
            |e| e.models_cmd(&["models", "show", "v9"]),
            2,
            &["`v9` does not exist"],
        ),
        case(
            "models diff: a name outside the registry",
            nothing,
            |e| e.models_cmd(&["models", "diff", "v1", "/etc"]),
            2,
            &["invalid version name"],
        ),
        // ---- validate ----
        case(
            "validate: the outcomes file does not exist",
            |e| {
                write(&e.dir, "s.csv", "account_id,risk\na,0.2\n");
            },
            |e| {
                let mut c = hs();
                c.args(["validate", "--scores"])
                    .arg(e.p("s.csv"))
                    .arg("--outcomes")
                    .arg(e.p("none.csv"));
                c.arg("--models").arg(&e.models);
                c
            },
            2,
            &["none.csv"],
        ),
        case(
            "validate: outcomes of one class are not measurable",
            |e| {
                write(&e.dir, "s.csv", "account_id,risk\na,0.2\nb,0.4\nc,0.1\n");
                write(&e.dir, "o.csv", "account_id,churned\na,0\nb,0\nc,0\n");
            },
            |e| {
                let mut c = hs();
                c.args(["validate", "--scores"])
                    .arg(e.p("s.csv"))
                    .arg("--outcomes")
                    .arg(e.p("o.csv"));
                c.arg("--models").arg(e.p("none"));
                c
            },
            0,
            &["not measurable"],
        ),
        // ---- outputs ----
        case(
            "score --previous: the alerts file cannot be written",
            |e| {
                std::fs::copy(&e.live, e.p("prev.csv")).unwrap();
                score_cmd(&e.models, &e.live, &e.p("prev-scores.csv")).assert().success();
                std::fs::create_dir(e.p("scores.alerts.csv")).unwrap();
            },
            |e| {
                let mut c = e.score(&e.live);
                c.arg("--previous").arg(e.p("prev-scores.csv"));
                c
            },
            2,
            &["scores.alerts.csv"],
        ),
        case(
            "explain: an account that is not in the table",
            nothing,
            |e| {
                let mut c = e.models_cmd(&["explain", "--account", "NOPE-1"]);
                c.arg("--input").arg(&e.live);
                c
            },
            2,
            &["NOPE-1"],
        ),
        case(
            "export sql: an unknown dialect",
            nothing,
            |e| e.models_cmd(&["export", "sql", "--dialect", "oracle7"]),
            2,
            &["oracle7"],
        ),
        case(
            "generate: --out is required",
            nothing,
            |_| {
                let mut c = hs();
                c.args(["generate", "--accounts", "10"]);
                c
            },
            2,
            &["--out"],
        ),
    ]
}

#[test]
fn the_fault_matrix() {
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let (_keep, env) = Env::new();
        (c.setup)(&env);
        let before = snapshot(&env.dir);
        let out = (c.run)(&env).output().unwrap();
        // Messages go to stderr; a report's verdicts are in its summary on stdout.
        let stderr = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
        let mut why = Vec::new();
        if out.status.code() != Some(c.code) {
            why.push(format!("exit {:?}, expected {}", out.status.code(), c.code));
        }
        if stderr.contains("panicked") {
            why.push("panicked".into());
        }
        for n in &c.needles {
            if !stderr.contains(n) {
                why.push(format!("stderr lacks `{n}`"));
            }
        }
        if c.code == 2 && snapshot(&env.dir) != before {
            why.push("a refused command changed files".into());
        }
        if !why.is_empty() {
            failures.push(format!("{}: {}\n    stderr: {}", c.name, why.join("; "), stderr.trim()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
