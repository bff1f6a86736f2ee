//! The local engine as an [`llm::Llm`] backend.
//!
//! [`LocalLlm`] does on the caller's side what llama.cpp's server does in its HTTP
//! workers: it renders the chat template (or a plain prompt for base models without
//! one), tokenizes, maps the request's settings onto a [`GenerateRequest`], and turns
//! the engine's answer into completions with `<think>` reasoning split off. The model
//! itself only ever sees token ids, on the engine thread.

use std::collections::VecDeque;
use std::path::Path;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;
use llm::{
    ChatRequest, ChatResponse, Completion, LlmError, Message, StreamEvent, ThinkSplitter, Usage,
};

use crate::chat_template::PromptFormat;
use crate::generate::{
    load_engine, EngineError, EngineLoadError, Event, GenerateOutput, GenerateRequest, LoadOptions,
    LoadedModel, RequestHandle,
};
use crate::sampler::{fresh_seed, SamplingParams};

pub use crate::known_models::{default_model_path, model_cache_dir};

/// Settings of a local backend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalOptions {
    pub load: LoadOptions,
    /// Tokens per sample when a request sets no `max_tokens`.
    pub default_max_tokens: usize,
    /// Top-k and min-p, which chat requests do not carry.
    pub top_k: usize,
    pub min_p: f32,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            load: LoadOptions::default(),
            default_max_tokens: 2048,
            top_k: 0,
            min_p: 0.0,
        }
    }
}

/// A GGUF model served by the in-process engine.
pub struct LocalLlm {
    model: LoadedModel,
    format: PromptFormat,
    name: String,
    options: LocalOptions,
}

impl LocalLlm {
    /// Load a GGUF model and start its engine thread.
    pub fn load(path: &Path, options: LocalOptions) -> Result<LocalLlm, EngineLoadError> {
        let model = load_engine(path, options.load)?;
        let format =
            PromptFormat::from_gguf(&model.file).map_err(|source| EngineLoadError::Template {
                path: path.to_path_buf(),
                source,
            })?;
        let name = format!(
            "local:{}",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string())
        );
        Ok(LocalLlm {
            model,
            format,
            name,
            options,
        })
    }

    /// The running engine and tokenizer, for callers that work on token ids.
    pub fn model(&self) -> &LoadedModel {
        &self.model
    }

    /// Whether the model carries a chat template (instruction-tuned models do).
    pub fn has_chat_template(&self) -> bool {
        self.format.has_markers()
    }

    /// The prompt text for a chat: the model's template with the assistant's turn
    /// opened, or for a base model the plain prompt.
    pub fn render(&self, messages: &[Message]) -> Result<String, LlmError> {
        self.format
            .render(messages, true)
            .map_err(|e| LlmError::InvalidRequest(e.to_string()))
    }

    /// Token ids of a chat prompt, with BOS as the model's metadata asks.
    pub fn tokenize_chat(&self, messages: &[Message]) -> Result<Vec<u32>, LlmError> {
        let text = self.render(messages)?;
        // Templates write special tokens (`<start_of_turn>`) as text: parse them. A
        // template that writes BOS itself must not get a second one. Plain prompts are
        // user text, where `<bos>` is just characters.
        let tok = &self.model.tokenizer;
        let mut ids = tok.encode(&text, false, self.format.has_markers());
        if tok.adds_bos() && ids.first() != tok.bos().as_ref() {
            if let Some(bos) = tok.bos() {
                ids.insert(0, bos);
            }
        }
        Ok(ids)
    }

    /// The engine requests for a chat request. An `n` larger than the engine's slots
    /// is split into parts that queue behind each other; one seed and each part's
    /// first sample index keep the samples the same however they are split.
    fn requests(&self, req: &ChatRequest, stream: bool) -> Result<Vec<GenerateRequest>, LlmError> {
        if req.n == 0 {
            return Err(LlmError::InvalidRequest("n must be at least 1".into()));
        }
        let n = req.n as usize;
        let base = GenerateRequest {
            prompt: self.tokenize_chat(&req.messages)?,
            n,
            sampling: SamplingParams {
                temperature: req.temperature,
                top_k: self.options.top_k,
                top_p: req.top_p,
                min_p: self.options.min_p,
            },
            seed: Some(req.seed.unwrap_or_else(fresh_seed)),
            first_index: 0,
            max_tokens: req
                .max_tokens
                .map(|m| m as usize)
                .unwrap_or(self.options.default_max_tokens),
            stop: req.stop.clone(),
            stream,
            top_logprobs: 0,
        };
        let part = self.model.engine.info().slots.max(1);
        Ok((0..n)
            .step_by(part)
            .map(|first| GenerateRequest {
                n: part.min(n - first),
                first_index: first,
                ..base.clone()
            })
            .collect())
    }

    /// Submit every part; a refused part cancels the ones already queued (their
    /// handles are dropped).
    fn submit_all(
        &self,
        parts: Vec<GenerateRequest>,
    ) -> Result<Vec<(usize, RequestHandle)>, LlmError> {
        parts
            .into_iter()
            .map(|r| {
                let first = r.first_index;
                self.model
                    .engine
                    .submit(r)
                    .map(|h| (first, h))
                    .map_err(llm_error)
            })
            .collect()
    }
}

