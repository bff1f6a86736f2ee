//! `verimath solve`: final-answer mode, as a stored, resumable run.
//!
//! Samples N solutions of each problem, extracts each final answer, groups equivalent
//! answers with the symbolic checker and reports the plain-majority answer, the
//! verification-weighted answer (each solution verified M times) and the answer
//! weighted by the solutions' self-evaluations, with their support; with a gold answer
//! (`--gold`, or an `answer` field in the input) it also says whether each is correct.
//! Every sample goes to the run database as it arrives; the same `--run` resumes.

use crate::backend::{self, BackendArgs};
use crate::cmd::prove::default_run_path;
use crate::progress::Progress;
use anyhow::Context;
use eval::checker::{grade, Checker};
use search::solve::{SolveConfig, SolveResult, Solver, SolverParts};
use search::Templates;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use store::{Problem, Store};

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
    /// The correct answer, to grade the result (a problem's own `answer` wins).
    #[arg(long, allow_hyphen_values = true)]
    gold: Option<String>,
    #[command(flatten)]
    sampling: SolveArgs,
    /// Run database; the same path resumes (default: a new file under ./runs/).
    #[arg(long, value_name = "PATH")]
    run: Option<PathBuf>,
    /// One JSON object per problem instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    key: crate::backend::KeyArgs,
}

/// The sampling flags that `solve` and `eval` share.
#[derive(clap::Args, Debug, Clone)]
pub struct SolveArgs {
    /// Solutions sampled per problem.
    #[arg(long, default_value_t = 8)]
    pub samples: u32,
    /// Verifications per solution for the weighted vote (0: none).
    #[arg(long, default_value_t = 0)]
    pub verify: u32,
    #[command(flatten)]
    pub sampling: Sampling,
}

/// How a command samples its model: the flags `solve`, `eval`, `calibrate` and
/// `label` share.
#[derive(clap::Args, Debug, Clone)]
pub struct Sampling {
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f32,
    /// Token limit per sample (solution, verification or meta-verification).
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Requests in flight at once over all problems (problems share the engine's
    /// batch up to this many requests).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Directory of prompt templates (each command uses the ones it needs:
    /// `solve.md`, `verification.md`, `meta_verification.md`).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

impl Sampling {
    /// The templates of `--templates`, or the built-in ones.
    pub fn templates(&self) -> anyhow::Result<Templates> {
        Ok(match &self.templates {
            Some(dir) => Templates::load_dir(dir)
                .with_context(|| format!("loading templates from {}", dir.display()))?,
            None => Templates::default(),
        })
    }
}

impl SolveArgs {
    /// The solve settings these flags give.
    pub fn config(&self) -> SolveConfig {
        SolveConfig {
            samples: self.samples.max(1),
            verify: self.verify,
            temperature: self.sampling.temperature,
            max_tokens: self.sampling.max_tokens,
            ..SolveConfig::default()
        }
    }
}

/// Build a solver over `store` from the flags and the built backends.
pub fn solver(
    sampling: &SolveArgs,
    backends: backend::Backends,
    store: Arc<Store>,
    events: search::EventSender,
) -> anyhow::Result<Solver> {
    Ok(Solver::new(SolverParts {
        generator: backends.generator,
        verifier: backends.verifier,
        generator_model: backends.generator_model,
        verifier_model: backends.verifier_model,
        store,
        templates: sampling.sampling.templates()?,
        cfg: sampling.config(),
        checker: Arc::new(Checker::new()),
        events,
        concurrency: sampling.sampling.concurrency,
    })?)
}

fn load_problems(args: &Args) -> anyhow::Result<Vec<Problem>> {
    let mut problems = match (&args.problem, &args.input) {
        (Some(q), None) if !q.trim().is_empty() => vec![Problem::statement("1", q)],
        (None, Some(path)) => store::load_problems(path)?,
        _ => anyhow::bail!("give a problem statement, or a file of problems with --input"),
    };
    for p in &mut problems {
        if p.answer.is_none() {
            p.answer = args.gold.clone();
        }
    }
    Ok(problems)
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let problems = load_problems(&args)?;
    let run_path = args.run.clone().unwrap_or_else(default_run_path);
    let store = Arc::new(
        Store::open(&run_path).with_context(|| format!("opening {}", run_path.display()))?,
    );
    eprintln!(
        "run database: {} (run the same command again to resume)",
        run_path.display()
    );
    let runtime = tokio::runtime::Runtime::new()?;
    let results = runtime.block_on(async {
        let backends = backend::build(&args.key.with(&args.backend))?;
        let (progress, tx) = Progress::start(problems.len());
        let solver = solver(&args.sampling, backends, store, Some(tx))?;
        let checker = Checker::new();
        let results = crate::progress::in_order(
            problems.iter().map(|p| {
                let (solver, progress, checker) = (&solver, &progress, &checker);
                async move {
                    let r = solver.solve(p).await;
                    let ok = r.as_ref().ok().and_then(|r| {
                        grade(
                            p.answer.as_deref(),
                            r.majority_answer().map(|m| m.0),
                            checker,
                        )
                    });
                    progress.problem_done(ok);
                    r
                }
            }),
            crate::progress::problem_window(
                args.sampling.samples,
                args.sampling.sampling.concurrency,
            ),
        )
        .await;
        drop(solver);
        progress.finish().await;
        anyhow::Ok(results)
    })?;
    let checker = Checker::new();
    let mut failures = 0;
    for (problem, result) in problems.iter().zip(results) {
        match result {
            Ok(r) => report(problem, &r, &checker, args.json),
            Err(e) => {
                failures += 1;
                eprintln!("error: {e}");
            }
        }
    }
    Ok(if failures > 0 { 1 } else { 0 })
}

fn report(problem: &Problem, r: &SolveResult, checker: &Checker, as_json: bool) {
    let maj = r.majority_answer();
    let wtd = r.weighted_answer();
    let slf = r.self_weighted_answer();
    let gold = problem.answer.as_deref();
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
            "problem_idx": problem.problem_idx,
            "samples": r.samples.len(),
            "answered": r.samples.iter().filter(|s| s.answer.is_some()).count(),
            "answer": maj.map(|m| m.0),
            "support": maj.map(|m| m.1),
            "weighted_answer": wtd.map(|w| w.0),
            "weighted_support": wtd.map(|w| w.1),
            "weight": weight,
            "self_weighted_answer": slf.map(|s| s.0),
            "vote_disagreement": maj.map(|m| m.0) != wtd.map(|w| w.0),
            "gold": gold,
            "correct": maj_ok,
            "weighted_correct": wtd_ok,
            "groups": groups,
            "mean_scores": r.samples.iter().map(|s| s.mean_score).collect::<Vec<_>>(),
            "self_scores": r.samples.iter().map(|s| s.self_score).collect::<Vec<_>>(),
            "usage": {
                "prompt_tokens": r.usage.prompt_tokens,
                "cached_prompt_tokens": r.usage.cached_prompt_tokens,
                "completion_tokens": r.usage.completion_tokens,
            },
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
    println!("problem {}:", problem.problem_idx);
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
        if maj.map(|m| m.0) != Some(a) {
            println!("  note: the verification-weighted answer differs from the majority");
        }
    }
    for g in r.groups.iter().take(5) {
        println!("    {:>3} x {}", g.members.len(), g.answer);
    }
}
