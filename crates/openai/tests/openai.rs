//! The OpenAI-compatible backend against the scripted server on 127.0.0.1: answers,
//! streaming, reasoning, usage, and every fault the backend is meant to survive.

use std::time::{Duration, Instant};

use futures::StreamExt;
use llm::{ChatRequest, ChatResponse, FinishReason, Llm, LlmError, Message, StreamEvent};
use openai::{NMode, OpenAiBackend, OpenAiConfig};
use scripted_server::{responders, Reply, Sample, ScriptedServer};

fn config(endpoints: &[String]) -> OpenAiConfig {
    OpenAiConfig {
        endpoints: endpoints.to_vec(),
        model: Some("test-model".into()),
        api_key: Some("k-123".into()),
        timeout: Duration::from_secs(5),
        stream_idle_timeout: Duration::from_secs(5),
        max_retries: 3,
        retry_base_delay: Duration::from_millis(5),
        ..OpenAiConfig::default()
    }
}

fn backend(server: &ScriptedServer) -> OpenAiBackend {
    OpenAiBackend::new(config(&[server.base_url()])).expect("valid config")
}

fn request(prompt: &str, n: u32) -> ChatRequest {
    ChatRequest {
        n,
        temperature: 0.6,
        top_p: 0.95,
        max_tokens: Some(64),
        seed: Some(10),
        stop: vec!["END".into()],
        ..ChatRequest::new(vec![Message::system("be rigorous"), Message::user(prompt)])
    }
}

/// Collect a stream: per-sample answer and reasoning deltas, and the final answer.
async fn collect(
    backend: &OpenAiBackend,
    req: ChatRequest,
) -> (Vec<(String, String)>, Result<ChatResponse, LlmError>) {
    let mut stream = backend.chat_stream(req).await.expect("stream starts");
    let mut parts: Vec<(String, String)> = Vec::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::Delta {
                index,
                text,
                reasoning,
            }) => {
                let i = index as usize;
                if parts.len() <= i {
                    parts.resize(i + 1, Default::default());
                }
                if reasoning {
                    parts[i].1.push_str(&text);
                } else {
                    parts[i].0.push_str(&text);
                }
            }
            Ok(StreamEvent::Done(r)) => return (parts, Ok(r)),
            Err(e) => return (parts, Err(e)),
        }
    }
    (
        parts,
        Err(LlmError::Backend("stream ended without Done".into())),
    )
}

#[tokio::test]
async fn non_streaming_samples_reasoning_and_request_fields() {
    let server = ScriptedServer::start(|_| {
        Reply::samples(vec![
            Sample::new("proof A").reasoning("idea A"),
            Sample::new("proof B").reasoning("idea B"),
            Sample::new("proof C").reasoning("idea C").finish("length"),
        ])
        .usage(11, 22)
    })
    .await;
    let r = backend(&server)
        .chat(request("prove it", 3))
        .await
        .expect("answer");
    let texts: Vec<&str> = r.completions.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["proof A", "proof B", "proof C"]);
    assert_eq!(r.completions[1].reasoning.as_deref(), Some("idea B"));
    assert_eq!(r.completions[2].finish_reason, FinishReason::Length);
    assert_eq!((r.usage.prompt_tokens, r.usage.completion_tokens), (11, 22));

    let seen = server.requests_seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.model.as_deref(), Some("test-model"));
    assert_eq!(
        (s.n, s.seed, s.max_tokens, s.stream),
        (3, Some(10), Some(64), false)
    );
    assert_eq!(s.temperature.map(|t| (t * 100.0).round()), Some(60.0));
    assert_eq!(s.stop, vec!["END".to_string()]);
    assert_eq!(s.authorization.as_deref(), Some("Bearer k-123"));
    assert_eq!(s.last_user(), "prove it");
}

