//! `verimath bench serve`: a load test of `verimath serve` on loopback — N concurrent
//! streamed chat completions, bounded in count and time — reporting successes, time to
//! first token (p50, p99) and aggregate completion tokens per second; with
//! `--reference PYTHON` the same load goes to llama.cpp's server (`llama_cpp.server`
//! from llama-cpp-python[server]) on the same model in the same run, and the ratios
//! are printed.

use anyhow::Context;
use futures::StreamExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Flags of `verimath bench serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// GGUF model [default: $VERIMATH_MODEL, else the installed default model].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Concurrent streamed chats.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Tokens generated per chat.
    #[arg(long, default_value_t = 32)]
    max_tokens: u32,
    /// Give up on the whole load after this many seconds.
    #[arg(long, default_value_t = 600)]
    time_limit: u64,
    /// A Python with llama-cpp-python[server] to run llama.cpp's server as the reference.
    #[arg(long, value_name = "PYTHON")]
    reference: Option<PathBuf>,
    /// Threads of the reference server.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

/// What one load run measured.
#[derive(Debug, Default)]
struct Load {
    ok: usize,
    failed: usize,
    ttft: Vec<f64>,
    tokens: u64,
    wall: f64,
}

impl Load {
    fn pct(&self, p: f64) -> f64 {
        let mut v = self.ttft.clone();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return f64::NAN;
        }
        v[((v.len() - 1) as f64 * p).round() as usize]
    }
    fn tokens_per_s(&self) -> f64 {
        self.tokens as f64 / self.wall.max(1e-9)
    }
}

/// One streamed chat: time to the first content delta, and completion tokens (the
/// usage chunk when the server sends one, else the content chunks counted).
async fn one_chat(
    client: &reqwest::Client,
    url: &str,
    model: &str,
    i: usize,
    max_tokens: u32,
) -> anyhow::Result<(f64, u64)> {
    let body = serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": format!("Problem {i}: what is {i} plus {}? Explain briefly.", i + 7)}],
        "max_tokens": max_tokens,
        "temperature": 0.7,
        // No `seed`: llama-cpp-python's server cuts concurrent streams that set one.
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let started = Instant::now();
    let response = client
        .post(url)
        .json(&body)
        .send()
        .await?
        .error_for_status()?;
    let mut stream = response.bytes_stream();
    let (mut ttft, mut chunks, mut usage) = (None, 0u64, None);
    let mut buf = String::new();
    while let Some(bytes) = stream.next().await {
        buf.push_str(&String::from_utf8_lossy(&bytes?));
        while let Some(end) = buf.find('\n') {
            let line: String = buf.drain(..=end).collect();
            let Some(data) = line.trim().strip_prefix("data:") else {
                continue;
            };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim()) else {
                continue;
            };
            if let Some(t) = v["usage"]["completion_tokens"].as_u64() {
                usage = Some(t);
            }
            let content = v["choices"][0]["delta"]["content"].as_str().unwrap_or("");
            if !content.is_empty() {
                chunks += 1;
                ttft.get_or_insert_with(|| started.elapsed().as_secs_f64());
            }
        }
    }
    let ttft = ttft.context("no content arrived")?;
    Ok((ttft, usage.unwrap_or(chunks)))
}

async fn load(base: &str, model: &str, args: &Args) -> Load {
    let client = Arc::new(
        reqwest::Client::builder()
            .timeout(Duration::from_secs(args.time_limit))
            .build()
            .unwrap_or_default(),
    );
    let url = format!("{base}/v1/chat/completions");
    let started = Instant::now();
    let runs = (0..args.clients).map(|i| {
        let (client, url) = (client.clone(), url.clone());
        async move { one_chat(&client, &url, model, i, args.max_tokens).await }
    });
    let deadline = Duration::from_secs(args.time_limit);
    let results = tokio::time::timeout(deadline, futures::future::join_all(runs)).await;
    let mut out = Load {
        wall: started.elapsed().as_secs_f64(),
        ..Load::default()
    };
    match results {
        Ok(results) => {
            for r in results {
                match r {
                    Ok((ttft, tokens)) => {
                        out.ok += 1;
                        out.ttft.push(ttft);
                        out.tokens += tokens;
                    }
                    Err(e) => {
                        out.failed += 1;
                        eprintln!("request failed: {e:#}");
                    }
                }
            }
        }
        Err(_) => out.failed = args.clients,
    }
    out
}

/// Wait until `GET {base}{path}` answers 200.
async fn wait_ready(base: &str, path: &str, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(format!("{base}{path}")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        anyhow::ensure!(
            started.elapsed() < limit,
            "{base} did not come up in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Reference(Child);

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let model = args
        .model
        .clone()
        .unwrap_or_else(engine::default_model_path);
    anyhow::ensure!(
        model.is_file(),
        "model file {} not found: run scripts/setup.sh or pass --model",
        model.display()
    );
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        // verimath serve, the real binary, on a free loopback port.
        let port = free_port()?;
        let exe = std::env::current_exe()?;
        let run_dir = tempfile_dir()?;
        let ours = Reference(
            Command::new(exe)
                .args(["serve", "--port", &port.to_string(), "--model"])
                .arg(&model)
                .arg("--run-dir")
                .arg(&run_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting verimath serve")?,
        );
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&base, "/health", Duration::from_secs(120)).await?;
        eprintln!(
            "verimath serve: {} streamed chats of {} tokens ...",
            args.clients, args.max_tokens
        );
        let mine = load(&base, "local", &args).await;
        drop(ours);
        let reference = match &args.reference {
            None => None,
            Some(python) => {
                let port = free_port()?;
                let child = Reference(
                    Command::new(python)
                        .args(["-m", "llama_cpp.server", "--model"])
                        .arg(&model)
                        .args([
                            "--host",
                            "127.0.0.1",
                            "--port",
                            &port.to_string(),
                            "--n_threads",
                            &args.threads.to_string(),
                            "--n_ctx",
                            "4096",
                            // By default a new request cuts the stream being served;
                            // queue requests instead, as a load test needs.
                            "--interrupt_requests",
                            "false",
                        ])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .context(
                            "starting llama_cpp.server (is llama-cpp-python[server] installed?)",
                        )?,
                );
                let base = format!("http://127.0.0.1:{port}");
                wait_ready(&base, "/v1/models", Duration::from_secs(180)).await?;
                eprintln!("llama.cpp server: the same load ...");
                let theirs = load(&base, "local", &args).await;
                drop(child);
                Some(theirs)
            }
        };
        let _ = std::fs::remove_dir_all(&run_dir);
        print_table(&mine, reference.as_ref(), &args);
        anyhow::Ok(if mine.failed > 0 { 1 } else { 0 })
    })
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("verimath-bench-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn print_table(mine: &Load, theirs: Option<&Load>, args: &Args) {
    println!(
        "{} concurrent streamed chats, {} tokens each, on loopback",
        args.clients, args.max_tokens
    );
    println!(
        "{:<28} {:>14} {:>14} {:>8}",
        "", "verimath", "llama.cpp", "ratio"
    );
    let row = |name: &str, a: f64, b: Option<f64>, higher_better: bool| {
        let ratio = b.map(|b| if higher_better { a / b } else { b / a });
        println!(
            "{name:<28} {a:>14.2} {:>14} {:>8}",
            b.map_or("-".into(), |b| format!("{b:.2}")),
            ratio.map_or("-".into(), |r| format!("{r:.2}"))
        );
    };
    println!(
        "{:<28} {:>14} {:>14}",
        "succeeded",
        format!("{}/{}", mine.ok, mine.ok + mine.failed),
        theirs.map_or("-".into(), |t| format!("{}/{}", t.ok, t.ok + t.failed))
    );
    row(
        "time to first token p50 (s)",
        mine.pct(0.5),
        theirs.map(|t| t.pct(0.5)),
        false,
    );
    row(
        "time to first token p99 (s)",
        mine.pct(0.99),
        theirs.map(|t| t.pct(0.99)),
        false,
    );
    row(
        "completion tokens/s",
        mine.tokens_per_s(),
        theirs.map(Load::tokens_per_s),
        true,
    );
    row("wall (s)", mine.wall, theirs.map(|t| t.wall), false);
    println!("(ratio > 1: verimath better)");
}
