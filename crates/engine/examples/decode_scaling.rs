//! How one decode step's cost grows with the number of sequences: the model's forward
//! pass alone (no scheduler, no sampling) at 1, 4 and 16 sequences after a shared
//! 128-token prompt, next to the sampler's cost for the same logits.
//!
//! `cargo run --release -p engine --example decode_scaling [-- MODEL.gguf]`

use std::sync::Arc;
use std::time::Instant;

use engine::model::{BatchEntry, Model};
use engine::sampler::{Sampler, SamplingParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(engine::default_model_path);
    let model = Model::load(Arc::new(gguf::GgufFile::open_resident(&path)?))?;
    let prompt: Vec<u32> = (0..128).map(|i| 1000 + (i * 37) % 5000).collect();
    for n in [1usize, 4, 16] {
        let mut cache = model.new_cache(n, 256);
        let entries: Vec<BatchEntry> = prompt
            .iter()
            .enumerate()
            .map(|(pos, &token)| BatchEntry {
                slot: 0,
                pos,
                token,
                want_logits: false,
            })
            .collect();
        model.forward(&entries, &mut cache)?;
        for dst in 1..n {
            cache.copy_prefix(0, dst, prompt.len())?;
        }
        let steps = 8;
        let mut forward = 0.0;
        let mut sampling = 0.0;
        let mut sampler = Sampler::new(SamplingParams::greedy(), 0);
        for step in 0..steps {
            let batch: Vec<BatchEntry> = (0..n)
                .map(|slot| BatchEntry {
                    slot,
                    pos: prompt.len() + step,
                    token: 1000 + slot as u32,
                    want_logits: true,
                })
                .collect();
            let t = Instant::now();
            let logits = model.forward(&batch, &mut cache)?;
            forward += t.elapsed().as_secs_f64();
            let t = Instant::now();
            for row in &logits {
                sampler.sample(row);
            }
            sampling += t.elapsed().as_secs_f64();
        }
        println!(
            "{n:>2} sequences: forward {:.1} ms/step ({:.1} tok/s), sampling {:.2} ms/step",
            forward * 1e3 / steps as f64,
            (n * steps) as f64 / forward,
            sampling * 1e3 / steps as f64
        );
    }
    Ok(())
}
