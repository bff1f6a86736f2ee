//! End-to-end tests of the scripted server over real HTTP on 127.0.0.1.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use scripted_server::{responders, Reply, Sample, ScriptedServer, ServerOptions};
use serde_json::{json, Value};

fn chat_body(n: u32, stream: bool, prompt: &str) -> Value {
    json!({
        "model": "m", "n": n, "stream": stream, "temperature": 0.7, "seed": 3,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": prompt}],
    })
}

async fn post(url: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/chat/completions"))
        .bearer_auth("secret")
        .json(body)
        .send()
        .await
        .expect("request reaches the server")
}

/// Reassemble a streamed answer: text and reasoning per choice, finish reasons,
/// usage, and whether `[DONE]` arrived.
#[derive(Default, Debug)]
struct Assembled {
    text: Vec<String>,
    reasoning: Vec<String>,
    finish: Vec<Option<String>>,
    usage: Option<Value>,
    done: bool,
}

fn assemble(body: &str) -> Assembled {
    let mut a = Assembled::default();
    for line in body.lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            a.done = true;
            continue;
        }
        let chunk: Value = serde_json::from_str(data).expect("chunk is JSON");
        if let Some(u) = chunk.get("usage") {
            a.usage = Some(u.clone());
        }
        for choice in chunk["choices"].as_array().expect("choices array") {
            let i = choice["index"].as_u64().expect("index") as usize;
            if a.text.len() <= i {
                a.text.resize(i + 1, String::new());
                a.reasoning.resize(i + 1, String::new());
                a.finish.resize(i + 1, None);
            }
            if let Some(t) = choice["delta"]["content"].as_str() {
                a.text[i].push_str(t);
            }
            if let Some(t) = choice["delta"]["reasoning_content"].as_str() {
                a.reasoning[i].push_str(t);
            }
            if let Some(f) = choice["finish_reason"].as_str() {
                a.finish[i] = Some(f.to_string());
            }
        }
    }
    a
}

#[tokio::test]
async fn non_streaming_answer_honours_n_and_records_the_request() {
    let server = ScriptedServer::start(|req| {
        if req.contains("verify") {
            Reply::text("score \\boxed{1}")
        } else {
            Reply::text("a proof").with_reasoning("thinking hard")
        }
    })
    .await;
    let url = server.base_url();
    assert!(url.ends_with("/v1"));
    let response = post(&url, &chat_body(3, false, "prove it")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON body");
    let choices = body["choices"].as_array().expect("choices");
    assert_eq!(choices.len(), 3);
    for (i, c) in choices.iter().enumerate() {
        assert_eq!(c["index"], i);
        assert_eq!(c["message"]["content"], "a proof");
        assert_eq!(c["message"]["reasoning_content"], "thinking hard");
        assert_eq!(c["finish_reason"], "stop");
    }
    // Prompt "prove it" = 2 words; each sample 2 + 2 words.
    assert_eq!(body["usage"]["prompt_tokens"], 2);
    assert_eq!(body["usage"]["completion_tokens"], 12);

    let verify: Value = post(&url, &chat_body(1, false, "please verify"))
        .await
        .json()
        .await
        .expect("JSON body");
    assert_eq!(
        verify["choices"][0]["message"]["content"],
        "score \\boxed{1}"
    );

    let seen = server.requests_seen();
    assert_eq!(seen.len(), 2);
    assert_eq!((seen[0].seq, seen[0].n, seen[0].seed), (0, 3, Some(3)));
    assert_eq!(seen[0].temperature, Some(0.7));
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer secret"));
    assert_eq!(server.samples_requested(), 4);
    server.shutdown().await;
}

#[tokio::test]
async fn streaming_answer_interleaves_choices_and_reports_usage() {
    let server = ScriptedServer::start(|_| {
        Reply::samples(vec![
            Sample::new("first answer text").reasoning("why one"),
            Sample::new("second").finish("length"),
        ])
        .usage(5, 7)
        .chunk_chars(3)
    })
    .await;
    let response = post(&server.base_url(), &chat_body(2, true, "go")).await;
    assert_eq!(
        response.headers()["content-type"].to_str().ok(),
        Some("text/event-stream")
    );
    let a = assemble(&response.text().await.expect("body"));
    assert!(a.done);
    assert_eq!(a.text, vec!["first answer text", "second"]);
    assert_eq!(a.reasoning, vec!["why one", ""]);
    assert_eq!(
        a.finish,
        vec![Some("stop".to_string()), Some("length".to_string())]
    );
    assert_eq!(a.usage.expect("usage")["completion_tokens"], 7);
}

#[tokio::test]
async fn faults_errors_retry_after_and_garbage() {
    let server = ScriptedServer::start(responders::fail_first(2, 503, |req| {
        if req.contains("garbage") {
            Reply::garbage("this is {not json")
        } else if req.contains("slow down") {
            Reply::error(429, "rate limited").retry_after("2")
        } else {
            Reply::text("fine")
        }
    }))
    .await;
    let url = server.base_url();
    for _ in 0..2 {
        assert_eq!(post(&url, &chat_body(1, false, "x")).await.status(), 503);
    }
    assert_eq!(post(&url, &chat_body(1, false, "x")).await.status(), 200);
    let limited = post(&url, &chat_body(1, false, "slow down")).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "2");
    let garbage = post(&url, &chat_body(1, false, "garbage")).await;
    assert_eq!(garbage.status(), 200);
    assert_eq!(garbage.text().await.expect("body"), "this is {not json");
    let bad = reqwest::Client::new()
        .post(format!("{url}/chat/completions"))
        .body("{")
        .send()
        .await
        .expect("reaches server");
    assert_eq!(bad.status(), 400);
    assert_eq!(
        server.request_count(),
        5,
        "the malformed body is not counted"
    );
}

