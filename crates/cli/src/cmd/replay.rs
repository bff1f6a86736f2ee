//! `verimath bench search --replay RUN[,RUN…]`: what adaptive verification would have
//! saved on recorded runs, and whether it would have chosen the same proofs.
//!
//! Each round of the run is replayed through the rule the search uses
//! ([`search::pool::verification_plan`]) on its recorded verifications in index
//! order, keeping what the rule asks for and the meta-verifications of those. The proofs of a problem are then ranked on that subset
//! and on everything recorded: the report gives the verifier calls of each, and in how
//! many problems the best proof and the pass verdict are the same. Refinements are
//! replayed as recorded (a live adaptive run could have refined other proofs: the
//! agreement of the best proof per problem says how often that would not happen).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use search::pool::{verification_plan, Pool};
use search::SearchConfig;
use serde_json::json;
use store::{Kind, ParseStatus, Sample, Store};

/// What the replay found over a run.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Replay {
    /// Problems with a complete record (every verified proof has every planned
    /// verification), the only ones the figures below count.
    pub problems: usize,
    /// Problems left out because their record is incomplete (a search that stopped
    /// when a proof passed, or was interrupted).
    pub incomplete: usize,
    pub proofs: usize,
    /// Verifications and metas recorded / kept by the adaptive rule.
    pub calls_full: usize,
    pub calls_adaptive: usize,
    /// Problems whose best proof is the same under both.
    pub same_best: usize,
    /// Problems whose verdict (some proof passes or none) is the same under both.
    pub same_pass: usize,
    /// Each problem's figures.
    pub rows: Vec<ProblemReplay>,
}

/// One problem of the replay.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProblemReplay {
    pub key: String,
    /// Every verified proof has all its planned verifications recorded.
    pub complete: bool,
    pub calls_full: usize,
    pub calls_adaptive: usize,
    /// The best proof and its mean, with every recorded verification / with the
    /// rule's.
    pub best_full: Option<(String, f64)>,
    pub best_adaptive: Option<(String, f64)>,
    pub passed_full: bool,
    pub passed_adaptive: bool,
}

impl Replay {
    /// Adds the figures of another run's replay to this one.
    pub fn merge(&mut self, other: Replay) {
        self.problems += other.problems;
        self.incomplete += other.incomplete;
        self.proofs += other.proofs;
        self.calls_full += other.calls_full;
        self.calls_adaptive += other.calls_adaptive;
        self.same_best += other.same_best;
        self.same_pass += other.same_pass;
        self.rows.extend(other.rows);
    }

    /// Share of the recorded verifier calls the adaptive rule does without (0 when
    /// nothing was recorded).
    pub fn saved(&self) -> f64 {
        if self.calls_full == 0 {
            return 0.0;
        }
        1.0 - self.calls_adaptive as f64 / self.calls_full as f64
    }
}

/// Replay the run in `store` under `cfg` with adaptive waves of `wave` and ranges of
/// `z` standard errors.
pub fn replay(store: &Store, cfg: &SearchConfig, wave: u32, z: f64) -> anyhow::Result<Replay> {
    let adaptive = SearchConfig {
        adaptive: true,
        wave,
        adaptive_z: z,
        ..cfg.clone()
    };
    let mut r = Replay::default();
    for problem in store.problems()? {
        let samples = store.samples(&problem.key)?;
        if !samples.iter().any(|s| s.kind == Kind::Proof) {
            continue;
        }
        let kept = adaptive_subset(&samples, &adaptive);
        let full = Pool::new(&samples, cfg);
        let part = Pool::new(kept.iter().copied(), cfg);
        let best = |p: &Pool| {
            p.best()
                .map(|s| (s.proof.id.clone(), s.mean.unwrap_or(f64::NAN)))
        };
        let row = ProblemReplay {
            key: problem.key.clone(),
            complete: full.stats.iter().all(|s| {
                let verified = s.proof.body.is_some()
                    && (s.proof.status == ParseStatus::Ok || cfg.verify_unparsable);
                let in_a_row = s
                    .verifications
                    .iter()
                    .enumerate()
                    .take_while(|&(i, v)| v.idx == i as u32)
                    .count();
                !verified || in_a_row >= cfg.verifications as usize
            }),
            calls_full: samples.iter().filter(|s| s.kind != Kind::Proof).count(),
            calls_adaptive: kept.iter().filter(|s| s.kind != Kind::Proof).count(),
            best_full: best(&full),
            best_adaptive: best(&part),
            passed_full: full.passed().is_some(),
            passed_adaptive: part.passed().is_some(),
        };
        if !row.complete {
            r.incomplete += 1;
            r.rows.push(row);
            continue;
        }
        r.problems += 1;
        r.proofs += samples.iter().filter(|s| s.kind == Kind::Proof).count();
        r.calls_full += row.calls_full;
        r.calls_adaptive += row.calls_adaptive;
        let id = |b: &Option<(String, f64)>| b.as_ref().map(|(id, _)| id.clone());
        r.same_best += usize::from(id(&row.best_full) == id(&row.best_adaptive));
        r.same_pass += usize::from(row.passed_full == row.passed_adaptive);
        r.rows.push(row);
    }
    Ok(r)
}

