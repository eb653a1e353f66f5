//! Model versions on disk.
//!
//! ```text
//! models/
//!   2026Q3/            one immutable version
//!     manifest.json    what, from which data, how good, checksums of the rest
//!     risk.json        fitted preprocessing + classifier (plain JSON)
//!     upsell.json
//!     report.html      the holdout report, report.json its figures
//!   versions.jsonl     every version written, with its manifest's sha256
//!   promotions.jsonl   every change of the version in use, with the manifest's
//!                      sha256: its last entry is the version in use
//!   in_use.json        a copy of that last entry, for people and other tools
//!   .lock              held while a command changes the registry
//! ```
//!
//! Commands that change the registry hold an exclusive lock on `.lock`, check
//! everything first, and commit with one atomic replacement of a log (a
//! temporary file renamed over it): a full disk or a kill leaves the log as it
//! was. A manifest edited after training no longer matches the sha256 the
//! logs recorded and the version is refused.
//!
//! A version is written into a temporary directory beside its final place and
//! renamed into place in one step, so a killed run leaves no half version, and
//! an existing version is never overwritten. Loading checks the schema version
//! and the sha256 of every file listed in the manifest.

pub mod manifest;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsio::{now, sha256_hex, to_json, write_atomic};
use crate::model::{Target, TargetModel, SCHEMA_VERSION};
pub use manifest::Manifest;

/// The version in use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InUse {
    pub version: String,
    pub since: String,
}

/// One line of the promotion log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    pub time: String,
    /// `promote`, `first version` or `rollback`.
    pub action: String,
    pub version: String,
    pub previous: Option<String>,
    /// sha256 of the version's `manifest.json` when it was put in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
}

/// One line of `versions.jsonl`: a version as it was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Written {
    pub version: String,
    pub time: String,
    /// sha256 of its `manifest.json`, which holds the sha256 of every other file.
    pub manifest_sha256: String,
}

/// The registry's exclusive lock, held while a command changes it; released when dropped.
#[derive(Debug)]
pub struct RegistryLock {
    _file: std::fs::File,
}

/// Appends a JSON line to a log by replacing the whole file atomically, so a
/// failed write (full disk, kill) leaves the log as it was.
fn append_line<T: Serialize>(path: &std::path::Path, entry: &T) -> Result<()> {
    let mut bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(path, e)),
    };
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    bytes.extend(serde_json::to_vec(entry).expect("serialises"));
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Reads a JSON-lines log; a line that does not parse is an error naming it.
fn read_lines<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<Vec<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Error::io(path, e)),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::Artifact {
                path: path.to_path_buf(),
                message: format!("line {}: {e}; the log was edited or damaged", i + 1),
            })
        })
        .collect()
}

/// A loaded, checked version.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub version: String,
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub risk: Option<TargetModel>,
    pub upsell: Option<TargetModel>,
}

impl Loaded {
    /// The sha256 of the version's `manifest.json`, which fingerprints the
    /// whole version (the manifest holds the checksums of the other files).
    pub fn manifest_sha256(&self) -> Result<String> {
        let p = self.dir.join("manifest.json");
        std::fs::read(&p).map(|b| sha256_hex(&b)).map_err(|e| Error::io(&p, e))
    }

    /// The model of a target, if the version has one.
    pub fn model(&self, t: Target) -> Option<&TargetModel> {
        match t {
            Target::Risk => self.risk.as_ref(),
            Target::Upsell => self.upsell.as_ref(),
        }
    }
}

/// The `models/` directory.
#[derive(Debug, Clone)]
pub struct Registry {
    pub root: PathBuf,
}

