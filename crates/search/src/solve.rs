//! Final-answer mode: sample solutions, extract their final answers, group equivalent
//! answers, and vote — by plain majority, weighted by verification scores, and
//! weighted by the solutions' own self-evaluations.
//!
//! A solve is a stored run like a proof search: every solution and verification is
//! written to the run database the moment it arrives, under an id planned before it is
//! requested (`{problem}/s{i}`, `{problem}/s{i}/v{j}`), so running it again on the same
//! database requests only what is missing, and the result is computed from the stored
//! samples alone.
//!
//! Answer extraction and equivalence are supplied by the caller through
//! [`AnswerChecker`] (the `answer` crate in the binary), so this crate stays free of
//! the checker and tests can plug in a trivial one. The proof search can use
//! [`answers_disagree`] to notice when its best proofs reach different final answers.

use crate::events::{emit, EventSender, SearchEvent};
use crate::ids;
use crate::request::{store_answers, Job};
use crate::templates::Templates;
use futures::future::join_all;
use llm::{ChatRequest, Llm, Message, Usage};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use store::{Kind, ParseStatus, Problem, Store};
use tokio::sync::Semaphore;

/// Extraction and equivalence of final answers.
pub trait AnswerChecker: Send + Sync {
    /// The final answer of a solution text, if it states one.
    fn extract(&self, text: &str) -> Option<String>;
    /// Are two extracted answers the same? `None`: cannot decide.
    fn equivalent(&self, a: &str, b: &str) -> Option<bool>;
    /// The final answer a proof states outright (boxed, or after "the answer is"),
    /// if any. A proof of a statement usually states none, and the numbers, end marks
    /// and reference tags in its text are not answers. Default: [`Self::extract`].
    fn extract_stated(&self, text: &str) -> Option<String> {
        self.extract(text)
    }
}

/// Sampling settings of one solve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SolveConfig {
    /// Solutions sampled.
    pub samples: u32,
    /// Verifications per solution (0: no verification, the weighted vote equals the
    /// majority vote).
    pub verify: u32,
    pub temperature: f32,
    pub top_p: f32,
    pub max_tokens: Option<u32>,
    /// Most samples asked for in one request (`n`).
    pub batch: u32,
}

impl Default for SolveConfig {
    fn default() -> Self {
        SolveConfig {
            samples: 8,
            verify: 0,
            temperature: 0.7,
            top_p: 1.0,
            max_tokens: None,
            batch: 16,
        }
    }
}

/// One sampled solution, as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Solution {
    pub id: String,
    pub text: String,
    /// Its extracted final answer (from the solution part, not the self-evaluation).
    pub answer: Option<String>,
    /// The score it gave itself (0, 0.5, 1), when its self-evaluation parsed.
    pub self_score: Option<f64>,
    /// Parsed verification scores (0, 0.5 or 1); unparsable verifications are dropped.
    pub scores: Vec<f64>,
    /// Mean of `scores`; `None` when unverified or no verification parsed.
    pub mean_score: Option<f64>,
    pub completion_tokens: u64,
    /// `stop`, `length` or `other`.
    pub finish_reason: String,
}

/// Equivalent answers together.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The answer as first seen.
    pub answer: String,
    /// Indices of the samples in the group.
    pub members: Vec<usize>,
    /// Sum of the members' weights.
    pub weight: f64,
}

/// The result of a solve, computed from the stored samples.
#[derive(Debug, Clone, Serialize)]
pub struct SolveResult {
    pub samples: Vec<Solution>,
    /// Groups, largest first; `weight` is the verification weight.
    pub groups: Vec<Group>,
    /// Index into `groups` of the plain-majority answer.
    pub majority: Option<usize>,
    /// Index into `groups` of the verification-weighted answer.
    pub weighted: Option<usize>,
    /// Index into `groups` of the answer weighted by self-evaluation scores.
    pub self_weighted: Option<usize>,
    /// Token usage of every stored request of the problem.
    pub usage: Usage,
    /// Every planned sample is stored.
    pub complete: bool,
}

