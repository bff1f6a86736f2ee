//! DeepSeek-V2 and V3 (`general.architecture = deepseek2`): multi-head latent
//! attention (MLA) and DeepSeekMoE.
//!
//! Shapes: `d = n_embd`, `H` heads; a query/key head is `c = c_n + c_r` wide (a part
//! without position, `c_n`, and a rotated part, `c_r = rope.dimension_count`), a value
//! head `c_v` wide; `r` is the latent rank (`attention.kv_lora_rank`), `r_q` the query
//! rank (`attention.q_lora_rank`; the Lite models have none). For tokens `t` at
//! positions `p`:
//!
//! ```text
//! x = E[t]                                                        [d]
//! for each layer l:
//!     h = RMSNorm_attn(x)
//!     q = W_qb RMSNorm_qa(W_qa h)      (q = W_q h without r_q)    [H, c_n + c_r]
//!     [z | k_r] = W_kva h;   z = RMSNorm_kva(z)                    [r], [c_r]
//!     q_r, k_r = RoPE(q_r, k_r, p)     adjacent pairs, YaRN when scaled; one k_r for all heads
//!     cache[p] = [z | k_r]                                          r + c_r values
//!     per head i:  q~_i = W_kb[i] q_n,i                             [r]   (absorbed key map)
//!                  o_i  = softmax_j(([q~_i | q_r,i] . cache[j]) * s) z_j   [r]
//!                  u_i  = W_vb[i] o_i                                [c_v] (absorbed value map)
//!     x = x + W_o [u_1 .. u_H]
//!     h = RMSNorm_ffn(x)
//!     layers l < leading_dense_block_count:  x = x + W_down(silu(W_gate h) * W_up h)
//!     other layers (DeepSeekMoE):
//!         g = softmax(W_router h)  or  sigmoid(W_router h)          [n_expert]
//!         E = top-k experts by g (+ b, the expert bias, where present), among the
//!             top groups when the file groups experts
//!         w_e = g_e (/ sum over E when expert_weights_norm) * expert_weights_scale
//!         x = x + sum_{e in E} w_e FFN_e(h) + FFN_shared(h)
//! logits = W_out RMSNorm_out(x)
//! ```
//!
//! The key of head `i` in the original model is `[W_kb[i]^T z | k_r]` and its value
//! `W_vb[i]^T`-mapped `z`; multiplying the maps into the query and output sides
//! ("absorbing" them) gives the same scores and outputs while the cache holds only
//! `r + c_r` values per position and layer (576 for DeepSeek-V2/V3) instead of
//! `H * (c + c_v)` (40,960 for V3): the attention is multi-query attention over the
//! latent, with values read from the first `r` entries of each key.
//! `s = mscale^2 / sqrt(c)`, where YaRN's `mscale = a * (1 + m * ln(factor))` with `m` the
//! file's `rope.scaling.yarn_log_multiplier` (0.0707 for DeepSeek-V2: 0.1 times its
//! `mscale_all_dim`) and `a` its `rope.scaling.attn_factor` (default 1); without YaRN
//! `mscale = 1`.
//!
//! Files converted for MLA carry the per-head maps as `attn_k_b` (`[c_n, r, H]`) and
//! `attn_v_b` (`[r, c_v, H]`); older files carry `attn_kv_b` (`[r, H * (c_n + c_v)]`),
//! whose value rows are used in place and whose key rows are transposed once at load.
//! Experts stay quantized in the mapped file: a batch groups its tokens by expert, so
//! each chosen expert's weights are read once per pass and unchosen ones not at all.
//!
//! Where sparse attention goes: DeepSeek-V3.2 puts a token-selection stage (the
//! lightning indexer) in front of the attention; [`LatentAttention::forward`] takes
//! the positions each query attends to from [`LatentAttention::positions`], which is
//! the one place such a stage plugs in.

use std::sync::Arc;

use gguf::{GgmlType, GgufFile, GgufWriter};

use super::attend::{attend_heads, head_tiles, HeadSlice, MAX_HEADS};
use super::layers::{
    add_assign, embed, Activation, GatedMlp, Linear, RmsNorm, Rope, RopeStyle, Yarn,
};
use super::loader::{blk, Meta, Weights};
use super::{Architecture, BatchEntry, KvCache, ModelConfig, ModelError};

const ARCH: &str = "deepseek2";

