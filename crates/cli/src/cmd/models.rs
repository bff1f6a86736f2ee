//! `verimath models`: list the GGUF models in the cache, inspect a file, download
//! one from the Hugging Face hub.
//!
//! The cache is `$VERIMATH_CACHE/models`, else `$XDG_CACHE_HOME/verimath/models`,
//! else `~/.cache/verimath/models`. A model is any `.gguf` file there (a user may
//! also copy files in by hand, which is the offline route).

mod inspect;
mod list;
mod pull;

use std::path::PathBuf;

/// Flags of this command.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// List the known models (installed or not) and the GGUF files in the model cache.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a GGUF file's metadata summary and tensor table.
    Inspect {
        /// A .gguf file, or the name of one in the model cache.
        path: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Print every metadata value in full (long arrays are abbreviated otherwise).
        #[arg(long)]
        full: bool,
    },
    /// Download a GGUF file from the Hugging Face hub into the cache.
    ///
    /// Uses HF_ENDPOINT (default https://huggingface.co) and HF_TOKEN for gated or
    /// private repositories. An interrupted download resumes from its .partial file.
    Pull {
        /// OWNER/REPO/FILE.gguf, e.g. unsloth/gemma-3-270m-it-GGUF/gemma-3-270m-it-Q4_K_M.gguf,
        /// or OWNER/REPO to take the repository's one file of --quant (e.g. a
        /// DeepSeek-V2-Lite-Chat GGUF repository)
        spec: String,
        /// With OWNER/REPO: the quantization to download, matched in the file names.
        #[arg(long, default_value = "Q4_K_M")]
        quant: String,
        /// Branch, tag or commit to download from.
        #[arg(long, default_value = "main")]
        revision: String,
        /// Download again even if the file is already in the cache.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    match args.command {
        Command::List { json } => list::run(&models_dir(), json),
        Command::Inspect { path, json, full } => {
            inspect::run(&resolve_model_path(&path), json, full)
        }
        Command::Pull {
            spec,
            quant,
            revision,
            force,
        } => pull::run(&spec, &quant, &revision, force, &models_dir()),
    }
}

/// The model cache directory (which may not exist yet).
pub fn models_dir() -> PathBuf {
    engine::known_models::model_cache_dir()
}

/// A path as given if it exists, else the file of that name in the cache (with
/// `.gguf` added when missing), so `verimath models inspect gemma-3-270m-q4_k_m`
/// works.
fn resolve_model_path(given: &std::path::Path) -> PathBuf {
    if given.exists() {
        return given.to_path_buf();
    }
    let dir = models_dir();
    let in_cache = dir.join(given);
    if in_cache.exists() {
        return in_cache;
    }
    let with_ext = dir.join(format!("{}.gguf", given.display()));
    if with_ext.exists() {
        return with_ext;
    }
    given.to_path_buf()
}

/// Bytes as a short human-readable size (binary units).
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(253_113_024), "241.4 MiB");
    }
}
