//! Gemma 3 (`general.architecture = gemma3`).
//!
//! For tokens `t` at positions `p` (shapes per token):
//!
//! ```text
//! x = E[t] * sqrt(n_embd)                                   [n_embd]
//! for each layer l:
//!     h = RMSNorm_attn(x)
//!     q = RMSNorm_q(Wq h) per head,  k = RMSNorm_k(Wk h) per head,  v = Wv h
//!     q, k = RoPE_neox(q, k, p; base = 10k on local layers, freq_base on global)
//!     a = Wo softmax(q k^T / sqrt(head_dim) + causal [+ window] mask) v
//!     x = x + RMSNorm_post_attn(a)
//!     h = RMSNorm_ffn(x)
//!     x = x + RMSNorm_post_ffw(W_down(gelu_tanh(W_gate h) * W_up h))
//! logits = W_out RMSNorm_out(x)        (W_out = E when the file has no output.weight)
//! ```
//!
//! Five of every six layers are local (sliding window of `attention.sliding_window`
//! positions, RoPE base 10 000); every sixth (layer 5, 11, ...) is global (full causal
//! attention, RoPE base `rope.freq_base`, with linear scaling if the file asks). The
//! GGUF has no key for this pattern; it is fixed by the architecture, as in llama.cpp.
//! Gemma's RMSNorm multiplies by `1 + w`; GGUF converters store `1 + w`, so the
//! norms here use the stored weight as is. Attention logits are scaled by
//! `1/sqrt(head_dim)` (`query_pre_attn_scalar = head_dim`), except for the 27B model
//! (62 layers), whose scalar is `n_embd / n_head`.

use std::sync::Arc;

use gguf::GgufFile;

use super::attention::SelfAttention;
use super::layers::{add_assign, embed, Activation, GatedMlp, Linear, RmsNorm, Rope, RopeStyle};
use super::loader::{blk, Meta, Weights};
use super::{Architecture, BatchEntry, KvCache, ModelConfig, ModelError};

/// Every `SWA_PATTERN`-th layer is global; the others use the sliding window.
const SWA_PATTERN: usize = 6;
/// RoPE frequency base of the local (sliding-window) layers.
const LOCAL_ROPE_BASE: f32 = 10_000.0;

#[derive(Debug)]
struct Block {
    attn_norm: RmsNorm,
    attn: SelfAttention,
    post_attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
    mlp: GatedMlp,
    post_ffn_norm: RmsNorm,
}

/// A loaded Gemma 3 model.
#[derive(Debug)]
pub struct Gemma3 {
    config: ModelConfig,
    /// `[n_vocab, n_embd]` token embedding.
    embd: Linear,
    embd_scale: f32,
    layers: Vec<Block>,
    output_norm: RmsNorm,
    /// `[n_vocab, n_embd]`, usually the embedding itself.
    output: Linear,
    /// `cap * tanh(logit / cap)` when the file sets `final_logit_softcapping`.
    softcap: Option<f32>,
}

impl Gemma3 {
    pub(crate) fn load(file: &Arc<GgufFile>, w: &Weights) -> Result<Gemma3, ModelError> {
        let config = ModelConfig::read(file, "gemma3", RopeStyle::Neox)?;
        let meta = Meta::new(file, "gemma3");
        let c = &config;
        let (d, hd, eps) = (c.n_embd, c.head_dim, c.rms_eps);
        let q_dim = c.n_head * hd;
        let kv_dim = c.kv_dim();

        let query_scalar = if c.n_layer == 62 { d / c.n_head } else { hd };
        let scale = 1.0 / (query_scalar as f32).sqrt();
        let local_rope = Rope::new(RopeStyle::Neox, c.n_rot, LOCAL_ROPE_BASE, 1.0, None);
        let global_rope = Rope::new(RopeStyle::Neox, c.n_rot, c.rope_base, c.rope_scale, None);

        let mut layers = Vec::with_capacity(c.n_layer);
        for l in 0..c.n_layer {
            let local = c.sliding_window.is_some() && (l + 1) % SWA_PATTERN != 0;
            let attn = SelfAttention {
                wq: w.matrix(&blk(l, "attn_q"), d, q_dim)?,
                wk: w.matrix(&blk(l, "attn_k"), d, kv_dim)?,
                wv: w.matrix(&blk(l, "attn_v"), d, kv_dim)?,
                wo: w.matrix(&blk(l, "attn_output"), q_dim, d)?,
                q_norm: Some(w.rms_norm(&blk(l, "attn_q_norm"), hd, eps)?),
                k_norm: Some(w.rms_norm(&blk(l, "attn_k_norm"), hd, eps)?),
                rope: if local {
                    local_rope.clone()
                } else {
                    global_rope.clone()
                },
                n_head: c.n_head,
                n_head_kv: c.n_head_kv,
                head_dim: hd,
                scale,
                window: if local { c.sliding_window } else { None },
            };
            layers.push(Block {
                attn_norm: w.rms_norm(&blk(l, "attn_norm"), d, eps)?,
                attn,
                post_attn_norm: w.rms_norm(&blk(l, "post_attention_norm"), d, eps)?,
                ffn_norm: w.rms_norm(&blk(l, "ffn_norm"), d, eps)?,
                mlp: GatedMlp {
                    gate: w.matrix(&blk(l, "ffn_gate"), d, c.n_ff)?,
                    up: w.matrix(&blk(l, "ffn_up"), d, c.n_ff)?,
                    down: w.matrix(&blk(l, "ffn_down"), c.n_ff, d)?,
                    act: Activation::GeluTanh,
                },
                post_ffn_norm: w.rms_norm(&blk(l, "post_ffw_norm"), d, eps)?,
            });
        }

        let embd = w.matrix("token_embd.weight", d, c.n_vocab)?;
        let output = if w.has("output.weight") {
            w.matrix("output.weight", d, c.n_vocab)?
        } else {
            embd.clone()
        };
        Ok(Gemma3 {
            embd_scale: (d as f32).sqrt(),
            output_norm: w.rms_norm("output_norm.weight", d, eps)?,
            softcap: meta
                .f32_opt("final_logit_softcapping")?
                .filter(|&c| c > 0.0),
            embd,
            output,
            layers,
            config,
        })
    }
}

impl Architecture for Gemma3 {
    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn hidden(&self, batch: &[BatchEntry], cache: &mut KvCache) -> Result<Vec<f32>, ModelError> {
        let n = batch.len();
        let mut x = embed(&self.embd, batch.iter().map(|e| e.token), self.embd_scale)?;
        for (l, b) in self.layers.iter().enumerate() {
            let h = b.attn_norm.forward(&x);
            let mut a = b.attn.forward(l, &h, batch, cache)?;
            b.post_attn_norm.apply(&mut a);
            add_assign(&mut x, &a);

            let h = b.ffn_norm.forward(&x);
            let mut f = b.mlp.forward(&h, n)?;
            b.post_ffn_norm.apply(&mut f);
            add_assign(&mut x, &f);
        }
        self.output_norm.apply(&mut x);
        Ok(x)
    }

    fn logits(&self, hidden: &[f32], n: usize) -> Result<Vec<f32>, ModelError> {
        let mut logits = self.output.apply(hidden, n)?;
        if let Some(cap) = self.softcap {
            logits.iter_mut().for_each(|v| *v = cap * (*v / cap).tanh());
        }
        Ok(logits)
    }
}
