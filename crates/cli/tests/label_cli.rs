//! `verimath label` through the real binary against the scripted server, with planted
//! verdicts: a clean proof, a flawed one whose flaw the meta-verifiers confirm, one
//! whose only complaint they reject, and one with a single confirmed complaint (below
//! k, so a human decides); then a second run that asks for nothing new.

use scripted_server::{Reply, ScriptedServer, ServerOptions};
use std::process::Command;

const INPUT: &str = "\
{\"id\": \"good\", \"problem\": \"Show 1 = 1.\", \"proof\": \"GOOD proof.\", \"human_rating_normalized\": 1.0}
{\"id\": \"flawed\", \"problem\": \"Show 2 = 2.\", \"proof\": \"FLAWED proof.\", \"human_rating_normalized\": 0.0}
{\"id\": \"disputed\", \"question\": \"Show 3 = 3.\", \"proof\": \"DISPUTED proof.\"}
{\"id\": \"mixed\", \"problem\": \"Show 4 = 4.\", \"proof\": \"MIXED proof.\"}
";

fn responder(req: &scripted_server::ChatRequestSeen) -> Reply {
    let p = req.last_user();
    if p.contains("judge the review") {
        if p.contains("Step 2 is wrong") {
            Reply::text("The issue is real.\n\n\\boxed{1}")
        } else {
            Reply::text("The grader misread step 3.\n\n\\boxed{0}")
        }
    } else if p.contains("GOOD proof") {
        Reply::text("No issues.\n\nFinal score: \\boxed{1}")
    } else if p.contains("FLAWED proof") {
        Reply::text("Step 2 is wrong.\n\nFinal score: \\boxed{0}")
    } else if p.contains("DISPUTED proof") {
        Reply::text("Maybe step 3 is loose.\n\nFinal score: \\boxed{0.5}")
    } else {
        Reply::texts([
            "Step 2 is wrong.\n\nFinal score: \\boxed{0}",
            "No issues.\n\nFinal score: \\boxed{1}",
        ])
    }
}

#[test]
fn labels_follow_planted_verdicts_and_resume() {
    let server =
        ScriptedServer::start_blocking(ServerOptions::default(), responder).expect("server starts");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("proofs.jsonl");
    std::fs::write(&input, INPUT).unwrap();
    let run = dir.path().join("label.sqlite");
    let label = || {
        Command::new(env!("CARGO_BIN_EXE_verimath"))
            .args(["label", "--backend", &server.base_url(), "--retries", "0"])
            .args(["-n", "2", "-m", "3", "-k", "2", "--json", "--input"])
            .arg(&input)
            .arg("--run")
            .arg(&run)
            .output()
            .expect("runs")
    };
    let out = label();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let by_id = |id: &str| {
        lines
            .iter()
            .find(|l| l["id"] == format!("{id}/p"))
            .unwrap_or_else(|| panic!("no label for {id}: {lines:?}"))
            .clone()
    };
    let good = by_id("good");
    assert_eq!(
        (good["label"].as_f64(), good["confirmed"].as_u64()),
        (Some(1.0), Some(0))
    );
    let flawed = by_id("flawed");
    assert_eq!(
        (flawed["label"].as_f64(), flawed["confirmed"].as_u64()),
        (Some(0.0), Some(2))
    );
    assert_eq!(flawed["status"], "labelled");
    let disputed = by_id("disputed");
    assert_eq!(
        disputed["label"].as_f64(),
        Some(1.0),
        "rejected complaints do not count"
    );
    let mixed = by_id("mixed");
    assert!(mixed["label"].is_null());
    assert_eq!(mixed["status"], "needs_human");
    assert_eq!(mixed["verifications"], 2);
    // Agreement with the two human grades of the input.
    let agreement = &lines.last().unwrap()["agreement"];
    assert_eq!(
        (
            agreement["graded"].as_u64(),
            agreement["same_grade"].as_u64()
        ),
        (Some(2), Some(2))
    );
    // Verifications: 4 proofs x 2; metas: 3 each for flawed (2), disputed (2), mixed (1).
    let requests = server.request_count();
    let again = label();
    assert!(again.status.success());
    assert_eq!(
        server.request_count(),
        requests,
        "a second run asks for nothing new"
    );
    assert_eq!(again.stdout, out.stdout);
}
