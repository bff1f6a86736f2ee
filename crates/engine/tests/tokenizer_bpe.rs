//! Byte-level BPE on small vocabularies written as GGUF files by the test, so the
//! metadata path (`tokenizer.ggml.merges`, `tokenizer.ggml.pre`, token types) is the
//! one real Qwen2 / Llama 3 / DeepSeek files take. Expected tokenizations are worked
//! out by hand from the merge rules.

use engine::tokenizer::{ModelKind, TokenType, Tokenizer};
use gguf::{GgufFile, GgufWriter, Value};

/// The GPT-2 character for each byte, as the vocabulary spells bytes.
fn byte_char(b: u8) -> char {
    let printable = (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || b >= 0xae;
    if printable {
        return char::from(b);
    }
    let moved = (0..b)
        .filter(|&x| !((0x21..=0x7e).contains(&x) || (0xa1..=0xac).contains(&x) || x >= 0xae))
        .count() as u32;
    char::from_u32(256 + moved).expect("valid")
}

/// A vocabulary of the 256 byte characters (id = byte), then `merged` tokens, then the
/// control tokens; merges in rank order.
fn build(pre: &str, merges: &[&str], extra: &[&str], add_bos: Option<bool>) -> Tokenizer {
    let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
    let mut types = vec![1i32; 256];
    for m in merges {
        let merged: String = m.split(' ').collect();
        if !tokens.contains(&merged) {
            tokens.push(merged);
            types.push(1);
        }
    }
    for t in extra {
        tokens.push(t.to_string());
        types.push(1);
    }
    for t in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] {
        tokens.push(t.to_string());
        types.push(3);
    }
    let bos = tokens.len() as u32 - 3;
    let mut w = GgufWriter::new();
    w.add_metadata("tokenizer.ggml.model", "gpt2");
    w.add_metadata("tokenizer.ggml.pre", pre);
    w.add_metadata(
        "tokenizer.ggml.tokens",
        Value::Array(tokens.into_iter().map(Value::String).collect()),
    );
    w.add_metadata(
        "tokenizer.ggml.token_type",
        Value::Array(types.into_iter().map(Value::I32).collect()),
    );
    w.add_metadata(
        "tokenizer.ggml.merges",
        Value::Array(merges.iter().map(|m| Value::from(*m)).collect()),
    );
    w.add_metadata("tokenizer.ggml.bos_token_id", Value::U32(bos));
    w.add_metadata("tokenizer.ggml.eos_token_id", Value::U32(bos));
    if let Some(flag) = add_bos {
        w.add_metadata("tokenizer.ggml.add_bos_token", flag);
    }
    let file = GgufFile::from_bytes(w.to_bytes().expect("write")).expect("parse");
    Tokenizer::from_gguf(&file).expect("tokenizer")
}

fn texts(t: &Tokenizer, ids: &[u32]) -> Vec<String> {
    ids.iter()
        .map(|&id| t.token_text(id).expect("id in vocabulary").to_string())
        .collect()
}

const HELLO_WORLD: &[&str] = &[
    "l l", "h e", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġwor l", "Ġworl d",
];

#[test]
fn words_merge_by_rank() {
    let t = build("qwen2", HELLO_WORLD, &[], Some(false));
    assert_eq!(t.model_kind(), ModelKind::Bpe);
    let ids = t.encode("hello world", true, false);
    assert_eq!(texts(&t, &ids), ["hello", "Ġworld"]);
    assert_eq!(t.decode(&ids), "hello world");
    // An unmerged word stays in single bytes, spaces as `Ġ`.
    assert_eq!(
        texts(&t, &t.encode("hi yo", false, false)),
        ["h", "i", "Ġ", "y", "o"]
    );
}

#[test]
fn the_lowest_rank_wins_and_ties_go_left() {
    // "b c" outranks "a b": a + bc.
    let t = build("qwen2", &["b c", "a b"], &[], None);
    assert_eq!(texts(&t, &t.encode("abc", false, false)), ["a", "bc"]);
    let t = build("qwen2", &["a b", "b c"], &[], None);
    assert_eq!(texts(&t, &t.encode("abc", false, false)), ["ab", "c"]);
    let t = build("qwen2", &["a a"], &[], None);
    assert_eq!(texts(&t, &t.encode("aaa", false, false)), ["aa", "a"]);
    // Merges chain: aa + aa only after both pairs formed.
    let t = build("qwen2", &["a a", "aa aa"], &[], None);
    assert_eq!(texts(&t, &t.encode("aaaaa", false, false)), ["aaaa", "a"]);
}

#[test]
fn merges_never_cross_pre_tokenizer_boundaries() {
    let merges = &["1 2", "12 3"];
    let qwen = build("qwen2", merges, &[], None);
    assert_eq!(
        texts(&qwen, &qwen.encode("123", false, false)),
        ["1", "2", "3"]
    );
    let llama = build("llama-bpe", merges, &[], Some(false));
    assert_eq!(texts(&llama, &llama.encode("123", false, false)), ["123"]);
    // Llama 3 groups digits by three, so the fourth digit stands alone.
    assert_eq!(
        texts(&llama, &llama.encode("1234", false, false)),
        ["123", "4"]
    );
}