/// The attention and expert shape of a file, beyond [`ModelConfig`].
#[derive(Debug, Clone, PartialEq)]
pub struct DeepSeekShape {
    /// Query rank `r_q` (`None`: queries come straight from `attn_q`).
    pub q_lora_rank: Option<usize>,
    /// Latent rank `r`.
    pub kv_lora_rank: usize,
    /// Width of the unrotated part of a query/key head, `c_n`.
    pub qk_nope_dim: usize,
    /// Width of the rotated part, `c_r`.
    pub qk_rope_dim: usize,
    /// Width of a value head, `c_v`.
    pub v_head_dim: usize,
    /// Layers before the first mixture-of-experts layer.
    pub n_dense_layers: usize,
    pub n_expert: usize,
    pub n_expert_used: usize,
    pub n_expert_shared: usize,
    /// Hidden width of one expert.
    pub n_ff_expert: usize,
    pub gating: Gating,
    /// Normalise the chosen experts' weights to sum to 1.
    pub weights_norm: bool,
    /// Multiplies the chosen experts' weights (DeepSeek-V3's routed scaling factor).
    pub weights_scale: f32,
    /// Expert groups and how many of them a token may use (1 and 1: no grouping).
    pub n_group: usize,
    pub n_group_used: usize,
}

/// How router logits become expert weights (`expert_gating_func`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gating {
    /// 1: softmax over all experts (DeepSeek-V2).
    Softmax,
    /// 2: an independent sigmoid per expert (DeepSeek-V3).
    Sigmoid,
}

impl DeepSeekShape {
    /// Cache values per position per layer: the latent and the rotated key.
    pub fn cache_width(&self) -> usize {
        self.kv_lora_rank + self.qk_rope_dim
    }

    fn read(meta: &Meta, config: &ModelConfig) -> Result<DeepSeekShape, ModelError> {
        let kv_lora_rank = meta.req("attention.kv_lora_rank")?;
        let qk_rope_dim = config.n_rot;
        // MLA conversions give the decompressed head widths under `*_mla` and the
        // cached ones (`r + c_r`, `r`) under the plain keys.
        let k_len = match meta.opt("attention.key_length_mla")? {
            Some(k) => k,
            None => meta.req("attention.key_length")?,
        };
        let v_head_dim = match meta.opt("attention.value_length_mla")? {
            Some(v) => v,
            None => meta.req("attention.value_length")?,
        };
        meta.check(
            "attention.key_length",
            k_len > qk_rope_dim,
            &format!("a key head must be wider than its rotated part ({qk_rope_dim})"),
        )?;
        let gating = match meta.count_opt("expert_gating_func")? {
            None | Some(0) | Some(1) => Gating::Softmax,
            Some(2) => Gating::Sigmoid,
            Some(other) => {
                return Err(ModelError::BadKey {
                    key: format!("{ARCH}.expert_gating_func"),
                    detail: format!("unsupported gating function {other} (1 softmax, 2 sigmoid)"),
                })
            }
        };
        let n_expert = meta.req("expert_count")?;
        let n_expert_used = meta.req("expert_used_count")?;
        meta.check(
            "expert_used_count",
            n_expert_used <= n_expert,
            &format!("more experts used than the {n_expert} there are"),
        )?;
        let n_group = meta.count_opt("expert_group_count")?.unwrap_or(1).max(1);
        let n_group_used = meta
            .count_opt("expert_group_used_count")?
            .unwrap_or(n_group)
            .max(1);
        meta.check(
            "expert_group_count",
            n_expert % n_group == 0 && n_group_used <= n_group,
            &format!(
                "{n_expert} experts cannot form {n_group} groups of which {n_group_used} are used"
            ),
        )?;
        Ok(DeepSeekShape {
            q_lora_rank: meta.count_opt("attention.q_lora_rank")?.filter(|&r| r > 0),
            kv_lora_rank,
            qk_nope_dim: k_len - qk_rope_dim,
            qk_rope_dim,
            v_head_dim,
            n_dense_layers: meta.count_opt("leading_dense_block_count")?.unwrap_or(0),
            n_expert,
            n_expert_used,
            n_expert_shared: meta.count_opt("expert_shared_count")?.unwrap_or(0),
            n_ff_expert: meta.req("expert_feed_forward_length")?,
            gating,
            weights_norm: meta.bool_opt("expert_weights_norm")?.unwrap_or(false),
            weights_scale: meta.f32_opt("expert_weights_scale")?.unwrap_or(1.0),
            n_group,
            n_group_used,
        })
    }
}

