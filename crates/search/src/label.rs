//! Automated proof labeling, as DeepSeekMath-V2 describes it (§2.3): verify a proof
//! `n` times; meta-verify each verification that found issues `m` times; an analysis
//! is *confirmed* when most of its meta-verifications say its issues are real (meta
//! score 0.5 or 1). The proof's label is the lowest score among the confirmed analyses
//! when at least `k` are confirmed, 1 when no analysis is confirmed, and otherwise it
//! needs a human.
//!
//! The samples are those of the search, under the same ids (`{proof}/v{j}`,
//! `{proof}/v{j}/m{i}`) in the same run database, so labeling a searched run reuses its
//! verifications and an interrupted labeling resumes where it stopped.

use crate::ids::{chunks, meta_id, verification_id};
use crate::request::{run_job, Job, JobResult};
use crate::run::{Search, SearchError};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use store::{Kind, ParseStatus, Problem, Sample};

/// The labeling settings: `n` verifications, `m` meta-verifications per doubted one,
/// `k` confirmed analyses needed for a label below 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LabelSettings {
    pub n: u32,
    pub m: u32,
    pub k: u32,
}

/// Whether the analyses settle the proof's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelStatus {
    Labelled,
    NeedsHuman,
}

/// A proof's label and what it rests on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Label {
    pub id: String,
    pub problem_idx: String,
    /// 0, 0.5 or 1; `None` exactly when a human is needed.
    pub label: Option<f64>,
    pub status: LabelStatus,
    /// Verifications that parsed.
    pub verifications: u32,
    /// Analyses whose issues the meta-verifiers confirmed.
    pub confirmed: u32,
}

/// The label from a proof's stored verifications and their metas.
pub fn decide(samples: &[Sample], proof_id: &str, k: u32) -> (Option<f64>, LabelStatus, u32, u32) {
    let mut metas: HashMap<&str, Vec<&Sample>> = HashMap::new();
    for s in samples.iter().filter(|s| s.kind == Kind::Meta) {
        if let Some(t) = s.target_id.as_deref() {
            metas.entry(t).or_default().push(s);
        }
    }
    let analyses: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.kind == Kind::Verification
                && s.target_id.as_deref() == Some(proof_id)
                && s.status == ParseStatus::Ok
        })
        .collect();
    let confirmed: Vec<f64> = analyses
        .iter()
        .filter(|v| v.score.is_some_and(|s| s < 1.0))
        .filter(|v| {
            let judged: Vec<&&Sample> = metas
                .get(v.id.as_str())
                .map(|ms| ms.iter().filter(|m| m.status == ParseStatus::Ok).collect())
                .unwrap_or_default();
            let real = judged
                .iter()
                .filter(|m| m.score.is_some_and(|s| s >= 0.5))
                .count();
            2 * real > judged.len() && !judged.is_empty()
        })
        .filter_map(|v| v.score)
        .collect();
    let (n, c) = (analyses.len() as u32, confirmed.len() as u32);
    if n == 0 {
        return (None, LabelStatus::NeedsHuman, n, c);
    }
    if c >= k.max(1) {
        let low = confirmed.iter().copied().fold(f64::INFINITY, f64::min);
        (Some(low), LabelStatus::Labelled, n, c)
    } else if c == 0 {
        (Some(1.0), LabelStatus::Labelled, n, c)
    } else {
        (None, LabelStatus::NeedsHuman, n, c)
    }
}

