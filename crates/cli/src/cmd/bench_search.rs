//! `verimath bench search`: throughput of the proof-search orchestration against an
//! instant local server (the scripted OpenAI-compatible server, in process).
//!
//! One problem, `requests / 100` proofs, 100 verifications each, one sample per
//! request, nothing ever passing: the search sends exactly `--requests` verification
//! requests through the real path (planning, HTTP client, parsing, SQLite store,
//! events). Verification requests are held at a gate until all of them are queued,
//! so the resident memory before and after queueing gives the cost of one pending
//! sample; then the gate opens and the time to drain them gives requests/s.

use crate::backend::{self, BackendArgs};
use async_trait::async_trait;
use llm::{ChatRequest, ChatResponse, Llm, LlmError};
use scripted_server::{Reply, ScriptedServer};
use search::{Search, SearchConfig, SearchEvent, SearchParts, Templates};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::{Problem, Store};
use tokio::sync::watch;

/// Flags of `verimath bench search`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Verification requests to send (a multiple of 100 is used).
    #[arg(long, default_value_t = 10_000)]
    pub requests: u32,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Keep the run database here instead of a temporary file.
    #[arg(long, value_name = "PATH")]
    pub run: Option<std::path::PathBuf>,
    /// Instead: replay the recorded scores of this run database under adaptive
    /// verification and report the verifier calls saved and the choices kept. Give
    /// it several times (or as a comma-separated list) to count several runs
    /// together, each under its own stored settings.
    #[arg(
        long,
        value_name = "RUN",
        conflicts_with = "run",
        value_delimiter = ','
    )]
    pub replay: Vec<std::path::PathBuf>,
    /// Verifications per wave in the replay.
    #[arg(long, default_value_t = 8, requires = "replay")]
    pub wave: u32,
    /// Standard errors of the range within which a stopped proof's mean could still
    /// cross the best proof's, in the replay (see `prove --adaptive-z`).
    #[arg(long, value_name = "Z", default_value_t = 1.0, requires = "replay")]
    pub adaptive_z: f64,
    /// Print the replay as one JSON object.
    #[arg(long, requires = "replay")]
    pub json: bool,
}

/// Verifications per proof.
const PER_PROOF: u32 = 100;

pub fn run(args: Args) -> anyhow::Result<i32> {
    if !args.replay.is_empty() {
        return super::replay::run(&args.replay, args.wave, args.adaptive_z, args.json);
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(bench(args))
}

async fn bench(args: Args) -> anyhow::Result<i32> {
    let proofs = args.requests.div_ceil(PER_PROOF).max(1);
    let requests = proofs * PER_PROOF;
    let server = ScriptedServer::start(|req| {
        if req.contains("You are grading a proof") {
            Reply::text("Step 1 needs a word more.\n\nFinal score: \\boxed{0.5}")
        } else {
            Reply::text("## Solution\nn = 2k+1.\n\n## Self Evaluation\nFine. \\boxed{1}")
        }
    })
    .await;
    let backends = backend::build(&BackendArgs {
        backend: Some(server.base_url()),
        request_timeout: 60.0,
        ..BackendArgs::default()
    })?;
    let (open_tx, open_rx) = watch::channel(false);
    let verifier: Arc<dyn Llm> = Arc::new(Gate {
        inner: backends.verifier,
        open: open_rx,
    });
    let path = args.run.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("verimath-bench-{}.sqlite", std::process::id()))
    });
    let store = Arc::new(Store::open(&path)?);
    let cfg = SearchConfig {
        proofs,
        verifications: PER_PROOF,
        refine: 0,
        rounds: 0,
        batch: 1,
        concurrency: args.concurrency,
        ..SearchConfig::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let search = Search::new(SearchParts {
        generator: backends.generator,
        verifier,
        generator_model: None,
        verifier_model: None,
        store: store.clone(),
        templates: Templates::default(),
        cfg,
        events: Some(tx),
    })?;
    let problem = Problem {
        key: "bench".into(),
        problem_idx: "bench".into(),
        question: "Prove that the square of every odd integer is odd.".into(),
        position: 0,
        answer: None,
        info: None,
    };
    let rss_before = rss_bytes();
    let started = Instant::now();
    let task = tokio::spawn(async move { search.prove(&problem).await });
    // Wait until every sample is queued (the proofs are answered, the verifications
    // wait at the gate), then let the queued tasks settle before measuring.
    let total = u64::from(proofs + requests);
    let mut queued = 0u64;
    while queued < total {
        match rx.recv().await {
            Some(SearchEvent::Queued { samples, .. }) => queued += u64::from(samples),
            Some(_) => {}
            None => break,
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_queued = rss_bytes();
    let queued_at = Instant::now();
    let _ = open_tx.send(true);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let outcome = task.await??;
    let drained = queued_at.elapsed();
    let total_time = started.elapsed();
    let seen = server.request_count();
    let (p, v, _) = store.counts()?;
    if args.run.is_none() {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    println!("search orchestration against an instant local server");
    println!(
        "  {requests} verification requests of {proofs} proofs, concurrency {}",
        args.concurrency
    );
    println!(
        "  drained in {:.2} s: {:.0} requests/s (whole run incl. proofs {:.2} s)",
        drained.as_secs_f64(),
        f64::from(requests) / drained.as_secs_f64(),
        total_time.as_secs_f64()
    );
    match (rss_before, rss_queued) {
        (Some(a), Some(b)) => println!(
            "  memory per pending sample: {:.0} bytes (RSS {:.1} MiB -> {:.1} MiB with {requests} queued)",
            b.saturating_sub(a) as f64 / f64::from(requests),
            a as f64 / 1048576.0,
            b as f64 / 1048576.0
        ),
        _ => println!("  memory per pending sample: unknown (no /proc/self/status)"),
    }
    println!(
        "  check: server saw {seen} requests, store holds {p} proofs and {v} verifications, solved: {}",
        outcome.solved
    );
    let ok =
        v == u64::from(requests) && p == u64::from(proofs) && seen == u64::from(proofs + requests);
    Ok(if ok { 0 } else { 1 })
}

/// A model that holds every request until the gate opens.
struct Gate {
    inner: Arc<dyn Llm>,
    open: watch::Receiver<bool>,
}

#[async_trait]
impl Llm for Gate {
    fn name(&self) -> String {
        self.inner.name()
    }
    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let mut open = self.open.clone();
        let _ = open.wait_for(|o| *o).await;
        self.inner.chat(request).await
    }
}

/// Resident set size of this process, from /proc/self/status (Linux).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