#[tokio::test]
async fn cut_streams_abort_or_end_without_done() {
    let server = ScriptedServer::start(|req| {
        let reply = Reply::text("a long answer that will not arrive whole").chunk_chars(4);
        if req.contains("abort") {
            reply.cut_after(3)
        } else {
            reply.end_early_after(3)
        }
    })
    .await;
    let url = server.base_url();
    let aborted = post(&url, &chat_body(1, true, "abort")).await.text().await;
    assert!(aborted.is_err(), "an aborted transfer is an error");
    let early = post(&url, &chat_body(1, true, "early"))
        .await
        .text()
        .await
        .expect("clean end");
    let a = assemble(&early);
    assert!(!a.done);
    assert_eq!(a.text, vec!["a long a"]);
    assert_eq!(a.finish, vec![None]);
    let half = post(&url, &chat_body(1, false, "early")).await.text().await;
    assert!(serde_json::from_str::<Value>(&half.expect("clean end")).is_err());
    let half = post(&url, &chat_body(1, false, "abort")).await.text().await;
    assert!(half.is_err());
}

#[tokio::test]
async fn stalls_outlast_client_timeouts_and_in_flight_is_tracked() {
    let server = ScriptedServer::start(|req| {
        if req.contains("hang") {
            Reply::hang()
        } else {
            Reply::text("late").delay(Duration::from_millis(150))
        }
    })
    .await;
    let url = server.base_url();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .expect("client");
    let err = client
        .post(format!("{url}/chat/completions"))
        .json(&chat_body(1, false, "hang"))
        .send()
        .await
        .expect_err("a hanging request times out");
    assert!(err.is_timeout());
    // The server notices the client hanging up and stops counting the request.
    let gone = Instant::now();
    while server.in_flight() > 0 && gone.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.in_flight(), 0);

    let body = chat_body(1, false, "x");
    let many = (0..4).map(|_| post(&url, &body));
    let answers = futures::future::join_all(many).await;
    assert!(answers.iter().all(|r| r.status() == 200));
    assert!(server.max_in_flight() >= 4, "4 delayed requests overlap");
    server.shutdown().await;
}

#[test]
fn blocking_server_serves_models_to_plain_sockets() {
    let options = ServerOptions {
        port: 0,
        models: vec!["alpha".into(), "beta".into()],
    };
    let server =
        ScriptedServer::start_blocking(options, responders::instant()).expect("server starts");
    let mut stream = std::net::TcpStream::connect(server.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream
        .write_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 200"));
    assert!(response.contains("\"alpha\"") && response.contains("\"beta\""));
    assert_eq!(server.models_requests(), 1);
    drop(server);
}

#[tokio::test]
async fn standalone_binary_serves_echo_answers() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scripted-server"))
        .args(["--port", "0", "--mode", "echo", "--fail-first", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("announces its address");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("address line")
        .to_string();
    assert_eq!(post(&url, &chat_body(1, false, "x")).await.status(), 500);
    let body: Value = post(&url, &chat_body(2, false, "say this back"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(body["choices"][1]["message"]["content"], "say this back");
    child.kill().expect("kill");
    let _ = child.wait();
}
