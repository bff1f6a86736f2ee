//! `verimath models list | inspect | pull`, run as the real binary.
//!
//! Downloads are tested against a small HTTP server in this process standing in
//! for the Hugging Face hub (via HF_ENDPOINT), and against a closed port for the
//! offline case; nothing leaves 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gguf::{GgmlType, GgufFile, GgufWriter};

fn verimath(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_verimath"));
    cmd.args(args)
        .env_remove("HF_TOKEN")
        .env_remove("HF_ENDPOINT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("verimath runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn test_model() -> Option<PathBuf> {
    // A missing model fails: CI installs it, and a silent pass would hide the gap.
    let path = engine::test_model_path();
    assert!(
        path.exists(),
        "test model missing at {}: run scripts/setup.sh or set VERIMATH_TEST_MODEL",
        path.display()
    );
    Some(path)
}

/// A small but complete GGUF file.
fn tiny_gguf() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", "llama")
        .add_metadata("general.name", "tiny test")
        .add_metadata("llama.block_count", 2u32)
        .add_metadata("llama.context_length", 128u32);
    let values: Vec<f32> = (0..64).map(|i| i as f32 / 64.0).collect();
    w.add_f32_tensor("token_embd.weight", &[32, 2], GgmlType::Q8_0, &values)
        .expect("tensor");
    w.add_f32_tensor("output_norm.weight", &[32], GgmlType::F32, &values[..32])
        .expect("tensor");
    w.to_bytes().expect("encode")
}

#[test]
fn inspect_summarises_the_test_model() {
    let Some(model) = test_model() else { return };
    let file = GgufFile::open(&model).expect("test model is GGUF");
    let arch = file
        .get_str("general.architecture")
        .expect("architecture")
        .to_string();
    let path = model.to_str().expect("utf-8 path");

    let out = verimath(&["models", "inspect", path], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("architecture  {arch}")),
        "{stdout}"
    );
    let first = &file.tensors()[0];
    assert!(stdout
        .lines()
        .any(|l| l.trim_start().starts_with(&first.name) && l.contains(first.dtype.name())));

    let out = verimath(&["models", "inspect", path, "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["architecture"], arch.as_str());
    assert_eq!(json["tensor_count"], file.tensors().len());
    let params: u64 = file.tensors().iter().map(|t| t.n_elements()).sum();
    assert_eq!(json["parameters"], params);
    assert_eq!(
        json["tensors"].as_array().map(Vec::len),
        Some(file.tensors().len())
    );
    assert_eq!(json["metadata"]["general.architecture"], arch.as_str());
}

#[test]
fn inspect_of_a_missing_or_broken_file_fails_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().to_str().expect("utf-8");
    let out = verimath(
        &["models", "inspect", "no-such-model"],
        &[("VERIMATH_CACHE", cache)],
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("does not exist"));
    let junk = dir.path().join("junk.gguf");
    std::fs::write(&junk, b"not a gguf file at all").expect("write");
    let out = verimath(&["models", "inspect", junk.to_str().expect("utf-8")], &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot read"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn list_shows_cached_models_and_flags_broken_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let models = dir.path().join("models");
    std::fs::create_dir_all(models.join("sub")).expect("mkdir");
    std::fs::write(models.join("sub/tiny.gguf"), tiny_gguf()).expect("write");
    std::fs::write(models.join("broken.gguf"), b"GGUF but not really").expect("write");
    std::fs::write(models.join("half.gguf.partial"), b"in progress").expect("write");
    let cache = dir.path().to_str().expect("utf-8");

    let out = verimath(&["models", "list"], &[("VERIMATH_CACHE", cache)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let tiny = stdout
        .lines()
        .find(|l| l.contains("tiny.gguf"))
        .expect("tiny listed");
    assert!(tiny.contains("llama") && tiny.contains("q8_0"), "{tiny}");
    assert!(stdout
        .lines()
        .any(|l| l.contains("broken.gguf") && l.contains("unreadable")));
    assert!(!stdout.contains("partial"));

    let out = verimath(&["models", "list", "--json"], &[("VERIMATH_CACHE", cache)]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["files"].as_array().map(Vec::len), Some(2));
    // The known models are listed from models/known.json, here as not installed.
    let known = json["known"].as_array().expect("known models");
    assert!(known
        .iter()
        .any(|m| m["role"] == "default" && m["installed"] == false));
    assert!(stdout.contains("qwen2.5-coder-1.5b-instruct") && stdout.contains("not installed"));
}

#[test]
fn pull_fails_fast_when_the_hub_is_unreachable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().to_str().expect("utf-8");
    let start = Instant::now();
    let out = verimath(
        &["models", "pull", "owner/repo/model.gguf"],
        &[
            ("VERIMATH_CACHE", cache),
            ("HF_ENDPOINT", "http://127.0.0.1:9"),
        ],
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot reach the Hugging Face hub"),
        "{stderr}"
    );
    assert!(
        stderr.contains("copy it to"),
        "the manual route is explained: {stderr}"
    );
    assert!(!dir.path().join("models/model.gguf").exists());
}

/// What the stand-in hub saw: request line and headers of each request.
type Seen = Arc<Mutex<Vec<String>>>;

/// The stand-in hub's answer to its model API (`/api/models/...`): a repository of
/// two GGUF quantizations and a README.
const LISTING: &str = r#"{"id":"owner/repo","siblings":[{"rfilename":"README.md"},
{"rfilename":"tiny-Q4_K_M.gguf"},{"rfilename":"tiny-Q8_0.gguf"}]}"#;

/// Serve `body` at any path but the model API (see [`LISTING`]) for `requests`
/// connections, honouring `Range: bytes=N-` the way the hub's CDN does.
fn fake_hub(body: Vec<u8>, requests: usize) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let from = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("range: bytes=")
                        .map(str::to_string)
                })
                .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
            let api = head.starts_with("GET /api/models/");
            log.lock().expect("log").push(head);
            let (status, part) = match from {
                _ if api => ("200 OK", LISTING.as_bytes()),
                Some(n) if n < body.len() => ("206 Partial Content", &body[n..]),
                _ => ("200 OK", &body[..]),
            };
            let header = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                part.len()
            );
            let _ = stream.write_all(header.as_bytes());
            let _ = stream.write_all(part);
            let _ = stream.flush();
            let mut rest = Vec::new();
            let _ = reader.read_to_end(&mut rest);
        }
    });
    (url, seen)
}

