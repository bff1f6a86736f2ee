//! Final-answer mode end to end with a fake model: scripted solutions and
//! verifications, the real answer checker, majority and weighted votes, and a
//! stored solve that a second run resumes without asking again.

use async_trait::async_trait;
use llm::{ChatRequest, ChatResponse, Completion, FinishReason, Llm, LlmError, Usage};
use search::solve::{
    answers_disagree, AnswerChecker, SolveConfig, SolveResult, Solver, SolverParts,
};
use search::Templates;
use std::sync::{Arc, Mutex};
use store::{Problem, Store};

/// Answers a solve request with `solutions` (cycled to `n`) and a verification
/// request with the score its `score_for` gives the solution being verified.
struct FakeLlm {
    solutions: Vec<&'static str>,
    score_for: fn(&str) -> &'static str,
    requests: Mutex<Vec<ChatRequest>>,
}

#[async_trait]
impl Llm for FakeLlm {
    fn name(&self) -> String {
        "fake".into()
    }

    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let prompt = request
            .messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        self.requests.lock().expect("lock").push(request.clone());
        let texts: Vec<String> = if prompt.starts_with("Solve the following problem") {
            (0..request.n as usize)
                .map(|i| self.solutions[i % self.solutions.len()].to_string())
                .collect()
        } else {
            let score = (self.score_for)(&prompt);
            (0..request.n)
                .map(|_| format!("I checked each step.\n\n\\boxed{{{score}}}"))
                .collect()
        };
        Ok(ChatResponse {
            completions: texts
                .into_iter()
                .map(|text| Completion {
                    text,
                    reasoning: None,
                    finish_reason: FinishReason::Stop,
                    completion_tokens: Some(10),
                })
                .collect(),
            usage: Usage {
                prompt_tokens: 5,
                completion_tokens: 10 * request.n as u64,
                cached_prompt_tokens: 0,
            },
        })
    }
}

struct Checker(answer::Options);

impl AnswerChecker for Checker {
    fn extract(&self, text: &str) -> Option<String> {
        answer::parse_answer(text, &self.0).ok().map(|p| p.text)
    }
    fn equivalent(&self, a: &str, b: &str) -> Option<bool> {
        answer::check(
            &format!("\\boxed{{{a}}}"),
            &format!("\\boxed{{{b}}}"),
            &self.0,
        )
        .equivalent
    }
}

const SOLUTIONS: [&str; 5] = [
    "Adding, we get $\\boxed{\\frac{1}{2}}$.",
    "So the result is \\boxed{0.5}.",
    "Hence the answer is $\\boxed{\\dfrac{2}{4}}$.",
    "Carefully: the value is \\boxed{\\frac{3}{4}}.",
    "The final answer is $0.75$. I hope it is correct.",
];

/// The verifier trusts only the solutions that reach 3/4.
fn trusts_three_quarters(prompt: &str) -> &'static str {
    if prompt.contains("frac{3}{4}") || prompt.contains("0.75") {
        "1"
    } else {
        "0"
    }
}

fn checker() -> Checker {
    Checker(answer::Options::default())
}

/// Solve "1/4 + 1/4" with `cfg` on `llm`, stored in `store`.
async fn solve(llm: Arc<FakeLlm>, store: Arc<Store>, cfg: SolveConfig) -> SolveResult {
    let solver = Solver::new(SolverParts {
        generator: llm.clone(),
        verifier: llm,
        generator_model: None,
        verifier_model: None,
        store,
        templates: Templates::default(),
        cfg,
        checker: Arc::new(checker()),
        events: None,
        concurrency: 4,
    })
    .expect("solver");
    solver
        .solve(&Problem::statement("q", "What is 1/4 + 1/4?"))
        .await
        .expect("solve")
}

fn fake() -> Arc<FakeLlm> {
    Arc::new(FakeLlm {
        solutions: SOLUTIONS.to_vec(),
        score_for: trusts_three_quarters,
        requests: Mutex::new(Vec::new()),
    })
}

#[tokio::test]
async fn majority_groups_equivalent_forms() {
    let llm = fake();
    let store = Arc::new(Store::open_in_memory().expect("store"));
    let cfg = SolveConfig {
        samples: 5,
        ..SolveConfig::default()
    };
    let r = solve(llm.clone(), store, cfg).await;
    assert_eq!(r.samples.len(), 5);
    assert_eq!(r.groups.len(), 2);
    let (answer, support) = r.majority_answer().expect("an answer");
    assert_eq!(answer, "\\frac{1}{2}");
    assert!((support - 0.6).abs() < 1e-9);
    // Without verification both votes agree.
    assert_eq!(r.weighted_answer().map(|w| w.0), Some(answer));
    assert_eq!(llm.requests.lock().expect("lock").len(), 1);
    assert!(r.complete);
}

#[tokio::test]
async fn verification_weights_can_overrule_the_majority_and_a_rerun_asks_nothing() {
    let llm = fake();
    let store = Arc::new(Store::open_in_memory().expect("store"));
    let cfg = SolveConfig {
        samples: 5,
        verify: 3,
        ..SolveConfig::default()
    };
    let r = solve(llm.clone(), store.clone(), cfg.clone()).await;
    assert_eq!(r.majority_answer().map(|m| m.0), Some("\\frac{1}{2}"));
    let (w, support) = r.weighted_answer().expect("weighted answer");
    assert!(
        answer::check("$\\frac34$", &format!("${w}$"), &answer::Options::default()).equivalent
            == Some(true)
    );
    assert!((support - 0.4).abs() < 1e-9);
    // One solve request plus one verification request per solution, n = 3 each.
    {
        let reqs = llm.requests.lock().expect("lock");
        assert_eq!(reqs.len(), 6);
        assert!(reqs[1..].iter().all(|r| r.n == 3));
    }
    assert_eq!(r.samples[3].scores, vec![1.0, 1.0, 1.0]);
    assert!(r.usage.completion_tokens > 0);
    assert_eq!(store.counts().expect("counts"), (5, 15, 0));

    // The same solve on the same database is answered from the store.
    let again = solve(llm.clone(), store.clone(), cfg).await;
    assert_eq!(llm.requests.lock().expect("lock").len(), 6);
    assert_eq!(again.weighted_answer().map(|w| w.0), Some(w));
    // Asking for more samples requests only the new ones.
    let more = SolveConfig {
        samples: 7,
        verify: 3,
        ..SolveConfig::default()
    };
    let r = solve(llm.clone(), store.clone(), more).await;
    assert_eq!(r.samples.len(), 7);
    let reqs = llm.requests.lock().expect("lock");
    assert_eq!(reqs[6].n, 2, "two new solutions");
    assert_eq!(reqs.len(), 6 + 1 + 2);
}

#[test]
fn disagreement_between_top_proofs() {
    let c = checker();
    assert!(answers_disagree(&[SOLUTIONS[0], SOLUTIONS[1], SOLUTIONS[2]], &c).is_none());
    let d = answers_disagree(&[SOLUTIONS[0], SOLUTIONS[3], "no final answer here"], &c)
        .expect("the answers differ");
    assert_eq!(d.groups.len(), 2);
}
