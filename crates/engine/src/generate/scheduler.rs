//! The engine loop: admission, prompt prefill, shared-batch decoding, finishing.
//!
//! Each iteration builds one batch: the last token of every live sample of every
//! admitted request, then as many prompt tokens of requests still prefilling as the
//! token budget allows. One forward pass serves them all. A request is admitted, in
//! arrival order, when enough cache slots are free for all its samples; its prompt is
//! prefilled into the first sample's slot only, and once the prompt's logits arrive
//! the cached prefix is copied to the other slots and every sample draws its first
//! token from those same logits. Finished samples free their slot at once, so queued
//! requests join between steps (continuous batching).
//!
//! A freed slot keeps its cached tokens (the prompt cache). Admission starts a prompt
//! in the free slot that shares the longest beginning with it and prefills only the
//! rest, or copies that beginning from a slot still in use when one holds more; the
//! other samples take the free slots least worth keeping (empty first, then least
//! recently used). A request whose prompt another request is prefilling right now
//! waits for that prefill and copies it, so the same prompt sent twice at once is
//! computed once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;

use super::text::TextState;
use super::{
    Decoder, EngineError, EngineOptions, EngineStats, Event, FinishReason, GenerateOutput,
    GenerateRequest, SampleOutput, Step, Timings, Vocab,
};
use crate::sampler::{derive_seed, fresh_seed, Sampler};

/// A submitted request on its way to the engine thread.
pub(crate) struct Job {
    request: GenerateRequest,
    events: UnboundedSender<Event>,
    cancelled: Arc<AtomicBool>,
    submitted: Instant,
}

impl Job {
    pub fn new(
        request: GenerateRequest,
        events: UnboundedSender<Event>,
        cancelled: Arc<AtomicBool>,
    ) -> Self {
        Job {
            request,
            events,
            cancelled,
            submitted: Instant::now(),
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed) || self.events.is_closed()
    }
}

/// One sample of an admitted request, once the prompt is prefilled.
struct Sample {
    slot: usize,
    sampler: Sampler,
    text: TextState,
    tokens: Vec<u32>,
    logprobs: Vec<f32>,
    top_logprobs: Vec<Vec<(u32, f32)>>,
    finish: Option<FinishReason>,
}

/// An admitted request.
struct Active {
    job: Job,
    /// Slot of each sample; the first one receives the prompt.
    slots: Vec<usize>,
    /// Prompt tokens already in the cache.
    prefilled: usize,
    /// Leading prompt tokens found in the prompt cache at admission.
    reused: usize,
    /// Empty until the prompt's logits arrive.
    samples: Vec<Sample>,
    seed: u64,
    admitted: Instant,
    prefill_done: Option<Instant>,
    last_finish: Option<Instant>,
}

impl Active {
    fn prompt_len(&self) -> usize {
        self.job.request.prompt.len()
    }

    fn is_done(&self) -> bool {
        !self.samples.is_empty() && self.samples.iter().all(|s| s.finish.is_some())
    }
}

/// Who asked for a row of logits in the current batch.
#[derive(Clone, Copy)]
enum Owner {
    /// The last prompt token of request `active`.
    Prompt { active: usize },
    /// Sample `sample` of request `active`.
    Sample { active: usize, sample: usize },
}

struct Loop {
    decoder: Box<dyn Decoder>,
    vocab: Arc<dyn Vocab>,
    options: EngineOptions,
    waiting: VecDeque<Job>,
    active: Vec<Active>,
    /// Free slots, in no particular order.
    free: Vec<usize>,
    /// The tokens whose keys and values each slot holds, free slots included.
    cached: Vec<Vec<u32>>,
    /// When each slot last served a forward pass (in passes), for eviction.
    last_used: Vec<u64>,
    passes: u64,
    stats: Arc<EngineStats>,
}

