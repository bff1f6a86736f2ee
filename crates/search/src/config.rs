//! Settings of the proof search, with the paper's heavy setting as default and a
//! `quick` preset for small machines.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Every knob of the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchConfig {
    /// Initial proofs per problem (round 0).
    pub proofs: u32,
    /// Verifications of every proof.
    pub verifications: u32,
    /// Proofs refined per round (the best by mean verification score).
    pub refine: u32,
    /// Critiques shown with each refined proof (those that found issues first).
    pub critiques: u32,
    /// Of those, at most this many with any one score, so the refiner sees more than
    /// one verdict when the verifiers disagree (the release: 8 critiques, at most 4
    /// per score).
    #[serde(default = "default_critiques_per_score")]
    pub critiques_per_score: u32,
    /// Remove `<think>…</think>` reasoning from critiques before the refiner sees them.
    #[serde(default = "yes")]
    pub strip_think: bool,
    /// Refinement rounds after the first.
    pub rounds: u32,
    /// Judge each critique that found issues with the meta-verifier; critiques judged
    /// unreasonable (meta score 0) are hidden from the refiner and ignored in ranking.
    pub meta: bool,
    /// With `meta`: only verifications scoring at most this are meta-verified.
    #[serde(default = "default_meta_max_score")]
    pub meta_max_score: f64,
    /// A proof also passes (and stops the search) when every planned verification is
    /// in and their mean exceeds this; `None`: only "every verification passed".
    #[serde(default = "default_pass_mean")]
    pub pass_mean: Option<f64>,
    /// End a problem's search as soon as a proof passes, abandoning the requests in
    /// flight. `false` lets the round finish (every planned verification stored),
    /// which records a complete run for `bench search --replay`; the search still
    /// stops after that round.
    #[serde(default = "yes")]
    pub stop_on_pass: bool,
    /// Verify in waves of `wave` and stop verifying a proof at the end of a wave once
    /// it can no longer pass (a counted verification scored below 1) nor reach the
    /// ranks that decide the result ([`crate::pool::verification_plan`]), so verifier
    /// calls go to the proofs still in contention.
    #[serde(default)]
    pub adaptive: bool,
    /// Verifications per wave with `adaptive`; best no fewer than `critiques`, so a
    /// proof stopped after one wave still has a full set of critiques to refine with.
    #[serde(default = "default_wave")]
    pub wave: u32,
    /// With `adaptive`: how wide, in standard errors, the range is within which a
    /// stopped proof's mean could still end up; a proof whose range overlaps one on
    /// the other side of a cut that matters (the best proof, the best `refine`) gets
    /// another wave. 0 trusts every mean so far.
    #[serde(default = "default_adaptive_z")]
    pub adaptive_z: f64,
    /// Token limit per sample.
    pub max_tokens: Option<u32>,
    /// Token budget of the whole run (prompt + completion, stored usage included).
    pub max_total_tokens: Option<u64>,
    /// Wall-clock limit of this invocation.
    pub time_limit: Option<Duration>,
    /// Requests in flight at once, over all problems.
    pub concurrency: usize,
    /// Most samples asked for in one request (`n`); identical prompts are batched.
    pub batch: u32,
    pub temperature: f32,
    pub top_p: f32,
    /// Also verify (and possibly refine) proofs that break the output protocol, using
    /// their whole answer as the proof. They can never pass. Useful with small models
    /// that rarely follow the protocol; wasteful with strong ones.
    #[serde(default)]
    pub verify_unparsable: bool,
}

impl Default for SearchConfig {
    /// The paper's heavy setting: 64 proofs × 64 verifications, the best 64 refined
    /// with 8 critiques each, up to 16 rounds.
    fn default() -> Self {
        SearchConfig {
            proofs: 64,
            verifications: 64,
            refine: 64,
            critiques: 8,
            critiques_per_score: default_critiques_per_score(),
            strip_think: true,
            rounds: 16,
            meta: false,
            meta_max_score: default_meta_max_score(),
            pass_mean: default_pass_mean(),
            stop_on_pass: true,
            adaptive: false,
            wave: default_wave(),
            adaptive_z: default_adaptive_z(),
            max_tokens: None,
            max_total_tokens: None,
            time_limit: None,
            concurrency: 64,
            batch: 16,
            temperature: 1.0,
            top_p: 1.0,
            verify_unparsable: false,
        }
    }
}

// The released search's values, also for runs stored before these settings existed.
fn default_critiques_per_score() -> u32 {
    4
}
fn yes() -> bool {
    true
}
fn default_meta_max_score() -> f64 {
    0.75
}
fn default_pass_mean() -> Option<f64> {
    Some(0.99999)
}
fn default_wave() -> u32 {
    8
}
fn default_adaptive_z() -> f64 {
    1.0
}

/// Named settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The paper's setting (the default).
    Heavy,
    /// For a laptop and a small local model: 4 proofs × 4 verifications, the best 2
    /// refined with 2 critiques, 1 refinement round, 1024 tokens per sample (enough
    /// for a 1.5B instruct model to finish a short proof and its self-evaluation), and
    /// proofs that break the protocol verified anyway (small models often break it,
    /// and the loop should still run). 30 samples: several minutes for the default
    /// 1.5B model on 2 cores.
    Quick,
}

impl Preset {
    pub fn config(self) -> SearchConfig {
        match self {
            Preset::Heavy => SearchConfig::default(),
            Preset::Quick => SearchConfig {
                proofs: 4,
                verifications: 4,
                refine: 2,
                critiques: 2,
                rounds: 1,
                max_tokens: Some(1024),
                concurrency: 4,
                batch: 4,
                verify_unparsable: true,
                ..SearchConfig::default()
            },
        }
    }
}
