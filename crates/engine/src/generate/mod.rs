//! Generation: one engine thread owns the model and its KV cache and serves every
//! request through one shared batch.
//!
//! The shape follows llama.cpp's server. Callers tokenize and apply chat templates on
//! their own threads and [`Engine::submit`] token ids; the engine loop
//! ([`scheduler`]) admits requests between steps while cache slots are free, prefills
//! each prompt once and copies its KV prefix to the other `n - 1` samples, and decodes
//! every live sequence of every request together, one token per sequence per forward
//! pass. Requests wait in a bounded queue; a full queue is an error, not a stall.
//!
//! Slots keep what they cached after their request ends: a new prompt that begins
//! with tokens a free slot already holds (a shared system prompt, the same problem,
//! the same proof under verification) starts from that slot and computes only the
//! rest, as llama.cpp's server does with its prompt cache.
//!
//! The loop talks to the model through two small traits, [`Decoder`] (forward pass and
//! cache slots) and [`Vocab`] (token bytes, end-of-generation tokens), so the scheduling
//! can be tested against a toy model and any architecture plugs in unchanged.

mod local;
mod scheduler;
mod text;

pub use local::{
    load_engine, EngineLoadError, LoadOptions, LoadedModel, ModelDecoder, TokenizerVocab,
};

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::sampler::SamplingParams;

/// One token of one sequence in a forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Cache slot (sequence) the token belongs to.
    pub slot: usize,
    /// Position of the token in its sequence; the slot holds exactly `position` tokens.
    pub position: usize,
    pub token: u32,
    /// Whether the caller needs the logits after this token.
    pub want_logits: bool,
}

/// A model with a KV cache of fixed slots, as the engine loop drives it.
pub trait Decoder: Send {
    /// Number of logits per position.
    fn vocab_size(&self) -> usize;
    /// Number of cache slots (sequences that can be live at once).
    fn slots(&self) -> usize;
    /// Most tokens one slot can hold.
    fn max_len(&self) -> usize;
    /// Run one batch; returns logits for the steps with `want_logits`, in batch order.
    fn forward(&mut self, batch: &[Step]) -> Result<Vec<Vec<f32>>, String>;
    /// Make `dst` hold the first `len` cached tokens of `src`.
    fn copy_prefix(&mut self, src: usize, dst: usize, len: usize) -> Result<(), String>;
    /// Keep only the first `len` cached tokens of `slot` (no-op if it holds fewer).
    fn truncate(&mut self, slot: usize, len: usize);
    /// Forget everything in `slot`.
    fn clear(&mut self, slot: usize) {
        self.truncate(slot, 0);
    }
}

/// What the engine loop needs to know about tokens.
pub trait Vocab: Send + Sync {
    /// The bytes a token adds to generated text.
    fn token_bytes(&self, token: u32) -> Vec<u8>;
    /// Whether generating this token ends the sample (EOS, end-of-turn, ...).
    fn is_end_of_generation(&self, token: u32) -> bool;
}

/// One generation request: a tokenized prompt and how to continue it.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    pub prompt: Vec<u32>,
    /// Number of independent samples of the prompt.
    pub n: usize,
    pub sampling: SamplingParams,
    /// Sample `i` uses the random stream `derive_seed(seed, first_index + i)`; `None`
    /// picks a seed.
    pub seed: Option<u64>,
    /// Index of this request's first sample within a larger set split over several
    /// requests, so the split does not change which samples come out.
    pub first_index: usize,
    /// Most tokens generated per sample.
    pub max_tokens: usize,
    /// Text that ends a sample; it is not part of the output.
    pub stop: Vec<String>,
    /// Send [`Event::Delta`]s as text is produced.
    pub stream: bool,
    /// How many of the most likely tokens to report, with their log-probabilities,
    /// at every generated position (0: none; at most [`MAX_TOP_LOGPROBS`]).
    pub top_logprobs: usize,
}

/// The most alternatives a request may ask for per position.
pub const MAX_TOP_LOGPROBS: usize = 20;

impl GenerateRequest {
    /// One greedy sample of `prompt`, up to `max_tokens` tokens.
    pub fn greedy(prompt: Vec<u32>, max_tokens: usize) -> Self {
        GenerateRequest {
            prompt,
            n: 1,
            sampling: SamplingParams::greedy(),
            seed: None,
            first_index: 0,
            max_tokens,
            stop: Vec::new(),
            stream: false,
            top_logprobs: 0,
        }
    }
}

