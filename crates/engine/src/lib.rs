//! Local inference for GGUF models.
//!
//! Module map:
//! - [`tokenizer`] — tokenizers built from GGUF metadata (SentencePiece-style and byte-level BPE).
//! - [`chat_template`] — the model's Jinja chat template, or a plain prompt without one.
//! - [`model`] — architectures (one file each) and the batched forward pass.
//! - [`known_models`] — the models verimath knows by name (default and test model).
//! - [`kv_cache`] — per-sequence key/value cache.
//! - [`sampler`] — temperature, top-k, top-p, min-p, seeded sampling.
//! - [`generate`] — the engine loop: prompt sharing, batched decoding, stop strings.
//! - [`backend`] — the engine as an `llm::Llm` backend.
//! - [`profile`] — opt-in timing of the forward pass by operation.
//! - [`alloc`] — allocator settings that keep a forward pass's buffers for reuse.
//!
//! Quick start: [`LocalLlm::load`] a GGUF file (the default model lives at
//! [`default_model_path`]) and use it as any `llm::Llm`; or [`load_engine`] and
//! [`Engine::submit`] token ids directly for streaming and timings.

pub mod alloc;
pub mod backend;
pub mod chat_template;
pub mod generate;
pub mod known_models;
pub mod kv_cache;
pub mod model;
pub mod profile;
pub mod sampler;
pub mod tokenizer;

pub use backend::{LocalLlm, LocalOptions};
pub use generate::{
    load_engine, Engine, EngineError, Event, FinishReason, GenerateOutput, GenerateRequest,
    LoadOptions, LoadedModel, RequestHandle, SampleOutput, Timings,
};
pub use known_models::{default_model_path, test_model_path};
pub use sampler::SamplingParams;
