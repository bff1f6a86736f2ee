//! The OpenAI-compatible API over the local engine: `POST /v1/chat/completions`
//! (streamed and not), `POST /v1/completions`, `GET /v1/models`.
//!
//! Requests are read as JSON values and checked field by field, so a wrong type or an
//! out-of-range value is a 400 naming the parameter (never a crash). The HTTP side
//! does the JSON, the chat template and tokenization; the engine thread only sees token
//! ids, and concurrent requests decode together in its one batch.

use crate::error::ApiError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine::generate::GenerateRequest;
use engine::tokenizer::Tokenizer;
use engine::{LocalLlm, SamplingParams};
use futures::StreamExt;
use llm::{ChatRequest, Message, Role, StreamEvent};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

/// Settings shared by chat and text completions.
struct Sampling {
    n: u32,
    temperature: f32,
    top_p: f32,
    max_tokens: Option<u32>,
    stop: Vec<String>,
    seed: Option<u64>,
    stream: bool,
    include_usage: bool,
    logprobs: bool,
    /// Alternatives reported per token (with `logprobs`).
    top_logprobs: usize,
}

/// The request body as a JSON object, or a 400 saying what is wrong with it.
pub(crate) fn body_json(body: &Bytes) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request(
            "the request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::bad_request(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

fn number(m: &serde_json::Map<String, Value>, key: &'static str) -> Result<Option<f64>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(ApiError::invalid(key, format!("`{key}` must be a number"))),
    }
}

fn integer(
    m: &serde_json::Map<String, Value>,
    key: &'static str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if range.contains(&v) => Ok(Some(v)),
            _ => Err(ApiError::invalid(
                key,
                format!(
                    "`{key}` must be an integer from {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
        },
        Some(_) => Err(ApiError::invalid(
            key,
            format!("`{key}` must be an integer"),
        )),
    }
}

fn boolean(m: &serde_json::Map<String, Value>, key: &'static str) -> Result<bool, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::invalid(
            key,
            format!("`{key}` must be true or false"),
        )),
    }
}

fn sampling(m: &serde_json::Map<String, Value>, state: &AppState) -> Result<Sampling, ApiError> {
    let limits = &state.limits;
    let n = integer(m, "n", 1..=limits.max_n as u64)?.unwrap_or(1) as u32;
    let temperature = number(m, "temperature")?.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::invalid(
            "temperature",
            "`temperature` must be from 0 to 2",
        ));
    }
    let top_p = number(m, "top_p")?.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(ApiError::invalid(
            "top_p",
            "`top_p` must be above 0 and at most 1",
        ));
    }
    let max_tokens = match integer(m, "max_completion_tokens", 1..=limits.max_tokens as u64)? {
        Some(v) => Some(v),
        None => integer(m, "max_tokens", 1..=limits.max_tokens as u64)?,
    }
    .map(|v| v as u32);
    let stop = match m.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if a.len() <= 4 && a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(_) => {
            return Err(ApiError::invalid(
                "stop",
                "`stop` must be a string or a list of up to 4 strings",
            ))
        }
    };
    let seed = match m.get("seed") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .or_else(|| n.as_i64().map(|v| v as u64))
                .ok_or_else(|| ApiError::invalid("seed", "`seed` must be an integer"))?,
        ),
        Some(_) => return Err(ApiError::invalid("seed", "`seed` must be an integer")),
    };
    let stream = boolean(m, "stream")?;
    let include_usage = match m.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(o)) => match o.get("include_usage") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(ApiError::invalid(
                    "stream_options",
                    "`stream_options.include_usage` must be true or false",
                ))
            }
        },
        Some(_) => {
            return Err(ApiError::invalid(
                "stream_options",
                "`stream_options` must be an object",
            ))
        }
    };
    Ok(Sampling {
        n,
        temperature: temperature as f32,
        top_p: top_p as f32,
        max_tokens,
        stop,
        seed,
        stream,
        include_usage,
        logprobs: false,
        top_logprobs: 0,
    })
}

