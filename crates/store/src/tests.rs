//! Tests of the run database: round trips, duplicate protection, persistence.

use super::*;

fn problem(key: &str, q: &str) -> Problem {
    Problem {
        key: key.into(),
        problem_idx: key.into(),
        question: q.into(),
        position: 0,
        answer: None,
        info: None,
    }
}

fn proof(id: &str, idx: u32) -> Sample {
    Sample {
        id: id.into(),
        kind: Kind::Proof,
        problem_key: "p".into(),
        round: 0,
        idx,
        target_id: None,
        proof_id: Some(id.into()),
        parent_ids: vec!["a".into(), "b".into()],
        text: "## Solution\nx\n## Self Evaluation\n\\boxed{1}".into(),
        reasoning: Some("thinking".into()),
        body: Some("x".into()),
        self_eval: Some("\\boxed{1}".into()),
        score: Some(1.0),
        status: ParseStatus::Ok,
        reason: None,
        finish_reason: "stop".into(),
        completion_tokens: Some(12),
    }
}

#[test]
fn samples_round_trip_and_never_duplicate() {
    let store = Store::open_in_memory().unwrap();
    store.add_problem(&problem("p", "Prove it.")).unwrap();
    let a = proof("p/r0/p0", 0);
    let b = proof("p/r0/p1", 1);
    assert_eq!(
        store
            .insert_samples("p", Kind::Proof, &[a.clone(), b.clone()], tokens(10, 24))
            .unwrap(),
        2
    );
    // The same id again is ignored, and the first answer is kept.
    let mut changed = a.clone();
    changed.text = "other".into();
    assert_eq!(
        store
            .insert_samples("p", Kind::Proof, &[changed], tokens(10, 5))
            .unwrap(),
        0
    );
    let got = store.samples("p").unwrap();
    assert_eq!(got, vec![a, b]);
    let usage = store.usage(Some("p")).unwrap();
    assert_eq!((usage.requests, usage.prompt_tokens), (2, 20));
    assert_eq!(usage.completion_tokens, 29);
    assert_eq!(usage.cached_prompt_tokens, 10);
    assert_eq!(store.usage(Some("nope")).unwrap(), UsageTotals::default());
    assert_eq!(store.counts().unwrap(), (2, 0, 0));
}

#[test]
fn a_problem_key_cannot_change_its_statement() {
    let store = Store::open_in_memory().unwrap();
    store.add_problem(&problem("p", "Prove A.")).unwrap();
    store.add_problem(&problem("p", "Prove A.")).unwrap();
    assert!(matches!(
        store.add_problem(&problem("p", "Prove B.")),
        Err(StoreError::ProblemMismatch { .. })
    ));
    assert_eq!(store.problems().unwrap().len(), 1);
}

#[test]
fn data_survives_reopening_and_config_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs/nested/run.sqlite");
    {
        let store = Store::open(&path).unwrap();
        store.add_problem(&problem("p", "Q")).unwrap();
        store
            .insert_samples("p", Kind::Proof, &[proof("p/r0/p0", 0)], tokens(1, 1))
            .unwrap();
        store.set_config("search", "{\"proofs\":4}").unwrap();
        store.set_config("search", "{\"proofs\":8}").unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.samples("p").unwrap().len(), 1);
    assert_eq!(
        store.config("search").unwrap().as_deref(),
        Some("{\"proofs\":8}")
    );
    assert_eq!(store.config("missing").unwrap(), None);
    assert_eq!(store.all_samples().unwrap()[0].parent_ids, vec!["a", "b"]);
}

#[test]
fn a_read_only_store_reads_and_leaves_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.sqlite");
    {
        let store = Store::open(&path).unwrap();
        store.add_problem(&problem("p", "Q")).unwrap();
        store
            .insert_samples("p", Kind::Proof, &[proof("p/r0/p0", 0)], tokens(1, 1))
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let store = Store::open_read_only(&path).unwrap();
    assert_eq!(store.samples("p").unwrap().len(), 1);
    assert!(
        store.add_problem(&problem("q", "Q2")).is_err(),
        "a read-only store wrote"
    );
    drop(store);
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    assert!(Store::open_read_only(&dir.path().join("missing.sqlite")).is_err());
}

fn tokens(prompt: u64, completion: u64) -> RequestTokens {
    RequestTokens {
        prompt,
        cached_prompt: prompt / 2,
        completion,
    }
}
