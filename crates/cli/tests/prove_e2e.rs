//! `verimath prove`, `runs` and `verify` end to end: the real binary against the
//! scripted OpenAI-compatible server hosted by the test, with and without streaming,
//! with faults, early stop and meta-verification.

mod prove_support;

use prove_support::*;
use scripted_server::{Reply, Sample, ScriptedServer};
use serde_json::Value;
use std::collections::HashSet;

/// Reviews always find a minor issue; proofs come with reasoning.
fn minor_issues(req: &scripted_server::ChatRequestSeen) -> Reply {
    if is_verification(req) {
        Reply::text(review("Step 2 could say why k^2 + k is an integer.", "0.5"))
    } else {
        Reply::text(proof(
            "Write n = 2k + 1; then n^2 = 2(2k^2 + 2k) + 1 is odd.",
        ))
        .with_reasoning("Odd means 2k+1.")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_search_stores_every_planned_sample() {
    let server = ScriptedServer::start(minor_issues).await;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run.sqlite");
    let out = prove_json(
        server.base_url(),
        &run,
        flags(small(3, 4, 2, 1), &["--batch", "4"]),
    )
    .await;
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    let o = &lines[0];
    assert_eq!(o["problem_idx"], "1");
    assert_eq!(o["solved"], false);
    assert_eq!(o["rounds"], 1);
    assert_eq!(o["best"]["mean_score"], 0.5);
    assert!(o["best"]["proof"]
        .as_str()
        .unwrap()
        .starts_with("Write n = 2k + 1"));
    assert_eq!(o["best"]["verifications"].as_array().unwrap().len(), 4);
    assert!(o["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    // 3 proofs + 2 refinements, 4 verifications each.
    assert_eq!(counts(&run), (5, 20, 0));
    assert_eq!(server.samples_requested(), 25);
    // Verifications of one proof go out as one request with n = 4.
    let seen = server.requests_seen();
    assert!(seen.iter().any(|r| is_verification(r) && r.n == 4));
    assert!(seen.iter().all(|r| !r.stream));
    // Reasoning is stored apart from the answer.
    let samples = store::Store::open(&run).unwrap().all_samples().unwrap();
    assert_eq!(samples[0].reasoning.as_deref(), Some("Odd means 2k+1."));
    assert!(!samples[0].text.contains("Odd means"));

    // Export: every sample once, with kind, ids, round and parents.
    let out = run_ok(&["runs", "export", "--run", run.to_str().unwrap()]);
    let rows: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 25);
    let ids: HashSet<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 25);
    let refined: Vec<&Value> = rows
        .iter()
        .filter(|r| r["kind"] == "proof" && r["round"] == 1)
        .collect();
    assert_eq!(refined.len(), 2);
    assert!(refined
        .iter()
        .all(|r| r["parent_ids"][0].as_str().unwrap().starts_with("1/r0/p")));
    let v = rows.iter().find(|r| r["kind"] == "verification").unwrap();
    assert_eq!(
        (v["score"].as_f64(), v["problem_idx"].as_str()),
        (Some(0.5), Some("1"))
    );
    // DeepSeekMath-V2 layout: the best proof per problem.
    let out = run_ok(&[
        "runs",
        "export",
        "--run",
        run.to_str().unwrap(),
        "--format",
        "deepseek",
    ]);
    let ds: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(ds["question"], PROBLEM);
    assert_eq!(ds["average_automatic_rating"], 0.5);
    assert!(ds["model_prediction"]["proof"]
        .as_str()
        .unwrap()
        .contains("2k + 1"));
    let show = stdout(&run_ok(&["runs", "show", "--run", run.to_str().unwrap()]));
    assert!(
        show.contains("5 proofs, 20 verifications") && show.contains("not solved"),
        "{show}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn streaming_with_faults_still_stores_each_sample_once() {
    // Every kind of fault once, early on; the backend retries them.
    let server = ScriptedServer::start(|req| match req.seq {
        0 => Reply::error(500, "overloaded"),
        1 => Reply::garbage("<html>bad gateway</html>"),
        2 => minor_issues(req).cut_after(2),
        3 => Reply::hang(),
        _ => minor_issues(req),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run.sqlite");
    let more = [
        "--stream",
        "--request-timeout",
        "2",
        "--concurrency",
        "1",
        "--batch",
        "2",
    ];
    let out = prove_json(server.base_url(), &run, flags(small(2, 2, 1, 1), &more)).await;
    let o: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(o["best"]["mean_score"], 0.5);
    assert_eq!(counts(&run), (3, 6, 0));
    let seen = server.requests_seen();
    assert!(seen.iter().all(|r| r.stream));
    // Streamed reasoning_content is kept apart from the answer.
    let first = &store::Store::open(&run).unwrap().all_samples().unwrap()[0];
    assert_eq!(first.reasoning.as_deref(), Some("Odd means 2k+1."));
    // 4 faulty attempts were retried on top of the requests the plan needs.
    assert!(
        server.request_count() >= 4 + 5,
        "{}",
        server.request_count()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proof_passing_every_verification_ends_the_search() {
    let server = ScriptedServer::start(|req| {
        if is_verification(req) {
            if req.contains("FIXED") {
                Reply::text(review("Complete and rigorous.", "1"))
            } else {
                Reply::text(review("The parity claim is asserted, not shown.", "0"))
            }
        } else if is_refinement(req) {
            Reply::text(proof("FIXED: n = 2k+1 gives n^2 = 2(2k^2+2k) + 1."))
        } else {
            Reply::text(proof("Odd times odd is odd."))
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run.sqlite");
    let out = prove_json(server.base_url(), &run, small(2, 3, 2, 8)).await;
    let o: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(o["solved"], true);
    assert_eq!(o["rounds"], 1);
    assert_eq!(o["best"]["mean_score"], 1.0);
    assert_eq!(o["best"]["round"], 1);
    assert!(o["best"]["proof"].as_str().unwrap().starts_with("FIXED"));
    // No round 2 is started. A passing proof ends the round at once, cancelling
    // what is still in flight, so round 1's second refinement may or may not have
    // been stored by then.
    let (p, _, _) = counts(&run);
    assert!(p == 3 || p == 4, "{p} proofs");
    let refinements = server
        .requests_seen()
        .iter()
        .filter(|r| is_refinement(r))
        .count();
    assert!(
        (1..=2).contains(&refinements),
        "{refinements} refinement requests"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn meta_verification_sets_unreasonable_critiques_aside() {
    let server = ScriptedServer::start(|req| {
        if is_meta(req) {
            if req.contains("BOGUS") {
                Reply::text(review("The claimed issue is not in the proof.", "0"))
            } else {
                Reply::text(review("The issue is real.", "1"))
            }
        } else if is_verification(req) {
            // Per request with n = 2: one bogus zero and one perfect score.
            Reply::texts([
                review("BOGUS: the proof divides by zero.", "0"),
                review("Fine.", "1"),
            ])
        } else {
            Reply::text(proof("n = 2k+1, n^2 = 4k^2 + 4k + 1."))
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run.sqlite");
    let out = prove_json(
        server.base_url(),
        &run,
        flags(small(2, 2, 1, 2), &["--meta", "--batch", "2"]),
    )
    .await;
    let o: Value = serde_json::from_str(out.trim()).unwrap();
    // The bogus zero is set aside: the first proof passes.
    assert_eq!(o["solved"], true);
    assert_eq!(o["best"]["mean_score"], 1.0);
    let v = o["best"]["verifications"].as_array().unwrap();
    assert!(v.iter().any(|v| v["counted"] == false && v["score"] == 0.0));
    let (_, _, metas) = counts(&run);
    assert!(metas >= 1);
    assert!(server.requests_seen().iter().any(is_meta));
    // Without --meta the same answers never pass.
    let dir2 = tempfile::tempdir().unwrap();
    let run2 = dir2.path().join("run.sqlite");
    let out = prove_json(
        server.base_url(),
        &run2,
        flags(small(2, 2, 1, 1), &["--batch", "2"]),
    )
    .await;
    let o: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (o["solved"].as_bool(), o["best"]["mean_score"].as_f64()),
        (Some(false), Some(0.5))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unparsable_and_truncated_answers_are_kept_with_a_reason() {
    let server = ScriptedServer::start(|req| {
        if is_verification(req) {
            Reply::text(review("ok", "1"))
        } else {
            Reply::samples(vec![
                Sample::new("I think it is true."),
                Sample::new(proof("cut off here")).finish("length"),
            ])
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run.sqlite");
    prove_json(
        server.base_url(),
        &run,
        flags(small(2, 2, 1, 1), &["--batch", "2"]),
    )
    .await;
    let samples = store::Store::open(&run).unwrap().all_samples().unwrap();
    assert_eq!(samples.len(), 2, "unparsable proofs are not verified");
    let reasons: Vec<&str> = samples
        .iter()
        .map(|s| s.reason.as_deref().unwrap())
        .collect();
    assert!(reasons[0].contains("no `## Solution`"), "{reasons:?}");
    assert!(reasons[1].contains("truncated"), "{reasons:?}");
    assert_eq!(samples[0].text, "I think it is true.");
}

#[test]
fn a_malformed_problem_file_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.jsonl");
    std::fs::write(
        &file,
        "{\"question\": \"Prove A.\"}\n{\"question\": \"Prove B.\"\n",
    )
    .unwrap();
    let out = verimath(&[
        "prove",
        "--problem-file",
        file.to_str().unwrap(),
        "--backend",
        "http://127.0.0.1:9/v1",
    ])
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in.jsonl:2: not valid JSON"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_grades_a_proof_k_times() {
    let server = ScriptedServer::start(|_| {
        Reply::texts([review("fine", "1"), review("gap", "0.5"), "no score".into()])
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let problem = dir.path().join("p.txt");
    let proof_file = dir.path().join("proof.md");
    std::fs::write(&problem, PROBLEM).unwrap();
    std::fs::write(&proof_file, "Let n = 2k+1. Then $n^2 = 2(2k^2+2k)+1$.").unwrap();
    let url = server.base_url();
    let (p, f) = (
        problem.to_str().unwrap().to_string(),
        proof_file.to_str().unwrap().to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        stdout(&run_ok(&[
            "verify",
            "--problem-file",
            &p,
            "--proof-file",
            &f,
            "-k",
            "3",
            "--backend",
            &url,
        ]))
    })
    .await
    .unwrap();
    assert!(
        out.contains("verification 1: 1\n") && out.contains("verification 2: 0.5\n"),
        "{out}"
    );
    assert!(out.contains("verification 3: unparsable"), "{out}");
    assert!(
        out.contains("mean score: 0.750 over 2 parsed of 3"),
        "{out}"
    );
    let seen = server.requests_seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].contains("2(2k^2+2k)+1") && seen[0].n == 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_problem_file_runs_every_problem_with_overridden_templates() {
    let server = ScriptedServer::start(|req| {
        if req.contains("CUSTOM GRADER") {
            Reply::text(review("fine", "1"))
        } else {
            Reply::text(proof("by parity"))
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("problems.jsonl");
    std::fs::write(
        &file,
        "{\"question\": \"Prove A.\", \"problem_idx\": \"A\"}\n{\"problem\": \"Prove B.\", \"problem_idx\": 2}\n",
    )
    .unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(
        templates.join("verification.md"),
        "CUSTOM GRADER\n{statement}\n---\n{proof}\nEnd with \\boxed{{score}}.",
    )
    .unwrap();
    let run = dir.path().join("run.sqlite");
    let (url, run_s) = (server.base_url(), run.to_str().unwrap().to_string());
    let (file_s, templates_s) = (
        file.to_str().unwrap().to_string(),
        templates.to_str().unwrap().to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        let mut args = vec![
            "prove",
            "--input",
            &file_s,
            "--backend",
            &url,
            "--run",
            &run_s,
            "--json",
            "--templates",
            &templates_s,
        ];
        let f = small(2, 2, 1, 1);
        args.extend(f.iter().map(String::as_str));
        stdout(&run_ok(&args))
    })
    .await
    .unwrap();
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let idx: Vec<&str> = lines
        .iter()
        .map(|o| o["problem_idx"].as_str().unwrap())
        .collect();
    assert_eq!(idx, vec!["A", "2"]);
    assert!(lines.iter().all(|o| o["solved"] == true));
    let seen = server.requests_seen();
    assert!(seen
        .iter()
        .any(|r| r.contains("CUSTOM GRADER\nProve B.\n---\nby parity")));
}

/// Proofs alternate between two final answers; reviews all find a minor issue.
fn two_answers(req: &scripted_server::ChatRequestSeen) -> Reply {
    if is_verification(req) {
        Reply::text(review("The last step is terse.", "0.5"))
    } else if req.seq.is_multiple_of(2) {
        Reply::text(proof("Checking all cases, the least such n is \\boxed{3}."))
    } else {
        Reply::text(proof("Checking all cases, the least such n is \\boxed{5}."))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn top_proofs_with_different_final_answers_are_flagged() {
    let server = ScriptedServer::start(two_answers).await;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run.sqlite");
    let out = prove_json(
        server.base_url(),
        &run,
        flags(small(4, 2, 1, 0), &["--batch", "1"]),
    )
    .await;
    let o: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let groups = o["answer_disagreement"]["groups"].as_array().unwrap();
    let answers: HashSet<&str> = groups
        .iter()
        .map(|g| g["answer"].as_str().unwrap())
        .collect();
    assert_eq!(answers, HashSet::from(["3", "5"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn top_proofs_that_agree_are_not_flagged() {
    let server = ScriptedServer::start(minor_issues).await;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run.sqlite");
    let out = prove_json(server.base_url(), &run, flags(small(3, 2, 1, 0), &[])).await;
    let o: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert!(o["answer_disagreement"].is_null());
}
