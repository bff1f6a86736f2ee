//! Forward-pass throughput of a GGUF model on this machine: prompt processing (one
//! batch per prompt), single-sequence greedy decoding, and 16 sequences that share the
//! prompt decoded as one batch; medians over several runs.
//!
//! ```text
//! cargo run --release -p engine --example forward_speed -- [MODEL.gguf] [PROMPT_TOKENS] [DECODE_TOKENS]
//! ```
//!
//! The model defaults to the test model (`$VERIMATH_TEST_MODEL`, else the cache).
//! Threads: `RAYON_NUM_THREADS`, default all cores (the kernels' team takes rayon's count).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use engine::model::{BatchEntry, Model};

fn default_model() -> PathBuf {
    engine::test_model_path()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().map(PathBuf::from).unwrap_or_else(default_model);
    let n_prompt: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(256);
    let n_decode: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(64);
    const RUNS: usize = 5;

    let t = Instant::now();
    let model = Model::load(Arc::new(gguf::GgufFile::open_resident(&path)?))?;
    let c = model.config();
    println!(
        "{}: {} layers, n_embd {}, vocab {}, loaded in {:.2}s, {} threads",
        path.display(),
        c.n_layer,
        c.n_embd,
        c.n_vocab,
        t.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    // A deterministic pseudo-prompt of ordinary tokens (ids past the special ones).
    let prompt: Vec<u32> = (0..n_prompt)
        .map(|i| 1000 + (i as u32 * 7919) % 20000)
        .collect();

    let mut prompt_rates = Vec::new();
    let mut decode_rates = Vec::new();
    for _ in 0..RUNS {
        let mut cache = model.new_cache(1, n_prompt + n_decode + 1);
        let batch: Vec<BatchEntry> = prompt
            .iter()
            .enumerate()
            .map(|(pos, &token)| BatchEntry {
                slot: 0,
                pos,
                token,
                want_logits: pos + 1 == n_prompt,
            })
            .collect();
        let t = Instant::now();
        let logits = model.forward(&batch, &mut cache)?;
        prompt_rates.push(n_prompt as f64 / t.elapsed().as_secs_f64());

        let mut token = argmax(&logits[0]);
        let t = Instant::now();
        for _ in 0..n_decode {
            let pos = cache.len(0);
            let logits = model.forward(
                &[BatchEntry {
                    slot: 0,
                    pos,
                    token,
                    want_logits: true,
                }],
                &mut cache,
            )?;
            token = argmax(&logits[0]);
        }
        decode_rates.push(n_decode as f64 / t.elapsed().as_secs_f64());
    }
    // 16 sequences sharing the prompt (prefilled once, copied), decoded as one batch.
    const SEQS: usize = 16;
    let mut batch_rates = Vec::new();
    for _ in 0..RUNS {
        let mut cache = model.new_cache(SEQS, n_prompt + n_decode + 1);
        let batch: Vec<BatchEntry> = prompt
            .iter()
            .enumerate()
            .map(|(pos, &token)| BatchEntry {
                slot: 0,
                pos,
                token,
                want_logits: pos + 1 == n_prompt,
            })
            .collect();
        let first = argmax(&model.forward(&batch, &mut cache)?[0]);
        for s in 1..SEQS {
            cache.copy_prefix(0, s, n_prompt)?;
        }
        // Different first tokens so that the sequences diverge.
        let mut tokens: Vec<u32> = (0..SEQS as u32).map(|s| first + s).collect();
        let t = Instant::now();
        for _ in 0..n_decode {
            let batch: Vec<BatchEntry> = tokens
                .iter()
                .enumerate()
                .map(|(slot, &token)| BatchEntry {
                    slot,
                    pos: cache.len(slot),
                    token,
                    want_logits: true,
                })
                .collect();
            let logits = model.forward(&batch, &mut cache)?;
            tokens = logits.iter().map(|l| argmax(l)).collect();
        }
        batch_rates.push((SEQS * n_decode) as f64 / t.elapsed().as_secs_f64());
    }
    println!(
        "prompt ({n_prompt} tokens, one batch): median {:.1} tok/s  (runs: {:.1?})",
        median(prompt_rates.clone()),
        prompt_rates
    );
    println!(
        "decode (1 sequence, {n_decode} tokens after the prompt): median {:.1} tok/s  (runs: {:.1?})",
        median(decode_rates.clone()),
        decode_rates
    );
    println!(
        "decode ({SEQS} sequences in one batch): median {:.1} tok/s in total  (runs: {:.1?})",
        median(batch_rates.clone()),
        batch_rates
    );
    Ok(())
}