fn messages(m: &serde_json::Map<String, Value>) -> Result<Vec<Message>, ApiError> {
    let Some(Value::Array(list)) = m.get("messages") else {
        return Err(ApiError::invalid(
            "messages",
            "`messages` must be a list of messages",
        ));
    };
    if list.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "`messages` must not be empty",
        ));
    }
    list.iter()
        .map(|v| {
            let role = match v.get("role").and_then(Value::as_str) {
                Some("system") | Some("developer") => Role::System,
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                _ => {
                    return Err(ApiError::invalid(
                        "messages",
                        "each message needs a `role` of system, user or assistant",
                    ))
                }
            };
            let content = match v.get("content") {
                Some(Value::String(s)) => s.clone(),
                // The list form: text parts joined.
                Some(Value::Array(parts)) => parts
                    .iter()
                    .map(
                        |p| match (p.get("type").and_then(Value::as_str), p.get("text")) {
                            (Some("text"), Some(Value::String(t))) => Ok(t.as_str()),
                            _ => Err(ApiError::invalid(
                                "messages",
                                "only text content parts are supported",
                            )),
                        },
                    )
                    .collect::<Result<Vec<_>, _>>()?
                    .join(""),
                None | Some(Value::Null) if role == Role::Assistant => String::new(),
                _ => {
                    return Err(ApiError::invalid(
                        "messages",
                        "each message needs a string `content`",
                    ))
                }
            };
            Ok(Message { role, content })
        })
        .collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn request_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{prefix}-{:x}-{}",
        now(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn local(state: &AppState) -> Result<&Arc<LocalLlm>, ApiError> {
    state.local.as_ref().ok_or_else(|| {
        ApiError::status(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "this server runs no local model (start it with --model PATH.gguf)",
        )
    })
}

/// The prompt must leave room in a sequence slot for at least one generated token.
fn check_prompt(state: &AppState, prompt_tokens: usize) -> Result<(), ApiError> {
    let limit = state.limits.max_prompt_tokens;
    if prompt_tokens >= limit {
        return Err(ApiError::invalid(
            "messages",
            format!(
                "the prompt has {prompt_tokens} tokens; this server takes at most {}",
                limit - 1
            ),
        ));
    }
    Ok(())
}

fn usage_json(prompt: u64, completion: u64, cached: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    })
}

