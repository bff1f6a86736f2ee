//! `verimath verify`: grade one given proof K times with the verifier and print each
//! score and the mean.

use crate::backend::{self, BackendArgs};
use anyhow::Context;
use llm::{ChatRequest, FinishReason, Message};
use search::parse::{parse_judgement, parse_proof};
use search::Templates;
use std::path::PathBuf;

/// Flags of `verimath verify`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The problem: a text file, or a JSON/JSONL problem file with one problem.
    #[arg(long, value_name = "P", required_unless_present = "problem")]
    pub problem_file: Option<PathBuf>,
    /// The problem statement itself (instead of --problem-file).
    #[arg(long, conflicts_with = "problem_file")]
    pub problem: Option<String>,
    /// The proof (Markdown/LaTeX). An answer with `## Solution` and `## Self
    /// Evaluation` sections is reduced to its solution.
    #[arg(long, value_name = "F")]
    pub proof_file: PathBuf,
    /// Number of verifications.
    #[arg(short = 'k', long, default_value_t = 4)]
    pub k: u32,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub key: crate::backend::KeyArgs,
    /// Token limit per verification.
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Most verifications asked for in one request (`n`).
    #[arg(long, default_value_t = 16)]
    pub batch: u32,
    /// Directory of prompt templates replacing the built-in ones of the same name.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let statement = read_problem(&args)?;
    let raw_proof = std::fs::read_to_string(&args.proof_file)
        .with_context(|| format!("reading {}", args.proof_file.display()))?;
    let proof = parse_proof(&raw_proof, FinishReason::Stop)
        .proof
        .unwrap_or_else(|| raw_proof.trim().to_string());
    let templates = match &args.templates {
        Some(dir) => Templates::load_dir(dir)?,
        None => Templates::default(),
    };
    let prompt = templates.verification_prompt(&statement, &proof);
    let backends = backend::build(&args.key.with(&args.backend))?;
    let runtime = tokio::runtime::Runtime::new()?;
    let mut remaining = args.k;
    let mut results = Vec::new();
    while remaining > 0 {
        let n = remaining.min(args.batch.max(1));
        let mut request = ChatRequest::new(vec![Message::user(prompt.clone())]);
        request.model = backends.verifier_model.clone();
        request.n = n;
        request.max_tokens = args.max_tokens;
        let response = runtime
            .block_on(backends.verifier.chat(request))
            .context("verification request failed")?;
        for c in response.completions {
            let parsed = parse_judgement(&c.text, c.finish_reason);
            results.push((parsed, c.text));
        }
        remaining -= n;
    }
    let scores: Vec<f64> = results
        .iter()
        .filter_map(|(p, _)| p.score.filter(|_| p.error.is_none()))
        .collect();
    let mean = (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64);
    if args.json {
        let items: Vec<_> = results
            .iter()
            .map(|(p, text)| serde_json::json!({"score": p.score, "error": p.error, "text": text}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"mean_score": mean, "verifications": items})
        );
    } else {
        for (i, (p, _)) in results.iter().enumerate() {
            match (&p.error, p.score) {
                (None, Some(s)) => println!("verification {}: {s}", i + 1),
                (e, _) => println!(
                    "verification {}: unparsable ({})",
                    i + 1,
                    e.as_deref().unwrap_or("no score")
                ),
            }
        }
        match mean {
            Some(m) => println!(
                "mean score: {m:.3} over {} parsed of {}",
                scores.len(),
                results.len()
            ),
            None => println!("mean score: none (no verification was parsable)"),
        }
    }
    Ok(0)
}

/// The problem statement: inline, from a problem file in the inputs layout, or the
/// whole text of a plain file.
fn read_problem(args: &Args) -> anyhow::Result<String> {
    if let Some(p) = &args.problem {
        return Ok(p.clone());
    }
    let path = args
        .problem_file
        .as_ref()
        .context("give --problem-file or --problem")?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let looks_json = text.trim_start().starts_with('{') || text.trim_start().starts_with('[');
    if looks_json {
        let problems = store::parse_problems(&text, &path.display().to_string())?;
        if problems.len() != 1 {
            anyhow::bail!(
                "{} holds {} problems; verify grades a proof of one problem",
                path.display(),
                problems.len()
            );
        }
        return Ok(problems[0].question.clone());
    }
    Ok(text.trim().to_string())
}
