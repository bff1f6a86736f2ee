//! `verimath check` end to end: exit codes, JSON output, JSON Lines batches.

use std::io::Write;
use std::process::{Command, Stdio};

fn verimath() -> Command {
    Command::new(env!("CARGO_BIN_EXE_verimath"))
}

fn code(args: &[&str]) -> i32 {
    let out = verimath().arg("check").args(args).output().expect("runs");
    out.status.code().unwrap_or(-1)
}

#[test]
fn exit_codes_follow_the_verdict() {
    assert_eq!(code(&["$\\frac{1}{2}$", "0.5"]), 0);
    assert_eq!(code(&["$\\frac{1}{2}$", "$0.6$"]), 1);
    // No answer in the prediction is a wrong answer; none in the gold is undecided.
    assert_eq!(code(&["$1$", "no answer here at all"]), 1);
    assert_eq!(code(&["no answer here at all", "$1$"]), 2);
    assert_eq!(code(&["--match-types", "latex,bogus", "1", "1"]), 2);
}

#[test]
fn options_as_flags() {
    assert_eq!(code(&["$(1,\\infty)$", "$x>1$"]), 1);
    assert_eq!(
        code(&["--allow-set-relation-comp", "$(1,\\infty)$", "$x>1$"]),
        0
    );
    assert_eq!(code(&["$\\frac13$", "$0.33$"]), 1);
    assert_eq!(code(&["--precision", "2", "$\\frac13$", "$0.33$"]), 0);
    assert_eq!(code(&["$f(x)$", "$f(y)$"]), 1);
    assert_eq!(code(&["--no-strict", "$f(x)$", "$f(y)$"]), 0);
    assert_eq!(code(&["--match-types", "latex", "7", "$7$"]), 2);
    assert_eq!(code(&["--match-types", "expr", "7", "costs $7"]), 0);
}

#[test]
fn json_output() {
    let out = verimath()
        .args(["check", "--json", "$\\{3,1\\}$", "$1,3$"])
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["equivalent"], true);
    assert_eq!(v["status"], "equivalent");
    assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()));
}

/// The JSON verdict of `check --json GOLD PRED`.
fn json_verdict(gold: &str, pred: &str) -> serde_json::Value {
    let out = verimath()
        .args(["check", "--json", gold, pred])
        .output()
        .expect("runs");
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn json_status_names_each_outcome() {
    let v = json_verdict("$2$", "$3$");
    assert_eq!(
        (v["status"].as_str(), v["equivalent"].as_bool()),
        (Some("different"), Some(false))
    );
    let v = json_verdict("$2$", "there is nothing to see here");
    assert_eq!(
        (v["status"].as_str(), v["equivalent"].as_bool()),
        (Some("no_answer"), Some(false))
    );
    let v = json_verdict("$F_n = \\sum_{k=0}^{n} k$", "$F_n > 2$");
    assert_eq!(v["status"], "different");
    let v = json_verdict("not an answer anywhere here", "$3$");
    assert_eq!(v["status"], "undecided");
    assert_eq!(v["equivalent"], serde_json::Value::Null);
}

#[test]
fn answers_may_begin_with_a_hyphen() {
    assert_eq!(code(&["-3", "-3"]), 0);
    assert_eq!(code(&["-3", "-4"]), 1);
    assert_eq!(code(&["-3", "3"]), 1);
    assert_eq!(code(&["-\\frac{1}{2}", "-0.5"]), 0);
    assert_eq!(code(&["-x", "-x"]), 0);
    assert_eq!(code(&["--precision", "2", "-0.333", "-1/3"]), 0);
    assert_eq!(code(&["-3", "-3", "--json"]), 0);
    let v = json_verdict("-3", "-3.0");
    assert_eq!(v["gold"], "-3");
    assert_eq!(v["status"], "equivalent");
}

#[test]
fn jsonl_batch_keeps_order_fields_and_survives_bad_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("pairs.jsonl");
    let mut f = std::fs::File::create(&path).expect("create");
    writeln!(f, r#"{{"id": "a", "gold": "$\\frac12$", "pred": "0.5"}}"#).unwrap();
    writeln!(f, "this is not json").unwrap();
    writeln!(
        f,
        r#"{{"id": "c", "gold": "$\\frac13$", "pred": "$0.33$", "config": {{"precision": 2}}}}"#
    )
    .unwrap();
    writeln!(
        f,
        r#"{{"id": "d", "gold": "$\\frac13$", "pred": "$0.33$"}}"#
    )
    .unwrap();
    writeln!(f, r#"{{"id": "e", "gold": "$(1,\\infty)$", "pred": "$x>1$", "allow_set_relation_comp": true}}"#).unwrap();
    drop(f);
    let out = verimath()
        .args(["check", "--input"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["id"], "a");
    assert_eq!(lines[0]["equivalent"], true);
    assert_eq!(lines[0]["status"], "equivalent");
    assert_eq!(lines[1]["equivalent"], serde_json::Value::Null);
    assert_eq!(lines[1]["status"], "undecided");
    assert_eq!(lines[2]["equivalent"], true);
    assert_eq!(lines[3]["equivalent"], false);
    assert_eq!(lines[3]["status"], "different");
    assert_eq!(lines[4]["equivalent"], true);
}

#[test]
fn jsonl_from_stdin() {
    let mut child = verimath()
        .args(["check", "--input", "-", "--precision", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"{\"gold\": \"1/3\", \"pred\": \"0.33\"}\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["equivalent"], true);
}