/// Multi-head latent attention of one layer, in absorbed form.
#[derive(Debug)]
struct LatentAttention {
    /// `W_qa` and its norm, then `W_qb` (`[H * c, r_q]`); or `W_q` alone.
    q_a: Option<(Linear, RmsNorm)>,
    q: Linear,
    /// `[r + c_r, d]`
    kv_a: Linear,
    kv_a_norm: RmsNorm,
    /// Per head: `[r, c_n]` (query side of the key map) and `[c_v, r]` (value map).
    k_b: Vec<Linear>,
    v_b: Vec<Linear>,
    /// `[d, H * c_v]`
    wo: Linear,
    rope: Rope,
    n_head: usize,
    scale: f32,
}

/// Gathers `len` values at `off` of every `stride`-wide chunk `i` of each row:
/// `[n, chunks * stride]` -> `[n, len]` for chunk `i`.
fn gather(
    x: &[f32],
    n: usize,
    stride: usize,
    chunks: usize,
    i: usize,
    off: usize,
    len: usize,
) -> Vec<f32> {
    let row = stride * chunks;
    let mut out = Vec::with_capacity(n * len);
    for t in 0..n {
        out.extend_from_slice(&x[t * row + i * stride + off..][..len]);
    }
    out
}

impl LatentAttention {
    /// Positions entry `e` attends to: every cached position of its slot up to its own.
    /// A sparse-attention stage (DeepSeek-V3.2's indexer) would choose a subset here.
    fn positions(entry: &BatchEntry) -> std::ops::Range<usize> {
        0..entry.pos + 1
    }

    fn forward(
        &self,
        shape: &DeepSeekShape,
        layer: usize,
        x: &[f32],
        batch: &[BatchEntry],
        cache: &mut KvCache,
    ) -> Result<Vec<f32>, ModelError> {
        let n = batch.len();
        let (h_n, r, c_n, c_r, c_v) = (
            self.n_head,
            shape.kv_lora_rank,
            shape.qk_nope_dim,
            shape.qk_rope_dim,
            shape.v_head_dim,
        );
        let c = c_n + c_r;
        let width = r + c_r;
        let mut q = match &self.q_a {
            Some((q_a, norm)) => {
                let mut a = q_a.apply(x, n)?;
                norm.apply(&mut a);
                self.q.apply(&a, n)?
            }
            None => self.q.apply(x, n)?,
        }; // [n, H * c]
        let mut kv = self.kv_a.apply(x, n)?; // [n, r + c_r]
        for (i, e) in batch.iter().enumerate() {
            let (cos, sin) = self.rope.table(e.pos);
            for h in 0..h_n {
                let head = &mut q[(i * h_n + h) * c + c_n..][..c_r];
                self.rope.apply(head, c_r, &cos, &sin);
            }
            let row = &mut kv[i * width..(i + 1) * width];
            let (z, k_r) = row.split_at_mut(r);
            self.rope.apply(k_r, c_r, &cos, &sin);
            self.kv_a_norm.apply(z);
            cache.write(layer, e.slot, e.pos, row, &[]);
        }

        // Absorbed queries [n, H, r + c_r]: the key map applied to the unrotated part.
        let mut q_abs = vec![0.0f32; n * h_n * width];
        for h in 0..h_n {
            let q_n = gather(&q, n, c, h_n, h, 0, c_n);
            let a = self.k_b[h].apply(&q_n, n)?;
            for t in 0..n {
                let dst = &mut q_abs[(t * h_n + h) * width..][..width];
                dst[..r].copy_from_slice(&a[t * r..(t + 1) * r]);
                dst[r..].copy_from_slice(&q[(t * h_n + h) * c + c_n..][..c_r]);
            }
        }

        let clock = crate::profile::start();
        let mut o = vec![0.0f32; n * h_n * r];
        let cache: &KvCache = cache;
        let key = HeadSlice {
            width,
            off: 0,
            len: width,
        };
        let value = HeadSlice {
            width,
            off: 0,
            len: r,
        };
        // Every head reads the one cached latent: a task per entry and tile of heads.
        let per = h_n.min(MAX_HEADS);
        // Task `t` is tile `t % tiles` of entry `t / tiles`.
        let (tiles, ranges) = head_tiles(n, h_n, per, r);
        gguf::pool::for_each_range_mut(&mut o, &ranges, |t, out| {
            let entry = &batch[t / tiles];
            let keys = cache.keys(layer, entry.slot);
            let first = ranges[t].start / r;
            let q = &q_abs[first * width..][..out.len() / r * width];
            attend_heads(
                q,
                (keys, key),
                (keys, value),
                Self::positions(entry),
                self.scale,
                out,
            )
        });
        let positions: usize = batch.iter().map(|e| e.pos + 1).sum();
        crate::profile::record(
            || "attention".into(),
            clock,
            2.0 * (positions * h_n * (width + r)) as f64,
        );

        // The value map per head, then the output projection.
        let mut u = vec![0.0f32; n * h_n * c_v];
        for h in 0..h_n {
            let o_h = gather(&o, n, r, h_n, h, 0, r);
            let v = self.v_b[h].apply(&o_h, n)?;
            for t in 0..n {
                u[(t * h_n + h) * c_v..][..c_v].copy_from_slice(&v[t * c_v..(t + 1) * c_v]);
            }
        }
        self.wo.apply(&u, n)
    }
}

