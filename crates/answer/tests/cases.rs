//! Agreement with the 270 labelled answer pairs of the reference checker's test suite
//! (see `tests/data/LICENSE.md`). Prints every disagreement and the score read two
//! ways: with "undecided" counted as "not equivalent" (as the reference checker
//! answers), and with every undecided verdict counted as a miss. Fails on any false
//! positive (two different answers called equivalent), on more than one disagreement,
//! or on any undecided verdict.

use answer::{check, Options, Status};
use serde_json::Value;

/// Checker options for a case's `config` object; `kind: default` means the
/// reference library's defaults, where boxes rank after "final answer" phrases.
fn options_for(config: &Value) -> Options {
    let mut o = Options::default();
    if config.get("kind").and_then(Value::as_str) == Some("default") {
        o.boxed_priority = 50;
    }
    if let Some(p) = config.get("precision").and_then(Value::as_u64) {
        o.precision = p as u32;
    }
    if let Some(s) = config.get("strict").and_then(Value::as_bool) {
        o.strict = s;
    }
    if let Some(s) = config
        .get("allow_set_relation_comp")
        .and_then(Value::as_bool)
    {
        o.allow_set_relation_comp = s;
    }
    if let Some(m) = config.get("match_types").and_then(Value::as_array) {
        o.match_types = m
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect();
    }
    o
}

#[test]
fn labelled_pairs_agree() {
    let data = include_str!("data/equivalence_cases.jsonl");
    let mut total = 0;
    let mut wrong = Vec::new();
    let mut undecided = Vec::new();
    let mut false_positives = Vec::new();
    // Verdicts that were given and agree with the label.
    let mut decided_agree = 0;
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).expect("valid case line");
        let id = case["id"].as_str().unwrap_or("?").to_string();
        let gold = case["gold"].as_str().unwrap_or_default();
        let pred = case["pred"].as_str().unwrap_or_default();
        let expected = case["expected"].as_bool().unwrap_or(false);
        let opts = options_for(&case["config"]);
        let v = check(gold, pred, &opts);
        total += 1;
        assert_eq!(v.equivalent, v.status.equivalent(), "{id}: status and flag");
        if v.status == Status::Undecided {
            undecided.push(format!("{id}: {}", v.reason));
        }
        if v.equivalent == Some(expected) {
            decided_agree += 1;
        }
        if v.equivalent == Some(true) && !expected {
            false_positives.push(id.clone());
        }
        // The reference checker answers false whenever it cannot decide.
        if v.equivalent.unwrap_or(false) != expected {
            wrong.push(format!(
                "{id}: expected {expected}, got {} ({})\n    gold: {:?}\n    pred: {:?}",
                v.status,
                v.reason,
                gold.chars().take(160).collect::<String>(),
                pred.chars()
                    .rev()
                    .take(160)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<String>(),
            ));
        }
    }
    for w in &wrong {
        println!("{w}");
    }
    for u in &undecided {
        println!("undecided: {u}");
    }
    let agree = total - wrong.len();
    let pct = |n: usize| 100.0 * n as f64 / total as f64;
    println!(
        "agreement, undecided read as not equivalent: {agree}/{total} = {:.2}%",
        pct(agree)
    );
    println!(
        "agreement, undecided counted as a miss: {decided_agree}/{total} = {:.2}%",
        pct(decided_agree)
    );
    assert_eq!(total, 270);
    assert!(
        false_positives.is_empty(),
        "different answers called equivalent: {false_positives:?}"
    );
    assert!(wrong.len() <= 1, "{} disagreements", wrong.len());
    assert!(undecided.is_empty(), "{} undecided", undecided.len());
}
