//! Metrics of an answer benchmark run, computed from its run database alone: pass@k,
//! majority vote, verification-weighted and self-evaluation-weighted votes at every k,
//! the no-answer rate, per-subject and per-level tables, and token use.
//!
//! Each problem becomes a [`Record`]: its samples' answer classes (equivalent answers
//! share a class), whether each class matches the gold answer, and each sample's
//! verification and self-evaluation scores. Votes over any subset of the samples are
//! then plain arithmetic on classes, which is how maj@k for k < K is averaged over
//! subsets without asking the checker again.

use crate::checker::{grade, Checker};
use crate::stats::{ks, mean_estimate, pass_at_k, Estimate};
use search::solve::{tally, SolveConfig};
use serde::Serialize;
use std::collections::BTreeMap;
use store::{Problem, Store};

/// One problem of an answer run, reduced to what the metrics need.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub key: String,
    pub subject: Option<String>,
    pub level: Option<String>,
    pub gold: String,
    /// Per sample: its answer class, `None` when no answer was found.
    pub classes: Vec<Option<usize>>,
    /// Per class: does it match the gold answer (undecided counts as no)?
    pub class_correct: Vec<bool>,
    /// Per class: the answer as first seen.
    pub class_answer: Vec<String>,
    /// Per sample: mean verification score (0 when unverified or unparsed).
    pub verification: Vec<f64>,
    /// Per sample: self-evaluation score (0 when it gave none).
    pub self_score: Vec<f64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Record {
    /// Samples of the problem.
    pub fn n(&self) -> usize {
        self.classes.len()
    }

    /// Correct samples.
    pub fn correct(&self) -> usize {
        self.classes
            .iter()
            .filter(|c| c.is_some_and(|c| self.class_correct[c]))
            .count()
    }

    /// Is the vote over `subset` (sample indices) right? `weights` per sample; `None`
    /// votes by count (ties by verification weight), `Some` by summed weight (ties by
    /// count). Classes still tied share the win: the answer is the chance that a fair
    /// coin among them picks the right one, so no class is favoured by its place.
    pub fn vote_correct(&self, subset: &[usize], by_weight: Option<&[f64]>) -> f64 {
        let classes = self.class_correct.len();
        let mut count = vec![0usize; classes];
        let mut weight = vec![0f64; classes];
        for &i in subset {
            if let Some(c) = self.classes[i] {
                count[c] += 1;
                weight[c] += by_weight.map_or(self.verification[i], |w| w[i]);
            }
        }
        let better = |a: usize, b: usize| -> bool {
            // Is class a better than class b?
            let (ka, kb) = (count[a], count[b]);
            let (wa, wb) = (weight[a], weight[b]);
            if by_weight.is_some() {
                wa > wb || (wa == wb && ka > kb)
            } else {
                ka > kb || (ka == kb && wa > wb)
            }
        };
        let mut best: Option<usize> = None;
        for c in (0..classes).filter(|&c| count[c] > 0) {
            if best.is_none_or(|b| better(c, b)) {
                best = Some(c);
            }
        }
        let Some(b) = best else { return 0.0 };
        let tied: Vec<usize> = (0..classes)
            .filter(|&c| count[c] > 0 && !better(b, c))
            .collect();
        let right = tied.iter().filter(|&&c| self.class_correct[c]).count();
        right as f64 / tied.len() as f64
    }
}

/// Build the records of every problem in `store` that has a gold answer (only those
/// in `only`, when given).
pub fn records(
    store: &Store,
    cfg: &SolveConfig,
    checker: &Checker,
    only: Option<&std::collections::HashSet<String>>,
) -> store::Result<Vec<Record>> {
    let mut out = Vec::new();
    for problem in store.problems()? {
        if only.is_some_and(|keys| !keys.contains(&problem.key)) {
            continue;
        }
        if let Some(r) = record(store, &problem, cfg, checker)? {
            out.push(r);
        }
    }
    Ok(out)
}