impl SolveResult {
    /// The majority answer and its support (members / samples).
    pub fn majority_answer(&self) -> Option<(&str, f64)> {
        self.support(self.majority)
    }

    /// The weighted answer and its support (members / samples).
    pub fn weighted_answer(&self) -> Option<(&str, f64)> {
        self.support(self.weighted)
    }

    /// The self-evaluation-weighted answer and its support.
    pub fn self_weighted_answer(&self) -> Option<(&str, f64)> {
        self.support(self.self_weighted)
    }

    fn support(&self, g: Option<usize>) -> Option<(&str, f64)> {
        let g = &self.groups[g?];
        let n = self.samples.len().max(1) as f64;
        Some((g.answer.as_str(), g.members.len() as f64 / n))
    }
}

/// Errors of a solve: those of the search (the store failed, or requests failed and
/// the samples so far are kept).
pub type SolveError = crate::run::SearchError;

/// What a solver is made of.
pub struct SolverParts {
    pub generator: Arc<dyn Llm>,
    pub verifier: Arc<dyn Llm>,
    pub generator_model: Option<String>,
    pub verifier_model: Option<String>,
    pub store: Arc<Store>,
    pub templates: Templates,
    pub cfg: SolveConfig,
    pub checker: Arc<dyn AnswerChecker>,
    pub events: EventSender,
    /// Requests in flight at once over every problem solved with this solver.
    pub concurrency: usize,
}

/// Final-answer mode over one run database. Cheap to clone; problems solved at the
/// same time share the request limit (and so the engine's batch).
#[derive(Clone)]
pub struct Solver {
    inner: Arc<SolverInner>,
}

struct SolverInner {
    parts: SolverParts,
    limiter: Semaphore,
}

impl Solver {
    /// A solver; records its settings in the run database.
    pub fn new(parts: SolverParts) -> Result<Solver, SolveError> {
        parts.store.set_config("mode", "solve")?;
        if let Ok(json) = serde_json::to_string(&parts.cfg) {
            parts.store.set_config("solve", &json)?;
        }
        Ok(Solver {
            inner: Arc::new(SolverInner {
                limiter: Semaphore::new(parts.concurrency.max(1)),
                parts,
            }),
        })
    }

    /// The run database.
    pub fn store(&self) -> &Arc<Store> {
        &self.inner.parts.store
    }

    /// Sample the solutions of `problem` that are not stored yet, verify every stored
    /// solution up to `verify` times, and vote. Failed requests leave their samples
    /// missing (the result is then incomplete and an error says so); what was stored
    /// stays for the next run.
    pub async fn solve(&self, problem: &Problem) -> Result<SolveResult, SolveError> {
        let p = &self.inner.parts;
        p.store.add_problem(problem)?;
        let key = problem.key.as_str();
        let mut failures: Vec<String> = Vec::new();

        // Solutions.
        let stored = p.store.samples(key)?;
        let have: HashSet<&str> = stored.iter().map(|s| s.id.as_str()).collect();
        let missing: Vec<u32> = (0..p.cfg.samples)
            .filter(|&i| !have.contains(ids::solution_id(key, i).as_str()))
            .collect();
        let resumed = p.cfg.samples - missing.len() as u32;
        if resumed > 0 {
            emit(
                &p.events,
                SearchEvent::Resumed {
                    problem: key.to_string(),
                    samples: resumed,
                },
            );
        }
        let prompt: Arc<str> = p.templates.solve_prompt(&problem.question).into();
        let jobs = ids::chunks(&missing, p.cfg.batch)
            .into_iter()
            .map(|(first, count)| Job {
                kind: Kind::Proof,
                problem_key: key.to_string(),
                round: 0,
                first,
                count,
                ids: (first..first + count)
                    .map(|i| ids::solution_id(key, i))
                    .collect(),
                target_id: None,
                proof_id: None,
                parent_ids: Vec::new(),
                prompt: prompt.clone(),
            });
        let jobs: Vec<Job> = jobs.collect();
        failures.extend(self.run_jobs(jobs).await);

        // Verifications of every stored solution.
        if p.cfg.verify > 0 {
            let stored = p.store.samples(key)?;
            let have: HashSet<&str> = stored.iter().map(|s| s.id.as_str()).collect();
            let mut jobs = Vec::new();
            for s in stored.iter().filter(|s| s.kind == Kind::Proof) {
                let missing: Vec<u32> = (0..p.cfg.verify)
                    .filter(|&j| !have.contains(ids::verification_id(&s.id, j).as_str()))
                    .collect();
                if missing.is_empty() {
                    continue;
                }
                let solution = s.body.as_deref().unwrap_or(&s.text);
                let prompt: Arc<str> = p
                    .templates
                    .verification_prompt(&problem.question, solution)
                    .into();
                for (first, count) in ids::chunks(&missing, p.cfg.batch) {
                    jobs.push(Job {
                        kind: Kind::Verification,
                        problem_key: key.to_string(),
                        round: 0,
                        first,
                        count,
                        ids: (first..first + count)
                            .map(|j| ids::verification_id(&s.id, j))
                            .collect(),
                        target_id: Some(s.id.clone()),
                        proof_id: Some(s.id.clone()),
                        parent_ids: Vec::new(),
                        prompt: prompt.clone(),
                    });
                }
            }
            failures.extend(self.run_jobs(jobs).await);
        }

        let result = self.result(key)?;
        if let Some(last) = failures.last() {
            return Err(SolveError::Incomplete {
                problem: problem.problem_idx.clone(),
                failed: failures.len(),
                last_error: last.clone(),
            });
        }
        Ok(result)
    }

