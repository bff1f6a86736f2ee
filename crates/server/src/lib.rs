//! `verimath serve`: the HTTP face of verimath.
//!
//! Module map:
//! - [`openai`] — the OpenAI-compatible API over the local engine (`/v1/...`).
//! - [`jobs`] — proof-search and solve jobs, each a run database in the run
//!   directory, with live, replayable Server-Sent Events.
//! - [`metrics`] — Prometheus text at `/metrics`.
//! - [`error`] — errors as OpenAI-style JSON bodies.
//! - `ui` — the web UI: static files from `crates/server/ui` (the front-end
//!   libraries under `ui/vendor` come from npm through the set-up script).
//!
//! The server takes its listener and a shutdown signal from its caller ([`serve`]), so
//! tests start it on port 0. With an API key every route but `/health` needs
//! `Authorization: Bearer KEY`. Bodies over the limit get 413 from their
//! `Content-Length`, before they are read.

pub mod error;
pub mod jobs;
pub mod metrics;
pub mod openai;
mod ui;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::LocalLlm;
use error::ApiError;
use futures::StreamExt;
use jobs::{JobKind, JobRequest, Jobs};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Bounds on what one request may ask for.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body in bytes.
    pub max_body: usize,
    /// Largest `n`.
    pub max_n: u32,
    /// Largest `max_tokens`.
    pub max_tokens: u32,
    /// Tokens a prompt must stay under (the engine's sequence length).
    pub max_prompt_tokens: usize,
    /// Tokens per sample when a request gives no `max_tokens`.
    pub default_max_tokens: usize,
    /// Largest problem statement of a job, in bytes.
    pub max_problem_bytes: usize,
    /// Largest proofs × verifications of one prove job.
    pub max_job_samples: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 4 << 20,
            max_n: 64,
            max_tokens: 32_768,
            max_prompt_tokens: 8192,
            default_max_tokens: 2048,
            max_problem_bytes: 64 << 10,
            // The paper's heavy setting plans (64 + 64 * 16) * (64 + 1) = 70,720.
            max_job_samples: 100_000,
        }
    }
}

/// Everything the handlers share.
pub struct AppState {
    /// The local model behind `/v1`, when the server runs one.
    pub local: Option<Arc<LocalLlm>>,
    /// Its name in `/v1/models` and answers.
    pub model_name: String,
    pub jobs: Arc<Jobs>,
    pub metrics: Arc<metrics::Metrics>,
    pub limits: Limits,
    /// The server's own key; `None`: no authentication.
    pub api_key: Option<String>,
    /// Where the web UI's files are.
    pub ui_dir: std::path::PathBuf,
    /// The server listens on a loopback address: refuse requests whose `Host` names
    /// anything else.
    pub loopback_only: bool,
}

/// Serve on `listener` until `shutdown` resolves, then stop taking connections and let
/// requests in flight finish. Jobs keep their samples in their run databases, so the
/// ones cut short resume on request after a restart.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Some(local) = &state.local {
        let info = local.model().engine.info();
        state.metrics.engine_slots.set(info.slots as i64);
        state.metrics.engine_context.set(info.max_len as i64);
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    let max_body = state.limits.max_body;
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/models", get(openai::models))
        .route("/api/prove", post(submit_prove))
        .route("/api/solve", post(submit_solve))
        .route("/api/jobs", get(list_jobs))
        .route("/api/jobs/{id}", get(job).delete(cancel_job))
        .route("/api/jobs/{id}/samples", get(job_samples))
        .route("/api/jobs/{id}/events", get(job_events))
        .route("/api/jobs/{id}/resume", post(resume_job))
        .route("/", get(ui::index))
        .route("/jobs/{id}", get(ui::job_page))
        .route("/ui/{*path}", get(ui::asset))
        .fallback(not_found)
        // The guard is outermost: it authenticates before a body is read and counts
        // every answer, the 413s of the body limit included.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(max_body))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// Host names a loopback-bound server answers to. Any other `Host` is a page that