fn record(
    store: &Store,
    problem: &Problem,
    cfg: &SolveConfig,
    checker: &Checker,
) -> store::Result<Option<Record>> {
    let Some(gold) = problem.answer.clone() else {
        return Ok(None);
    };
    let stored = store.samples(&problem.key)?;
    let u = store.usage(Some(&problem.key))?;
    let result = tally(
        &stored,
        cfg,
        checker,
        llm::Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            cached_prompt_tokens: u.cached_prompt_tokens,
        },
    );
    if result.samples.is_empty() {
        return Ok(None);
    }
    let mut classes = vec![None; result.samples.len()];
    for (c, g) in result.groups.iter().enumerate() {
        for &m in &g.members {
            classes[m] = Some(c);
        }
    }
    let class_correct = result
        .groups
        .iter()
        .map(|g| grade(Some(&gold), Some(&g.answer), checker) == Some(true))
        .collect();
    Ok(Some(Record {
        key: problem.key.clone(),
        subject: problem.info_str("subject"),
        level: problem.info_str("level"),
        gold,
        classes,
        class_correct,
        class_answer: result.groups.iter().map(|g| g.answer.clone()).collect(),
        verification: result
            .samples
            .iter()
            .map(|s| s.mean_score.unwrap_or(0.0))
            .collect(),
        self_score: result
            .samples
            .iter()
            .map(|s| s.self_score.unwrap_or(0.0))
            .collect(),
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
    }))
}

/// Number of k-subsets of n things, saturating.
fn choose(n: usize, k: usize) -> usize {
    let k = k.min(n - k.min(n));
    let mut c: u128 = 1;
    for i in 0..k {
        c = c * (n - i) as u128 / (i + 1) as u128;
        if c > usize::MAX as u128 {
            return usize::MAX;
        }
    }
    c as usize
}

/// Every k-subset of `0..n`, in lexicographic order.
fn all_subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut idx: Vec<usize> = (0..k).collect();
    loop {
        out.push(idx.clone());
        let Some(i) = (0..k).rev().find(|&i| idx[i] < n - k + i) else {
            return out;
        };
        idx[i] += 1;
        for j in i + 1..k {
            idx[j] = idx[j - 1] + 1;
        }
    }
}

/// Subsets of size `k` of `0..n` to average a vote over: all of them when there are
/// few, else a fixed pseudo-random sample of them (the same every run).
fn subsets(n: usize, k: usize, seed: u64) -> Vec<Vec<usize>> {
    const MAX: usize = 64;
    if k >= n {
        return vec![(0..n).collect()];
    }
    if k == 0 {
        return vec![Vec::new()];
    }
    if choose(n, k) <= MAX {
        return all_subsets(n, k);
    }
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // splitmix64
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..MAX)
        .map(|_| {
            // Partial Fisher-Yates: the first k of a shuffled 0..n.
            let mut idx: Vec<usize> = (0..n).collect();
            for i in 0..k {
                let j = i + (next() % (n - i) as u64) as usize;
                idx.swap(i, j);
            }
            idx.truncate(k);
            idx
        })
        .collect()
}

fn seed_of(key: &str) -> u64 {
    // FNV-1a: stable across runs and platforms.
    key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Which vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vote {
    Majority,
    Verification,
    SelfEvaluation,
}

/// Per problem, the vote's accuracy over subsets of `k` samples.
fn vote_values(records: &[&Record], k: usize, vote: Vote) -> Vec<f64> {
    records
        .iter()
        .map(|r| {
            let sets = subsets(r.n(), k, seed_of(&r.key) ^ k as u64);
            let hits: f64 = sets
                .iter()
                .map(|s| match vote {
                    Vote::Majority => r.vote_correct(s, None),
                    Vote::Verification => r.vote_correct(s, Some(&r.verification)),
                    Vote::SelfEvaluation => r.vote_correct(s, Some(&r.self_score)),
                })
                .sum();
            hits / sets.len() as f64
        })
        .collect()
}

/// Accuracy of each method at each k, for the curves of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Curves {
    pub k: Vec<usize>,
    pub pass: Vec<Estimate>,
    pub majority: Vec<Estimate>,
    /// Empty when the run has no verifications.
    pub weighted: Vec<Estimate>,
    pub self_weighted: Vec<Estimate>,
}

/// The figures of a group of problems.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub problems: usize,
    /// `pass@k`, `maj@K`, `weighted@K`, `self_weighted@K`, `no_answer_rate`.
    pub metrics: BTreeMap<String, Estimate>,
}

