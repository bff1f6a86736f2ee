//! Turning a [`Reply`] into HTTP: JSON bodies, Server-Sent Event streams and faults.
//!
//! Every body is produced as a stream of frames so that the same code path can pause
//! between chunks, stop early, or fail mid-way (a failing body makes hyper drop the
//! connection, which is what a client sees when a server dies mid-answer). The
//! in-flight guard travels inside the body, so a request counts as in flight until
//! its last byte is sent or the connection goes away.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use futures::stream;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::reply::{Action, CutStyle, Reply, Sample, UsageMode};
use crate::request::{count_words, ChatRequestSeen};

/// The body type of every response.
pub(crate) type Body = UnsyncBoxBody<Bytes, io::Error>;

/// How a planned body ends after its chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Complete,
    Abort,
}

/// Chunks to send, the pause between them and how the body ends.
struct Plan {
    chunks: Vec<Bytes>,
    chunk_delay: Duration,
    end: End,
}

/// Build a streamed body from a plan; `guard` is dropped with the body.
fn body_from<G: Send + 'static>(plan: Plan, guard: G) -> Body {
    let state = (
        VecDeque::from(plan.chunks),
        true,
        Some(plan.end),
        plan.chunk_delay,
        guard,
    );
    let frames = stream::unfold(state, |(mut chunks, first, end, delay, guard)| async move {
        if let Some(chunk) = chunks.pop_front() {
            if !first && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            return Some((Ok(Frame::data(chunk)), (chunks, false, end, delay, guard)));
        }
        match end {
            Some(End::Abort) => Some((
                // Pause first: hyper flushes what it has only when the body is not
                // ready, and without the pause the client would see the
                // connection close before the headers rather than mid-body.
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "scripted cut",
                    ))
                },
                (chunks, false, None, delay, guard),
            )),
            _ => None,
        }
    });
    StreamBody::new(frames).boxed_unsync()
}

/// A complete JSON (or other) body sent in one piece.
pub(crate) fn simple(status: u16, content_type: &str, body: String) -> Response<Body> {
    let plan = Plan {
        chunks: vec![Bytes::from(body)],
        chunk_delay: Duration::ZERO,
        end: End::Complete,
    };
    with_headers(status, content_type, None, body_from(plan, ()))
}

fn with_headers(
    status: u16,
    content_type: &str,
    retry_after: Option<&str>,
    body: Body,
) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    if let Ok(v) = content_type.parse() {
        headers.insert(hyper::header::CONTENT_TYPE, v);
    }
    if let Some(Ok(v)) = retry_after.map(str::parse) {
        headers.insert(hyper::header::RETRY_AFTER, v);
    }
    response
}

/// The answer to a chat request, following `reply`. `Hang` and the initial delay
/// are handled by the caller; this builds the response itself.
pub(crate) fn chat<G: Send + 'static>(
    req: &ChatRequestSeen,
    reply: Reply,
    model: &str,
    guard: G,
) -> Response<Body> {
    let content_type = if req.stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    match reply.action {
        Action::Error {
            status,
            body,
            retry_after,
        } => {
            let plan = Plan {
                chunks: vec![Bytes::from(body)],
                chunk_delay: Duration::ZERO,
                end: End::Complete,
            };
            with_headers(
                status,
                "application/json",
                retry_after.as_deref(),
                body_from(plan, guard),
            )
        }
        Action::Garbage(text) => {
            let body = if req.stream {
                format!("data: {text}\n\n")
            } else {
                text
            };
            let plan = Plan {
                chunks: vec![Bytes::from(body)],
                chunk_delay: Duration::ZERO,
                end: End::Complete,
            };
            with_headers(200, content_type, None, body_from(plan, guard))
        }
        // The caller never passes a hanging reply; answer it as an empty error
        // rather than panicking if that ever changes.
        Action::Hang => with_headers(
            500,
            "application/json",
            None,
            body_from(
                Plan {
                    chunks: Vec::new(),
                    chunk_delay: Duration::ZERO,
                    end: End::Complete,
                },
                guard,
            ),
        ),
        Action::Answer {
            samples,
            exact,
            usage,
            cut,
        } => {
            let samples = if exact {
                samples
            } else {
                expand(samples, req.n)
            };
            let usage = usage_json(req, &samples, usage);
            let id = format!("chatcmpl-scripted-{}", req.seq);
            let mut chunks = if req.stream {
                let usage = if req.include_usage { usage } else { None };
                sse_chunks(&id, model, &samples, usage, reply.chunk_chars)
            } else {
                vec![Bytes::from(
                    full_json(&id, model, &samples, usage).to_string(),
                )]
            };
            let mut end = End::Complete;
            if let Some((after, style)) = cut {
                if req.stream {
                    chunks.truncate(after);
                } else if let Some(whole) = chunks.pop() {
                    chunks.push(whole.slice(..whole.len() / 2));
                }
                if style == CutStyle::Abort {
                    end = End::Abort;
                }
            }
            let plan = Plan {
                chunks,
                chunk_delay: reply.chunk_delay,
                end,
            };
            with_headers(200, content_type, None, body_from(plan, guard))
        }
    }
}

