//! Settings of the OpenAI-compatible backend and how endpoint URLs are read.

use std::time::Duration;

use llm::LlmError;

/// How `n` samples are requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NMode {
    /// Ask for `n` in one request; if a server refuses `n > 1` (HTTP 400/422) or
    /// returns fewer choices, ask for the missing samples one request each and keep
    /// doing so for the rest of the backend's life.
    #[default]
    Auto,
    /// Always one request with `n`; fewer choices back is a protocol error.
    Native,
    /// Always `n` requests of one sample each (seeds `seed + i` when seeded).
    FanOut,
}

/// Settings of an [`super::OpenAiBackend`].
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Base URLs ending in `/v1`, e.g. `http://127.0.0.1:8000/v1`.
    pub endpoints: Vec<String>,
    /// Model name; `None` asks `GET /models` once and takes the first.
    pub model: Option<String>,
    /// Sent as `Authorization: Bearer ...`.
    pub api_key: Option<String>,
    /// Limit on one attempt, from sending the request to the end of the answer.
    pub timeout: Duration,
    /// Limit on silence while streaming: before the response headers and between
    /// chunks.
    pub stream_idle_timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts after the first for retryable failures (429, 5xx, connection
    /// errors, timeouts, broken answers).
    pub max_retries: u32,
    /// First retry delay; doubles per attempt, with jitter.
    pub retry_base_delay: Duration,
    /// Requests in flight per endpoint at most; more wait for a slot.
    pub max_concurrency_per_endpoint: usize,
    pub n_mode: NMode,
    /// Whether [`llm::Llm::chat`] streams under the hood. Streaming lets the idle
    /// timeout catch a dead server long before a generous whole-request timeout.
    pub stream_chat: bool,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        OpenAiConfig {
            endpoints: Vec::new(),
            model: None,
            api_key: None,
            timeout: Duration::from_secs(1800),
            stream_idle_timeout: Duration::from_secs(180),
            connect_timeout: Duration::from_secs(10),
            max_retries: 4,
            retry_base_delay: Duration::from_millis(500),
            max_concurrency_per_endpoint: 64,
            n_mode: NMode::Auto,
            stream_chat: false,
        }
    }
}

impl OpenAiConfig {
    /// Defaults for these endpoints (each argument may hold several, separated by
    /// commas, as `--backend a,b` does) with the API key from the environment.
    pub fn new<S: AsRef<str>>(endpoints: impl IntoIterator<Item = S>) -> Self {
        OpenAiConfig {
            endpoints: split_endpoints(endpoints),
            api_key: api_key_from_env(),
            ..OpenAiConfig::default()
        }
    }
}

/// Split comma-separated endpoint lists and drop empty entries.
pub fn split_endpoints<S: AsRef<str>>(args: impl IntoIterator<Item = S>) -> Vec<String> {
    args.into_iter()
        .flat_map(|a| {
            a.as_ref()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `VERIMATH_API_KEY`, else `OPENAI_API_KEY`; empty values count as unset.
pub fn api_key_from_env() -> Option<String> {
    ["VERIMATH_API_KEY", "OPENAI_API_KEY"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.trim().is_empty())
}

/// Normalise a base URL: `host:port` gets `http://`, a URL without a path gets
/// `/v1` (servers serve the API there), and trailing slashes go.
pub fn normalize_base(raw: &str) -> Result<String, LlmError> {
    let raw = raw.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let url = reqwest::Url::parse(&with_scheme)
        .map_err(|e| LlmError::InvalidRequest(format!("bad endpoint URL {raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(LlmError::InvalidRequest(format!(
            "endpoint {raw:?} must use http or https"
        )));
    }
    let base = with_scheme.trim_end_matches('/').to_string();
    if url.path() == "/" || url.path().is_empty() {
        Ok(format!("{base}/v1"))
    } else {
        Ok(base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only test that touches these variables, so it cannot race another.
    #[test]
    fn api_key_prefers_verimath_then_openai() {
        let saved: Vec<_> = ["VERIMATH_API_KEY", "OPENAI_API_KEY"]
            .iter()
            .map(|k| (*k, std::env::var_os(k)))
            .collect();
        std::env::set_var("VERIMATH_API_KEY", " ");
        std::env::set_var("OPENAI_API_KEY", "from-openai");
        assert_eq!(api_key_from_env().as_deref(), Some("from-openai"));
        std::env::set_var("VERIMATH_API_KEY", "from-verimath");
        assert_eq!(
            OpenAiConfig::new(["h:1"]).api_key.as_deref(),
            Some("from-verimath")
        );
        std::env::remove_var("VERIMATH_API_KEY");
        std::env::remove_var("OPENAI_API_KEY");
        assert_eq!(api_key_from_env(), None);
        for (k, v) in saved {
            if let Some(v) = v {
                std::env::set_var(k, v);
            }
        }
    }

    #[test]
    fn endpoints_split_and_normalise() {
        assert_eq!(
            split_endpoints(["a:1, b:2", "", "c:3"]),
            vec!["a:1", "b:2", "c:3"]
        );
        assert_eq!(
            normalize_base("127.0.0.1:8000").expect("ok"),
            "http://127.0.0.1:8000/v1"
        );
        assert_eq!(normalize_base("https://h/v1/").expect("ok"), "https://h/v1");
        assert_eq!(normalize_base("http://h/api").expect("ok"), "http://h/api");
        assert!(normalize_base("ftp://h").is_err());
        assert!(normalize_base("http://").is_err());
    }
}