#[tokio::test]
async fn streaming_three_samples_with_reasoning_and_usage() {
    let server = ScriptedServer::start(|_| {
        Reply::samples(vec![
            Sample::new("first proof text").reasoning("think one"),
            Sample::new("second"),
            Sample::new("<think>inline idea</think>third proof").finish("length"),
        ])
        .chunk_chars(3)
    })
    .await;
    let (parts, done) = collect(&backend(&server), request("p", 3)).await;
    let r = done.expect("complete answer");
    assert_eq!(r.completions.len(), 3);
    assert_eq!(r.completions[0].text, "first proof text");
    assert_eq!(r.completions[0].reasoning.as_deref(), Some("think one"));
    assert_eq!(r.completions[1].reasoning, None);
    assert_eq!(r.completions[2].text, "third proof");
    assert_eq!(r.completions[2].reasoning.as_deref(), Some("inline idea"));
    assert_eq!(r.completions[2].finish_reason, FinishReason::Length);
    // Live deltas match the final answer, inline <think> routed to reasoning.
    assert_eq!(parts[0], ("first proof text".into(), "think one".into()));
    assert_eq!(parts[1], ("second".into(), String::new()));
    assert_eq!(parts[2], ("third proof".into(), "inline idea".into()));
    // Counted usage: prompt "be rigorous" + "p" = 3 words.
    assert_eq!(r.usage.prompt_tokens, 3);
    assert!(r.usage.completion_tokens > 0);
    let seen = server.requests_seen();
    assert!(seen[0].stream && seen[0].include_usage);
}

#[tokio::test]
async fn single_sample_reports_its_tokens_and_inline_think_is_split() {
    let server =
        ScriptedServer::start(|_| Reply::text("<think>hmm</think>\n\n## Solution\nx").usage(4, 9))
            .await;
    let r = backend(&server)
        .chat(request("q", 1))
        .await
        .expect("answer");
    assert_eq!(r.completions[0].text, "## Solution\nx");
    assert_eq!(r.completions[0].reasoning.as_deref(), Some("hmm"));
    assert_eq!(r.completions[0].completion_tokens, Some(9));
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let server = ScriptedServer::start(responders::fail_first(2, 500, |_| Reply::text("ok"))).await;
    let r = backend(&server)
        .chat(request("q", 2))
        .await
        .expect("third try works");
    assert_eq!(r.completions.len(), 2);
    assert_eq!(server.request_count(), 3);
}

