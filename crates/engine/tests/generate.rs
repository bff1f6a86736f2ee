//! Generation on the real test model (Gemma 3 270M Q4_K_M), against llama.cpp's
//! greedy outputs in `tests/data` and against itself (batching must not change
//! results, seeds must reproduce them).

use std::path::PathBuf;
use std::sync::OnceLock;

use engine::generate::{
    load_engine, FinishReason, GenerateOutput, GenerateRequest, LoadOptions, LoadedModel,
};
use engine::sampler::SamplingParams;
use serde_json::Value;

/// The engine shared by tests that only need some engine.
fn model() -> &'static LoadedModel {
    static MODEL: OnceLock<LoadedModel> = OnceLock::new();
    MODEL.get_or_init(load)
}

/// A private engine, for tests that compare runs with each other: on the shared one,
/// other tests' requests join the batch, and the batch layout changes how the kernels
/// round (summation order), which may flip a sampled token.
fn load() -> LoadedModel {
    let path = engine::test_model_path();
    assert!(
        path.exists(),
        "test model missing at {}: run scripts/setup.sh or set VERIMATH_TEST_MODEL",
        path.display()
    );
    let options = LoadOptions {
        slots: 16,
        context: 1024,
        ..LoadOptions::default()
    };
    load_engine(&path, options).expect("the test model loads")
}

struct Golden {
    prompt: String,
    prompt_ids: Vec<u32>,
    completion_ids: Vec<u32>,
    /// Per step: (token id, log-probability) of llama.cpp's top candidates.
    top: Vec<Vec<(u32, f64)>>,
}

/// The golden file shipped with the crate's test data (`$VERIMATH_GOLDEN_DIR` overrides).
fn golden_path() -> PathBuf {
    let dir = std::env::var_os("VERIMATH_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data"));
    dir.join("gemma3-270m-greedy.jsonl")
}

fn golden() -> Vec<Golden> {
    let path = golden_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let ids = |v: &Value| -> Vec<u32> {
        v.as_array()
            .expect("id list")
            .iter()
            .map(|x| x.as_u64().expect("id") as u32)
            .collect()
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("golden line is JSON");
            let top = v["steps"]
                .as_array()
                .expect("steps")
                .iter()
                .map(|step| {
                    step["top"]
                        .as_array()
                        .expect("top")
                        .iter()
                        .map(|c| {
                            (
                                c["id"].as_u64().expect("id") as u32,
                                c["logprob"].as_f64().expect("logprob"),
                            )
                        })
                        .collect()
                })
                .collect();
            Golden {
                prompt: v["prompt"].as_str().expect("prompt").to_string(),
                prompt_ids: ids(&v["prompt_ids"]),
                completion_ids: ids(&v["completion_ids"]),
                top,
            }
        })
        .collect()
}

/// At llama.cpp's own departures (other batch layouts, flash attention on/off) its top
/// two candidates are within this gap; `GOLDEN_STRICT=1` demands the same of us.
const STRICT_GAP: f64 = 0.25;
/// The default bound here. This test drives the generation loop on the shared engine,
/// where other tests' requests join the batch and change the kernels' summation order;
/// this model turns such rounding differences into up to ~0.8 in log-probability at
/// near-ties. The strict 0.25 check of the forward pass, with a fixed batch layout, is
/// `golden_gemma3.rs`; wrong equations or a wrong row of logits move far more than 1.
const LOOSE_GAP: f64 = 1.0;

/// Follow llama.cpp's tokens; at the first departure our token must be in its top 5
/// there, within `gap` of its best. Returns the tokens matched before the departure and
/// the departure's own gap, if any.
fn check_against_golden(g: &Golden, ours: &[u32], gap: f64) -> (usize, Option<f64>) {
    for (i, (&a, &b)) in ours.iter().zip(&g.completion_ids).enumerate() {
        if a == b {
            continue;
        }
        let best = g.top[i][0].1;
        match g.top[i].iter().find(|c| c.0 == a).map(|c| best - c.1) {
            Some(d) if d <= gap => return (i, Some(d)),
            _ => panic!(
                "prompt {:?}: step {i} chose {a}, llama.cpp chose {b}; top there: {:?}",
                g.prompt, g.top[i]
            ),
        }
    }
    (ours.len().min(g.completion_ids.len()), None)
}

/// Tokens checked per golden prompt (of 32): enough to pass several non-tied steps,
/// few enough to keep the test quick on a CPU.
const GOLDEN_TOKENS: usize = 16;

