//! `verimath label`: label proofs automatically, as DeepSeekMath-V2 labels its
//! training proofs (see the `search` crate's `label` module): `n` verifications per
//! proof, `m` meta-verifications per verification that found issues, a label when the
//! confirmed analyses agree enough, "needs a human" otherwise.
//!
//! Proofs come from a run (`--run PATH`: every proof it stored, its verifications
//! reused) or from JSONL (`--input F`: `problem` or `question`, `proof`, optional
//! `id`; written to the run database `--run` or a new one). Labels are stored in the
//! run database (config `labels`) and printed, one JSON object per proof with
//! `--json`. When the input carries human grades (`human_rating_normalized`, as the
//! DeepSeekMath-V2 outputs do), the agreement with them is reported too.

use crate::backend::{self, BackendArgs};
use crate::cmd::prove::default_run_path;
use anyhow::Context;
use search::label::{Label, LabelSettings};
use search::{Search, SearchConfig, SearchParts};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use store::{Kind, ParseStatus, Problem, Sample, Store};

/// Flags of `verimath label`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// JSONL of proofs: `problem` (or `question`), `proof`, optional `id` and
    /// `human_rating_normalized`.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Run database: with --input, where the labeling is stored (default: a new file
    /// under ./runs/); alone, the run whose proofs are labelled.
    #[arg(long, value_name = "PATH")]
    run: Option<PathBuf>,
    /// Verifications per proof.
    #[arg(short = 'n', value_name = "N", default_value_t = 4)]
    n: u32,
    /// Meta-verifications per verification that found issues.
    #[arg(short = 'm', value_name = "M", default_value_t = 4)]
    m: u32,
    /// Confirmed analyses needed for a label below 1.
    #[arg(short = 'k', value_name = "K", default_value_t = 2)]
    k: u32,
    /// Label only the first N proofs.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[command(flatten)]
    verifier: crate::cmd::solve::Sampling,
    /// Print one JSON object per proof.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    key: crate::backend::KeyArgs,
}

/// One proof of the input file.
struct InputProof {
    id: String,
    problem: String,
    proof: String,
    human: Option<f64>,
}

fn read_input(path: &PathBuf) -> anyhow::Result<Vec<InputProof>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let where_ = format!("{}:{}", path.display(), i + 1);
        let v: Value =
            serde_json::from_str(line).with_context(|| format!("{where_}: not valid JSON"))?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let problem = field("problem")
            .or_else(|| field("question"))
            .with_context(|| format!("{where_}: needs `problem` (or `question`)"))?;
        let proof = field("proof")
            .or_else(|| {
                v.pointer("/model_prediction/proof")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .with_context(|| format!("{where_}: needs `proof`"))?;
        let id = field("id").unwrap_or_else(|| format!("proof-{}", out.len() + 1));
        out.push(InputProof {
            id,
            problem,
            proof,
            human: v.get("human_rating_normalized").and_then(Value::as_f64),
        });
    }
    if out.is_empty() {
        anyhow::bail!("{}: no proofs", path.display());
    }
    Ok(out)
}

