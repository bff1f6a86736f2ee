//! Llama (`general.architecture = llama`), and the pre-norm decoder that Qwen2 and
//! Qwen3 share.
//!
//! For tokens `t` at positions `p`:
//!
//! ```text
//! x = E[t]                                                  [n_embd]
//! for each layer l:
//!     h = RMSNorm_attn(x)
//!     q = Wq h (+ bq),  k = Wk h (+ bk),  v = Wv h (+ bv)      biases: Qwen2 only
//!     q, k = RMSNorm_q(q), RMSNorm_k(k) per head                   Qwen3 only
//!     q, k = RoPE(q, k, p)        adjacent pairs for llama, NeoX halves for Qwen
//!     x = x + Wo softmax(q k^T / sqrt(head_dim) + causal mask) v
//!     h = RMSNorm_ffn(x)
//!     x = x + W_down(silu(W_gate h) * W_up h)
//! logits = W_out RMSNorm_out(x)        (W_out = E when the file has no output.weight)
//! ```
//!
//! Query heads share key/value heads in groups of `n_head / n_head_kv`. llama.cpp's
//! converter permutes llama's Q/K rows so that the adjacent-pair ("normal") RoPE of the
//! GGUF equals the half-split RoPE of the original checkpoints. Llama 3.1 files carry
//! per-frequency divisors in `rope_freqs.weight`, applied when present.

use std::sync::Arc;

use gguf::GgufFile;

use super::attention::SelfAttention;
use super::layers::{add_assign, embed, Activation, GatedMlp, Linear, RmsNorm, Rope, RopeStyle};
use super::loader::{blk, blk_bias, Weights};
use super::{Architecture, BatchEntry, KvCache, ModelConfig, ModelError};

/// How a member of the llama family departs from llama itself.
pub(crate) struct Variant {
    /// Metadata prefix (`general.architecture`).
    pub arch: &'static str,
    pub rope: RopeStyle,
    /// Biases on the Q/K/V projections (`blk.N.attn_{q,k,v}.bias`).
    pub qkv_bias: bool,
    /// Per-head RMSNorm of queries and keys before RoPE (`blk.N.attn_{q,k}_norm`).
    pub qk_norm: bool,
}

#[derive(Debug)]
struct Block {
    attn_norm: RmsNorm,
    attn: SelfAttention,
    ffn_norm: RmsNorm,
    mlp: GatedMlp,
}

/// A loaded llama-style decoder.
#[derive(Debug)]
pub struct Llama {
    config: ModelConfig,
    /// `[n_vocab, n_embd]` token embedding.
    embd: Linear,
    layers: Vec<Block>,
    output_norm: RmsNorm,
    /// `[n_vocab, n_embd]`; the embedding itself when the weights are tied.
    output: Linear,
}

impl Llama {
    pub(crate) fn load(file: &Arc<GgufFile>, w: &Weights) -> Result<Llama, ModelError> {
        let variant = Variant {
            arch: "llama",
            rope: RopeStyle::Normal,
            qkv_bias: false,
            qk_norm: false,
        };
        Llama::load_variant(file, w, &variant)
    }

    /// Loads the decoder as `variant` describes.
    pub(crate) fn load_variant(
        file: &Arc<GgufFile>,
        w: &Weights,
        variant: &Variant,
    ) -> Result<Llama, ModelError> {
        let style = variant.rope;
        let config = ModelConfig::read(file, variant.arch, style)?;
        let c = &config;
        let (d, hd, eps) = (c.n_embd, c.head_dim, c.rms_eps);
        let q_dim = c.n_head * hd;
        let kv_dim = c.kv_dim();
        let factors = w.vector_opt("rope_freqs.weight", c.n_rot / 2)?;
        let rope = Rope::new(
            style,
            c.n_rot,
            c.rope_base,
            c.rope_scale,
            factors.as_deref(),
        );
        let bias = |l: usize, name: &str, len: usize| -> Result<Option<Vec<f32>>, ModelError> {
            if variant.qkv_bias {
                w.vector(&blk_bias(l, name), len).map(Some)
            } else {
                Ok(None)
            }
        };

        let head_norm = |l: usize, name: &str| -> Result<Option<RmsNorm>, ModelError> {
            if variant.qk_norm {
                w.rms_norm(&blk(l, name), hd, eps).map(Some)
            } else {
                Ok(None)
            }
        };

        let mut layers = Vec::with_capacity(c.n_layer);
        for l in 0..c.n_layer {
            let attn = SelfAttention {
                wq: w
                    .matrix(&blk(l, "attn_q"), d, q_dim)?
                    .with_bias(bias(l, "attn_q", q_dim)?),
                wk: w
                    .matrix(&blk(l, "attn_k"), d, kv_dim)?
                    .with_bias(bias(l, "attn_k", kv_dim)?),
                wv: w
                    .matrix(&blk(l, "attn_v"), d, kv_dim)?
                    .with_bias(bias(l, "attn_v", kv_dim)?),
                wo: w.matrix(&blk(l, "attn_output"), q_dim, d)?,
                q_norm: head_norm(l, "attn_q_norm")?,
                k_norm: head_norm(l, "attn_k_norm")?,
                rope: rope.clone(),
                n_head: c.n_head,
                n_head_kv: c.n_head_kv,
                head_dim: hd,
                scale: 1.0 / (hd as f32).sqrt(),
                window: None,
            };
            layers.push(Block {
                attn_norm: w.rms_norm(&blk(l, "attn_norm"), d, eps)?,
                attn,
                ffn_norm: w.rms_norm(&blk(l, "ffn_norm"), d, eps)?,
                mlp: GatedMlp {
                    gate: w.matrix(&blk(l, "ffn_gate"), d, c.n_ff)?,
                    up: w.matrix(&blk(l, "ffn_up"), d, c.n_ff)?,
                    down: w.matrix(&blk(l, "ffn_down"), c.n_ff, d)?,
                    act: Activation::Silu,
                },
            });
        }

        let embd = w.matrix("token_embd.weight", d, c.n_vocab)?;
        let output = if w.has("output.weight") {
            w.matrix("output.weight", d, c.n_vocab)?
        } else {
            embd.clone()
        };
        Ok(Llama {
            output_norm: w.rms_norm("output_norm.weight", d, eps)?,
            embd,
            output,
            layers,
            config,
        })
    }
}

impl Architecture for Llama {
    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn hidden(&self, batch: &[BatchEntry], cache: &mut KvCache) -> Result<Vec<f32>, ModelError> {
        let n = batch.len();
        let mut x = embed(&self.embd, batch.iter().map(|e| e.token), 1.0)?;
        for (l, b) in self.layers.iter().enumerate() {
            let h = b.attn_norm.forward(&x);
            let a = b.attn.forward(l, &h, batch, cache)?;
            add_assign(&mut x, &a);

            let h = b.ffn_norm.forward(&x);
            let f = b.mlp.forward(&h, n)?;
            add_assign(&mut x, &f);
        }
        self.output_norm.apply(&mut x);
        Ok(x)
    }

    fn logits(&self, hidden: &[f32], n: usize) -> Result<Vec<f32>, ModelError> {
        self.output.apply(hidden, n)
    }
}
