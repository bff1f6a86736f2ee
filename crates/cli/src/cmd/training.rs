//! Training data from a run database: `runs export --format sft|preference|grpo`.
//!
//! Every record is one JSON line in the conversational layout that TRL's trainers read
//! (`messages` for SFT; `prompt` / `chosen` / `rejected` for DPO-style preference
//! training; `prompt` for GRPO), and the GRPO records also carry the keys verl's RL
//! datasets use (`data_source`, `ability`, `reward_model`, `extra_info`). Extra keys
//! (scores, ids) ride along for filtering; both libraries leave unknown columns alone.
//!
//! Prompts are rendered again from the problem with the prompt templates (the built-in
//! ones unless `--templates` names the directory the run used): a proof is paired
//! with the generation prompt of its problem, a verification with its verification
//! prompt. Which proofs count:
//! - `sft`: per problem, the best proof by mean verification score if that mean is at
//!   least `--min-score` (default 1), and the parsed verifications of that proof;
//! - `preference`: per problem, every proof at or above `--min-score` (default 1)
//!   paired with one proof of the same problem that scored lower and did not pass,
//!   lowest first, each rejected proof used once while there are enough;
//! - `grpo`: one record per problem, with its gold answer when the run has one
//!   (rule reward) or else the verifier as the reward model, and the proofs' mean
//!   scores as the observed rewards.

use std::io::Write;

use search::pool::Pool;
use search::{SearchConfig, Templates};
use serde_json::{json, Value};
use store::{Kind, ParseStatus, Problem, Store};

/// Which training layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Sft,
    Preference,
    Grpo,
}

fn user(content: &str) -> Value {
    json!([{"role": "user", "content": content}])
}

fn assistant(content: &str) -> Value {
    json!([{"role": "assistant", "content": content}])
}

/// Write the records of `layout` for every problem of the run to `out`; returns how
/// many were written.
pub fn write(
    store: &Store,
    cfg: &SearchConfig,
    templates: &Templates,
    layout: Layout,
    min_score: Option<f64>,
    out: &mut impl Write,
) -> anyhow::Result<usize> {
    let bar = min_score.unwrap_or(1.0);
    let mut written = 0;
    for problem in store.problems()? {
        let samples = store.samples(&problem.key)?;
        let pool = Pool::new(&samples, cfg);
        let records = match layout {
            Layout::Sft => sft(&problem, &pool, templates, bar),
            Layout::Preference => preference(&problem, &pool, templates, bar),
            Layout::Grpo => grpo(&problem, &pool, templates),
        };
        for r in records {
            writeln!(out, "{r}")?;
            written += 1;
        }
    }
    Ok(written)
}

fn sft(problem: &Problem, pool: &Pool, templates: &Templates, bar: f64) -> Vec<Value> {
    let Some(best) = pool.ranked(u32::MAX).into_iter().next() else {
        return Vec::new();
    };
    let mean = best.mean.unwrap_or(0.0);
    if mean < bar || best.proof.status != ParseStatus::Ok {
        return Vec::new();
    }
    let prompt = templates.generation_prompt(&problem.question);
    let mut out = vec![json!({
        "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": best.proof.text},
        ],
        "kind": "proof",
        "problem_idx": problem.problem_idx,
        "id": best.proof.id,
        "score": mean,
    })];
    let body = best.proof.body.as_deref().unwrap_or_default();
    let verify = templates.verification_prompt(&problem.question, body);
    for v in best
        .verifications
        .iter()
        .filter(|v| v.kind == Kind::Verification && v.status == ParseStatus::Ok)
    {
        out.push(json!({
            "messages": [
                {"role": "user", "content": verify},
                {"role": "assistant", "content": v.text},
            ],
            "kind": "verification",
            "problem_idx": problem.problem_idx,
            "id": v.id,
            "score": v.score,
        }));
    }
    out
}

fn preference(problem: &Problem, pool: &Pool, templates: &Templates, bar: f64) -> Vec<Value> {
    let ranked = pool.ranked(u32::MAX);
    let chosen: Vec<_> = ranked
        .iter()
        .filter(|s| s.proof.status == ParseStatus::Ok && s.mean.is_some_and(|m| m >= bar))
        .collect();
    // Lowest first, so the clearest contrasts are used before the closer ones.
    let rejected: Vec<_> = ranked
        .iter()
        .rev()
        .filter(|s| !s.passed && s.mean.is_some_and(|m| m < bar))
        .collect();
    if rejected.is_empty() {
        return Vec::new();
    }
    let prompt = templates.generation_prompt(&problem.question);
    chosen
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let r = rejected[i % rejected.len()];
            json!({
                "prompt": user(&prompt),
                "chosen": assistant(&c.proof.text),
                "rejected": assistant(&r.proof.text),
                "problem_idx": problem.problem_idx,
                "chosen_id": c.proof.id,
                "rejected_id": r.proof.id,
                "chosen_score": c.mean,
                "rejected_score": r.mean,
            })
        })
        .collect()
}

