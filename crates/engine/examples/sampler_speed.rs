//! Time the sampler on a vocabulary the size of Gemma 3's (262,144 logits): greedy
//! (argmax plus the log-probability) and temperature sampling with top-p.
//!
//! `cargo run --release -p engine --example sampler_speed`

use std::time::Instant;

use engine::sampler::{Rng, Sampler, SamplingParams};

fn main() {
    let mut rng = Rng::new(1);
    // Roughly the shape of real logits: a broad base and a few strong candidates.
    let logits: Vec<f32> = (0..262_144)
        .map(|i| (rng.next_f64() as f32) * 8.0 - 4.0 + if i % 9973 == 0 { 12.0 } else { 0.0 })
        .collect();
    for (name, params) in [
        ("greedy", SamplingParams::greedy()),
        ("t=1", SamplingParams::default()),
        (
            "t=0.7 top_p=0.9",
            SamplingParams {
                temperature: 0.7,
                top_p: 0.9,
                ..SamplingParams::default()
            },
        ),
    ] {
        let mut s = Sampler::new(params, 7);
        let runs = 200;
        let t = Instant::now();
        let mut sink = 0u64;
        for _ in 0..runs {
            sink += s.sample(&logits).map(|x| x.token as u64).unwrap_or(0);
        }
        let per = t.elapsed().as_secs_f64() * 1e3 / runs as f64;
        println!("{name:<18} {per:.3} ms per token (checksum {sink})");
    }
}