/// rebound its own name to 127.0.0.1 (DNS rebinding) and is refused.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Compare keys without an early exit on the first differing byte.
fn same_key(given: &str, key: &str) -> bool {
    given.len() == key.len()
        && given
            .bytes()
            .zip(key.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Percent-decoding of a query value (`+` is a space); a malformed escape is kept.
fn decode_query(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Request checks and counting: the `Host` of a loopback server, JSON content type on
/// job POSTs (a cross-site page cannot send one without the browser asking first), and
/// with an API key the key on every route but `/health` and the UI's static files
/// (which hold no data: the UI asks for its data with the key).
async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = route_label(request.uri().path());
    if state.loopback_only {
        let host = request
            .headers()
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !loopback_host(host) {
            state.metrics.count(route, 403);
            return ApiError::status(
                StatusCode::FORBIDDEN,
                format!("this server answers to loopback names only, not {host:?}"),
            )
            .into_response();
        }
    }
    // Jobs only: the /v1 API takes bodies as llama.cpp's server does (curl -d sends
    // a form type), and a cross-site page can make it compute but never read it.
    if request.method() == axum::http::Method::POST && request.uri().path().starts_with("/api/") {
        let json = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            });
        if !json {
            state.metrics.count(route, 415);
            return ApiError::status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "POST bodies must be sent as Content-Type: application/json",
            )
            .into_response();
        }
    }
    if let Some(key) = &state.api_key {
        if route != "/health" && route != "/ui" {
            let header = request
                .headers()
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            // Browsers cannot set headers on an EventSource: the web UI may pass the
            // key as `?key=` instead.
            let query = request
                .uri()
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("key=")))
                .map(decode_query);
            let ok = header.is_some_and(|h| same_key(h, key))
                || query.as_deref().is_some_and(|q| same_key(q, key));
            if !ok {
                state.metrics.count(route, 401);
                return ApiError::status(
                    StatusCode::UNAUTHORIZED,
                    "missing or wrong API key (Authorization: Bearer KEY)",
                )
                .into_response();
            }
        }
    }
    let response = next.run(request).await;
    state.metrics.count(route, response.status().as_u16());
    response
}

/// A bounded set of route names for the metrics (ids folded away).
fn route_label(path: &str) -> &'static str {
    match path {
        "/health" => "/health",
        "/metrics" => "/metrics",
        "/v1/chat/completions" => "/v1/chat/completions",
        "/v1/completions" => "/v1/completions",
        "/v1/models" => "/v1/models",
        "/api/prove" => "/api/prove",
        "/api/solve" => "/api/solve",
        "/api/jobs" => "/api/jobs",
        p if p.starts_with("/api/jobs/") => "/api/jobs/{id}",
        p if p.starts_with("/ui/") || p == "/" || p.starts_with("/jobs/") => "/ui",
        _ => "other",
    }
}

async fn health(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"status": "ok", "model": state.local.as_ref().map(|_| state.model_name.clone())}))
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    if let Some(local) = &state.local {
        let engine = &local.model().engine;
        let info = engine.info();
        state
            .metrics
            .observe_engine(engine.stats(), info.slots * info.max_len);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

fn problem_of(m: &serde_json::Map<String, Value>, limits: &Limits) -> Result<String, ApiError> {
    match m.get("problem") {
        Some(Value::String(p)) if !p.trim().is_empty() => {
            if p.len() > limits.max_problem_bytes {
                return Err(ApiError::invalid(
                    "problem",
                    format!(
                        "`problem` is longer than {} bytes",
                        limits.max_problem_bytes
                    ),
                ));
            }
            Ok(p.clone())
        }
        _ => Err(ApiError::invalid(
            "problem",
            "`problem` must be a non-empty string",
        )),
    }
}

fn count(
    m: &serde_json::Map<String, Value>,
    key: &'static str,
    max: u32,
) -> Result<Option<u32>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v <= u64::from(max) => Ok(Some(v as u32)),
            _ => Err(ApiError::invalid(
                key,
                format!("`{key}` must be an integer from 0 to {max}"),
            )),
        },
        Some(_) => Err(ApiError::invalid(
            key,
            format!("`{key}` must be an integer"),
        )),
    }
}

