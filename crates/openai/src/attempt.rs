//! One HTTP attempt at a chat request: send, check the status, read the answer
//! whole or as a stream, and classify what went wrong.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::retry::parse_retry_after;
use crate::sse::SseDecoder;
use crate::wire::{self, StreamAssembler};
use llm::{ChatResponse, LlmError, StreamEvent};

/// Where live deltas go while streaming.
pub(crate) type Sink = mpsc::Sender<Result<StreamEvent, LlmError>>;

/// Largest whole (non-streamed) answer accepted; far above any real completion,
/// it only stops a broken server from filling memory.
const BODY_LIMIT: usize = 256 << 20;

/// Most of an error body kept for the error message.
const ERROR_BODY_LIMIT: usize = 4096;

/// A failed attempt: the error and the server's `Retry-After`, if it sent one.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: LlmError,
    pub retry_after: Option<Duration>,
}

impl From<LlmError> for Failure {
    fn from(error: LlmError) -> Self {
        Failure {
            error,
            retry_after: None,
        }
    }
}

/// Everything one attempt needs.
pub(crate) struct Attempt<'a> {
    pub client: &'a reqwest::Client,
    pub url: String,
    pub api_key: Option<&'a str>,
    pub body: &'a Value,
    pub stream: bool,
    pub idle_timeout: Duration,
    /// Added to choice indices of live deltas.
    pub offset: u32,
    pub sink: Option<&'a Sink>,
}

/// The message of an error and its causes, which reqwest keeps in the chain.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

pub(crate) fn map_reqwest(url: &str, e: reqwest::Error, timeout: Duration) -> LlmError {
    if e.is_timeout() {
        LlmError::Timeout(timeout)
    } else {
        LlmError::Connection {
            url: url.to_string(),
            message: error_chain(&e),
        }
    }
}

impl Attempt<'_> {
    /// Run the attempt. `forwarded` becomes true once a delta has gone to the
    /// sink: from then on a retry would show the consumer a second, different
    /// beginning, so the caller must not retry.
    pub(crate) async fn run(&self, forwarded: &mut bool) -> Result<ChatResponse, Failure> {
        let mut request = self.client.post(&self.url).json(self.body);
        if let Some(key) = self.api_key {
            request = request.bearer_auth(key);
        }
        let send = request.send();
        let response = if self.stream {
            tokio::time::timeout(self.idle_timeout, send)
                .await
                .map_err(|_| LlmError::Timeout(self.idle_timeout))?
        } else {
            send.await
        }
        .map_err(|e| map_reqwest(&self.url, e, self.idle_timeout))?;

        let status = response.status();
        if !status.is_success() {
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            // OpenAI's millisecond variant is more precise when both are sent.
            let retry_after = header("retry-after-ms")
                .and_then(|ms| parse_retry_after(&ms))
                .map(|d| d / 1000)
                .or_else(|| header("retry-after").and_then(|s| parse_retry_after(&s)));
            let body = read_error_body(response).await;
            return Err(Failure {
                error: LlmError::Http {
                    status: status.as_u16(),
                    body,
                },
                retry_after,
            });
        }
        if !self.stream {
            let bytes = self.read_body(response).await?;
            return Ok(wire::parse_response(&bytes)?);
        }
        self.read_stream(response, forwarded).await
    }

    /// A whole answer, refusing one larger than [`BODY_LIMIT`].
    async fn read_body(&self, response: reqwest::Response) -> Result<Vec<u8>, Failure> {
        let mut body = Vec::new();
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| map_reqwest(&self.url, e, self.idle_timeout))?;
            if body.len() + chunk.len() > BODY_LIMIT {
                return Err(LlmError::Protocol(format!(
                    "answer larger than {} MiB",
                    BODY_LIMIT >> 20
                ))
                .into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn read_stream(
        &self,
        response: reqwest::Response,
        forwarded: &mut bool,
    ) -> Result<ChatResponse, Failure> {
        let mut assembler = StreamAssembler::new(self.offset);
        let mut decoder = SseDecoder::new();
        let mut body = response.bytes_stream();
        while !assembler.is_done() {
            let next = tokio::time::timeout(self.idle_timeout, body.next())
                .await
                .map_err(|_| LlmError::Timeout(self.idle_timeout))?;
            let ended = next.is_none();
            let events = match next {
                None => decoder.finish().map(|d| d.into_iter().collect::<Vec<_>>()),
                Some(Ok(bytes)) => decoder.push(&bytes),
                Some(Err(e)) => return Err(map_reqwest(&self.url, e, self.idle_timeout).into()),
            }
            .map_err(|e| LlmError::Protocol(e.0))?;
            for data in events {
                for delta in assembler.on_data(&data)? {
                    self.forward(delta, forwarded).await?;
                }
            }
            if ended {
                break;
            }
        }
        Ok(assembler.finish()?)
    }

    async fn forward(&self, event: StreamEvent, forwarded: &mut bool) -> Result<(), Failure> {
        let Some(sink) = self.sink else {
            return Ok(());
        };
        sink.send(Ok(event))
            .await
            .map_err(|_| LlmError::Backend("the stream's reader went away".into()))?;
        *forwarded = true;
        Ok(())
    }
}

/// Read at most [`ERROR_BODY_LIMIT`] bytes of an error answer, lossily as text.
async fn read_error_body(response: reqwest::Response) -> String {
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(Ok(chunk)) = chunks.next().await {
        body.extend_from_slice(&chunk);
        if body.len() >= ERROR_BODY_LIMIT {
            body.truncate(ERROR_BODY_LIMIT);
            break;
        }
    }
    String::from_utf8_lossy(&body).trim().to_string()
}