fn finish_str(f: llm::FinishReason) -> &'static str {
    match f {
        llm::FinishReason::Stop => "stop",
        llm::FinishReason::Length => "length",
        llm::FinishReason::Other => "stop",
    }
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    match chat(state, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn chat(state: Arc<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let m = body_json(&body)?;
    let mut s = sampling(&m, &state)?;
    s.logprobs = boolean(&m, "logprobs")?;
    s.top_logprobs = integer(&m, "top_logprobs", 0..=20)?.unwrap_or(0) as usize;
    if s.top_logprobs > 0 && !s.logprobs {
        return Err(ApiError::invalid(
            "top_logprobs",
            "`top_logprobs` needs `logprobs: true`",
        ));
    }
    let msgs = messages(&m)?;
    let llm = local(&state)?.clone();
    let prompt = llm.tokenize_chat(&msgs)?;
    check_prompt(&state, prompt.len())?;
    let model = state.model_name.clone();
    if s.logprobs {
        if s.stream {
            let opens_think = llm
                .render(&msgs)
                .map(|p| p.trim_end().ends_with("<think>"))
                .unwrap_or(false);
            return stream_direct(&state, &llm, prompt, &s, Some(opens_think));
        }
        return generate_direct(&state, &llm, prompt, &s, true).await;
    }
    let mut request = ChatRequest::new(msgs);
    request.n = s.n;
    request.temperature = s.temperature;
    request.top_p = s.top_p;
    request.max_tokens = s.max_tokens;
    request.stop = s.stop.clone();
    request.seed = s.seed;
    let started = Instant::now();
    let _running = Running::new(&state, s.n);
    if !s.stream {
        let r = llm::Llm::chat(llm.as_ref(), request).await?;
        state.metrics.prompt_tokens.inc_by(r.usage.prompt_tokens);
        state
            .metrics
            .completion_tokens
            .inc_by(r.usage.completion_tokens);
        observe_per_token(&state, started, r.usage.completion_tokens);
        let choices: Vec<Value> = r
            .completions
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut message = json!({"role": "assistant", "content": c.text});
                if let Some(reasoning) = &c.reasoning {
                    message["reasoning_content"] = json!(reasoning);
                }
                json!({"index": i, "message": message, "finish_reason": finish_str(c.finish_reason), "logprobs": null})
            })
            .collect();
        return Ok(Json(json!({
            "id": request_id("chatcmpl"),
            "object": "chat.completion",
            "created": now(),
            "model": model,
            "choices": choices,
            "usage": usage_json(r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.cached_prompt_tokens),
        }))
        .into_response());
    }
    let stream = llm::Llm::chat_stream(llm.as_ref(), request).await?;
    let id = request_id("chatcmpl");
    let created = now();
    let n = s.n;
    let include_usage = s.include_usage;
    let st = state.clone();
    let running = _running;
    let chunk = move |choices: Value, usage: Option<Value>| {
        let mut c = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices});
        if include_usage {
            c["usage"] = usage.unwrap_or(Value::Null);
        }
        SseEvent::default().data(c.to_string())
    };
    let first: Vec<SseEvent> = (0..n)
        .map(|i| chunk(json!([{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]), None))
        .collect();
    let mut first_token_seen = false;
    let events = stream.flat_map(move |event| {
        let out: Vec<SseEvent> = match event {
            Ok(StreamEvent::Delta { index, text, reasoning }) => {
                if !first_token_seen {
                    first_token_seen = true;
                    st.metrics.time_to_first_token.observe(started.elapsed().as_secs_f64());
                }
                let key = if reasoning { "reasoning_content" } else { "content" };
                vec![chunk(json!([{"index": index, "delta": {key: text}, "finish_reason": null}]), None)]
            }
            Ok(StreamEvent::Done(r)) => {
                st.metrics.prompt_tokens.inc_by(r.usage.prompt_tokens);
                st.metrics.completion_tokens.inc_by(r.usage.completion_tokens);
                observe_per_token(&st, started, r.usage.completion_tokens);
                let _keep = &running;
                let mut v: Vec<SseEvent> = r
                    .completions
                    .iter()
                    .enumerate()
                    .map(|(i, c)| chunk(json!([{"index": i, "delta": {}, "finish_reason": finish_str(c.finish_reason)}]), None))
                    .collect();
                if include_usage {
                    let u = &r.usage;
                    v.push(chunk(json!([]), Some(usage_json(u.prompt_tokens, u.completion_tokens, u.cached_prompt_tokens))));
                }
                v.push(SseEvent::default().data("[DONE]"));
                v
            }
            Err(e) => vec![SseEvent::default().data(
                json!({"error": {"message": e.to_string(), "type": "server_error", "param": null, "code": "500"}}).to_string(),
            )],
        };
        futures::stream::iter(out.into_iter().map(Ok::<_, Infallible>))
    });
    let all = futures::stream::iter(first.into_iter().map(Ok::<_, Infallible>)).chain(events);
    Ok(Sse::new(all).into_response())
}

fn observe_per_token(state: &AppState, started: Instant, tokens: u64) {
    if tokens > 1 {
        state
            .metrics
            .time_per_output_token
            .observe(started.elapsed().as_secs_f64() / tokens as f64);
    }
}

/// Counts sequences in the engine for `/metrics` while alive.
struct Running {
    state: Arc<AppState>,
    n: i64,
}

