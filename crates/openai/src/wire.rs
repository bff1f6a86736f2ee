//! The OpenAI chat-completions wire format: request bodies, whole answers and
//! streamed chunks.
//!
//! Server answers are untrusted: every field is read defensively and anything that
//! does not add up to complete samples (no choices, gaps in choice indices, a stream
//! that stops before `[DONE]` with unfinished samples) is a protocol error rather
//! than a short answer passed off as complete. Reasoning may come as a separate
//! `reasoning_content` (or `reasoning`) field or inline in `<think>` tags; both end
//! up in [`Completion::reasoning`].

use std::collections::BTreeMap;

use serde_json::{json, Value};

use llm::ThinkSplitter;
use llm::{
    split_think, ChatRequest, ChatResponse, Completion, FinishReason, LlmError, StreamEvent, Usage,
};

/// The JSON body for one HTTP request asking for `n` samples.
pub(crate) fn request_body(
    req: &ChatRequest,
    model: &str,
    n: u32,
    seed: Option<u64>,
    stream: bool,
) -> Value {
    let mut body = json!({
        "model": model,
        "messages": req.messages,
        "n": n,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "stream": stream,
    });
    if let Some(max) = req.max_tokens {
        body["max_tokens"] = json!(max);
    }
    if let Some(seed) = seed {
        body["seed"] = json!(seed);
    }
    if !req.stop.is_empty() {
        body["stop"] = json!(req.stop);
    }
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

fn finish_reason(v: Option<&Value>) -> Option<FinishReason> {
    match v.and_then(Value::as_str)? {
        "stop" | "eos" | "stop_sequence" => Some(FinishReason::Stop),
        "length" | "max_tokens" => Some(FinishReason::Length),
        _ => Some(FinishReason::Other),
    }
}

fn usage(v: Option<&Value>) -> Option<Usage> {
    let v = v.filter(|v| v.is_object())?;
    let field = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let cached = v
        .pointer("/prompt_tokens_details/cached_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Some(Usage {
        prompt_tokens: field("prompt_tokens"),
        completion_tokens: field("completion_tokens"),
        cached_prompt_tokens: cached,
    })
}

/// The reasoning field of a message or delta, under either name servers use.
fn reasoning_field(v: &Value) -> Option<&str> {
    v.get("reasoning_content")
        .and_then(Value::as_str)
        .or_else(|| v.get("reasoning").and_then(Value::as_str))
}

fn completion(content: String, reasoning: Option<String>, finish: FinishReason) -> Completion {
    let (text, reasoning) = match reasoning {
        Some(r) => (content, Some(r)),
        None => split_think(&content),
    };
    Completion {
        text,
        reasoning,
        finish_reason: finish,
        completion_tokens: None,
    }
}

/// A server error object inside a 200 body or a stream chunk.
fn embedded_error(v: &Value) -> Option<LlmError> {
    let err = v.get("error").filter(|e| !e.is_null())?;
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| err.to_string());
    let status = err
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .unwrap_or(500);
    Some(LlmError::Http {
        status,
        body: message,
    })
}

/// Order completions by choice index, requiring indices 0..k without gaps.
fn in_order<T>(by_index: BTreeMap<u64, T>) -> Result<Vec<T>, LlmError> {
    if by_index.is_empty() {
        return Err(LlmError::Protocol("the answer has no choices".into()));
    }
    let k = by_index.len() as u64;
    if by_index.keys().copied().ne(0..k) {
        return Err(LlmError::Protocol(format!(
            "choice indices are not 0..{k}: {:?}",
            by_index.keys().collect::<Vec<_>>()
        )));
    }
    Ok(by_index.into_values().collect())
}

/// Per-sample token counts are known only when the request had one sample.
fn fill_sample_tokens(completions: &mut [Completion], usage: Option<Usage>) {
    if let ([only], Some(u)) = (completions, usage) {
        only.completion_tokens = Some(u.completion_tokens);
    }
}

