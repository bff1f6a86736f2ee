//! SentencePiece-style tokenizers built by hand: the Llama 2 conventions the Gemma
//! test model does not exercise (a space prefix at the start and after each special
//! token, BOS from the defaults), and the checks on malformed specs.

use engine::tokenizer::{ModelKind, PreTokenizer, TokenType, Tokenizer, TokenizerSpec};

/// `<unk> <s> </s>`, the 256 byte tokens, then `pieces` with decreasing scores.
fn llama2_like(pieces: &[&str]) -> Tokenizer {
    let mut tokens = vec!["<unk>".to_string(), "<s>".to_string(), "</s>".to_string()];
    let mut types = vec![TokenType::Unknown, TokenType::Control, TokenType::Control];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(TokenType::Byte);
    }
    let mut scores = vec![0.0; tokens.len()];
    for (i, p) in pieces.iter().enumerate() {
        tokens.push(p.to_string());
        types.push(TokenType::Normal);
        scores.push(-(i as f32));
    }
    Tokenizer::from_spec(TokenizerSpec {
        model: ModelKind::Spm,
        pre: PreTokenizer::Default,
        tokens,
        scores,
        types,
        merges: Vec::new(),
        bos: Some(1),
        eos: Some(2),
        unk: Some(0),
        pad: None,
        eot: None,
        eom: None,
        add_bos: true,
        add_eos: false,
        add_space_prefix: true,
    })
    .expect("tokenizer")
}

fn texts(t: &Tokenizer, ids: &[u32]) -> Vec<String> {
    ids.iter()
        .map(|&id| t.token_text(id).expect("id").to_string())
        .collect()
}

#[test]
fn space_prefix_at_start_and_after_special_tokens() {
    let t = llama2_like(&["▁hi", "▁", "h", "i", "hi"]);
    assert_eq!(texts(&t, &t.encode("hi", true, false)), ["<s>", "▁hi"]);
    assert_eq!(
        texts(&t, &t.encode("hi</s>hi", false, true)),
        ["▁hi", "</s>", "▁hi"]
    );
    // Decoding drops the prefix again, and the control tokens.
    assert_eq!(t.decode(&t.encode("hi hi", true, false)), "hi hi");
    let mut d = t.detokenizer();
    let streamed: String = t
        .encode("hi hi", true, false)
        .iter()
        .map(|&id| d.push(id))
        .collect();
    assert_eq!(streamed, "hi hi");
}

#[test]
fn byte_fallback_and_unknown_rendering() {
    let t = llama2_like(&["▁", "a"]);
    let ids = t.encode("a€", false, false);
    // € is three UTF-8 bytes with no piece of its own.
    assert_eq!(texts(&t, &ids), ["▁", "a", "<0xE2>", "<0x82>", "<0xAC>"]);
    assert_eq!(t.decode(&ids), "a€");
    assert_eq!(t.token_bytes(0), "▅".as_bytes());
}

#[test]
fn tokenizers_are_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Tokenizer>();
    // Merging needs every intermediate piece: ▁ + h, then ▁h + i.
    let t = llama2_like(&["▁hi", "▁h", "▁", "h", "i"]);
    let counts: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| t.encode("hi hi hi", true, false).len()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert_eq!(counts, [4, 4, 4, 4]);
}

#[test]
fn malformed_specs_are_errors() {
    let spec = |tokens: Vec<String>, scores: Vec<f32>| TokenizerSpec {
        model: ModelKind::Spm,
        pre: PreTokenizer::Default,
        tokens,
        scores,
        types: Vec::new(),
        merges: Vec::new(),
        bos: None,
        eos: None,
        unk: None,
        pad: None,
        eot: None,
        eom: None,
        add_bos: false,
        add_eos: false,
        add_space_prefix: false,
    };
    assert!(Tokenizer::from_spec(spec(Vec::new(), Vec::new())).is_err());
    assert!(Tokenizer::from_spec(spec(vec!["a".into(), "b".into()], vec![0.0])).is_err());
    // Ids outside the vocabulary are dropped rather than trusted.
    let mut s = spec(vec!["a".into()], Vec::new());
    s.bos = Some(7);
    s.add_bos = true;
    let t = Tokenizer::from_spec(s).expect("tokenizer");
    assert_eq!(t.bos(), None);
    assert_eq!(t.encode("a", true, false), [0]);
    assert_eq!(t.token_bytes(99), b"");
    assert_eq!(t.decode(&[99, 0]), "a");
}