impl Running {
    fn new(state: &Arc<AppState>, n: u32) -> Running {
        state.metrics.queued.inc();
        state.metrics.running_sequences.inc_by(i64::from(n));
        Running {
            state: state.clone(),
            n: i64::from(n),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.state.metrics.queued.dec();
        self.state.metrics.running_sequences.dec_by(self.n);
    }
}

/// Generate on the engine directly (text completions, and chat with logprobs):
/// token ids in, samples with per-token log-probabilities out.
async fn generate_direct(
    state: &Arc<AppState>,
    llm: &Arc<LocalLlm>,
    prompt: Vec<u32>,
    s: &Sampling,
    chat: bool,
) -> Result<Response, ApiError> {
    let model = llm.model();
    let prompt_tokens = prompt.len() as u64;
    let request = direct_request(state, llm, prompt, s, false)?;
    let started = Instant::now();
    let _running = Running::new(state, s.n);
    let handle = model
        .engine
        .submit(request)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let out = handle.wait_async().await.map_err(|e| {
        ApiError::status(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    })?;
    let completion_tokens = out.completion_tokens() as u64;
    let cached_tokens = out.timings.cached_prompt_tokens as u64;
    state.metrics.prompt_tokens.inc_by(prompt_tokens);
    state.metrics.completion_tokens.inc_by(completion_tokens);
    observe_per_token(state, started, completion_tokens);
    let tok = &model.tokenizer;
    let choices: Vec<Value> = out
        .samples
        .iter()
        .enumerate()
        .map(|(i, sample)| {
            let finish = finish_str(sample.finish_reason.into());
            if chat {
                let (text, reasoning) = llm::split_think(&sample.text);
                let mut message = json!({"role": "assistant", "content": text});
                if let Some(r) = reasoning {
                    message["reasoning_content"] = json!(r);
                }
                let content: Vec<Value> = sample
                    .token_ids
                    .iter()
                    .zip(&sample.logprobs)
                    .enumerate()
                    .map(|(k, (&t, &lp))| {
                        let top = sample.top_logprobs.get(k).map_or(&[][..], Vec::as_slice);
                        chat_logprob(tok, t, lp, top)
                    })
                    .collect();
                let logprobs = if s.logprobs { json!({"content": content}) } else { Value::Null };
                json!({"index": i, "message": message, "finish_reason": finish, "logprobs": logprobs})
            } else {
                let logprobs = if s.logprobs {
                    legacy_logprobs(tok, &sample.token_ids, &sample.logprobs, &sample.top_logprobs)
                } else {
                    Value::Null
                };
                json!({"index": i, "text": sample.text, "finish_reason": finish, "logprobs": logprobs})
            }
        })
        .collect();
    Ok(Json(json!({
        "id": request_id(if chat { "chatcmpl" } else { "cmpl" }),
        "object": if chat { "chat.completion" } else { "text_completion" },
        "created": now(),
        "model": state.model_name,
        "choices": choices,
        "usage": usage_json(prompt_tokens, completion_tokens, cached_tokens),
    }))
    .into_response())
}

/// The engine request of a direct generation (no `n` splitting: it must fit the slots).
fn direct_request(
    state: &AppState,
    llm: &LocalLlm,
    prompt: Vec<u32>,
    s: &Sampling,
    stream: bool,
) -> Result<GenerateRequest, ApiError> {
    let slots = llm.model().engine.info().slots;
    if s.n as usize > slots {
        return Err(ApiError::invalid(
            "n",
            format!("with logprobs or text completions, n is at most {slots}"),
        ));
    }
    Ok(GenerateRequest {
        prompt,
        n: s.n as usize,
        sampling: SamplingParams {
            temperature: s.temperature,
            top_k: 0,
            top_p: s.top_p,
            min_p: 0.0,
        },
        seed: s.seed,
        first_index: 0,
        max_tokens: s
            .max_tokens
            .map_or(state.limits.default_max_tokens, |m| m as usize),
        stop: s.stop.clone(),
        stream,
        top_logprobs: s.top_logprobs,
    })
}

/// One token of a chat answer's `logprobs.content`.
fn chat_logprob(tok: &Tokenizer, token: u32, logprob: f32, top: &[(u32, f32)]) -> Value {
    let text = tok.decode(&[token]);
    let top: Vec<Value> = top
        .iter()
        .map(|&(id, alt)| {
            let text = tok.decode(&[id]);
            json!({"token": text, "logprob": alt, "bytes": text.as_bytes()})
        })
        .collect();
    json!({"token": text, "logprob": logprob, "bytes": text.as_bytes(), "top_logprobs": top})
}

/// Text completions' legacy layout: token strings, their log-probabilities and one
/// `{token: logprob}` object of alternatives per position.
fn legacy_logprobs(
    tok: &Tokenizer,
    tokens: &[u32],
    logprobs: &[f32],
    top: &[Vec<(u32, f32)>],
) -> Value {
    let texts: Vec<String> = tokens.iter().map(|&t| tok.decode(&[t])).collect();
    let top: Vec<Value> = top
        .iter()
        .map(|alts| {
            let map: serde_json::Map<String, Value> = alts
                .iter()
                .map(|&(id, alt)| (tok.decode(&[id]), json!(alt)))
                .collect();
            Value::Object(map)
        })
        .collect();
    json!({"tokens": texts, "token_logprobs": logprobs, "top_logprobs": top, "text_offset": null})
}

/// Stream a direct generation: one chunk per generated token, with its logprobs when
/// asked. `think` is `Some(prompt opens <think>)` for chat, which splits reasoning
/// from content as the chat stream does; `None` for text completions.
fn stream_direct(
    state: &Arc<AppState>,
    llm: &Arc<LocalLlm>,
    prompt: Vec<u32>,
    s: &Sampling,
    think: Option<bool>,
) -> Result<Response, ApiError> {
    let prompt_tokens = prompt.len() as u64;
    let request = direct_request(state, llm, prompt, s, true)?;
    let n = s.n as usize;
    let started = Instant::now();
    let running = Running::new(state, s.n);
    let mut handle = llm
        .model()
        .engine
        .submit(request)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let chat = think.is_some();
    let (object, prefix) = if chat {
        ("chat.completion.chunk", "chatcmpl")
    } else {
        ("text_completion", "cmpl")
    };
    let id = request_id(prefix);
    let created = now();
    let model = state.model_name.clone();
    let include_usage = s.include_usage;
    let logprobs = s.logprobs;
    let chunk = move |choices: Value, usage: Option<Value>| {
        let mut c = json!({"id": id, "object": object, "created": created, "model": model, "choices": choices});
        if include_usage {
            c["usage"] = usage.unwrap_or(Value::Null);
        }
        SseEvent::default().data(c.to_string())
    };
    let mut splits = vec![
        if think == Some(true) {
            llm::ThinkSplitter::in_reasoning()
        } else {
            llm::ThinkSplitter::default()
        };
        n
    ];
    let st = state.clone();
    let llm = llm.clone();
    let (out_tx, out_rx) = tokio::sync::mpsc::unbounded_channel::<SseEvent>();
    tokio::spawn(async move {
        let _running = running;
        // A send fails once the client has gone; the handle's drop then cancels.
        let tx = |e: SseEvent| {
            let _ = out_tx.send(e);
        };
        let tok = &llm.model().tokenizer;
        let mut first_token_seen = false;
        if chat {
            for i in 0..n {
                tx(chunk(
                    json!([{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
                    None,
                ));
            }
        }
        while let Some(event) = handle.next().await {
            if out_tx.is_closed() {
                return;
            }
            match event {
                engine::generate::Event::Delta {
                    index,
                    text,
                    token,
                    logprob,
                    top_logprobs,
                } => {
                    if !first_token_seen {
                        first_token_seen = true;
                        st.metrics
                            .time_to_first_token
                            .observe(started.elapsed().as_secs_f64());
                    }
                    if chat {
                        let lp = logprobs.then(|| json!({"content": [chat_logprob(tok, token, logprob, &top_logprobs)]}));
                        let parts = splits
                            .get_mut(index)
                            .map(|sp| sp.push(&text))
                            .unwrap_or_default();
                        if parts.is_empty() {
                            tx(chunk(
                                json!([{"index": index, "delta": {"content": ""}, "logprobs": lp, "finish_reason": null}]),
                                None,
                            ));
                        }
                        for (k, (piece, reasoning)) in parts.into_iter().enumerate() {
                            let key = if reasoning {
                                "reasoning_content"
                            } else {
                                "content"
                            };
                            let lp = if k == 0 { lp.clone() } else { None };
                            tx(chunk(
                                json!([{"index": index, "delta": {key: piece}, "logprobs": lp, "finish_reason": null}]),
                                None,
                            ));
                        }
                    } else {
                        let lp = logprobs.then(|| {
                            legacy_logprobs(
                                tok,
                                &[token],
                                &[logprob],
                                std::slice::from_ref(&top_logprobs),
                            )
                        });
                        tx(chunk(
                            json!([{"index": index, "text": text, "logprobs": lp, "finish_reason": null}]),
                            None,
                        ));
                    }
                }
                engine::generate::Event::Done(Ok(out)) => {
                    let completion_tokens = out.completion_tokens() as u64;
                    st.metrics.prompt_tokens.inc_by(prompt_tokens);
                    st.metrics.completion_tokens.inc_by(completion_tokens);
                    observe_per_token(&st, started, completion_tokens);
                    for (index, sample) in out.samples.iter().enumerate() {
                        let finish = finish_str(sample.finish_reason.into());
                        if chat {
                            if let Some(split) = splits.get_mut(index) {
                                for (piece, reasoning) in split.finish() {
                                    let key = if reasoning {
                                        "reasoning_content"
                                    } else {
                                        "content"
                                    };
                                    tx(chunk(
                                        json!([{"index": index, "delta": {key: piece}, "finish_reason": null}]),
                                        None,
                                    ));
                                }
                            }
                            tx(chunk(
                                json!([{"index": index, "delta": {}, "finish_reason": finish}]),
                                None,
                            ));
                        } else {
                            tx(chunk(
                                json!([{"index": index, "text": "", "finish_reason": finish}]),
                                None,
                            ));
                        }
                    }
                    if include_usage {
                        let cached = out.timings.cached_prompt_tokens as u64;
                        tx(chunk(
                            json!([]),
                            Some(usage_json(prompt_tokens, completion_tokens, cached)),
                        ));
                    }
                    tx(SseEvent::default().data("[DONE]"));
                    return;
                }
                engine::generate::Event::Done(Err(e)) => {
                    tx(SseEvent::default().data(
                        json!({"error": {"message": e.to_string(), "type": "server_error", "param": null, "code": "500"}}).to_string(),
                    ));
                    return;
                }
            }
        }
    });
    let events = futures::stream::unfold(out_rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Ok(Sse::new(events).into_response())
}

/// `POST /v1/completions`: a raw prompt, no chat template.
pub async fn completions(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    match text_completion(state, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn text_completion(state: Arc<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let m = body_json(&body)?;
    let mut s = sampling(&m, &state)?;
    let alternatives = integer(&m, "logprobs", 0..=5)?;
    s.logprobs = alternatives.is_some();
    s.top_logprobs = alternatives.unwrap_or(0) as usize;
    let prompt = match m.get("prompt") {
        Some(Value::String(p)) => p.clone(),
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
            a[0].as_str().unwrap_or_default().to_string()
        }
        _ => return Err(ApiError::invalid("prompt", "`prompt` must be a string")),
    };
    let llm = local(&state)?.clone();
    let tok = &llm.model().tokenizer;
    let mut ids = tok.encode(&prompt, false, false);
    if tok.adds_bos() {
        if let Some(bos) = tok.bos() {
            ids.insert(0, bos);
        }
    }
    if ids.is_empty() {
        return Err(ApiError::invalid("prompt", "`prompt` is empty"));
    }
    check_prompt(&state, ids.len())?;
    if s.stream {
        return stream_direct(&state, &llm, ids, &s, None);
    }
    generate_direct(&state, &llm, ids, &s, false).await
}

/// `GET /v1/models`.
pub async fn models(State(state): State<Arc<AppState>>) -> Response {
    let mut data = Vec::new();
    if state.local.is_some() {
        data.push(json!({"id": state.model_name, "object": "model", "created": 0, "owned_by": "verimath"}));
    }
    Json(json!({"object": "list", "data": data})).into_response()
}