/// The input proof as the stored proof `{id}/p` of the problem `{id}`.
fn store_input(
    store: &Store,
    p: &InputProof,
    position: usize,
) -> anyhow::Result<(Problem, String)> {
    let mut problem = Problem::statement(&p.id, &p.problem);
    problem.position = position as i64;
    if let Some(h) = p.human {
        problem.info = Some(json!({"human": h}).to_string());
    }
    store.add_problem(&problem)?;
    let id = format!("{}/p", p.id);
    if !store.samples(&problem.key)?.iter().any(|s| s.id == id) {
        let sample = Sample::given_proof(&id, &problem.key, &p.proof);
        store.insert_samples(&problem.key, Kind::Proof, &[sample], Default::default())?;
    }
    Ok((problem, id))
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let settings = LabelSettings {
        n: args.n.max(1),
        m: args.m.max(1),
        k: args.k.max(1),
    };
    let (run_path, from_run) = match (&args.input, &args.run) {
        (Some(_), run) => (run.clone().unwrap_or_else(default_run_path), false),
        (None, Some(run)) => {
            if !run.is_file() {
                anyhow::bail!("no run database at {}", run.display());
            }
            (run.clone(), true)
        }
        (None, None) => anyhow::bail!("give --run PATH (label its proofs) or --input FILE"),
    };
    let store = Arc::new(
        Store::open(&run_path).with_context(|| format!("opening {}", run_path.display()))?,
    );
    // A searched run keeps its settings (the search config is rewritten on start).
    let mut cfg: SearchConfig = match store.config("search")? {
        Some(json) if from_run => {
            serde_json::from_str(&json).context("reading the stored settings")?
        }
        _ => SearchConfig::default(),
    };
    cfg.concurrency = args.verifier.concurrency.max(1);
    cfg.temperature = args.verifier.temperature;
    cfg.max_tokens = args.verifier.max_tokens.or(cfg.max_tokens);
    cfg.batch = cfg.batch.max(1);

    let mut targets: Vec<(Problem, String, Option<f64>)> = Vec::new();
    if let Some(input) = &args.input {
        for (i, p) in read_input(input)?.iter().enumerate() {
            let (problem, id) = store_input(&store, p, i)?;
            targets.push((problem, id, p.human));
        }
    } else {
        for problem in store.problems()? {
            for s in store.samples(&problem.key)? {
                if s.kind == Kind::Proof && s.status == ParseStatus::Ok {
                    targets.push((problem.clone(), s.id.clone(), None));
                }
            }
        }
    }
    if let Some(n) = args.limit {
        targets.truncate(n);
    }
    eprintln!(
        "{} proofs, n = {}, m = {}, k = {}; run database: {} (run the same command again to resume)",
        targets.len(),
        settings.n,
        settings.m,
        settings.k,
        run_path.display()
    );
    let backends = backend::build(&args.key.with(&args.backend))?;
    let templates = args.verifier.templates()?;
    let search = Search::new(SearchParts {
        generator: backends.generator,
        verifier: backends.verifier,
        generator_model: backends.generator_model,
        verifier_model: backends.verifier_model,
        store: store.clone(),
        templates,
        cfg,
        events: None,
    })?;
    let runtime = tokio::runtime::Runtime::new()?;
    let results: Vec<Result<Label, search::SearchError>> = runtime.block_on(async {
        crate::progress::in_order(
            targets.iter().map(|(problem, id, _)| {
                let search = &search;
                async move { search.label(problem, id, settings).await }
            }),
            args.verifier.concurrency.max(1),
        )
        .await
    });
    let mut labels = Vec::new();
    let mut failed = 0;
    for r in &results {
        match r {
            Ok(l) => labels.push(l.clone()),
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
            }
        }
    }
    store.set_config(
        "labels",
        &json!({"settings": settings, "labels": labels}).to_string(),
    )?;
    let humans: Vec<Option<f64>> = targets.iter().map(|t| t.2).collect();
    print(&labels, &humans, args.json);
    Ok(if failed > 0 { 1 } else { 0 })
}

fn print(labels: &[Label], humans: &[Option<f64>], as_json: bool) {
    if as_json {
        for l in labels {
            println!("{}", serde_json::to_string(l).unwrap_or_default());
        }
    } else {
        for l in labels {
            let label = l
                .label
                .map_or("needs a human".to_string(), |v| format!("{v}"));
            println!(
                "{}: {label} ({} verifications, {} confirmed analyses)",
                l.id, l.verifications, l.confirmed
            );
        }
    }
    // Agreement with human grades, where the input has them.
    let pairs: Vec<(Option<f64>, f64)> = labels
        .iter()
        .zip(humans)
        .filter_map(|(l, h)| h.map(|h| (l.label, h)))
        .collect();
    if pairs.is_empty() {
        return;
    }
    let labelled: Vec<(f64, f64)> = pairs
        .iter()
        .filter_map(|(l, h)| l.map(|l| (l, *h)))
        .collect();
    let exact = labelled
        .iter()
        .filter(|(l, h)| (l - h).abs() < 0.25)
        .count();
    let mae =
        labelled.iter().map(|(l, h)| (l - h).abs()).sum::<f64>() / labelled.len().max(1) as f64;
    let summary = json!({
        "graded": pairs.len(),
        "labelled": labelled.len(),
        "needs_human": pairs.len() - labelled.len(),
        "same_grade": exact,
        "mae": mae,
    });
    if as_json {
        println!("{}", json!({ "agreement": summary }));
    } else {
        println!(
            "against human grades: {} of {} labelled, {} the same grade (0 / 0.5 / 1), mean absolute error {:.3}; {} need a human",
            labelled.len(),
            pairs.len(),
            exact,
            mae,
            pairs.len() - labelled.len()
        );
    }
}