/// Everything `eval --json` and the report show for an answer run.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerSummary {
    pub problems: usize,
    /// Samples per problem (the most any problem has).
    pub samples: usize,
    pub verified: bool,
    pub metrics: BTreeMap<String, Estimate>,
    pub curves: Curves,
    pub by_subject: BTreeMap<String, Table>,
    pub by_level: BTreeMap<String, Table>,
    pub tokens: Tokens,
}

/// Token use of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Tokens {
    pub prompt: u64,
    pub completion: u64,
    pub per_problem: f64,
    pub completion_per_sample: f64,
    /// Completion tokens spent per correct sample (`null` without any).
    pub per_correct_answer: Option<f64>,
}

fn table(records: &[&Record], verified: bool) -> (BTreeMap<String, Estimate>, Curves) {
    let samples = records.iter().map(|r| r.n()).max().unwrap_or(0);
    let mut m = BTreeMap::new();
    let k_list = ks(samples);
    let mut curves = Curves {
        k: k_list.clone(),
        pass: Vec::new(),
        majority: Vec::new(),
        weighted: Vec::new(),
        self_weighted: Vec::new(),
    };
    for &k in &k_list {
        let pass: Vec<f64> = records
            .iter()
            .map(|r| pass_at_k(r.n(), r.correct(), k))
            .collect();
        let pass = mean_estimate(&pass);
        m.insert(format!("pass@{k}"), pass);
        curves.pass.push(pass);
        let maj = mean_estimate(&vote_values(records, k, Vote::Majority));
        curves.majority.push(maj);
        let slf = mean_estimate(&vote_values(records, k, Vote::SelfEvaluation));
        curves.self_weighted.push(slf);
        if verified {
            curves
                .weighted
                .push(mean_estimate(&vote_values(records, k, Vote::Verification)));
        }
    }
    if let Some(last) = k_list.last() {
        m.insert(
            format!("maj@{last}"),
            *curves.majority.last().unwrap_or(&zero()),
        );
        m.insert(
            format!("self_weighted@{last}"),
            *curves.self_weighted.last().unwrap_or(&zero()),
        );
        if verified {
            m.insert(
                format!("weighted@{last}"),
                *curves.weighted.last().unwrap_or(&zero()),
            );
        }
    }
    // Per problem, as every other figure: samples of one problem are not independent.
    let unanswered: Vec<f64> = records
        .iter()
        .map(|r| r.classes.iter().filter(|c| c.is_none()).count() as f64 / r.n().max(1) as f64)
        .collect();
    m.insert("no_answer_rate".into(), mean_estimate(&unanswered));
    (m, curves)
}

fn zero() -> Estimate {
    Estimate {
        value: 0.0,
        ci95: [0.0, 1.0],
    }
}

fn grouped(
    records: &[Record],
    field: impl Fn(&Record) -> Option<String>,
    verified: bool,
) -> BTreeMap<String, Table> {
    let mut groups: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for r in records {
        if let Some(f) = field(r) {
            groups.entry(f).or_default().push(r);
        }
    }
    // A single group (or none) says nothing a table of its own would.
    if groups.len() < 2 {
        return BTreeMap::new();
    }
    groups
        .into_iter()
        .map(|(name, rs)| {
            let (metrics, _) = table(&rs, verified);
            (
                name,
                Table {
                    problems: rs.len(),
                    metrics,
                },
            )
        })
        .collect()
}

