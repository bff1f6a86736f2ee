//! Proof benchmarks: after the proof search has run on each problem, a judge grades
//! the best proof from 0 to 7 against the reference solution and grading guidelines
//! where the dataset has them, and the run is summarised by the best proof's mean
//! verifier score, the rate at which a proof passed every verification, and the mean
//! judge grade.
//!
//! Judge grades are stored in the run database (`grades`), named `{proof}/j0`, so a
//! re-run grades only proofs not graded yet — and a new best proof after more search.

use crate::stats::{mean_estimate, proportion, Estimate};
use llm::{ChatRequest, Llm, Message};
use search::outcome::{summarize, StopReason};
use search::templates::render;
use search::SearchConfig;
use serde::Serialize;
use std::collections::BTreeMap;
use store::{Grade, Problem, Store};

/// The judge prompt's default, with `{question}`, `{solution}`, `{guidelines}` and
/// `{proof}`; a `judge.md` in the `--templates` directory replaces it.
pub const JUDGE_TEMPLATE: &str = include_str!("../templates/judge.md");

/// The judge prompt for a proof of `problem`.
pub fn judge_prompt(template: &str, problem: &Problem, proof: &str) -> String {
    let none = "(none given)".to_string();
    let solution = problem.info_str("solution").unwrap_or_else(|| none.clone());
    let guidelines = problem.info_str("grading_guidelines").unwrap_or(none);
    render(
        template,
        &[
            ("question", &problem.question),
            ("solution", &solution),
            ("guidelines", &guidelines),
            ("proof", proof),
        ],
    )
}

/// The grade of a judge's answer: the last `\boxed{}` holding a number from 0 to 7.
pub fn parse_grade(text: &str) -> Option<f64> {
    search::parse::boxed(text)
        .into_iter()
        .rev()
        .find_map(|(_, inner)| {
            let v: f64 = inner
                .trim()
                .trim_end_matches("points")
                .trim()
                .parse()
                .ok()?;
            (0.0..=7.0).contains(&v).then_some(v)
        })
}

/// Judge requests in flight at once.
const JUDGE_CONCURRENCY: usize = 16;

/// Grade the best proof of every problem that has one and no stored grade yet.
/// Returns the number of failed judge requests (their proofs stay ungraded).
pub async fn judge_all(
    store: &Store,
    problems: &[Problem],
    cfg: &SearchConfig,
    judge: &dyn Llm,
    judge_model: Option<String>,
    template: &str,
    max_tokens: Option<u32>,
) -> store::Result<usize> {
    let mut requests = Vec::new();
    for p in problems {
        let outcome = summarize(store, p, cfg, StopReason::Stored)?;
        let Some(best) = outcome.best else { continue };
        // Attempts are `{proof}/j0`, `j1`, …: an answer without a grade (cut off, say)
        // is kept, and the proof is judged again on the next run.
        let earlier: Vec<Grade> = store
            .grades(&p.key)?
            .into_iter()
            .filter(|g| g.proof_id == best.proof_id)
            .collect();
        if earlier.iter().any(|g| g.grade.is_some()) {
            continue;
        }
        let id = format!("{}/j{}", best.proof_id, earlier.len());
        let mut req = ChatRequest::new(vec![Message::user(judge_prompt(template, p, &best.proof))]);
        req.model = judge_model.clone();
        req.temperature = 0.0;
        req.max_tokens = max_tokens;
        requests.push(async move {
            let answer = judge.chat(req).await;
            (p.key.clone(), best.proof_id, id, answer)
        });
    }
    use futures::StreamExt;
    let answers: Vec<_> = futures::stream::iter(requests)
        .buffer_unordered(JUDGE_CONCURRENCY)
        .collect()
        .await;
    let mut failed = 0;
    for (problem_key, proof_id, id, answer) in answers {
        match answer {
            Ok(r) => {
                let text = r
                    .completions
                    .into_iter()
                    .next()
                    .map(|c| c.text)
                    .unwrap_or_default();
                store.insert_grade(&Grade {
                    id,
                    problem_key,
                    proof_id,
                    grade: parse_grade(&text),
                    text,
                })?;
            }
            Err(e) => {
                failed += 1;
                eprintln!("judge request for {proof_id} failed: {e}");
            }
        }
    }
    Ok(failed)
}

