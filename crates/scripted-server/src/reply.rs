//! What a responder tells the server to do with one request.
//!
//! A [`Reply`] is either an answer (one [`Sample`] per requested choice, with
//! optional reasoning, finish reason and usage) or a fault: an HTTP error, a garbage
//! body, a request that never gets an answer, or an answer cut off mid-way. Timing
//! knobs (delay before the first byte, pause between stream chunks) turn any reply
//! into a stall for timeout tests.

use std::time::Duration;

/// One choice of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub text: String,
    /// Sent as the `reasoning_content` field (or deltas when streaming).
    pub reasoning: Option<String>,
    /// The `finish_reason` string, `"stop"` unless changed.
    pub finish_reason: String,
}

impl Sample {
    pub fn new(text: impl Into<String>) -> Self {
        Sample {
            text: text.into(),
            reasoning: None,
            finish_reason: "stop".into(),
        }
    }

    pub fn reasoning(mut self, reasoning: impl Into<String>) -> Self {
        self.reasoning = Some(reasoning.into());
        self
    }

    pub fn finish(mut self, reason: impl Into<String>) -> Self {
        self.finish_reason = reason.into();
        self
    }
}

/// How the `usage` object of an answer is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageMode {
    /// Count words of the prompt and of every sample's text and reasoning.
    Counted,
    /// Report these numbers.
    Fixed { prompt: u64, completion: u64 },
    /// Send no usage at all.
    Omitted,
}

/// How an answer that is cut off ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutStyle {
    /// The connection is torn down: the client sees a broken transfer.
    Abort,
    /// The body ends normally, just early (a stream without `[DONE]` or finish
    /// reasons; a non-streaming body with half a JSON document).
    CleanEof,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Answer {
        samples: Vec<Sample>,
        /// Send `samples` as given even when `n` asks for more.
        exact: bool,
        usage: UsageMode,
        cut: Option<(usize, CutStyle)>,
    },
    Error {
        status: u16,
        body: String,
        retry_after: Option<String>,
    },
    Garbage(String),
    Hang,
}

/// The server's instructions for one request. Build with the constructors and
/// chain the modifiers: `Reply::text("x").finish_reason("length").delay(d)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub(crate) action: Action,
    pub(crate) delay: Duration,
    pub(crate) chunk_delay: Duration,
    pub(crate) chunk_chars: usize,
}

impl Reply {
    fn with_action(action: Action) -> Self {
        Reply {
            action,
            delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            chunk_chars: 8,
        }
    }

    /// The same text for every requested choice.
    pub fn text(text: impl Into<String>) -> Self {
        Reply::samples(vec![Sample::new(text)])
    }

    /// One text per choice. A single sample is repeated to fill `n` choices; a
    /// list of another length is sent as it is (so tests can simulate servers
    /// that return the wrong number of choices).
    pub fn texts<S: Into<String>>(texts: impl IntoIterator<Item = S>) -> Self {
        Reply::samples(texts.into_iter().map(Sample::new).collect())
    }

    /// Fully specified samples, with the same repetition rule as [`Reply::texts`].
    pub fn samples(samples: Vec<Sample>) -> Self {
        Reply::with_action(Action::Answer {
            samples,
            exact: false,
            usage: UsageMode::Counted,
            cut: None,
        })
    }

    /// Exactly these choices, whatever `n` was (a single sample is not repeated):
    /// a server that ignores `n`.
    pub fn exactly(samples: Vec<Sample>) -> Self {
        Reply::with_action(Action::Answer {
            samples,
            exact: true,
            usage: UsageMode::Counted,
            cut: None,
        })
    }

    /// An HTTP error with an OpenAI-style JSON error body.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        let body = serde_json::json!({
            "error": {"message": message.into(), "type": "scripted_error", "code": status}
        });
        Reply::with_action(Action::Error {
            status,
            body: body.to_string(),
            retry_after: None,
        })
    }

    /// A 200 answer whose body is `body` verbatim (for a stream: one `data:` line).
    pub fn garbage(body: impl Into<String>) -> Self {
        Reply::with_action(Action::Garbage(body.into()))
    }

    /// Never answer; the request stays open until the client gives up or the
    /// server shuts down.
    pub fn hang() -> Self {
        Reply::with_action(Action::Hang)
    }

    /// Add a `Retry-After` header (seconds, or any string) to an error reply.
    pub fn retry_after(mut self, value: impl Into<String>) -> Self {
        if let Action::Error { retry_after, .. } = &mut self.action {
            *retry_after = Some(value.into());
        }
        self
    }

    /// Give every sample this reasoning.
    pub fn with_reasoning(self, reasoning: impl Into<String>) -> Self {
        let reasoning = reasoning.into();
        self.map_samples(|s| s.reasoning = Some(reasoning.clone()))
    }

    /// Give every sample this finish reason (`"length"`, `"content_filter"`, ...).
    pub fn finish_reason(self, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        self.map_samples(|s| s.finish_reason = reason.clone())
    }

    /// Report these token counts instead of counted words.
    pub fn usage(self, prompt: u64, completion: u64) -> Self {
        self.set_usage(UsageMode::Fixed { prompt, completion })
    }

    /// Send no `usage` object.
    pub fn no_usage(self) -> Self {
        self.set_usage(UsageMode::Omitted)
    }

    /// Tear the connection down after `chunks` stream chunks (non-streaming: after
    /// half the body).
    pub fn cut_after(self, chunks: usize) -> Self {
        self.set_cut(chunks, CutStyle::Abort)
    }

    /// End the body cleanly but early after `chunks` stream chunks (non-streaming:
    /// after half the body).
    pub fn end_early_after(self, chunks: usize) -> Self {
        self.set_cut(chunks, CutStyle::CleanEof)
    }

    /// Wait this long before sending anything (a stall when longer than the
    /// client's timeout).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Wait this long between stream chunks (a mid-stream stall when long).
    pub fn chunk_delay(mut self, delay: Duration) -> Self {
        self.chunk_delay = delay;
        self
    }

    /// Characters of text per stream delta (at least 1; default 8).
    pub fn chunk_chars(mut self, chars: usize) -> Self {
        self.chunk_chars = chars.max(1);
        self
    }

    fn map_samples(mut self, f: impl Fn(&mut Sample)) -> Self {
        if let Action::Answer { samples, .. } = &mut self.action {
            samples.iter_mut().for_each(f);
        }
        self
    }

    fn set_usage(mut self, mode: UsageMode) -> Self {
        if let Action::Answer { usage, .. } = &mut self.action {
            *usage = mode;
        }
        self
    }

    fn set_cut(mut self, chunks: usize, style: CutStyle) -> Self {
        if let Action::Answer { cut, .. } = &mut self.action {
            *cut = Some((chunks, style));
        }
        self
    }
}
