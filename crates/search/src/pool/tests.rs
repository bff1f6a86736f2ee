//! Ranking, pass test and critique choice on hand-made pools.

use super::*;
use store::{Kind, ParseStatus, Sample};

fn sample(kind: Kind, id: &str, target: Option<&str>, score: Option<f64>) -> Sample {
    Sample {
        id: id.into(),
        kind,
        problem_key: "p".into(),
        round: id
            .split("/r")
            .nth(1)
            .and_then(|r| r[..1].parse().ok())
            .unwrap_or(0),
        idx: id
            .rsplit(['v', 'p', 'm'])
            .next()
            .and_then(|i| i.parse().ok())
            .unwrap_or(0),
        target_id: target.map(Into::into),
        proof_id: Some(id.split("/v").next().unwrap_or(id).into()),
        parent_ids: vec![],
        text: format!("text of {id}"),
        reasoning: None,
        body: Some("body".into()),
        self_eval: None,
        score,
        status: if score.is_some() {
            ParseStatus::Ok
        } else {
            ParseStatus::Unparsable
        },
        reason: None,
        finish_reason: "stop".into(),
        completion_tokens: None,
    }
}

fn proof(id: &str, self_score: f64) -> Sample {
    sample(Kind::Proof, id, None, Some(self_score))
}

fn verif(proof: &str, idx: u32, score: Option<f64>) -> Sample {
    sample(
        Kind::Verification,
        &format!("{proof}/v{idx}"),
        Some(proof),
        score,
    )
}

fn cfg(m: u32, meta: bool) -> SearchConfig {
    SearchConfig {
        verifications: m,
        meta,
        ..SearchConfig::default()
    }
}

#[test]
fn ranking_uses_mean_then_self_score_then_id() {
    let s = vec![
        proof("p/r0/p0", 0.0),
        verif("p/r0/p0", 0, Some(1.0)),
        verif("p/r0/p0", 1, Some(0.0)),
        proof("p/r0/p1", 1.0),
        verif("p/r0/p1", 0, Some(0.5)),
        verif("p/r0/p1", 1, Some(0.5)),
        proof("p/r0/p2", 0.5),
        verif("p/r0/p2", 0, Some(1.0)),
        verif("p/r0/p2", 1, Some(0.5)),
        proof("p/r1/p0", 1.0), // later round: excluded when ranking for round 1
        verif("p/r1/p0", 0, Some(1.0)),
        proof("p/r0/p3", 1.0), // never verified: not ranked
    ];
    let c = cfg(2, false);
    let pool = Pool::new(&s, &c);
    let ids: Vec<&str> = pool.ranked(1).iter().map(|x| x.proof.id.as_str()).collect();
    assert_eq!(ids, vec!["p/r0/p2", "p/r0/p1", "p/r0/p0"]);
    assert_eq!(pool.ranked(2)[0].proof.id, "p/r1/p0");
    // p/r1/p0 has only 1 of 2 verifications: not a pass.
    assert!(pool.passed().is_none());
}

#[test]
fn a_pass_needs_every_verification_parsed_and_perfect() {
    let c = cfg(2, false);
    let all = vec![
        proof("p/r0/p0", 1.0),
        verif("p/r0/p0", 0, Some(1.0)),
        verif("p/r0/p0", 1, Some(1.0)),
    ];
    assert_eq!(Pool::new(&all, &c).passed().unwrap().proof.id, "p/r0/p0");
    let unparsed = vec![
        proof("p/r0/p0", 1.0),
        verif("p/r0/p0", 0, Some(1.0)),
        verif("p/r0/p0", 1, None),
    ];
    let pool = Pool::new(&unparsed, &c);
    assert!(pool.passed().is_none());
    // The unparsable verification counts as 0 in the mean.
    assert_eq!(pool.stats[0].mean, Some(0.5));
}

#[test]
fn meta_zero_sets_a_critique_aside() {
    let mut s = vec![
        proof("p/r0/p0", 1.0),
        verif("p/r0/p0", 0, Some(1.0)),
        verif("p/r0/p0", 1, Some(0.0)),
    ];
    s.push(sample(
        Kind::Meta,
        "p/r0/p0/v1/m0",
        Some("p/r0/p0/v1"),
        Some(0.0),
    ));
    let with_meta = cfg(2, true);
    let pool = Pool::new(&s, &with_meta);
    assert_eq!(pool.stats[0].mean, Some(1.0));
    assert!(pool.passed().is_some());
    assert!(choose_critiques(&pool.stats[0], 8, 8)
        .iter()
        .all(|v| v.id != "p/r0/p0/v1"));
    // Without --meta the same data ranks the proof at 0.5 and it does not pass.
    let without = cfg(2, false);
    let pool = Pool::new(&s, &without);
    assert_eq!(pool.stats[0].mean, Some(0.5));
    assert!(pool.passed().is_none());
}