/// The summary of an answer run's records. `verified`: the run verified its samples
/// (so the weighted vote is reported).
pub fn summarize(records: &[Record], verified: bool) -> AnswerSummary {
    let all: Vec<&Record> = records.iter().collect();
    let (metrics, curves) = table(&all, verified);
    let prompt: u64 = records.iter().map(|r| r.prompt_tokens).sum();
    let completion: u64 = records.iter().map(|r| r.completion_tokens).sum();
    let samples: usize = records.iter().map(|r| r.n()).sum();
    let correct: usize = records.iter().map(|r| r.correct()).sum();
    AnswerSummary {
        problems: records.len(),
        samples: records.iter().map(|r| r.n()).max().unwrap_or(0),
        verified,
        metrics,
        curves,
        by_subject: grouped(records, |r| r.subject.clone(), verified),
        by_level: grouped(records, |r| r.level.clone(), verified),
        tokens: Tokens {
            prompt,
            completion,
            per_problem: (prompt + completion) as f64 / records.len().max(1) as f64,
            completion_per_sample: completion as f64 / samples.max(1) as f64,
            per_correct_answer: (correct > 0).then(|| completion as f64 / correct as f64),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record from per-sample answer labels: `'r'` right, `'w'`/`'x'` two wrong
    /// answers, `'-'` none.
    fn rec(key: &str, labels: &str, verification: &[f64]) -> Record {
        let mut class_of = BTreeMap::new();
        let mut class_correct = Vec::new();
        let mut class_answer = Vec::new();
        let classes = labels
            .chars()
            .map(|l| {
                (l != '-').then(|| {
                    *class_of.entry(l).or_insert_with(|| {
                        class_correct.push(l == 'r');
                        class_answer.push(l.to_string());
                        class_correct.len() - 1
                    })
                })
            })
            .collect();
        Record {
            key: key.into(),
            subject: None,
            level: None,
            gold: "r".into(),
            classes,
            class_correct,
            class_answer,
            verification: verification.to_vec(),
            self_score: vec![0.0; labels.len()],
            prompt_tokens: 10,
            completion_tokens: 100,
        }
    }

    #[test]
    fn votes_on_known_samples() {
        // 4 samples: r, w, w, r -> tie 2:2 broken by verification weight.
        let a = rec("a", "rwwr", &[1.0, 0.0, 0.0, 0.5]);
        assert_eq!(a.vote_correct(&[0, 1, 2, 3], None), 1.0);
        // Majority says w (2 of 3); verification says r.
        let b = rec("b", "rww", &[1.0, 0.0, 0.5]);
        assert_eq!(b.vote_correct(&[0, 1, 2], None), 0.0);
        assert_eq!(b.vote_correct(&[0, 1, 2], Some(&b.verification)), 1.0);
        let none = rec("c", "---", &[0.0; 3]);
        assert_eq!(none.vote_correct(&[0, 1, 2], None), 0.0);
        // An unbroken tie (no weights) is a coin toss, whatever the classes' order.
        let tie = rec("d", "wr", &[0.0, 0.0]);
        assert_eq!(tie.vote_correct(&[0, 1], None), 0.5);
    }

    #[test]
    fn summary_metrics_on_known_samples() {
        let records = vec![
            rec("a", "rrrw", &[1.0, 1.0, 1.0, 0.0]),
            rec("b", "wwrx", &[0.0, 0.0, 1.0, 0.0]),
            rec("c", "--ww", &[0.0; 4]),
        ];
        let s = summarize(&records, true);
        assert_eq!((s.problems, s.samples), (3, 4));
        // pass@1 = mean(3/4, 1/4, 0) = 1/3.
        assert!((s.metrics["pass@1"].value - 1.0 / 3.0).abs() < 1e-9);
        // pass@4: a and b have a right sample -> 2/3.
        assert!((s.metrics["pass@4"].value - 2.0 / 3.0).abs() < 1e-9);
        // maj@4: a right; b majority is w; c w.
        assert!((s.metrics["maj@4"].value - 1.0 / 3.0).abs() < 1e-9);
        // weighted@4: a right; b r has weight 1 -> right; c wrong.
        assert!((s.metrics["weighted@4"].value - 2.0 / 3.0).abs() < 1e-9);
        assert!((s.metrics["no_answer_rate"].value - (0.0 + 0.0 + 0.5) / 3.0).abs() < 1e-9);
        assert_eq!(s.curves.k, vec![1, 2, 4]);
        // maj@1 equals pass@1: a vote of one sample is that sample, and all four
        // one-sample subsets are counted.
        assert!((s.curves.majority[0].value - s.curves.pass[0].value).abs() < 1e-12);
        // With 5 right and 3 wrong unweighted samples, maj@2 counts the C(5,2) right
        // pairs and half of the 5*3 split pairs, over C(8,2) pairs.
        let fair = summarize(&[rec("e", "rrrrrwww", &[0.0; 8])], false);
        let want = (10.0 + 15.0 / 2.0) / 28.0;
        assert!((fair.curves.majority[1].value - want).abs() < 1e-12);
        assert!(all_subsets(5, 3).len() == 10 && choose(8, 2) == 28);
        assert_eq!(s.tokens.completion, 300);
        assert_eq!(s.tokens.per_correct_answer, Some(300.0 / 4.0));
    }
}