impl Search {
    /// Label the stored proof `proof_id` of `problem`: request what is missing of its
    /// `n` verifications, then of the metas of those that found issues, and decide.
    pub async fn label(
        &self,
        problem: &Problem,
        proof_id: &str,
        settings: LabelSettings,
    ) -> Result<Label, SearchError> {
        let inner = self.shared();
        let stored = inner.store.samples(&problem.key)?;
        let Some(proof) = stored
            .iter()
            .find(|s| s.id == proof_id && s.kind == Kind::Proof)
        else {
            return Err(SearchError::Incomplete {
                problem: problem.problem_idx.clone(),
                failed: 1,
                last_error: format!("no proof {proof_id} in the run"),
            });
        };
        let body = proof.body.clone().unwrap_or_else(|| proof.text.clone());
        let round = proof.round;
        let prompt: Arc<str> = inner
            .templates
            .verification_prompt(&problem.question, &body)
            .into();
        let have = |id: &str, stored: &[Sample]| stored.iter().any(|s| s.id == id);
        let missing: Vec<u32> = (0..settings.n)
            .filter(|&j| !have(&verification_id(proof_id, j), &stored))
            .collect();
        let mut jobs = Vec::new();
        for (first, count) in chunks(&missing, inner.cfg.batch) {
            jobs.push(Job {
                kind: Kind::Verification,
                problem_key: problem.key.clone(),
                round,
                first,
                count,
                ids: (first..first + count)
                    .map(|j| verification_id(proof_id, j))
                    .collect(),
                target_id: Some(proof_id.to_string()),
                proof_id: Some(proof_id.to_string()),
                parent_ids: Vec::new(),
                prompt: prompt.clone(),
            });
        }
        self.run_all(problem, jobs).await?;
        let stored = inner.store.samples(&problem.key)?;
        let mut jobs = Vec::new();
        for j in 0..settings.n {
            let vid = verification_id(proof_id, j);
            let Some(v) = stored.iter().find(|s| s.id == vid) else {
                continue;
            };
            if v.status != ParseStatus::Ok || v.score.is_none_or(|s| s >= 1.0) {
                continue;
            }
            let missing: Vec<u32> = (0..settings.m)
                .filter(|&i| !have(&meta_id(&vid, i), &stored))
                .collect();
            let prompt: Arc<str> = inner
                .templates
                .meta_prompt(&problem.question, &body, &v.text)
                .into();
            for (first, count) in chunks(&missing, inner.cfg.batch) {
                jobs.push(Job {
                    kind: Kind::Meta,
                    problem_key: problem.key.clone(),
                    round,
                    first,
                    count,
                    ids: (first..first + count).map(|i| meta_id(&vid, i)).collect(),
                    target_id: Some(vid.clone()),
                    proof_id: Some(proof_id.to_string()),
                    parent_ids: Vec::new(),
                    prompt: prompt.clone(),
                });
            }
        }
        self.run_all(problem, jobs).await?;
        let stored = inner.store.samples(&problem.key)?;
        let (label, status, verifications, confirmed) = decide(&stored, proof_id, settings.k);
        Ok(Label {
            id: proof_id.to_string(),
            problem_idx: problem.problem_idx.clone(),
            label,
            status,
            verifications,
            confirmed,
        })
    }

    /// Run jobs together; an error when any failed or the budget ran out.
    async fn run_all(&self, problem: &Problem, jobs: Vec<Job>) -> Result<(), SearchError> {
        let inner = self.shared();
        let results =
            futures::future::join_all(jobs.into_iter().map(|j| run_job(inner.clone(), j))).await;
        let mut failed = 0;
        let mut last_error = String::new();
        for r in results {
            match r {
                JobResult::Stored { short: 0, .. } => {}
                JobResult::Stored { short, .. } => {
                    failed += 1;
                    last_error = format!("the server returned {short} sample(s) fewer than asked");
                }
                JobResult::OutOfBudget => {
                    failed += 1;
                    last_error = "the token budget or time limit ran out".into();
                }
                JobResult::Failed(e) => {
                    failed += 1;
                    last_error = e;
                }
            }
        }
        if failed > 0 {
            return Err(SearchError::Incomplete {
                problem: problem.problem_idx.clone(),
                failed,
                last_error,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "p/r0/p0";

    #[test]
    fn labels_follow_the_confirmed_analyses() {
        // v0 clean, v1 (0.5) confirmed 2 of 3, v2 (0) rejected 2 of 3.
        let mut samples = vec![
            Sample::judgement(Kind::Verification, "p/r0/p0/v0", P, 1.0),
            Sample::judgement(Kind::Verification, "p/r0/p0/v1", P, 0.5),
            Sample::judgement(Kind::Verification, "p/r0/p0/v2", P, 0.0),
        ];
        for (i, m) in [1.0, 0.5, 0.0].iter().enumerate() {
            samples.push(Sample::judgement(
                Kind::Meta,
                &format!("p/r0/p0/v1/m{i}"),
                "p/r0/p0/v1",
                *m,
            ));
        }
        for (i, m) in [0.0, 0.0, 1.0].iter().enumerate() {
            samples.push(Sample::judgement(
                Kind::Meta,
                &format!("p/r0/p0/v2/m{i}"),
                "p/r0/p0/v2",
                *m,
            ));
        }
        assert_eq!(
            decide(&samples, P, 1),
            (Some(0.5), LabelStatus::Labelled, 3, 1)
        );
        // Two confirmations needed, one found: a human decides.
        assert_eq!(
            decide(&samples, P, 2),
            (None, LabelStatus::NeedsHuman, 3, 1)
        );
        // No confirmed issue at all: 1.
        let clean: Vec<Sample> = samples
            .iter()
            .filter(|x| !x.id.contains("v1"))
            .cloned()
            .collect();
        assert_eq!(
            decide(&clean, P, 2),
            (Some(1.0), LabelStatus::Labelled, 2, 0)
        );
        // No analysis: a human.
        assert_eq!(decide(&[], P, 1), (None, LabelStatus::NeedsHuman, 0, 0));
    }
}
