//! Final-answer mode: sample solutions, extract their final answers, group equivalent
//! answers, and vote — by plain majority and weighted by verification scores.
//!
//! Answer extraction and equivalence are supplied by the caller through
//! [`AnswerChecker`] (the `answer` crate in the binary), so this crate stays free of
//! the checker and tests can plug in a trivial one. The proof search can use
//! [`answers_disagree`] to notice when its best proofs reach different final answers.

use crate::parse::parse_judgement;
use crate::templates::Templates;
use futures::future::join_all;
use llm::{ChatRequest, Llm, LlmError, Message, Usage};
use serde::Serialize;

/// Extraction and equivalence of final answers.
pub trait AnswerChecker: Send + Sync {
    /// The final answer of a solution text, if it states one.
    fn extract(&self, text: &str) -> Option<String>;
    /// Are two extracted answers the same? `None`: cannot decide.
    fn equivalent(&self, a: &str, b: &str) -> Option<bool>;
}

/// The prompt asking for a solution with a boxed final answer.
pub fn solve_prompt(problem: &str) -> String {
    format!(
        "Solve the following problem. Work it out step by step, check your work, and \
         give the final answer at the end as \\boxed{{answer}}.\n\n{problem}"
    )
}

/// Sampling settings of one solve.
#[derive(Debug, Clone)]
pub struct SolveConfig {
    /// Solutions sampled.
    pub samples: u32,
    /// Verifications per solution (0: no verification, the weighted vote equals the
    /// majority vote).
    pub verify: u32,
    pub temperature: f32,
    pub max_tokens: Option<u32>,
    pub generator_model: Option<String>,
    pub verifier_model: Option<String>,
}

impl Default for SolveConfig {
    fn default() -> Self {
        SolveConfig {
            samples: 8,
            verify: 0,
            temperature: 0.7,
            max_tokens: None,
            generator_model: None,
            verifier_model: None,
        }
    }
}

/// One sampled solution.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub text: String,
    /// Its extracted final answer.
    pub answer: Option<String>,
    /// Parsed verification scores (0, 0.5 or 1); unparsable verifications are dropped.
    pub scores: Vec<f64>,
    /// Mean of `scores`; `None` when unverified or no verification parsed.
    pub mean_score: Option<f64>,
}

/// Equivalent answers together.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The answer as first seen.
    pub answer: String,
    /// Indices of the samples in the group.
    pub members: Vec<usize>,
    /// Sum of the members' mean verification scores.
    pub weight: f64,
}

/// The result of [`solve`].
#[derive(Debug, Clone, Serialize)]
pub struct SolveResult {
    pub samples: Vec<Sample>,
    /// Groups, largest first.
    pub groups: Vec<Group>,
    /// Index into `groups` of the plain-majority answer.
    pub majority: Option<usize>,
    /// Index into `groups` of the verification-weighted answer.
    pub weighted: Option<usize>,
    pub usage: Usage,
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

    fn support(&self, g: Option<usize>) -> Option<(&str, f64)> {
        let g = &self.groups[g?];
        let n = self.samples.len().max(1) as f64;
        Some((g.answer.as_str(), g.members.len() as f64 / n))
    }
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
/// different final answers? `None` when all stated answers agree, or fewer than two
/// state one.
pub fn answers_disagree(texts: &[&str], checker: &dyn AnswerChecker) -> Option<Disagreement> {
    let answers: Vec<Option<String>> = texts.iter().map(|t| checker.extract(t)).collect();
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

/// Samples `cfg.samples` solutions of `problem`, verifies each `cfg.verify` times,
/// groups the final answers and votes.
pub async fn solve(
    problem: &str,
    generator: &dyn Llm,
    verifier: &dyn Llm,
    templates: &Templates,
    cfg: &SolveConfig,
    checker: &dyn AnswerChecker,
) -> Result<SolveResult, LlmError> {
    let mut usage = Usage::default();
    let mut req = ChatRequest::new(vec![Message::user(solve_prompt(problem))]);
    req.n = cfg.samples.max(1);
    req.temperature = cfg.temperature;
    req.max_tokens = cfg.max_tokens;
    req.model = cfg.generator_model.clone();
    let resp = generator.chat(req).await?;
    usage.add(resp.usage);
    let texts: Vec<String> = resp.completions.into_iter().map(|c| c.text).collect();

    let verifications = if cfg.verify > 0 {
        let requests = texts.iter().map(|t| {
            let mut r = ChatRequest::new(vec![Message::user(
                templates.verification_prompt(problem, t),
            )]);
            r.n = cfg.verify;
            r.temperature = cfg.temperature;
            r.max_tokens = cfg.max_tokens;
            r.model = cfg.verifier_model.clone();
            verifier.chat(r)
        });
        join_all(requests).await
    } else {
        Vec::new()
    };

    let mut samples = Vec::with_capacity(texts.len());
    for (i, text) in texts.into_iter().enumerate() {
        let mut scores = Vec::new();
        // A failed verification request leaves that solution unscored rather than
        // failing the whole solve.
        if let Some(Ok(r)) = verifications.get(i) {
            usage.add(r.usage);
            scores = r
                .completions
                .iter()
                .filter_map(|c| parse_judgement(&c.text, c.finish_reason).score)
                .collect();
        }
        let mean_score =
            (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64);
        samples.push(Sample {
            answer: checker.extract(&text),
            text,
            scores,
            mean_score,
        });
    }
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
    Ok(SolveResult {
        majority: majority(&groups),
        weighted: weighted(&groups),
        groups,
        samples,
        usage,
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
