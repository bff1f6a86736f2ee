//! Chat templates: ChatML (Qwen2.5 layout) and DeepSeek-R1 layouts written for these
//! tests with the same structure as the models' own templates, the helpers real
//! templates call, the plain prompt of base models, and that rendered markers encode
//! as single special tokens.

use std::path::PathBuf;

use engine::chat_template::{ChatTemplate, PlainPrompt, PromptFormat, TemplateError};
use engine::tokenizer::{ModelKind, PreTokenizer, TokenType, Tokenizer, TokenizerSpec};
use gguf::{GgufFile, GgufWriter, Value};
use llm::{Message, Role};

/// ChatML with a default system prompt, as Qwen2.5 lays it out.
const CHATML: &str = r#"{%- if messages[0]['role'] == 'system' %}
    {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
{%- else %}
    {{- '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if message.role == 'system' and loop.first %}
        {%- continue %}
    {%- endif %}
    {%- if message.role not in ['user', 'assistant'] %}
        {{- raise_exception('unsupported role ' + message.role) }}
    {%- endif %}
    {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"#;

/// DeepSeek-R1's layout: system text first, fullwidth-bar markers, earlier reasoning
/// cut from assistant turns, and the answer opened inside `<think>`.
const DEEPSEEK_R1: &str = r#"{% set ns = namespace(system_prompt='') %}
{%- for message in messages %}
    {%- if message['role'] == 'system' %}
        {%- set ns.system_prompt = message['content'] %}
    {%- endif %}
{%- endfor %}
{{- bos_token }}{{ ns.system_prompt }}
{%- for message in messages %}
    {%- if message['role'] == 'user' %}
        {{- '<｜User｜>' + message['content'] }}
    {%- elif message['role'] == 'assistant' %}
        {%- set content = message['content'] %}
        {%- if '</think>' in content %}
            {%- set content = content.split('</think>')[-1].strip() %}
        {%- endif %}
        {{- '<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<｜Assistant｜><think>\n' }}
{%- endif %}
"#;

fn msg(role: Role, content: &str) -> Message {
    Message {
        role,
        content: content.to_string(),
    }
}

fn conversation() -> Vec<Message> {
    vec![
        msg(Role::System, "Be rigorous."),
        msg(Role::User, "Prove 1+1=2."),
        msg(
            Role::Assistant,
            "<think>\nPeano.\n</think>\n\nBy definition.",
        ),
        msg(Role::User, "Now 2+2."),
    ]
}

#[test]
fn chatml_renders_turns_and_generation_prompt() {
    let t = ChatTemplate::new(CHATML, "", "<|im_end|>").expect("compiles");
    let out = t.render(&conversation(), true).expect("renders");
    assert_eq!(
        out,
        "<|im_start|>system\nBe rigorous.<|im_end|>\n\
         <|im_start|>user\nProve 1+1=2.<|im_end|>\n\
         <|im_start|>assistant\n<think>\nPeano.\n</think>\n\nBy definition.<|im_end|>\n\
         <|im_start|>user\nNow 2+2.<|im_end|>\n\
         <|im_start|>assistant\n"
    );
    // Without a system message the template's default appears; no generation prompt.
    let out = t.render(&[Message::user("Hi")], false).expect("renders");
    assert_eq!(
        out,
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    );
}

#[test]
fn deepseek_r1_strips_old_reasoning_and_prefills_think() {
    let t = ChatTemplate::new(
        DEEPSEEK_R1,
        "<｜begin▁of▁sentence｜>",
        "<｜end▁of▁sentence｜>",
    )
    .expect("compiles");
    let out = t.render(&conversation(), true).expect("renders");
    assert_eq!(
        out,
        "<｜begin▁of▁sentence｜>Be rigorous.<｜User｜>Prove 1+1=2.\
         <｜Assistant｜>By definition.<｜end▁of▁sentence｜><｜User｜>Now 2+2.\
         <｜Assistant｜><think>\n"
    );
}

#[test]
fn raise_exception_becomes_a_render_error() {
    let t = ChatTemplate::new(
        "{% if messages|length == 0 %}{{ raise_exception('no messages') }}{% endif %}ok",
        "",
        "",
    )
    .expect("compiles");
    match t.render(&[], false) {
        Err(TemplateError::Render(m)) => assert!(m.contains("no messages"), "{m}"),
        other => panic!("expected a render error, got {other:?}"),
    }
    assert_eq!(
        t.render(&[Message::user("x")], false).expect("renders"),
        "ok"
    );
}

#[test]
fn syntax_errors_are_reported() {
    assert!(matches!(
        ChatTemplate::new("{% for m in messages %}", "", ""),
        Err(TemplateError::Syntax(_))
    ));
}

#[test]
fn helpers_real_templates_use() {
    let src = r#"{{ messages[0] | tojson }}|{{ {'a': [1, 2.5, none, true]} | tojson }}|{{ 'x' | tojson(indent=2) }}|{{ '<b>é' | tojson(ensure_ascii=False) }}
{%- for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}|{{ m.content.strip().upper() }}|{{ m.content.startswith('  hi') }}{% endfor %}
|{{ strftime_now('%Y-%m-%d') | length }}"#;
    let t = ChatTemplate::new(src, "", "").expect("compiles");
    let out = t
        .render(
            &[Message::user("  hi there "), Message::user("second")],
            false,
        )
        .expect("renders");
    // Booleans print as Jinja2 prints them, Python style.
    assert_eq!(
        out,
        r#"{"role": "user", "content": "  hi there "}|{"a": [1, 2.5, null, true]}|"x"|"<b>é"|HI THERE|True|10"#
    );
}

#[test]
fn tojson_indents_like_python() {
    let t = ChatTemplate::new("{{ {'a': [1, 'b'], 'c': {}} | tojson(indent=2) }}", "", "")
        .expect("compiles");
    assert_eq!(
        t.render(&[], false).expect("renders"),
        "{\n  \"a\": [\n    1,\n    \"b\"\n  ],\n  \"c\": {}\n}"
    );
}

#[test]
fn plain_prompt_joins_contents_without_markers() {
    let p = PlainPrompt;
    let msgs = [
        msg(Role::System, "Solve carefully."),
        msg(Role::User, "What is 2+2?"),
    ];
    assert_eq!(p.render(&msgs, true), "Solve carefully.\n\nWhat is 2+2?");
    assert_eq!(p.render(&[Message::user("x")], true), "x");
}

/// The test model: `$VERIMATH_TEST_MODEL`, else its file in the model cache.
fn model_path() -> PathBuf {
    engine::test_model_path()
}

#[test]
fn the_base_test_model_uses_the_plain_prompt() {
    let file = GgufFile::open(model_path()).expect("open the test model");
    assert!(ChatTemplate::from_gguf(&file).is_none());
    let format = PromptFormat::from_gguf(&file).expect("format");
    assert!(!format.has_markers());
    let text = format
        .render(&[Message::user("2+2=")], true)
        .expect("renders");
    assert_eq!(text, "2+2=");
}

#[test]
fn templates_from_gguf_see_the_bos_and_eos_texts() {
    let mut w = GgufWriter::new();
    w.add_metadata(
        "tokenizer.chat_template",
        "[{{ bos_token }}|{{ eos_token }}]",
    );
    w.add_metadata(
        "tokenizer.ggml.tokens",
        Value::Array(vec![Value::from("<s>"), Value::from("</s>")]),
    );
    w.add_metadata("tokenizer.ggml.bos_token_id", Value::U32(0));
    w.add_metadata("tokenizer.ggml.eos_token_id", Value::U32(1));
    let file = GgufFile::from_bytes(w.to_bytes().expect("write")).expect("parse");
    let t = ChatTemplate::from_gguf(&file)
        .expect("present")
        .expect("compiles");
    assert_eq!(t.render(&[], false).expect("renders"), "[<s>|</s>]");
}

#[test]
fn gemma_markers_encode_as_single_tokens() {
    // Gemma's own turn layout, rendered and encoded with the real tokenizer.
    let src = "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m.role == 'assistant' else m.role }}\n{{ m.content }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}";
    let file = GgufFile::open(model_path()).expect("open the test model");
    let tok = Tokenizer::from_gguf(&file).expect("tokenizer");
    let t = ChatTemplate::new(src, "<bos>", "<eos>").expect("compiles");
    let text = t.render(&[Message::user("Hi")], true).expect("renders");
    let ids = tok.encode(&text, false, true);
    let (start, end) = (105, 106);
    assert_eq!(ids[0], tok.bos().expect("bos"));
    assert_eq!(ids.iter().filter(|&&i| i == start).count(), 2);
    assert_eq!(ids.iter().filter(|&&i| i == end).count(), 1);
    assert_eq!(tok.decode(&ids), "user\nHi\nmodel\n");
    // The template wrote BOS itself: the chat encoding does not add a second one.
    assert_eq!(tok.encode_chat(&text), ids);
    let without_bos = "<start_of_turn>user\nHi<end_of_turn>\n";
    let ids = tok.encode_chat(without_bos);
    assert_eq!(&ids[..2], &[tok.bos().expect("bos"), start]);
}

/// A byte-level vocabulary with the ChatML and DeepSeek markers as control tokens.
fn marker_tokenizer() -> Tokenizer {
    let mut tokens: Vec<String> = Vec::new();
    for b in 0..=255u8 {
        let printable = (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || b >= 0xae;
        let moved = (0..b)
            .filter(|&x| !((0x21..=0x7e).contains(&x) || (0xa1..=0xac).contains(&x) || x >= 0xae))
            .count() as u32;
        let c = if printable {
            char::from(b)
        } else {
            char::from_u32(256 + moved).expect("char")
        };
        tokens.push(c.to_string());
    }
    let mut types = vec![TokenType::Normal; 256];
    for m in [
        "<|im_start|>",
        "<|im_end|>",
        "<｜begin▁of▁sentence｜>",
        "<｜end▁of▁sentence｜>",
        "<｜User｜>",
        "<｜Assistant｜>",
    ] {
        tokens.push(m.to_string());
        types.push(TokenType::Control);
    }
    tokens.push("<think>".to_string());
    types.push(TokenType::UserDefined);
    Tokenizer::from_spec(TokenizerSpec {
        model: ModelKind::Bpe,
        pre: PreTokenizer::Qwen2,
        tokens,
        scores: Vec::new(),
        types,
        merges: Vec::new(),
        bos: Some(258),
        eos: Some(259),
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
fn rendered_markers_encode_as_single_tokens() {
    let tok = marker_tokenizer();
    let id = |s: &str| tok.token_id(s).expect("marker");

    let chatml = ChatTemplate::new(CHATML, "", "<|im_end|>").expect("compiles");
    let ids = tok.encode(
        &chatml.render(&conversation(), true).expect("renders"),
        false,
        true,
    );
    // Four turns plus the generation prompt open; four turns close.
    assert_eq!(ids.iter().filter(|&&i| i == id("<|im_start|>")).count(), 5);
    assert_eq!(ids.iter().filter(|&&i| i == id("<|im_end|>")).count(), 4);
    assert!(tok.is_end_of_generation(id("<|im_end|>")));

    let r1 = ChatTemplate::new(
        DEEPSEEK_R1,
        "<｜begin▁of▁sentence｜>",
        "<｜end▁of▁sentence｜>",
    )
    .expect("compiles");
    let ids = tok.encode(
        &r1.render(&conversation(), true).expect("renders"),
        false,
        true,
    );
    assert_eq!(ids[0], id("<｜begin▁of▁sentence｜>"));
    assert_eq!(ids.iter().filter(|&&i| i == id("<｜User｜>")).count(), 2);
    assert_eq!(
        ids.iter().filter(|&&i| i == id("<｜Assistant｜>")).count(),
        2
    );
    assert_eq!(ids[ids.len() - 2], id("<think>"));
    assert!(tok.is_end_of_generation(id("<｜end▁of▁sentence｜>")));
    // Without parse_special the markers are spelled out in bytes.
    let text = r1.render(&conversation(), true).expect("renders");
    let plain = tok.encode(&text, false, false);
    assert!(!plain.contains(&id("<｜User｜>")));
    assert_eq!(tok.decode(&plain), text);
}
