//! Compare greedy generation with llama.cpp's golden outputs, one prompt at a time or
//! all at once, and print where and by how much they depart.
//!
//! `cargo run --release -p engine --example golden_check -- GOLDEN.jsonl [--batched] [--only ID]`

use std::sync::Arc;

use engine::generate::{load_engine, GenerateRequest, LoadOptions};
use serde_json::Value;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let golden = args
        .first()
        .ok_or("usage: golden_check GOLDEN.jsonl [--batched] [--only ID]")?;
    let batched = args.iter().any(|a| a == "--batched");
    let only: Option<u64> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok());
    let lines: Vec<Value> = std::fs::read_to_string(golden)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let lines: Vec<Value> = lines
        .into_iter()
        .filter(|v| only.is_none() || v["id"].as_u64() == only)
        .collect();
    let path = engine::backend::default_model_path();
    let m = Arc::new(load_engine(
        &path,
        LoadOptions {
            slots: 40,
            context: 512,
            ..LoadOptions::default()
        },
    )?);
    let ids = |v: &Value| -> Vec<u32> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_u64())
                    .map(|x| x as u32)
                    .collect()
            })
            .unwrap_or_default()
    };
    let requests: Vec<GenerateRequest> = lines
        .iter()
        .map(|v| GenerateRequest::greedy(ids(&v["prompt_ids"]), ids(&v["completion_ids"]).len()))
        .collect();
    let outputs: Vec<_> = if batched {
        let handles: Vec<_> = requests
            .into_iter()
            .map(|r| m.engine.submit(r))
            .collect::<Result<_, _>>()?;
        handles
            .into_iter()
            .map(|h| h.wait())
            .collect::<Result<_, _>>()?
    } else {
        requests
            .into_iter()
            .map(|r| m.engine.generate(r))
            .collect::<Result<_, _>>()?
    };
    for (v, out) in lines.iter().zip(outputs) {
        let want = ids(&v["completion_ids"]);
        let s = &out.samples[0];
        let first = s.token_ids.iter().zip(&want).position(|(a, b)| a != b);
        match first {
            None => println!("{:>2} ok   ({} tokens)", v["id"], want.len()),
            Some(i) => {
                let top = &v["steps"][i]["top"];
                let best = top[0]["logprob"].as_f64().unwrap_or(0.0);
                let theirs_for_ours = top
                    .as_array()
                    .and_then(|a| {
                        a.iter()
                            .find(|c| c["id"].as_u64() == Some(s.token_ids[i] as u64))
                    })
                    .and_then(|c| c["logprob"].as_f64());
                println!(
                    "{:>2} step {i}: ours {} (our lp {:.3}, llama.cpp's lp for it {:?}), llama.cpp {} (lp {best:.3}, ours for it n/a)",
                    v["id"], s.token_ids[i], s.logprobs[i], theirs_for_ours, want[i]
                );
            }
        }
        println!(
            "   prompt {:.1} tok/s, decode {:.1} tok/s",
            out.timings.prompt_tokens_per_s(),
            out.timings.decode_tokens_per_s()
        );
    }
    Ok(())
}