/// Parse a non-streaming answer.
pub(crate) fn parse_response(body: &[u8]) -> Result<ChatResponse, LlmError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        let head = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        LlmError::Protocol(format!("answer is not JSON ({e}): {head:?}"))
    })?;
    if let Some(err) = embedded_error(&v) {
        return Err(err);
    }
    let choices = v
        .get("choices")
        .and_then(Value::as_array)
        .ok_or_else(|| LlmError::Protocol("answer has no `choices` array".into()))?;
    let mut by_index = BTreeMap::new();
    for (pos, c) in choices.iter().enumerate() {
        let index = c.get("index").and_then(Value::as_u64).unwrap_or(pos as u64);
        let message = c
            .get("message")
            .ok_or_else(|| LlmError::Protocol(format!("choice {index} has no `message`")))?;
        let content = message
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let reasoning = reasoning_field(message).map(str::to_string);
        let finish = finish_reason(c.get("finish_reason")).unwrap_or(FinishReason::Other);
        if by_index
            .insert(index, completion(content, reasoning, finish))
            .is_some()
        {
            return Err(LlmError::Protocol(format!("choice {index} appears twice")));
        }
    }
    let usage = usage(v.get("usage"));
    let mut completions = in_order(by_index)?;
    fill_sample_tokens(&mut completions, usage);
    Ok(ChatResponse {
        completions,
        usage: usage.unwrap_or_default(),
    })
}

/// One sample being streamed.
#[derive(Default)]
struct StreamedChoice {
    content: String,
    reasoning: String,
    /// Whether the server used a separate reasoning field (then content is all
    /// answer and no `<think>` splitting is done).
    reasoning_field: bool,
    finish: Option<FinishReason>,
    splitter: ThinkSplitter,
}

/// Builds a [`ChatResponse`] from stream chunks while producing live deltas.
pub(crate) struct StreamAssembler {
    /// Added to choice indices in emitted deltas (for fanned-out samples).
    offset: u32,
    choices: BTreeMap<u64, StreamedChoice>,
    usage: Option<Usage>,
    done: bool,
}

impl StreamAssembler {
    pub(crate) fn new(offset: u32) -> Self {
        StreamAssembler {
            offset,
            choices: BTreeMap::new(),
            usage: None,
            done: false,
        }
    }

