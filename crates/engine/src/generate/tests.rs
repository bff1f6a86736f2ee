//! Scheduler tests against a toy model whose logits depend on the whole cached
//! sequence, so a wrong position, a missing prefix copy or a stale slot changes the
//! output and fails the test.

use std::sync::{Arc, Mutex};

use super::*;

const VOCAB: usize = 40;
const EOS: u32 = 0;

/// A "model" whose cache is the list of tokens per slot and whose logits are a hash
/// of that list: generation is deterministic given the sequence, as with a real model.
struct ToyDecoder {
    slots: Vec<Vec<u32>>,
    max_len: usize,
    stats: Arc<Mutex<Stats>>,
    /// Sequence length after which the end-of-sequence token becomes likely.
    eos_after: usize,
}

#[derive(Default)]
struct Stats {
    /// Largest number of logit rows in one pass, to check that sequences decode together.
    max_batch: usize,
    forwards: usize,
}

impl ToyDecoder {
    fn new(slots: usize, max_len: usize, eos_after: usize) -> (Self, Arc<Mutex<Stats>>) {
        let stats = Arc::new(Mutex::new(Stats::default()));
        let toy = ToyDecoder {
            slots: vec![Vec::new(); slots],
            max_len,
            stats: stats.clone(),
            eos_after,
        };
        (toy, stats)
    }
}

