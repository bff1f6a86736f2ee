//! The result of a search for one problem, computed from the run database (so `runs
//! show` and `runs export` report exactly what `prove` reported).

use crate::config::SearchConfig;
use crate::pool::Pool;
use serde::Serialize;
use store::{Problem, Store, StoreError, UsageTotals};

/// Why the search of a problem stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// A proof passed every verification.
    Solved,
    /// Every planned round ran.
    RoundsDone,
    /// The token or time budget ran out.
    Budget,
    /// No proof could be verified, so there was nothing to refine.
    NoCandidates,
    /// Read back from a database, without a search.
    Stored,
}

/// One verification of the best proof.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerificationSummary {
    pub id: String,
    pub score: Option<f64>,
    pub parsed: bool,
    /// False when the meta-verifier judged it unreasonable.
    pub counted: bool,
    pub text: String,
}

/// The best proof of a problem.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BestProof {
    pub proof_id: String,
    pub proof: String,
    pub mean_score: Option<f64>,
    pub self_score: Option<f64>,
    /// Whether the proof followed the output protocol (proof and self-evaluation
    /// found); a proof that did not can be verified but never passes.
    pub parsed: bool,
    pub verifications: Vec<VerificationSummary>,
    pub round: u32,
}

/// What the search of one problem produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub problem_idx: String,
    #[serde(skip)]
    pub problem_key: String,
    #[serde(skip)]
    pub question: String,
    pub solved: bool,
    /// The last round that has proofs (0 = only the first proofs).
    pub rounds: u32,
    pub stop: StopReason,
    pub best: Option<BestProof>,
    /// Stored proofs, verifications and meta-verifications.
    pub samples: SampleCounts,
    pub usage: UsageTotals,
    /// Bodies of the best-ranked proofs that followed the protocol (at most
    /// [`TOP_PROOFS`]), so a caller can check that they reach the same final answer.
    #[serde(skip)]
    pub top_proofs: Vec<String>,
}

/// How many of the best-ranked proofs [`Outcome::top_proofs`] keeps.
pub const TOP_PROOFS: usize = 8;

/// How many samples of each kind are stored, and how many of them are unparsable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SampleCounts {
    pub proofs: u64,
    pub verifications: u64,
    pub metas: u64,
    pub unparsable: u64,
}

/// Summarize the stored search of `problem`.
pub fn summarize(
    store: &Store,
    problem: &Problem,
    cfg: &SearchConfig,
    stop: StopReason,
) -> Result<Outcome, StoreError> {
    let samples = store.samples(&problem.key)?;
    let pool = Pool::new(&samples, cfg);
    let passed = pool.passed();
    let best = passed.or_else(|| pool.best()).map(|s| {
        let counted: Vec<&str> = s.counted.iter().map(|v| v.id.as_str()).collect();
        BestProof {
            proof_id: s.proof.id.clone(),
            proof: s.proof.body.clone().unwrap_or_default(),
            mean_score: s.mean,
            self_score: s.proof.score,
            parsed: s.proof.status == store::ParseStatus::Ok,
            round: s.proof.round,
            verifications: s
                .verifications
                .iter()
                .map(|v| VerificationSummary {
                    id: v.id.clone(),
                    score: v.score,
                    parsed: v.status == store::ParseStatus::Ok,
                    counted: counted.contains(&v.id.as_str()),
                    text: v.text.clone(),
                })
                .collect(),
        }
    });
    let mut counts = SampleCounts::default();
    for s in &samples {
        match s.kind {
            store::Kind::Proof => counts.proofs += 1,
            store::Kind::Verification => counts.verifications += 1,
            store::Kind::Meta => counts.metas += 1,
        }
        if s.status == store::ParseStatus::Unparsable {
            counts.unparsable += 1;
        }
    }
    let top_proofs = pool
        .ranked(u32::MAX)
        .into_iter()
        .filter(|s| s.proof.status == store::ParseStatus::Ok)
        .filter_map(|s| s.proof.body.clone())
        .take(TOP_PROOFS)
        .collect();
    let solved = passed.is_some();
    Ok(Outcome {
        problem_idx: problem.problem_idx.clone(),
        problem_key: problem.key.clone(),
        question: problem.question.clone(),
        solved,
        rounds: samples.iter().map(|s| s.round).max().unwrap_or(0),
        stop: if solved { StopReason::Solved } else { stop },
        best,
        samples: counts,
        usage: store.usage(Some(&problem.key))?,
        top_proofs,
    })
}
