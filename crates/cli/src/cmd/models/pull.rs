//! `verimath models pull`: download a GGUF file from the Hugging Face hub.
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

/// A file in a hub repository.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Spec {
    repo: String,
    file: String,
}

fn parse_spec(spec: &str) -> anyhow::Result<Spec> {
    let parts: Vec<&str> = spec.trim().trim_matches('/').split('/').collect();
    if parts.len() < 3
        || parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        bail!("expected OWNER/REPO/FILE.gguf, got {spec:?}");
    }
    let file = parts[2..].join("/");
    if !file.to_ascii_lowercase().ends_with(".gguf") {
        bail!("{file:?} is not a .gguf file; verimath runs GGUF models");
    }
    Ok(Spec {
        repo: format!("{}/{}", parts[0], parts[1]),
        file,
    })
}

fn non_empty_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

pub(super) fn run(spec: &str, revision: &str, force: bool, dir: &Path) -> anyhow::Result<i32> {
    let spec = parse_spec(spec)?;
    let endpoint = non_empty_env("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    let endpoint = endpoint.trim_end_matches('/');
    let url = format!("{endpoint}/{}/resolve/{revision}/{}", spec.repo, spec.file);
    let basename = spec.file.rsplit('/').next().unwrap_or(&spec.file);
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let token = non_empty_env("HF_TOKEN");
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
                file: "sub/m.Q4.gguf".into()
            }
        );
        assert!(parse_spec("a/m.gguf").is_err());
        assert!(parse_spec("a/b/m.safetensors").is_err());
        assert!(parse_spec("a/b/../m.gguf").is_err());
    }
}
