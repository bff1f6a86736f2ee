//! The summary of one evaluation run, read from its run database: what was run (the
//! [`EvalInfo`] stored in the run's `config` table under `eval`), and its figures.

use crate::answers::{self, AnswerSummary};
use crate::checker::Checker;
use crate::datasets::Kind;
use crate::proofs::{self, ProofSummary};
use crate::stats::Estimate;
use search::solve::SolveConfig;
use search::SearchConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use store::Store;

/// What an evaluation ran, stored with the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalInfo {
    pub dataset: String,
    pub kind: Kind,
    /// The model that generated, as the backend names it.
    pub model: String,
    /// The verifier (and judge) model.
    #[serde(default)]
    pub verifier_model: String,
}

/// Config key of [`EvalInfo`].
pub const INFO_KEY: &str = "eval";
/// Config key of the wall-clock seconds spent, summed over invocations.
pub const WALL_KEY: &str = "wall_s";

/// Everything `eval --json` prints; the report shows the same.
#[derive(Debug, Clone, Serialize)]
pub struct EvalSummary {
    pub dataset: String,
    pub kind: Kind,
    pub model: String,
    pub problems: usize,
    /// Samples per problem (answer runs) or proofs searched (proof runs).
    pub samples: usize,
    pub metrics: BTreeMap<String, Estimate>,
    pub by_subject: BTreeMap<String, answers::Table>,
    pub by_level: BTreeMap<String, answers::Table>,
    pub tokens: answers::Tokens,
    pub wall_s: f64,
    /// Wall seconds per problem and per correct answer (answer runs).
    pub wall_per_problem_s: f64,
    pub wall_per_correct_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answers: Option<AnswerSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proofs: Option<ProofSummary>,
}

/// Errors reading a run as an evaluation.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("this run database holds no evaluation (made by `verimath eval`, `solve` or `prove`)")]
    NotAnEval,
}

/// Add `seconds` to the run's stored wall time.
pub fn add_wall(store: &Store, seconds: f64) -> store::Result<()> {
    let before: f64 = store
        .config(WALL_KEY)?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    store.set_config(WALL_KEY, &format!("{:.3}", before + seconds))
}

/// Summarise the run in `store`. Runs made by `solve` or `prove` rather than `eval`
/// are summarised too, named `fallback_name`.
pub fn summarize(store: &Store, fallback_name: &str) -> Result<EvalSummary, SummaryError> {
    summarize_only(store, fallback_name, None)
}

/// [`summarize`] over the problems with these keys only (an `eval` invocation reports
/// the problems it selected, though the run may hold more).
pub fn summarize_only(
    store: &Store,
    fallback_name: &str,
    only: Option<&std::collections::HashSet<String>>,
) -> Result<EvalSummary, SummaryError> {
    let info: Option<EvalInfo> = store
        .config(INFO_KEY)?
        .and_then(|s| serde_json::from_str(&s).ok());
    let solve: Option<SolveConfig> = store
        .config("solve")?
        .and_then(|s| serde_json::from_str(&s).ok());
    let search: Option<SearchConfig> = store
        .config("search")?
        .and_then(|s| serde_json::from_str(&s).ok());
    let kind = match (&info, &solve, &search) {
        (Some(i), _, _) => i.kind,
        (None, Some(_), _) => Kind::Answer,
        (None, None, Some(_)) => Kind::Proof,
        _ => return Err(SummaryError::NotAnEval),
    };
    let wall_s: f64 = store
        .config(WALL_KEY)?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    // Wall time is kept for the whole run, so it is shared out over every problem
    // the run holds, whichever of them this summary reports.
    let run_problems = store.problems()?.len().max(1) as f64;
    let (dataset, model) = info
        .map(|i| (i.dataset, i.model))
        .unwrap_or_else(|| (fallback_name.to_string(), String::new()));
    match kind {
        Kind::Answer => {
            let cfg = solve.unwrap_or_default();
            let records = answers::records(store, &cfg, &Checker::new(), only)?;
            let a = answers::summarize(&records, cfg.verify > 0);
            let correct: usize = records.iter().map(|r| r.correct()).sum();
            let samples: usize = records.iter().map(|r| r.n()).sum();
            Ok(EvalSummary {
                dataset,
                kind,
                model,
                problems: a.problems,
                samples: a.samples,
                metrics: a.metrics.clone(),
                by_subject: a.by_subject.clone(),
                by_level: a.by_level.clone(),
                tokens: a.tokens.clone(),
                wall_s,
                wall_per_problem_s: wall_s / run_problems,
                // Wall time per correct sample: what one right answer cost.
                wall_per_correct_s: (correct > 0 && samples > 0)
                    .then(|| wall_s / run_problems * a.problems as f64 / correct as f64),
                answers: Some(a),
                proofs: None,
            })
        }
        Kind::Proof => {
            let cfg = search.unwrap_or_default();
            let records = proofs::records(store, &cfg, only)?;
            let p = proofs::summarize_proofs(&records);
            Ok(EvalSummary {
                dataset,
                kind,
                model,
                problems: p.problems,
                samples: cfg.proofs as usize,
                metrics: p.metrics.clone(),
                by_subject: BTreeMap::new(),
                by_level: BTreeMap::new(),
                tokens: p.tokens.clone(),
                wall_s,
                wall_per_problem_s: wall_s / run_problems,
                wall_per_correct_s: None,
                answers: None,
                proofs: Some(p),
            })
        }
    }
}
