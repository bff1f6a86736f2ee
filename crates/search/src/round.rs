//! One round of one problem: plan its proofs, request what is not stored, verify each
//! proof as soon as it arrives, meta-verify critiques, and stop early when a proof
//! passes every verification.

use crate::events::{emit, SearchEvent};
use crate::ids::{chunks, meta_id, proof_id, verification_id};
use crate::pool::{choose_critiques, verification_plan, Pool};
use crate::request::{run_job, Job, JobResult};
use crate::run::Inner;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use store::{Kind, ParseStatus, Problem, Sample};
use tokio::task::JoinSet;

/// A proof the round will make.
#[derive(Debug, Clone)]
pub(crate) struct PlannedProof {
    pub idx: u32,
    pub id: String,
    pub parents: Vec<String>,
    pub prompt: Arc<str>,
}

/// The proofs of `round`, computed from stored samples only: round 0 asks for
/// `proofs` fresh proofs; later rounds refine the best `refine` proofs of earlier
/// rounds, each with its chosen critiques.
pub(crate) fn plan_round(
    inner: &Inner,
    problem: &Problem,
    round: u32,
    stored: &[Sample],
) -> Vec<PlannedProof> {
    let cfg = &inner.cfg;
    if round == 0 {
        let prompt: Arc<str> = inner.templates.generation_prompt(&problem.question).into();
        return (0..cfg.proofs)
            .map(|idx| PlannedProof {
                idx,
                id: proof_id(&problem.key, 0, idx),
                parents: Vec::new(),
                prompt: prompt.clone(),
            })
            .collect();
    }
    let pool = Pool::new(stored, cfg);
    pool.ranked(round)
        .into_iter()
        .take(cfg.refine as usize)
        .enumerate()
        .map(|(slot, stats)| {
            let critiques: Vec<String> =
                choose_critiques(stats, cfg.critiques, cfg.critiques_per_score)
                    .into_iter()
                    .map(|v| {
                        if cfg.strip_think {
                            llm::strip_think(&v.text)
                        } else {
                            v.text.clone()
                        }
                    })
                    .collect();
            let critiques: Vec<&str> = critiques.iter().map(String::as_str).collect();
            let body = stats.proof.body.as_deref().unwrap_or_default();
            let prompt = inner
                .templates
                .refinement_prompt(&problem.question, &[(body, critiques)]);
            PlannedProof {
                idx: slot as u32,
                id: proof_id(&problem.key, round, slot as u32),
                parents: vec![stats.proof.id.clone()],
                prompt: prompt.into(),
            }
        })
        .collect()
}

/// How a round ended.
pub(crate) enum RoundEnd {
    Complete,
    Solved,
    OutOfBudget,
    Failed { failed: usize, last_error: String },
}

/// The state of a running round.
pub(crate) struct RoundRunner {
    inner: Arc<Inner>,
    problem: Problem,
    round: u32,
    /// Every stored sample of the problem, growing as answers arrive.
    samples: Vec<Sample>,
    by_id: HashMap<String, usize>,
    /// Samples of each proof (itself, its verifications, their metas), by position.
    by_proof: HashMap<String, Vec<usize>>,
    /// Ids requested in this round, so nothing is asked twice.
    requested: HashSet<String>,
    /// Ids of the proofs this round makes.
    planned: Vec<String>,
    tasks: JoinSet<JobResult>,
    failed: usize,
    last_error: String,
    out_of_budget: bool,
    best: f64,
}

impl RoundRunner {
    pub fn new(inner: Arc<Inner>, problem: &Problem, round: u32, stored: Vec<Sample>) -> Self {
        let best = Pool::new(&stored, &inner.cfg)
            .ranked(u32::MAX)
            .first()
            .and_then(|s| s.mean)
            .unwrap_or(-1.0);
        let mut runner = RoundRunner {
            inner,
            problem: problem.clone(),
            round,
            samples: Vec::new(),
            by_id: HashMap::new(),
            by_proof: HashMap::new(),
            requested: HashSet::new(),
            planned: Vec::new(),
            tasks: JoinSet::new(),
            failed: 0,
            last_error: String::new(),
            out_of_budget: false,
            best,
        };
        for s in stored {
            runner.remember(s);
        }
        runner
    }

    fn remember(&mut self, s: Sample) {
        let pos = self.samples.len();
        self.by_id.insert(s.id.clone(), pos);
        if let Some(p) = &s.proof_id {
            self.by_proof.entry(p.clone()).or_default().push(pos);
        }
        self.samples.push(s);
    }

