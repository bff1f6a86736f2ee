//! `verimath tokenize` run as a real binary on the test model, checked against
//! llama.cpp's tokenization of the same text.

use std::process::Command;

/// A row of the engine's golden file (`crates/engine/tests/data`): llama.cpp's ids for
/// `Hello, World!` with the model's BOS.
const TEXT: &str = "Hello, World!";
const IDS_WITH_BOS: [u32; 5] = [2, 9259, 236764, 4109, 236888];

/// The binary, pointed at the test model (the default model has another vocabulary).
fn verimath() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_verimath"));
    cmd.env("VERIMATH_MODEL", engine::test_model_path());
    cmd
}

#[test]
fn json_output_matches_llama_cpp() {
    let out = verimath()
        .args(["tokenize", TEXT, "--json"])
        .output()
        .expect("run verimath");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let ids: Vec<u32> = v["ids"]
        .as_array()
        .expect("ids array")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect();
    assert_eq!(ids, IDS_WITH_BOS);
}

#[test]
fn table_output_has_one_line_per_token() {
    let out = verimath()
        .args(["tokenize", "a\nb"])
        .output()
        .expect("run verimath");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    // BOS, `a`, the newline token (escaped), `b`.
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], "2\t<bos>");
    assert!(lines[2].ends_with("\t\\n"), "{text}");
    assert!(lines[3].ends_with("\tb"), "{text}");
}

#[test]
fn a_missing_model_is_a_clear_error() {
    let out = verimath()
        .args(["tokenize", "--model", "/nonexistent/model.gguf", "x"])
        .output()
        .expect("run verimath");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/model.gguf"), "{err}");
}
