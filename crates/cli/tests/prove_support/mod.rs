//! Helpers shared by the end-to-end tests of `prove`, `verify`, `runs` and resume:
//! scripted answers that follow the output protocol, and running the real binary.

#![allow(dead_code)]

use scripted_server::ChatRequestSeen;
use std::path::Path;
use std::process::{Command, Output};

pub fn is_meta(req: &ChatRequestSeen) -> bool {
    req.contains("judge the review")
}

pub fn is_verification(req: &ChatRequestSeen) -> bool {
    !is_meta(req) && req.contains("You are grading a proof")
}

pub fn is_refinement(req: &ChatRequestSeen) -> bool {
    !is_meta(req) && !is_verification(req) && req.contains("Earlier attempts")
}

/// A generator answer that follows the protocol.
pub fn proof(body: &str) -> String {
    format!("## Solution\n{body}\n\n## Self Evaluation\nEvery step is justified.\n\\boxed{{1}}")
}

/// A verifier answer ending in `score`.
pub fn review(text: &str, score: &str) -> String {
    format!("{text}\n\nFinal score: \\boxed{{{score}}}")
}

pub fn verimath(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_verimath"));
    cmd.args(args);
    // No key or backend from the developer's environment leaks into tests.
    cmd.env_remove("OPENAI_API_KEY")
        .env_remove("VERIMATH_API_KEY")
        .env_remove("VERIMATH_BACKEND");
    cmd
}

pub fn run_ok(args: &[&str]) -> Output {
    let out = verimath(args).output().expect("run verimath");
    assert!(
        out.status.success(),
        "verimath {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (proofs, verifications, metas) stored in the run database at `path`.
pub fn counts(path: &Path) -> (u64, u64, u64) {
    store::Store::open(path)
        .expect("open run")
        .counts()
        .expect("count")
}

/// Small search settings as flags.
pub fn small(proofs: u32, m: u32, refine: u32, rounds: u32) -> Vec<String> {
    vec![
        "--proofs".into(),
        proofs.to_string(),
        "--verifications".into(),
        m.to_string(),
        "--refine".into(),
        refine.to_string(),
        "--critiques".into(),
        "2".into(),
        "--rounds".into(),
        rounds.to_string(),
    ]
}

/// Run `verimath prove PROBLEM --backend URL --run RUN --json FLAGS...` off the async
/// runtime (the scripted server runs on it) and return its stdout.
pub async fn prove_json(url: String, run: &Path, flags: Vec<String>) -> String {
    let run = run.to_str().expect("utf-8 path").to_string();
    tokio::task::spawn_blocking(move || {
        let mut args = vec!["prove", PROBLEM, "--backend", &url, "--run", &run, "--json"];
        args.extend(flags.iter().map(String::as_str));
        stdout(&run_ok(&args))
    })
    .await
    .expect("prove task")
}

pub const PROBLEM: &str = "Prove that the square of every odd integer is odd.";

/// Flags from string slices.
pub fn flags(small_flags: Vec<String>, more: &[&str]) -> Vec<String> {
    let mut f = small_flags;
    f.extend(more.iter().map(|s| s.to_string()));
    f
}
