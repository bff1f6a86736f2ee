//! `verimath solve` against the scripted OpenAI-compatible server: sampling,
//! verification, voting and grading through the real binary.

use scripted_server::{Reply, ScriptedServer, ServerOptions};
use std::process::Command;

/// Solutions cycle through 42, 42.0, 41; the verifier scores 42s at 1 and 41 at 0.
fn start() -> ScriptedServer {
    ScriptedServer::start_blocking(ServerOptions::default(), |req| {
        let prompt = req.last_user().to_string();
        if prompt.starts_with("Solve the following problem") {
            Reply::texts([
                "Thus the answer is $\\boxed{42}$.",
                "We obtain \\boxed{42.0}.",
                "So it is \\boxed{41}.",
            ])
        } else if prompt.contains("boxed{41}") {
            Reply::text("Step 2 is wrong.\n\n\\boxed{0}")
        } else {
            Reply::text("Every step holds.\n\n\\boxed{1}")
        }
    })
    .expect("server starts")
}

fn solve(server: &ScriptedServer, extra: &[&str]) -> (i32, String) {
    // Runs go to `runs/` under the working directory: keep them out of the checkout.
    let dir = tempfile::tempdir().expect("temporary directory");
    let out = Command::new(env!("CARGO_BIN_EXE_verimath"))
        .current_dir(dir.path())
        .args(["solve", "--backend", &server.base_url(), "--retries", "0"])
        .args(extra)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn solve_votes_and_grades_against_gold() {
    let server = start();
    let (code, out) = solve(
        &server,
        &[
            "What is 6 times 7?",
            "--samples",
            "3",
            "--verify",
            "2",
            "--gold",
            "42",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(v["answer"], "42");
    assert_eq!(v["correct"], true);
    assert_eq!(v["weighted_correct"], true);
    assert!((v["support"].as_f64().unwrap_or(0.0) - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(v["groups"].as_array().map(Vec::len), Some(2));
    // 1 solve request + 3 verification requests.
    assert_eq!(server.request_count(), 4);
}

#[test]
fn solve_reads_problems_and_gold_from_a_file() {
    let server = start();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("problems.jsonl");
    std::fs::write(
        &path,
        "{\"problem_idx\": \"a\", \"question\": \"6*7?\", \"answer\": \"42\"}\n\
         {\"problem_idx\": \"b\", \"problem\": \"40+1?\", \"answer\": 41}\n",
    )
    .expect("write");
    let (code, out) = solve(
        &server,
        &[
            "--input",
            path.to_str().unwrap_or_default(),
            "--samples",
            "3",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["problem_idx"], "a");
    assert_eq!(lines[0]["correct"], true);
    assert_eq!(lines[1]["correct"], false);
}