async fn submit_prove(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let m = openai::body_json(&body)?;
    let problem = problem_of(&m, &state.limits)?;
    let preset = match m.get("preset").and_then(Value::as_str) {
        None => state.jobs.preset(),
        Some("heavy") => search::Preset::Heavy,
        Some("quick") => search::Preset::Quick,
        Some(_) => return Err(ApiError::invalid("preset", "`preset` is heavy or quick")),
    };
    // Every other key is a search setting under its `verimath prove` flag's name.
    let mut settings = m.clone();
    settings.remove("problem");
    settings.remove("preset");
    let flags: search::SearchFlags = serde_json::from_value(Value::Object(settings))
        .map_err(|e| ApiError::bad_request(format!("invalid search settings: {e}")))?;
    let mut cfg = flags.apply(preset.config());
    cfg.max_tokens = cfg.max_tokens.map(|t| t.max(1));
    let limits = [
        ("proofs", cfg.proofs, 256),
        ("verifications", cfg.verifications, 256),
        ("refine", cfg.refine, 256),
        ("critiques", cfg.critiques, 64),
        ("rounds", cfg.rounds, 64),
        ("wave", cfg.wave, 256),
        ("batch", cfg.batch, 256),
        (
            "max_tokens",
            cfg.max_tokens.unwrap_or(0),
            state.limits.max_tokens,
        ),
    ];
    let concurrency = u32::try_from(cfg.concurrency).unwrap_or(u32::MAX);
    for (key, value, max) in limits
        .into_iter()
        .chain([("concurrency", concurrency, 1024)])
    {
        if value > max {
            return Err(ApiError::invalid(
                key,
                format!("`{key}` must be an integer from 0 to {max}"),
            ));
        }
    }
    if !(cfg.adaptive_z.is_finite() && cfg.adaptive_z >= 0.0) {
        return Err(ApiError::invalid(
            "adaptive_z",
            "`adaptive_z` must be a number of standard errors, 0 or more",
        ));
    }
    if cfg.proofs == 0 || cfg.verifications == 0 {
        return Err(ApiError::bad_request(
            "`proofs` and `verifications` must be at least 1",
        ));
    }
    let planned =
        u64::from(cfg.proofs + cfg.refine * cfg.rounds) * u64::from(cfg.verifications + 1);
    if planned > state.limits.max_job_samples {
        return Err(ApiError::bad_request(format!(
            "this job plans about {planned} samples; this server takes at most {}",
            state.limits.max_job_samples
        )));
    }
    let id = state.jobs.submit(
        JobRequest {
            kind: JobKind::Prove,
            problem,
            search: Some(cfg),
            solve: None,
            gold: None,
        },
        state.metrics.clone(),
    )?;
    Ok(Json(json!({"id": id})))
}

async fn submit_solve(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let m = openai::body_json(&body)?;
    let problem = problem_of(&m, &state.limits)?;
    let mut cfg = search::solve::SolveConfig::default();
    if let Some(v) = count(&m, "samples", 256)? {
        cfg.samples = v.max(1);
    }
    if let Some(v) = count(&m, "verify", 256)? {
        cfg.verify = v;
    }
    if let Some(t) = count(&m, "max_tokens", state.limits.max_tokens)? {
        cfg.max_tokens = Some(t.max(1));
    }
    let gold = match m.get("gold") {
        None | Some(Value::Null) => None,
        Some(Value::String(g)) => Some(g.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(ApiError::invalid("gold", "`gold` must be a string")),
    };
    let id = state.jobs.submit(
        JobRequest {
            kind: JobKind::Solve,
            problem,
            search: None,
            solve: Some(cfg),
            gold,
        },
        state.metrics.clone(),
    )?;
    Ok(Json(json!({"id": id})))
}

async fn list_jobs(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"jobs": state.jobs.list()}))
}

async fn job(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.jobs.result(&id)?))
}

async fn job_samples(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.jobs.samples(&id)?))
}

async fn cancel_job(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.jobs.cancel(&id)?;
    Ok(Json(json!({"id": id, "state": "cancelled"})))
}

async fn resume_job(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.jobs.resume(&id, state.metrics.clone())?;
    Ok(Json(json!({"id": id, "state": "running"})))
}

/// `GET /api/jobs/{id}/events`: what already happened, then live events until `done`,
/// after which the stream ends.
async fn job_events(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let to_sse = |v: Value| {
        let name = v
            .get("event")
            .and_then(Value::as_str)
            .unwrap_or("message")
            .to_string();
        Ok::<_, Infallible>(SseEvent::default().event(name).data(v.to_string()))
    };
    let Some((history, rx)) = state.jobs.subscribe(&id)? else {
        let replay = state.jobs.replay(&id)?;
        return Ok(Sse::new(futures::stream::iter(replay.into_iter().map(to_sse))).into_response());
    };
    let done_in_history = history.iter().any(|e| e["event"] == "done");
    let past = futures::stream::iter(history.into_iter().map(to_sse));
    if done_in_history {
        return Ok(Sse::new(past).into_response());
    }
    // Live events until `done`, which is the last one sent.
    let live = futures::stream::unfold((rx, false), |(mut rx, finished)| async move {
        if finished {
            return None;
        }
        loop {
            match rx.recv().await {
                Ok(v) => {
                    let last = v["event"] == "done";
                    return Some((v, (rx, last)));
                }
                // A slow client missed some events; the next ones still come.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .map(to_sse);
    let stream = past.chain(live);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_keys_and_queries() {
        for ok in [
            "127.0.0.1:8080",
            "localhost:80",
            "[::1]:9",
            "localhost",
            "127.1.2.3",
        ] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "10.0.0.1",
            "",
            "127.0.0.1.evil.example",
        ] {
            assert!(!loopback_host(bad), "{bad}");
        }
        assert!(same_key("abc", "abc") && !same_key("abd", "abc") && !same_key("ab", "abc"));
        assert_eq!(decode_query("a%2Bb%3D%3D+c"), "a+b== c");
        assert_eq!(decode_query("100%"), "100%");
    }
}