    /// The result of a problem from what is stored (nothing is requested).
    pub fn result(&self, problem_key: &str) -> Result<SolveResult, SolveError> {
        let p = &self.inner.parts;
        let stored = p.store.samples(problem_key)?;
        let u = p.store.usage(Some(problem_key))?;
        Ok(tally(
            &stored,
            &p.cfg,
            p.checker.as_ref(),
            Usage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                cached_prompt_tokens: u.cached_prompt_tokens,
            },
        ))
    }

    /// Send the jobs concurrently (bounded by the solver's limit); the errors of
    /// those that failed.
    async fn run_jobs(&self, jobs: Vec<Job>) -> Vec<String> {
        let results = join_all(jobs.into_iter().map(|job| self.run_job(job))).await;
        results.into_iter().filter_map(Result::err).collect()
    }

    async fn run_job(&self, job: Job) -> Result<(), String> {
        let p = &self.inner.parts;
        let _permit = self
            .inner
            .limiter
            .acquire()
            .await
            .map_err(|_| "request limiter closed".to_string())?;
        let (llm, model) = match job.kind {
            Kind::Proof => (&p.generator, &p.generator_model),
            _ => (&p.verifier, &p.verifier_model),
        };
        emit(
            &p.events,
            SearchEvent::Queued {
                problem: job.problem_key.clone(),
                samples: job.count,
            },
        );
        let mut request = ChatRequest::new(vec![Message::user(job.prompt.to_string())]);
        request.model = model.clone();
        request.n = job.count;
        request.temperature = p.cfg.temperature;
        request.top_p = p.cfg.top_p;
        request.max_tokens = p.cfg.max_tokens;
        let response = match llm.chat(request).await {
            Ok(r) => r,
            Err(e) => {
                let error = e.to_string();
                emit(
                    &p.events,
                    SearchEvent::RequestFailed {
                        problem: job.problem_key.clone(),
                        error: error.clone(),
                    },
                );
                return Err(error);
            }
        };
        let samples = store_answers(&p.store, &p.events, &job, &response)?;
        if samples.len() < job.count as usize {
            return Err(format!(
                "the server returned {} of {} samples",
                samples.len(),
                job.count
            ));
        }
        Ok(())
    }
}

