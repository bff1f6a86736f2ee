//! `verimath bench search --replay RUN`: what adaptive verification would have saved
//! on a recorded run, and whether it would have chosen the same proofs.
//!
//! For every proof of the run its recorded verifications are replayed in index order,
//! wave by wave, through the same rule the search uses
//! ([`search::pool::verifications_wanted`]), together with the meta-verifications of
//! the verifications it keeps. The proofs of a problem are then ranked on that subset
//! and on everything recorded: the report gives the verifier calls of each, and in how
//! many problems the best proof and the pass verdict are the same. Refinements are
//! replayed as recorded (a live adaptive run could have refined other proofs: the
//! agreement of the best proof per problem says how often that would not happen).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::Context;
use search::pool::{verifications_wanted, Pool};
use search::SearchConfig;
use serde_json::json;
use store::{Kind, Sample, Store};

/// What the replay found over a run.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Replay {
    pub problems: usize,
    pub proofs: usize,
    /// Verifications and metas recorded / kept by the adaptive rule.
    pub calls_full: usize,
    pub calls_adaptive: usize,
    /// Problems whose best proof is the same under both.
    pub same_best: usize,
    /// Problems whose verdict (some proof passes or none) is the same under both.
    pub same_pass: usize,
}

impl Replay {
    /// Share of the recorded verifier calls the adaptive rule does without (0 when
    /// nothing was recorded).
    pub fn saved(&self) -> f64 {
        if self.calls_full == 0 {
            return 0.0;
        }
        1.0 - self.calls_adaptive as f64 / self.calls_full as f64
    }
}

/// Replay the run in `store` under `cfg` with adaptive waves of `wave`.
pub fn replay(store: &Store, cfg: &SearchConfig, wave: u32) -> anyhow::Result<Replay> {
    let adaptive = SearchConfig {
        adaptive: true,
        wave,
        ..cfg.clone()
    };
    let mut r = Replay::default();
    for problem in store.problems()? {
        let samples = store.samples(&problem.key)?;
        if !samples.iter().any(|s| s.kind == Kind::Proof) {
            continue;
        }
        r.problems += 1;
        let kept = adaptive_subset(&samples, &adaptive);
        r.calls_full += samples.iter().filter(|s| s.kind != Kind::Proof).count();
        r.calls_adaptive += kept.iter().filter(|s| s.kind != Kind::Proof).count();
        r.proofs += samples.iter().filter(|s| s.kind == Kind::Proof).count();
        let full = Pool::new(&samples, cfg);
        let part = Pool::new(kept.iter().copied(), cfg);
        let best = |p: &Pool| p.best().map(|s| s.proof.id.clone());
        if best(&full) == best(&part) {
            r.same_best += 1;
        }
        if full.passed().is_some() == part.passed().is_some() {
            r.same_pass += 1;
        }
    }
    Ok(r)
}

/// The samples an adaptive search would have had: every proof, and per proof the
/// verifications (with their metas) the wave rule asks for, taken from the record.
fn adaptive_subset<'a>(samples: &'a [Sample], cfg: &SearchConfig) -> Vec<&'a Sample> {
    let mut verifs: HashMap<&str, Vec<&Sample>> = HashMap::new();
    let mut metas: HashMap<&str, Vec<&Sample>> = HashMap::new();
    for s in samples {
        let target = s.target_id.as_deref().unwrap_or_default();
        match s.kind {
            Kind::Verification => verifs.entry(target).or_default().push(s),
            Kind::Meta => metas.entry(target).or_default().push(s),
            Kind::Proof => {}
        }
    }
    let mut kept = Vec::new();
    for proof in samples.iter().filter(|s| s.kind == Kind::Proof) {
        kept.push(proof);
        let mut recorded = verifs.remove(proof.id.as_str()).unwrap_or_default();
        recorded.sort_by_key(|v| v.idx);
        let mut have: Vec<&Sample> = Vec::new();
        loop {
            let mut view = vec![proof];
            view.extend(have.iter().copied());
            view.extend(
                have.iter()
                    .flat_map(|v| metas.get(v.id.as_str()).into_iter().flatten()),
            );
            let pool = Pool::new(view.iter().copied(), cfg);
            let wanted = pool
                .stats
                .first()
                .map_or(0, |s| verifications_wanted(s, cfg)) as usize;
            let next: Vec<&Sample> = recorded
                .iter()
                .copied()
                .filter(|v| (v.idx as usize) < wanted)
                .collect();
            if next.len() == have.len() {
                break;
            }
            have = next;
        }
        let ids: HashSet<&str> = have.iter().map(|v| v.id.as_str()).collect();
        kept.extend(have.iter().copied());
        kept.extend(
            ids.iter()
                .flat_map(|id| metas.get(id).into_iter().flatten().copied()),
        );
    }
    kept
}

