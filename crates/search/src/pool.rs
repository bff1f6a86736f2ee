//! The proof pool: scores of stored proofs, ranking, pass test, and the choice of
//! proofs and critiques for refinement.
//!
//! Everything here is a pure function of stored samples, so a resumed run computes
//! exactly the same selection as the run that was interrupted.

use crate::config::SearchConfig;
use std::collections::HashMap;
use store::{Kind, ParseStatus, Sample};

/// A proof with what its verifications say about it.
#[derive(Debug, Clone)]
pub struct ProofStats<'a> {
    pub proof: &'a Sample,
    /// Verifications that count: all but those the meta-verifier judged unreasonable.
    pub counted: Vec<&'a Sample>,
    /// Every stored verification of the proof, parsed or not.
    pub verifications: Vec<&'a Sample>,
    /// Mean score of the counted verifications.
    pub mean: Option<f64>,
    /// Whether the proof passed every verification.
    pub passed: bool,
    /// Verifications that found issues and still wait for their meta-verification
    /// (with `meta`): until it comes, nobody knows whether they count.
    pub awaiting_meta: usize,
}

/// The stored samples of one problem, indexed for ranking.
pub struct Pool<'a> {
    pub stats: Vec<ProofStats<'a>>,
}

impl<'a> Pool<'a> {
    /// Index `samples` (all kinds, one problem) under the settings `cfg`.
    pub fn new(samples: impl IntoIterator<Item = &'a Sample>, cfg: &SearchConfig) -> Pool<'a> {
        let samples: Vec<&'a Sample> = samples.into_iter().collect();
        let mut verifs: HashMap<&str, Vec<&Sample>> = HashMap::new();
        let mut metas: HashMap<&str, Vec<&Sample>> = HashMap::new();
        for &s in &samples {
            let target = s.target_id.as_deref().unwrap_or_default();
            match s.kind {
                Kind::Verification => verifs.entry(target).or_default().push(s),
                Kind::Meta => metas.entry(target).or_default().push(s),
                Kind::Proof => {}
            }
        }
        let judged = |v: &Sample| metas.contains_key(v.id.as_str());
        let unreasonable = |v: &Sample| {
            cfg.meta
                && metas.get(v.id.as_str()).is_some_and(|ms| {
                    ms.iter()
                        .any(|m| m.status == ParseStatus::Ok && m.score == Some(0.0))
                })
        };
        let stats = samples
            .iter()
            .copied()
            .filter(|s| s.kind == Kind::Proof)
            .map(|proof| {
                let mut verifications = verifs.remove(proof.id.as_str()).unwrap_or_default();
                verifications.sort_by_key(|v| v.idx);
                let counted: Vec<&Sample> = verifications
                    .iter()
                    .copied()
                    .filter(|v| !unreasonable(v))
                    .collect();
                // An unparsable verification endorses nothing: it counts as 0.
                let mean = (!counted.is_empty()).then(|| {
                    counted.iter().map(|v| effective_score(v)).sum::<f64>() / counted.len() as f64
                });
                // A pass needs every planned verification stored and parsed, and each
                // one scoring 1 or set aside by the meta-verifier; or, with
                // `pass_mean`, every planned verification stored and a mean above it.
                let complete = proof.status == ParseStatus::Ok
                    && verifications.len() >= cfg.verifications as usize
                    && !counted.is_empty();
                let all_pass = verifications.iter().all(|v| {
                    v.status == ParseStatus::Ok && (v.score == Some(1.0) || unreasonable(v))
                });
                let mean_pass = matches!((cfg.pass_mean, mean), (Some(t), Some(m)) if m > t);
                let passed = complete && (all_pass || mean_pass);
                let awaiting_meta = verifications
                    .iter()
                    .filter(|v| {
                        cfg.meta
                            && v.status == ParseStatus::Ok
                            && v.score.is_some_and(|s| s <= cfg.meta_max_score)
                            && !judged(v)
                    })
                    .count();
                ProofStats {
                    proof,
                    counted,
                    verifications,
                    mean,
                    passed,
                    awaiting_meta,
                }
            })
            .collect();
        Pool { stats }
    }

    /// A proof that passed every verification, the best ranked one if several.
    pub fn passed(&self) -> Option<&ProofStats<'a>> {
        self.ranked(u32::MAX).into_iter().find(|s| s.passed)
    }