/// One answer from the outputs of a request's parts, in sample order. The prompt is
/// counted once, as the OpenAI API counts it for `n` samples, and so are its cached
/// tokens (those of the first part; the engine's own figures count every part).
fn merge(parts: Vec<GenerateOutput>) -> ChatResponse {
    let prompt_tokens = parts.first().map(|o| o.prompt_tokens).unwrap_or(0) as u64;
    let cached_prompt_tokens = parts.first().map_or(0, |o| o.timings.cached_prompt_tokens) as u64;
    let samples: Vec<_> = parts.into_iter().flat_map(|o| o.samples).collect();
    let completion_tokens = samples.iter().map(|s| s.token_ids.len() as u64).sum();
    let completions = samples
        .into_iter()
        .map(|s| {
            let (text, reasoning) = llm::split_think(&s.text);
            Completion {
                text,
                reasoning,
                finish_reason: s.finish_reason.into(),
                completion_tokens: Some(s.token_ids.len() as u64),
            }
        })
        .collect();
    ChatResponse {
        completions,
        usage: Usage {
            prompt_tokens,
            completion_tokens,
            cached_prompt_tokens,
        },
    }
}

/// Engine errors as the `Llm` interface names them.
fn llm_error(e: EngineError) -> LlmError {
    match e {
        EngineError::Model(msg) => LlmError::Backend(msg),
        EngineError::Stopped => LlmError::Backend("the local engine has stopped".into()),
        other => LlmError::InvalidRequest(other.to_string()),
    }
}

#[async_trait]
impl llm::Llm for LocalLlm {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let handles = self.submit_all(self.requests(&request, false)?)?;
        let mut outputs = Vec::with_capacity(handles.len());
        for (_, handle) in handles {
            outputs.push(handle.wait_async().await.map_err(llm_error)?);
        }
        Ok(merge(outputs))
    }

    async fn chat_stream(
        &self,
        request: ChatRequest,
    ) -> Result<BoxStream<'static, Result<StreamEvent, LlmError>>, LlmError> {
        let parts = self.requests(&request, true)?;
        let prompt_opens_think = self
            .render(&request.messages)
            .map(|p| p.trim_end().ends_with("<think>"))
            .unwrap_or(false);
        let handles = self.submit_all(parts)?;
        let n = request.n as usize;
        let part_count = handles.len();
        // One stream of (part, first sample index, event) over all parts.
        let events = futures::stream::select_all(handles.into_iter().enumerate().map(
            |(part, (first, handle))| {
                Box::pin(futures::stream::unfold(handle, move |mut h| async move {
                    h.next().await.map(|event| ((part, first, event), h))
                }))
            },
        ));
        let state = StreamState {
            events,
            splits: vec![
                if prompt_opens_think {
                    ThinkSplitter::in_reasoning()
                } else {
                    ThinkSplitter::default()
                };
                n
            ],
            outputs: (0..part_count).map(|_| None).collect(),
            queue: VecDeque::new(),
            done: false,
        };
        let stream = futures::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(item) = st.queue.pop_front() {
                    return Some((item, st));
                }
                if st.done {
                    return None;
                }
                let next = st.events.next().await;
                st.handle(next);
            }
        });
        Ok(Box::pin(stream))
    }
}

/// What a streamed answer tracks between engine events.
struct StreamState<S> {
    events: S,
    splits: Vec<ThinkSplitter>,
    /// Each part's output once it is done.
    outputs: Vec<Option<GenerateOutput>>,
    queue: VecDeque<Result<StreamEvent, LlmError>>,
    done: bool,
}

impl<S> StreamState<S> {
    fn handle(&mut self, next: Option<(usize, usize, Event)>) {
        match next {
            Some((_, first, Event::Delta { index, text, .. })) => {
                let index = first + index;
                if let Some(split) = self.splits.get_mut(index) {
                    for (text, reasoning) in split.push(&text) {
                        self.queue.push_back(Ok(delta(index, text, reasoning)));
                    }
                }
            }
            Some((part, _, Event::Done(Ok(output)))) => {
                if let Some(slot) = self.outputs.get_mut(part) {
                    *slot = Some(output);
                }
                if self.outputs.iter().all(Option::is_some) {
                    self.done = true;
                    for (index, split) in self.splits.iter_mut().enumerate() {
                        for (text, reasoning) in split.finish() {
                            self.queue.push_back(Ok(delta(index, text, reasoning)));
                        }
                    }
                    let outputs = self.outputs.iter_mut().filter_map(Option::take).collect();
                    self.queue.push_back(Ok(StreamEvent::Done(merge(outputs))));
                }
            }
            Some((_, _, Event::Done(Err(e)))) => {
                self.done = true;
                self.queue.push_back(Err(llm_error(e)));
            }
            None => {
                self.done = true;
                self.queue.push_back(Err(LlmError::Backend(
                    "the local engine stopped mid-stream".into(),
                )));
            }
        }
    }
}

fn delta(index: usize, text: String, reasoning: bool) -> StreamEvent {
    StreamEvent::Delta {
        index: index as u32,
        text,
        reasoning,
    }
}
