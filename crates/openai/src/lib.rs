//! The OpenAI-compatible HTTP backend of the [`llm::Llm`] trait: vLLM, SGLang,
//! llama.cpp's server, or any service speaking `POST /v1/chat/completions`.
//!
//! Its own crate, so that the interface (`llm`) carries no HTTP client: the local
//! engine implements `Llm` without pulling this in. Modules: `config` (settings and
//! [`NMode`]), `attempt` (one HTTP request), `wire` (the JSON and stream chunks),
//! [`balance`] (endpoint choice and concurrency limits), [`retry`] (backoff policy),
//! [`sse`] (event-stream decoding).
//!
//! One call to [`Llm::chat`] may become several HTTP requests:
//! - **retries** — a retryable failure (429, 5xx, connection error, timeout, broken
//!   answer) is tried again after an exponential, jittered backoff that honours
//!   `Retry-After`, on whichever endpoint is then least loaded;
//! - **fan-out** — when a server will not give `n` samples in one answer (see
//!   [`NMode`]), the missing samples are asked for one request each;
//! - **balancing** — each request goes to the endpoint with the fewest outstanding
//!   requests, within a per-endpoint concurrency limit ([`balance`]).
//!
//! While streaming, a delta already handed to the caller cannot be taken back, so
//! an attempt that breaks after its first delta ends the stream with the error
//! instead of retrying. [`Llm::chat`] shows nothing until the end and always
//! retries.

mod attempt;
pub mod balance;
mod config;
pub mod retry;
pub mod sse;
mod wire;

pub use config::{api_key_from_env, normalize_base, split_endpoints, NMode, OpenAiConfig};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde_json::Value;
use tokio::sync::{mpsc, OnceCell};

use crate::balance::{Balancer, EndpointStats};
use crate::retry::RetryPolicy;
use attempt::{map_reqwest, Attempt, Failure, Sink};
use llm::{ChatRequest, ChatResponse, Llm, LlmError, StreamEvent, Usage};

/// A [`Llm`] served over the OpenAI chat-completions API.
#[derive(Clone)]
pub struct OpenAiBackend {
    inner: Arc<Inner>,
}

struct Inner {
    config: OpenAiConfig,
    client: reqwest::Client,
    balancer: Balancer,
    retry: RetryPolicy,
    /// The model name found through `GET /models` when none was configured.
    discovered_model: OnceCell<String>,
    /// Set once a server has shown it cannot answer `n > 1` in one request.
    fan_out: AtomicBool,
}

/// One group of samples asked for in one HTTP request (retried as a whole).
struct Group<'a> {
    request: &'a ChatRequest,
    model: &'a str,
    n: u32,
    seed: Option<u64>,
    /// Index of this group's first sample in the whole answer.
    offset: u32,
    stream: bool,
    sink: Option<&'a Sink>,
}

impl OpenAiBackend {
    /// Check the configuration and build the HTTP client. Nothing is sent yet.
    /// Endpoint entries may hold comma-separated lists.
    pub fn new(config: OpenAiConfig) -> Result<Self, LlmError> {
        let endpoints = split_endpoints(&config.endpoints);
        if endpoints.is_empty() {
            return Err(LlmError::InvalidRequest(
                "no endpoint given (e.g. --backend http://127.0.0.1:8000/v1)".into(),
            ));
        }
        let bases = endpoints
            .iter()
            .map(|e| normalize_base(e))
            .collect::<Result<Vec<_>, _>>()?;
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(config.max_concurrency_per_endpoint.max(1))
            .build()
            .map_err(|e| LlmError::Backend(format!("cannot build HTTP client: {e}")))?;
        let retry = RetryPolicy {
            max_retries: config.max_retries,
            base: config.retry_base_delay,
            ..RetryPolicy::default()
        };
        let balancer = Balancer::new(bases, config.max_concurrency_per_endpoint);
        Ok(OpenAiBackend {
            inner: Arc::new(Inner {
                config,
                client,
                balancer,
                retry,
                discovered_model: OnceCell::new(),
                fan_out: AtomicBool::new(false),
            }),
        })
    }

