//! `verimath eval`, `report` and `calibrate` through the real binary against the
//! scripted OpenAI-compatible server: metrics on known samples, resume after
//! `kill -9`, the HTML report, and calibration figures on planted verifier scores.

use scripted_server::{Reply, ScriptedServer, ServerOptions};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Three problems whose samples are scripted (see `answer_of`).
const PROBLEMS: &str = "{\"id\": \"a\", \"problem\": \"Alpha: what is 6*7?\", \"answer\": \"42\", \"subject\": \"Arithmetic\"}\n\
{\"id\": \"b\", \"problem\": \"Beta: what is 3+4?\", \"answer\": 7, \"subject\": \"Arithmetic\"}\n\
{\"id\": \"c\", \"problem\": \"Gamma: what is 5+5?\", \"answer\": \"10\", \"subject\": \"Counting\"}\n";

fn solution(answer: &str, self_score: &str) -> String {
    format!(
        "## Solution\nWorking it out, the result is \\boxed{{{answer}}}.\n\n\
         ## Self Evaluation\nChecked. \\boxed{{{self_score}}}"
    )
}

/// Alpha: 42, 42, 41, 42 (3 of 4 right). Beta: 8, 8, 7, no answer (majority wrong,
/// the verifier prefers 7). Gamma: never an answer.
fn responder(delay: Duration) -> impl Fn(&scripted_server::ChatRequestSeen) -> Reply + Send + Sync {
    move |req| {
        let prompt = req.last_user().to_string();
        let reply = if prompt.contains("You are grading a proof") {
            if prompt.contains("boxed{7}") || prompt.contains("boxed{42}") {
                Reply::text("Every step holds.\n\nFinal score: \\boxed{1}")
            } else {
                Reply::text("Step 1 is wrong.\n\nFinal score: \\boxed{0}")
            }
        } else if prompt.contains("Alpha") {
            Reply::texts([
                solution("42", "1"),
                solution("42", "1"),
                solution("41", "0"),
                solution("42", "0.5"),
            ])
        } else if prompt.contains("Beta") {
            Reply::texts([
                solution("8", "1"),
                solution("8", "1"),
                solution("7", "0"),
                "I am not sure.".to_string(),
            ])
        } else {
            Reply::text("I cannot solve this.")
        };
        reply.delay(delay)
    }
}

fn verimath(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verimath"))
        .args(args)
        .output()
        .expect("run verimath")
}

fn metric(v: &serde_json::Value, name: &str) -> f64 {
    v["metrics"][name]["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("no metric {name} in {v}"))
}

fn eval_args<'a>(url: &'a str, file: &'a str, run: &'a str) -> Vec<&'a str> {
    vec![
        "eval",
        "--dataset",
        file,
        "--samples",
        "4",
        "--verify",
        "1",
        "--backend",
        url,
        "--retries",
        "0",
        "--run",
        run,
        "--json",
    ]
}

