//! The language-model interface of verimath.
//!
//! Everything that asks a model for text goes through the [`Llm`] trait: the proof
//! search, the final-answer mode, the verifier. A request is a chat (a list of
//! [`Message`]s) plus sampling settings and `n`, the number of independent samples
//! wanted; the answer holds `n` [`Completion`]s and the token [`Usage`].
//!
//! Backends live elsewhere, so this crate stays light (no HTTP client):
//! - the `openai` crate — any OpenAI-compatible server (vLLM, SGLang, llama.cpp's
//!   server, ...);
//! - the `engine` crate's `LocalLlm` — verimath's own GGUF inference engine.
//!
//! The one `<think>` splitter lives here: [`split_think`] for whole texts and
//! [`ThinkSplitter`] for streamed deltas, used by both backends.

mod think;

pub use think::ThinkSplitter;

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Message {
            role: Role::System,
            content: content.into(),
        }
    }
}

/// A chat request: messages, sampling settings and the number of samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// Model name sent to the server; `None` lets the backend use its default.
    pub model: Option<String>,
    pub messages: Vec<Message>,
    /// Number of independent samples of this prompt.
    pub n: u32,
    pub temperature: f32,
    pub top_p: f32,
    /// Upper bound on generated tokens per sample; `None` = backend default.
    pub max_tokens: Option<u32>,
    pub seed: Option<u64>,
    pub stop: Vec<String>,
}

impl ChatRequest {
    /// A request for `n` samples of one user message with default sampling.
    pub fn new(messages: Vec<Message>) -> Self {
        ChatRequest {
            model: None,
            messages,
            n: 1,
            temperature: 1.0,
            top_p: 1.0,
            max_tokens: None,
            seed: None,
            stop: Vec::new(),
        }
    }
}

/// Why a sample stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended the answer (end-of-sequence token or a stop string).
    Stop,
    /// The token limit was reached: the text is truncated.
    Length,
    /// Anything else the server reported (content filter, error, ...).
    Other,
}

/// One sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The answer text, with any `<think>…</think>` reasoning removed.
    pub text: String,
    /// The reasoning, from the API's `reasoning_content` or an inline `<think>` block.
    pub reasoning: Option<String>,
    pub finish_reason: FinishReason,
    /// Tokens generated for this sample, when the backend reports it.
    pub completion_tokens: Option<u64>,
}

/// Token counts of a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Leading prompt tokens the backend took from its prompt cache instead of
    /// computing them (OpenAI's `usage.prompt_tokens_details.cached_tokens`); part of
    /// `prompt_tokens`, 0 when the backend does not say.
    #[serde(default)]
    pub cached_prompt_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
    pub fn add(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.cached_prompt_tokens += other.cached_prompt_tokens;
    }
}

/// The answer to a [`ChatRequest`]: `n` completions in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub completions: Vec<Completion>,
    pub usage: Usage,
}

/// A piece of a streamed answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StreamEvent {
    /// New text for sample `index` (answer text, or reasoning when `reasoning` is true).
    Delta {
        index: u32,
        text: String,
        reasoning: bool,
    },
    /// The whole answer, assembled; always the last event of a successful stream.
    Done(ChatResponse),
}

/// What can go wrong when asking a model.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("request timed out after {0:?}")]
    Timeout(std::time::Duration),
    #[error("could not reach {url}: {message}")]
    Connection { url: String, message: String },
    #[error("server answered HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("server sent an answer that is not a valid completion: {0}")]
    Protocol(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("backend failed: {0}")]
    Backend(String),
}

impl LlmError {
    /// Whether trying the same request again may succeed (429, 5xx, connection, timeout).
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Timeout(_) | LlmError::Connection { .. } => true,
            LlmError::Http { status, .. } => *status == 429 || *status >= 500,
            LlmError::Protocol(_) => true,
            LlmError::InvalidRequest(_) | LlmError::Backend(_) => false,
        }
    }
}

/// A language model that answers chat requests.
#[async_trait]
pub trait Llm: Send + Sync {
    /// A short human-readable name (model and where it runs).
    fn name(&self) -> String;

    /// Ask for `request.n` samples and wait for all of them.
    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError>;

    /// Ask for samples and receive text as it is produced. The default runs
    /// [`Llm::chat`] and yields its result as one `Done` event.
    async fn chat_stream(
        &self,
        request: ChatRequest,
    ) -> Result<BoxStream<'static, Result<StreamEvent, LlmError>>, LlmError> {
        let response = self.chat(request).await?;
        Ok(Box::pin(futures::stream::once(async move {
            Ok(StreamEvent::Done(response))
        })))
    }
}

/// Split an inline `<think>…</think>` block off an answer.
///
/// Returns `(answer, reasoning)`. A text with `</think>` but no opening tag (templates
/// that put `<think>` in the prompt) counts everything before the closing tag as
/// reasoning. A text with an opening tag and no closing one is all reasoning: the
/// model never reached its answer.
pub fn split_think(text: &str) -> (String, Option<String>) {
    if let Some(end) = text.find("</think>") {
        let before = &text[..end];
        let reasoning = match before.find("<think>") {
            Some(start) => &before[start + "<think>".len()..],
            None => before,
        };
        let answer = &text[end + "</think>".len()..];
        (
            answer.trim_start().to_string(),
            Some(reasoning.trim().to_string()),
        )
    } else if let Some(start) = text.find("<think>") {
        (
            String::new(),
            Some(text[start + "<think>".len()..].trim().to_string()),
        )
    } else {
        (text.to_string(), None)
    }
}

/// `text` with every `<think>…</think>` block removed, wherever it stands: what a
/// reader of the answer (a refiner shown a critique) should see. A closing tag with
/// no opening one drops what precedes it (as [`split_think`] reads it), an opening
/// tag with no closing one drops the rest.
pub fn strip_think(text: &str) -> String {
    let mut rest = match (text.find("</think>"), text.find("<think>")) {
        (Some(end), open) if open.is_none_or(|o| o > end) => &text[end + "</think>".len()..],
        _ => text,
    };
    let mut out = String::new();
    while let Some(start) = rest.find("<think>") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</think>") {
            Some(len) => rest = &rest[start + len + "</think>".len()..],
            None => rest = "",
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_think_removes_every_reasoning_block() {
        assert_eq!(
            strip_think("<think>a</think>\nStep 2 fails."),
            "Step 2 fails."
        );
        assert_eq!(
            strip_think("Step 1 ok. <think>hm</think>Step 2 fails.<think>x</think>"),
            "Step 1 ok. Step 2 fails."
        );
        assert_eq!(
            strip_think("all reasoning</think>\n\nVerdict: 0"),
            "Verdict: 0"
        );
        assert_eq!(strip_think("Score 1. <think>never closed"), "Score 1.");
        assert_eq!(strip_think("no tags"), "no tags");
    }

    #[test]
    fn split_think_separates_reasoning() {
        let (a, r) = split_think("<think>hmm</think>\n\n## Solution\nx");
        assert_eq!(a, "## Solution\nx");
        assert_eq!(r.as_deref(), Some("hmm"));
        let (a, r) = split_think("pre-filled reasoning</think>answer");
        assert_eq!(
            (a.as_str(), r.as_deref()),
            ("answer", Some("pre-filled reasoning"))
        );
        let (a, r) = split_think("<think>never finished");
        assert_eq!((a.as_str(), r.as_deref()), ("", Some("never finished")));
        assert_eq!(split_think("plain").0, "plain");
    }
}
