//! The models verimath knows by name: what each is for, where it ships, its size and
//! checksum.
//!
//! The list is data, kept in `models/known.json` at the repository root; the set-up
//! script (`scripts/install-models.sh`) reads the same file, so a model's packages and
//! checksum are written down once. Here it decides which file in the model cache is
//! the default model (the one `prove`, `solve` and `eval` run without `--model`) and
//! which is the small test model of the engine's tests.

use std::path::PathBuf;

use serde::Deserialize;

/// The known-models file, compiled in.
const KNOWN_JSON: &str = include_str!("../../../models/known.json");

/// What a known model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The model commands run when no `--model` is given.
    Default,
    /// The small model of the engine tests and golden checks.
    Test,
}

/// One entry of `models/known.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct KnownModel {
    /// Short name (`scripts/install-models.sh NAME`).
    pub name: String,
    /// File name in the model cache.
    pub file: String,
    pub role: Role,
    pub description: String,
    pub license: String,
    /// Size of the assembled file.
    pub bytes: u64,
    /// SHA-256 of the assembled file, lowercase hex.
    pub sha256: String,
    /// The PyPI packages that ship its chunks.
    pub packages: Vec<String>,
    /// Paths of the chunks inside the unpacked packages, in the order they join.
    pub chunks: Vec<String>,
}

impl KnownModel {
    /// Where this model is installed in the cache.
    pub fn path(&self) -> PathBuf {
        model_cache_dir().join(&self.file)
    }
}

/// Every known model, in the file's order.
pub fn known_models() -> Vec<KnownModel> {
    // The file is part of the source tree and checked by a unit test, so a parse
    // failure here is a build defect, not user input.
    serde_json::from_str(KNOWN_JSON).expect("models/known.json is valid")
}

fn with_role(role: Role) -> KnownModel {
    known_models()
        .into_iter()
        .find(|m| m.role == role)
        .expect("models/known.json names one model of each role")
}

/// The default model's entry.
pub fn default_model() -> KnownModel {
    with_role(Role::Default)
}

/// The test model's entry.
pub fn test_model() -> KnownModel {
    with_role(Role::Test)
}

/// Where the default model lives: `$VERIMATH_MODEL` if set, else its file in the
/// model cache.
pub fn default_model_path() -> PathBuf {
    non_empty_env("VERIMATH_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| default_model().path())
}

/// Where the test model lives: `$VERIMATH_TEST_MODEL` if set, else its file in the
/// model cache.
pub fn test_model_path() -> PathBuf {
    non_empty_env("VERIMATH_TEST_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| test_model().path())
}

/// The directory models are installed into:
/// `${VERIMATH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/verimath}/models`.
pub fn model_cache_dir() -> PathBuf {
    let root = if let Some(dir) = non_empty_env("VERIMATH_CACHE") {
        PathBuf::from(dir)
    } else if let Some(xdg) = non_empty_env("XDG_CACHE_HOME") {
        PathBuf::from(xdg).join("verimath")
    } else {
        let home = non_empty_env("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        home.join(".cache").join("verimath")
    };
    root.join("models")
}

fn non_empty_env(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_parses_with_one_model_per_role() {
        let all = known_models();
        for role in [Role::Default, Role::Test] {
            assert_eq!(all.iter().filter(|m| m.role == role).count(), 1, "{role:?}");
        }
        for m in &all {
            assert_eq!(m.sha256.len(), 64, "{}", m.name);
            assert!(m.bytes > 0 && m.file.ends_with(".gguf"), "{}", m.name);
            assert!(!m.packages.is_empty() && !m.chunks.is_empty(), "{}", m.name);
        }
        assert!(default_model().file.contains("qwen2.5"));
    }
}
