//! `verimath generate` as a user runs it: the real binary on the test model.

use std::process::Command;

use serde_json::Value;

fn model_path() -> std::path::PathBuf {
    let path = engine::test_model_path();
    assert!(
        path.exists(),
        "test model missing at {}: run scripts/setup.sh or set VERIMATH_TEST_MODEL",
        path.display()
    );
    path
}

fn generate(extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_verimath"))
        .arg("generate")
        .arg("--model")
        .arg(model_path())
        .args(extra)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

#[test]
fn raw_greedy_json_matches_llama_cpp_golden_prefix() {
    // Golden prompt 0: llama.cpp's greedy continuation starts " the capital of the
    // country of France." (prompt ids [2, 818, 5279, 529, 7001, 563]); its first steps
    // are far from ties, so the first tokens must agree exactly.
    let v = generate(&[
        "--prompt",
        "The capital of France is",
        "--raw",
        "--temperature",
        "0",
        "--max-tokens",
        "4",
        "--json",
    ]);
    let c = &v["completions"][0];
    let ids: Vec<u64> = c["token_ids"]
        .as_array()
        .expect("token_ids")
        .iter()
        .map(|x| x.as_u64().expect("id"))
        .collect();
    assert_eq!(ids, vec![506, 5279, 529, 506]);
    assert_eq!(c["text"], " the capital of the");
    assert_eq!(c["finish_reason"], "length");
    assert_eq!(v["usage"]["prompt_tokens"], 6);
    assert_eq!(v["usage"]["completion_tokens"], 4);
    assert!(
        v["timings"]["prompt_tokens_per_s"]
            .as_f64()
            .expect("number")
            > 0.0
    );
    assert!(
        v["timings"]["decode_tokens_per_s"]
            .as_f64()
            .expect("number")
            > 0.0
    );
}

#[test]
fn seeded_samples_and_stop_string() {
    let args = [
        "--prompt",
        "Once upon a time",
        "--raw",
        "--n",
        "2",
        "--seed",
        "7",
        "--temperature",
        "1",
        "--max-tokens",
        "5",
        "--stop",
        "zzzz-not-generated",
        "--json",
    ];
    let a = generate(&args);
    let b = generate(&args);
    assert_eq!(a["completions"], b["completions"]);
    assert_eq!(a["completions"].as_array().expect("list").len(), 2);
    let greedy = generate(&[
        "--prompt",
        "The capital of France is",
        "--raw",
        "--temperature",
        "0",
        "--max-tokens",
        "12",
        "--stop",
        " of",
        "--json",
    ]);
    assert_eq!(greedy["completions"][0]["text"], " the capital");
    assert_eq!(greedy["completions"][0]["finish_reason"], "stop");
}
