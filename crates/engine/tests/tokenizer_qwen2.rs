//! Byte-level BPE with the real Qwen2 vocabulary against tiktoken, the reference
//! implementation Qwen's own tokenizer is built on.
//!
//! The full vocabulary (151,643 tokens) is not stored in the repository: BPE on a word
//! only ever forms substrings of that word, so the tokens occurring inside the test
//! texts, at their real ids, encode those texts exactly as the whole vocabulary does.
//! `tests/data/README.md` says where the subset and the expected ids come from.

use std::path::PathBuf;

use engine::tokenizer::{ModelKind, PreTokenizer, TokenType, Tokenizer, TokenizerSpec};

fn data(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&path).expect("read test data")
}

fn qwen2() -> Tokenizer {
    let v: serde_json::Value =
        serde_json::from_str(&data("qwen2-vocab-subset.json")).expect("JSON");
    let n = v["n_vocab"].as_u64().expect("n_vocab") as usize;
    // Ids the subset leaves out get placeholder texts no real token can have (real
    // texts spell a space as `Ġ`), typed unused so nothing matches them.
    let mut tokens: Vec<String> = (0..n).map(|i| format!("<absent {i}>")).collect();
    let mut types = vec![TokenType::Unused; n];
    let entries = |key: &str| -> Vec<(usize, String)> {
        v[key]
            .as_array()
            .expect("array")
            .iter()
            .map(|e| {
                let id = e[0].as_u64().expect("id") as usize;
                (id, e[1].as_str().expect("text").to_string())
            })
            .collect()
    };
    for (id, text) in entries("tokens") {
        tokens[id] = text;
        types[id] = TokenType::Normal;
    }
    for (id, text) in entries("control") {
        tokens[id] = text;
        types[id] = TokenType::Control;
    }
    let merges = v["merges"]
        .as_array()
        .expect("merges")
        .iter()
        .map(|m| m.as_str().expect("merge").to_string())
        .collect();
    Tokenizer::from_spec(TokenizerSpec {
        model: ModelKind::Bpe,
        pre: PreTokenizer::from_name("qwen2"),
        tokens,
        scores: Vec::new(),
        types,
        merges,
        bos: None,
        eos: Some(151_643),
        unk: None,
        pad: None,
        eot: None,
        eom: None,
        add_bos: false,
        add_eos: false,
        add_space_prefix: false,
    })
    .expect("tokenizer")
}

#[test]
fn every_text_matches_tiktoken() {
    let t = qwen2();
    let mut failures = Vec::new();
    let mut rows = 0;
    for line in data("qwen2-tiktoken.jsonl")
        .lines()
        .filter(|l| !l.is_empty())
    {
        let row: serde_json::Value = serde_json::from_str(line).expect("row");
        let text = row["text"].as_str().expect("text");
        let parse = row["parse_special"].as_bool().expect("flag");
        let want: Vec<u32> = row["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|x| x.as_u64().expect("id") as u32)
            .collect();
        let got = t.encode(text, true, parse);
        if got != want {
            failures.push(format!(
                "{text:?} (parse_special {parse}): got {got:?}, want {want:?}"
            ));
        }
        if !parse {
            assert_eq!(t.decode(&got), text);
        }
        rows += 1;
    }
    assert!(rows >= 60, "test data looks truncated");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn real_vocabulary_throughput() {
    let t = qwen2();
    // The test texts repeated: the subset vocabulary covers exactly these.
    let mut one = String::new();
    for line in data("qwen2-tiktoken.jsonl")
        .lines()
        .filter(|l| !l.is_empty())
    {
        let row: serde_json::Value = serde_json::from_str(line).expect("row");
        if !row["parse_special"].as_bool().expect("flag") {
            one.push_str(row["text"].as_str().expect("text"));
            one.push('\n');
        }
    }
    let text = one.repeat(1_000_000 / one.len() + 1);
    let start = std::time::Instant::now();
    let ids = t.encode(&text, false, false);
    let secs = start.elapsed().as_secs_f64();
    let rate = ids.len() as f64 / secs;
    eprintln!(
        "Qwen2 BPE: {} bytes into {} tokens in {secs:.3}s = {rate:.0} tokens/s",
        text.len(),
        ids.len()
    );
    assert_eq!(t.decode(&ids), text);
    assert!(rate > 100_000.0, "only {rate:.0} tokens/s");
}
