//! The search loop against an in-process model whose answers depend on the prompt:
//! sample counts, refinement parents, early stop, meta-verification, budgets and a
//! resume after failed requests.

use async_trait::async_trait;
use llm::{ChatRequest, ChatResponse, Completion, FinishReason, Llm, LlmError, Usage};
use search::{Search, SearchConfig, SearchParts, StopReason, Templates};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use store::{Kind, Problem, Store};

type Answer = dyn Fn(&str, u32) -> String + Send + Sync;

/// A model answering with `answer(prompt, i)` for sample i of a request; fails every
/// request after the first `fail_after` when that is set.
struct Mock {
    answer: Box<Answer>,
    fail_after: Option<usize>,
    delay: Option<std::time::Duration>,
    requests: AtomicUsize,
    samples: AtomicUsize,
    prompts: Mutex<Vec<String>>,
}

impl Mock {
    fn new(answer: impl Fn(&str, u32) -> String + Send + Sync + 'static) -> Arc<Mock> {
        Arc::new(Mock {
            answer: Box::new(answer),
            fail_after: None,
            delay: None,
            requests: AtomicUsize::new(0),
            samples: AtomicUsize::new(0),
            prompts: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl Llm for Mock {
    fn name(&self) -> String {
        "mock".into()
    }
    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let seen = self.requests.fetch_add(1, Ordering::SeqCst);
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
        if self.fail_after.is_some_and(|k| seen >= k) {
            return Err(LlmError::Http {
                status: 500,
                body: "down".into(),
            });
        }
        self.samples.fetch_add(request.n as usize, Ordering::SeqCst);
        let prompt = request.messages[0].content.clone();
        self.prompts.lock().unwrap().push(prompt.clone());
        let completions = (0..request.n)
            .map(|i| Completion {
                text: (self.answer)(&prompt, i),
                reasoning: None,
                finish_reason: FinishReason::Stop,
                completion_tokens: Some(10),
            })
            .collect();
        Ok(ChatResponse {
            completions,
            usage: Usage {
                prompt_tokens: 5,
                completion_tokens: 10 * request.n as u64,
                cached_prompt_tokens: 0,
            },
        })
    }
}

fn is_meta(p: &str) -> bool {
    p.contains("judge the review")
}
fn is_verification(p: &str) -> bool {
    p.contains("You are grading a proof")
}
fn proof_answer(body: &str) -> String {
    format!("## Solution\n{body}\n\n## Self Evaluation\nAll steps hold.\n\\boxed{{1}}")
}
fn review(text: &str, score: &str) -> String {
    format!("{text}\n\nFinal score: \\boxed{{{score}}}")
}

/// A model whose proofs are "proof P{i}" and whose verifications score what `score`
/// says for the proof and the verification's index (counted per prompt, so requests
/// must reach it in index order).
fn graded(score: impl Fn(&str, u32) -> &'static str + Send + Sync + 'static) -> Arc<Mock> {
    let seen = Mutex::new(std::collections::HashMap::<String, u32>::new());
    Mock::new(move |p, i| {
        if !is_verification(p) {
            return proof_answer(&format!("proof P{i}"));
        }
        let mut seen = seen.lock().unwrap();
        let k = seen.entry(p.to_string()).or_default();
        let idx = *k;
        *k += 1;
        review("Checked.", score(p, idx))
    })
}

fn problem() -> Problem {
    Problem {
        key: "odd".into(),
        problem_idx: "odd".into(),
        question: "Prove that odd squares are odd.".into(),
        position: 0,
        answer: None,
        info: None,
    }
}

fn small(proofs: u32, m: u32, refine: u32, rounds: u32) -> SearchConfig {
    SearchConfig {
        proofs,
        verifications: m,
        refine,
        critiques: 2,
        rounds,
        batch: 3,
        concurrency: 4,
        ..SearchConfig::default()
    }
}

fn search(model: Arc<Mock>, store: Arc<Store>, cfg: SearchConfig) -> Search {
    Search::new(SearchParts {
        generator: model.clone(),
        verifier: model,
        generator_model: None,
        verifier_model: None,
        store,
        templates: Templates::default(),
        cfg,
        events: None,
    })
    .unwrap()
}

/// Generator writes a plain proof; every review finds a minor issue.
fn never_perfect() -> Arc<Mock> {
    Mock::new(|p, _| {
        if is_verification(p) {
            review("Step 2 is terse.", "0.5")
        } else {
            proof_answer("n = 2k+1 so n^2 = 2(2k^2+2k)+1.")
        }
    })
}

#[tokio::test]
async fn every_planned_sample_is_requested_once() {
    let store = Arc::new(Store::open_in_memory().unwrap());
    let model = never_perfect();
    let out = search(model.clone(), store.clone(), small(4, 5, 2, 2))
        .prove(&problem())
        .await
        .unwrap();
    // 4 proofs + 2 refinements in each of 2 rounds, each verified 5 times.
    assert_eq!(store.counts().unwrap(), (8, 40, 0));
    assert_eq!(model.samples.load(Ordering::SeqCst), 48);
    assert!(!out.solved);
    assert_eq!((out.rounds, out.stop), (2, StopReason::RoundsDone));
    assert_eq!(out.best.as_ref().unwrap().mean_score, Some(0.5));
    // Refinements name their parent, from an earlier round, and carry its critiques.
    let samples = store.samples("odd").unwrap();
    for s in samples
        .iter()
        .filter(|s| s.kind == Kind::Proof && s.round > 0)
    {
        assert_eq!(s.parent_ids.len(), 1);
        assert!(s.parent_ids[0].contains(&format!("/r{}/", s.round - 1)) || s.round == 2);
    }
    let refine_prompts: Vec<String> = model
        .prompts
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.contains("Earlier attempts"))
        .cloned()
        .collect();
    assert_eq!(refine_prompts.len(), 4);
    assert!(refine_prompts
        .iter()
        .all(|p| p.matches("Step 2 is terse.").count() == 2));
    // Usage: 4 proofs in batches of 3 = 2 requests, 8 proofs x 2 verification requests, 4 refinements.
    assert_eq!(out.usage.requests, 2 + 16 + 4);
}

#[tokio::test]
async fn a_proof_passing_every_verification_stops_the_search() {
    let store = Arc::new(Store::open_in_memory().unwrap());
    // First proofs are flawed; a refined proof (its prompt shows a review) is perfect.
    let model = Mock::new(|p, _| {
        if is_verification(p) {
            if p.contains("FIXED") {
                review("No issues.", "1")
            } else {
                review("Gap in step 1.", "0")
            }
        } else if p.contains("Earlier attempts") {
            proof_answer("FIXED argument.")
        } else {
            proof_answer("flawed argument")
        }
    });
    let out = search(model, store.clone(), small(2, 4, 1, 5))
        .prove(&problem())
        .await
        .unwrap();
    assert!(out.solved);
    assert_eq!(out.stop, StopReason::Solved);
    let best = out.best.unwrap();
    assert_eq!((best.round, best.mean_score), (1, Some(1.0)));
    assert_eq!(best.verifications.len(), 4);
    assert_eq!(out.rounds, 1, "no round after the one that solved it");
    assert_eq!(store.counts().unwrap(), (3, 12, 0));
}

#[tokio::test]
async fn meta_verification_hides_unreasonable_critiques() {
    let answer = |p: &str, i: u32| {
        if is_meta(p) {
            if p.contains("BOGUS") {
                review("The issue is not real.", "0")
            } else {
                review("Fair.", "1")
            }
        } else if is_verification(p) {
            match i % 3 {
                0 => review("BOGUS complaint.", "0"),
                1 => review("REAL gap in step 3.", "0.5"),
                _ => review("Fine.", "1"),
            }
        } else {
            proof_answer("argument")
        }
    };
    let store = Arc::new(Store::open_in_memory().unwrap());
    let model = Mock::new(answer);
    let mut cfg = small(2, 3, 1, 1);
    cfg.meta = true;
    let out = search(model.clone(), store.clone(), cfg)
        .prove(&problem())
        .await
        .unwrap();
    // Each proof has 2 reviews with issues: 2 metas per proof.
    let (p, v, m) = store.counts().unwrap();
    assert_eq!((p, v, m), (3, 9, 6));
    // The BOGUS review does not count: mean of 0.5 and 1.
    assert_eq!(out.best.unwrap().mean_score, Some(0.75));
    let prompts = model.prompts.lock().unwrap();
    let refine: Vec<&String> = prompts
        .iter()
        .filter(|p| p.contains("Earlier attempts"))
        .collect();
    assert_eq!(refine.len(), 1);
    assert!(refine[0].contains("REAL gap") && !refine[0].contains("BOGUS"));
}

#[tokio::test]
async fn only_verifications_at_or_below_the_bar_are_meta_verified() {
    // Reviews score 0, 0.5 and 1 in turn; with the bar at 0 only the 0s are judged.
    let answer = |p: &str, i: u32| {
        if is_meta(p) {
            review("Fair.", "1")
        } else if is_verification(p) {
            review("Review.", ["0", "0.5", "1"][i as usize % 3])
        } else {
            proof_answer("argument")
        }
    };
    let store = Arc::new(Store::open_in_memory().unwrap());
    let mut cfg = small(2, 3, 0, 0);
    cfg.meta = true;
    cfg.meta_max_score = 0.0;
    search(Mock::new(answer), store.clone(), cfg)
        .prove(&problem())
        .await
        .unwrap();
    assert_eq!(store.counts().unwrap(), (2, 6, 2));
    // At the release's 0.75, the 0.5s are judged too.
    let store = Arc::new(Store::open_in_memory().unwrap());
    let mut cfg = small(2, 3, 0, 0);
    cfg.meta = true;
    search(Mock::new(answer), store.clone(), cfg)
        .prove(&problem())
        .await
        .unwrap();
    assert_eq!(store.counts().unwrap(), (2, 6, 4));
}

/// Backends split a leading `<think>` block off; one left open after the review
/// stays in the stored text, and the refiner must not see it.
#[tokio::test]
async fn critiques_reach_the_refiner_without_their_reasoning() {
    let model = Mock::new(|p, _| {
        if is_verification(p) {
            format!(
                "{}\n<think>SECRET afterthought",
                review("Step 2 is terse.", "0.5")
            )
        } else {
            proof_answer("argument")
        }
    });
    let store = Arc::new(Store::open_in_memory().unwrap());
    search(model.clone(), store.clone(), small(1, 2, 1, 1))
        .prove(&problem())
        .await
        .unwrap();
    let refine: Vec<String> = model
        .prompts
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.contains("Earlier attempts"))
        .cloned()
        .collect();
    assert_eq!(refine.len(), 1);
    assert!(refine[0].contains("Step 2 is terse.") && !refine[0].contains("SECRET"));
    // With stripping off, the reasoning is shown as written.
    let store = Arc::new(Store::open_in_memory().unwrap());
    let mut cfg = small(1, 2, 1, 1);
    cfg.strip_think = false;
    let model2 = Mock::new(|p, _| {
        if is_verification(p) {
            format!(
                "{}\n<think>SECRET afterthought",
                review("Step 2 is terse.", "0.5")
            )
        } else {
            proof_answer("argument")
        }
    });
    search(model2.clone(), store, cfg)
        .prove(&problem())
        .await
        .unwrap();
    assert!(model2
        .prompts
        .lock()
        .unwrap()
        .iter()
        .any(|p| p.contains("Earlier attempts") && p.contains("SECRET")));
}

/// Three proofs, 16 verifications each, adaptive in waves of 4 (requests of 4).
fn adaptive_config(z: f64) -> SearchConfig {
    let mut cfg = small(3, 16, 0, 0);
    cfg.batch = 4;
    cfg.adaptive = true;
    cfg.wave = 4;
    cfg.adaptive_z = z;
    cfg
}

/// Runs the search again on the same database and checks it asks for nothing.
async fn resume_asks_nothing(model: Arc<Mock>, store: Arc<Store>, cfg: SearchConfig) {
    let before = model.samples.load(Ordering::SeqCst);
    search(model.clone(), store, cfg)
        .prove(&problem())
        .await
        .unwrap();
    assert_eq!(model.samples.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn adaptive_verification_stops_proofs_that_can_no_longer_pass() {
    // Three proofs, 16 verifications each in waves of 4. P0 is always doubted (stops
    // after its first wave), P1 fails its 10th check (stops after 12), P2 fails only
    // its last one (all 16, as without waves). Nothing passes, so nothing stops early.
    let model = graded(|p, idx| {
        if p.contains("proof P0") {
            "0.5"
        } else if p.contains("proof P1") {
            if idx == 9 {
                "0"
            } else {
                "1"
            }
        } else if idx == 15 {
            "0.5"
        } else {
            "1"
        }
    });
    let store = Arc::new(Store::open_in_memory().unwrap());
    let cfg = adaptive_config(SearchConfig::default().adaptive_z);
    let out = search(model.clone(), store.clone(), cfg.clone())
        .prove(&problem())
        .await
        .unwrap();
    assert_eq!(store.counts().unwrap(), (3, 4 + 12 + 16, 0));
    let best = out.best.unwrap();
    assert!(best.proof.contains("proof P2"), "{}", best.proof);
    assert!(!out.solved);
    // Run again on the same database: nothing more is asked.
    resume_asks_nothing(model, store, cfg).await;
}

#[tokio::test]
async fn adaptive_verification_keeps_verifying_proofs_in_contention_for_the_best() {
    // 16 verifications in waves of 4, nothing passes. P0 fails its 8th check and is
    // then always doubted (11/16 in all); P1 is doubted twice, early, and then always
    // passes (15/16, the best); P2 always fails. Stopped at their first doubt, P0
    // stands at 0.875 and P1 at 0.75.
    let script = || {
        graded(|p, idx| {
            if p.contains("proof P0") {
                match idx {
                    0..=6 => "1",
                    7 => "0",
                    _ => "0.5",
                }
            } else if p.contains("proof P1") {
                if idx == 2 || idx == 3 {
                    "0.5"
                } else {
                    "1"
                }
            } else {
                "0"
            }
        })
    };
    // Ranges of one standard error: P0 and P1 get waves until P1 is clear of P0.
    let (model, cfg) = (script(), adaptive_config(1.0));
    let store = Arc::new(Store::open_in_memory().unwrap());
    let out = search(model.clone(), store.clone(), cfg.clone())
        .prove(&problem())
        .await
        .unwrap();
    assert_eq!(store.counts().unwrap(), (3, 16 + 12 + 4, 0));
    assert!(out.best.unwrap().proof.contains("proof P1"));
    // Resumed: the same plan, nothing more asked.
    resume_asks_nothing(model, store, cfg).await;
    // Trusting the means so far: fewer calls, and the wrong proof.
    let (model, cfg) = (script(), adaptive_config(0.0));
    let store = Arc::new(Store::open_in_memory().unwrap());
    let out = search(model, store.clone(), cfg)
        .prove(&problem())
        .await
        .unwrap();
    assert_eq!(store.counts().unwrap(), (3, 8 + 4 + 4, 0));
    assert!(out.best.unwrap().proof.contains("proof P0"));
}

#[tokio::test]
async fn unparsable_proofs_are_kept_but_never_verified() {
    let store = Arc::new(Store::open_in_memory().unwrap());
    let model = Mock::new(|p, _| {
        if is_verification(p) {
            review("ok", "1")
        } else {
            "Just trust me.".into()
        }
    });
    let out = search(model, store.clone(), small(3, 2, 2, 2))
        .prove(&problem())
        .await
        .unwrap();
    assert_eq!(store.counts().unwrap(), (3, 0, 0));
    assert_eq!((out.solved, out.stop), (false, StopReason::NoCandidates));
    assert_eq!(out.samples.unparsable, 3);
    let s = &store.samples("odd").unwrap()[0];
    assert_eq!(s.text, "Just trust me.");
    assert_eq!(s.reason.as_deref(), Some("no `## Solution` section"));
}

#[tokio::test]
async fn the_token_budget_stops_new_requests() {
    let store = Arc::new(Store::open_in_memory().unwrap());
    let mut cfg = small(3, 3, 1, 3);
    cfg.concurrency = 1;
    cfg.max_total_tokens = Some(60);
    let out = search(never_perfect(), store.clone(), cfg)
        .prove(&problem())
        .await
        .unwrap();
    assert_eq!(out.stop, StopReason::Budget);
    assert!(
        out.usage.total_tokens() >= 60 && out.usage.total_tokens() < 60 + 35,
        "{:?}",
        out.usage
    );
}

#[tokio::test]
async fn a_failed_run_resumes_without_repeating_stored_samples() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.sqlite");
    let cfg = small(4, 4, 2, 1);
    let flaky = Arc::new(Mock {
        fail_after: Some(4),
        ..Arc::into_inner(never_perfect()).unwrap()
    });
    let first = search(flaky, Arc::new(Store::open(&path).unwrap()), cfg.clone())
        .prove(&problem())
        .await;
    let err = first.unwrap_err().to_string();
    assert!(err.contains("run the same command again"), "{err}");
    let stored = Store::open(&path).unwrap().all_samples().unwrap().len();
    assert!(stored > 0 && stored < 30, "{stored}");

    let model = never_perfect();
    let store = Arc::new(Store::open(&path).unwrap());
    let out = search(model.clone(), store.clone(), cfg)
        .prove(&problem())
        .await
        .unwrap();
    assert_eq!(store.counts().unwrap(), (6, 24, 0));
    assert_eq!(model.samples.load(Ordering::SeqCst), 30 - stored);
    assert_eq!(out.stop, StopReason::RoundsDone);
    // A third run finds everything stored and asks for nothing.
    let idle = never_perfect();
    search(idle.clone(), store, small(4, 4, 2, 1))
        .prove(&problem())
        .await
        .unwrap();
    assert_eq!(idle.requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unparsable_proofs_can_be_verified_and_refined_but_never_pass() {
    let store = Arc::new(Store::open_in_memory().unwrap());
    let model = Mock::new(|p, _| {
        if is_verification(p) {
            review("Looks right.", "1")
        } else {
            "n = 2k+1 so n^2 is odd.".into()
        }
    });
    let mut cfg = small(2, 2, 1, 1);
    cfg.verify_unparsable = true;
    let out = search(model.clone(), store.clone(), cfg)
        .prove(&problem())
        .await
        .unwrap();
    // Both proofs verified, the best refined and verified: the loop runs to the end.
    assert_eq!(store.counts().unwrap(), (3, 6, 0));
    assert!(!out.solved, "a proof outside the protocol cannot pass");
    assert_eq!(out.stop, StopReason::RoundsDone);
    let prompts = model.prompts.lock().unwrap();
    assert!(prompts
        .iter()
        .any(|p| is_verification(p) && p.contains("n = 2k+1 so n^2 is odd.")));
}

#[tokio::test]
async fn the_time_limit_abandons_slow_requests() {
    let store = Arc::new(Store::open_in_memory().unwrap());
    let slow = Arc::new(Mock {
        delay: Some(std::time::Duration::from_millis(100)),
        ..Arc::into_inner(never_perfect()).unwrap()
    });
    let mut cfg = small(2, 2, 1, 10);
    cfg.time_limit = Some(std::time::Duration::from_millis(250));
    let started = std::time::Instant::now();
    let out = search(slow, store.clone(), cfg)
        .prove(&problem())
        .await
        .unwrap();
    assert_eq!(out.stop, StopReason::Budget);
    // Generous bound: loaded CI machines; without the limit, 11 rounds of
    // 2 x 100 ms take over 2 s.
    assert!(started.elapsed() < std::time::Duration::from_millis(900));
    // What arrived in time is stored; the rest is left for a resumed run.
    let (p, v, _) = store.counts().unwrap();
    assert!(p >= 2 && p + v < 2 + 4 + 10 + 20, "{p} {v}");
}