/// Run the loop until the request channel closes and all requests are answered.
pub(crate) fn run(
    decoder: Box<dyn Decoder>,
    vocab: Arc<dyn Vocab>,
    options: EngineOptions,
    stats: Arc<EngineStats>,
    requests: mpsc::Receiver<Vec<Job>>,
) {
    let slots = decoder.slots();
    let mut state = Loop {
        decoder,
        vocab,
        options,
        waiting: VecDeque::new(),
        active: Vec::new(),
        free: (0..slots).collect(),
        cached: vec![Vec::new(); slots],
        last_used: vec![0; slots],
        passes: 0,
        stats,
    };
    let mut open = true;
    loop {
        if state.active.is_empty() && state.waiting.is_empty() {
            if !open {
                return;
            }
            // Idle: sleep until a request arrives or every handle is gone.
            match requests.recv() {
                Ok(jobs) => state.waiting.extend(jobs),
                Err(_) => return,
            }
        }
        // Take what arrived, but only while the waiting line has room: beyond that,
        // requests stay in the bounded channel and `submit` reports a full queue.
        while open && state.waiting.len() < state.options.queue_capacity.max(1) {
            match requests.try_recv() {
                Ok(jobs) => state.waiting.extend(jobs),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => open = false,
            }
        }
        state.drop_cancelled();
        state.admit();
        if !state.active.is_empty() {
            state.step();
        }
    }
}

impl Loop {
    fn drop_cancelled(&mut self) {
        self.waiting.retain(|job| !job.is_cancelled());
        let mut i = 0;
        while i < self.active.len() {
            if self.active[i].job.is_cancelled() {
                let active = self.active.swap_remove(i);
                self.release(&active.slots);
                self.publish_cache();
            } else {
                i += 1;
            }
        }
    }

    /// Admit waiting requests in arrival order while their samples fit in free slots.
    /// Strict order keeps a large `n` from starving behind a stream of small ones.
    fn admit(&mut self) {
        while let Some(job) = self.waiting.front() {
            let n = job.request.n;
            if n > self.free.len() || self.waits_for_prefill(&job.request.prompt) {
                break;
            }
            let Some(job) = self.waiting.pop_front() else {
                break;
            };
            let (slots, reused) = self.take_slots(&job.request.prompt, n);
            let seed = job.request.seed.unwrap_or_else(fresh_seed);
            self.stats.record_reuse(reused);
            self.active.push(Active {
                job,
                slots,
                prefilled: reused,
                reused,
                samples: Vec::new(),
                seed,
                admitted: Instant::now(),
                prefill_done: None,
                last_finish: None,
            });
        }
    }

    /// Whether a request should wait for a prompt being prefilled now: one that shares
    /// at least [`WAIT_FOR_SHARED`] more leading tokens with `prompt` than any slot
    /// holds yet. Once it is in, this prompt copies that part instead of computing it
    /// again (two requests for the same prompt arriving together).
    fn waits_for_prefill(&self, prompt: &[u32]) -> bool {
        let available = self.best_source(prompt).map_or(0, |(_, shared)| shared);
        self.active
            .iter()
            .filter(|a| a.samples.is_empty() && a.prefilled < a.prompt_len())
            .any(|a| common_prefix(&a.job.request.prompt, prompt) >= available + WAIT_FOR_SHARED)
    }

    /// The slot, free or in use, whose cached tokens share the longest beginning with
    /// `prompt`, and how many they share; free slots win ties (nothing to copy), then
    /// the least worth keeping.
    fn best_source(&self, prompt: &[u32]) -> Option<(usize, usize)> {
        (0..self.cached.len())
            .map(|slot| (slot, common_prefix(&self.cached[slot], prompt)))
            .max_by(|a, b| {
                let free = |s: usize| self.free.contains(&s);
                a.1.cmp(&b.1)
                    .then(free(a.0).cmp(&free(b.0)))
                    .then(self.worth(b.0).cmp(&self.worth(a.0)))
            })
    }

