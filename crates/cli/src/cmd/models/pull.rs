//! `verimath models pull`: download a GGUF file from the Hugging Face hub.
//!
//! A spec names the file (`OWNER/REPO/FILE.gguf`) or only the repository
//! (`OWNER/REPO`): then the hub's file list is read and the one GGUF file of the
//! requested quantization (`--quant`, default Q4_K_M) is chosen, as DeepSeek and
//! other GGUF repositories hold one file per quantization. Files split into parts
//! (`-00001-of-00003.gguf`) are refused with the command that merges them.
//!
//! The file is written to `NAME.gguf.partial` and renamed only once it is complete
//! and reads as GGUF, so the cache never holds a half file under a model's name; an
//! interrupted download resumes from the partial file with an HTTP range request.
//! A hub that cannot be reached fails at once with the manual alternative spelled
//! out, since machines without internet access are common for this tool.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use super::human_bytes;

const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A file in a hub repository, or a whole repository to choose a file from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Spec {
    repo: String,
    /// `None` when the spec names only the repository.
    file: Option<String>,
}

fn parse_spec(spec: &str) -> anyhow::Result<Spec> {
    let parts: Vec<&str> = spec.trim().trim_matches('/').split('/').collect();
    if parts.len() < 2
        || parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        bail!("expected OWNER/REPO or OWNER/REPO/FILE.gguf, got {spec:?}");
    }
    let repo = format!("{}/{}", parts[0], parts[1]);
    if parts.len() == 2 {
        return Ok(Spec { repo, file: None });
    }
    let file = parts[2..].join("/");
    if !file.to_ascii_lowercase().ends_with(".gguf") {
        bail!("{file:?} is not a .gguf file; verimath runs GGUF models");
    }
    Ok(Spec {
        repo,
        file: Some(file),
    })
}

/// Whether a file name is one part of a split GGUF (`name-00001-of-00003.gguf`).
fn is_split_part(name: &str) -> bool {
    let stem = name.to_ascii_lowercase();
    let Some(stem) = stem.strip_suffix(".gguf") else {
        return false;
    };
    let parts: Vec<&str> = stem.rsplitn(4, '-').collect();
    parts.len() == 4
        && parts[1] == "of"
        && [parts[0], parts[2]]
            .iter()
            .all(|p| p.len() == 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The GGUF file of quantization `quant` among a repository's files.
fn choose_file(repo: &str, files: &[String], quant: &str) -> anyhow::Result<String> {
    let wanted = quant.to_ascii_lowercase();
    let ggufs: Vec<&String> = files
        .iter()
        .filter(|f| f.to_ascii_lowercase().ends_with(".gguf"))
        .collect();
    if ggufs.is_empty() {
        bail!("{repo} holds no .gguf file");
    }
    let matching: Vec<&String> = ggufs
        .iter()
        .copied()
        .filter(|f| {
            let name = f.rsplit('/').next().unwrap_or(f).to_ascii_lowercase();
            name.contains(&wanted) && !name.contains("mmproj")
        })
        .collect();
    let whole: Vec<&String> = matching
        .iter()
        .copied()
        .filter(|f| !is_split_part(f))
        .collect();
    match (whole.as_slice(), matching.first()) {
        ([one], _) => Ok((*one).clone()),
        ([], Some(part)) => bail!(
            "{repo} ships {quant} split into parts ({part} ...); verimath reads single-file GGUF. \
             Download the parts and merge them with `llama-gguf-split --merge FIRST-PART OUT.gguf`, \
             then copy OUT.gguf into the model cache"
        ),
        ([], None) => bail!(
            "{repo} has no {quant} file; its GGUF files: {}",
            ggufs.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
        ),
        (several, _) => bail!(
            "{repo} has several {quant} files ({}); name one as {repo}/FILE.gguf",
            several.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The file names of a repository at `revision`, from the hub's model API.
async fn list_files(
    endpoint: &str,
    repo: &str,
    revision: &str,
    token: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let url = format!("{endpoint}/api/models/{repo}/revision/{revision}");
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .context("cannot build the HTTP client")?;
    let mut request = client.get(&url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot reach the Hugging Face hub at {endpoint} ({}); name the file as \
             OWNER/REPO/FILE.gguf, or copy a downloaded file into the model cache",
            error_chain(&e)
        )
    })?;
    let status = response.status();
    if !status.is_success() {
        bail!("the hub answered HTTP {status} for {url}: check OWNER/REPO and --revision");
    }
    let info: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("the hub's answer for {url} is not JSON"))?;
    let files = info["siblings"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|f| f["rfilename"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(files)
}

fn non_empty_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

pub(super) fn run(
    spec: &str,
    quant: &str,
    revision: &str,
    force: bool,
    dir: &Path,
) -> anyhow::Result<i32> {
    let spec = parse_spec(spec)?;
    let endpoint = non_empty_env("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    let endpoint = endpoint.trim_end_matches('/');
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let token = non_empty_env("HF_TOKEN");
    let file = match spec.file {
        Some(file) => file,
        None => {
            let files =
                runtime.block_on(list_files(endpoint, &spec.repo, revision, token.as_deref()))?;
            let file = choose_file(&spec.repo, &files, quant)?;
            println!("{}: {file}", spec.repo);
            file
        }
    };
    let url = format!("{endpoint}/{}/resolve/{revision}/{file}", spec.repo);
    let basename = file.rsplit('/').next().unwrap_or(&file);
    let dest = dir.join(basename);
    if dest.exists() && !force {
        println!(
            "{} is already in the cache ({}); use --force to download it again",
            dest.display(),
            human_bytes(std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0))
        );
        return Ok(0);
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the model cache {}", dir.display()))?;
    let partial = PathBuf::from(format!("{}.partial", dest.display()));
    if force {
        let _ = std::fs::remove_file(&partial);
    }
    let size = runtime.block_on(download(&url, token.as_deref(), &partial, endpoint, &dest))?;

    gguf::GgufFile::open(&partial).with_context(|| {
        format!(
            "the download from {url} is not a valid GGUF file (kept as {} for inspection)",
            partial.display()
        )
    })?;
    std::fs::rename(&partial, &dest)
        .with_context(|| format!("cannot move {} into place", partial.display()))?;
    println!("saved {} ({})", dest.display(), human_bytes(size));
    Ok(0)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// Download `url` into `partial`, resuming what is there. Returns the final size.
async fn download(
    url: &str,
    token: Option<&str>,
    partial: &Path,
    endpoint: &str,
    dest: &Path,
) -> anyhow::Result<u64> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .build()
        .context("cannot build the HTTP client")?;
    // Two rounds at most: a stale partial file the server cannot resume from
    // (416) is discarded and the download starts over.
    for _ in 0..2 {
        let have = std::fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
        let mut request = client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if have > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let response = request.send().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the Hugging Face hub at {endpoint} ({}).\n\
                 If this machine is offline, download {url} on a machine that is online \
                 and copy it to {}; `verimath models list` will then show it. \
                 HF_ENDPOINT selects a mirror.",
                error_chain(&e),
                dest.display()
            )
        })?;
        let status = response.status();
        let resume = match status.as_u16() {
            200 => false,
            206 => true,
            416 => {
                std::fs::remove_file(partial).ok();
                continue;
            }
            401 | 403 => bail!(
                "the hub refused {url} (HTTP {status}): the repository may be gated or private; \
                 accept its terms on the website and set HF_TOKEN"
            ),
            404 => bail!(
                "{url} was not found (HTTP 404): check OWNER/REPO, the file name and --revision"
            ),
            _ => bail!("the hub answered HTTP {status} for {url}"),
        };
        let start = if resume { have } else { 0 };
        let total = response.content_length().map(|len| len + start);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(resume)
            .truncate(!resume)
            .open(partial)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let bar = progress_bar(total, start);
        let mut written = start;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                anyhow::anyhow!(
                    "the download broke off after {} ({}); run the same command again to resume",
                    human_bytes(written),
                    error_chain(&e)
                )
            })?;
            out.write_all(&chunk)
                .with_context(|| format!("cannot write {}", partial.display()))?;
            written += chunk.len() as u64;
            bar.set_position(written);
        }
        out.flush()
            .with_context(|| format!("cannot write {}", partial.display()))?;
        out.get_ref().sync_all().ok();
        bar.finish_and_clear();
        if let Some(total) = total {
            if written != total {
                bail!(
                    "the download ended at {written} of {total} bytes; run the same command again to resume"
                );
            }
        }
        return Ok(written);
    }
    bail!("the hub would not resume or restart the download of {url}")
}

