//! `verimath solve`: final-answer mode.
//!
//! Samples N solutions of a problem, extracts each final answer, groups equivalent
//! answers with the symbolic checker and reports the plain-majority answer and the
//! verification-weighted answer (each solution verified M times), with their support;
//! with a gold answer (`--gold`, or an `answer` field in the input) it also says
//! whether each is correct.

use crate::answer_checker::{boxed, Checker};
use crate::backend::{self, BackendArgs};
use anyhow::Context;
use search::solve::{self, SolveConfig, SolveResult};
use search::Templates;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Flags of `verimath solve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The problem statement.
    #[arg(conflicts_with = "input")]
    problem: Option<String>,
    /// JSON or JSONL problems: `question` (or `problem`), optional `answer` (gold) and
    /// `problem_idx` (or `id`).
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Solutions sampled per problem.
    #[arg(long, default_value_t = 8)]
    samples: u32,
    /// Verifications per solution for the weighted vote (0: none).
    #[arg(long, default_value_t = 0)]
    verify: u32,
    /// The correct answer, to grade the result.
    #[arg(long)]
    gold: Option<String>,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.7)]
    temperature: f32,
    /// Token limit per solution and per verification.
    #[arg(long)]
    max_tokens: Option<u32>,
    /// Directory of prompt templates (the verification prompt is used).
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
    /// One JSON object per problem instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

struct Job {
    id: String,
    question: String,
    gold: Option<String>,
}

fn load_jobs(args: &Args) -> anyhow::Result<Vec<Job>> {
    if let Some(p) = &args.problem {
        anyhow::ensure!(!p.trim().is_empty(), "the problem statement is empty");
        return Ok(vec![Job {
            id: "1".into(),
            question: p.clone(),
            gold: args.gold.clone(),
        }]);
    }
    let path = args
        .input
        .as_ref()
        .context("give a problem statement, or a file of problems with --input")?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let values: Vec<Value> = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(a)) => a,
        Ok(v @ Value::Object(_)) => vec![v],
        _ => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| {
                serde_json::from_str(l)
                    .with_context(|| format!("{}:{}: not a JSON object", path.display(), n + 1))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let as_text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut jobs = Vec::new();
    for (k, v) in values.iter().enumerate() {
        let question = as_text(v.get("question").or_else(|| v.get("problem")))
            .with_context(|| format!("{}: problem {} has no question", path.display(), k + 1))?;
        jobs.push(Job {
            id: as_text(v.get("problem_idx").or_else(|| v.get("id")))
                .unwrap_or_else(|| (k + 1).to_string()),
            question,
            gold: as_text(v.get("answer")).or_else(|| args.gold.clone()),
        });
    }
    anyhow::ensure!(!jobs.is_empty(), "{}: no problems", path.display());
    Ok(jobs)
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let jobs = load_jobs(&args)?;
    let templates = match &args.templates {
        Some(dir) => Templates::load_dir(dir)?,
        None => Templates::default(),
    };
    let backends = backend::build(&args.backend)?;
    let cfg = SolveConfig {
        samples: args.samples.max(1),
        verify: args.verify,
        temperature: args.temperature,
        max_tokens: args.max_tokens,
        generator_model: backends.generator_model.clone(),
        verifier_model: backends.verifier_model.clone(),
    };
    let checker = Checker::new();
    let runtime = tokio::runtime::Runtime::new()?;
    let mut failures = 0;
    for job in &jobs {
        let result = runtime.block_on(solve::solve(
            &job.question,
            backends.generator.as_ref(),
            backends.verifier.as_ref(),
            &templates,
            &cfg,
            &checker,
        ));
        match result {
            Ok(r) => report(job, &r, &checker, args.json),
            Err(e) => {
                failures += 1;
                eprintln!("error: problem {}: {e}", job.id);
            }
        }
    }
    Ok(if failures > 0 { 1 } else { 0 })
}

fn grade(gold: Option<&str>, answer: Option<&str>, checker: &Checker) -> Option<bool> {
    let gold = gold?;
    match answer {
        None => Some(false),
        Some(a) => answer::check(gold, &boxed(a), &checker.opts).equivalent,
    }
}

fn report(job: &Job, r: &SolveResult, checker: &Checker, as_json: bool) {
    let maj = r.majority_answer();
    let wtd = r.weighted_answer();
    let gold = job.gold.as_deref();
    let maj_ok = grade(gold, maj.map(|m| m.0), checker);
    let wtd_ok = grade(gold, wtd.map(|w| w.0), checker);
    let weight = r.weighted.map(|g| r.groups[g].weight);
    if as_json {
        let groups: Vec<Value> = r
            .groups
            .iter()
            .map(|g| json!({"answer": g.answer, "count": g.members.len(), "weight": g.weight}))
            .collect();
        let out = json!({
            "problem_idx": job.id,
            "samples": r.samples.len(),
            "answered": r.samples.iter().filter(|s| s.answer.is_some()).count(),
            "answer": maj.map(|m| m.0),
            "support": maj.map(|m| m.1),
            "weighted_answer": wtd.map(|w| w.0),
            "weighted_support": wtd.map(|w| w.1),
            "weight": weight,
            "gold": gold,
            "correct": maj_ok,
            "weighted_correct": wtd_ok,
            "groups": groups,
            "mean_scores": r.samples.iter().map(|s| s.mean_score).collect::<Vec<_>>(),
            "usage": {"prompt_tokens": r.usage.prompt_tokens, "completion_tokens": r.usage.completion_tokens},
        });
        println!("{out}");
        return;
    }
    let verdict = |ok: Option<bool>| match ok {
        Some(true) => " [correct]",
        Some(false) => " [wrong]",
        None if gold.is_some() => " [undecided]",
        None => "",
    };
    println!("problem {}:", job.id);
    match maj {
        Some((a, s)) => println!(
            "  majority: {a}  (support {:.0}% of {} samples){}",
            100.0 * s,
            r.samples.len(),
            verdict(maj_ok)
        ),
        None => println!("  majority: no answer found in {} samples", r.samples.len()),
    }
    if let (Some((a, s)), Some(w)) = (wtd, weight) {
        println!(
            "  weighted: {a}  (support {:.0}%, weight {w:.2}){}",
            100.0 * s,
            verdict(wtd_ok)
        );
    }
    for g in r.groups.iter().take(5) {
        println!("    {:>3} x {}", g.members.len(), g.answer);
    }
}
