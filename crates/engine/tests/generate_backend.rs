//! `LocalLlm` on the real test model: the `Llm` interface end to end.

use engine::backend::{LocalLlm, LocalOptions};
use futures::StreamExt;
use llm::{ChatRequest, FinishReason, Llm, Message, StreamEvent};

fn load() -> LocalLlm {
    let path = engine::test_model_path();
    assert!(
        path.exists(),
        "test model missing at {}: run scripts/setup.sh or set VERIMATH_TEST_MODEL",
        path.display()
    );
    let mut options = LocalOptions::default();
    options.load.slots = 4;
    options.load.context = 256;
    LocalLlm::load(&path, options).expect("the test model loads")
}

fn request(n: u32, seed: u64) -> ChatRequest {
    let mut r = ChatRequest::new(vec![Message::user("The capital of France is")]);
    r.n = n;
    r.seed = Some(seed);
    r.max_tokens = Some(6);
    r
}

#[tokio::test]
async fn chat_returns_n_completions_with_usage() {
    let llm = load();
    assert!(llm.name().contains("gemma-3-270m"));
    // A base model: the plain prompt is the user text, with BOS.
    assert!(!llm.has_chat_template());
    let prompt = llm
        .tokenize_chat(&request(1, 0).messages)
        .expect("tokenized");
    assert_eq!(prompt, vec![2, 818, 5279, 529, 7001, 563]);
    let r = llm.chat(request(3, 9)).await.expect("answer");
    assert_eq!(r.completions.len(), 3);
    assert_eq!(r.usage.prompt_tokens, 6);
    let counted: u64 = r
        .completions
        .iter()
        .filter_map(|c| c.completion_tokens)
        .sum();
    assert_eq!(r.usage.completion_tokens, counted);
    for c in &r.completions {
        assert_eq!(c.finish_reason, FinishReason::Length);
        assert!(!c.text.is_empty());
    }
    // Same seed, same answers; the second time the prompt but its last token comes
    // from the prompt cache.
    let again = llm.chat(request(3, 9)).await.expect("answer");
    assert_eq!(r.completions, again.completions);
    assert_eq!(again.usage.cached_prompt_tokens, 5);
}

#[tokio::test]
async fn stream_deltas_add_up_to_the_final_answer() {
    let llm = load();
    let mut stream = llm.chat_stream(request(2, 5)).await.expect("stream");
    let mut texts = vec![String::new(); 2];
    let mut done = None;
    while let Some(event) = stream.next().await {
        match event.expect("event") {
            StreamEvent::Delta {
                index,
                text,
                reasoning,
            } => {
                assert!(!reasoning);
                texts[index as usize].push_str(&text);
            }
            StreamEvent::Done(r) => done = Some(r),
        }
    }
    let done = done.expect("a final event");
    let finals: Vec<String> = done.completions.iter().map(|c| c.text.clone()).collect();
    assert_eq!(texts, finals);
}

#[tokio::test]
async fn n_beyond_the_slots_is_split_without_changing_samples() {
    // The backend has 4 slots: 6 samples run as parts of 4 and 2.
    let llm = load();
    let six = llm.chat(request(6, 21)).await.expect("six");
    assert_eq!(six.completions.len(), 6);
    assert_eq!(six.usage.prompt_tokens, 6);
    let four = llm.chat(request(4, 21)).await.expect("four");
    assert_eq!(six.completions[..4], four.completions[..]);
    let mut stream = llm.chat_stream(request(6, 21)).await.expect("stream");
    let mut last = None;
    while let Some(event) = stream.next().await {
        if let StreamEvent::Done(r) = event.expect("event") {
            last = Some(r);
        }
    }
    assert_eq!(last.expect("a final event").completions, six.completions);
}
