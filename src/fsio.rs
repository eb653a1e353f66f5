//! The ground under every layer that writes: atomic writes (a temporary file
//! beside the target, flushed and renamed over it, so no reader ever sees half
//! a file), checksums, the JSON form of artifacts and the clock.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory,
/// flushed, then renamed over the target. A missing parent directory is an error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = temp_beside(path)?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    persist(tmp, path)
}

/// A temporary file in `path`'s directory, to be [`persist`]ed as `path` once
/// complete (dropped, it is removed: no half-written output).
pub fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("directory {} does not exist; create it first", dir.display()),
            ),
        ));
    }
    sweep_stale_temporaries(dir);
    tempfile::Builder::new()
        .prefix(&temp_prefix())
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(path, e))
}

/// The name prefix of this process's temporary files and directories:
/// `.healthscore-<pid>-`, so that those of a killed process can be told apart.
pub fn temp_prefix() -> String {
    format!(".healthscore-{}-", std::process::id())
}

/// Removes the temporary files and directories a killed healthscore process
/// left in `dir` (named by [`temp_prefix`] with the pid of a process that no
/// longer runs). Best effort: what cannot be removed stays, and nothing else
/// is touched. Only where the OS tells whether a pid runs (Linux's /proc).
pub fn sweep_stale_temporaries(dir: &Path) {
    if !cfg!(target_os = "linux") || !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(".healthscore-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        let p = e.path();
        let _ = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
    }
}

/// Flushes a temporary file from [`temp_beside`] and renames it over `path`.
pub fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Pretty JSON with a trailing newline.
pub fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).expect("model types serialise");
    b.push(b'\n');
    b
}

/// Current time as RFC 3339, or `HEALTHSCORE_NOW` when set (for reproducible manifests and tests).
pub fn now() -> String {
    std::env::var("HEALTHSCORE_NOW").unwrap_or_else(|_| chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// Whether two paths name the same existing file (same device and inode on
/// Unix, the same canonical path elsewhere).
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
        false
    }
    #[cfg(not(unix))]
    {
        matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
    }
}

/// Refuses to write `output` over any of `inputs`: the run would replace
/// the data it reads.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("live.csv");
/// std::fs::write(&p, "account_id\n").unwrap();
/// assert!(healthscore::refuse_input_as_output(&p, &[&p]).is_err());
/// assert!(healthscore::refuse_input_as_output(&dir.path().join("out.csv"), &[&p]).is_ok());
/// ```
pub fn refuse_input_as_output(output: &Path, inputs: &[&Path]) -> Result<()> {
    match inputs.iter().find(|i| same_file(output, i)) {
        Some(i) => Err(Error::Input(format!(
            "{}: the output is the input {}; write the output to another file",
            output.display(),
            i.display()
        ))),
        None => Ok(()),
    }
}