#[tokio::test]
async fn rate_limit_waits_for_retry_after() {
    let server = ScriptedServer::start(|req| {
        if req.seq == 0 {
            Reply::error(429, "slow down").retry_after("0.4")
        } else {
            Reply::text("ok")
        }
    })
    .await;
    let start = Instant::now();
    backend(&server)
        .chat(request("q", 1))
        .await
        .expect("answer");
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "Retry-After honoured"
    );
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = ScriptedServer::start(|_| Reply::error(401, "bad key")).await;
    let err = backend(&server)
        .chat(request("q", 1))
        .await
        .expect_err("fails");
    assert!(matches!(err, LlmError::Http { status: 401, ref body } if body.contains("bad key")));
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn stalled_server_times_out_quickly_after_retries() {
    let server = ScriptedServer::start(|_| Reply::hang()).await;
    let mut cfg = config(&[server.base_url()]);
    cfg.timeout = Duration::from_millis(150);
    cfg.max_retries = 1;
    let b = OpenAiBackend::new(cfg).expect("config");
    let start = Instant::now();
    let err = b.chat(request("q", 1)).await.expect_err("times out");
    assert!(matches!(err, LlmError::Timeout(_)), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn stream_idle_timeout_catches_a_mid_stream_stall() {
    let server = ScriptedServer::start(|_| {
        Reply::text("slow words here")
            .chunk_chars(2)
            .chunk_delay(Duration::from_secs(5))
    })
    .await;
    let mut cfg = config(&[server.base_url()]);
    cfg.stream_idle_timeout = Duration::from_millis(150);
    cfg.max_retries = 0;
    let (parts, done) = collect(&OpenAiBackend::new(cfg).expect("config"), request("q", 1)).await;
    assert!(matches!(done, Err(LlmError::Timeout(_))), "{done:?}");
    assert_eq!(parts.len(), 0, "the role chunk carries no text");
}

#[tokio::test]
async fn cut_stream_is_retried_by_chat_and_reported_by_chat_stream() {
    let server = ScriptedServer::start(|req| {
        let reply = Reply::text("a complete proof of the claim").chunk_chars(4);
        if req.seq == 0 || req.contains("always cut") {
            reply.cut_after(3)
        } else {
            reply
        }
    })
    .await;
    let mut cfg = config(&[server.base_url()]);
    cfg.stream_chat = true;
    let b = OpenAiBackend::new(cfg).expect("config");
    let r = b
        .chat(request("q", 1))
        .await
        .expect("retried to completion");
    assert_eq!(r.completions[0].text, "a complete proof of the claim");
    assert_eq!(server.request_count(), 2);

    let (parts, done) = collect(&b, request("always cut", 1)).await;
    assert!(done.is_err(), "no Done after a cut: {done:?}");
    assert!(!parts.is_empty() && parts[0].0.len() < "a complete proof".len());
    assert_eq!(
        server.request_count(),
        3,
        "nothing retried once text was shown"
    );
}

#[tokio::test]
async fn stream_ending_early_without_done_is_an_error() {
    let server =
        ScriptedServer::start(|_| Reply::text("abcdefgh").chunk_chars(2).end_early_after(3)).await;
    let mut cfg = config(&[server.base_url()]);
    cfg.stream_chat = true;
    cfg.max_retries = 1;
    let err = OpenAiBackend::new(cfg)
        .expect("config")
        .chat(request("q", 1))
        .await;
    assert!(matches!(err, Err(LlmError::Protocol(_))), "{err:?}");
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn garbage_body_is_a_protocol_error() {
    let server = ScriptedServer::start(|_| Reply::garbage("<html>oops</html>")).await;
    let mut cfg = config(&[server.base_url()]);
    cfg.max_retries = 0;
    let err = OpenAiBackend::new(cfg)
        .expect("config")
        .chat(request("q", 1))
        .await;
    assert!(matches!(err, Err(LlmError::Protocol(_))), "{err:?}");
}

#[tokio::test]
async fn two_endpoints_share_the_load() {
    let slow =
        |_: &scripted_server::ChatRequestSeen| Reply::text("ok").delay(Duration::from_millis(60));
    let a = ScriptedServer::start(slow).await;
    let b = ScriptedServer::start(slow).await;
    let backend = OpenAiBackend::new(config(&[format!("{},{}", a.base_url(), b.base_url())]))
        .expect("config");
    let calls = (0..8).map(|_| backend.chat(request("q", 1)));
    for r in futures::future::join_all(calls).await {
        r.expect("answer");
    }
    assert_eq!(a.request_count() + b.request_count(), 8);
    assert!(
        a.request_count() >= 3 && b.request_count() >= 3,
        "{} / {}",
        a.request_count(),
        b.request_count()
    );
}

#[tokio::test]
async fn dead_endpoint_is_avoided() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}/v1", l.local_addr().expect("addr"))
    };
    let alive = ScriptedServer::start(|_| Reply::text("ok")).await;
    let backend = OpenAiBackend::new(config(&[dead, alive.base_url()])).expect("config");
    let start = Instant::now();
    for _ in 0..6 {
        backend
            .chat(request("q", 1))
            .await
            .expect("answer from the live endpoint");
    }
    assert_eq!(alive.request_count(), 6);
    assert!(start.elapsed() < Duration::from_secs(2));
    let stats = backend.stats();
    assert_eq!((stats[1].attempts, stats[1].failures), (6, 0));
    assert!(stats[0].failures >= 1 && stats[0].failures == stats[0].attempts);
    assert!(
        stats[0].attempts <= 2,
        "the dead endpoint is not tried each time"
    );
    assert_eq!(stats[0].outstanding + stats[1].outstanding, 0);
}

#[tokio::test]
async fn concurrency_limit_per_endpoint_is_respected() {
    let server =
        ScriptedServer::start(|_| Reply::text("ok").delay(Duration::from_millis(40))).await;
    let mut cfg = config(&[server.base_url()]);
    cfg.max_concurrency_per_endpoint = 2;
    let b = OpenAiBackend::new(cfg).expect("config");
    let calls = (0..6).map(|_| b.chat(request("q", 1)));
    for r in futures::future::join_all(calls).await {
        r.expect("answer");
    }
    assert_eq!(server.max_in_flight(), 2);
}

