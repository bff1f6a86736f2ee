//! `verimath generate`: sample text from a local GGUF model.
//!
//! The prompt goes through the model's chat template (or the plain prompt of a base
//! model) unless `--raw`, which feeds the text as is, with only the BOS token the
//! model's metadata asks for. Text streams to stdout as it is generated; `--json`
//! prints one JSON object at the end instead.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use engine::backend::{default_model_path, LocalLlm, LocalOptions};
use engine::generate::{Event, GenerateOutput, GenerateRequest};
use engine::sampler::SamplingParams;
use llm::Message;
use serde_json::json;

/// Flags of this command.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// GGUF model file [default: $VERIMATH_MODEL, else the installed default model].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Prompt text (a user message, or with --raw the exact text to continue).
    #[arg(long)]
    prompt: String,
    /// Continue the prompt text as is: no chat template, no added text.
    #[arg(long)]
    raw: bool,
    /// Most tokens to generate per sample.
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// Nucleus sampling: keep the most likely tokens up to this probability mass.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Keep only the K most likely tokens (0 = all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Drop tokens less likely than this fraction of the most likely one.
    #[arg(long, default_value_t = 0.0)]
    min_p: f32,
    /// Random seed; sample i uses a stream derived from (seed, i).
    #[arg(long)]
    seed: Option<u64>,
    /// Number of samples of the prompt (they share its prefill).
    #[arg(long, default_value_t = 1)]
    n: usize,
    /// Stop when this text appears (not included in the output); repeatable.
    #[arg(long)]
    stop: Vec<String>,
    /// Print one JSON object with completions, usage and timings.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    if args.n == 0 {
        bail!("--n must be at least 1");
    }
    let path = args.model.clone().unwrap_or_else(default_model_path);
    if !path.exists() {
        bail!(
            "model file {} not found: pass --model PATH, set VERIMATH_MODEL, or install the default model with scripts/setup.sh",
            path.display()
        );
    }
    let mut options = LocalOptions::default();
    // One slot per sample; the cache grows only as far as the sequences do.
    options.load.slots = args.n;
    let llm =
        LocalLlm::load(&path, options).with_context(|| format!("loading {}", path.display()))?;
    let tokenizer = &llm.model().tokenizer;
    let prompt = if args.raw {
        // Only BOS, and only when the metadata asks: an EOS some models' metadata
        // appends would end the text before generation begins.
        let mut ids = tokenizer.encode(&args.prompt, false, false);
        if let (true, Some(bos)) = (tokenizer.adds_bos(), tokenizer.bos()) {
            ids.insert(0, bos);
        }
        ids
    } else {
        llm.tokenize_chat(&[Message::user(args.prompt.clone())])?
    };
    let request = GenerateRequest {
        prompt,
        n: args.n,
        sampling: SamplingParams {
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            min_p: args.min_p,
        },
        seed: args.seed,
        first_index: 0,
        max_tokens: args.max_tokens,
        stop: args.stop.clone(),
        stream: !args.json,
        top_logprobs: 0,
    };
    let mut handle = llm.model().engine.submit(request)?;
    let output = if args.json {
        handle.wait()?
    } else {
        stream_to_stdout(&mut handle, args.n)?
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json_report(&output))?);
    } else {
        let t = &output.timings;
        eprintln!(
            "[{} prompt tokens at {:.1} tok/s, {} generated at {:.1} tok/s]",
            t.prompt_tokens,
            t.prompt_tokens_per_s(),
            t.completion_tokens,
            t.decode_tokens_per_s()
        );
    }
    Ok(0)
}

/// Print sample 0 as it grows; further samples are printed whole once done, since
/// interleaving several streams on one terminal is unreadable.
fn stream_to_stdout(
    handle: &mut engine::generate::RequestHandle,
    n: usize,
) -> anyhow::Result<GenerateOutput> {
    let mut out = std::io::stdout().lock();
    while let Some(event) = handle.next_blocking() {
        match event {
            Event::Delta { index: 0, text, .. } => {
                out.write_all(text.as_bytes())?;
                out.flush()?;
            }
            Event::Delta { .. } => {}
            Event::Done(result) => {
                let output = result?;
                writeln!(out)?;
                for (i, s) in output.samples.iter().enumerate().skip(1) {
                    if n > 1 {
                        writeln!(out, "--- sample {i} ---")?;
                    }
                    writeln!(out, "{}", s.text)?;
                }
                return Ok(output);
            }
        }
    }
    bail!("the engine stopped before answering")
}

fn json_report(o: &GenerateOutput) -> serde_json::Value {
    let completions: Vec<_> = o
        .samples
        .iter()
        .map(|s| {
            json!({
                "text": s.text,
                "token_ids": s.token_ids,
                "finish_reason": s.finish_reason.as_str(),
            })
        })
        .collect();
    json!({
        "completions": completions,
        "usage": {
            "prompt_tokens": o.prompt_tokens,
            "completion_tokens": o.completion_tokens(),
        },
        "timings": {
            "prompt_tokens_per_s": o.timings.prompt_tokens_per_s(),
            "decode_tokens_per_s": o.timings.decode_tokens_per_s(),
        },
    })
}
