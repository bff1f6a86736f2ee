//! Causal self-attention over the key/value cache, with grouped-query heads,
//! optional per-head Q/K RMSNorm and an optional sliding window.
//!
//! One call processes a whole batch: the projections run as one matrix product over
//! every entry (weights are read once), each entry's key/value is appended to its
//! slot's cache, and only then does each entry attend, over its own slot's positions
//! up to and including its own. Entries of one slot see each other causally because
//! they were all written before any attends.

use rayon::prelude::*;

use super::layers::{Linear, RmsNorm, Rope};
use super::{BatchEntry, ModelError};
use crate::kv_cache::KvCache;
use crate::model::half;

/// The attention sub-layer of one transformer block.
#[derive(Debug, Clone)]
pub struct SelfAttention {
    /// `[n_head * head_dim, n_embd]`
    pub wq: Linear,
    /// `[n_head_kv * head_dim, n_embd]`
    pub wk: Linear,
    /// `[n_head_kv * head_dim, n_embd]`
    pub wv: Linear,
    /// `[n_embd, n_head * head_dim]`
    pub wo: Linear,
    /// RMSNorm over each query head before RoPE (`[head_dim]`), if the model has one.
    pub q_norm: Option<RmsNorm>,
    /// RMSNorm over each key head before RoPE.
    pub k_norm: Option<RmsNorm>,
    pub rope: Rope,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    /// Multiplies `q . k` before the softmax.
    pub scale: f32,
    /// Attend only to the last `window` positions (the entry's own included).
    pub window: Option<usize>,
}

impl SelfAttention {
    /// `x: [n, n_embd]` (already normalised) -> `[n, n_embd]`, writing keys/values of
    /// `layer` into `cache`. The caller has validated slots and positions.
    pub fn forward(
        &self,
        layer: usize,
        x: &[f32],
        batch: &[BatchEntry],
        cache: &mut KvCache,
    ) -> Result<Vec<f32>, ModelError> {
        let n = batch.len();
        let hd = self.head_dim;
        let mut q = self.wq.apply(x, n)?; // [n, n_head * hd]
        let mut k = self.wk.apply(x, n)?; // [n, n_head_kv * hd]
        let v = self.wv.apply(x, n)?; // [n, n_head_kv * hd]
        if let Some(norm) = &self.q_norm {
            norm.apply(&mut q);
        }
        if let Some(norm) = &self.k_norm {
            norm.apply(&mut k);
        }
        let q_width = self.n_head * hd;
        let kv_width = self.n_head_kv * hd;
        for (i, e) in batch.iter().enumerate() {
            let (cos, sin) = self.rope.table(e.pos);
            self.rope
                .apply(&mut q[i * q_width..(i + 1) * q_width], hd, &cos, &sin);
            let k_row = &mut k[i * kv_width..(i + 1) * kv_width];
            self.rope.apply(k_row, hd, &cos, &sin);
            cache.write(
                layer,
                e.slot,
                e.pos,
                k_row,
                &v[i * kv_width..(i + 1) * kv_width],
            );
        }

        // One task per (entry, query head); both cores share the heads of a decode step.
        let clock = crate::profile::start();
        let mut out = vec![0.0f32; n * q_width];
        let cache: &KvCache = cache;
        let group = self.n_head / self.n_head_kv;
        out.par_chunks_mut(hd).enumerate().for_each(|(i, o)| {
            let (e, h) = (i / self.n_head, i % self.n_head);
            let entry = &batch[e];
            let q_head = &q[e * q_width + h * hd..][..hd];
            let head = HeadSlice {
                width: kv_width,
                off: (h / group) * hd,
                len: hd,
            };
            let lo = self.window.map_or(0, |w| (entry.pos + 1).saturating_sub(w));
            attend(
                q_head,
                (cache.keys(layer, entry.slot), head),
                (cache.values(layer, entry.slot), head),
                lo..entry.pos + 1,
                self.scale,
                o,
            );
        });
        let positions: usize = batch.iter().map(|e| e.pos + 1).sum();
        crate::profile::record(
            || "attention".into(),
            clock,
            4.0 * (positions * self.n_head * hd) as f64,
        );
        self.wo.apply(&out, n)
    }
}

/// Where one head's keys (or values) sit in the cache: `len` values at `off` within
/// each `width`-wide cached row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadSlice {
    pub width: usize,
    pub off: usize,
    pub len: usize,
}

impl HeadSlice {
    fn row(self, data: &[u16], t: usize) -> &[u16] {
        &data[t * self.width + self.off..][..self.len]
    }
}

/// Softmax attention of one query head over the cached `positions`: scores against
/// the keys `k` (as wide as `q`), weights applied to the values `v` (as wide as `out`).
///
/// Follows the rounding of ggml's CPU flash attention over an f16 cache (llama.cpp's
/// default): the query is rounded to f16, each score `q . k` is accumulated in f32, the
/// softmax runs online in f32 (running maximum `m`, running sum `s`), and the weighted
/// sum of values is kept in an f16 accumulator (rescaled in f16 whenever the maximum
/// grows) until the final division by `s`.
pub(crate) fn attend(
    q: &[f32],
    (keys, k): (&[u16], HeadSlice),
    (values, v): (&[u16], HeadSlice),
    positions: impl IntoIterator<Item = usize>,
    scale: f32,
    out: &mut [f32],
) {
    debug_assert!(q.len() == k.len && out.len() == v.len);
    let q16: Vec<f32> = q.iter().map(|&x| half::to_f32(half::from_f32(x))).collect();
    let mut acc = vec![0u16; out.len()];
    let mut max = f32::NEG_INFINITY;
    let mut sum = 0.0f32;
    for t in positions {
        let s = half::dot(&q16, k.row(keys, t)) * scale;
        let mut weight = 1.0f32;
        if s > max {
            let grow = (max - s).exp();
            max = s;
            half::scale_f16(&mut acc, grow);
            sum *= grow;
        } else {
            weight = (s - max).exp();
        }
        half::axpy_f16(&mut acc, weight, v.row(values, t));
        sum += weight;
    }
    let inv = if sum == 0.0 { 0.0 } else { 1.0 / sum };
    for (o, &a) in out.iter_mut().zip(&acc) {
        *o = half::to_f32(a) * inv;
    }
}
