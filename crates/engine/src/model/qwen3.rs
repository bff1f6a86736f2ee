//! Qwen3 dense models (`general.architecture = qwen3`).
//!
//! The same pre-norm decoder as llama (see [`super::llama`] for the equations) with two
//! differences: queries and keys are RMS-normalised per head before RoPE
//! (`blk.N.attn_{q,k}_norm.weight`, `[head_dim]`), and RoPE rotates NeoX-style halves.
//! There are no projection biases, and heads may be wider than `n_embd / n_head`
//! (`attention.key_length`). Small Qwen3 models tie the output matrix to the embedding.

use std::sync::Arc;

use gguf::GgufFile;

use super::layers::RopeStyle;
use super::llama::{Llama, Variant};
use super::loader::Weights;
use super::{Architecture, BatchEntry, KvCache, ModelConfig, ModelError};

/// A loaded Qwen3 model.
#[derive(Debug)]
pub struct Qwen3(Llama);

impl Qwen3 {
    pub(crate) fn load(file: &Arc<GgufFile>, w: &Weights) -> Result<Qwen3, ModelError> {
        let variant = Variant {
            arch: "qwen3",
            rope: RopeStyle::Neox,
            qkv_bias: false,
            qk_norm: true,
        };
        Llama::load_variant(file, w, &variant).map(Qwen3)
    }
}

impl Architecture for Qwen3 {
    fn config(&self) -> &ModelConfig {
        self.0.config()
    }

    fn hidden(&self, batch: &[BatchEntry], cache: &mut KvCache) -> Result<Vec<f32>, ModelError> {
        self.0.hidden(batch, cache)
    }

    fn logits(&self, hidden: &[f32], n: usize) -> Result<Vec<f32>, ModelError> {
        self.0.logits(hidden, n)
    }
}