/// One problem of a proof run.
#[derive(Debug, Clone, Serialize)]
pub struct ProofRecord {
    pub key: String,
    pub level: Option<String>,
    pub best_proof: Option<String>,
    /// Mean verification score of the best proof (0 without one).
    pub best_score: f64,
    /// A proof passed every verification.
    pub passed: bool,
    /// The judge's grade of the best proof, 0–7.
    pub grade: Option<f64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// The records of every problem in a proof run (only those in `only`, when given).
pub fn records(
    store: &Store,
    cfg: &SearchConfig,
    only: Option<&std::collections::HashSet<String>>,
) -> store::Result<Vec<ProofRecord>> {
    let mut out = Vec::new();
    for p in store.problems()? {
        if only.is_some_and(|keys| !keys.contains(&p.key)) {
            continue;
        }
        let o = summarize(store, &p, cfg, StopReason::Stored)?;
        let best_id = o.best.as_ref().map(|b| b.proof_id.clone());
        let grade = best_id.as_ref().and_then(|id| {
            store
                .grades(&p.key)
                .ok()?
                .into_iter()
                .filter(|g| &g.proof_id == id)
                .find_map(|g| g.grade)
        });
        out.push(ProofRecord {
            key: p.key.clone(),
            level: p.info_str("level"),
            best_score: o.best.as_ref().and_then(|b| b.mean_score).unwrap_or(0.0),
            best_proof: best_id,
            passed: o.solved,
            grade,
            prompt_tokens: o.usage.prompt_tokens,
            completion_tokens: o.usage.completion_tokens,
        });
    }
    Ok(out)
}

/// The figures of a proof run.
#[derive(Debug, Clone, Serialize)]
pub struct ProofSummary {
    pub problems: usize,
    /// `best_score`, `all_pass_rate`, `judge_grade` (mean grade / 7, over graded
    /// problems), `judge_graded`.
    pub metrics: BTreeMap<String, Estimate>,
    pub by_level: BTreeMap<String, BTreeMap<String, Estimate>>,
    /// Mean of the raw 0–7 grades.
    pub mean_grade_of_7: Option<f64>,
    pub tokens: crate::answers::Tokens,
}

fn metrics_of(records: &[&ProofRecord]) -> BTreeMap<String, Estimate> {
    let mut m = BTreeMap::new();
    let scores: Vec<f64> = records.iter().map(|r| r.best_score).collect();
    m.insert("best_score".into(), mean_estimate(&scores));
    let passed = records.iter().filter(|r| r.passed).count();
    m.insert("all_pass_rate".into(), proportion(passed, records.len()));
    // Over every problem: one without a graded proof scores 0, so the figure cannot
    // rise by losing problems. `judge_graded` says how many were graded.
    let graded = records.iter().filter(|r| r.grade.is_some()).count();
    if graded > 0 {
        let grades: Vec<f64> = records
            .iter()
            .map(|r| r.grade.unwrap_or(0.0) / 7.0)
            .collect();
        m.insert("judge_grade".into(), mean_estimate(&grades));
    }
    m.insert("judge_graded".into(), proportion(graded, records.len()));
    m
}

/// Summarise the records of a proof run.
pub fn summarize_proofs(records: &[ProofRecord]) -> ProofSummary {
    let all: Vec<&ProofRecord> = records.iter().collect();
    let mut by_level: BTreeMap<String, Vec<&ProofRecord>> = BTreeMap::new();
    for r in records {
        if let Some(l) = &r.level {
            by_level.entry(l.clone()).or_default().push(r);
        }
    }
    let grades: Vec<f64> = records.iter().filter_map(|r| r.grade).collect();
    let prompt: u64 = records.iter().map(|r| r.prompt_tokens).sum();
    let completion: u64 = records.iter().map(|r| r.completion_tokens).sum();
    ProofSummary {
        problems: records.len(),
        metrics: metrics_of(&all),
        by_level: if by_level.len() > 1 {
            by_level
                .into_iter()
                .map(|(l, rs)| (l, metrics_of(&rs)))
                .collect()
        } else {
            BTreeMap::new()
        },
        mean_grade_of_7: (!grades.is_empty())
            .then(|| grades.iter().sum::<f64>() / grades.len() as f64),
        tokens: crate::answers::Tokens {
            prompt,
            completion,
            per_problem: (prompt + completion) as f64 / records.len().max(1) as f64,
            completion_per_sample: 0.0,
            per_correct_answer: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_are_read_from_the_last_box_in_range() {
        assert_eq!(parse_grade("Grade: \\boxed{5}"), Some(5.0));
        assert_eq!(parse_grade("\\boxed{3} then \\boxed{7}"), Some(7.0));
        assert_eq!(parse_grade("\\boxed{9}"), None);
        assert_eq!(parse_grade("no grade"), None);
    }

    #[test]
    fn the_judge_prompt_carries_the_reference() {
        let mut p = Problem::statement("1", "Show it.");
        p.info = Some(r#"{"solution": "REF", "grading_guidelines": "GUIDE"}"#.into());
        let prompt = judge_prompt(JUDGE_TEMPLATE, &p, "MY PROOF");
        for part in ["Show it.", "REF", "GUIDE", "MY PROOF"] {
            assert!(prompt.contains(part), "{part}");
        }
        let bare = judge_prompt(JUDGE_TEMPLATE, &Problem::statement("2", "Q"), "P");
        assert!(bare.contains("(none given)"));
    }
}
