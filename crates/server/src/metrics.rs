//! `GET /metrics`: Prometheus text exposition from the `prometheus-client` crate.
//!
//! Requests by route and status, prompt and completion tokens, generations queued and
//! running, sequences in the engine's batch, time to first token and time per output
//! token.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of the request counter.
pub type RouteLabels = Vec<(String, String)>;

/// Every metric the server keeps.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RouteLabels, Counter>,
    pub prompt_tokens: Counter,
    pub completion_tokens: Counter,
    /// Generation requests waiting for or inside the engine.
    pub queued: Gauge,
    /// Sequences being decoded for HTTP requests (`n` counts each sample).
    pub running_sequences: Gauge,
    pub jobs_running: Gauge,
    pub time_to_first_token: Histogram,
    pub time_per_output_token: Histogram,
    /// Engine facts: sequence slots (the largest batch) and tokens per slot.
    pub engine_slots: Gauge,
    pub engine_context: Gauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("verimath");
        let requests = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        let prompt_tokens = Counter::default();
        registry.register(
            "prompt_tokens",
            "Prompt tokens processed",
            prompt_tokens.clone(),
        );
        let completion_tokens = Counter::default();
        registry.register(
            "completion_tokens",
            "Completion tokens generated",
            completion_tokens.clone(),
        );
        let queued = Gauge::default();
        registry.register(
            "requests_in_engine",
            "Generation requests queued or running",
            queued.clone(),
        );
        let running_sequences = Gauge::default();
        registry.register(
            "running_sequences",
            "Sequences being generated for API requests (the engine's batch)",
            running_sequences.clone(),
        );
        let jobs_running = Gauge::default();
        registry.register(
            "jobs_running",
            "Proof-search and solve jobs running",
            jobs_running.clone(),
        );
        let time_to_first_token = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        registry.register(
            "time_to_first_token_seconds",
            "Time from request to the first streamed token",
            time_to_first_token.clone(),
        );
        let time_per_output_token = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register(
            "time_per_output_token_seconds",
            "Mean time per generated token of a request, after the first",
            time_per_output_token.clone(),
        );
        let engine_slots = Gauge::default();
        registry.register(
            "engine_slots",
            "Sequence slots of the local engine (largest batch)",
            engine_slots.clone(),
        );
        let engine_context = Gauge::default();
        registry.register(
            "engine_context_tokens",
            "Tokens per sequence slot (KV cache capacity)",
            engine_context.clone(),
        );
        Metrics {
            registry,
            requests,
            prompt_tokens,
            completion_tokens,
            queued,
            running_sequences,
            jobs_running,
            time_to_first_token,
            time_per_output_token,
            engine_slots,
            engine_context,
        }
    }

    /// Count one answered request.
    pub fn count(&self, route: &str, status: u16) {
        self.requests
            .get_or_create(&vec![
                ("route".to_string(), route.to_string()),
                ("status".to_string(), status.to_string()),
            ])
            .inc();
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
