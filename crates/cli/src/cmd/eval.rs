//! `verimath eval`: run a benchmark and report what sampling, verifying and voting buy.
//!
//! Answer datasets: K samples per problem (`solve`'s stored run), each verified M times
//! with `--verify M`, checked against the gold answer; metrics pass@k, maj@K,
//! verification- and self-evaluation-weighted votes, the no-answer rate, per subject
//! and level, tokens and time. Proof datasets: the proof search with K proofs and M
//! verifications each, then a judge grades the best proof 0–7 against the reference
//! solution. Everything is stored in the run database; the same `--run` resumes and
//! requests only what is missing.

use crate::backend::{self, BackendArgs};
use crate::cmd::prove::default_run_path;
use crate::cmd::solve::{solver, SolveArgs};
use crate::progress::Progress;
use anyhow::Context;
use eval::checker::{grade, Checker};
use eval::datasets::{self, Kind, Selection};
use eval::summary::{self, EvalInfo, EvalSummary};
use search::{Search, SearchConfig, SearchParts};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use store::Store;

/// Flags of `verimath eval`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A built-in dataset (gsm8k, math500, aime2024, aime2025, imo-answerbench,
    /// olympiadbench, imo-proofbench, deepseek-math-v2, putnambench, minif2f) or a
    /// JSON/JSONL file of problems.
    #[arg(long, value_name = "NAME|FILE")]
    dataset: String,
    /// Treat the dataset as answer or proof problems (default: the dataset's own kind;
    /// for a file, answer when most problems have an `answer`).
    #[arg(long, value_enum)]
    kind: Option<KindArg>,
    /// Run at most N problems.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Skip the first N problems.
    #[arg(long, value_name = "N", default_value_t = 0)]
    offset: usize,
    /// With --limit: take problems from every subject and level in proportion.
    #[arg(long)]
    stratified: bool,
    #[command(flatten)]
    sampling: SolveArgs,
    /// Proof datasets: search settings to start from (default: quick locally, heavy
    /// with --backend); --samples and --verify set its proofs and verifications.
    #[arg(long, value_enum)]
    preset: Option<crate::cmd::prove::PresetArg>,
    /// Proof datasets: refinement rounds after the first.
    #[arg(long, value_name = "R")]
    rounds: Option<u32>,
    /// Proof datasets: server of the judge that grades the best proof (default: the
    /// verifier's).
    #[arg(long, value_name = "URL")]
    judge_backend: Option<String>,
    /// Proof datasets: model of the judge (default: the verifier's).
    #[arg(long, value_name = "NAME")]
    judge_model: Option<String>,
    /// Run database; the same path resumes (default: a new file under ./runs/).
    #[arg(long, value_name = "PATH")]
    run: Option<PathBuf>,
    /// Print one JSON object with every figure instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    key: crate::backend::KeyArgs,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum KindArg {
    Answer,
    Proof,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let kind = args.kind.map(|k| match k {
        KindArg::Answer => Kind::Answer,
        KindArg::Proof => Kind::Proof,
    });
    let loaded = datasets::load(&args.dataset, kind)?;
    let problems = datasets::select(
        loaded.problems,
        Selection {
            offset: args.offset,
            limit: args.limit,
            stratified: args.stratified,
        },
    );
    anyhow::ensure!(
        !problems.is_empty(),
        "no problems selected from {}",
        loaded.name
    );
    if loaded.kind == Kind::Answer {
        let missing = problems.iter().filter(|p| p.answer.is_none()).count();
        anyhow::ensure!(
            missing == 0,
            "{missing} of {} problems have no gold `answer`: give them one, or use --kind proof",
            problems.len()
        );
    }
    let run_path = args.run.clone().unwrap_or_else(default_run_path);
    let store = Arc::new(
        Store::open(&run_path).with_context(|| format!("opening {}", run_path.display()))?,
    );
    if let Some(stored) = store.config(summary::INFO_KEY)? {
        let stored: EvalInfo = serde_json::from_str(&stored).context("reading the stored run")?;
        anyhow::ensure!(
            stored.dataset == loaded.name && stored.kind == loaded.kind,
            "{} holds an evaluation of {} ({:?}); use another --run for {}",
            run_path.display(),
            stored.dataset,
            stored.kind,
            loaded.name
        );
    }
    if let Some(stored) = store.config("solve")? {
        let stored: search::solve::SolveConfig = serde_json::from_str(&stored).unwrap_or_default();
        let now = args.sampling.config();
        if (stored.temperature, stored.max_tokens) != (now.temperature, now.max_tokens) {
            eprintln!(
                "warning: {} was sampled with temperature {} and max tokens {:?}; this run asks for {} and {:?}, \
                 so its samples will mix settings (use another --run to keep them apart)",
                run_path.display(),
                stored.temperature,
                stored.max_tokens,
                now.temperature,
                now.max_tokens
            );
        }
    }
    eprintln!(
        "{}: {} problems ({:?}); run database: {} (run the same command again to resume)",
        loaded.name,
        problems.len(),
        loaded.kind,
        run_path.display()
    );
    let started = Instant::now();
    let runtime = tokio::runtime::Runtime::new()?;
    let failures = match loaded.kind {
        Kind::Answer => {
            runtime.block_on(run_answers(&args, &loaded.name, &problems, store.clone()))?
        }
        Kind::Proof => {
            runtime.block_on(run_proofs(&args, &loaded.name, &problems, store.clone()))?
        }
    };
    summary::add_wall(&store, started.elapsed().as_secs_f64())?;
    let selected: std::collections::HashSet<String> =
        problems.iter().map(|p| p.key.clone()).collect();
    let s = summary::summarize_only(&store, &loaded.name, Some(&selected))?;
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        print_summary(&s);
    }
    if failures > 0 {
        eprintln!(
            "warning: {failures} problem(s) are incomplete (failed requests); run the same \
             command again to finish them"
        );
        return Ok(1);
    }
    Ok(0)
}