    /// Verified proofs of rounds before `before_round`, best first: mean score, then
    /// protocol followed, then self-evaluation score, then id (so ties are broken the
    /// same way on every run). Unparsable proofs only have verifications when the
    /// search verifies them (`verify_unparsable`).
    pub fn ranked(&self, before_round: u32) -> Vec<&ProofStats<'a>> {
        let mut out: Vec<&ProofStats> = self
            .stats
            .iter()
            .filter(|s| s.proof.round < before_round && s.mean.is_some())
            .collect();
        out.sort_by(|a, b| {
            let key = |s: &ProofStats| {
                (
                    s.mean.unwrap_or(-1.0),
                    s.proof.status == ParseStatus::Ok,
                    s.proof.score.unwrap_or(-1.0),
                )
            };
            let (ka, kb) = (key(a), key(b));
            kb.0.total_cmp(&ka.0)
                .then(kb.1.cmp(&ka.1))
                .then(kb.2.total_cmp(&ka.2))
                .then_with(|| a.proof.id.cmp(&b.proof.id))
        });
        out
    }

    /// The best proof to report: the best ranked one, or failing that the parsed proof
    /// with the best self-evaluation (nothing verified yet).
    pub fn best(&self) -> Option<&ProofStats<'a>> {
        if let Some(s) = self.ranked(u32::MAX).into_iter().next() {
            return Some(s);
        }
        self.stats
            .iter()
            .filter(|s| s.proof.status == ParseStatus::Ok)
            .max_by(|a, b| {
                let (sa, sb) = (a.proof.score.unwrap_or(-1.0), b.proof.score.unwrap_or(-1.0));
                sa.total_cmp(&sb).then_with(|| b.proof.id.cmp(&a.proof.id))
            })
    }
}

/// How many verifications proof `stats` should have: all `verifications`, or with
/// `adaptive` the waves so far. Only the stored samples decide (so a resumed run asks
/// for the same ones): the verifications `0..k` stored in a row count; a wave that is
/// not complete is completed; at a wave's end the proof gets the next wave unless it
/// can no longer pass (a counted verification below 1 or unparsable), and waits while
/// a meta-verification that could set a doubted one aside is still out.
pub fn verifications_wanted(stats: &ProofStats, cfg: &SearchConfig) -> u32 {
    let all = cfg.verifications;
    if !cfg.adaptive {
        return all;
    }
    let wave = cfg.wave.max(1);
    let mut have: Vec<u32> = stats.verifications.iter().map(|v| v.idx).collect();
    have.sort_unstable();
    let done = have
        .iter()
        .enumerate()
        .take_while(|&(i, &idx)| idx == i as u32)
        .count() as u32;
    if done >= all {
        return all;
    }
    if !done.is_multiple_of(wave) {
        return (done.div_ceil(wave) * wave).min(all);
    }
    if done > 0 {
        if stats.awaiting_meta > 0 {
            return done;
        }
        let counted: std::collections::HashSet<&str> =
            stats.counted.iter().map(|v| v.id.as_str()).collect();
        let failed = stats
            .verifications
            .iter()
            .filter(|v| v.idx < done && counted.contains(v.id.as_str()))
            .any(|v| effective_score(v) < 1.0);
        if failed {
            return done;
        }
    }
    (done + wave).min(all)
}

/// The score a verification contributes to a mean: its score if it parsed, else 0.
fn effective_score(v: &Sample) -> f64 {
    match (v.status, v.score) {
        (ParseStatus::Ok, Some(s)) => s,
        _ => 0.0,
    }
}

/// The critiques shown to the refiner for `stats`: counted verifications that found
/// issues (score < 1) first, then those that found none, then unparsable ones, each
/// group in a pseudo-random order fixed by the ids; at most `count`, and at most
/// `per_score` with any one score (unparsable ones count as one score).
pub fn choose_critiques<'a>(stats: &ProofStats<'a>, count: u32, per_score: u32) -> Vec<&'a Sample> {
    let score_of = |v: &Sample| match (v.status, v.score) {
        (ParseStatus::Ok, Some(s)) => Some((s * 2.0).round() as i64),
        _ => None,
    };
    let mut order: Vec<&Sample> = stats.counted.clone();
    order.sort_by_key(|v| {
        let group = match score_of(v) {
            Some(s) if s < 2 => 0,
            Some(_) => 1,
            None => 2,
        };
        (group, stable_hash(&format!("{}|{}", stats.proof.id, v.id)))
    });
    let mut taken: HashMap<Option<i64>, u32> = HashMap::new();
    let mut pick = Vec::new();
    for v in order {
        if pick.len() >= count as usize {
            break;
        }
        let n = taken.entry(score_of(v)).or_default();
        if *n < per_score {
            *n += 1;
            pick.push(v);
        }
    }
    pick
}

/// FNV-1a: a hash that stays the same across builds and platforms (the standard
/// library's hasher makes no such promise), for orders that must survive a restart.
pub fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests;
