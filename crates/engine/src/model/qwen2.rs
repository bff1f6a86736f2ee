//! Qwen2 / Qwen2.5 (`general.architecture = qwen2`).
//!
//! The same pre-norm decoder as llama (see [`super::llama`] for the equations) with two
//! differences: the query, key and value projections carry biases
//! (`blk.N.attn_{q,k,v}.bias`), and RoPE rotates NeoX-style halves `(i, i + n_rot/2)`
//! instead of adjacent pairs. Small Qwen2 models tie the output matrix to the token
//! embedding (no `output.weight`).

use std::sync::Arc;

use gguf::GgufFile;

use super::layers::RopeStyle;
use super::llama::{Llama, Variant};
use super::loader::Weights;
use super::{Architecture, BatchEntry, KvCache, ModelConfig, ModelError};

/// A loaded Qwen2 model.
#[derive(Debug)]
pub struct Qwen2(Llama);

impl Qwen2 {
    pub(crate) fn load(file: &Arc<GgufFile>, w: &Weights) -> Result<Qwen2, ModelError> {
        let variant = Variant {
            arch: "qwen2",
            rope: RopeStyle::Neox,
            qkv_bias: true,
            qk_norm: false,
        };
        Llama::load_variant(file, w, &variant).map(Qwen2)
    }
}

impl Architecture for Qwen2 {
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