    /// Take `n` free slots for a request. The first receives the prompt: the free
    /// slot that already holds the longest beginning of it, trimmed to that part, or,
    /// when a slot in use holds more, the free slot least worth keeping with that part
    /// copied in. The others are the free slots least worth keeping. Returns the slots
    /// and how many prompt tokens are cached; at least the last prompt token is always
    /// computed, for its logits.
    fn take_slots(&mut self, prompt: &[u32], n: usize) -> (Vec<usize>, usize) {
        let cheapest = |me: &Self| {
            (0..me.free.len())
                .min_by_key(|&i| me.worth(me.free[i]))
                .unwrap_or(0)
        };
        let (mut source, mut shared) = self.best_source(prompt).unwrap_or((0, 0));
        if !self.free.contains(&source) && shared < MIN_COPY {
            // Not worth a copy (a shared BOS): the best free slot instead.
            (source, shared) = self
                .free
                .iter()
                .map(|&s| (s, common_prefix(&self.cached[s], prompt)))
                .max_by(|a, b| a.1.cmp(&b.1).then(self.worth(b.0).cmp(&self.worth(a.0))))
                .unwrap_or((0, 0));
        }
        let mut reused = shared.min(prompt.len().saturating_sub(1));
        let first = match self.free.iter().position(|&s| s == source) {
            Some(i) => self.free.swap_remove(i),
            None => {
                let i = cheapest(self);
                let dst = self.free.swap_remove(i);
                if reused > 0 && self.decoder.copy_prefix(source, dst, reused).is_ok() {
                    self.cached[dst] = self.cached[source][..reused].to_vec();
                } else {
                    reused = 0;
                }
                dst
            }
        };
        self.decoder.truncate(first, reused);
        self.cached[first].truncate(reused);
        let mut slots = vec![first];
        for _ in 1..n {
            let Some(i) = (0..self.free.len()).min_by_key(|&i| self.worth(self.free[i])) else {
                break;
            };
            slots.push(self.free.swap_remove(i));
        }
        (slots, reused)
    }

    /// How much a free slot's content is worth keeping: empty slots are worth nothing,
    /// then the least recently used go first; ties go to the lower slot.
    fn worth(&self, slot: usize) -> (bool, u64, usize) {
        (!self.cached[slot].is_empty(), self.last_used[slot], slot)
    }

    /// Give slots back; what they cached stays for later prompts.
    fn release(&mut self, slots: &[usize]) {
        self.free.extend_from_slice(slots);
    }

    /// Give slots back and forget what they hold (after a failed pass).
    fn release_cleared(&mut self, slots: &[usize]) {
        for &slot in slots {
            self.decoder.clear(slot);
            self.cached[slot].clear();
            self.free.push(slot);
        }
    }

    /// Note what a successful pass wrote to the cache, and publish the loop's figures.
    fn record(&mut self, batch: &[Step], owners: &[Owner]) {
        self.passes += 1;
        let mut sequences = 0;
        for step in batch {
            let tokens = &mut self.cached[step.slot];
            tokens.truncate(step.position);
            tokens.push(step.token);
            if self.last_used[step.slot] != self.passes {
                self.last_used[step.slot] = self.passes;
                sequences += 1;
            }
        }
        // Every sample feeds one token; everything else in the batch is prompt.
        let decoding = owners
            .iter()
            .filter(|o| matches!(o, Owner::Sample { .. }))
            .count();
        let prompt_tokens = batch.len() - decoding;
        self.stats
            .record_pass(sequences, batch.len(), prompt_tokens);
    }

    fn publish_cache(&self) {
        let total: usize = self.cached.iter().map(Vec::len).sum();
        let idle: usize = self.free.iter().map(|&s| self.cached[s].len()).sum();
        let busy = self.cached.len() - self.free.len();
        self.stats.record_cache(busy, total - idle, idle);
    }

    /// One forward pass over every live sample plus a share of pending prompts.
    fn step(&mut self) {
        let (batch, owners) = self.build_batch();
        if batch.is_empty() {
            return;
        }
        let logits = match self.decoder.forward(&batch) {
            Ok(rows) if rows.len() == owners.len() => {
                self.record(&batch, &owners);
                rows
            }
            Ok(rows) => {
                let msg = format!("{} logit rows for {} requests", rows.len(), owners.len());
                return self.fail_all(EngineError::Model(msg));
            }
            Err(msg) => return self.fail_all(EngineError::Model(msg)),
        };
        for (owner, row) in owners.into_iter().zip(logits) {
            match owner {
                Owner::Prompt { active } => self.start_samples(active, &row),
                Owner::Sample { active, sample } => self.advance(active, sample, &row),
            }
        }
        self.finish_done();
        self.publish_cache();
    }

