//! `GET /metrics`: Prometheus text exposition from the `prometheus-client` crate.
//!
//! Requests by route and status, prompt and completion tokens, generations queued and
//! running, sequences in the engine's batch, time to first token and time per output
//! token; and, read from the local engine at each scrape, its last batch, KV cache use
//! and the prompt tokens its prompt cache saved.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

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
    engine: EngineGauges,
}

/// Figures copied from the engine loop's own counters when `/metrics` is read.
#[derive(Default)]
struct EngineGauges {
    batch_sequences: Gauge,
    batch_tokens: Gauge,
    kv_used_tokens: Gauge,
    kv_cached_tokens: Gauge,
    kv_usage: Gauge<f64, AtomicU64>,
    forward_passes: Counter,
    prompt_tokens_computed: Counter,
    prompt_tokens_reused: Counter,
    /// Serialises scrapes: counters advance by the difference to the engine's totals.
    sync: Mutex<()>,
}

impl EngineGauges {
    fn register(&self, r: &mut Registry) {
        r.register(
            "engine_batch_sequences",
            "Sequences in the engine's last forward pass",
            self.batch_sequences.clone(),
        );
        r.register(
            "engine_batch_tokens",
            "Tokens in the engine's last forward pass (decode steps and prompt chunks)",
            self.batch_tokens.clone(),
        );
        r.register(
            "kv_cache_used_tokens",
            "Tokens in the KV cache of running sequences",
            self.kv_used_tokens.clone(),
        );
        r.register(
            "kv_cache_cached_tokens",
            "Tokens kept in free KV cache slots for the prompt cache",
            self.kv_cached_tokens.clone(),
        );
        r.register(
            "kv_cache_usage_ratio",
            "Share of the KV cache (slots x context) held by running sequences",
            self.kv_usage.clone(),
        );
        r.register(
            "engine_forward_passes",
            "Forward passes of the engine",
            self.forward_passes.clone(),
        );
        r.register(
            "engine_prompt_tokens_computed",
            "Prompt tokens the engine computed",
            self.prompt_tokens_computed.clone(),
        );
        r.register(
            "engine_prompt_tokens_reused",
            "Prompt tokens taken from the prompt cache instead of computed",
            self.prompt_tokens_reused.clone(),
        );
    }
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
        let engine = EngineGauges::default();
        engine.register(&mut registry);
        Metrics {
            engine,
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

    /// Copy the local engine's figures in; `capacity` is slots x context tokens.
    pub fn observe_engine(&self, stats: engine::generate::StatsSnapshot, capacity: usize) {
        let e = &self.engine;
        let _one_at_a_time = e.sync.lock().unwrap_or_else(|p| p.into_inner());
        e.batch_sequences.set(stats.batch_sequences as i64);
        e.batch_tokens.set(stats.batch_tokens as i64);
        e.kv_used_tokens.set(stats.used_tokens as i64);
        e.kv_cached_tokens.set(stats.cached_tokens as i64);
        e.kv_usage
            .set(stats.used_tokens as f64 / capacity.max(1) as f64);
        let advance = |c: &Counter, total: u64| c.inc_by(total.saturating_sub(c.get()));
        advance(&e.forward_passes, stats.forward_passes);
        advance(&e.prompt_tokens_computed, stats.prompt_tokens_computed);
        advance(&e.prompt_tokens_reused, stats.prompt_tokens_reused);
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