#[test]
fn eval_metrics_on_known_samples_and_the_report() {
    let server =
        ScriptedServer::start_blocking(ServerOptions::default(), responder(Duration::ZERO))
            .expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("problems.jsonl");
    std::fs::write(&file, PROBLEMS).expect("write");
    let run = dir.path().join("eval.sqlite");
    let (url, file_s, run_s) = (
        server.base_url(),
        file.to_str().unwrap().to_string(),
        run.to_str().unwrap().to_string(),
    );
    let out = verimath(&eval_args(&url, &file_s, &run_s));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(v["problems"], 3);
    assert_eq!(v["samples"], 4);
    // pass@1 = mean(3/4, 1/4, 0).
    assert!((metric(&v, "pass@1") - 1.0 / 3.0).abs() < 1e-9, "{v}");
    // pass@4: alpha and beta have a right sample.
    assert!((metric(&v, "pass@4") - 2.0 / 3.0).abs() < 1e-9);
    // Majority: alpha right, beta 8 (wrong), gamma none.
    assert!((metric(&v, "maj@4") - 1.0 / 3.0).abs() < 1e-9);
    // Verification-weighted: beta's 7 carries the only weight, so it wins.
    assert!((metric(&v, "weighted@4") - 2.0 / 3.0).abs() < 1e-9);
    // Self-evaluation weighted: beta's 8s rated themselves 1 each, the 7 rated 0.
    assert!((metric(&v, "self_weighted@4") - 1.0 / 3.0).abs() < 1e-9);
    // 1 of beta's and all 4 of gamma's samples have no answer.
    assert!((metric(&v, "no_answer_rate") - 5.0 / 12.0).abs() < 1e-9);
    let ci = &v["metrics"]["pass@1"]["ci95"];
    assert!(ci[0].as_f64().unwrap() <= 1.0 / 3.0 && ci[1].as_f64().unwrap() >= 1.0 / 3.0);
    assert_eq!(v["by_subject"]["Arithmetic"]["problems"], 2);
    assert!(v["tokens"]["completion"].as_u64().unwrap() > 0);
    assert!(v["wall_s"].as_f64().unwrap() > 0.0);
    // 3 solve requests + 8 verification requests (one per answered... every sample).
    let requests = server.request_count();
    assert_eq!(requests, 3 + 12);

    // Running again asks for nothing and reports the same.
    let again = verimath(&eval_args(&url, &file_s, &run_s));
    assert!(again.status.success());
    assert_eq!(server.request_count(), requests);
    let w: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&again.stdout).trim()).expect("JSON");
    assert_eq!(w["metrics"], v["metrics"]);

    // The report: one self-contained HTML file with plots, and a JSON summary.
    let html = dir.path().join("report.html");
    let out = verimath(&["report", "--run", &run_s, "--out", html.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(&html).expect("report written");
    assert!(
        page.matches("<svg").count() >= 3,
        "accuracy, scores, subjects"
    );
    assert!(page.contains("maj@4") && page.contains("weighted@4"));
    assert!(page.contains("Arithmetic"));
    assert!(
        !page.contains("<script") && !page.contains("src=\"http"),
        "no network"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(html.with_extension("json")).unwrap())
            .expect("JSON summary");
    assert_eq!(summary[0]["summary"]["metrics"], v["metrics"]);
}

#[test]
fn eval_resumes_after_kill_9_and_requests_only_what_is_missing() {
    let server = ScriptedServer::start_blocking(
        ServerOptions::default(),
        responder(Duration::from_millis(150)),
    )
    .expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("problems.jsonl");
    std::fs::write(&file, PROBLEMS).expect("write");
    let run = dir.path().join("eval.sqlite");
    let (url, file_s, run_s) = (
        server.base_url(),
        file.to_str().unwrap().to_string(),
        run.to_str().unwrap().to_string(),
    );
    let mut args = eval_args(&url, &file_s, &run_s);
    args.extend(["--concurrency", "1"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_verimath"))
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let stored = |run: &std::path::Path| -> u64 {
        if !run.exists() {
            return 0;
        }
        let (p, v, _) = store::Store::open(run)
            .and_then(|s| s.counts())
            .unwrap_or((0, 0, 0));
        p + v
    };
    let started = Instant::now();
    while stored(&run) < 6 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing stored"
        );
        assert!(child.try_wait().unwrap().is_none(), "ended before the kill");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    std::thread::sleep(Duration::from_millis(300));
    let before = stored(&run);
    let requests_before = server.request_count() as usize;
    let total = 12 + 12; // 12 solutions, 12 verifications
    assert!(before < total, "killed too late");

    let out = verimath(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored(&run), total);
    let asked_after: u64 = server.requests_seen()[requests_before..]
        .iter()
        .map(|r| u64::from(r.n))
        .sum();
    assert_eq!(asked_after, total - before, "only the missing samples");
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).expect("JSON");
    assert!((metric(&v, "pass@1") - 1.0 / 3.0).abs() < 1e-9);
}

#[test]
fn calibrate_measures_agreement_with_human_grades() {
    // The verifier scores a proof 1 when it contains "GOOD", else 0.
    let server = ScriptedServer::start_blocking(ServerOptions::default(), |req| {
        if req.last_user().contains("GOOD") {
            Reply::text("Fine.\n\nFinal score: \\boxed{1}")
        } else {
            Reply::text("Broken.\n\nFinal score: \\boxed{0}")
        }
    })
    .expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("graded.jsonl");
    let line = |id: &str, proof: &str, human: f64, reference: f64| {
        format!(
            "{{\"id\": \"{id}\", \"problem\": \"P {id}\", \"proof\": \"{proof}\", \
             \"human_rating_normalized\": {human}, \"average_automatic_rating\": {reference}}}\n"
        )
    };
    let text = [
        line("1", "GOOD proof", 1.0, 1.0),
        line("2", "GOOD but wrong", 0.0, 0.0),
        line("3", "bad", 0.0, 0.0),
        line("4", "bad but right", 1.0, 1.0),
        line("5", "GOOD", 1.0, 1.0),
    ]
    .concat();
    std::fs::write(&input, text).expect("write");
    let run = dir.path().join("cal.sqlite");
    let out = verimath(&[
        "calibrate",
        "--input",
        input.to_str().unwrap(),
        "-m",
        "2",
        "--backend",
        &server.base_url(),
        "--retries",
        "0",
        "--run",
        run.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).expect("JSON");
    // Humans failed proofs 2 and 3; the verifier passed 2: false pass 1/2.
    assert_eq!(v["false_pass"], 0.5);
    // Humans passed 1, 4, 5; the verifier failed 4: false fail 1/3.
    assert!((v["false_fail"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert!((v["mae"].as_f64().unwrap() - 0.4).abs() < 1e-9);
    assert_eq!(v["confusion"]["fail"]["1"], 1);
    assert_eq!(v["reference"]["mae"], 0.0);
    assert!(v["spearman"].as_f64().unwrap() > 0.0 && v["spearman"].as_f64().unwrap() < 1.0);
    assert!(v["kendall"].is_number());
    assert_eq!(server.samples_requested(), 10);
    // The calibration renders in the report.
    let html = dir.path().join("cal.html");
    let out = verimath(&[
        "report",
        "--run",
        run.to_str().unwrap(),
        "--out",
        html.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Verifier calibration") && page.contains("<svg"));
}

#[test]
fn a_bad_dataset_is_a_clear_error() {
    let out = verimath(&[
        "eval",
        "--dataset",
        "no-such-benchmark",
        "--backend",
        "http://127.0.0.1:9/v1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown dataset") && err.contains("gsm8k"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"problem\": \"ok\", \"answer\": 1}\n{broken\n").unwrap();
    let out = verimath(&[
        "eval",
        "--dataset",
        bad.to_str().unwrap(),
        "--backend",
        "http://127.0.0.1:9/v1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(":2: not valid JSON"));
}

#[test]
fn eval_on_proof_problems_runs_the_search_and_the_judge() {
    // Problem A's proofs pass every verification and the judge gives 6; problem B's
    // fail and get 2. The judge sees the reference solution.
    let server = ScriptedServer::start_blocking(ServerOptions::default(), |req| {
        let prompt = req.last_user();
        if prompt.contains("You are an olympiad grader") {
            assert!(
                prompt.contains("REFERENCE-"),
                "the judge sees the reference"
            );
            if prompt.contains("Problem A") {
                Reply::text("Complete.\n\nGrade: \\boxed{6}")
            } else {
                Reply::text("A gap in step 2.\n\nGrade: \\boxed{2}")
            }
        } else if prompt.contains("You are grading a proof") {
            let score = if prompt.contains("Problem A") {
                "1"
            } else {
                "0"
            };
            Reply::text(format!("Checked.\n\nFinal score: \\boxed{{{score}}}"))
        } else {
            Reply::text("## Solution\nBy induction.\n\n## Self Evaluation\nFine. \\boxed{1}")
        }
    })
    .expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("proofs.jsonl");
    std::fs::write(
        &file,
        "{\"id\": \"A\", \"problem\": \"Problem A: prove it.\", \"solution\": \"REFERENCE-A\"}\n\
         {\"id\": \"B\", \"problem\": \"Problem B: prove it.\", \"solution\": \"REFERENCE-B\"}\n",
    )
    .expect("write");
    let run = dir.path().join("proofs.sqlite");
    let out = verimath(&[
        "eval",
        "--dataset",
        file.to_str().unwrap(),
        "--samples",
        "2",
        "--verify",
        "2",
        "--rounds",
        "0",
        "--backend",
        &server.base_url(),
        "--retries",
        "0",
        "--run",
        run.to_str().unwrap(),
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON");
    assert_eq!(v["kind"], "proof");
    assert_eq!(v["problems"], 2);
    assert!((metric(&v, "all_pass_rate") - 0.5).abs() < 1e-9, "{v}");
    assert!((metric(&v, "best_score") - 0.5).abs() < 1e-9);
    assert!((metric(&v, "judge_grade") - 4.0 / 7.0).abs() < 1e-9);
    // Re-running grades nothing again.
    let before = server.request_count();
    let again = verimath(&[
        "eval",
        "--dataset",
        file.to_str().unwrap(),
        "--samples",
        "2",
        "--verify",
        "2",
        "--rounds",
        "0",
        "--backend",
        &server.base_url(),
        "--retries",
        "0",
        "--run",
        run.to_str().unwrap(),
        "--json",
    ]);
    assert!(again.status.success());
    assert_eq!(server.request_count(), before);
}