/// Run the replay on the database at `path` and print it (as JSON with `json`).
pub fn run(path: &Path, wave: u32, json_out: bool) -> anyhow::Result<i32> {
    if !path.is_file() {
        anyhow::bail!("no run database at {}", path.display());
    }
    let store =
        Store::open_read_only(path).with_context(|| format!("opening {}", path.display()))?;
    let cfg: SearchConfig = match store.config("search")? {
        Some(json) => serde_json::from_str(&json).context("reading the stored settings")?,
        None => SearchConfig::default(),
    };
    let r = replay(&store, &cfg, wave)?;
    if json_out {
        println!(
            "{}",
            json!({
                "problems": r.problems,
                "proofs": r.proofs,
                "wave": wave,
                "verifier_calls": r.calls_full,
                "verifier_calls_adaptive": r.calls_adaptive,
                "saved": r.saved(),
                "same_best_proof": r.same_best,
                "same_pass": r.same_pass,
            })
        );
        return Ok(0);
    }
    println!(
        "replay of {} ({} problems, {} proofs, {} verifications each, waves of {wave})",
        path.display(),
        r.problems,
        r.proofs,
        cfg.verifications
    );
    println!(
        "verifier calls: {} recorded, {} adaptive ({:.1}% saved)",
        r.calls_full,
        r.calls_adaptive,
        100.0 * r.saved()
    );
    println!(
        "same best proof in {}/{} problems, same pass verdict in {}/{}",
        r.same_best, r.problems, r.same_pass, r.problems
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{Problem, RequestTokens};

    #[test]
    fn a_run_without_verifications_saves_nothing() {
        let store = Store::open_in_memory().unwrap();
        store.add_problem(&Problem::statement("p", "q")).unwrap();
        let r = replay(&store, &SearchConfig::default(), 8).unwrap();
        assert_eq!((r.calls_full, r.saved()), (0, 0.0));
    }

    #[test]
    fn a_recorded_run_replays_with_fewer_calls_and_the_same_choice() {
        let store = Store::open_in_memory().unwrap();
        store.add_problem(&Problem::statement("p", "q")).unwrap();
        // 16 verifications each: p0 always 0.5, p1 one 0 at index 9, p2 all 1 (passes).
        let mut samples = Vec::new();
        for (p, score) in [("p/r0/p0", 0), ("p/r0/p1", 1), ("p/r0/p2", 2)] {
            samples.push(Sample::given_proof(p, "p", "a proof"));
            for j in 0..16u32 {
                let s = match score {
                    0 => 0.5,
                    1 if j == 9 => 0.0,
                    _ => 1.0,
                };
                let id = format!("{p}/v{j}");
                samples.push(Sample::judgement(Kind::Verification, &id, p, s));
            }
        }
        store
            .insert_samples("p", Kind::Proof, &samples, RequestTokens::default())
            .unwrap();
        let cfg = SearchConfig {
            verifications: 16,
            ..SearchConfig::default()
        };
        let r = replay(&store, &cfg, 4).unwrap();
        assert_eq!((r.problems, r.proofs), (1, 3));
        assert_eq!(r.calls_full, 48);
        assert_eq!(r.calls_adaptive, 4 + 12 + 16);
        assert_eq!((r.same_best, r.same_pass), (1, 1));
        assert!((r.saved() - 1.0 / 3.0).abs() < 1e-9);
    }
}