/// The solution part of a final-answer sample: the `## Solution` section when the
/// protocol was followed, else the text before any self-evaluation heading, so the
/// rating box of a self-evaluation is never read as the answer.
pub fn solution_part(sample: &store::Sample) -> &str {
    if sample.status == ParseStatus::Ok {
        if let Some(body) = sample.body.as_deref() {
            return body;
        }
    }
    let text = sample.text.as_str();
    let lower = text.to_ascii_lowercase();
    match lower
        .find("self evaluation")
        .or_else(|| lower.find("self-evaluation"))
    {
        Some(at) => &text[..at],
        None => text,
    }
}

/// Vote over stored samples: the solutions planned by `cfg` that are stored, each
/// with the scores of its stored verifications.
pub fn tally(
    stored: &[store::Sample],
    cfg: &SolveConfig,
    checker: &dyn AnswerChecker,
    usage: Usage,
) -> SolveResult {
    let mut scores: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut verifications = 0u32;
    // Only what `cfg` plans counts: a run that once asked for more samples or
    // verifications reports the same figures as one that asked for exactly these.
    for v in stored
        .iter()
        .filter(|s| s.kind == Kind::Verification && s.idx < cfg.verify)
    {
        verifications += 1;
        if let (Some(t), Some(score)) = (v.target_id.as_deref(), v.score) {
            if v.status == ParseStatus::Ok {
                scores.entry(t).or_default().push(score);
            }
        }
    }
    let mut solutions: Vec<&store::Sample> = stored
        .iter()
        .filter(|s| s.kind == Kind::Proof && s.idx < cfg.samples)
        .collect();
    solutions.sort_by_key(|s| s.idx);
    let samples: Vec<Solution> = solutions
        .iter()
        .map(|s| {
            let sc = scores.remove(s.id.as_str()).unwrap_or_default();
            let mean_score = (!sc.is_empty()).then(|| sc.iter().sum::<f64>() / sc.len() as f64);
            Solution {
                id: s.id.clone(),
                answer: checker.extract(solution_part(s)),
                text: s.text.clone(),
                self_score: s.score,
                scores: sc,
                mean_score,
                completion_tokens: s.completion_tokens.unwrap_or(0),
                finish_reason: s.finish_reason.clone(),
            }
        })
        .collect();
    let answers: Vec<Option<String>> = samples.iter().map(|s| s.answer.clone()).collect();
    // Unverified runs weigh every answer equally, so both votes coincide.
    let weights: Vec<f64> = samples
        .iter()
        .map(|s| {
            if cfg.verify > 0 {
                s.mean_score.unwrap_or(0.0)
            } else {
                1.0
            }
        })
        .collect();
    let groups = group_answers(&answers, &weights, checker);
    // The self-evaluation vote: the same groups, weighed by the self scores.
    let self_weights: Vec<f64> = groups
        .iter()
        .map(|g| {
            g.members
                .iter()
                .map(|&i| samples[i].self_score.unwrap_or(0.0))
                .sum()
        })
        .collect();
    let self_weighted = heaviest(&groups, &self_weights);
    let complete =
        samples.len() as u32 >= cfg.samples && verifications >= cfg.verify * samples.len() as u32;
    SolveResult {
        majority: majority(&groups),
        weighted: weighted(&groups),
        self_weighted,
        groups,
        samples,
        usage,
        complete,
    }
}

/// Index of the group with the largest `weights[g]` (ties: more members, then first).
fn heaviest(groups: &[Group], weights: &[f64]) -> Option<usize> {
    (0..groups.len()).reduce(|best, i| {
        let (wb, wi) = (weights[best], weights[i]);
        if wi > wb || (wi == wb && groups[i].members.len() > groups[best].members.len()) {
            i
        } else {
            best
        }
    })
}

