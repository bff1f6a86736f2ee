//! The server over HTTP, started in-process on port 0: bad input gets a 4xx and the
//! server keeps serving, authentication, a proof-search job end to end against the
//! scripted OpenAI server (events arrive, the result is the search's own summary), and
//! the OpenAI API over the local engine on the test model.

use openai::{OpenAiBackend, OpenAiConfig};
use scripted_server::{Reply, ScriptedServer};
use server::jobs::{JobBackends, Jobs};
use server::{AppState, Limits};
use std::sync::Arc;
use std::time::Duration;

struct Running {
    base: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
    run_dir: std::path::PathBuf,
}

/// A server whose jobs run on `backend`, with `local` behind `/v1`.
async fn start(
    backend: &str,
    local: Option<Arc<engine::LocalLlm>>,
    api_key: Option<&str>,
) -> Running {
    let mut config = OpenAiConfig::new([backend]);
    config.max_retries = 0;
    config.api_key = None;
    let llm: Arc<dyn llm::Llm> = Arc::new(OpenAiBackend::new(config).expect("backend"));
    let dir = tempfile::tempdir().expect("tempdir");
    let run_dir = dir.path().join("runs");
    let jobs = Arc::new(Jobs::new(
        run_dir.clone(),
        JobBackends {
            generator: llm.clone(),
            verifier: llm,
            generator_model: Some("m".into()),
            verifier_model: Some("m".into()),
            preset: search::Preset::Quick,
        },
        search::Templates::default(),
        2,
    ));
    let state = Arc::new(AppState {
        local,
        model_name: "test-model".into(),
        jobs,
        metrics: Arc::new(server::metrics::Metrics::new()),
        limits: Limits::default(),
        api_key: api_key.map(str::to_string),
        ui_dir: std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/ui")),
        loopback_only: true,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(listener, state, async {
        let _ = rx.await;
    }));
    Running {
        base,
        _stop: tx,
        _dir: dir,
        run_dir,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

async fn post(base: &str, path: &str, body: impl Into<reqwest::Body>) -> (u16, serde_json::Value) {
    let r = client()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_4xx_with_openai_error_bodies_and_the_server_keeps_serving() {
    let s = start("http://127.0.0.1:9/v1", None, None).await;
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("/v1/chat/completions", b"{not json".to_vec(), 400),
        ("/v1/chat/completions", b"[1, 2]".to_vec(), 400),
        (
            "/v1/chat/completions",
            br#"{"messages": "hi"}"#.to_vec(),
            400,
        ),
        (
            "/v1/chat/completions",
            br#"{"messages": [{"role": "user", "content": "x"}], "n": "3"}"#.to_vec(),
            400,
        ),
        (
            "/v1/chat/completions",
            br#"{"messages": [{"role": "user", "content": "x"}], "temperature": 9}"#.to_vec(),
            400,
        ),
        (
            "/v1/chat/completions",
            br#"{"messages": [{"role": "user", "content": "x"}], "n": 100000}"#.to_vec(),
            400,
        ),
        ("/api/prove", br#"{"problem": 7}"#.to_vec(), 400),
        (
            "/api/prove",
            br#"{"problem": "x", "adaptive": "yes"}"#.to_vec(),
            400,
        ),
        (
            "/api/prove",
            br#"{"problem": "x", "wave": 1000}"#.to_vec(),
            400,
        ),
        (
            "/api/prove",
            br#"{"problem": "x", "proofs": -1}"#.to_vec(),
            400,
        ),
        (
            "/api/prove",
            br#"{"problem": "x", "adaptive_z": -0.5}"#.to_vec(),
            400,
        ),
        // A misspelt setting is refused rather than silently ignored.
        (
            "/api/prove",
            br#"{"problem": "x", "proof": 3}"#.to_vec(),
            400,
        ),
        (
            "/api/prove",
            br#"{"problem": "x", "proofs": 256, "verifications": 256, "refine": 64, "rounds": 64}"#
                .to_vec(),
            400,
        ),
        ("/api/solve", br#"{"problem": ""}"#.to_vec(), 400),
    ];
    for (path, body, want) in cases {
        let shown = String::from_utf8_lossy(&body).to_string();
        let (status, v) = post(&s.base, path, body).await;
        assert_eq!(status, want, "{path} {shown}: {v}");
        assert!(v["error"]["message"].is_string(), "OpenAI error body: {v}");
        assert!(v["error"]["type"].is_string());
    }
    // No local model: /v1 says so with a 503, not a crash.
    let (status, _) = post(
        &s.base,
        "/v1/chat/completions",
        br#"{"messages": [{"role": "user", "content": "x"}]}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 503);
    // A 20 MB body is refused from its length, before any of it is sent: the
    // request announces it and the answer comes back at once.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = s.base.trim_start_matches("http://");
        let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        tcp.write_all(
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                20 << 20
            )
            .as_bytes(),
        )
        .await
        .expect("send headers");
        let mut head = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut head))
            .await
            .expect("answered without the body")
            .expect("read");
        let line = String::from_utf8_lossy(&head[..n]).to_string();
        assert!(line.starts_with("HTTP/1.1 413"), "{line}");
    }
    let r = client()
        .get(format!("{}/no/such/route", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    for bad in [
        "/api/jobs/..%2F..%2Fetc%2Fpasswd",
        "/api/jobs/.hidden",
        "/jobs/..%2Fx",
        "/ui/..%2F..%2FCargo.toml",
    ] {
        let r = client()
            .get(format!("{}{bad}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{bad}");
    }
    // A POST that is not JSON (what a cross-site form can send without asking) is
    // refused; so is a Host that is not loopback (DNS rebinding).
    let r = client()
        .post(format!("{}/api/prove", s.base))
        .header("content-type", "text/plain")
        .body(r#"{"problem": "x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let r = client()
        .get(format!("{}/api/jobs", s.base))
        .header("host", "attacker.example:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // The paper's heavy setting is within the job bounds.
    let (status, v) = post(
        &s.base,
        "/api/prove",
        r#"{"problem": "x", "preset": "heavy"}"#,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let r = client()
        .get(format!("{}/health", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let metrics = client()
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("verimath_http_requests_total"),
        "{metrics}"
    );
    assert!(metrics.contains("status=\"413\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_key_every_route_but_health_needs_it() {
    let s = start("http://127.0.0.1:9/v1", None, Some("sekrit")).await;
    let get = |path: &str, key: Option<&str>| {
        let mut r = client().get(format!("{}{path}", s.base));
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        r.send()
    };
    assert_eq!(get("/health", None).await.unwrap().status().as_u16(), 200);
    assert_eq!(get("/api/jobs", None).await.unwrap().status().as_u16(), 401);
    assert_eq!(
        get("/v1/models", Some("wrong"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        get("/v1/models", Some("sekrit"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        get("/api/jobs?key=sekrit", None)
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    // The UI's files hold no data and load without the key (the UI then asks for it).
    for open in ["/", "/ui/app.js"] {
        assert_eq!(
            get(open, None).await.unwrap().status().as_u16(),
            200,
            "{open}"
        );
    }
    // A key with characters that a URL escapes, as the UI sends it.
    let t = start("http://127.0.0.1:9/v1", None, Some("a+b/c=")).await;
    let r = client()
        .get(format!("{}/api/jobs?key=a%2Bb%2Fc%3D", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

fn proof_reply(req: &scripted_server::ChatRequestSeen) -> Reply {
    if req.last_user().contains("You are grading a proof") {
        Reply::text("The parity argument is right.\n\nFinal score: \\boxed{1}")
    } else {
        Reply::text(
            "## Solution\nWrite $n = 2k+1$; then $n^2 = 2(2k^2+2k)+1$ is odd.\n\n\
             ## Self Evaluation\nComplete. \\boxed{1}",
        )
    }
}

/// Read Server-Sent Events until `done`; their JSON data.
async fn events(url: &str) -> Vec<serde_json::Value> {
    let mut r = client().get(url).send().await.expect("events");
    assert_eq!(r.status().as_u16(), 200);
    let mut buf = String::new();
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(30), r.chunk())
        .await
        .expect("no stall")
    {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(data) = line
                    .strip_prefix("data: ")
                    .or_else(|| line.strip_prefix("data:"))
                {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(data) {
                        out.push(v);
                    }
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prove_job_runs_end_to_end_with_live_events() {
    // Every verification scores 0.5, so no proof passes and the search cannot stop
    // early: exactly 2 proofs and 6 verifications, whatever order they come in.
    let backend = ScriptedServer::start(|req| {
        if req.last_user().contains("You are grading a proof") {
            Reply::text("Step 2 is terse.\n\nFinal score: \\boxed{0.5}")
        } else {
            proof_reply(req)
        }
    })
    .await;
    let s = start(&backend.base_url(), None, None).await;
    let (status, v) = post(
        &s.base,
        "/api/prove",
        r#"{"problem": "Prove that the square of an odd integer is odd.", "proofs": 2, "verifications": 3, "rounds": 0}"#,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let seen = events(&format!("{}/api/jobs/{id}/events", s.base)).await;
    let kinds: Vec<&str> = seen.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.last(), Some(&"done"), "{kinds:?}");
    let samples = seen.iter().filter(|e| e["event"] == "sample_done").count();
    assert_eq!(samples, 2 + 6, "one event per proof and verification");
    assert!(kinds.contains(&"round_started"));
    let done = seen.last().unwrap();
    assert_eq!(done["state"], "done");

    // The job's result is the search's own summary of its run database: what
    // `prove --json` prints for the same run.
    let job: serde_json::Value = client()
        .get(format!("{}/api/jobs/{id}", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(job["state"], "done");
    let store = store::Store::open(&s.run_dir.join(format!("{id}.sqlite"))).expect("run db");
    let cfg: search::SearchConfig =
        serde_json::from_str(&store.config("search").unwrap().unwrap()).unwrap();
    let problem = store.problems().unwrap().remove(0);
    let outcome = search::summarize(&store, &problem, &cfg, search::StopReason::Stored).unwrap();
    let mut want = serde_json::to_value(&outcome).unwrap();
    want["answer_disagreement"] = serde_json::Value::Null;
    assert_eq!(job["result"], want);
    assert_eq!(job["result"]["solved"], false);

    // A client that connects after the end gets the whole story.
    let late = events(&format!("{}/api/jobs/{id}/events", s.base)).await;
    assert_eq!(
        late.iter().filter(|e| e["event"] == "sample_done").count(),
        8
    );
    let list: serde_json::Value = client()
        .get(format!("{}/api/jobs", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["jobs"][0]["id"], id.as_str());
    let samples: serde_json::Value = client()
        .get(format!("{}/api/jobs/{id}/samples", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(samples["samples"].as_array().map(Vec::len), Some(8));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_job_keeps_its_samples_and_resumes() {
    let backend =
        ScriptedServer::start(|req| proof_reply(req).delay(Duration::from_millis(1500))).await;
    let s = start(&backend.base_url(), None, None).await;
    let (_, v) = post(
        &s.base,
        "/api/prove",
        r#"{"problem": "Prove it.", "proofs": 2, "verifications": 4, "rounds": 0}"#,
    )
    .await;
    let id = v["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = client()
        .delete(format!("{}/api/jobs/{id}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let job: serde_json::Value = client()
        .get(format!("{}/api/jobs/{id}", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(job["state"], "cancelled");
    let before = job["samples"]["verifications"].as_u64().unwrap_or(0)
        + job["samples"]["proofs"].as_u64().unwrap_or(0);
    let (status, _) = post(&s.base, &format!("/api/jobs/{id}/resume"), "").await;
    assert_eq!(status, 200);
    let seen = events(&format!("{}/api/jobs/{id}/events", s.base)).await;
    assert_eq!(seen.last().unwrap()["state"], "done");
    let job: serde_json::Value = client()
        .get(format!("{}/api/jobs/{id}", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The resumed search kept what was stored and finished: both proofs, and the
    // verifications until one proof passed all 4 of its own.
    assert_eq!(job["samples"]["proofs"], 2);
    let after = job["samples"]["verifications"].as_u64().unwrap_or(0) + 2;
    assert!(after >= before.max(2 + 4), "{before} -> {after}");
    assert_eq!(job["result"]["solved"], true);
    // A finished job cannot be cancelled.
    let r = client()
        .delete(format!("{}/api/jobs/{id}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
}

/// The JSON chunks of a streamed answer (without the final `[DONE]`).
async fn stream_chunks(base: &str, path: &str, body: &str) -> Vec<serde_json::Value> {
    let text = client()
        .post(format!("{base}{path}"))
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openai_api_over_the_test_model() {
    let path = engine::test_model_path();
    assert!(
        path.exists(),
        "test model missing at {}: run scripts/setup.sh",
        path.display()
    );
    let local =
        Arc::new(engine::LocalLlm::load(&path, engine::LocalOptions::default()).expect("load"));
    let s = start("http://127.0.0.1:9/v1", Some(local), None).await;
    let (status, v) = post(
        &s.base,
        "/v1/chat/completions",
        r#"{"messages": [{"role": "user", "content": "Count: one, two,"}], "n": 3, "max_tokens": 6, "seed": 1, "temperature": 0.8}"#,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"].as_array().map(Vec::len), Some(3));
    assert!(v["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    // Text completion with logprobs.
    let (status, v) = post(&s.base, "/v1/completions", r#"{"prompt": "The capital of France is", "max_tokens": 4, "temperature": 0, "logprobs": 1}"#).await;
    assert_eq!(status, 200, "{v}");
    let lp = v["choices"][0]["logprobs"]["token_logprobs"]
        .as_array()
        .expect("logprobs");
    assert!(!lp.is_empty() && lp.iter().all(|x| x.as_f64().unwrap() <= 0.0));
    // Chat with logprobs and the 3 most likely alternatives; at temperature 0 the
    // chosen token is the most likely one.
    let (status, v) = post(
        &s.base,
        "/v1/chat/completions",
        r#"{"messages": [{"role": "user", "content": "One, two,"}], "max_tokens": 3, "temperature": 0, "logprobs": true, "top_logprobs": 3}"#,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let content = v["choices"][0]["logprobs"]["content"]
        .as_array()
        .expect("content");
    assert!(!content.is_empty());
    for position in content {
        let top = position["top_logprobs"].as_array().expect("top_logprobs");
        assert_eq!(top.len(), 3);
        assert_eq!(top[0]["token"], position["token"]);
        assert!(
            (top[0]["logprob"].as_f64().unwrap() - position["logprob"].as_f64().unwrap()).abs()
                < 1e-3
        );
        assert!(top[0]["logprob"].as_f64() >= top[1]["logprob"].as_f64());
    }
    // The same request again starts from the prompt cache: all but the prompt's
    // last token are cached, and usage says so.
    let logprob_chat = r#"{"messages": [{"role": "user", "content": "One, two,"}], "max_tokens": 3, "temperature": 0, "logprobs": true, "top_logprobs": 3}"#;
    let (status, again) = post(&s.base, "/v1/chat/completions", logprob_chat).await;
    assert_eq!(status, 200, "{again}");
    let prompt_tokens = again["usage"]["prompt_tokens"].as_u64().unwrap();
    assert_eq!(
        again["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64(),
        Some(prompt_tokens - 1),
        "{again}"
    );
    // Streamed, logprobs come with each token; from the same cache state the tokens
    // are the ones the answer above chose.
    let streamed = stream_chunks(
        &s.base,
        "/v1/chat/completions",
        &logprob_chat.replace("\"temperature\"", "\"stream\": true, \"temperature\""),
    )
    .await;
    let streamed_tokens: Vec<serde_json::Value> = streamed
        .iter()
        .filter_map(|c| c["choices"][0]["logprobs"]["content"].as_array())
        .flatten()
        .cloned()
        .collect();
    let answered: Vec<serde_json::Value> = again["choices"][0]["logprobs"]["content"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(streamed_tokens.len(), answered.len(), "{streamed:?}");
    for (a, b) in streamed_tokens.iter().zip(&answered) {
        assert_eq!(a["token"], b["token"]);
        assert_eq!(a["top_logprobs"].as_array().map(Vec::len), Some(3));
    }
    let streamed_text: String = streamed
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        streamed_text,
        again["choices"][0]["message"]["content"].as_str().unwrap()
    );
    // Text completions stream too, with the legacy logprobs layout.
    let text_req = r#"{"prompt": "The capital of France is", "max_tokens": 4, "temperature": 0, "logprobs": 2, "stream": true}"#;
    let chunks = stream_chunks(&s.base, "/v1/completions", text_req).await;
    let pieces: Vec<&serde_json::Value> = chunks
        .iter()
        .filter(|c| c["choices"][0]["logprobs"].is_object())
        .collect();
    assert_eq!(pieces.len(), 4, "{chunks:?}");
    for c in &pieces {
        let top = c["choices"][0]["logprobs"]["top_logprobs"][0]
            .as_object()
            .unwrap();
        assert_eq!(top.len(), 2);
    }
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "length"
    );
    // The engine's figures reach /metrics.
    let metrics = client()
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{name} missing from {metrics}"))
    };
    assert!(value("verimath_engine_prompt_tokens_reused_total") >= (prompt_tokens - 1) as f64);
    assert!(value("verimath_engine_forward_passes_total") > 0.0);
    assert!(value("verimath_kv_cache_cached_tokens") > 0.0);
    assert_eq!(value("verimath_kv_cache_usage_ratio"), 0.0);
    assert!(value("verimath_engine_batch_sequences") >= 1.0);
    let (status, _) = post(
        &s.base,
        "/v1/chat/completions",
        r#"{"messages": [{"role": "user", "content": "x"}], "top_logprobs": 3}"#,
    )
    .await;
    assert_eq!(status, 400, "top_logprobs without logprobs");
    // A stream ends with usage when asked.
    let text = client()
        .post(format!("{}/v1/chat/completions", s.base))
        .body(r#"{"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 5, "stream": true, "stream_options": {"include_usage": true}}"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let usage_chunk = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .find(|c| c["usage"].is_object())
        .expect("a usage chunk");
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 5);
    // An over-long prompt is a 400 naming the limit.
    let long = "word ".repeat(9000);
    let (status, v) = post(
        &s.base,
        "/v1/chat/completions",
        format!(r#"{{"messages": [{{"role": "user", "content": "{long}"}}]}}"#),
    )
    .await;
    assert_eq!(status, 400, "{v}");
}
