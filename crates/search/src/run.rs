//! The search driver: rounds of generate → verify → (meta-verify) → refine for each
//! problem, until a proof passes every verification or the rounds or budget run out.
//!
//! Round 0 asks for `proofs` proofs of the problem. Round r ≥ 1 ranks every proof of
//! the earlier rounds and refines the best `refine` of them, one new proof each, with
//! `critiques` of its verifications in the prompt. Every new proof that follows the
//! protocol is verified `verifications` times; with `meta`, every verification that
//! found issues is judged once by the meta-verifier. The round's plan is computed from
//! stored samples only, so a restarted run plans the same samples and requests only
//! those not stored yet.

use crate::budget::Budget;
use crate::config::SearchConfig;
use crate::events::{emit, EventSender, SearchEvent};
use crate::outcome::{summarize, Outcome, StopReason};
use crate::round::{plan_round, RoundEnd, RoundRunner};
use crate::templates::Templates;
use llm::Llm;
use std::sync::Arc;
use store::{Problem, Store};
use tokio::sync::Semaphore;

/// Errors of the search.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(
        "problem {problem}: {failed} request(s) failed (last error: {last_error}); \
         the samples stored so far are kept: run the same command again to resume"
    )]
    Incomplete {
        problem: String,
        failed: usize,
        last_error: String,
    },
}

/// Shared state of a search, behind an `Arc` so request tasks can hold it.
pub(crate) struct Inner {
    pub generator: Arc<dyn Llm>,
    pub verifier: Arc<dyn Llm>,
    pub generator_model: Option<String>,
    pub verifier_model: Option<String>,
    pub store: Arc<Store>,
    pub templates: Templates,
    pub cfg: SearchConfig,
    pub events: EventSender,
    pub limiter: Semaphore,
    pub budget: Budget,
}

/// A configured proof search over one run database.
#[derive(Clone)]
pub struct Search {
    inner: Arc<Inner>,
}

/// What a search is made of; build with [`Search::new`].
pub struct SearchParts {
    pub generator: Arc<dyn Llm>,
    pub verifier: Arc<dyn Llm>,
    pub generator_model: Option<String>,
    pub verifier_model: Option<String>,
    pub store: Arc<Store>,
    pub templates: Templates,
    pub cfg: SearchConfig,
    pub events: EventSender,
}

impl Search {
    /// Start a search: the time limit counts from here, the token budget counts the
    /// usage already stored in the run.
    pub fn new(parts: SearchParts) -> Result<Search, SearchError> {
        let used = parts.store.usage(None)?.total_tokens();
        let deadline = parts
            .cfg
            .time_limit
            .map(|t| tokio::time::Instant::now() + t);
        let budget = Budget::new(parts.cfg.max_total_tokens, deadline, used);
        if let Ok(json) = serde_json::to_string(&parts.cfg) {
            parts.store.set_config("search", &json)?;
        }
        Ok(Search {
            inner: Arc::new(Inner {
                limiter: Semaphore::new(parts.cfg.concurrency.max(1)),
                generator: parts.generator,
                verifier: parts.verifier,
                generator_model: parts.generator_model,
                verifier_model: parts.verifier_model,
                store: parts.store,
                templates: parts.templates,
                cfg: parts.cfg,
                events: parts.events,
                budget,
            }),
        })
    }

    /// Search every problem, all at once (they share the request limit).
    pub async fn prove_all(&self, problems: &[Problem]) -> Vec<Result<Outcome, SearchError>> {
        futures::future::join_all(problems.iter().map(|p| self.prove(p))).await
    }

    /// Search one problem to the end and summarize it.
    pub async fn prove(&self, problem: &Problem) -> Result<Outcome, SearchError> {
        let inner = &self.inner;
        inner.store.add_problem(problem)?;
        let mut stop = StopReason::RoundsDone;
        for round in 0..=inner.cfg.rounds {
            let stored = inner.store.samples(&problem.key)?;
            if crate::pool::Pool::new(&stored, &inner.cfg)
                .passed()
                .is_some()
            {
                stop = StopReason::Solved;
                break;
            }
            if inner.budget.exhausted() {
                stop = StopReason::Budget;
                break;
            }
            let plan = plan_round(inner, problem, round, &stored);
            if plan.is_empty() {
                stop = StopReason::NoCandidates;
                break;
            }
            emit(
                &inner.events,
                SearchEvent::RoundStarted {
                    problem: problem.key.clone(),
                    round,
                    planned: plan.len() as u32,
                },
            );
            let runner = RoundRunner::new(self.inner.clone(), problem, round, stored);
            match runner.run(plan).await {
                RoundEnd::Complete => {}
                RoundEnd::Solved => {
                    stop = StopReason::Solved;
                    break;
                }
                RoundEnd::OutOfBudget => {
                    stop = StopReason::Budget;
                    break;
                }
                RoundEnd::Failed { failed, last_error } => {
                    return Err(SearchError::Incomplete {
                        problem: problem.key.clone(),
                        failed,
                        last_error,
                    })
                }
            }
        }
        let outcome = summarize(&inner.store, problem, &inner.cfg, stop)?;
        emit(
            &inner.events,
            SearchEvent::ProblemDone {
                problem: problem.key.clone(),
                solved: outcome.solved,
            },
        );
        Ok(outcome)
    }

    /// Tokens used so far by the run (stored usage included).
    pub fn tokens_used(&self) -> u64 {
        self.inner.budget.used()
    }

    /// The shared state, for the other drivers of this crate (labeling).
    pub(crate) fn shared(&self) -> &Arc<Inner> {
        &self.inner
    }
}
