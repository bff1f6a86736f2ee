//! Errors from loading a model or running its forward pass.
//!
//! Loading errors name the metadata key or tensor at fault, so that a user with an
//! unusual or damaged GGUF file learns what is missing rather than where it crashed.

use crate::kv_cache::CacheError;

/// Everything that can go wrong in [`crate::model`].
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The GGUF file could not be opened or parsed.
    #[error("cannot read model file: {0}")]
    File(#[from] gguf::GgufError),

    /// `general.architecture` names an architecture this engine does not implement.
    #[error("unsupported architecture `{0}` (supported: gemma3, qwen2, qwen3, llama, deepseek2)")]
    UnsupportedArchitecture(String),

    /// A required metadata key is absent.
    #[error("missing metadata key `{0}`")]
    MissingKey(String),

    /// A metadata key has the wrong type or an impossible value.
    #[error("invalid metadata `{key}`: {detail}")]
    BadKey { key: String, detail: String },

    /// A required tensor is absent.
    #[error("missing tensor `{0}`")]
    MissingTensor(String),

    /// A tensor's shape differs from the one the hyper-parameters imply.
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?} (ggml order)")]
    TensorShape {
        name: String,
        expected: Vec<u64>,
        found: Vec<u64>,
    },

    /// A tensor stored in a type the kernels cannot use.
    #[error("tensor `{name}`: {source}")]
    Tensor {
        name: String,
        #[source]
        source: gguf::GgufError,
    },

    /// A batch entry that cannot be run (bad token, slot or position).
    #[error("invalid batch entry {index}: {detail}")]
    BadBatch { index: usize, detail: String },

    /// A cache operation the cache refused.
    #[error(transparent)]
    Cache(#[from] CacheError),

    /// The cache was made for a different model shape.
    #[error("cache shape mismatch: {0}")]
    CacheShape(String),
}