fn progress_bar(total: Option<u64>, start: u64) -> ProgressBar {
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::new_spinner(),
    };
    let style =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_position(start);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_a_repository_and_a_gguf_file() {
        assert_eq!(
            parse_spec("a/b/sub/m.Q4.gguf").expect("valid"),
            Spec {
                repo: "a/b".into(),
                file: Some("sub/m.Q4.gguf".into())
            }
        );
        assert_eq!(parse_spec("a/b").expect("valid").file, None);
        assert!(parse_spec("a").is_err());
        assert!(parse_spec("a/b/m.safetensors").is_err());
        assert!(parse_spec("a/b/../m.gguf").is_err());
    }

    #[test]
    fn a_repository_resolves_to_its_one_file_of_the_quantization() {
        let files: Vec<String> = [
            "README.md",
            "DeepSeek-V2-Lite-Chat-Q4_K_M.gguf",
            "DeepSeek-V2-Lite-Chat-Q8_0.gguf",
            "DeepSeek-V2-Lite-Chat-Q6_K-00001-of-00002.gguf",
            "DeepSeek-V2-Lite-Chat-Q6_K-00002-of-00002.gguf",
        ]
        .map(String::from)
        .to_vec();
        let repo = "owner/DeepSeek-V2-Lite-Chat-GGUF";
        assert_eq!(
            choose_file(repo, &files, "Q4_K_M").expect("one"),
            "DeepSeek-V2-Lite-Chat-Q4_K_M.gguf"
        );
        assert_eq!(
            choose_file(repo, &files, "q8_0").expect("one"),
            "DeepSeek-V2-Lite-Chat-Q8_0.gguf"
        );
        let split = choose_file(repo, &files, "Q6_K").expect_err("split");
        assert!(
            split.to_string().contains("llama-gguf-split --merge"),
            "{split}"
        );
        let none = choose_file(repo, &files, "IQ2_XS").expect_err("absent");
        assert!(none.to_string().contains("Q8_0.gguf"), "{none}");
        assert!(is_split_part("x-00001-of-00003.gguf") && !is_split_part("x-q4.gguf"));
    }
}
