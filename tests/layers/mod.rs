//! The layering rule of the library, checked on the source: a module may name
//! (`crate::x`) only modules of a lower layer. Test modules (`#[cfg(test)]`)
//! and doc comments are not part of the library's graph and are skipped.

use std::collections::BTreeMap;
use std::path::Path;

/// The layers, lowest first; modules of one layer may not import each other.
pub const LAYERS: &[&[&str]] = &[
    &["error"],
    &["fsio", "design", "metrics"],
    &["data"],
    &["features", "synth"],
    &["model", "rules"],
    &["explain"],
    &["train"],
    &["registry"],
    &["validate", "export"],
    &["report"],
    &["workflow"],
    &["bench"],
];

fn rank() -> BTreeMap<&'static str, usize> {
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.iter().map(move |m| (*m, i)))
        .collect()
}

/// The library code of a file: doc and line comments dropped, and everything
/// from its test module on.
fn library_code(text: &str) -> String {
    let end = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every top-level module named after `crate::` in `code`.
fn imports(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if name.is_empty() {
            // `use crate::{a, b::c}`: every name at the top of the braces.
            if let Some(inner) = rest.strip_prefix('{') {
                let mut depth = 0;
                let mut item = String::new();
                for c in inner.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            out.push(item.trim().split("::").next().unwrap_or("").to_string());
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    if depth == 0 {
                        item.push(c);
                    }
                }
                out.push(item.trim().split("::").next().unwrap_or("").to_string());
            }
        } else {
            out.push(name);
        }
    }
    out.retain(|n| !n.is_empty());
    out
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            walk(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
}

/// The violations in the tree under `src`: (file, module, imported module).
pub fn violations(src: &Path) -> Vec<(String, String, String)> {
    let rank = rank();
    let mut files = Vec::new();
    walk(src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src).expect("under src");
        let top = rel
            .components()
            .next()
            .expect("a component")
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let Some(&own) = rank.get(top.as_str()) else { continue };
        let code = library_code(&std::fs::read_to_string(&f).expect("read source"));
        for m in imports(&code) {
            if m == top || m == "self" || m == "super" {
                continue;
            }
            // The crate root re-exports `Error` and `Result` of `error`.
            let m = if m == "Error" || m == "Result" { "error".to_string() } else { m };
            match rank.get(m.as_str()) {
                Some(&r) if r < own => {}
                _ => out.push((rel.display().to_string(), top.clone(), m)),
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn layers_point_down() {
    let v = violations(&crate::util::repo("src"));
    assert!(v.is_empty(), "imports that go up or sideways (file, module, imported):\n{v:#?}");
}

/// Paths of the binary side (`src/main.rs`, `src/cli/`) that reach into a
/// library module instead of the crate root's API: (file, path).
pub fn binary_reaches(src: &Path) -> Vec<(String, String)> {
    let mut files = vec![src.join("main.rs")];
    walk(&src.join("cli"), &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let code = library_code(&std::fs::read_to_string(&f).expect("read source"));
        let mut rest = code.as_str();
        while let Some(i) = rest.find("healthscore::") {
            rest = &rest[i + "healthscore::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            // A lowercase name followed by `::` is a module; `bench` is the
            // benchmark driver behind `healthscore bench`, not part of the API.
            if rest[name.len()..].starts_with("::") && name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) && name != "bench" {
                out.push((f.strip_prefix(src).expect("under src").display().to_string(), name));
            }
        }
    }
    out
}

#[test]
fn the_command_line_uses_only_the_crate_root() {
    let v = binary_reaches(&crate::util::repo("src"));
    assert!(
        v.is_empty(),
        "the command line reaches into library modules (file, module):\n{v:#?}"
    );
}

#[test]
fn every_library_module_has_a_layer() {
    let lib = std::fs::read_to_string(crate::util::repo("src/lib.rs")).unwrap();
    let rank = rank();
    for line in lib.lines() {
        let l = line.trim_start_matches("pub ").trim_start_matches("pub(crate) ");
        if let Some(m) = l.strip_prefix("mod ").and_then(|m| m.strip_suffix(';')) {
            assert!(rank.contains_key(m), "module `{m}` of lib.rs is in no layer of tests/layers");
        }
    }
}

#[test]
fn the_check_sees_an_upward_import() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("data/x.rs"),
        "use crate::error::Error;\nuse crate::{model::Target, metrics};\n#[cfg(test)]\nmod tests { use crate::workflow; }\n",
    )
    .unwrap();
    assert_eq!(
        violations(dir.path()),
        vec![("data/x.rs".to_string(), "data".to_string(), "model".to_string())]
    );
}