fn valid_version_name(v: &str) -> bool {
    !v.is_empty() && !v.starts_with('.') && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Refuses a version name that could reach outside the registry (`../x`,
/// `/abs`, hidden names) wherever a name comes in: arguments, `in_use.json`,
/// the promotion log.
fn check_name(v: &str) -> Result<()> {
    if valid_version_name(v) {
        Ok(())
    } else {
        Err(Error::Registry(format!(
            "invalid version name `{v}`: a version is a directory of the registry named with letters, digits, `-`, `_` and `.`"
        )))
    }
}

impl Registry {
    /// Opens (without creating) a registry directory.
    pub fn new(root: impl Into<PathBuf>) -> Registry {
        Registry { root: root.into() }
    }

    /// Version names, sorted.
    pub fn versions(&self) -> Result<Vec<String>> {
        if !self.root.is_dir() {
            return Ok(vec![]);
        }
        let mut v: Vec<String> = std::fs::read_dir(&self.root)
            .map_err(|e| Error::io(&self.root, e))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("manifest.json").is_file())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect();
        v.sort();
        Ok(v)
    }

    /// Writes a new version atomically. `files` are (name, bytes) besides the
    /// manifest; their checksums are recorded in it. The first version becomes the
    /// version in use.
    pub fn write_version(&self, version: &str, mut manifest: Manifest, files: &[(String, Vec<u8>)]) -> Result<PathBuf> {
        if !valid_version_name(version) {
            return Err(Error::Registry(format!(
                "invalid version name `{version}`: use letters, digits, `-`, `_` and `.`"
            )));
        }
        std::fs::create_dir_all(&self.root).map_err(|e| Error::io(&self.root, e))?;
        let _lock = self.lock()?;
        crate::fsio::sweep_stale_temporaries(&self.root);
        // Checked before anything is written.
        let written = self.written()?;
        self.promotions()?;
        let dest = self.root.join(version);
        if dest.exists() {
            return Err(Error::Registry(format!(
                "version `{version}` already exists in {}; versions never change: pass --version with a new name",
                self.root.display()
            )));
        }
        manifest.files = files.iter().map(|(n, b)| (n.clone(), sha256_hex(b))).collect();
        let manifest_bytes = to_json(&manifest);
        let tmp = tempfile::Builder::new()
            .prefix(&crate::fsio::temp_prefix())
            .tempdir_in(&self.root)
            .map_err(|e| Error::io(&self.root, e))?;
        for (name, bytes) in files
            .iter()
            .chain(std::iter::once(&("manifest.json".to_string(), manifest_bytes.clone())))
        {
            let p = tmp.path().join(name);
            let mut f = std::fs::File::create(&p).map_err(|e| Error::io(&p, e))?;
            f.write_all(bytes).map_err(|e| Error::io(&p, e))?;
            f.sync_all().map_err(|e| Error::io(&p, e))?;
        }
        let entry = Written {
            version: version.into(),
            time: now(),
            manifest_sha256: sha256_hex(&manifest_bytes),
        };
        if written.iter().any(|w| w.version == version) {
            return Err(Error::Registry(format!(
                "version `{version}` is in {} but its directory is gone; versions never change: pass --version with a new name",
                self.root.join("versions.jsonl").display()
            )));
        }
        let tmp_path = tmp.keep();
        if let Err(e) = std::fs::rename(&tmp_path, &dest) {
            let _ = std::fs::remove_dir_all(&tmp_path);
            return Err(Error::io(&dest, e));
        }
        // The commit point: until the version is listed, it is not part of the registry.
        if let Err(e) = append_line(&self.root.join("versions.jsonl"), &entry) {
            let _ = std::fs::remove_dir_all(&dest);
            return Err(e);
        }
        if self.in_use()?.is_none() {
            self.set_in_use(version, "first version", None, &entry.manifest_sha256)?;
        }
        Ok(dest)
    }

    /// Takes the registry's exclusive lock, waiting for another command that holds it.
    pub fn lock(&self) -> Result<RegistryLock> {
        let p = self.root.join(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| Error::io(&p, e))?;
        file.lock().map_err(|e| Error::io(&p, e))?;
        Ok(RegistryLock { _file: file })
    }

    /// `versions.jsonl`: every version written, oldest first (empty for a registry written before it existed).
    pub fn written(&self) -> Result<Vec<Written>> {
        read_lines(&self.root.join("versions.jsonl"))
    }

    fn in_use_path(&self) -> PathBuf {
        self.root.join("in_use.json")
    }

    /// The version in use, if any: the last entry of the promotion log
    /// (`in_use.json` is its copy, read only for a registry without a log).
    pub fn in_use(&self) -> Result<Option<InUse>> {
        let log = self.root.join("promotions.jsonl");
        if let Some(last) = self.promotions()?.pop() {
            check_name(&last.version).map_err(|e| Error::Artifact {
                path: log,
                message: e.to_string(),
            })?;
            return Ok(Some(InUse {
                version: last.version,
                since: last.time,
            }));
        }
        let p = self.in_use_path();
        if !p.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        let u: InUse = serde_json::from_str(&text).map_err(|e| Error::Artifact {
            path: p.clone(),
            message: e.to_string(),
        })?;
        check_name(&u.version).map_err(|e| Error::Artifact {
            path: p,
            message: e.to_string(),
        })?;
        Ok(Some(u))
    }

    /// The promotion log, oldest first.
    pub fn promotions(&self) -> Result<Vec<Promotion>> {
        read_lines(&self.root.join("promotions.jsonl"))
    }

    /// Logs `version` as the version in use (the commit point), then copies
    /// the entry to `in_use.json`; the caller holds the lock and has checked
    /// the version.
    fn set_in_use(&self, version: &str, action: &str, previous: Option<String>, manifest_sha256: &str) -> Result<Promotion> {
        let time = now();
        let entry = Promotion {
            time: time.clone(),
            action: action.into(),
            version: version.into(),
            previous,
            manifest_sha256: Some(manifest_sha256.to_string()),
        };
        append_line(&self.root.join("promotions.jsonl"), &entry)?;
        // A copy only: readers take the log, so a failed copy changes nothing they see.
        let _ = write_atomic(
            &self.in_use_path(),
            &to_json(&InUse {
                version: version.into(),
                since: time,
            }),
        );
        Ok(entry)
    }

    /// Makes `version` the version in use and logs it. The version is loaded
    /// and checked first; a registry that fails a check is left as it was.
    pub fn promote(&self, version: &str) -> Result<Promotion> {
        check_name(version)?;
        let _lock = self.lock_existing()?;
        let loaded = self.load(version)?;
        let previous = self.in_use()?.map(|u| u.version);
        if previous.as_deref() == Some(version) {
            return Err(Error::Registry(format!("version `{version}` is already in use")));
        }
        self.set_in_use(version, "promote", previous, &loaded.manifest_sha256()?)
    }

    /// The lock of a registry that must exist already.
    fn lock_existing(&self) -> Result<RegistryLock> {
        if !self.root.is_dir() {
            return Err(Error::Registry(format!(
                "no model registry at {}; run `healthscore train` first",
                self.root.display()
            )));
        }
        self.lock()
    }

    /// Puts the version that was in use before the current one back in use.
    pub fn rollback(&self) -> Result<Promotion> {
        let _lock = self.lock_existing()?;
        let current = self
            .in_use()?
            .ok_or_else(|| Error::Registry("no version is in use; nothing to roll back".into()))?;
        let log = self.promotions()?;
        let last = log
            .iter()
            .rev()
            .find(|p| p.version == current.version)
            .and_then(|p| p.previous.clone());
        let previous =
            last.ok_or_else(|| Error::Registry(format!("version `{}` has no earlier version to roll back to", current.version)))?;
        let loaded = self.load(&previous)?;
        self.set_in_use(&previous, "rollback", Some(current.version), &loaded.manifest_sha256()?)
    }

    fn check_exists(&self, version: &str) -> Result<()> {
        check_name(version)?;
        if !self.root.join(version).join("manifest.json").is_file() {
            let known = self.versions()?.join(", ");
            return Err(Error::Registry(format!(
                "version `{version}` does not exist in {} (known: {})",
                self.root.display(),
                if known.is_empty() {
                    "none; run `healthscore train` first".into()
                } else {
                    known
                }
            )));
        }
        Ok(())
    }

    /// Resolves `--version` or the version in use.
    pub fn resolve(&self, version: Option<&str>) -> Result<String> {
        match version {
            Some(v) => {
                self.check_exists(v)?;
                Ok(v.to_string())
            }
            None => self.in_use()?.map(|u| u.version).ok_or_else(|| {
                Error::Registry(format!(
                    "no version is in use in {}; run `healthscore train` first or pass --version",
                    self.root.display()
                ))
            }),
        }
    }

    /// Loads and checks a version: schema, checksums, and that every file parses.
    ///
    /// ```no_run
    /// let reg = healthscore::registry::Registry::new("models");
    /// let v = reg.load(&reg.resolve(None)?)?;
    /// println!("{} trained on {}", v.version, v.manifest.input.file);
    /// # Ok::<(), healthscore::Error>(())
    /// ```
    pub fn load(&self, version: &str) -> Result<Loaded> {
        self.check_exists(version)?;
        let dir = self.root.join(version);
        let mpath = dir.join("manifest.json");
        let text = std::fs::read(&mpath).map_err(|e| Error::io(&mpath, e))?;
        let head: serde_json::Value = serde_json::from_slice(&text).map_err(|e| Error::Artifact {
            path: mpath.clone(),
            message: format!("not valid JSON: {e}"),
        })?;
        let schema = head.get("schema_version").and_then(|v| v.as_u64());
        if schema != Some(SCHEMA_VERSION as u64) {
            return Err(Error::Artifact {
                path: mpath,
                message: format!(
                    "schema version {schema:?}, this healthscore reads {SCHEMA_VERSION}; retrain with this version of the tool"
                ),
            });
        }
        let actual = sha256_hex(&text);
        let recorded = self
            .written()?
            .into_iter()
            .rev()
            .find(|w| w.version == version)
            .map(|w| (w.manifest_sha256, "versions.jsonl"));
        let recorded = match recorded {
            Some(r) => Some(r),
            None => self
                .promotions()?
                .into_iter()
                .rev()
                .find(|p| p.version == version)
                .and_then(|p| p.manifest_sha256)
                .map(|s| (s, "promotions.jsonl")),
        };
        if let Some((sum, log)) = recorded {
            if sum != actual {
                return Err(Error::Artifact {
                    path: mpath,
                    message: format!(
                        "changed after training: its sha256 is {actual}, {log} recorded {sum}; a version never changes, train a new one"
                    ),
                });
            }
        } else if self.root.join("versions.jsonl").exists() {
            return Err(Error::Artifact {
                path: mpath,
                message:
                    "this version is not in the registry's versions.jsonl: it was not written by `healthscore train` into this registry"
                        .into(),
            });
        }
        let manifest: Manifest = serde_json::from_value(head).map_err(|e| Error::Artifact {
            path: mpath.clone(),
            message: e.to_string(),
        })?;
        for t in Target::ALL {
            let file = format!("{}.json", t.name());
            if manifest.targets.contains_key(&t) && !manifest.files.contains_key(&file) {
                return Err(Error::Artifact {
                    path: mpath,
                    message: format!(
                        "the manifest describes a {} model but does not list `{file}` among its files; the version is incomplete or was edited",
                        t.name()
                    ),
                });
            }
        }
        let mut bytes: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for (name, sum) in &manifest.files {
            let p = dir.join(name);
            let b = std::fs::read(&p).map_err(|e| Error::Artifact {
                path: p.clone(),
                message: format!("cannot read: {e}"),
            })?;
            let actual = sha256_hex(&b);
            if &actual != sum {
                return Err(Error::Artifact {
                    path: p,
                    message: format!("checksum mismatch (manifest {sum}, file {actual}); the file was changed or truncated after training"),
                });
            }
            bytes.insert(name.clone(), b);
        }
        let model = |t: Target| -> Result<Option<TargetModel>> {
            let name = format!("{}.json", t.name());
            match bytes.get(&name) {
                None => Ok(None),
                Some(b) => {
                    let p = dir.join(&name);
                    let m: TargetModel = serde_json::from_slice(b).map_err(|e| Error::Artifact {
                        path: p.clone(),
                        message: e.to_string(),
                    })?;
                    if m.schema_version != SCHEMA_VERSION {
                        return Err(Error::Artifact {
                            path: p,
                            message: format!("schema version {}, expected {SCHEMA_VERSION}", m.schema_version),
                        });
                    }
                    if m.target != t {
                        return Err(Error::Artifact {
                            path: p,
                            message: format!("holds a {} model where the {} model belongs", m.target.name(), t.name()),
                        });
                    }
                    m.check(&manifest.features).map_err(|e| Error::Artifact {
                        path: p.clone(),
                        message: format!("inconsistent, edited after training: {e}"),
                    })?;
                    Ok(Some(m))
                }
            }
        };
        Ok(Loaded {
            version: version.into(),
            risk: model(Target::Risk)?,
            upsell: model(Target::Upsell)?,
            dir,
            manifest,
        })
    }
}