/// The routed and shared experts of one layer.
#[derive(Debug)]
struct Moe {
    /// `[n_expert, d]`
    router: Linear,
    /// Added to the router's probabilities when choosing (not when weighting).
    bias: Option<Vec<f32>>,
    experts: Vec<GatedMlp>,
    shared: Option<GatedMlp>,
}

impl Moe {
    /// The experts chosen for one token and their weights, best first.
    fn route(&self, s: &DeepSeekShape, logits: &[f32]) -> Vec<(usize, f32)> {
        let probs: Vec<f32> = match s.gating {
            Gating::Softmax => {
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exps: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
                let sum: f64 = exps.iter().map(|&e| f64::from(e)).sum();
                let inv = (1.0 / sum) as f32;
                exps.iter().map(|&e| e * inv).collect()
            }
            Gating::Sigmoid => logits.iter().map(|&l| 1.0 / (1.0 + (-l).exp())).collect(),
        };
        let mut choose: Vec<f32> = match &self.bias {
            Some(b) => probs.iter().zip(b).map(|(p, b)| p + b).collect(),
            None => probs.clone(),
        };
        if s.n_group > 1 && s.n_group_used < s.n_group {
            // A group scores the sum of its two best experts; only the best groups stay.
            let per = s.n_expert / s.n_group;
            let mut scores: Vec<(usize, f32)> = choose
                .chunks_exact(per)
                .map(|g| {
                    let mut top = g.to_vec();
                    top.sort_by(|a, b| b.total_cmp(a));
                    top.iter().take(2).sum()
                })
                .enumerate()
                .collect();
            scores.sort_by(|a, b| b.1.total_cmp(&a.1));
            for &(g, _) in &scores[s.n_group_used..] {
                choose[g * per..(g + 1) * per].fill(f32::NEG_INFINITY);
            }
        }
        let mut order: Vec<usize> = (0..s.n_expert).collect();
        order.sort_by(|&a, &b| choose[b].total_cmp(&choose[a]));
        order.truncate(s.n_expert_used);
        let mut chosen: Vec<(usize, f32)> = order.into_iter().map(|e| (e, probs[e])).collect();
        if s.weights_norm {
            let sum: f32 = chosen.iter().map(|c| c.1).sum();
            let sum = sum.max(6.103_515_6e-5);
            chosen.iter_mut().for_each(|c| c.1 /= sum);
        }
        if s.weights_scale != 1.0 && s.weights_scale != 0.0 {
            chosen.iter_mut().for_each(|c| c.1 *= s.weights_scale);
        }
        chosen
    }