fn store_info(
    store: &Store,
    dataset: &str,
    kind: Kind,
    model: String,
    verifier: String,
) -> anyhow::Result<()> {
    let info = EvalInfo {
        dataset: dataset.to_string(),
        kind,
        model,
        verifier_model: verifier,
    };
    store.set_config(summary::INFO_KEY, &serde_json::to_string(&info)?)?;
    Ok(())
}

/// The name a model goes by in reports: the requested model name, else the backend's.
fn model_name(requested: &Option<String>, llm: &dyn llm::Llm) -> String {
    requested.clone().unwrap_or_else(|| llm.name())
}

async fn run_answers(
    args: &Args,
    dataset: &str,
    problems: &[store::Problem],
    store: Arc<Store>,
) -> anyhow::Result<usize> {
    let backends = backend::build(&args.key.with(&args.backend))?;
    store_info(
        &store,
        dataset,
        Kind::Answer,
        model_name(&backends.generator_model, backends.generator.as_ref()),
        model_name(&backends.verifier_model, backends.verifier.as_ref()),
    )?;
    let (progress, tx) = Progress::start(problems.len());
    let solver = solver(&args.sampling, backends, store, Some(tx))?;
    let checker = Checker::new();
    let results = crate::progress::in_order(
        problems.iter().map(|p| {
            let solver = &solver;
            let progress = &progress;
            let checker = &checker;
            async move {
                let r = solver.solve(p).await;
                let ok = r.as_ref().ok().and_then(|r| {
                    grade(
                        p.answer.as_deref(),
                        r.majority_answer().map(|m| m.0),
                        checker,
                    )
                });
                progress.problem_done(Some(ok == Some(true)));
                r
            }
        }),
        crate::progress::problem_window(args.sampling.samples, args.sampling.sampling.concurrency),
    )
    .await;
    drop(solver);
    progress.finish().await;
    let mut failures = 0;
    for r in results {
        if let Err(e) = r {
            failures += 1;
            eprintln!("error: {e}");
        }
    }
    Ok(failures)
}

