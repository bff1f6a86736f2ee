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
    /// Indices of the verifications that found issues and still wait for their
    /// meta-verification (with `meta`): until it comes, nobody knows whether they count.
    pub awaiting_meta: Vec<u32>,
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
                    .map(|v| v.idx)
                    .collect();
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

/// How many verifications each proof of `round` should have, by proof id: all
/// `verifications`, or with `adaptive` what the wave rule asks for so far. Proofs of
/// other rounds, and those that are not verified (unparsable without
/// `verify_unparsable`), are absent.
///
/// The adaptive rule, a function of the stored samples only (so a resumed run asks for
/// the same verifications, and `bench search --replay` runs it on a recorded run):
///
/// 1. Each proof gets waves of `wave` verifications until it can no longer pass (a
///    counted verification in the waves so far scored below 1 or did not parse), or
///    until it has them all. A wave's end waits for the meta-verifications that could
///    set a doubted verification aside. The waves of one proof go on whatever the
///    others do.
/// 2. Once every proof of the round is stored (`round_stored`) and has the waves step 1
///    gives it, the proofs are ranked by their mean so far, and each mean gets a range
///    of where it could end up with the verifications it has not had: `adaptive_z`
///    standard errors either side (the deviation no smaller than 0.25), within what
///    the missing verifications can reach at all. Where the ranking matters — the best
///    proof, and with a refinement round to come the cut after the best `refine` — a
///    stopped proof whose range overlaps a range on the other side of the cut is still
///    in contention and gets another wave; then step 1 and 2 again. Proofs of earlier
///    rounds compete with what they have.
///
/// Only the verifications `0..k` stored in a row count, so a record with more (a run
/// without waves) is read as if the rule had asked for them.
pub fn verification_plan<'a>(
    pool: &Pool<'a>,
    cfg: &SearchConfig,
    round: u32,
    round_stored: bool,
) -> HashMap<&'a str, u32> {
    let all = cfg.verifications;
    let verified = |s: &ProofStats| {
        s.proof.round == round
            && s.proof.body.is_some()
            && (s.proof.status == ParseStatus::Ok || cfg.verify_unparsable)
    };
    let active: Vec<usize> = (0..pool.stats.len())
        .filter(|&i| verified(&pool.stats[i]))
        .collect();
    let mut wanted: HashMap<&'a str, u32> = active
        .iter()
        .map(|&i| (pool.stats[i].proof.id.as_str(), 0))
        .collect();
    if !cfg.adaptive {
        wanted.values_mut().for_each(|w| *w = all);
        return wanted;
    }
    let wave = cfg.wave.max(1);
    loop {
        // Step 1: each proof's own waves, as far as the stored samples go.
        let mut settled = true;
        for &i in &active {
            let stats = &pool.stats[i];
            let w = wanted.get_mut(stats.proof.id.as_str()).expect("active");
            loop {
                let prefix = Prefix::of(stats, *w);
                if prefix.stored < *w || prefix.awaiting_meta {
                    settled = false;
                    break;
                }
                let next = if *w >= all || (*w > 0 && prefix.failed) {
                    *w
                } else {
                    (*w + wave).min(all)
                };
                if next == *w {
                    break;
                }
                *w = next;
            }
        }
        if !settled || !round_stored {
            return wanted;
        }
        // Step 2: another wave for the stopped proofs still in contention.
        let contenders = in_contention(pool, cfg, round, &wanted);
        let mut extended = false;
        for id in contenders {
            if let Some(w) = wanted.get_mut(id) {
                if *w < all {
                    *w = (*w + wave).min(all);
                    extended = true;
                }
            }
        }
        if !extended {
            return wanted;
        }
    }
}

/// What the first `k` verifications of a proof say.
struct Prefix {
    /// Of `0..k`, how many are stored in a row from 0.
    stored: u32,
    /// Effective scores of the counted ones.
    scores: Vec<f64>,
    /// A counted one scored below 1 or did not parse.
    failed: bool,
    /// A doubted one still waits for its meta-verification.
    awaiting_meta: bool,
}