    /// `h: [n, d]` -> `[n, d]`. Tokens are grouped by expert, so each chosen expert
    /// runs once over all of its tokens.
    fn forward(&self, s: &DeepSeekShape, h: &[f32], n: usize) -> Result<Vec<f32>, ModelError> {
        let d = h.len() / n;
        let logits = self.router.apply(h, n)?;
        let routes: Vec<Vec<(usize, f32)>> = logits
            .chunks_exact(s.n_expert)
            .map(|l| self.route(s, l))
            .collect();
        let k = s.n_expert_used;
        // Each token's weighted expert outputs, kept per rank so that they are summed in
        // rank order whatever order the experts ran in.
        let mut parts = vec![0.0f32; n * k * d];
        let mut tokens: Vec<Vec<(usize, usize, f32)>> = vec![Vec::new(); s.n_expert];
        for (t, route) in routes.iter().enumerate() {
            for (rank, &(e, w)) in route.iter().enumerate() {
                tokens[e].push((t, rank, w));
            }
        }
        for (e, users) in tokens.iter().enumerate() {
            if users.is_empty() {
                continue;
            }
            let mut x = Vec::with_capacity(users.len() * d);
            for &(t, _, _) in users {
                x.extend_from_slice(&h[t * d..(t + 1) * d]);
            }
            let y = self.experts[e].forward(&x, users.len())?;
            for (row, &(t, rank, w)) in y.chunks_exact(d).zip(users) {
                let dst = &mut parts[(t * k + rank) * d..][..d];
                for (o, v) in dst.iter_mut().zip(row) {
                    *o = v * w;
                }
            }
        }
        let mut out = vec![0.0f32; n * d];
        for (t, o) in out.chunks_exact_mut(d).enumerate() {
            for rank in 0..k {
                add_assign(o, &parts[(t * k + rank) * d..][..d]);
            }
        }
        if let Some(shared) = &self.shared {
            add_assign(&mut out, &shared.forward(h, n)?);
        }
        Ok(out)
    }
}

#[derive(Debug)]
enum Ffn {
    Dense(GatedMlp),
    Moe(Moe),
}

#[derive(Debug)]
struct Block {
    attn_norm: RmsNorm,
    attn: LatentAttention,
    ffn_norm: RmsNorm,
    ffn: Ffn,
}

/// A loaded DeepSeek-V2/V3 model.
#[derive(Debug)]
pub struct DeepSeek2 {
    config: ModelConfig,
    shape: DeepSeekShape,
    embd: Linear,
    layers: Vec<Block>,
    output_norm: RmsNorm,
    output: Linear,
}

/// YaRN settings of the file: the RoPE position scale and the rotation.
fn read_rope(meta: &Meta, n_rot: usize, base: f32) -> Result<(f32, Rope, f32), ModelError> {
    match meta.str_opt("rope.scaling.type")? {
        None | Some("none") => Ok((
            1.0,
            Rope::new(RopeStyle::Normal, n_rot, base, 1.0, None),
            1.0,
        )),
        Some("yarn") => {
            let factor = meta.f32_opt("rope.scaling.factor")?.unwrap_or(1.0);
            meta.check("rope.scaling.factor", factor >= 1.0, "must be at least 1")?;
            let n_ctx_orig = meta.req("rope.scaling.original_context_length")?;
            let log_mul = meta
                .f32_opt("rope.scaling.yarn_log_multiplier")?
                .unwrap_or(0.0);
            let scale = 1.0 / factor;
            // ggml scales cosines and sines by `attn_factor * (1 + 0.1 ln factor)`, and
            // llama.cpp passes `attn_factor = 1 / (1 + 0.1 ln factor)` for this
            // architecture, so that the rotation keeps its length; the YaRN magnitude
            // correction goes into the attention scale instead.
            let grow = 1.0 + 0.1 * (1.0 / scale).ln();
            let yarn = Yarn::new(n_rot, base, n_ctx_orig, (1.0 / grow) * grow);
            let attn_factor = meta.f32_opt("rope.scaling.attn_factor")?.unwrap_or(1.0);
            let mscale = attn_factor * (1.0 + log_mul * (1.0 / scale).ln());
            let rope = Rope::new(RopeStyle::Normal, n_rot, base, scale, None).with_yarn(yarn);
            Ok((scale, rope, mscale))
        }
        Some(other) => Err(ModelError::BadKey {
            key: format!("{ARCH}.rope.scaling.type"),
            detail: format!("unsupported RoPE scaling `{other}` (supported: none, yarn)"),
        }),
    }
}

