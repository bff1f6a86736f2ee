//! `verimath models list`: the known models (default and test model, from
//! `models/known.json`) with whether they are installed, then every GGUF file in the
//! model cache.

use std::path::{Path, PathBuf};

use super::human_bytes;
use super::inspect::{open, Summary};

/// How deep to look below the cache directory (users sometimes keep one folder
/// per repository).
const MAX_DEPTH: usize = 3;

pub(super) fn run(dir: &Path, as_json: bool) -> anyhow::Result<i32> {
    let mut files = Vec::new();
    find_gguf(dir, 0, &mut files);
    files.sort();
    let rows: Vec<(PathBuf, Result<Summary, String>)> = files
        .into_iter()
        .map(|path| {
            let summary = open(&path)
                .and_then(|f| Summary::of(&path, &f))
                .map_err(|e| format!("{e:#}"));
            (path, summary)
        })
        .collect();

    let known = engine::known_models::known_models();
    if as_json {
        let known: Vec<serde_json::Value> = known
            .iter()
            .map(|m| {
                serde_json::json!({
                    "name": m.name,
                    "role": format!("{:?}", m.role).to_lowercase(),
                    "file": m.file,
                    "bytes": m.bytes,
                    "sha256": m.sha256,
                    "license": m.license,
                    "packages": m.packages,
                    "description": m.description,
                    "installed": dir.join(&m.file).is_file(),
                })
            })
            .collect();
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|(path, s)| match s {
                Ok(s) => s.to_json(),
                Err(e) => serde_json::json!({"path": path.display().to_string(), "error": e}),
            })
            .collect();
        let out = serde_json::json!({"known": known, "files": list});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    println!("known models (install with scripts/install-models.sh NAME):");
    for m in &known {
        let state = if dir.join(&m.file).is_file() {
            "installed"
        } else {
            "not installed"
        };
        println!(
            "  {:30} {:8} {:>10}  {:14} {}",
            m.name,
            format!("{:?}", m.role).to_lowercase(),
            human_bytes(m.bytes),
            state,
            m.description
        );
    }
    println!();
    if rows.is_empty() {
        println!(
            "no models in {} (download one with `verimath models pull OWNER/REPO/FILE.gguf`, or copy a .gguf file there)",
            dir.display()
        );
        return Ok(0);
    }
    let name_of = |p: &Path| p.strip_prefix(dir).unwrap_or(p).display().to_string();
    let width = rows
        .iter()
        .map(|(p, _)| name_of(p).len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!("{:width$}  {:>10}  {:12}  QUANT", "NAME", "SIZE", "ARCH");
    for (path, summary) in &rows {
        match summary {
            Ok(s) => println!(
                "{:width$}  {:>10}  {:12}  {}",
                name_of(path),
                human_bytes(s.size_bytes),
                s.architecture.as_deref().unwrap_or("?"),
                s.quant_line()
            ),
            Err(e) => println!("{:width$}  unreadable: {e}", name_of(path)),
        }
    }
    Ok(0)
}

/// Collect `.gguf` files under `dir`; unreadable directories are skipped, and
/// in-progress downloads (`.gguf.partial`) are not models yet.
fn find_gguf(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if depth < MAX_DEPTH {
                find_gguf(&path, depth + 1, out);
            }
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        {
            out.push(path);
        }
    }
}
