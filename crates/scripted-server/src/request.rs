//! The chat request as the server received it, parsed leniently.
//!
//! Responders decide what to answer by looking at the prompt, so the request is
//! reduced to plain fields (all message contents as strings) while the raw JSON stays
//! available for tests that check exactly what a client sent.

use serde_json::Value;

/// One message of a received chat request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenMessage {
    pub role: String,
    /// The content; array-of-parts contents are joined from their `text` parts.
    pub content: String,
}

/// A `POST /v1/chat/completions` request as the server saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequestSeen {
    /// Arrival order among chat requests, starting at 0 (so "fail the first K
    /// requests" is `seq < K`).
    pub seq: u64,
    pub model: Option<String>,
    pub messages: Vec<SeenMessage>,
    /// Samples asked for (`n`, 1 when absent).
    pub n: u32,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    /// `max_tokens`, or `max_completion_tokens` when only that is given.
    pub max_tokens: Option<u64>,
    pub seed: Option<u64>,
    pub stop: Vec<String>,
    pub stream: bool,
    /// Whether a streaming client asked for a final usage chunk.
    pub include_usage: bool,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The whole request body.
    pub raw: Value,
}

impl ChatRequestSeen {
    /// Parse a request body. Returns a message suitable for a 400 answer when the
    /// body is not a JSON object with a `messages` array.
    pub(crate) fn parse(
        seq: u64,
        body: &[u8],
        authorization: Option<String>,
    ) -> Result<Self, String> {
        let raw: Value =
            serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
        let obj = raw.as_object().ok_or("body is not a JSON object")?;
        let messages = obj
            .get("messages")
            .and_then(Value::as_array)
            .ok_or("`messages` must be an array")?
            .iter()
            .map(parse_message)
            .collect::<Result<Vec<_>, _>>()?;
        let n = match obj.get("n") {
            None | Some(Value::Null) => 1,
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n >= 1)
                .ok_or("`n` must be a positive integer")?,
        };
        let stop = match obj.get("stop") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        let include_usage = obj
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(ChatRequestSeen {
            seq,
            model: obj.get("model").and_then(Value::as_str).map(str::to_string),
            messages,
            n,
            temperature: obj.get("temperature").and_then(Value::as_f64),
            top_p: obj.get("top_p").and_then(Value::as_f64),
            max_tokens: obj
                .get("max_tokens")
                .or_else(|| obj.get("max_completion_tokens"))
                .and_then(Value::as_u64),
            seed: obj.get("seed").and_then(Value::as_u64),
            stop,
            stream: obj.get("stream").and_then(Value::as_bool).unwrap_or(false),
            include_usage,
            authorization,
            raw,
        })
    }

    /// The content of the last user message (empty when there is none).
    pub fn last_user(&self) -> &str {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| m.content.as_str())
            .unwrap_or("")
    }

    /// Whether any message contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.messages.iter().any(|m| m.content.contains(needle))
    }

    /// Rough prompt size in tokens (whitespace-separated words), used for usage.
    pub fn prompt_words(&self) -> u64 {
        self.messages.iter().map(|m| count_words(&m.content)).sum()
    }
}

/// The server's stand-in for a tokenizer: one token per whitespace-separated word.
pub(crate) fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn parse_message(v: &Value) -> Result<SeenMessage, String> {
    let role = v
        .get("role")
        .and_then(Value::as_str)
        .ok_or("each message needs a string `role`")?
        .to_string();
    let content = match v.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err("message `content` must be a string or an array".into()),
    };
    Ok(SeenMessage { role, content })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_defaults() {
        let body = br#"{"model":"m","messages":[{"role":"system","content":"s"},
            {"role":"user","content":[{"type":"text","text":"a "},{"type":"text","text":"b"}]}],
            "n":3,"temperature":0.5,"max_completion_tokens":9,"seed":7,"stop":"X",
            "stream":true,"stream_options":{"include_usage":true}}"#;
        let r = ChatRequestSeen::parse(4, body, None).expect("valid");
        assert_eq!(r.seq, 4);
        assert_eq!(r.n, 3);
        assert_eq!(r.last_user(), "a b");
        assert_eq!(r.max_tokens, Some(9));
        assert_eq!(r.stop, vec!["X".to_string()]);
        assert!(r.stream && r.include_usage);
        assert_eq!(r.prompt_words(), 3);
        let plain = ChatRequestSeen::parse(0, br#"{"messages":[]}"#, None).expect("valid");
        assert_eq!((plain.n, plain.stream), (1, false));
    }

    #[test]
    fn rejects_malformed_bodies() {
        assert!(ChatRequestSeen::parse(0, b"nope", None).is_err());
        assert!(ChatRequestSeen::parse(0, br#"{"messages":3}"#, None).is_err());
        assert!(ChatRequestSeen::parse(0, br#"{"messages":[],"n":0}"#, None).is_err());
    }
}