/// Groups answers by equivalence: each answer joins the first group whose
/// representative it is equivalent to. `weights[i]` adds to its group's weight.
pub fn group_answers(
    answers: &[Option<String>],
    weights: &[f64],
    checker: &dyn AnswerChecker,
) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (i, a) in answers.iter().enumerate() {
        let Some(a) = a else { continue };
        let w = weights.get(i).copied().unwrap_or(0.0);
        let found = groups
            .iter_mut()
            .find(|g| g.answer == *a || checker.equivalent(&g.answer, a) == Some(true));
        match found {
            Some(g) => {
                g.members.push(i);
                g.weight += w;
            }
            None => groups.push(Group {
                answer: a.clone(),
                members: vec![i],
                weight: w,
            }),
        }
    }
    // Stable: among equal sizes the answer seen first stays first.
    groups.sort_by_key(|g| std::cmp::Reverse(g.members.len()));
    groups
}

/// Index of the largest group (ties: larger weight, then first seen).
pub fn majority(groups: &[Group]) -> Option<usize> {
    (0..groups.len()).reduce(|best, i| {
        let (b, g) = (&groups[best], &groups[i]);
        if g.members.len() > b.members.len()
            || (g.members.len() == b.members.len() && g.weight > b.weight)
        {
            i
        } else {
            best
        }
    })
}

/// Index of the heaviest group (ties: more members, then first seen).
pub fn weighted(groups: &[Group]) -> Option<usize> {
    (0..groups.len()).reduce(|best, i| {
        let (b, g) = (&groups[best], &groups[i]);
        if g.weight > b.weight || (g.weight == b.weight && g.members.len() > b.members.len()) {
            i
        } else {
            best
        }
    })
}

/// Different final answers among solutions.
#[derive(Debug, Clone, Serialize)]
pub struct Disagreement {
    /// One group per distinct answer, largest first; indices refer to the input.
    pub groups: Vec<Group>,
    /// Inputs in which no final answer was found.
    pub without_answer: Vec<usize>,
}

/// Do these solutions (full texts, such as the top proofs of a search) reach
/// different final answers? Only answers stated outright count
/// ([`AnswerChecker::extract_stated`]). `None` when all stated answers agree, or fewer
/// than two state one.
pub fn answers_disagree(texts: &[&str], checker: &dyn AnswerChecker) -> Option<Disagreement> {
    let answers: Vec<Option<String>> = texts.iter().map(|t| checker.extract_stated(t)).collect();
    let groups = group_answers(&answers, &[], checker);
    if groups.len() < 2 {
        return None;
    }
    let without_answer = (0..texts.len()).filter(|&i| answers[i].is_none()).collect();
    Some(Disagreement {
        groups,
        without_answer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers are the text after "answer:", equal when their trimmed texts match
    /// or both parse to the same number.
    struct Plain;

    impl AnswerChecker for Plain {
        fn extract(&self, text: &str) -> Option<String> {
            text.split("answer:").nth(1).map(|s| s.trim().to_string())
        }
        fn equivalent(&self, a: &str, b: &str) -> Option<bool> {
            match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => Some(x == y),
                _ => Some(a == b),
            }
        }
    }

    fn answers(v: &[&str]) -> Vec<Option<String>> {
        v.iter()
            .map(|s| (!s.is_empty()).then(|| s.to_string()))
            .collect()
    }

    #[test]
    fn groups_equivalent_answers() {
        let g = group_answers(&answers(&["1", "1.0", "2", "", "2", "2"]), &[], &Plain);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].answer, "2");
        assert_eq!(g[0].members, vec![2, 4, 5]);
        assert_eq!(g[1].members, vec![0, 1]);
    }

    #[test]
    fn weighted_vote_can_overrule_majority() {
        let g = group_answers(&answers(&["1", "1", "2"]), &[0.0, 0.5, 1.0], &Plain);
        assert_eq!(g[majority(&g).unwrap()].answer, "1");
        assert_eq!(g[weighted(&g).unwrap()].answer, "2");
    }

    #[test]
    fn disagreement_is_reported() {
        assert!(answers_disagree(&["answer: 3", "answer: 3.0", "no answer"], &Plain).is_none());
        let d = answers_disagree(&["answer: 3", "answer: 4", "none"], &Plain).unwrap();
        assert_eq!(d.groups.len(), 2);
        assert_eq!(d.without_answer, vec![2]);
    }
}