#[test]
fn greedy_follows_llama_cpp_on_golden_prompts() {
    let m = model();
    let golden = golden();
    // The tokenizer must give the same prompt ids; the check is only meaningful then.
    for g in &golden {
        assert_eq!(
            m.tokenizer.encode(&g.prompt, true, false),
            g.prompt_ids,
            "{:?}",
            g.prompt
        );
    }
    // All prompts at once: this also exercises a full shared batch.
    let handles: Vec<_> = golden
        .iter()
        .map(|g| {
            m.engine
                .submit(GenerateRequest::greedy(g.prompt_ids.clone(), GOLDEN_TOKENS))
                .expect("submitted")
        })
        .collect();
    let gap = if std::env::var_os("GOLDEN_STRICT").is_some() {
        STRICT_GAP
    } else {
        LOOSE_GAP
    };
    let mut matched = 0;
    let mut wide = Vec::new();
    for (g, h) in golden.iter().zip(handles) {
        let out = h.wait().expect("generated");
        let (n, departure) = check_against_golden(g, &out.samples[0].token_ids, gap);
        matched += n;
        if let Some(d) = departure.filter(|&d| d > STRICT_GAP) {
            wide.push(format!("{:?} at step {n} (gap {d:.3})", g.prompt));
        }
    }
    let total = golden.len() * GOLDEN_TOKENS;
    eprintln!(
        "matched {matched} of {total} golden tokens before departures; departures wider than \
         {STRICT_GAP}: {wide:?}"
    );
    // Departures happen only at near-ties; most tokens must agree.
    assert!(
        matched * 2 > total,
        "only {matched} of {total} tokens matched"
    );
}

fn sampled(prompt: &[u32], n: usize, seed: u64) -> GenerateRequest {
    GenerateRequest {
        prompt: prompt.to_vec(),
        n,
        sampling: SamplingParams::default(),
        seed: Some(seed),
        first_index: 0,
        max_tokens: 16,
        stop: Vec::new(),
        stream: false,
        top_logprobs: 0,
    }
}

fn texts(out: &GenerateOutput) -> Vec<String> {
    out.samples.iter().map(|s| s.text.clone()).collect()
}

#[test]
fn seeded_samples_reproduce_and_differ() {
    let m = &load();
    let prompt = m.tokenizer.encode("Once upon a time", true, false);
    let a = m.engine.generate(sampled(&prompt, 4, 1234)).expect("run 1");
    let b = m.engine.generate(sampled(&prompt, 4, 1234)).expect("run 2");
    assert_eq!(texts(&a), texts(&b));
    let t = texts(&a);
    let distinct: std::collections::HashSet<_> = t.iter().collect();
    assert!(
        distinct.len() >= 2,
        "four samples at temperature 1 were identical: {t:?}"
    );
    assert_eq!(a.prompt_tokens, prompt.len());
}

#[test]
fn concurrent_greedy_requests_match_each_alone() {
    let m = &load();
    // Every prompt is long enough (9+ tokens, 8+ after a shared BOS) for the batch
    // kernel, which rounds differently from the one for fewer than 8 rows: a prompt
    // computed alone must take the same kernel path as in the shared prefill.
    let prompts = [
        "Here is a short fact about Europe. The capital of France is",
        "1, 1, 2, 3, 5, 8, 13,",
        "Here is a function in Python:\ndef fibonacci(n):",
    ];
    let ids: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| m.tokenizer.encode(p, true, false))
        .collect();
    assert!(
        ids.iter().all(|p| p.len() >= 9),
        "prompt lengths {:?}",
        ids.iter().map(Vec::len).collect::<Vec<_>>()
    );
    // Each prompt alone on an engine of its own: on a shared one the prompt cache
    // would hand later prompts the first's cached BOS, and a prompt computed from
    // another row count rounds differently (a 1-row pass takes another kernel path).
    let alone: Vec<Vec<u32>> = ids
        .iter()
        .map(|p| {
            load()
                .engine
                .generate(GenerateRequest::greedy(p.clone(), 12))
                .expect("alone")
                .samples[0]
                .token_ids
                .clone()
        })
        .collect();
    // Submitted in one message, the three prompts share their first pass and then
    // decode together (three rows, the same kernel as one row), however the engine
    // thread is timed. Requests that trickle in can instead put one's decode step in
    // a pass with another's prompt, where the batch kernel rounds it.
    let handles = m
        .engine
        .submit_all(
            ids.iter()
                .map(|p| GenerateRequest::greedy(p.clone(), 12))
                .collect(),
        )
        .expect("submitted");
    for (h, want) in handles.into_iter().zip(alone) {
        assert_eq!(h.wait().expect("together").samples[0].token_ids, want);
    }
}

#[test]
fn stop_string_and_max_tokens_end_samples() {
    let m = model();
    let prompt = m.tokenizer.encode("The capital of France is", true, false);
    let full = m
        .engine
        .generate(GenerateRequest::greedy(prompt.clone(), 20))
        .expect("full");
    let s = &full.samples[0];
    assert_eq!(s.finish_reason, FinishReason::MaxTokens);
    assert_eq!(s.finish_reason.as_str(), "length");
    assert_eq!(s.token_ids.len(), 20);
    // Stop at the first period the greedy text produces.
    let at = s
        .text
        .find('.')
        .expect("the greedy continuation has a period");
    let mut r = GenerateRequest::greedy(prompt, 20);
    r.stop = vec![".".to_string()];
    let cut = m.engine.generate(r).expect("with stop");
    assert_eq!(cut.samples[0].text, s.text[..at]);
    assert_eq!(cut.samples[0].finish_reason, FinishReason::StopString);
    assert!(cut.timings.decode_tokens_per_s() > 0.0);
}