/// The transposed key rows of an `attn_kv_b` tensor, one `[r, c_n]` f32 matrix per
/// head, in an in-memory file so that they run through the same kernels.
fn transposed_key_maps(
    kv_b: &Linear,
    name: &str,
    s: &DeepSeekShape,
    n_head: usize,
) -> Result<Vec<Linear>, ModelError> {
    let (r, c_n, c_v) = (s.kv_lora_rank, s.qk_nope_dim, s.v_head_dim);
    let mut values = vec![0.0f32; n_head * r * c_n];
    let mut row = vec![0.0f32; r];
    for h in 0..n_head {
        for j in 0..c_n {
            kv_b.row(h * (c_n + c_v) + j, &mut row)?;
            for (i, &v) in row.iter().enumerate() {
                values[(h * r + i) * c_n + j] = v;
            }
        }
    }
    let mut w = GgufWriter::new();
    w.add_f32_tensor(
        name,
        &[c_n as u64, r as u64, n_head as u64],
        GgmlType::F32,
        &values,
    )?;
    let file = Arc::new(GgufFile::from_bytes(w.to_bytes()?)?);
    Weights::new(&file).stacked(name, c_n, r, n_head)
}

impl DeepSeek2 {
    pub(crate) fn load(file: &Arc<GgufFile>, w: &Weights) -> Result<DeepSeek2, ModelError> {
        let meta = Meta::new(file, ARCH);
        let n_embd = meta.req("embedding_length")?;
        let n_head = meta.req("attention.head_count")?;
        let n_rot = meta.req("rope.dimension_count")?;
        meta.check("rope.dimension_count", n_rot % 2 == 0, "must be even")?;
        let rms_eps = meta
            .f32_opt("attention.layer_norm_rms_epsilon")?
            .ok_or_else(|| {
                ModelError::MissingKey(format!("{ARCH}.attention.layer_norm_rms_epsilon"))
            })?;
        let rope_base = meta.f32_opt("rope.freq_base")?.unwrap_or(10_000.0);
        let (rope_scale, rope, mscale) = read_rope(&meta, n_rot, rope_base)?;
        let n_vocab = file
            .tensor("token_embd.weight")
            .and_then(|t| t.dims.get(1).copied())
            .ok_or_else(|| ModelError::MissingTensor("token_embd.weight".into()))?
            as usize;
        let mut config = ModelConfig {
            architecture: ARCH.to_owned(),
            n_vocab,
            n_embd,
            n_layer: meta.req("block_count")?,
            n_head,
            // One latent shared by every head: multi-query attention over the cache.
            n_head_kv: 1,
            head_dim: 0,
            n_ff: meta.req("feed_forward_length")?,
            context_length: meta.req("context_length")?,
            rms_eps,
            rope_base,
            n_rot,
            rope_scale,
            rope_style: RopeStyle::Normal,
            sliding_window: None,
        };
        let s = DeepSeekShape::read(&meta, &config)?;
        let c = s.qk_nope_dim + s.qk_rope_dim;
        config.head_dim = c;
        let (d, eps, r) = (n_embd, rms_eps, s.kv_lora_rank);
        let scale = mscale * mscale / (c as f32).sqrt();

        let mlp = |l: usize, suffix: &str, width: usize| -> Result<GatedMlp, ModelError> {
            Ok(GatedMlp {
                gate: w.matrix(&blk(l, &format!("ffn_gate{suffix}")), d, width)?,
                up: w.matrix(&blk(l, &format!("ffn_up{suffix}")), d, width)?,
                down: w.matrix(&blk(l, &format!("ffn_down{suffix}")), width, d)?,
                act: Activation::Silu,
            })
        };
        let mut layers = Vec::with_capacity(config.n_layer);
        for l in 0..config.n_layer {
            let q_a = if w.has(&blk(l, "attn_q_a")) {
                let rank = s.q_lora_rank.ok_or_else(|| {
                    ModelError::MissingKey(format!("{ARCH}.attention.q_lora_rank"))
                })?;
                Some((
                    w.matrix(&blk(l, "attn_q_a"), d, rank)?,
                    w.rms_norm(&blk(l, "attn_q_a_norm"), rank, eps)?,
                ))
            } else {
                None
            };
            let q = match &q_a {
                Some((a, _)) => w.matrix(&blk(l, "attn_q_b"), a.rows(), n_head * c)?,
                None => w.matrix(&blk(l, "attn_q"), d, n_head * c)?,
            };
            let (k_b, v_b) = if w.has(&blk(l, "attn_k_b")) {
                (
                    w.stacked(&blk(l, "attn_k_b"), s.qk_nope_dim, r, n_head)?,
                    w.stacked(&blk(l, "attn_v_b"), r, s.v_head_dim, n_head)?,
                )
            } else {
                let name = blk(l, "attn_kv_b");
                let kv_b = w.matrix(&name, r, n_head * (s.qk_nope_dim + s.v_head_dim))?;
                let v_b = (0..n_head)
                    .map(|h| {
                        kv_b.rows_slice(
                            h * (s.qk_nope_dim + s.v_head_dim) + s.qk_nope_dim,
                            s.v_head_dim,
                        )
                    })
                    .collect::<Result<_, _>>()?;
                (transposed_key_maps(&kv_b, &name, &s, n_head)?, v_b)
            };
            let attn = LatentAttention {
                q_a,
                q,
                kv_a: w.matrix(&blk(l, "attn_kv_a_mqa"), d, s.cache_width())?,
                kv_a_norm: w.rms_norm(&blk(l, "attn_kv_a_norm"), r, eps)?,
                k_b,
                v_b,
                wo: w.matrix(&blk(l, "attn_output"), n_head * s.v_head_dim, d)?,
                rope: rope.clone(),
                n_head,
                scale,
            };
            let ffn = if l < s.n_dense_layers {
                Ffn::Dense(mlp(l, "", config.n_ff)?)
            } else {
                let stacked = |name: &str, cols: usize, rows: usize| {
                    w.stacked(&blk(l, name), cols, rows, s.n_expert)
                };
                let gates = stacked("ffn_gate_exps", d, s.n_ff_expert)?;
                let ups = stacked("ffn_up_exps", d, s.n_ff_expert)?;
                let downs = stacked("ffn_down_exps", s.n_ff_expert, d)?;
                let experts = gates
                    .into_iter()
                    .zip(ups)
                    .zip(downs)
                    .map(|((gate, up), down)| GatedMlp {
                        gate,
                        up,
                        down,
                        act: Activation::Silu,
                    })
                    .collect();
                let bias_name = format!("blk.{l}.exp_probs_b.bias");
                Ffn::Moe(Moe {
                    router: w.matrix(&blk(l, "ffn_gate_inp"), d, s.n_expert)?,
                    bias: w.vector_opt(&bias_name, s.n_expert)?,
                    experts,
                    shared: if s.n_expert_shared > 0 {
                        Some(mlp(l, "_shexp", s.n_ff_expert * s.n_expert_shared)?)
                    } else {
                        None
                    },
                })
            };
            layers.push(Block {
                attn_norm: w.rms_norm(&blk(l, "attn_norm"), d, eps)?,
                attn,
                ffn_norm: w.rms_norm(&blk(l, "ffn_norm"), d, eps)?,
                ffn,
            });
        }
        let embd = w.matrix("token_embd.weight", d, n_vocab)?;
        let output = if w.has("output.weight") {
            w.matrix("output.weight", d, n_vocab)?
        } else {
            embd.clone()
        };
        Ok(DeepSeek2 {
            output_norm: w.rms_norm("output_norm.weight", d, eps)?,
            embd,
            output,
            layers,
            config,
            shape: s,
        })
    }
}

impl Architecture for DeepSeek2 {
    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn hidden(&self, batch: &[BatchEntry], cache: &mut KvCache) -> Result<Vec<f32>, ModelError> {
        let n = batch.len();
        let mut x = embed(&self.embd, batch.iter().map(|e| e.token), 1.0)?;
        for (l, b) in self.layers.iter().enumerate() {
            let h = b.attn_norm.forward(&x);
            let a = b.attn.forward(&self.shape, l, &h, batch, cache)?;
            add_assign(&mut x, &a);

            let h = b.ffn_norm.forward(&x);
            let f = match &b.ffn {
                Ffn::Dense(mlp) => mlp.forward(&h, n)?,
                Ffn::Moe(moe) => moe.forward(&self.shape, &h, n)?,
            };
            add_assign(&mut x, &f);
        }
        self.output_norm.apply(&mut x);
        Ok(x)
    }

    fn logits(&self, hidden: &[f32], n: usize) -> Result<Vec<f32>, ModelError> {
        self.output.apply(hidden, n)
    }

    fn cache_widths(&self) -> (usize, usize) {
        (self.shape.cache_width(), 0)
    }

    fn deepseek(&self) -> Option<&DeepSeekShape> {
        Some(&self.shape)
    }
}