/// The samples an adaptive search would have had: every proof, and per proof the
/// verifications (with their metas) the wave rule asks for, taken from the record.
/// Rounds are replayed in order, each against the earlier rounds as the rule left them.
fn adaptive_subset<'a>(samples: &'a [Sample], cfg: &SearchConfig) -> Vec<&'a Sample> {
    let round_of = |s: &Sample| s.round;
    let last = samples.iter().map(round_of).max().unwrap_or(0);
    let mut kept: Vec<&Sample> = Vec::new();
    for round in 0..=last {
        // What the rule sees: earlier rounds as kept, this round as recorded.
        let mut view = kept.clone();
        view.extend(samples.iter().filter(|s| s.round == round));
        let pool = Pool::new(view.iter().copied(), cfg);
        let wanted = verification_plan(&pool, cfg, round, true);
        let keep: HashSet<&str> = pool
            .stats
            .iter()
            .filter(|s| s.proof.round == round)
            .flat_map(|s| {
                let k = wanted.get(s.proof.id.as_str()).copied().unwrap_or(0);
                s.verifications
                    .iter()
                    .filter(move |v| v.idx < k)
                    .map(|v| v.id.as_str())
            })
            .collect();
        for s in samples.iter().filter(|s| s.round == round) {
            let verification = match s.kind {
                Kind::Proof => None,
                Kind::Verification => Some(s.id.as_str()),
                Kind::Meta => s.target_id.as_deref(),
            };
            if verification.is_none_or(|v| keep.contains(v)) {
                kept.push(s);
            }
        }
    }
    kept
}

/// Replays the run database at `path` under its stored settings; returns them too.
fn replay_file(path: &Path, wave: u32, z: f64) -> anyhow::Result<(Replay, SearchConfig)> {
    if !path.is_file() {
        anyhow::bail!("no run database at {}", path.display());
    }
    let store =
        Store::open_read_only(path).with_context(|| format!("opening {}", path.display()))?;
    let cfg: SearchConfig = match store.config("search")? {
        Some(json) => serde_json::from_str(&json).context("reading the stored settings")?,
        None => SearchConfig::default(),
    };
    let r =
        replay(&store, &cfg, wave, z).with_context(|| format!("replaying {}", path.display()))?;
    Ok((r, cfg))
}

/// One replayed run: its path, problems with a complete record, and verifications
/// per proof in its settings.
type RunSummary = (String, usize, u32);

/// Replays the databases at `paths`, each under its own settings, counted together.
fn replay_files(paths: &[PathBuf], wave: u32, z: f64) -> anyhow::Result<(Replay, Vec<RunSummary>)> {
    let mut r = Replay::default();
    let mut runs = Vec::new();
    for path in paths {
        let (one, cfg) = replay_file(path, wave, z)?;
        runs.push((path.display().to_string(), one.problems, cfg.verifications));
        r.merge(one);
    }
    Ok((r, runs))
}