    /// Whether `[DONE]` has arrived.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    fn delta(&self, index: u64, text: String, reasoning: bool) -> StreamEvent {
        let index = u32::try_from(index)
            .unwrap_or(u32::MAX)
            .saturating_add(self.offset);
        StreamEvent::Delta {
            index,
            text,
            reasoning,
        }
    }

    /// Take one event's data; returns the deltas it carries.
    pub(crate) fn on_data(&mut self, data: &str) -> Result<Vec<StreamEvent>, LlmError> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(Vec::new());
        }
        let v: Value = serde_json::from_str(data).map_err(|e| {
            let head: String = data.chars().take(200).collect();
            LlmError::Protocol(format!("stream chunk is not JSON ({e}): {head:?}"))
        })?;
        if let Some(err) = embedded_error(&v) {
            return Err(err);
        }
        if let Some(u) = usage(v.get("usage")) {
            self.usage = Some(u);
        }
        let mut events = Vec::new();
        let Some(choices) = v.get("choices").and_then(Value::as_array) else {
            return Ok(events);
        };
        for (pos, c) in choices.iter().enumerate() {
            let index = c.get("index").and_then(Value::as_u64).unwrap_or(pos as u64);
            let choice = self.choices.entry(index).or_default();
            let delta = c.get("delta").unwrap_or(&Value::Null);
            let mut pieces = Vec::new();
            if let Some(r) = reasoning_field(delta).filter(|r| !r.is_empty()) {
                choice.reasoning_field = true;
                choice.reasoning.push_str(r);
                pieces.push((r.to_string(), true));
            }
            if let Some(t) = delta.get("content").and_then(Value::as_str) {
                choice.content.push_str(t);
                if choice.reasoning_field {
                    pieces.push((t.to_string(), false));
                } else {
                    pieces.extend(choice.splitter.push(t));
                }
            }
            if let Some(f) = finish_reason(c.get("finish_reason")) {
                choice.finish = Some(f);
                if !choice.reasoning_field {
                    pieces.extend(choice.splitter.finish());
                }
            }
            for (text, reasoning) in pieces.into_iter().filter(|p| !p.0.is_empty()) {
                events.push(self.delta(index, text, reasoning));
            }
        }
        Ok(events)
    }

    /// The assembled answer once the body has ended.
    pub(crate) fn finish(self) -> Result<ChatResponse, LlmError> {
        let done = self.done;
        let unfinished = self.choices.values().filter(|c| c.finish.is_none()).count();
        if !done && (unfinished > 0 || self.choices.is_empty()) {
            return Err(LlmError::Protocol(format!(
                "stream ended before [DONE] with {unfinished} unfinished sample(s)"
            )));
        }
        let by_index = self
            .choices
            .into_iter()
            .map(|(i, c)| {
                let reasoning = c.reasoning_field.then_some(c.reasoning);
                let finish = c.finish.unwrap_or(FinishReason::Other);
                (i, completion(c.content, reasoning, finish))
            })
            .collect();
        let mut completions = in_order(by_index)?;
        fill_sample_tokens(&mut completions, self.usage);
        Ok(ChatResponse {
            completions,
            usage: self.usage.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_answer_with_reasoning_field_and_inline_think() {
        let body = br#"{"choices":[
            {"index":1,"message":{"content":"<think>t</think>B"},"finish_reason":"length"},
            {"index":0,"message":{"content":"A","reasoning_content":"r"},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":3,"completion_tokens":4}}"#;
        let r = parse_response(body).expect("valid");
        assert_eq!(r.completions[0].text, "A");
        assert_eq!(r.completions[0].reasoning.as_deref(), Some("r"));
        assert_eq!(r.completions[1].text, "B");
        assert_eq!(r.completions[1].reasoning.as_deref(), Some("t"));
        assert_eq!(r.completions[1].finish_reason, FinishReason::Length);
        assert_eq!(r.usage.total(), 7);
        assert_eq!(r.usage.cached_prompt_tokens, 0);
        assert_eq!(r.completions[0].completion_tokens, None);
    }

    #[test]
    fn cached_prompt_tokens_are_read_from_the_usage_details() {
        let body = br#"{"choices":[{"index":0,"message":{"content":"A"},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":300,"completion_tokens":4,
                     "prompt_tokens_details":{"cached_tokens":256}}}"#;
        let r = parse_response(body).expect("valid");
        assert_eq!(r.usage.cached_prompt_tokens, 256);
        assert_eq!(r.usage.prompt_tokens, 300);
    }

    #[test]
    fn malformed_answers_are_protocol_errors() {
        for body in [
            &b"<html>"[..],
            br#"{"choices":[]}"#,
            br#"{"nothing":1}"#,
            br#"{"choices":[{"index":1,"message":{"content":"x"}}]}"#,
            br#"{"choices":[{"index":0}]}"#,
        ] {
            assert!(matches!(parse_response(body), Err(LlmError::Protocol(_))));
        }
        let err = parse_response(br#"{"error":{"message":"overloaded","code":503}}"#);
        assert!(matches!(err, Err(LlmError::Http { status: 503, .. })));
    }

    #[test]
    fn stream_without_done_or_finish_is_incomplete() {
        let mut a = StreamAssembler::new(0);
        a.on_data(r#"{"choices":[{"index":0,"delta":{"content":"par"}}]}"#)
            .expect("chunk");
        assert!(matches!(a.finish(), Err(LlmError::Protocol(_))));

        let mut a = StreamAssembler::new(2);
        let ev = a
            .on_data(r#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}"#)
            .expect("chunk");
        assert_eq!(
            ev,
            vec![StreamEvent::Delta {
                index: 2,
                text: "x".into(),
                reasoning: false
            }]
        );
        a.on_data(r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#)
            .expect("usage");
        a.on_data("[DONE]").expect("done");
        let r = a.finish().expect("complete");
        assert_eq!(r.completions[0].completion_tokens, Some(1));
    }
}