fn hash(seq: &[u32]) -> u64 {
    seq.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &t| {
        (h ^ t as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Logits from a sequence: a spread of values so sampling has real choices, and an
/// end-of-sequence token that only becomes likely late, so samples vary in length.
fn toy_logits(seq: &[u32], eos_after: usize) -> Vec<f32> {
    let h = hash(seq);
    (0..VOCAB as u64)
        .map(|t| {
            let x = (h.rotate_left((t * 7) as u32) ^ t.wrapping_mul(0x9E37_79B9)) % 1000;
            let mut l = x as f32 / 250.0;
            if t == EOS as u64 {
                l = if seq.len() > eos_after { 10.0 } else { -10.0 };
            }
            l
        })
        .collect()
}

impl Decoder for ToyDecoder {
    fn vocab_size(&self) -> usize {
        VOCAB
    }
    fn slots(&self) -> usize {
        self.slots.len()
    }
    fn max_len(&self) -> usize {
        self.max_len
    }
    fn forward(&mut self, batch: &[Step]) -> Result<Vec<Vec<f32>>, String> {
        let mut stats = self.stats.lock().map_err(|e| e.to_string())?;
        stats.forwards += 1;
        stats.max_batch = stats
            .max_batch
            .max(batch.iter().filter(|s| s.want_logits).count());
        let mut out = Vec::new();
        for step in batch {
            let seq = &mut self.slots[step.slot];
            if step.position != seq.len() || step.position >= self.max_len {
                return Err(format!(
                    "slot {} holds {} tokens, got position {}",
                    step.slot,
                    seq.len(),
                    step.position
                ));
            }
            seq.push(step.token);
            if step.want_logits {
                out.push(toy_logits(seq, self.eos_after));
            }
        }
        Ok(out)
    }
    fn copy_prefix(&mut self, src: usize, dst: usize, len: usize) -> Result<(), String> {
        let prefix = self.slots[src][..len].to_vec();
        self.slots[dst] = prefix;
        Ok(())
    }
    fn truncate(&mut self, slot: usize, len: usize) {
        self.slots[slot].truncate(len);
    }
}

/// Token `t` spells a letter; a few tokens spell multi-letter pieces.
struct ToyVocab;

impl Vocab for ToyVocab {
    fn token_bytes(&self, token: u32) -> Vec<u8> {
        match token {
            0 => Vec::new(),
            1 => b" the".to_vec(),
            2 => b"\n".to_vec(),
            3 => "é".as_bytes()[..1].to_vec(),
            4 => "é".as_bytes()[1..].to_vec(),
            t => vec![b'a' + (t % 26) as u8],
        }
    }
    fn is_end_of_generation(&self, token: u32) -> bool {
        token == EOS
    }
}

const EOS_AFTER: usize = 30;

fn engine(slots: usize, max_len: usize) -> (Engine, Arc<Mutex<Stats>>) {
    engine_with_eos(slots, max_len, EOS_AFTER)
}

fn engine_with_eos(slots: usize, max_len: usize, eos_after: usize) -> (Engine, Arc<Mutex<Stats>>) {
    let (toy, stats) = ToyDecoder::new(slots, max_len, eos_after);
    let e = Engine::start(Box::new(toy), Arc::new(ToyVocab), EngineOptions::default());
    (e, stats)
}

fn request(prompt: &[u32], n: usize, temperature: f32, seed: u64, max: usize) -> GenerateRequest {
    GenerateRequest {
        prompt: prompt.to_vec(),
        n,
        sampling: SamplingParams {
            temperature,
            ..SamplingParams::default()
        },
        seed: Some(seed),
        first_index: 0,
        max_tokens: max,
        stop: Vec::new(),
        stream: false,
        top_logprobs: 0,
    }
}

/// What greedy decoding must produce, computed without the engine.
fn reference_greedy(prompt: &[u32], max: usize) -> Vec<u32> {
    let mut seq = prompt.to_vec();
    let mut out = Vec::new();
    while out.len() < max {
        let (t, _) = crate::sampler::argmax(&toy_logits(&seq, EOS_AFTER)).unwrap();
        out.push(t);
        seq.push(t);
        if t == EOS {
            break;
        }
    }
    out
}

#[test]
fn greedy_matches_a_direct_decode() {
    let (e, _) = engine(4, 128);
    let prompt = [5, 6, 7, 8, 9];
    let out = e.generate(request(&prompt, 1, 0.0, 1, 40)).unwrap();
    assert_eq!(out.samples[0].token_ids, reference_greedy(&prompt, 40));
    assert_eq!(out.prompt_tokens, 5);
}

#[test]
fn samples_share_prompt_are_reproducible_and_differ() {
    let (e, max_batch) = engine(8, 128);
    let prompt = [11, 12, 13];
    let a = e.generate(request(&prompt, 4, 1.0, 77, 20)).unwrap();
    let b = e.generate(request(&prompt, 4, 1.0, 77, 20)).unwrap();
    let texts = |o: &GenerateOutput| {
        o.samples
            .iter()
            .map(|s| s.token_ids.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(&a), texts(&b));
    let t = texts(&a);
    assert!(t[0] != t[1] || t[1] != t[2] || t[2] != t[3], "{t:?}");
    // All four samples decoded in the same forward passes.
    assert_eq!(max_batch.lock().unwrap().max_batch, 4);
    let c = e.generate(request(&prompt, 4, 1.0, 78, 20)).unwrap();
    assert_ne!(texts(&a), texts(&c));
}

#[test]
fn concurrent_requests_match_each_alone() {
    let (e, max_batch) = engine(6, 128);
    let prompts: [&[u32]; 3] = [&[5, 9, 2], &[30, 31], &[7; 20]];
    let handles: Vec<_> = prompts
        .iter()
        .map(|p| e.submit(request(p, 2, 0.0, 3, 25)).unwrap())
        .collect();
    for (h, p) in handles.into_iter().zip(prompts) {
        let out = h.wait().unwrap();
        for s in &out.samples {
            assert_eq!(s.token_ids, reference_greedy(p, 25));
        }
    }
    assert!(max_batch.lock().unwrap().max_batch >= 4);
}

#[test]
fn requests_beyond_free_slots_wait_and_then_run() {
    let (e, _) = engine(2, 64);
    let handles: Vec<_> = (0..5)
        .map(|i| e.submit(request(&[10 + i], 2, 0.0, 0, 8)).unwrap())
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let out = h.wait().unwrap();
        assert_eq!(out.samples.len(), 2);
        assert_eq!(
            out.samples[1].token_ids,
            reference_greedy(&[10 + i as u32], 8)
        );
    }
}

#[test]
fn max_tokens_and_context_limit_finish_with_length() {
    let (e, _) = engine(2, 10);
    let out = e.generate(request(&[5, 6], 1, 0.0, 0, 3)).unwrap();
    assert_eq!(out.samples[0].token_ids.len(), 3);
    assert_eq!(out.samples[0].finish_reason, FinishReason::MaxTokens);
    let out = e.generate(request(&[5, 6], 1, 0.0, 0, 100)).unwrap();
    // 2 prompt tokens + 8 generated fill the 10-token context.
    assert_eq!(out.samples[0].token_ids.len(), 8);
    assert_eq!(out.samples[0].finish_reason, FinishReason::ContextLimit);
    assert_eq!(out.samples[0].finish_reason.as_str(), "length");
}

#[test]
fn stop_string_cuts_text_and_stream_matches() {
    let (e, _) = engine(2, 128);
    let prompt = [5, 6, 7];
    let full = e.generate(request(&prompt, 1, 0.0, 0, 30)).unwrap();
    let text = full.samples[0].text.clone();
    assert!(text.len() > 6, "{text:?}");
    // Stop at a piece from the middle of the greedy text.
    let stop = text[3..5].to_string();
    let cut = &text[..text.find(&stop).unwrap()];
    let mut r = request(&prompt, 1, 0.0, 0, 30);
    r.stop = vec![stop];
    r.stream = true;
    let mut h = e.submit(r).unwrap();
    let mut streamed = String::new();
    let result = loop {
        match h.next_blocking().unwrap() {
            Event::Delta { text, .. } => streamed.push_str(&text),
            Event::Done(r) => break r.unwrap(),
        }
    };
    assert_eq!(result.samples[0].text, cut);
    assert_eq!(streamed, cut);
    assert_eq!(result.samples[0].finish_reason, FinishReason::StopString);
}

#[test]
fn end_of_generation_finishes_with_stop() {
    let (e, _) = engine(1, 256);
    let out = e.generate(request(&[5; 20], 1, 0.0, 0, 100)).unwrap();
    let s = &out.samples[0];
    assert_eq!(s.token_ids.last(), Some(&EOS));
    assert_eq!(s.finish_reason, FinishReason::EndOfGeneration);
}

#[test]
fn bad_requests_are_refused_with_clear_errors() {
    let (e, _) = engine(2, 16);
    let err = |r| e.submit(r).err().unwrap();
    assert_eq!(err(request(&[], 1, 0.0, 0, 4)), EngineError::EmptyPrompt);
    assert!(matches!(
        err(request(&[1; 16], 1, 0.0, 0, 4)),
        EngineError::PromptTooLong { .. }
    ));
    assert!(matches!(
        err(request(&[1], 3, 0.0, 0, 4)),
        EngineError::TooManySamples { .. }
    ));
    assert!(matches!(
        err(request(&[99], 1, 0.0, 0, 4)),
        EngineError::TokenOutOfRange { .. }
    ));
    assert!(matches!(
        err(request(&[1], 1, -1.0, 0, 4)),
        EngineError::InvalidSampling(_)
    ));
}

#[test]
fn dropped_request_frees_its_slots() {
    let (e, stats) = engine_with_eos(2, 100_000, usize::MAX);
    let h = e.submit(request(&[5], 2, 1.0, 0, 50_000)).unwrap();
    drop(h);
    // The second request needs both slots: it runs only once the first is dropped.
    let out = e.generate(request(&[6], 2, 0.0, 0, 4)).unwrap();
    assert_eq!(out.samples[0].token_ids.len(), 4);
    assert!(stats.lock().unwrap().forwards < 1000);
}

#[test]
fn splitting_samples_over_requests_keeps_each_sample() {
    let (e, _) = engine(4, 128);
    let prompt = [21, 22, 23];
    let whole = e.generate(request(&prompt, 4, 1.0, 5, 12)).unwrap();
    let mut parts = Vec::new();
    for first in [0, 2] {
        let mut r = request(&prompt, 2, 1.0, 5, 12);
        r.first_index = first;
        parts.extend(e.generate(r).unwrap().samples);
    }
    assert_eq!(whole.samples, parts);
}

/// Prompt tokens the toy model was asked to compute, over all passes.
fn computed(e: &Engine) -> u64 {
    e.stats().prompt_tokens_computed
}

#[test]
fn a_repeated_prompt_is_computed_once() {
    let (e, _) = engine(4, 256);
    let prompt: Vec<u32> = (1..=60).map(|t| 5 + t % 30).collect();
    let first = e.generate(request(&prompt, 2, 1.0, 9, 12)).unwrap();
    assert_eq!(first.timings.cached_prompt_tokens, 0);
    assert_eq!(computed(&e), 60);
    let again = e.generate(request(&prompt, 2, 1.0, 9, 12)).unwrap();
    // All but the last token come from the cache; the samples are the same.
    assert_eq!(again.timings.cached_prompt_tokens, 59);
    assert_eq!(computed(&e), 61);
    assert_eq!(first.samples, again.samples);
    assert_eq!(e.stats().prompt_tokens_reused, 59);
}

#[test]
fn a_shared_beginning_is_reused_and_the_rest_computed() {
    let (e, _) = engine(2, 256);
    let system: Vec<u32> = (0..40).map(|t| 5 + t % 31).collect();
    let a = [system.clone(), vec![7, 8, 9]].concat();
    let b = [system.clone(), vec![9, 8, 7, 6]].concat();
    e.generate(request(&a, 1, 0.0, 1, 10)).unwrap();
    let out = e.generate(request(&b, 1, 0.0, 1, 10)).unwrap();
    assert_eq!(out.timings.cached_prompt_tokens, 40);
    // What comes out is what a fresh engine computes from scratch.
    assert_eq!(out.samples[0].token_ids, reference_greedy(&b, 10));
}

#[test]
fn a_follow_up_turn_reuses_the_previous_answer() {
    let (e, _) = engine(1, 256);
    let prompt = [11, 12, 13, 14];
    let first = e.generate(request(&prompt, 1, 0.0, 1, 8)).unwrap();
    let answer = &first.samples[0].token_ids;
    assert_eq!(answer.len(), 8);
    // The slot fed back all generated tokens but the last.
    let next = [&prompt[..], &answer[..], &[15, 16]].concat();
    let out = e.generate(request(&next, 1, 0.0, 1, 6)).unwrap();
    assert_eq!(out.timings.cached_prompt_tokens, 4 + 7);
    assert_eq!(out.samples[0].token_ids, reference_greedy(&next, 6));
}

#[test]
fn samples_beyond_the_slots_do_not_prefill_the_prompt_again() {
    let (e, _) = engine(2, 256);
    let prompt: Vec<u32> = (0..50).map(|t| 6 + t % 29).collect();
    let whole = {
        let (big, _) = engine(6, 256);
        big.generate(request(&prompt, 6, 1.0, 4, 10))
            .unwrap()
            .samples
    };
    // Six samples over two slots: three parts queued behind each other.
    let handles: Vec<_> = [0, 2, 4]
        .into_iter()
        .map(|first| {
            let mut r = request(&prompt, 2, 1.0, 4, 10);
            r.first_index = first;
            e.submit(r).unwrap()
        })
        .collect();
    let parts: Vec<_> = handles.into_iter().map(|h| h.wait().unwrap()).collect();
    assert_eq!(computed(&e), 50 + 1 + 1);
    let cached: Vec<_> = parts
        .iter()
        .map(|p| p.timings.cached_prompt_tokens)
        .collect();
    assert_eq!(cached, [0, 49, 49]);
    let samples: Vec<_> = parts.into_iter().flat_map(|p| p.samples).collect();
    assert_eq!(samples, whole);
}

#[test]
fn stats_show_the_batch_and_the_cache() {
    let (e, _) = engine_with_eos(3, 1_000_000, usize::MAX);
    let h = e.submit(request(&[5, 6, 7], 3, 1.0, 2, 100_000)).unwrap();
    // Wait until the three samples decode together.
    let mut seen = StatsSnapshot::default();
    for _ in 0..10_000 {
        seen = e.stats();
        if seen.batch_sequences == 3 {
            break;
        }
        std::thread::yield_now();
    }
    assert_eq!(seen.batch_sequences, 3);
    assert_eq!(seen.batch_tokens, 3);
    assert_eq!(seen.busy_slots, 3, "{seen:?}");
    assert!(seen.used_tokens >= 9, "{seen:?}");
    drop(h);
    // Once the request is gone its slots are free but keep their tokens.
    let out = e.generate(request(&[9], 1, 0.0, 0, 1)).unwrap();
    assert_eq!(out.samples[0].token_ids.len(), 1);
    let after = e.stats();
    assert_eq!(after.busy_slots, 0);
    assert!(after.cached_tokens >= 9, "{after:?}");
}

#[test]
fn the_same_prompt_arriving_twice_is_prefilled_once() {
    let (e, _) = engine(4, 512);
    let prompt: Vec<u32> = (0..300).map(|t| 5 + t % 31).collect();
    let fresh = {
        let (other, _) = engine(4, 512);
        other.generate(request(&prompt, 1, 1.0, 3, 8)).unwrap()
    };
    // Submitted together: the second waits for the first's prefill and copies it.
    let a = e.submit(request(&prompt, 1, 1.0, 3, 8)).unwrap();
    let b = e.submit(request(&prompt, 1, 1.0, 3, 8)).unwrap();
    let (a, b) = (a.wait().unwrap(), b.wait().unwrap());
    assert_eq!(computed(&e), 300 + 1);
    assert_eq!(b.timings.cached_prompt_tokens, 299);
    assert_eq!(a.samples, fresh.samples);
    assert_eq!(b.samples, fresh.samples);
}