/// Run the replay on the databases at `paths`, counted together, and print it (as
/// JSON with `json`).
pub fn run(paths: &[PathBuf], wave: u32, z: f64, json_out: bool) -> anyhow::Result<i32> {
    let (r, runs) = replay_files(paths, wave, z)?;
    if json_out {
        println!(
            "{}",
            json!({
                "runs": runs.iter().map(|(path, problems, verifications)| json!({
                    "path": path,
                    "complete_problems": problems,
                    "verifications_per_proof": verifications,
                })).collect::<Vec<_>>(),
                "problems": r.problems,
                "incomplete_problems": r.incomplete,
                "proofs": r.proofs,
                "wave": wave,
                "adaptive_z": z,
                "verifier_calls": r.calls_full,
                "verifier_calls_adaptive": r.calls_adaptive,
                "saved": r.saved(),
                "same_best_proof": r.same_best,
                "same_pass": r.same_pass,
                "per_problem": r.rows.iter().map(|p| json!({
                    "problem": p.key,
                    "complete": p.complete,
                    "verifier_calls": p.calls_full,
                    "verifier_calls_adaptive": p.calls_adaptive,
                    "best_proof": p.best_full.as_ref().map(|b| &b.0),
                    "best_mean": p.best_full.as_ref().map(|b| b.1),
                    "best_proof_adaptive": p.best_adaptive.as_ref().map(|b| &b.0),
                    "best_mean_adaptive": p.best_adaptive.as_ref().map(|b| b.1),
                    "passed": p.passed_full,
                    "passed_adaptive": p.passed_adaptive,
                })).collect::<Vec<_>>(),
            })
        );
        return Ok(0);
    }
    for (path, problems, verifications) in &runs {
        println!(
            "run {path}: {problems} problems with a complete record, {verifications} \
             verifications per proof"
        );
    }
    println!(
        "replay of {} problems with a complete record ({} left out; {} proofs); waves of \
         {wave}, z {z}",
        r.problems, r.incomplete, r.proofs,
    );
    let shown = |b: &Option<(String, f64)>| match b {
        Some((id, mean)) if mean.is_nan() => {
            format!("{} unverified", id.rsplit('/').next().unwrap_or(id))
        }
        Some((id, mean)) => format!("{} {mean:.3}", id.rsplit('/').next().unwrap_or(id)),
        None => "-".into(),
    };
    let verdict = |passed: bool| if passed { "passed" } else { "none passed" };
    for p in &r.rows {
        println!(
            "  {}{}: calls {} -> {}; best {} -> {}; {} -> {}",
            p.key,
            if p.complete {
                ""
            } else {
                " (incomplete record, left out)"
            },
            p.calls_full,
            p.calls_adaptive,
            shown(&p.best_full),
            shown(&p.best_adaptive),
            verdict(p.passed_full),
            verdict(p.passed_adaptive),
        );
    }
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
        let r = replay(&store, &SearchConfig::default(), 8, 1.0).unwrap();
        assert_eq!((r.calls_full, r.saved()), (0, 0.0));
    }

    #[test]
    fn a_problem_without_every_verification_is_left_out() {
        // The search stopped when p0 passed its 4 verifications; p1 has only 2.
        let store = Store::open_in_memory().unwrap();
        store.add_problem(&Problem::statement("p", "q")).unwrap();
        let mut samples = Vec::new();
        for (p, n) in [("p/r0/p0", 4), ("p/r0/p1", 2)] {
            samples.push(Sample::given_proof(p, "p", "a proof"));
            for j in 0..n {
                let id = format!("{p}/v{j}");
                samples.push(Sample::judgement(Kind::Verification, &id, p, 1.0));
            }
        }
        store
            .insert_samples("p", Kind::Proof, &samples, RequestTokens::default())
            .unwrap();
        let cfg = SearchConfig {
            verifications: 4,
            ..SearchConfig::default()
        };
        let r = replay(&store, &cfg, 2, 1.0).unwrap();
        assert_eq!((r.problems, r.incomplete, r.calls_full), (0, 1, 0));
        assert!(!r.rows[0].complete);
    }

    /// Three proofs of one problem, 16 verifications each: p0 always 0.5, p1 one 0 at
    /// index 9, p2 all 1 (passes); the stored settings ask for 16.
    fn record_three_proofs(store: &Store) -> SearchConfig {
        store.add_problem(&Problem::statement("p", "q")).unwrap();
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
        store
            .set_config("search", &serde_json::to_string(&cfg).unwrap())
            .unwrap();
        cfg
    }

    #[test]
    fn a_recorded_run_replays_with_fewer_calls_and_the_same_choice() {
        let store = Store::open_in_memory().unwrap();
        let cfg = record_three_proofs(&store);
        let r = replay(&store, &cfg, 4, 1.0).unwrap();
        assert_eq!((r.problems, r.proofs), (1, 3));
        assert_eq!(r.calls_full, 48);
        assert_eq!(r.calls_adaptive, 4 + 12 + 16);
        assert_eq!((r.same_best, r.same_pass), (1, 1));
        assert!((r.saved() - 1.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn several_run_files_count_together() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..2)
            .map(|i| dir.path().join(format!("{i}.sqlite")))
            .collect();
        for p in &paths {
            record_three_proofs(&Store::open(p).unwrap());
        }
        let (r, runs) = replay_files(&paths, 4, 1.0).unwrap();
        assert!(
            runs.iter().all(|run| run.2 == 16),
            "each file's own settings"
        );
        assert_eq!((r.problems, r.proofs, r.rows.len()), (2, 6, 2));
        assert_eq!((r.calls_full, r.calls_adaptive), (96, 64));
        assert_eq!((r.same_best, r.same_pass), (2, 2));
        let missing = replay_file(&dir.path().join("none.sqlite"), 4, 1.0);
        assert!(missing.unwrap_err().to_string().contains("no run database"));
    }
}
