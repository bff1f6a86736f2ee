//! The SentencePiece tokenizer against llama.cpp on the real test model (Gemma 3 270M):
//! every row of the golden files must match exactly, and loading and encoding must be
//! fast enough for interactive use.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use engine::tokenizer::{ModelKind, TokenType, Tokenizer};

/// The test model: `$VERIMATH_TEST_MODEL`, else its file in the model cache.
fn model_path() -> PathBuf {
    engine::test_model_path()
}

/// One tokenizer for all tests in this file (loading takes a moment).
fn tokenizer() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        let file = gguf::GgufFile::open(model_path()).expect("open the test model");
        Tokenizer::from_gguf(&file).expect("read the tokenizer")
    })
}

fn rows(name: &str) -> Vec<serde_json::Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("read golden file");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("golden row is JSON"))
        .collect()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .expect("id array")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

#[test]
fn metadata_is_read() {
    let t = tokenizer();
    assert_eq!(t.model_kind(), ModelKind::Spm);
    assert_eq!(t.vocab_size(), 262_144);
    assert_eq!(t.bos(), Some(2));
    assert_eq!(t.eos(), Some(1));
    assert_eq!(t.unk(), Some(3));
    assert_eq!(t.pad(), Some(0));
    assert!(t.adds_bos());
    assert!(!t.adds_eos());
    assert_eq!(t.token_id("<start_of_turn>"), Some(105));
    assert_eq!(t.token_type(105), Some(TokenType::Control));
    assert_eq!(t.token_type(138), Some(TokenType::UserDefined));
    // EOS and the end-of-turn marker both stop generation; ordinary text does not.
    assert!(t.is_end_of_generation(1));
    assert!(t.is_end_of_generation(106));
    assert!(!t.is_end_of_generation(2));
    assert!(!t.is_end_of_generation(23391));
}