fn grpo(problem: &Problem, pool: &Pool, templates: &Templates) -> Vec<Value> {
    let prompt = templates.generation_prompt(&problem.question);
    let rewards: Vec<Value> = pool
        .ranked(u32::MAX)
        .iter()
        .map(|s| json!({"id": s.proof.id, "reward": s.mean}))
        .collect();
    let reward_model = match &problem.answer {
        Some(gold) => json!({"style": "rule", "ground_truth": gold}),
        None => json!({"style": "model", "ground_truth": Value::Null}),
    };
    vec![json!({
        "data_source": "verimath",
        "prompt": user(&prompt),
        "ability": "math",
        "reward_model": reward_model,
        "extra_info": {
            "problem_idx": problem.problem_idx,
            "question": problem.question,
            "observed_rewards": rewards,
        },
    })]
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{RequestTokens, Sample};

    /// Three proofs: p0 passes (1, 1), p1 half-right (1, 0), p2 wrong (0, 0).
    fn run() -> (Store, SearchConfig) {
        let store = Store::open_in_memory().unwrap();
        store
            .add_problem(&Problem::statement("p", "Prove that 1 = 1."))
            .unwrap();
        let mut samples = Vec::new();
        for (p, scores) in [
            ("p/r0/p0", [1.0, 1.0]),
            ("p/r0/p1", [1.0, 0.0]),
            ("p/r0/p2", [0.0, 0.0]),
        ] {
            samples.push(Sample::given_proof(p, "p", &format!("answer {p}")));
            for (j, s) in scores.iter().enumerate() {
                let id = format!("{p}/v{j}");
                samples.push(Sample::judgement(Kind::Verification, &id, p, *s));
            }
        }
        store
            .insert_samples("p", Kind::Proof, &samples, RequestTokens::default())
            .unwrap();
        let cfg = SearchConfig {
            verifications: 2,
            ..SearchConfig::default()
        };
        (store, cfg)
    }

    fn records(layout: Layout, min: Option<f64>) -> Vec<Value> {
        let (store, cfg) = run();
        let mut buf = Vec::new();
        write(&store, &cfg, &Templates::default(), layout, min, &mut buf).unwrap();
        String::from_utf8(buf)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn sft_holds_the_best_proof_and_its_verifications_as_chats() {
        let r = records(Layout::Sft, None);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0]["kind"], "proof");
        assert_eq!(r[0]["messages"][1]["content"], "answer p/r0/p0");
        assert!(r[0]["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Prove that 1 = 1."));
        assert!(r[1..].iter().all(|v| v["kind"] == "verification"
            && v["messages"][0]["content"]
                .as_str()
                .unwrap()
                .contains("answer p/r0/p0")));
        // Nothing reaches a bar above the best mean.
        assert!(records(Layout::Sft, Some(1.5)).is_empty());
    }

    #[test]
    fn preference_pairs_a_passing_proof_with_a_failed_one() {
        let r = records(Layout::Preference, None);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["chosen_id"], "p/r0/p0");
        assert_eq!(r[0]["rejected_id"], "p/r0/p2", "the lowest first");
        assert_eq!(r[0]["prompt"][0]["role"], "user");
        assert_eq!(r[0]["chosen"][0]["role"], "assistant");
        // A lower bar makes the half-right proof a chosen one too.
        let r = records(Layout::Preference, Some(0.5));
        let chosen: Vec<&str> = r.iter().map(|v| v["chosen_id"].as_str().unwrap()).collect();
        assert_eq!(chosen, ["p/r0/p0", "p/r0/p1"]);
    }

    #[test]
    fn grpo_records_carry_the_prompt_and_the_reward_source() {
        let r = records(Layout::Grpo, None);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["reward_model"]["style"], "model");
        assert_eq!(r[0]["data_source"], "verimath");
        let rewards = r[0]["extra_info"]["observed_rewards"].as_array().unwrap();
        assert_eq!(rewards.len(), 3);
        assert_eq!(rewards[0]["reward"], 1.0);
    }
}
