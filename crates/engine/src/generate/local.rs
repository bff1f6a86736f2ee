//! The engine over a real GGUF model: [`Model`] and [`KvCache`] as a [`Decoder`], the
//! GGUF [`Tokenizer`] as a [`Vocab`], and [`load_engine`] to open a file and start it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gguf::GgufFile;

use super::{Decoder, Engine, EngineOptions, Step, Vocab};
use crate::kv_cache::KvCache;
use crate::model::{BatchEntry, Model, ModelConfig, ModelError};
use crate::tokenizer::{Tokenizer, TokenizerError};

/// A model and its cache, driven by the engine thread.
pub struct ModelDecoder {
    model: Model,
    cache: KvCache,
    /// Reused batch buffer in the model's own layout.
    entries: Vec<BatchEntry>,
}

impl ModelDecoder {
    /// `slots` sequences of up to `max_len` tokens (clamped to the training context).
    pub fn new(model: Model, slots: usize, max_len: usize) -> Self {
        let max_len = max_len.min(model.config().context_length).max(1);
        let cache = model.new_cache(slots.max(1), max_len);
        ModelDecoder {
            model,
            cache,
            entries: Vec::new(),
        }
    }
}

impl Decoder for ModelDecoder {
    fn vocab_size(&self) -> usize {
        self.model.config().n_vocab
    }
    fn slots(&self) -> usize {
        self.cache.max_seqs()
    }
    fn max_len(&self) -> usize {
        self.cache.max_len()
    }
    fn forward(&mut self, batch: &[Step]) -> Result<Vec<Vec<f32>>, String> {
        self.entries.clear();
        self.entries.extend(batch.iter().map(|s| BatchEntry {
            slot: s.slot,
            pos: s.position,
            token: s.token,
            want_logits: s.want_logits,
        }));
        self.model
            .forward(&self.entries, &mut self.cache)
            .map_err(|e| e.to_string())
    }
    fn copy_prefix(&mut self, src: usize, dst: usize, len: usize) -> Result<(), String> {
        self.cache
            .copy_prefix(src, dst, len)
            .map_err(|e| e.to_string())
    }
    fn truncate(&mut self, slot: usize, len: usize) {
        // Slots come from the engine's own free list, so they are always in range.
        let _ = self.cache.truncate(slot, len);
    }
}

/// The tokenizer as the engine loop sees it.
pub struct TokenizerVocab(pub Arc<Tokenizer>);

impl Vocab for TokenizerVocab {
    fn token_bytes(&self, token: u32) -> Vec<u8> {
        // Control tokens (turn markers, padding) print nothing, as in llama.cpp. The
        // first generated token keeps its leading space: it continues the prompt.
        if self.0.renders(token) {
            self.0.token_bytes(token).to_vec()
        } else {
            Vec::new()
        }
    }
    fn is_end_of_generation(&self, token: u32) -> bool {
        self.0.is_end_of_generation(token)
    }
}

/// Sizes of a locally loaded model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Sequences decoded at once (all samples of all running requests).
    pub slots: usize,
    /// Tokens per sequence, prompt included; capped by the model's training context.
    /// Cache memory grows with use, so a large value costs nothing until used.
    pub context: usize,
    pub engine: EngineOptions,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            slots: 16,
            context: 8192,
            engine: EngineOptions::default(),
        }
    }
}

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum EngineLoadError {
    #[error("cannot open model file {path}: {source}")]
    Open {
        path: PathBuf,
        source: gguf::GgufError,
    },
    #[error("cannot load the model in {path}: {source}")]
    Model { path: PathBuf, source: ModelError },
    #[error("the chat template of {path} is unusable: {source}")]
    Template {
        path: PathBuf,
        source: crate::chat_template::TemplateError,
    },
    #[error("cannot build the tokenizer of {path}: {source}")]
    Tokenizer {
        path: PathBuf,
        source: TokenizerError,
    },
}

/// A running engine with what callers need to build its requests.
pub struct LoadedModel {
    pub engine: Engine,
    pub tokenizer: Arc<Tokenizer>,
    pub file: Arc<GgufFile>,
    pub config: ModelConfig,
    /// Bytes one cached position of one sequence takes (see
    /// [`Model::cache_bytes_per_token`]).
    pub cache_bytes_per_token: usize,
}

/// Read a GGUF file into memory (mapped when it is too large, see
/// [`GgufFile::open_for_kernels`]), load model and tokenizer, and start the engine thread.
pub fn load_engine(path: &Path, options: LoadOptions) -> Result<LoadedModel, EngineLoadError> {
    let file = GgufFile::open_for_kernels(path).map_err(|source| EngineLoadError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let file = Arc::new(file);
    let tokenizer = Tokenizer::from_gguf(&file).map_err(|source| EngineLoadError::Tokenizer {
        path: path.to_path_buf(),
        source,
    })?;
    let tokenizer = Arc::new(tokenizer);
    let model = Model::load(file.clone()).map_err(|source| EngineLoadError::Model {
        path: path.to_path_buf(),
        source,
    })?;
    let config = model.config().clone();
    let cache_bytes_per_token = model.cache_bytes_per_token();
    let decoder = ModelDecoder::new(model, options.slots, options.context);
    let vocab = Arc::new(TokenizerVocab(tokenizer.clone()));
    let engine = Engine::start(Box::new(decoder), vocab, options.engine);
    Ok(LoadedModel {
        engine,
        tokenizer,
        file,
        config,
        cache_bytes_per_token,
    })
}
