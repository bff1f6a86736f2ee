//! Model architectures and the batched forward pass.
//!
//! [`Model::load`] reads `general.architecture` and builds one of the architectures,
//! each in its own file and readable top to bottom: [`gemma3`], [`qwen2`], [`qwen3`],
//! [`llama`], [`deepseek2`] (multi-head latent attention and mixture of experts).
//! They share the building blocks in [`layers`] (linear maps over quantized weights,
//! RMSNorm, RoPE, gated MLPs) and [`attention`] (grouped-query attention over the
//! [`KvCache`], optionally windowed), whose kernel is in `attend`; [`vexp`] is the
//! vector `exp` of the SiLU activation.
//!
//! [`Model::forward`] runs one batch of [`BatchEntry`]s that may belong to different
//! sequences (cache slots): a prompt prefill is one batch of all its tokens, a decode
//! step of 16 sequences one batch of 16 entries. Every projection is one matrix
//! product over the whole batch, so each weight is streamed from memory once per pass.

mod attend;
pub mod attention;
pub mod deepseek2;
mod error;
pub mod gemma3;
pub mod half;
pub mod layers;
pub mod llama;
mod loader;
pub mod qwen2;
pub mod qwen3;
pub mod vexp;

use std::sync::Arc;

use gguf::GgufFile;

pub use error::ModelError;
use layers::RopeStyle;
use loader::{Meta, Weights};

pub use crate::kv_cache::KvCache;

/// One token of a batch: the token `token` of the sequence in cache `slot`, at position
/// `pos`. Positions of a slot must continue its cached length, consecutively, in batch
/// order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchEntry {
    pub slot: usize,
    pub pos: usize,
    pub token: u32,
    /// Whether [`Model::forward`] returns logits for this entry.
    pub want_logits: bool,
}

/// Hyper-parameters every architecture has, read from `<arch>.*` metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// `general.architecture` (`gemma3`, `qwen2`, `qwen3`, `llama`).
    pub architecture: String,
    pub n_vocab: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    /// Width of one query/key/value head.
    pub head_dim: usize,
    /// Hidden width of the feed-forward network.
    pub n_ff: usize,
    /// Training context length.
    pub context_length: usize,
    pub rms_eps: f32,
    /// RoPE frequency base (of the global-attention layers where those differ).
    pub rope_base: f32,
    /// Dimensions of each head that RoPE rotates.
    pub n_rot: usize,
    /// Position multiplier from linear RoPE scaling (1 when unscaled).
    pub rope_scale: f32,
    pub rope_style: RopeStyle,
    /// Width of the sliding attention window of the local layers, if any.
    pub sliding_window: Option<usize>,
}