impl Prefix {
    fn of(stats: &ProofStats, k: u32) -> Prefix {
        let stored = stats
            .verifications
            .iter()
            .enumerate()
            .take_while(|&(i, v)| v.idx == i as u32 && v.idx < k)
            .count() as u32;
        let scores: Vec<f64> = stats
            .counted
            .iter()
            .filter(|v| v.idx < k)
            .map(|v| effective_score(v))
            .collect();
        Prefix {
            stored,
            failed: scores.iter().any(|&s| s < 1.0),
            scores,
            awaiting_meta: stats.awaiting_meta.iter().any(|&i| i < k),
        }
    }
}

/// Where a proof's mean could end up: `(mean so far, low, high)`.
fn mean_range(scores: &[f64], missing: u32, z: f64) -> (f64, f64, f64) {
    let n = scores.len() as f64;
    let sum: f64 = scores.iter().sum();
    let mean = sum / n;
    if missing == 0 {
        return (mean, mean, mean);
    }
    let var = scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let half = z * var.sqrt().max(0.25) / n.sqrt();
    let (m, total) = (f64::from(missing), n + f64::from(missing));
    let (floor, ceiling) = (sum / total, (sum + m) / total);
    (mean, (mean - half).max(floor), (mean + half).min(ceiling))
}

/// The proofs whose place on either side of a cut that matters — the best proof, and
/// the best `refine` when a refinement round follows — could still change, by the
/// ranges of [`mean_range`] over the verifications in `wanted` (proofs of `round`) or
/// stored (earlier rounds).
fn in_contention<'a>(
    pool: &Pool<'a>,
    cfg: &SearchConfig,
    round: u32,
    wanted: &HashMap<&'a str, u32>,
) -> Vec<&'a str> {
    struct Entry<'a> {
        id: &'a str,
        key: (f64, bool, f64),
        low: f64,
        high: f64,
    }
    let mut entries: Vec<Entry> = pool
        .stats
        .iter()
        .filter(|s| s.proof.round <= round)
        .filter_map(|s| {
            let id = s.proof.id.as_str();
            let k = wanted
                .get(id)
                .copied()
                .unwrap_or(s.verifications.len() as u32);
            let prefix = Prefix::of(s, k);
            if prefix.scores.is_empty() {
                return None;
            }
            let missing = if wanted.contains_key(id) {
                cfg.verifications.saturating_sub(k)
            } else {
                0
            };
            let (mean, low, high) = mean_range(&prefix.scores, missing, cfg.adaptive_z);
            let key = (
                mean,
                s.proof.status == ParseStatus::Ok,
                s.proof.score.unwrap_or(-1.0),
            );
            Some(Entry { id, key, low, high })
        })
        .collect();
    // The ranking of `Pool::ranked`.
    entries.sort_by(|a, b| {
        b.key
            .0
            .total_cmp(&a.key.0)
            .then(b.key.1.cmp(&a.key.1))
            .then(b.key.2.total_cmp(&a.key.2))
            .then_with(|| a.id.cmp(b.id))
    });
    let mut cuts = vec![1];
    if round < cfg.rounds && cfg.refine > 1 {
        cuts.push(cfg.refine as usize);
    }
    let mut out = Vec::new();
    for cut in cuts {
        if cut >= entries.len() {
            continue;
        }
        let (top, rest) = entries.split_at(cut);
        let top_low = top.iter().map(|e| e.low).fold(f64::INFINITY, f64::min);
        let rest_high = rest
            .iter()
            .map(|e| e.high)
            .fold(f64::NEG_INFINITY, f64::max);
        // Ranges that only touch count too: the tie-break could go either way.
        out.extend(top.iter().filter(|e| e.low <= rest_high).map(|e| e.id));
        out.extend(rest.iter().filter(|e| e.high >= top_low).map(|e| e.id));
    }
    out.sort_unstable();
    out.dedup();
    out
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