async fn run_proofs(
    args: &Args,
    dataset: &str,
    problems: &[store::Problem],
    store: Arc<Store>,
) -> anyhow::Result<usize> {
    let backends = backend::build(&args.key.with(&args.backend))?;
    let preset = crate::cmd::prove::PresetArg::resolve(args.preset, args.backend.is_local());
    let s = &args.sampling;
    let cfg = SearchConfig {
        proofs: s.samples.max(1),
        verifications: s.verify.max(1),
        rounds: args.rounds.unwrap_or(preset.config().rounds),
        temperature: s.sampling.temperature,
        max_tokens: s.sampling.max_tokens.or(preset.config().max_tokens),
        concurrency: s.sampling.concurrency,
        ..preset.config()
    };
    let judge: Arc<dyn llm::Llm> = match &args.judge_backend {
        Some(url) => {
            let mut b = args.key.with(&args.backend);
            b.backend = Some(url.clone());
            b.verifier_backend = None;
            b.model = args.judge_model.clone().or(backends.verifier_model.clone());
            backend::build(&b)?.generator
        }
        None => backends.verifier.clone(),
    };
    let judge_model = args.judge_model.clone().or(backends.verifier_model.clone());
    store_info(
        &store,
        dataset,
        Kind::Proof,
        model_name(&backends.generator_model, backends.generator.as_ref()),
        model_name(&backends.verifier_model, backends.verifier.as_ref()),
    )?;
    let templates = s.sampling.templates()?;
    let judge_template = match &s.sampling.templates {
        Some(dir) if dir.join("judge.md").is_file() => {
            std::fs::read_to_string(dir.join("judge.md"))?
        }
        _ => eval::proofs::JUDGE_TEMPLATE.to_string(),
    };
    let (progress, tx) = Progress::start(problems.len());
    let search = Search::new(SearchParts {
        generator: backends.generator,
        verifier: backends.verifier,
        generator_model: backends.generator_model,
        verifier_model: backends.verifier_model,
        store: store.clone(),
        templates,
        cfg: cfg.clone(),
        events: Some(tx),
    })?;
    let outcomes = crate::progress::in_order(
        problems.iter().map(|p| {
            let search = &search;
            let progress = &progress;
            async move {
                let o = search.prove(p).await;
                progress.problem_done(o.as_ref().ok().map(|o| o.solved));
                o
            }
        }),
        crate::progress::problem_window(cfg.proofs, cfg.concurrency),
    )
    .await;
    drop(search);
    progress.finish().await;
    let mut failures = 0;
    for o in outcomes {
        if let Err(e) = o {
            failures += 1;
            eprintln!("error: {e}");
        }
    }
    let failed_judgements = eval::proofs::judge_all(
        &store,
        problems,
        &cfg,
        judge.as_ref(),
        judge_model,
        &judge_template,
        s.sampling.max_tokens.or(cfg.max_tokens),
    )
    .await?;
    if failed_judgements > 0 {
        eprintln!("warning: {failed_judgements} judge request(s) failed; run again to grade them");
    }
    Ok(failures + failed_judgements)
}

fn print_summary(s: &EvalSummary) {
    println!(
        "{}: {} problems, {} samples each, model {}",
        s.dataset,
        s.problems,
        s.samples,
        if s.model.is_empty() { "?" } else { &s.model }
    );
    let mut names: Vec<&String> = s.metrics.keys().collect();
    names.sort_by_key(|n| {
        let family = ["pass@", "maj@", "weighted@", "self_weighted@"]
            .iter()
            .position(|f| n.starts_with(f))
            .unwrap_or(4);
        let k: u64 = n
            .rsplit('@')
            .next()
            .and_then(|k| k.parse().ok())
            .unwrap_or(0);
        (family, k)
    });
    for name in names {
        let e = &s.metrics[name];
        println!(
            "  {name:<18} {:>6.1}%  [{:.1}, {:.1}]",
            100.0 * e.value,
            100.0 * e.ci95[0],
            100.0 * e.ci95[1]
        );
    }
    if !s.by_subject.is_empty() {
        println!("  by subject:");
        for (subject, t) in &s.by_subject {
            let p1 = t.metrics.get("pass@1").map_or(0.0, |e| e.value);
            println!(
                "    {subject:<24} {:>3} problems  pass@1 {:>5.1}%",
                t.problems,
                100.0 * p1
            );
        }
    }
    println!(
        "  tokens: {} prompt + {} completion ({:.0} completion per sample); wall {:.0} s ({:.1} s per problem)",
        s.tokens.prompt,
        s.tokens.completion,
        s.tokens.completion_per_sample,
        s.wall_s,
        s.wall_per_problem_s
    );
}