    fn is_stored(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// Request the missing proofs of `plan`, verify what is stored, and wait for all.
    pub async fn run(mut self, plan: Vec<PlannedProof>) -> RoundEnd {
        self.planned = plan.iter().map(|p| p.id.clone()).collect();
        let (stored, missing): (Vec<_>, Vec<_>) = plan.iter().partition(|p| self.is_stored(&p.id));
        if !stored.is_empty() {
            emit(
                &self.inner.events,
                SearchEvent::Resumed {
                    problem: self.problem.key.clone(),
                    samples: stored.len() as u32,
                },
            );
        }
        // Proofs with one prompt (round 0) share requests; refinements each have theirs.
        let mut start = 0;
        while start < missing.len() {
            let mut end = start + 1;
            while end < missing.len()
                && (end - start) < self.inner.cfg.batch.max(1) as usize
                && Arc::ptr_eq(&missing[end].prompt, &missing[start].prompt)
                && missing[end].idx == missing[end - 1].idx + 1
            {
                end += 1;
            }
            self.spawn_proofs(&missing[start..end]);
            start = end;
        }
        for p in stored {
            let pos = self.by_id[&p.id];
            self.after_proof(pos);
        }
        self.request_verifications();
        self.collect().await
    }

    async fn collect(mut self) -> RoundEnd {
        while let Some(joined) = self.tasks.join_next().await {
            let result = joined.unwrap_or_else(|e| JobResult::Failed(format!("task: {e}")));
            match result {
                JobResult::Stored { samples, short } => {
                    if short > 0 {
                        self.fail(format!(
                            "the server returned {short} sample(s) fewer than asked"
                        ));
                    }
                    if self.absorb(samples) && self.inner.cfg.stop_on_pass {
                        self.tasks.abort_all();
                        return RoundEnd::Solved;
                    }
                }
                JobResult::OutOfBudget => self.out_of_budget = true,
                JobResult::Failed(e) => self.fail(e),
            }
        }
        if self.failed > 0 {
            RoundEnd::Failed {
                failed: self.failed,
                last_error: self.last_error,
            }
        } else if self.out_of_budget {
            RoundEnd::OutOfBudget
        } else {
            RoundEnd::Complete
        }
    }

    fn fail(&mut self, error: String) {
        self.failed += 1;
        emit(
            &self.inner.events,
            SearchEvent::RequestFailed {
                problem: self.problem.key.clone(),
                error: error.clone(),
            },
        );
        self.last_error = error;
    }

    /// Take in newly stored samples, queue what follows from them, and say whether a
    /// proof now passes every verification.
    fn absorb(&mut self, samples: Vec<Sample>) -> bool {
        let mut touched = Vec::new();
        for s in samples {
            if self.is_stored(&s.id) {
                continue;
            }
            let pos = self.samples.len();
            let kind = s.kind;
            touched.extend(s.proof_id.clone());
            self.remember(s);
            match kind {
                Kind::Proof => self.after_proof(pos),
                Kind::Verification => self.after_verification(pos),
                Kind::Meta => {}
            }
        }
        touched.sort();
        touched.dedup();
        let mut solved = false;
        for p in touched {
            solved |= self.check_proof(&p);
        }
        // With adaptive verification, a finished wave may call for the next one, of
        // this proof or (once the round is in) of another still in contention.
        if !solved || !self.inner.cfg.stop_on_pass {
            self.request_verifications();
        }
        solved
    }

    /// Whether proof `proof_id` passes now; report it if it is the best so far.
    fn check_proof(&mut self, proof_id: &str) -> bool {
        let Some(positions) = self.by_proof.get(proof_id) else {
            return false;
        };
        let pool = Pool::new(positions.iter().map(|&i| &self.samples[i]), &self.inner.cfg);
        let Some(stats) = pool.stats.first() else {
            return false;
        };
        if let Some(mean) = stats.mean {
            if mean > self.best && stats.proof.status == ParseStatus::Ok {
                self.best = mean;
                emit(
                    &self.inner.events,
                    SearchEvent::BestSoFar {
                        problem: self.problem.key.clone(),
                        proof_id: proof_id.to_string(),
                        mean_score: mean,
                    },
                );
            }
        }
        stats.passed
    }

    /// Queue the metas of the stored verifications of the proof at `pos`.
    fn after_proof(&mut self, pos: usize) {
        let proof_id = self.samples[pos].id.clone();
        let stored: Vec<usize> = (0..self.inner.cfg.verifications)
            .filter_map(|idx| self.by_id.get(&verification_id(&proof_id, idx)).copied())
            .collect();
        for p in stored {
            self.after_verification(p);
        }
    }

    /// Queue the verifications the proofs of this round should have and do not (all,
    /// or with adaptive verification what [`verification_plan`] asks for now).
    /// Requests already made in this round are not repeated.
    fn request_verifications(&mut self) {
        let cfg = &self.inner.cfg;
        let round_stored = self.planned.iter().all(|id| self.is_stored(id));
        let plan: Vec<(String, u32)> = {
            let pool = Pool::new(&self.samples, cfg);
            // Only the proofs this round plans (a resumed run with fewer proofs may
            // find more stored).
            let mut plan: Vec<(String, u32)> =
                verification_plan(&pool, cfg, self.round, round_stored)
                    .into_iter()
                    .filter(|(id, _)| self.planned.iter().any(|p| p == id))
                    .map(|(id, w)| (id.to_string(), w))
                    .collect();
            plan.sort();
            plan
        };
        for (proof_id, wanted) in plan {
            self.request_missing(&proof_id, wanted);
        }
    }

    /// Queue the verifications `0..wanted` of `proof_id` not stored or requested.
    fn request_missing(&mut self, proof_id: &str, wanted: u32) {
        let missing: Vec<u32> = (0..wanted)
            .filter(|&idx| {
                let id = verification_id(proof_id, idx);
                !self.by_id.contains_key(&id) && !self.requested.contains(&id)
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        let pos = self.by_id[proof_id];
        let proof = &self.samples[pos];
        let prompt: Arc<str> = self
            .inner
            .templates
            .verification_prompt(&self.problem.question, proof.body.as_deref().unwrap_or(""))
            .into();
        for (first, count) in chunks(&missing, self.inner.cfg.batch) {
            let ids = (first..first + count)
                .map(|i| verification_id(proof_id, i))
                .collect();
            self.spawn(Job {
                kind: Kind::Verification,
                problem_key: self.problem.key.clone(),
                round: self.round_of(pos),
                first,
                count,
                ids,
                target_id: Some(proof_id.to_string()),
                proof_id: Some(proof_id.to_string()),
                parent_ids: Vec::new(),
                prompt: prompt.clone(),
            });
        }
    }

    /// Queue the meta-verification of the verification at `pos` when it is needed:
    /// meta is on and the verification found issues (scores at most `meta_max_score`).
    fn after_verification(&mut self, pos: usize) {
        let v = &self.samples[pos];
        let cfg = &self.inner.cfg;
        let doubted = v.score.is_some_and(|s| s <= cfg.meta_max_score);
        if !cfg.meta || v.status != ParseStatus::Ok || !doubted {
            return;
        }
        let id = meta_id(&v.id, 0);
        if self.is_stored(&id) {
            return;
        }
        let Some(&proof_pos) = v.target_id.as_ref().and_then(|t| self.by_id.get(t)) else {
            return;
        };
        let proof = self.samples[proof_pos].body.as_deref().unwrap_or("");
        let prompt = self
            .inner
            .templates
            .meta_prompt(&self.problem.question, proof, &v.text);
        let job = Job {
            kind: Kind::Meta,
            problem_key: self.problem.key.clone(),
            round: v.round,
            first: 0,
            count: 1,
            ids: vec![id],
            target_id: Some(v.id.clone()),
            proof_id: v.proof_id.clone(),
            parent_ids: Vec::new(),
            prompt: prompt.into(),
        };
        self.spawn(job);
    }

    fn round_of(&self, pos: usize) -> u32 {
        self.samples[pos].round
    }

    fn spawn_proofs(&mut self, run: &[&PlannedProof]) {
        let Some(first) = run.first() else { return };
        let job = Job {
            kind: Kind::Proof,
            problem_key: self.problem.key.clone(),
            round: self.round,
            first: first.idx,
            count: run.len() as u32,
            ids: run.iter().map(|p| p.id.clone()).collect(),
            target_id: None,
            proof_id: None,
            parent_ids: first.parents.clone(),
            prompt: first.prompt.clone(),
        };
        self.spawn(job);
    }

    fn spawn(&mut self, job: Job) {
        // A sample is requested at most once per round, whatever the order of events.
        if job.ids.iter().any(|id| !self.requested.insert(id.clone())) {
            return;
        }
        emit(
            &self.inner.events,
            SearchEvent::Queued {
                problem: self.problem.key.clone(),
                samples: job.count,
            },
        );
        self.tasks.spawn(run_job(self.inner.clone(), job));
    }
}