impl ModelConfig {
    /// Values per position per layer in the cache.
    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// Reads the hyper-parameters shared by all supported architectures; `n_vocab` comes
    /// from the token embedding's shape.
    pub(crate) fn read(
        file: &GgufFile,
        arch: &str,
        rope_style: RopeStyle,
    ) -> Result<ModelConfig, ModelError> {
        let meta = Meta::new(file, arch);
        let n_embd = meta.req("embedding_length")?;
        let n_head = meta.req("attention.head_count")?;
        let n_head_kv = meta.opt("attention.head_count_kv")?.unwrap_or(n_head);
        meta.check(
            "attention.head_count_kv",
            n_head % n_head_kv == 0,
            &format!("{n_head} query heads cannot be shared among {n_head_kv} key/value heads"),
        )?;
        let head_dim = meta.opt("attention.key_length")?.unwrap_or(n_embd / n_head);
        let v_dim = meta.opt("attention.value_length")?.unwrap_or(head_dim);
        meta.check(
            "attention.value_length",
            v_dim == head_dim,
            "value heads must be as wide as key heads",
        )?;
        let n_rot = meta.opt("rope.dimension_count")?.unwrap_or(head_dim);
        meta.check(
            "rope.dimension_count",
            n_rot % 2 == 0 && n_rot <= head_dim,
            &format!("must be even and at most the head width {head_dim}"),
        )?;
        let rms_eps = meta
            .f32_opt("attention.layer_norm_rms_epsilon")?
            .ok_or_else(|| {
                ModelError::MissingKey(format!("{arch}.attention.layer_norm_rms_epsilon"))
            })?;
        let rope_scale = match meta.str_opt("rope.scaling.type")? {
            None | Some("none") => 1.0,
            Some("linear") => {
                let factor = meta.f32_opt("rope.scaling.factor")?.unwrap_or(1.0);
                meta.check("rope.scaling.factor", factor > 0.0, "must be positive")?;
                1.0 / factor
            }
            Some(other) => {
                return Err(ModelError::BadKey {
                    key: format!("{arch}.rope.scaling.type"),
                    detail: format!("unsupported RoPE scaling `{other}` (supported: none, linear)"),
                })
            }
        };
        let embd = file
            .tensor("token_embd.weight")
            .ok_or_else(|| ModelError::MissingTensor("token_embd.weight".into()))?;
        if embd.dims.len() != 2 || embd.dims[0] != n_embd as u64 || embd.dims[1] == 0 {
            return Err(ModelError::TensorShape {
                name: "token_embd.weight".into(),
                expected: vec![n_embd as u64, embd.dims.get(1).copied().unwrap_or(0).max(1)],
                found: embd.dims.clone(),
            });
        }
        Ok(ModelConfig {
            architecture: arch.to_owned(),
            n_vocab: embd.dims[1] as usize,
            n_embd,
            n_layer: meta.req("block_count")?,
            n_head,
            n_head_kv,
            head_dim,
            n_ff: meta.req("feed_forward_length")?,
            context_length: meta.req("context_length")?,
            rms_eps,
            rope_base: meta.f32_opt("rope.freq_base")?.unwrap_or(10_000.0),
            n_rot,
            rope_scale,
            rope_style,
            sliding_window: meta.opt("attention.sliding_window")?,
        })
    }
}

/// What each architecture file provides.
pub(crate) trait Architecture: Send + Sync + std::fmt::Debug {
    fn config(&self) -> &ModelConfig;
    /// Runs every layer over the (validated) batch, writing keys/values into `cache`;
    /// returns the final-normalised hidden states `[batch.len(), n_embd]`.
    fn hidden(&self, batch: &[BatchEntry], cache: &mut KvCache) -> Result<Vec<f32>, ModelError>;
    /// Logits `[n, n_vocab]` of `n` final hidden states.
    fn logits(&self, hidden: &[f32], n: usize) -> Result<Vec<f32>, ModelError>;
    /// Key and value widths of one cached position per layer.
    fn cache_widths(&self) -> (usize, usize) {
        let kv = self.config().kv_dim();
        (kv, kv)
    }
    /// The latent-attention and expert shape of a DeepSeek model.
    fn deepseek(&self) -> Option<&deepseek2::DeepSeekShape> {
        None
    }
}

/// A loaded model: weights stay in the memory-mapped file.
#[derive(Debug)]
pub struct Model {
    file: Arc<GgufFile>,
    arch: Box<dyn Architecture>,
}

impl Model {
    /// Builds the model `general.architecture` names, checking every tensor it needs.
    pub fn load(file: Arc<GgufFile>) -> Result<Model, ModelError> {
        crate::alloc::keep_freed_memory();
        let name = file
            .get_str("general.architecture")
            .ok_or_else(|| ModelError::MissingKey("general.architecture".into()))?;
        let w = Weights::new(&file);
        let arch: Box<dyn Architecture> = match name {
            "gemma3" => Box::new(gemma3::Gemma3::load(&file, &w)?),
            "qwen2" => Box::new(qwen2::Qwen2::load(&file, &w)?),
            "qwen3" => Box::new(qwen3::Qwen3::load(&file, &w)?),
            "llama" => Box::new(llama::Llama::load(&file, &w)?),
            "deepseek2" => Box::new(deepseek2::DeepSeek2::load(&file, &w)?),
            other => return Err(ModelError::UnsupportedArchitecture(other.to_owned())),
        };
        Ok(Model { file, arch })
    }