#[test]
fn llama3_takes_whole_word_tokens_without_merging() {
    // "abc" is a token no merge rule produces: Llama 3 emits it whole, Qwen2 cannot.
    let llama = build("llama-bpe", &[], &["abc"], Some(false));
    assert_eq!(texts(&llama, &llama.encode("abc", false, false)), ["abc"]);
    let qwen = build("qwen2", &[], &["abc"], None);
    assert_eq!(
        texts(&qwen, &qwen.encode("abc", false, false)),
        ["a", "b", "c"]
    );
}

#[test]
fn multibyte_characters_decode_from_their_bytes() {
    let t = build("qwen2", &[], &[], None);
    let ids = t.encode("é中", false, false);
    // Two bytes for é, three for 中, each its byte token.
    assert_eq!(ids, [0xC3, 0xA9, 0xE4, 0xB8, 0xAD]);
    assert_eq!(t.token_bytes(0xC3), [0xC3]);
    assert_eq!(t.decode(&ids), "é中");
    let mut d = t.detokenizer();
    let streamed: Vec<String> = ids.iter().map(|&id| d.push(id)).collect();
    assert_eq!(streamed, ["", "é", "", "", "中"]);
}

#[test]
fn special_tokens_are_parsed_before_splitting() {
    let t = build("qwen2", HELLO_WORLD, &[], None);
    let start = t.token_id("<|im_start|>").expect("special");
    let end = t.token_id("<|im_end|>").expect("special");
    assert_eq!(t.token_type(start), Some(TokenType::Control));
    let ids = t.encode("<|im_start|>hello<|im_end|>", false, true);
    assert_eq!(ids.len(), 3);
    assert_eq!((ids[0], ids[2]), (start, end));
    assert_eq!(t.decode(&ids), "hello");
    // Not parsed: spelled out in bytes, and decoding gives the text back.
    let plain = t.encode("<|im_start|>hello", false, false);
    assert!(!plain.contains(&start));
    assert_eq!(t.decode(&plain), "<|im_start|>hello");
    assert!(t.is_end_of_generation(end));
    assert!(t.is_end_of_generation(t.token_id("<|endoftext|>").expect("eos")));
}

#[test]
fn bos_follows_the_metadata() {
    let explicit = build("qwen2", &[], &[], Some(true));
    let bos = explicit.bos().expect("bos");
    assert_eq!(explicit.encode("a", true, false), [bos, u32::from(b'a')]);
    assert_eq!(explicit.encode("a", false, false), [u32::from(b'a')]);
    // Without the key: Qwen2 adds nothing, Llama 3 adds BOS, as llama.cpp does.
    let qwen = build("qwen2", &[], &[], None);
    assert_eq!(qwen.encode("a", true, false), [u32::from(b'a')]);
    let llama = build("llama-bpe", &[], &[], None);
    assert_eq!(llama.encode("a", true, false)[0], llama.bos().expect("bos"));
}

#[test]
fn broken_metadata_is_an_error_not_a_panic() {
    let mut w = GgufWriter::new();
    w.add_metadata("tokenizer.ggml.model", "gpt2");
    w.add_metadata(
        "tokenizer.ggml.tokens",
        Value::Array(vec![Value::from("a")]),
    );
    let file = GgufFile::from_bytes(w.to_bytes().expect("write")).expect("parse");
    assert!(Tokenizer::from_gguf(&file).is_err(), "gpt2 without merges");

    let mut w = GgufWriter::new();
    w.add_metadata("tokenizer.ggml.model", "wordpiece-ish");
    w.add_metadata(
        "tokenizer.ggml.tokens",
        Value::Array(vec![Value::from("a")]),
    );
    let file = GgufFile::from_bytes(w.to_bytes().expect("write")).expect("parse");
    assert!(Tokenizer::from_gguf(&file).is_err(), "unknown model");

    let mut w = GgufWriter::new();
    w.add_metadata("tokenizer.ggml.model", "llama");
    w.add_metadata("tokenizer.ggml.tokens", Value::Array(vec![Value::U8(1)]));
    let file = GgufFile::from_bytes(w.to_bytes().expect("write")).expect("parse");
    assert!(
        Tokenizer::from_gguf(&file).is_err(),
        "token that is not a string"
    );
}

#[test]
fn bpe_encoding_is_fast() {
    // A vocabulary with a few hundred merges learned by hand from the sample text's
    // frequent pairs would be more realistic; the cost that matters here is the
    // pre-tokenizer and the merge loop, which this exercises on every word.
    let t = build("qwen2", HELLO_WORLD, &[], Some(false));
    let mut text = String::new();
    while text.len() < 1_000_000 {
        text.push_str(
            "hello world, it's 2024 and  the world says hello.\nNew line: x^2 + y^2 = z^2; ",
        );
        text.push_str("日本語のテキスト and ünïcödé — \"quoted\" (parenthesised) [1, 2, 3]\n\n");
    }
    let start = std::time::Instant::now();
    let ids = t.encode(&text, false, false);
    let secs = start.elapsed().as_secs_f64();
    let rate = ids.len() as f64 / secs;
    eprintln!(
        "BPE (qwen2 pre-tokenizer): {} bytes into {} tokens in {secs:.3}s = {rate:.0} tokens/s, {:.1} MB/s",
        text.len(),
        ids.len(),
        text.len() as f64 / secs / 1e6
    );
    assert_eq!(t.decode(&ids), text);
    assert!(rate > 200_000.0, "only {rate:.0} tokens/s");
}