#[test]
fn every_golden_tokenization_matches_llama_cpp() {
    let t = tokenizer();
    let mut failures = Vec::new();
    let all = rows("gemma3-270m-tokenize.jsonl");
    assert!(all.len() >= 50, "golden file looks truncated");
    for row in &all {
        let text = row["text"].as_str().expect("text");
        let with_bos = t.encode(text, true, false);
        let without = t.encode(text, false, false);
        if with_bos != ids(&row["ids_with_bos"]) || without != ids(&row["ids"]) {
            failures.push(format!(
                "{text:?}: got {without:?}, llama.cpp {:?}",
                ids(&row["ids"])
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_golden_prompt_matches_llama_cpp() {
    let t = tokenizer();
    for row in rows("gemma3-270m-prompt-ids.jsonl") {
        let prompt = row["prompt"].as_str().expect("prompt");
        assert_eq!(
            t.encode(prompt, true, false),
            ids(&row["prompt_ids"]),
            "{prompt:?}"
        );
    }
}

#[test]
fn decoding_inverts_encoding() {
    let t = tokenizer();
    for row in rows("gemma3-270m-tokenize.jsonl") {
        let text = row["text"].as_str().expect("text");
        assert_eq!(t.decode(&t.encode(text, true, false)), text);
    }
}

#[test]
fn streaming_matches_whole_decoding() {
    let t = tokenizer();
    for row in rows("gemma3-270m-tokenize.jsonl") {
        let text = row["text"].as_str().expect("text");
        let ids = t.encode(text, true, false);
        let mut d = t.detokenizer();
        let mut streamed = String::new();
        for &id in &ids {
            let part = d.push(id);
            // Nothing is ever returned that a later token would have to revise.
            assert!(text[streamed.len()..].starts_with(&part), "{text:?}");
            streamed.push_str(&part);
        }
        assert!(!d.has_pending());
        streamed.push_str(&d.finish());
        assert_eq!(streamed, text);
    }
}

#[test]
fn byte_tokens_hold_back_split_characters() {
    let t = tokenizer();
    // `é` written as two byte tokens: nothing until the second arrives.
    let (c3, a9) = (
        t.token_id("<0xC3>").expect("byte"),
        t.token_id("<0xA9>").expect("byte"),
    );
    assert_eq!(t.token_bytes(c3), &[0xC3]);
    let mut d = t.detokenizer();
    assert_eq!(d.push(c3), "");
    assert!(d.has_pending());
    assert_eq!(d.push(a9), "é");
    // A lone continuation byte can never become valid: replaced, not held.
    assert_eq!(d.push(a9), "\u{fffd}");
    assert_eq!(d.push(c3), "");
    assert_eq!(d.finish(), "\u{fffd}");
}

#[test]
fn chat_markers_are_single_tokens_only_when_parsing_special() {
    let t = tokenizer();
    let text = "<start_of_turn>user\nHi<end_of_turn>\n";
    let parsed = t.encode(text, false, true);
    assert_eq!(parsed.first(), Some(&105));
    assert!(parsed.contains(&106));
    let literal = t.encode(text, false, false);
    assert!(!literal.contains(&105) && !literal.contains(&106));
    assert_eq!(t.decode(&literal), text);
    // Control tokens are silent in decoded text.
    assert_eq!(t.decode(&parsed), "user\nHi\n");
}

#[test]
fn loading_and_encoding_are_fast() {
    let path = model_path();
    let start = Instant::now();
    let file = gguf::GgufFile::open(&path).expect("open");
    let opened = start.elapsed();
    let t = Tokenizer::from_gguf(&file).expect("tokenizer");
    let built = start.elapsed() - opened;

    let mut text = String::new();
    for row in rows("gemma3-270m-prompt-ids.jsonl") {
        text.push_str(row["prompt"].as_str().expect("prompt"));
        text.push_str("\n\n");
    }
    while text.len() < 1_000_000 {
        text.push_str(&text.clone());
    }
    let start = Instant::now();
    let ids = t.encode(&text, true, false);
    let secs = start.elapsed().as_secs_f64();
    let rate = ids.len() as f64 / secs;
    eprintln!(
        "gguf open {opened:?}, tokenizer build {built:?}; encoded {} bytes into {} tokens in {:.3}s = {:.0} tokens/s",
        text.len(),
        ids.len(),
        secs,
        rate
    );
    // Generous bounds for a loaded 2-core machine; typical figures are far better.
    assert!(built.as_secs_f64() < 3.0, "building took {built:?}");
    assert!(rate > 200_000.0, "only {rate:.0} tokens/s");
}

#[test]
fn long_whitespace_runs_take_the_longest_tokens_first() {
    let t = tokenizer();
    let run = |c: &str, n: usize| t.token_id(&c.repeat(n)).expect("whitespace token");
    // 100 spaces: three 31-space tokens, then the 7-space token.
    let ids = t.encode(&" ".repeat(100), false, false);
    assert_eq!(ids, [run(" ", 31), run(" ", 31), run(" ", 31), run(" ", 7)]);
    let ids = t.encode(&"\n".repeat(40), false, false);
    assert_eq!(ids, [run("\n", 31), run("\n", 9)]);
}

#[test]
fn pathological_inputs_stay_fast() {
    let t = tokenizer();
    let timed = |text: &str| {
        let start = Instant::now();
        let ids = t.encode(text, true, true);
        let secs = start.elapsed().as_secs_f64();
        eprintln!("{} bytes: {} tokens in {secs:.2}s", text.len(), ids.len());
        assert!(secs < 5.0, "{} bytes took {secs:.2}s", text.len());
        ids
    };
    for text in [
        " ".repeat(1_000_000),
        "\n\t ".repeat(300_000),
        "<".repeat(1_000_000),
        "a".repeat(1_000_000),
    ] {
        assert_eq!(t.decode(&timed(&text)), text);
    }
    // Control markers with parse_special: one token each, silent when decoded.
    let ids = timed(&"<start_of_turn><end_of_turn>".repeat(30_000));
    assert_eq!(ids.len(), 60_001);
    assert_eq!(t.decode(&ids), "");
}