    /// Reads a GGUF file into memory (see [`GgufFile::open_for_kernels`]) and loads it.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Model, ModelError> {
        let file = GgufFile::open_for_kernels(path)?;
        Model::load(Arc::new(file))
    }

    pub fn config(&self) -> &ModelConfig {
        self.arch.config()
    }

    /// The attention and expert shape, for DeepSeek (`deepseek2`) models.
    pub fn deepseek_shape(&self) -> Option<&deepseek2::DeepSeekShape> {
        self.arch.deepseek()
    }

    /// Bytes one cached position of one sequence takes (f16 keys and values, all
    /// layers).
    pub fn cache_bytes_per_token(&self) -> usize {
        let (k, v) = self.arch.cache_widths();
        self.config().n_layer * (k + v) * 2
    }

    /// The file the weights live in (for the tokenizer and chat template).
    pub fn file(&self) -> &Arc<GgufFile> {
        &self.file
    }

    /// An empty cache for `max_seqs` sequences of up to `max_len` positions each.
    /// Memory is allocated as sequences grow.
    pub fn new_cache(&self, max_seqs: usize, max_len: usize) -> KvCache {
        let (k, v) = self.arch.cache_widths();
        KvCache::with_widths(self.config().n_layer, k, v, max_seqs, max_len)
    }

    /// Runs one batch (see [`BatchEntry`]) and returns the logits (`n_vocab` each) of the
    /// entries that want them, in batch order. On success every slot in the batch has
    /// grown by its number of entries; on error the cache lengths are unchanged.
    pub fn forward(
        &self,
        batch: &[BatchEntry],
        cache: &mut KvCache,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let ends = self.validate(batch, cache)?;
        let clock = crate::profile::start();
        let hidden = self.arch.hidden(batch, cache)?;
        for (slot, len) in ends {
            cache.commit(slot, len);
        }

        let n_embd = self.config().n_embd;
        let mut picked = Vec::new();
        for (i, e) in batch.iter().enumerate() {
            if e.want_logits {
                picked.extend_from_slice(&hidden[i * n_embd..(i + 1) * n_embd]);
            }
        }
        let n = picked.len() / n_embd;
        if n == 0 {
            crate::profile::record(|| "forward".into(), clock, 0.0);
            return Ok(Vec::new());
        }
        let logits = self.arch.logits(&picked, n)?;
        crate::profile::record(|| "forward".into(), clock, 0.0);
        Ok(logits
            .chunks_exact(self.config().n_vocab)
            .map(<[f32]>::to_vec)
            .collect())
    }

    /// Checks tokens, slots and positions; returns each slot's length after the batch.
    fn validate(
        &self,
        batch: &[BatchEntry],
        cache: &KvCache,
    ) -> Result<Vec<(usize, usize)>, ModelError> {
        let c = self.config();
        let widths = self.arch.cache_widths();
        if cache.n_layer() != c.n_layer || cache.widths() != widths {
            return Err(ModelError::CacheShape(format!(
                "cache has {} layers of (key, value) widths {:?}, model needs {} of {:?}",
                cache.n_layer(),
                cache.widths(),
                c.n_layer,
                widths
            )));
        }
        let mut ends: Vec<(usize, usize)> = Vec::new();
        for (index, e) in batch.iter().enumerate() {
            let bad = |detail: String| ModelError::BadBatch { index, detail };
            if e.token as usize >= c.n_vocab {
                return Err(bad(format!(
                    "token {} is outside the vocabulary of {}",
                    e.token, c.n_vocab
                )));
            }
            let k = match ends.iter().position(|&(s, _)| s == e.slot) {
                Some(k) => k,
                None => {
                    cache.check_room(e.slot, 0)?;
                    ends.push((e.slot, cache.len(e.slot)));
                    ends.len() - 1
                }
            };
            let end = &mut ends[k].1;
            if e.pos != *end {
                return Err(bad(format!(
                    "slot {} expects position {}, got {}",
                    e.slot, *end, e.pos
                )));
            }
            *end += 1;
            cache.check_room(e.slot, *end)?;
        }
        Ok(ends)
    }
}