    fn build_batch(&mut self) -> (Vec<Step>, Vec<Owner>) {
        let mut batch = Vec::new();
        let mut owners = Vec::new();
        for (a, active) in self.active.iter().enumerate() {
            for (s, sample) in active.samples.iter().enumerate() {
                if sample.finish.is_some() {
                    continue;
                }
                let Some(&token) = sample.tokens.last() else {
                    continue;
                };
                batch.push(Step {
                    slot: sample.slot,
                    position: active.prompt_len() + sample.tokens.len() - 1,
                    token,
                    want_logits: true,
                });
                owners.push(Owner::Sample {
                    active: a,
                    sample: s,
                });
            }
        }
        // Prompts fill the rest of the token budget; at least one prompt token goes in
        // each step so a full decode batch cannot starve admitted requests.
        let mut budget = self
            .options
            .max_batch_tokens
            .saturating_sub(batch.len())
            .max(1);
        for (a, active) in self.active.iter_mut().enumerate() {
            let prompt = &active.job.request.prompt;
            if budget == 0 || active.prefilled >= prompt.len() {
                continue;
            }
            let take = budget.min(prompt.len() - active.prefilled);
            for pos in active.prefilled..active.prefilled + take {
                let last = pos + 1 == prompt.len();
                batch.push(Step {
                    slot: active.slots[0],
                    position: pos,
                    token: prompt[pos],
                    want_logits: last,
                });
                if last {
                    owners.push(Owner::Prompt { active: a });
                }
            }
            active.prefilled += take;
            budget -= take;
        }
        (batch, owners)
    }

    /// The prompt is cached: share it with every sample's slot and draw first tokens.
    fn start_samples(&mut self, a: usize, logits: &[f32]) {
        let prompt_len = self.active[a].prompt_len();
        let slots = self.active[a].slots.clone();
        for &dst in &slots[1..] {
            if let Err(msg) = self.decoder.copy_prefix(slots[0], dst, prompt_len) {
                return self.fail(a, EngineError::Model(msg));
            }
            self.cached[dst] = self.cached[slots[0]][..prompt_len].to_vec();
        }
        let active = &mut self.active[a];
        let now = Instant::now();
        active.prefill_done = Some(now);
        let request = &active.job.request;
        active.samples = slots
            .iter()
            .enumerate()
            .map(|(i, &slot)| Sample {
                slot,
                sampler: Sampler::new(
                    request.sampling,
                    derive_seed(active.seed, (request.first_index + i) as u64),
                ),
                text: TextState::default(),
                tokens: Vec::new(),
                logprobs: Vec::new(),
                top_logprobs: Vec::new(),
                finish: None,
            })
            .collect();
        if request.max_tokens == 0 {
            for s in &mut active.samples {
                s.finish = Some(FinishReason::MaxTokens);
            }
            active.last_finish = Some(now);
            return;
        }
        for s in 0..slots.len() {
            if self.active[a].samples.is_empty() {
                break; // the request failed while drawing
            }
            self.advance(a, s, logits);
        }
    }

    /// Draw the next token of one sample and decide whether it goes on.
    fn advance(&mut self, a: usize, s: usize, logits: &[f32]) {
        let max_len = self.decoder.max_len();
        let vocab = self.vocab.clone();
        let active = &mut self.active[a];
        let prompt_len = active.job.request.prompt.len();
        let request = &active.job.request;
        // A request that failed earlier in this step has no samples left.
        let Some(sample) = active.samples.get_mut(s).filter(|x| x.finish.is_none()) else {
            return;
        };
        let Some(drawn) = sample.sampler.sample(logits) else {
            let err = EngineError::Model("the model produced no usable logits".into());
            return self.fail(a, err);
        };
        sample.tokens.push(drawn.token);
        sample.logprobs.push(drawn.logprob);
        if request.top_logprobs > 0 {
            sample
                .top_logprobs
                .push(crate::sampler::top_logprobs(logits, request.top_logprobs));
        }
        let mut delta;
        let finish = if vocab.is_end_of_generation(drawn.token) {
            delta = sample.text.finish();
            Some(FinishReason::EndOfGeneration)
        } else {
            let appended = sample
                .text
                .push(&vocab.token_bytes(drawn.token), &request.stop);
            delta = appended.delta;
            if appended.hit_stop {
                Some(FinishReason::StopString)
            } else if sample.tokens.len() >= request.max_tokens {
                Some(FinishReason::MaxTokens)
            } else if prompt_len + sample.tokens.len() >= max_len {
                // The token just drawn would not fit in the cache to be fed back.
                Some(FinishReason::ContextLimit)
            } else {
                None
            }
        };
        if matches!(
            finish,
            Some(FinishReason::MaxTokens | FinishReason::ContextLimit)
        ) {
            delta.push_str(&sample.text.finish());
        }
        if request.stream {
            // A send error means the listener left; the next step cancels the job.
            let _ = active.job.events.send(Event::Delta {
                index: s,
                text: delta,
                token: drawn.token,
                logprob: drawn.logprob,
                top_logprobs: sample.top_logprobs.last().cloned().unwrap_or_default(),
            });
        }
        if let Some(reason) = finish {
            sample.finish = Some(reason);
            active.last_finish = Some(Instant::now());
            let slot = sample.slot;
            self.free.push(slot);
            self.active[a].slots.retain(|&x| x != slot);
        }
    }