#[test]
fn critiques_that_found_issues_come_first_in_a_fixed_order() {
    let mut s = vec![proof("p/r0/p0", 1.0)];
    for i in 0..8 {
        s.push(verif(
            "p/r0/p0",
            i,
            Some(if i % 2 == 0 { 1.0 } else { 0.5 }),
        ));
    }
    let c = cfg(8, false);
    let pool = Pool::new(&s, &c);
    let first = choose_critiques(&pool.stats[0], 5, 8);
    assert_eq!(first.len(), 5);
    assert!(first[..4].iter().all(|v| v.score == Some(0.5)));
    assert_eq!(first[4].score, Some(1.0));
    let again: Vec<&str> = choose_critiques(&pool.stats[0], 5, 8)
        .iter()
        .map(|v| v.id.as_str())
        .collect();
    assert_eq!(
        again,
        first.iter().map(|v| v.id.as_str()).collect::<Vec<_>>()
    );
    assert_eq!(stable_hash("abc"), 0xe71fa2190541574b);
}

#[test]
fn at_most_so_many_critiques_share_a_score() {
    // Ten critiques: six at 0, three at 0.5, one unparsable; eight shown, four per score.
    let mut s = vec![proof("p/r0/p0", 1.0)];
    let scores = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5];
    for (i, &sc) in scores.iter().enumerate() {
        s.push(verif("p/r0/p0", i as u32, Some(sc)));
    }
    s.push(verif("p/r0/p0", 9, None));
    let c = cfg(10, false);
    let pool = Pool::new(&s, &c);
    let picked = choose_critiques(&pool.stats[0], 8, 4);
    let count = |score: Option<f64>| picked.iter().filter(|v| v.score == score).count();
    assert_eq!((count(Some(0.0)), count(Some(0.5)), count(None)), (4, 3, 1));
    // Without the cap the issues fill the prompt first.
    let uncapped = choose_critiques(&pool.stats[0], 8, 8);
    assert_eq!(uncapped.iter().filter(|v| v.score.is_none()).count(), 0);
}

#[test]
fn a_mean_above_the_bar_passes_once_every_verification_is_in() {
    // 63 verifications at 1 and one at 0.5: not "every verification passed".
    let mut s = vec![proof("p/r0/p0", 1.0)];
    for i in 0..64 {
        s.push(verif("p/r0/p0", i, Some(if i == 7 { 0.5 } else { 1.0 })));
    }
    let strict = SearchConfig {
        pass_mean: None,
        ..cfg(64, false)
    };
    assert!(Pool::new(&s, &strict).passed().is_none());
    // The release's bar (0.99999) does not let it pass either; a bar of 0.99 does.
    assert!(Pool::new(&s, &cfg(64, false)).passed().is_none());
    let lenient = SearchConfig {
        pass_mean: Some(0.99),
        ..cfg(64, false)
    };
    assert!(Pool::new(&s, &lenient).passed().is_some());
    // Before every planned verification is in, no mean passes.
    let more = SearchConfig {
        pass_mean: Some(0.5),
        ..cfg(65, false)
    };
    assert!(Pool::new(&s, &more).passed().is_none());
}

/// Proofs `p/r0/p{i}` with the given self-evaluation and verification scores.
fn recorded(proofs: &[(f64, &[f64])]) -> Vec<Sample> {
    let mut s = Vec::new();
    for (i, (self_score, scores)) in proofs.iter().enumerate() {
        let id = format!("p/r0/p{i}");
        s.push(proof(&id, *self_score));
        for (j, &v) in scores.iter().enumerate() {
            s.push(verif(&id, j as u32, Some(v)));
        }
    }
    s
}

fn adaptive(m: u32, wave: u32, z: f64) -> SearchConfig {
    SearchConfig {
        adaptive: true,
        wave,
        adaptive_z: z,
        rounds: 0,
        ..cfg(m, false)
    }
}