/// Why a sample ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model produced an end-of-generation token.
    EndOfGeneration,
    /// A stop string appeared in the text.
    StopString,
    /// `max_tokens` tokens were generated.
    MaxTokens,
    /// The sequence filled the context window.
    ContextLimit,
}

impl FinishReason {
    /// The OpenAI API's name: `stop` when the model finished, `length` when cut off.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::EndOfGeneration | FinishReason::StopString => "stop",
            FinishReason::MaxTokens | FinishReason::ContextLimit => "length",
        }
    }
}

impl From<FinishReason> for llm::FinishReason {
    fn from(reason: FinishReason) -> Self {
        match reason {
            FinishReason::EndOfGeneration | FinishReason::StopString => llm::FinishReason::Stop,
            FinishReason::MaxTokens | FinishReason::ContextLimit => llm::FinishReason::Length,
        }
    }
}

/// One finished sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOutput {
    /// Generated text, cut before any stop string; end-of-generation tokens add no text.
    pub text: String,
    /// Generated tokens, including a final end-of-generation token.
    pub token_ids: Vec<u32>,
    /// Log-probability of each generated token under the model (temperature 1).
    pub logprobs: Vec<f32>,
    /// Per generated token, the request's `top_logprobs` most likely tokens and their
    /// log-probabilities, most likely first (empty when none were asked for).
    pub top_logprobs: Vec<Vec<(u32, f32)>>,
    pub finish_reason: FinishReason,
}

/// Speed of one request. Shared batches make these per-request views of shared work:
/// prompt time runs from admission to the end of the prompt's prefill (of the tokens
/// not found in the prompt cache), decode time
/// from the first sampled token to the last. Each sample's first token comes from the
/// prefill's logits, so decoding produced `decode_tokens` = completion tokens minus
/// the samples started (llama.cpp counts its eval tokens the same way).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    pub prompt_tokens: usize,
    /// Leading prompt tokens whose keys and values came from the prompt cache.
    pub cached_prompt_tokens: usize,
    pub prompt_time: Duration,
    pub completion_tokens: usize,
    /// Tokens produced by decode passes (see above).
    pub decode_tokens: usize,
    pub decode_time: Duration,
    /// Time spent waiting in the queue before admission.
    pub queue_time: Duration,
}

impl Timings {
    /// Prompt tokens computed (not taken from the cache) per second of prefill.
    pub fn prompt_tokens_per_s(&self) -> f64 {
        per_second(
            self.prompt_tokens - self.cached_prompt_tokens,
            self.prompt_time,
        )
    }
    /// Decoded tokens of all samples per second of decoding.
    pub fn decode_tokens_per_s(&self) -> f64 {
        per_second(self.decode_tokens, self.decode_time)
    }
}

fn per_second(tokens: usize, time: Duration) -> f64 {
    let s = time.as_secs_f64();
    if s > 0.0 {
        tokens as f64 / s
    } else {
        0.0
    }
}

/// The result of a request: its samples in order, and timings.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOutput {
    pub samples: Vec<SampleOutput>,
    pub prompt_tokens: usize,
    pub timings: Timings,
}

impl GenerateOutput {
    pub fn completion_tokens(&self) -> usize {
        self.samples.iter().map(|s| s.token_ids.len()).sum()
    }
}

/// What a request hears from the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// New text for sample `index` (only with `stream`); may be empty when a token
    /// added no complete character yet.
    Delta {
        index: usize,
        text: String,
        token: u32,
        /// Log-probability of `token` (temperature 1).
        logprob: f32,
        /// The request's `top_logprobs` most likely tokens at this position.
        top_logprobs: Vec<(u32, f32)>,
    },
    /// The request is over; always the last event.
    Done(Result<GenerateOutput, EngineError>),
}

/// What can go wrong in generation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("the prompt has {prompt} tokens but the context holds {context}: shorten it or raise the context size")]
    PromptTooLong { prompt: usize, context: usize },
    #[error("n = {n} samples asked but the engine has {slots} sequence slots: lower n or start the engine with more slots")]
    TooManySamples { n: usize, slots: usize },
    #[error("top_logprobs = {0}: at most 20 alternatives per token")]
    TooManyTopLogprobs(usize),
    #[error("n must be at least 1")]
    ZeroSamples,
    #[error("token {token} is outside the vocabulary of {vocab} entries")]
    TokenOutOfRange { token: u32, vocab: usize },
    #[error("invalid sampling settings: {0}")]
    InvalidSampling(String),
    #[error("the request queue is full ({0} waiting): retry later")]
    QueueFull(usize),
    #[error("the engine has stopped")]
    Stopped,
    #[error("model forward pass failed: {0}")]
    Model(String),
}