    /// Answer and remove every request whose samples have all finished.
    fn finish_done(&mut self) {
        let mut i = 0;
        while i < self.active.len() {
            if !self.active[i].is_done() {
                i += 1;
                continue;
            }
            let active = self.active.swap_remove(i);
            self.release(&active.slots);
            // Published first, so that whoever hears of the answer sees the slots free.
            self.publish_cache();
            let output = output_of(active.job.submitted, active.admitted, &active);
            let _ = active.job.events.send(Event::Done(Ok(output)));
        }
    }

    /// End request `a` with an error. Its entry stays (with no samples left to run)
    /// until the end of the step so the indices of the current batch stay valid.
    fn fail(&mut self, a: usize, err: EngineError) {
        let slots = std::mem::take(&mut self.active[a].slots);
        self.release_cleared(&slots);
        let active = &mut self.active[a];
        let _ = active.job.events.send(Event::Done(Err(err)));
        // Mark the request cancelled so the next iteration drops it.
        active.job.cancelled.store(true, Ordering::Relaxed);
        for s in &mut active.samples {
            s.finish.get_or_insert(FinishReason::EndOfGeneration);
        }
        active.samples.clear();
        active.prefilled = active.prompt_len();
    }

    fn fail_all(&mut self, err: EngineError) {
        for active in std::mem::take(&mut self.active) {
            self.release_cleared(&active.slots);
            let _ = active.job.events.send(Event::Done(Err(err.clone())));
        }
        self.publish_cache();
    }
}

fn output_of(submitted: Instant, admitted: Instant, active: &Active) -> GenerateOutput {
    let prefill_done = active.prefill_done.unwrap_or(admitted);
    let last = active.last_finish.unwrap_or(prefill_done);
    let samples: Vec<SampleOutput> = active
        .samples
        .iter()
        .map(|s| SampleOutput {
            text: s.text.text().to_string(),
            token_ids: s.tokens.clone(),
            logprobs: s.logprobs.clone(),
            top_logprobs: s.top_logprobs.clone(),
            finish_reason: s.finish.unwrap_or(FinishReason::MaxTokens),
        })
        .collect();
    let completion_tokens = samples.iter().map(|s| s.token_ids.len()).sum();
    let started = samples.iter().filter(|s| !s.token_ids.is_empty()).count();
    GenerateOutput {
        prompt_tokens: active.prompt_len(),
        timings: Timings {
            prompt_tokens: active.prompt_len(),
            cached_prompt_tokens: active.reused,
            prompt_time: prefill_done.duration_since(admitted),
            completion_tokens,
            decode_tokens: completion_tokens - started,
            decode_time: last.duration_since(prefill_done),
            queue_time: admitted.duration_since(submitted),
        },
        samples,
    }
}

/// Fewest shared tokens worth copying from a slot still in use.
const MIN_COPY: usize = 16;

/// Leading tokens a prompt being prefilled must share with a new one, beyond what the
/// cache already holds, for the new one to wait and copy them instead of computing.
const WAIT_FOR_SHARED: usize = 64;

/// How many leading tokens two sequences share.
fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