fn plan_of(s: &[Sample], c: &SearchConfig, round_stored: bool) -> Vec<u32> {
    let pool = Pool::new(s, c);
    let plan = verification_plan(&pool, c, 0, round_stored);
    (0..pool.stats.len())
        .map(|i| plan[format!("p/r0/p{i}").as_str()])
        .collect()
}

/// The best proof when each proof has only its first `k[i]` verifications.
fn best_of(s: &[Sample], c: &SearchConfig, k: &[u32]) -> String {
    let kept: Vec<&Sample> = s
        .iter()
        .filter(|x| {
            x.kind == Kind::Proof || {
                let p: usize = x.proof_id.as_ref().unwrap()[6..].parse().unwrap();
                x.idx < k[p]
            }
        })
        .collect();
    Pool::new(kept, c).best().unwrap().proof.id.clone()
}

#[test]
fn without_waves_every_proof_gets_every_verification() {
    let s = recorded(&[(1.0, &[0.0]), (1.0, &[])]);
    assert_eq!(plan_of(&s, &cfg(16, false), true), vec![16, 16]);
}

#[test]
fn a_proof_gets_waves_until_it_can_no_longer_pass() {
    let c = adaptive(16, 4, 1.0);
    // Nothing stored yet: the first wave. A wave in progress is completed.
    assert_eq!(plan_of(&recorded(&[(1.0, &[])]), &c, true), vec![4]);
    assert_eq!(plan_of(&recorded(&[(1.0, &[1.0, 1.0])]), &c, true), vec![4]);
    // A clean wave: the next one. A doubted one: it stops (alone, nothing to rank).
    assert_eq!(plan_of(&recorded(&[(1.0, &[1.0; 4])]), &c, true), vec![8]);
    let doubted = [1.0, 1.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0];
    assert_eq!(plan_of(&recorded(&[(1.0, &doubted)]), &c, true), vec![4]);
}

#[test]
fn stopped_proofs_still_in_contention_for_the_best_get_more_waves() {
    // P0 is doubted twice early and then always passes (15/16 in all); P1 fails its
    // 8th check and is then always doubted (11/16); P2 always fails. Stopped at their
    // first doubt, P0 stands at 0.75 and P1 at 0.875: the wrong one would be best.
    let p0: Vec<f64> = (0..16)
        .map(|j| if j == 2 || j == 3 { 0.5 } else { 1.0 })
        .collect();
    let p1: Vec<f64> = (0..16)
        .map(|j| match j {
            0..=6 => 1.0,
            7 => 0.0,
            _ => 0.5,
        })
        .collect();
    let s = recorded(&[(0.5, &p0), (1.0, &p1), (1.0, &[0.0; 16])]);
    let full = best_of(&s, &cfg(16, false), &[16, 16, 16]);
    assert_eq!(full, "p/r0/p0");
    // Trusting the means so far (z = 0): 16 of 48 calls, and the wrong choice.
    let trusting = adaptive(16, 4, 0.0);
    let k = plan_of(&s, &trusting, true);
    assert_eq!(k, vec![4, 8, 4]);
    assert_eq!(best_of(&s, &trusting, &k), "p/r0/p1");
    // With ranges of one standard error the two get more waves until P0 is clear
    // of P1: two thirds of the calls, and the same choice as with every verification.
    let careful = adaptive(16, 4, 1.0);
    let k = plan_of(&s, &careful, true);
    assert_eq!(k, vec![12, 16, 4]);
    assert_eq!(best_of(&s, &careful, &k), full);
    // Until every proof of the round is stored, nobody is ranked.
    assert_eq!(plan_of(&s, &careful, false), vec![4, 8, 4]);
}

#[test]
fn the_refinement_cut_counts_only_when_a_round_follows() {
    // Four proofs: P0 passes, P1..P3 are doubted in their first wave. With one
    // refinement round to come and 2 refined, the cut after the second matters: P1 and
    // P2 (0.875 each) are in contention for it, P3 (0.25) is not.
    let clean = [1.0; 8];
    let s = recorded(&[
        (1.0, &clean),
        (1.0, &[1.0, 1.0, 1.0, 0.5, 1.0, 1.0, 1.0, 1.0]),
        (1.0, &[1.0, 0.5, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
        (1.0, &[0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0]),
    ]);
    let last = adaptive(8, 4, 1.0);
    assert_eq!(plan_of(&s, &last, true), vec![8, 4, 4, 4]);
    let refining = SearchConfig {
        rounds: 1,
        refine: 2,
        ..last
    };
    assert_eq!(plan_of(&s, &refining, true), vec![8, 8, 8, 4]);
}