/// Sizes of an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// Submissions (one `submit` or `submit_all` each) that may wait for admission
    /// before the engine refuses more.
    pub queue_capacity: usize,
    /// Most tokens in one forward pass; long prompts are prefilled in chunks of this
    /// size, interleaved with the decoding of other requests.
    pub max_batch_tokens: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            queue_capacity: 64,
            max_batch_tokens: 512,
        }
    }
}

/// Live figures of the engine loop, updated after every forward pass and read by
/// anyone holding [`Engine::stats`] (the server's `/metrics`).
#[derive(Debug, Default)]
pub struct EngineStats {
    batch_sequences: AtomicUsize,
    batch_tokens: AtomicUsize,
    busy_slots: AtomicUsize,
    used_tokens: AtomicUsize,
    cached_tokens: AtomicUsize,
    forward_passes: AtomicU64,
    prompt_tokens_computed: AtomicU64,
    prompt_tokens_reused: AtomicU64,
}

/// A copy of [`EngineStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Sequences (slots) in the last forward pass.
    pub batch_sequences: usize,
    /// Tokens in the last forward pass (decode steps plus prompt chunks).
    pub batch_tokens: usize,
    /// Slots that belong to admitted requests.
    pub busy_slots: usize,
    /// Tokens in the KV cache of busy slots.
    pub used_tokens: usize,
    /// Tokens kept in free slots for the prompt cache.
    pub cached_tokens: usize,
    pub forward_passes: u64,
    /// Prompt tokens the model computed.
    pub prompt_tokens_computed: u64,
    /// Prompt tokens taken from the prompt cache instead.
    pub prompt_tokens_reused: u64,
}

impl EngineStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |a: &AtomicUsize| a.load(Ordering::Relaxed);
        let get64 = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            batch_sequences: get(&self.batch_sequences),
            batch_tokens: get(&self.batch_tokens),
            busy_slots: get(&self.busy_slots),
            used_tokens: get(&self.used_tokens),
            cached_tokens: get(&self.cached_tokens),
            forward_passes: get64(&self.forward_passes),
            prompt_tokens_computed: get64(&self.prompt_tokens_computed),
            prompt_tokens_reused: get64(&self.prompt_tokens_reused),
        }
    }

    pub(crate) fn record_pass(&self, sequences: usize, tokens: usize, prompt_tokens: usize) {
        self.batch_sequences.store(sequences, Ordering::Relaxed);
        self.batch_tokens.store(tokens, Ordering::Relaxed);
        self.forward_passes.fetch_add(1, Ordering::Relaxed);
        self.prompt_tokens_computed
            .fetch_add(prompt_tokens as u64, Ordering::Relaxed);
    }

    pub(crate) fn record_reuse(&self, tokens: usize) {
        self.prompt_tokens_reused
            .fetch_add(tokens as u64, Ordering::Relaxed);
    }

    pub(crate) fn record_cache(&self, busy_slots: usize, used: usize, cached: usize) {
        self.busy_slots.store(busy_slots, Ordering::Relaxed);
        self.used_tokens.store(used, Ordering::Relaxed);
        self.cached_tokens.store(cached, Ordering::Relaxed);
    }
}

/// Fixed facts about a running engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineInfo {
    pub slots: usize,
    pub max_len: usize,
    pub vocab_size: usize,
}

/// A handle to the engine thread. Dropping it lets the thread finish the requests it
/// holds and stop.
pub struct Engine {
    commands: Option<mpsc::SyncSender<Vec<scheduler::Job>>>,
    thread: Option<JoinHandle<()>>,
    info: EngineInfo,
    queue_capacity: usize,
    stats: Arc<EngineStats>,
}

impl Engine {
    /// Start the engine thread over a model.
    pub fn start(decoder: Box<dyn Decoder>, vocab: Arc<dyn Vocab>, options: EngineOptions) -> Self {
        let info = EngineInfo {
            slots: decoder.slots(),
            max_len: decoder.max_len(),
            vocab_size: decoder.vocab_size(),
        };
        let queue_capacity = options.queue_capacity.max(1);
        let (tx, rx) = mpsc::sync_channel(queue_capacity);
        let stats = Arc::new(EngineStats::default());
        let loop_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("verimath-engine".into())
            .spawn(move || scheduler::run(decoder, vocab, options, loop_stats, rx))
            .ok();
        Engine {
            commands: thread.as_ref().map(|_| tx),
            thread,
            info,
            queue_capacity,
            stats,
        }
    }