    /// The configured endpoints, normalised.
    pub fn endpoints(&self) -> Vec<String> {
        self.inner
            .balancer
            .endpoints()
            .iter()
            .map(|e| e.base.clone())
            .collect()
    }

    /// Attempts, failures and load of each endpoint so far.
    pub fn stats(&self) -> Vec<EndpointStats> {
        self.inner
            .balancer
            .endpoints()
            .iter()
            .map(|e| e.stats())
            .collect()
    }

    /// Model ids served by the first endpoint that answers `GET /models`.
    pub async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        self.inner.list_models().await
    }

    /// The model requests go to when they name none: the configured one, or the
    /// first one the server lists (asked once).
    pub async fn default_model(&self) -> Result<String, LlmError> {
        self.inner.default_model().await
    }
}

impl Inner {
    async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        let mut last = None;
        for endpoint in self.balancer.endpoints() {
            let url = format!("{}/models", endpoint.base);
            match self.get_models(&url).await {
                Ok(models) => return Ok(models),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| LlmError::InvalidRequest("no endpoint".into())))
    }

    async fn get_models(&self, url: &str) -> Result<Vec<String>, LlmError> {
        let timeout = self.config.stream_idle_timeout.min(self.config.timeout);
        let mut request = self.client.get(url).timeout(timeout);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| map_reqwest(url, e, timeout))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| map_reqwest(url, e, timeout))?;
        if !status.is_success() {
            return Err(LlmError::Http {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).into_owned(),
            });
        }
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| LlmError::Protocol(format!("model list is not JSON: {e}")))?;
        let models: Vec<String> = v
            .get("data")
            .and_then(Value::as_array)
            .map(|d| {
                d.iter()
                    .filter_map(|m| m.get("id").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if models.is_empty() {
            return Err(LlmError::Protocol(format!("{url} lists no models")));
        }
        Ok(models)
    }

    async fn default_model(&self) -> Result<String, LlmError> {
        if let Some(m) = &self.config.model {
            return Ok(m.clone());
        }
        self.discovered_model
            .get_or_try_init(|| async {
                let models = self.list_models().await?;
                models
                    .into_iter()
                    .next()
                    .ok_or_else(|| LlmError::Protocol("server lists no models".into()))
            })
            .await
            .cloned()
    }

    /// All samples of a request: one group of `n`, or fanned out, or a group
    /// followed by the samples it came back short of.
    async fn sample(
        &self,
        request: &ChatRequest,
        stream: bool,
        sink: Option<&Sink>,
    ) -> Result<ChatResponse, LlmError> {
        validate(request)?;
        let model = match &request.model {
            Some(m) => m.clone(),
            None => self.default_model().await?,
        };
        let n = request.n;
        let mode = self.config.n_mode;
        let fan_out = n > 1
            && match mode {
                NMode::FanOut => true,
                NMode::Native => false,
                NMode::Auto => self.fan_out.load(Ordering::Relaxed),
            };
        let group = |n, seed, offset| Group {
            request,
            model: &model,
            n,
            seed,
            offset,
            stream,
            sink,
        };
        let mut answer = ChatResponse {
            completions: Vec::new(),
            usage: Usage::default(),
        };
        if !fan_out {
            match self.group_with_retries(group(n, request.seed, 0)).await {
                Ok(r) if r.completions.len() == n as usize => return Ok(r),
                Ok(r) if r.completions.len() < n as usize && mode == NMode::Auto => answer = r,
                Ok(r) => {
                    return Err(LlmError::Protocol(format!(
                        "asked for {n} samples, got {}",
                        r.completions.len()
                    )))
                }
                Err(LlmError::Http { status, body })
                    if mode == NMode::Auto
                        && n > 1
                        && matches!(status, 400 | 422)
                        && refuses_n(&body) => {}
                Err(e) => return Err(e),
            }
        }
        let start = answer.completions.len() as u32;
        let singles = (start..n).map(|i| {
            let seed = request.seed.map(|s| s.wrapping_add(u64::from(i)));
            self.group_with_retries(group(1, seed, i))
        });
        for single in futures::future::join_all(singles).await {
            let single = single?;
            if single.completions.len() != 1 {
                return Err(LlmError::Protocol(format!(
                    "asked for 1 sample, got {}",
                    single.completions.len()
                )));
            }
            answer.usage.add(single.usage);
            answer.completions.extend(single.completions);
        }
        if mode == NMode::Auto && n > 1 {
            self.fan_out.store(true, Ordering::Relaxed);
        }
        Ok(answer)
    }

    /// One group of samples, retried on retryable failures.
    async fn group_with_retries(&self, group: Group<'_>) -> Result<ChatResponse, LlmError> {
        let body = wire::request_body(
            group.request,
            group.model,
            group.n,
            group.seed,
            group.stream,
        );
        let mut attempt_no = 0;
        loop {
            let lease = self
                .balancer
                .pick()
                .ok_or_else(|| LlmError::InvalidRequest("no endpoint".into()))?;
            // Queueing for a slot is not the server's slowness: the attempt's
            // timeout starts once the slot is held.
            let permit = lease.acquire().await;
            let attempt = Attempt {
                client: &self.client,
                url: format!("{}/chat/completions", lease.endpoint().base),
                api_key: self.config.api_key.as_deref(),
                body: &body,
                stream: group.stream,
                idle_timeout: self.config.stream_idle_timeout,
                offset: group.offset,
                sink: group.sink,
            };
            let mut forwarded = false;
            let outcome = tokio::time::timeout(self.config.timeout, attempt.run(&mut forwarded))
                .await
                .unwrap_or_else(|_| Err(LlmError::Timeout(self.config.timeout).into()));
            let Failure { error, retry_after } = match outcome {
                Ok(answer) => {
                    lease.succeeded();
                    return Ok(answer);
                }
                Err(failure) => failure,
            };
            if !error.is_retryable() {
                return Err(error);
            }
            lease.failed();
            if forwarded || attempt_no >= self.retry.max_retries {
                return Err(error);
            }
            drop(permit);
            drop(lease);
            tokio::time::sleep(self.retry.delay(attempt_no, retry_after)).await;
            attempt_no += 1;
        }
    }
}

/// Whether an HTTP 400/422 body reads like a refusal of `n > 1` (rather than, say,
/// a prompt that is too long, which one-sample requests would not fix).
fn refuses_n(body: &str) -> bool {
    let body = body.to_ascii_lowercase();
    [
        "choice",
        "'n'",
        "\"n\"",
        "`n`",
        " n ",
        "n must",
        "n>1",
        "n > 1",
        "only one",
        "not supported",
        "unsupported",
    ]
    .iter()
    .any(|hint| body.contains(hint))
}

fn validate(request: &ChatRequest) -> Result<(), LlmError> {
    if request.n == 0 {
        return Err(LlmError::InvalidRequest("n must be at least 1".into()));
    }
    if request.messages.is_empty() {
        return Err(LlmError::InvalidRequest("a chat needs a message".into()));
    }
    Ok(())
}

#[async_trait]
impl Llm for OpenAiBackend {
    fn name(&self) -> String {
        let model = self
            .inner
            .config
            .model
            .as_deref()
            .unwrap_or("default model");
        format!("{model} @ {}", self.endpoints().join(","))
    }

    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let stream = self.inner.config.stream_chat;
        self.inner.sample(&request, stream, None).await
    }

    async fn chat_stream(
        &self,
        request: ChatRequest,
    ) -> Result<BoxStream<'static, Result<StreamEvent, LlmError>>, LlmError> {
        validate(&request)?;
        let (tx, rx) = mpsc::channel(64);
        let inner = Arc::clone(&self.inner);
        let task = tokio::spawn(async move {
            let result = inner.sample(&request, true, Some(&tx)).await;
            let _ = tx.send(result.map(StreamEvent::Done)).await;
        });
        // Dropping the stream aborts the task, and with it the HTTP requests.
        let guard = AbortOnDrop(task);
        Ok(Box::pin(futures::stream::unfold(
            (rx, guard),
            |(mut rx, guard)| async move { rx.recv().await.map(|item| (item, (rx, guard))) },
        )))
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
