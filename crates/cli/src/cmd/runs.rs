//! `verimath runs`: read a run database — a readable summary (`show`) or every sample
//! as JSONL (`export`, or `--format deepseek` for the best proof per problem in the
//! layout of DeepSeekMath-V2's outputs, or `sft` / `preference` / `grpo` for training
//! data, see [`super::training`]).

use super::training;
use anyhow::Context;
use clap::Subcommand;
use search::{summarize, Outcome, SearchConfig, StopReason, Templates};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use store::{Kind, Store};

/// Flags of `verimath runs`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    which: Which,
}

#[derive(Subcommand, Debug)]
enum Which {
    /// A readable summary of a run: settings, problems, best proofs, usage.
    Show {
        #[arg(long, value_name = "PATH")]
        run: PathBuf,
    },
    /// Print every sample as JSONL, the best proofs in DeepSeekMath-V2's layout, or
    /// training data (SFT chats, preference pairs, GRPO prompts) as TRL and verl read it.
    Export {
        #[arg(long, value_name = "PATH")]
        run: PathBuf,
        #[arg(long, value_enum, default_value = "samples")]
        format: Format,
        /// Training formats: the mean verification score a proof needs to be an SFT
        /// answer or a chosen proof [default: 1].
        #[arg(long, value_name = "SCORE")]
        min_score: Option<f64>,
        /// Training formats: the prompt templates the run used, to render its prompts
        /// [default: the built-in ones].
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
    },
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum Format {
    /// One line per proof, verification and meta-verification.
    Samples,
    /// One line per problem: question, problem_idx, model_prediction.proof,
    /// average_automatic_rating.
    Deepseek,
    /// Chats for supervised fine-tuning: the best proof of each problem that reaches
    /// --min-score, and its verifications (TRL `messages`).
    Sft,
    /// Proofs at or above --min-score paired with failed proofs of the same problem
    /// (TRL `prompt` / `chosen` / `rejected`), with both scores.
    Preference,
    /// One prompt per problem with its reward source (gold answer or the verifier)
    /// and the observed rewards (TRL `prompt`; verl's `data_source`, `reward_model`).
    Grpo,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    match args.which {
        Which::Show { run } => show(&run),
        Which::Export {
            run,
            format,
            min_score,
            templates,
        } => export(&run, format, min_score, templates.as_deref()),
    }
}

fn open(path: &Path) -> anyhow::Result<(Store, SearchConfig)> {
    if !path.is_file() {
        anyhow::bail!("no run database at {}", path.display());
    }
    let store =
        Store::open_read_only(path).with_context(|| format!("opening {}", path.display()))?;
    // The search stores its settings; they decide what counts as a pass.
    let cfg = match store.config("search")? {
        Some(json) => serde_json::from_str(&json).context("reading the stored settings")?,
        None => SearchConfig::default(),
    };
    Ok((store, cfg))
}

fn outcomes(store: &Store, cfg: &SearchConfig) -> anyhow::Result<Vec<Outcome>> {
    let mut out = Vec::new();
    for p in store.problems()? {
        out.push(summarize(store, &p, cfg, StopReason::Stored)?);
    }
    Ok(out)
}

fn show(path: &Path) -> anyhow::Result<i32> {
    let (store, cfg) = open(path)?;
    println!("run {}", path.display());
    println!(
        "settings: {} proofs × {} verifications, refine {} with {} critiques, up to {} refinement round(s){}",
        cfg.proofs,
        cfg.verifications,
        cfg.refine,
        cfg.critiques,
        cfg.rounds,
        if cfg.meta { ", meta-verification" } else { "" }
    );
    let (p, v, m) = store.counts()?;
    let usage = store.usage(None)?;
    println!(
        "samples: {p} proofs, {v} verifications, {m} meta-verifications; tokens: {} prompt ({} cached) + {} completion in {} requests\n",
        usage.prompt_tokens, usage.cached_prompt_tokens, usage.completion_tokens, usage.requests
    );
    for o in outcomes(&store, &cfg)? {
        let status = if o.solved { "SOLVED" } else { "not solved" };
        let best = o
            .best
            .as_ref()
            .map_or("no parsable proof".to_string(), |b| {
                format!(
                    "best {} (round {}) mean {}",
                    b.proof_id,
                    b.round,
                    b.mean_score.map_or("-".into(), |s| format!("{s:.3}"))
                )
            });
        let question: String = o.question.chars().take(70).collect();
        println!(
            "{:>14}  {status:<10}  rounds 0..={}  {best}\n{:>14}  {question}…",
            o.problem_idx, o.rounds, ""
        );
    }
    Ok(0)
}

fn export(
    path: &Path,
    format: Format,
    min_score: Option<f64>,
    templates: Option<&Path>,
) -> anyhow::Result<i32> {
    let (store, cfg) = open(path)?;
    let layout = match format {
        Format::Sft => Some(training::Layout::Sft),
        Format::Preference => Some(training::Layout::Preference),
        Format::Grpo => Some(training::Layout::Grpo),
        Format::Samples | Format::Deepseek => None,
    };
    if let Some(layout) = layout {
        let templates = match templates {
            Some(dir) => Templates::load_dir(dir)
                .with_context(|| format!("loading templates from {}", dir.display()))?,
            None => Templates::default(),
        };
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let n = training::write(&store, &cfg, &templates, layout, min_score, &mut out)?;
        out.flush()?;
        eprintln!("{n} records");
        return Ok(0);
    }
    let idx: HashMap<String, (String, String)> = store
        .problems()?
        .into_iter()
        .map(|p| (p.key, (p.problem_idx, p.question)))
        .collect();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        Format::Samples => {
            for s in store.all_samples()? {
                let problem_idx = idx.get(&s.problem_key).map(|p| p.0.as_str());
                let line = serde_json::json!({
                    "kind": s.kind.as_str(),
                    "id": s.id,
                    "problem_idx": problem_idx,
                    "round": s.round,
                    "parent_ids": s.parent_ids,
                    "proof_id": s.proof_id,
                    "target_id": s.target_id,
                    "score": s.score,
                    "status": s.status.as_str(),
                    "reason": s.reason,
                    "proof": if s.kind == Kind::Proof { s.body.as_deref() } else { None },
                    "text": s.text,
                });
                writeln!(out, "{line}")?;
            }
        }
        Format::Deepseek => {
            for o in outcomes(&store, &cfg)? {
                let Some(best) = o.best else { continue };
                let line = serde_json::json!({
                    "question": o.question,
                    "problem_idx": o.problem_idx,
                    "model_prediction": {"proof": best.proof},
                    "average_automatic_rating": best.mean_score,
                });
                writeln!(out, "{line}")?;
            }
        }
        Format::Sft | Format::Preference | Format::Grpo => {}
    }
    out.flush()?;
    Ok(0)
}