    pub fn info(&self) -> EngineInfo {
        self.info
    }

    /// The loop's live figures: batch, cache use, prompt tokens computed and reused.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Queue a request. Errors that need no model (bad sizes, full queue) come back
    /// here; everything else arrives as the final [`Event::Done`].
    pub fn submit(&self, request: GenerateRequest) -> Result<RequestHandle, EngineError> {
        let mut handles = self.submit_all(vec![request])?;
        handles.pop().ok_or(EngineError::Stopped)
    }

    /// Queue several requests in one message: the loop takes them together, so their
    /// prompts start in the same forward pass (as far as slots and the token budget
    /// allow) however the engine thread is timed. Every request is checked first;
    /// on an error none is queued.
    pub fn submit_all(
        &self,
        requests: Vec<GenerateRequest>,
    ) -> Result<Vec<RequestHandle>, EngineError> {
        for r in &requests {
            self.check(r)?;
        }
        let commands = self.commands.as_ref().ok_or(EngineError::Stopped)?;
        let mut jobs = Vec::with_capacity(requests.len());
        let mut handles = Vec::with_capacity(requests.len());
        for request in requests {
            let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
            let cancelled = Arc::new(AtomicBool::new(false));
            jobs.push(scheduler::Job::new(request, events_tx, cancelled.clone()));
            handles.push(RequestHandle {
                events: events_rx,
                cancelled,
            });
        }
        match commands.try_send(jobs) {
            Ok(()) => Ok(handles),
            Err(mpsc::TrySendError::Full(_)) => Err(EngineError::QueueFull(self.queue_capacity)),
            Err(mpsc::TrySendError::Disconnected(_)) => Err(EngineError::Stopped),
        }
    }

    /// Submit and wait for the result (blocking; not for use inside an async task).
    pub fn generate(&self, request: GenerateRequest) -> Result<GenerateOutput, EngineError> {
        self.submit(request)?.wait()
    }

    fn check(&self, r: &GenerateRequest) -> Result<(), EngineError> {
        if r.prompt.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        if r.prompt.len() >= self.info.max_len {
            return Err(EngineError::PromptTooLong {
                prompt: r.prompt.len(),
                context: self.info.max_len,
            });
        }
        if r.n == 0 {
            return Err(EngineError::ZeroSamples);
        }
        if r.n > self.info.slots {
            return Err(EngineError::TooManySamples {
                n: r.n,
                slots: self.info.slots,
            });
        }
        if r.top_logprobs > MAX_TOP_LOGPROBS {
            return Err(EngineError::TooManyTopLogprobs(r.top_logprobs));
        }
        if let Some(&token) = r
            .prompt
            .iter()
            .find(|&&t| t as usize >= self.info.vocab_size)
        {
            return Err(EngineError::TokenOutOfRange {
                token,
                vocab: self.info.vocab_size,
            });
        }
        r.sampling.validate().map_err(EngineError::InvalidSampling)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Closing the channel tells the loop to stop once its requests are done.
        self.commands.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A submitted request: its events, and cancellation when dropped.
pub struct RequestHandle {
    events: tokio::sync::mpsc::UnboundedReceiver<Event>,
    cancelled: Arc<AtomicBool>,
}

impl RequestHandle {
    /// The next event, waiting for it (blocking). `None` after the last event.
    pub fn next_blocking(&mut self) -> Option<Event> {
        self.events.blocking_recv()
    }

    /// The next event, awaiting it. `None` after the last event.
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Wait for the final result, skipping deltas (blocking).
    pub fn wait(mut self) -> Result<GenerateOutput, EngineError> {
        while let Some(event) = self.next_blocking() {
            if let Event::Done(result) = event {
                return result;
            }
        }
        Err(EngineError::Stopped)
    }

    /// Wait for the final result, skipping deltas.
    pub async fn wait_async(mut self) -> Result<GenerateOutput, EngineError> {
        while let Some(event) = self.next().await {
            if let Event::Done(result) = event {
                return result;
            }
        }
        Err(EngineError::Stopped)
    }

    /// Stop generating for this request; its slots are freed at the next step.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
}

impl Drop for RequestHandle {
    fn drop(&mut self) {
        // Nobody is listening any more: stop spending compute on the request.
        self.cancel();
    }
}

#[cfg(test)]
mod tests;