fn pull(cache: &Path, endpoint: &str, extra: &[&str]) -> Output {
    let mut args = vec!["models", "pull", "owner/repo/tiny.gguf"];
    args.extend_from_slice(extra);
    verimath(
        &args,
        &[
            ("VERIMATH_CACHE", cache.to_str().expect("utf-8")),
            ("HF_ENDPOINT", endpoint),
            ("HF_TOKEN", "hf_secret"),
        ],
    )
}

#[test]
fn pull_downloads_resumes_and_keeps_the_cache_whole() {
    let body = tiny_gguf();
    let dir = tempfile::tempdir().expect("tempdir");
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).expect("mkdir");
    // Half a previous download is already there: only the rest is fetched.
    let half = body.len() / 2;
    std::fs::write(models.join("tiny.gguf.partial"), &body[..half]).expect("write");

    let (url, seen) = fake_hub(body.clone(), 1);
    let out = pull(dir.path(), &url, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(models.join("tiny.gguf")).expect("saved"),
        body
    );
    assert!(!models.join("tiny.gguf.partial").exists());
    let requests = seen.lock().expect("log").clone();
    assert_eq!(requests.len(), 1);
    let head = requests[0].to_ascii_lowercase();
    assert!(
        head.starts_with("get /owner/repo/resolve/main/tiny.gguf "),
        "{head}"
    );
    assert!(head.contains("authorization: bearer hf_secret"));
    assert!(head.contains(&format!("range: bytes={half}-")));

    // Already present: nothing is fetched (the closed port would fail).
    let out = pull(dir.path(), "http://127.0.0.1:9", &[]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("already in the cache"));
}

#[test]
fn pull_of_a_repository_takes_its_file_of_the_quantization() {
    let body = tiny_gguf();
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, seen) = fake_hub(body.clone(), 2);
    let cache = dir.path().to_str().expect("utf-8");
    let env = [("VERIMATH_CACHE", cache), ("HF_ENDPOINT", url.as_str())];
    let out = verimath(&["models", "pull", "owner/repo", "--quant", "q8_0"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let saved = dir.path().join("models/tiny-Q8_0.gguf");
    assert_eq!(std::fs::read(saved).expect("saved"), body);
    let requests = seen.lock().expect("log").clone();
    assert!(requests[0].starts_with("GET /api/models/owner/repo/revision/main "));
    assert!(requests[1].starts_with("GET /owner/repo/resolve/main/tiny-Q8_0.gguf "));

    let (url, _) = fake_hub(body, 1);
    let env = [("VERIMATH_CACHE", cache), ("HF_ENDPOINT", url.as_str())];
    let out = verimath(&["models", "pull", "owner/repo", "--quant", "IQ1_S"], &env);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no IQ1_S file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn pull_refuses_a_download_that_is_not_gguf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, _) = fake_hub(b"<html>login required</html>".to_vec(), 1);
    let out = pull(dir.path(), &url, &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not a valid GGUF"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("models/tiny.gguf").exists());
}
