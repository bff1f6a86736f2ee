//! `verimath calibrate`: grade proofs that carry human grades (by default the 84 real
//! DeepSeekMath-V2 proofs shipped in `data/`) M times with the verifier and measure how
//! well the verifier's mean score tracks the human grade: Spearman and Kendall
//! correlation, mean absolute error, false-pass and false-fail rates and a confusion
//! table, beside the same figures for the file's own verifier scores.
//!
//! The verifications are a stored run (`--run`): the same command resumes, and
//! `verimath report --run PATH` includes the calibration.

use crate::backend::{self, BackendArgs};
use crate::cmd::prove::default_run_path;
use crate::cmd::solve::{solver, Sampling, SolveArgs};
use crate::progress::Progress;
use anyhow::Context;
use eval::calibration::{self, Calibration, CALIBRATION_KEY};
use std::path::PathBuf;
use std::sync::Arc;
use store::{Kind, Store};

/// Flags of `verimath calibrate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// JSONL of graded proofs: `id`, `problem`, `proof`, `human_rating_normalized`
    /// (0–1) and optionally `average_automatic_rating` (default: the shipped
    /// DeepSeekMath-V2 outputs).
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Verifications per proof.
    #[arg(long, short = 'm', value_name = "M", default_value_t = 4)]
    verifications: u32,
    /// Grade only the first N proofs.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[command(flatten)]
    verifier: Sampling,
    /// Run database; the same path resumes (default: a new file under ./runs/).
    #[arg(long, value_name = "PATH")]
    run: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    key: crate::backend::KeyArgs,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let (text, name) = match &args.input {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
            path.display().to_string(),
        ),
        None => (
            eval::datasets::DEEPSEEK_MATH_V2_OUTPUTS.to_string(),
            "deepseek_math_v2_outputs.jsonl".to_string(),
        ),
    };
    let mut proofs = calibration::parse_graded(&text, &name).map_err(anyhow::Error::msg)?;
    if let Some(n) = args.limit {
        proofs.truncate(n);
    }
    let run_path = args.run.clone().unwrap_or_else(default_run_path);
    let store = Arc::new(
        Store::open(&run_path).with_context(|| format!("opening {}", run_path.display()))?,
    );
    eprintln!(
        "{} proofs x {} verifications; run database: {} (run the same command again to resume)",
        proofs.len(),
        args.verifications,
        run_path.display()
    );
    let backends = backend::build(&args.key.with(&args.backend))?;
    let model = backends
        .verifier_model
        .clone()
        .unwrap_or_else(|| backends.verifier.name());
    store.set_config(CALIBRATION_KEY, &model)?;
    store.set_config("verifications", &args.verifications.to_string())?;
    let problems: Vec<store::Problem> = proofs
        .iter()
        .enumerate()
        .map(|(i, p)| calibration::as_problem(p, i))
        .collect();
    for (p, problem) in proofs.iter().zip(&problems) {
        store.add_problem(problem)?;
        let sample = calibration::as_sample(p);
        let stored = store.samples(&problem.key)?;
        if !stored.iter().any(|s| s.id == sample.id) {
            store.insert_samples(&problem.key, Kind::Proof, &[sample], Default::default())?;
        }
    }
    let sampling = SolveArgs {
        samples: 1,
        verify: args.verifications.max(1),
        sampling: args.verifier.clone(),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let failures = runtime.block_on(async {
        let (progress, tx) = Progress::start(problems.len());
        let solver = solver(&sampling, backends, store.clone(), Some(tx))?;
        let results = crate::progress::in_order(
            problems.iter().map(|p| {
                let (solver, progress) = (&solver, &progress);
                async move {
                    let r = solver.solve(p).await;
                    progress.problem_done(None);
                    r
                }
            }),
            crate::progress::problem_window(sampling.verify, sampling.sampling.concurrency),
        )
        .await;
        drop(solver);
        progress.finish().await;
        let failed = results.iter().filter(|r| r.is_err()).count();
        if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
            eprintln!("error: {e}");
        }
        anyhow::Ok(failed)
    })?;
    let selected: std::collections::HashSet<String> =
        problems.iter().map(|p| p.key.clone()).collect();
    let c = calibration::from_store(&store, Some(&selected))?
        .context("the calibration was not stored")?;
    if args.json {
        println!("{}", serde_json::to_string(&c)?);
    } else {
        print_calibration(&c);
    }
    Ok(if failures > 0 { 1 } else { 0 })
}

fn print_calibration(c: &Calibration) {
    println!(
        "{} proofs, {} verifications each by {} ({} of {} parsed)",
        c.proofs.len(),
        c.verifications,
        c.verifier_model,
        c.parsed,
        c.stored
    );
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    println!(
        "  {:<28} {:>9} {:>8} {:>6} {:>11} {:>11}",
        "verifier", "Spearman", "Kendall", "MAE", "false pass", "false fail"
    );
    let mut rows = vec![("ours", &c.ours)];
    if let Some(r) = &c.reference {
        rows.push(("DeepSeekMath-V2 (reference)", r));
    }
    for (name, a) in rows {
        println!(
            "  {name:<28} {:>9} {:>8} {:>6.3} {:>11} {:>11}",
            opt(a.spearman),
            opt(a.kendall),
            a.mae,
            opt(a.false_pass),
            opt(a.false_fail)
        );
    }
    println!("  confusion (ours), human band by verifier mean <0.25 / 0.25-0.75 / >=0.75:");
    for row in ["fail", "partial", "full"] {
        let r = &c.ours.confusion[row];
        println!("    {row:<8} {:>4} {:>4} {:>4}", r["0"], r["0.5"], r["1"]);
    }
}
