//! Causal self-attention over the key/value cache, with grouped-query heads,
//! optional per-head Q/K RMSNorm and an optional sliding window.
//!
//! One call processes a whole batch: the projections run as one matrix product over
//! every entry (weights are read once), each entry's key/value is appended to its
//! slot's cache, and only then does each entry attend, over its own slot's positions
//! up to and including its own. Entries of one slot see each other causally because
//! they were all written before any attends.

use super::attend::{attend_heads, head_tiles, HeadSlice, MAX_HEADS};
use super::layers::{Linear, RmsNorm, Rope};
use super::{BatchEntry, ModelError};
use crate::kv_cache::KvCache;

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
        let clock = crate::profile::start();
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
        crate::profile::record(|| "rope + cache write".into(), clock, 0.0);

        // One task per (entry, cached head, tile of its query heads): the query heads
        // of a group read each cached row once. Groups split into smaller tiles when
        // there are too few tasks to keep every core busy (one sequence decoding).
        let clock = crate::profile::start();
        let mut out = vec![0.0f32; n * q_width];
        let cache: &KvCache = cache;
        let group = self.n_head / self.n_head_kv;
        let tasks = n * self.n_head_kv;
        let split = (2 * gguf::pool::threads()).div_ceil(tasks).max(1);
        let per = group.div_ceil(split).min(MAX_HEADS);
        // Task `t` is tile `t % tiles` of (entry, cached head) `t / tiles`.
        let (tiles, ranges) = head_tiles(tasks, group, per, hd);
        gguf::pool::for_each_range_mut(&mut out, &ranges, |t, o| {
            let i = t / tiles;
            let (e, g) = (i / self.n_head_kv, i % self.n_head_kv);
            let entry = &batch[e];
            let first = g * group + t % tiles * per;
            let q = &q[e * q_width + first * hd..][..o.len()];
            let head = HeadSlice {
                width: kv_width,
                off: g * hd,
                len: hd,
            };
            let keys = (cache.keys(layer, entry.slot), head);
            let values = (cache.values(layer, entry.slot), head);
            let lo = self.window.map_or(0, |w| (entry.pos + 1).saturating_sub(w));
            attend_heads(q, keys, values, lo..entry.pos + 1, self.scale, o)
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
