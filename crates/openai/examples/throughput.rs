//! Requests per second of the OpenAI backend against an instant local server,
//! next to a bare HTTP client sending the same requests (the reference), so the
//! ratio shows what the backend's parsing, balancing and bookkeeping cost.
//!
//! `cargo run --release -p llm --example throughput -- [REQUESTS] [CONCURRENCY]`

use std::time::{Duration, Instant};

use futures::StreamExt;
use llm::{ChatRequest, Llm, Message, StreamEvent};
use openai::{OpenAiBackend, OpenAiConfig};
use scripted_server::{responders, ScriptedServer};

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn request() -> ChatRequest {
    ChatRequest::new(vec![Message::user("Prove that 1 + 1 = 2.")])
}

async fn measure<F, Fut>(requests: usize, concurrency: usize, one: F) -> f64
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    let ok = futures::stream::iter(0..requests)
        .map(|_| one())
        .buffer_unordered(concurrency)
        .filter(|ok| futures::future::ready(*ok))
        .count()
        .await;
    let secs = start.elapsed().as_secs_f64();
    if ok != requests {
        eprintln!("warning: {} of {requests} requests failed", requests - ok);
    }
    requests as f64 / secs
}

#[tokio::main]
async fn main() {
    let requests = arg(1, 5000);
    let concurrency = arg(2, 64);
    let server = ScriptedServer::start(responders::instant()).await;
    let url = server.base_url();
    let backend = OpenAiBackend::new(OpenAiConfig {
        model: Some("scripted-model".into()),
        max_concurrency_per_endpoint: concurrency,
        timeout: Duration::from_secs(30),
        ..OpenAiConfig::new([url.clone()])
    })
    .expect("valid config");
    let raw = reqwest::Client::new();
    let body = serde_json::json!({
        "model": "scripted-model", "n": 1,
        "messages": [{"role": "user", "content": "Prove that 1 + 1 = 2."}],
    });

    // Warm up connections on both clients.
    let _ = backend.chat(request()).await;
    let reference = measure(requests, concurrency, || async {
        match raw
            .post(format!("{url}/chat/completions"))
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r.bytes().await.is_ok(),
            Err(_) => false,
        }
    })
    .await;
    let chat = measure(requests, concurrency, || async {
        backend.chat(request()).await.is_ok()
    })
    .await;
    let stream = measure(requests, concurrency, || async {
        let Ok(mut s) = backend.chat_stream(request()).await else {
            return false;
        };
        while let Some(event) = s.next().await {
            match event {
                Ok(StreamEvent::Done(_)) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    })
    .await;
    println!("requests {requests}, concurrency {concurrency}");
    println!("bare HTTP client (reference)  {reference:>9.0} req/s");
    println!(
        "backend chat                  {chat:>9.0} req/s  ratio {:.2}",
        chat / reference
    );
    println!(
        "backend chat_stream           {stream:>9.0} req/s  ratio {:.2}",
        stream / reference
    );
    println!("server saw {} chat requests", server.request_count());
}