/// One sample stands for all `n` choices; any other count is sent as given.
fn expand(samples: Vec<Sample>, n: u32) -> Vec<Sample> {
    match samples.as_slice() {
        [one] if n > 1 => vec![one.clone(); n as usize],
        _ => samples,
    }
}

fn usage_json(req: &ChatRequestSeen, samples: &[Sample], mode: UsageMode) -> Option<Value> {
    let (prompt, completion) = match mode {
        UsageMode::Omitted => return None,
        UsageMode::Fixed { prompt, completion } => (prompt, completion),
        UsageMode::Counted => (
            req.prompt_words(),
            samples
                .iter()
                .map(|s| count_words(&s.text) + s.reasoning.as_deref().map_or(0, count_words))
                .sum(),
        ),
    };
    Some(json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }))
}

fn full_json(id: &str, model: &str, samples: &[Sample], usage: Option<Value>) -> Value {
    let choices: Vec<Value> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut message = json!({"role": "assistant", "content": s.text});
            if let Some(r) = &s.reasoning {
                message["reasoning_content"] = json!(r);
            }
            json!({"index": i, "message": message, "finish_reason": s.finish_reason})
        })
        .collect();
    let mut body = json!({
        "id": id, "object": "chat.completion", "created": 0, "model": model,
        "choices": choices,
    });
    if let Some(u) = usage {
        body["usage"] = u;
    }
    body
}

/// The SSE events of a streamed answer: a role delta per choice, then reasoning and
/// text deltas interleaved across choices (as servers batching `n` samples do), a
/// finish chunk per choice, the usage chunk if any, and `[DONE]`.
fn sse_chunks(
    id: &str,
    model: &str,
    samples: &[Sample],
    usage: Option<Value>,
    chunk_chars: usize,
) -> Vec<Bytes> {
    let event = |choices: Value, usage: Option<&Value>| {
        let mut chunk = json!({
            "id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": choices,
        });
        if let Some(u) = usage {
            chunk["usage"] = u.clone();
        }
        Bytes::from(format!("data: {chunk}\n\n"))
    };
    let mut out = Vec::new();
    for i in 0..samples.len() {
        let delta = json!({"role": "assistant", "content": ""});
        out.push(event(
            json!([{"index": i, "delta": delta, "finish_reason": null}]),
            None,
        ));
    }
    let mut per_choice: Vec<VecDeque<Value>> = samples
        .iter()
        .map(|s| {
            let reasoning = s.reasoning.as_deref().unwrap_or("");
            let mut deltas: VecDeque<Value> = pieces(reasoning, chunk_chars)
                .map(|p| json!({"reasoning_content": p}))
                .collect();
            deltas.extend(pieces(&s.text, chunk_chars).map(|p| json!({"content": p})));
            deltas
        })
        .collect();
    while per_choice.iter().any(|d| !d.is_empty()) {
        for (i, deltas) in per_choice.iter_mut().enumerate() {
            if let Some(delta) = deltas.pop_front() {
                out.push(event(
                    json!([{"index": i, "delta": delta, "finish_reason": null}]),
                    None,
                ));
            }
        }
    }
    for (i, s) in samples.iter().enumerate() {
        out.push(event(
            json!([{"index": i, "delta": {}, "finish_reason": s.finish_reason}]),
            None,
        ));
    }
    if let Some(u) = usage {
        out.push(event(json!([]), Some(&u)));
    }
    out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    out
}

/// Split `text` into pieces of at most `size` characters, on character boundaries.
fn pieces(text: &str, size: usize) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<char> = text.chars().collect();
    let size = size.max(1);
    (0..chars.len()).step_by(size).map(move |start| {
        chars[start..(start + size).min(chars.len())]
            .iter()
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_respect_char_boundaries() {
        let p: Vec<String> = pieces("héllo wörld", 4).collect();
        assert_eq!(p.concat(), "héllo wörld");
        assert_eq!(p[0], "héll");
        assert_eq!(pieces("", 4).count(), 0);
    }

    #[test]
    fn stream_interleaves_choices_and_ends_with_done() {
        let samples = vec![Sample::new("abcdef"), Sample::new("xy").reasoning("r")];
        let chunks = sse_chunks("id", "m", &samples, Some(json!({"x": 1})), 2);
        let texts: Vec<String> = chunks
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        // 2 role chunks, then choice0 "ab", choice1 reasoning "r", ...
        assert!(texts[2].contains("\"ab\"") && texts[2].contains("\"index\":0"));
        assert!(texts[3].contains("reasoning_content") && texts[3].contains("\"index\":1"));
        assert_eq!(texts.last().map(String::as_str), Some("data: [DONE]\n\n"));
        assert!(texts[texts.len() - 2].contains("\"usage\""));
    }
}