#[tokio::test]
async fn servers_refusing_n_get_one_request_per_sample() {
    let server = ScriptedServer::start(|req| {
        if req.n > 1 {
            Reply::error(400, "only one completion choice is allowed")
        } else {
            Reply::text(format!("sample with seed {:?}", req.seed))
        }
    })
    .await;
    let b = backend(&server);
    let r = b.chat(request("q", 3)).await.expect("fanned out");
    let texts: Vec<&str> = r.completions.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "sample with seed Some(10)",
            "sample with seed Some(11)",
            "sample with seed Some(12)"
        ]
    );
    b.chat(request("q", 2)).await.expect("fanned out");
    let ns: Vec<u32> = server.requests_seen().iter().map(|s| s.n).collect();
    assert_eq!(ns, [3, 1, 1, 1, 1, 1], "the refusal is remembered");
}

#[tokio::test]
async fn fanned_out_streams_keep_their_sample_indices() {
    let server = ScriptedServer::start(|req| {
        if req.n > 1 {
            Reply::error(400, "n > 1 is not supported")
        } else {
            Reply::text(format!("answer {}", req.seed.unwrap_or(0))).chunk_chars(2)
        }
    })
    .await;
    let (parts, done) = collect(&backend(&server), request("q", 3)).await;
    let r = done.expect("complete");
    let texts: Vec<&str> = r.completions.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["answer 10", "answer 11", "answer 12"]);
    let live: Vec<&str> = parts.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(live, texts);
    assert_eq!(server.samples_requested(), 3 + 3);
}

#[tokio::test]
async fn other_client_errors_with_n_are_not_fanned_out() {
    let server = ScriptedServer::start(|_| {
        Reply::error(400, "This model's maximum context length is 4096 tokens")
    })
    .await;
    let err = backend(&server).chat(request("q", 3)).await;
    assert!(
        matches!(err, Err(LlmError::Http { status: 400, .. })),
        "{err:?}"
    );
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn servers_ignoring_n_are_topped_up_and_native_mode_refuses() {
    let server = ScriptedServer::start(|req| {
        Reply::exactly(vec![Sample::new(format!("seed {:?}", req.seed))])
    })
    .await;
    let r = backend(&server)
        .chat(request("q", 3))
        .await
        .expect("topped up");
    let texts: Vec<&str> = r.completions.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["seed Some(10)", "seed Some(11)", "seed Some(12)"]);
    let ns: Vec<u32> = server.requests_seen().iter().map(|s| s.n).collect();
    assert_eq!(ns, [3, 1, 1]);

    let mut cfg = config(&[server.base_url()]);
    cfg.n_mode = NMode::Native;
    let err = OpenAiBackend::new(cfg)
        .expect("config")
        .chat(request("q", 2))
        .await;
    assert!(matches!(err, Err(LlmError::Protocol(_))), "{err:?}");
}

#[tokio::test]
async fn model_is_discovered_once_when_not_configured() {
    let server = ScriptedServer::start(responders::echo()).await;
    let mut cfg = config(&[server.base_url()]);
    cfg.model = None;
    let b = OpenAiBackend::new(cfg).expect("config");
    b.chat(request("hello", 1)).await.expect("answer");
    let r = b.chat(request("again", 1)).await.expect("answer");
    assert_eq!(r.completions[0].text, "again");
    assert_eq!(server.models_requests(), 1);
    assert!(server
        .requests_seen()
        .iter()
        .all(|s| s.model.as_deref() == Some("scripted-model")));
}

#[test]
fn bad_configurations_are_refused() {
    assert!(matches!(
        OpenAiBackend::new(config(&[])),
        Err(LlmError::InvalidRequest(_))
    ));
    assert!(OpenAiBackend::new(config(&["ftp://x".into()])).is_err());
    let cfg = OpenAiConfig {
        n_mode: NMode::FanOut,
        ..config(&["127.0.0.1:1".into()])
    };
    assert!(OpenAiBackend::new(cfg).is_ok());
}
