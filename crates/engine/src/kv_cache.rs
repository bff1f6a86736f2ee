//! Per-sequence key/value cache.
//!
//! A cache holds `max_seqs` independent slots. Each slot keeps, for every layer, the
//! keys and values of its positions `0..len` back to back: `[len, k_dim]` keys and
//! `[len, v_dim]` values (both `n_head_kv * head_dim` for ordinary attention). A cache
//! may hold no values at all (`v_dim = 0`): multi-head latent attention stores one
//! compressed latent per position and reads its values out of the keys.
//! Entries are stored as f16 bits: that is llama.cpp's default cache type, it halves
//! memory (a 4096-token Gemma 3 270M sequence needs 75 MB instead of 151 MB) and the
//! bytes attention streams, and the f32 -> f16 rounding of keys/values costs far less
//! accuracy than the 4-bit weights do.
//!
//! Memory grows with use: a slot allocates in steps of [`GROW_STEP`] positions, never
//! beyond `max_len`, so a cache sized for long sequences costs nothing until it fills.
//!
//! Prompt sharing: [`KvCache::copy_prefix`] copies a prefix from one slot into another.
//! Prefill a shared prompt once, then copy it to the other samples' slots; copying is a
//! memcpy, orders of magnitude cheaper than recomputing the prompt. (Sharing blocks
//! between slots would save the memory of the copies, at the price of reference
//! counting and copy-on-write; with the small models run here the copy is simpler.)

use crate::model::half;

/// Positions allocated at a time when a slot grows.
pub const GROW_STEP: usize = 256;

/// Errors from cache bookkeeping requested by the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CacheError {
    #[error("cache slot {slot} out of range (the cache has {max_seqs} slots)")]
    BadSlot { slot: usize, max_seqs: usize },
    #[error("cannot copy {len} positions from slot {src}: it holds only {have}")]
    ShortSource { src: usize, len: usize, have: usize },
    #[error("{len} positions exceed the cache's maximum sequence length {max_len}")]
    TooLong { len: usize, max_len: usize },
}

/// Keys and values of one layer of one slot: `[positions, kv_dim]` each.
#[derive(Debug, Clone, Default)]
struct LayerKv {
    k: Vec<u16>,
    v: Vec<u16>,
}

#[derive(Debug, Clone)]
struct Slot {
    /// Positions committed by completed forward passes.
    len: usize,
    layers: Vec<LayerKv>,
}

/// The key/value cache of a model for a fixed number of sequences.
#[derive(Debug, Clone)]
pub struct KvCache {
    k_dim: usize,
    v_dim: usize,
    max_len: usize,
    slots: Vec<Slot>,
}

impl KvCache {
    /// An empty cache for `max_seqs` sequences of at most `max_len` positions, for a
    /// model with `n_layer` layers whose keys/values have `kv_dim` values per position.
    pub fn new(n_layer: usize, kv_dim: usize, max_seqs: usize, max_len: usize) -> KvCache {
        KvCache::with_widths(n_layer, kv_dim, kv_dim, max_seqs, max_len)
    }

    /// An empty cache whose keys have `k_dim` and values `v_dim` values per position
    /// per layer (`v_dim` may be 0: see the module documentation).
    pub fn with_widths(
        n_layer: usize,
        k_dim: usize,
        v_dim: usize,
        max_seqs: usize,
        max_len: usize,
    ) -> KvCache {
        let slot = Slot {
            len: 0,
            layers: vec![LayerKv::default(); n_layer],
        };
        KvCache {
            k_dim,
            v_dim,
            max_len,
            slots: vec![slot; max_seqs],
        }
    }

    /// Number of slots.
    pub fn max_seqs(&self) -> usize {
        self.slots.len()
    }

    /// Maximum positions per slot.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Key and value widths: values per position per layer (`n_head_kv * head_dim`
    /// each for ordinary attention).
    pub fn widths(&self) -> (usize, usize) {
        (self.k_dim, self.v_dim)
    }

    /// Bytes one cached position takes over all layers (f16 keys and values).
    pub fn bytes_per_position(&self) -> usize {
        self.n_layer() * (self.k_dim + self.v_dim) * 2
    }

    /// Number of layers.
    pub fn n_layer(&self) -> usize {
        self.slots.first().map_or(0, |s| s.layers.len())
    }

    /// Positions cached in `slot` (0 for a slot out of range).
    pub fn len(&self, slot: usize) -> usize {
        self.slots.get(slot).map_or(0, |s| s.len)
    }

    /// True when `slot` holds no positions.
    pub fn is_empty(&self, slot: usize) -> bool {
        self.len(slot) == 0
    }

    /// Forgets every position of `slot` from `len` on (no-op if it is shorter).
    pub fn truncate(&mut self, slot: usize, len: usize) -> Result<(), CacheError> {
        let (k_dim, v_dim) = (self.k_dim, self.v_dim);
        let s = self.slot_mut(slot)?;
        s.len = s.len.min(len);
        for layer in &mut s.layers {
            layer.k.truncate(s.len * k_dim);
            layer.v.truncate(s.len * v_dim);
        }
        Ok(())
    }

    /// Empties `slot`, keeping its allocation for reuse.
    pub fn clear(&mut self, slot: usize) -> Result<(), CacheError> {
        self.truncate(slot, 0)
    }

    /// Makes `dst` hold the first `len` positions of `src` (whatever `dst` held before
    /// is dropped). Copying a slot onto itself truncates it.
    pub fn copy_prefix(&mut self, src: usize, dst: usize, len: usize) -> Result<(), CacheError> {
        let have = self.slot_mut(src)?.len;
        self.slot_mut(dst)?;
        if len > have {
            return Err(CacheError::ShortSource { src, len, have });
        }
        if src == dst {
            return self.truncate(dst, len);
        }
        let (nk, nv) = (len * self.k_dim, len * self.v_dim);
        let (from, to) = if src < dst {
            let (a, b) = self.slots.split_at_mut(dst);
            (&a[src], &mut b[0])
        } else {
            let (a, b) = self.slots.split_at_mut(src);
            (&b[0], &mut a[dst])
        };
        for (f, t) in from.layers.iter().zip(&mut to.layers) {
            t.k.clear();
            t.k.extend_from_slice(&f.k[..nk]);
            t.v.clear();
            t.v.extend_from_slice(&f.v[..nv]);
        }
        to.len = len;
        Ok(())
    }

    /// Bytes currently allocated for keys and values.
    pub fn allocated_bytes(&self) -> usize {
        self.slots
            .iter()
            .flat_map(|s| &s.layers)
            .map(|l| (l.k.capacity() + l.v.capacity()) * 2)
            .sum()
    }

    fn slot_mut(&mut self, slot: usize) -> Result<&mut Slot, CacheError> {
        let max_seqs = self.slots.len();
        self.slots
            .get_mut(slot)
            .ok_or(CacheError::BadSlot { slot, max_seqs })
    }

    /// Checks that `slot` exists and can grow to `len` positions.
    pub(crate) fn check_room(&self, slot: usize, len: usize) -> Result<(), CacheError> {
        if slot >= self.slots.len() {
            return Err(CacheError::BadSlot {
                slot,
                max_seqs: self.slots.len(),
            });
        }
        if len > self.max_len {
            return Err(CacheError::TooLong {
                len,
                max_len: self.max_len,
            });
        }
        Ok(())
    }

    /// Stores the key and value of `slot` at `pos` in `layer`. Positions of a slot are
    /// written in order, starting at its committed length; writing at `pos` drops any
    /// uncommitted entries at or after it (left over from a failed pass).
    /// Callers validate slot and position first (see `check_room`).
    pub(crate) fn write(&mut self, layer: usize, slot: usize, pos: usize, k: &[f32], v: &[f32]) {
        let (k_dim, v_dim) = (self.k_dim, self.v_dim);
        let max_len = self.max_len;
        let l = &mut self.slots[slot].layers[layer];
        debug_assert!(
            pos * k_dim <= l.k.len(),
            "cache positions must be written in order"
        );
        // Grow by whole steps so that long sequences do not reallocate per token.
        let target = (pos + 1).div_ceil(GROW_STEP) * GROW_STEP;
        let target = target.min(max_len).max(pos + 1);
        for (data, width, src) in [(&mut l.k, k_dim, k), (&mut l.v, v_dim, v)] {
            let start = pos * width;
            data.truncate(start);
            if data.capacity() < start + width {
                data.reserve_exact(target * width - data.len());
            }
            data.resize(start + width, 0);
            half::encode(&src[..width], &mut data[start..]);
        }
    }

    /// Marks `slot` as holding `len` positions (after a forward pass wrote them).
    pub(crate) fn commit(&mut self, slot: usize, len: usize) {
        self.slots[slot].len = len;
    }

    /// Keys of `layer` in `slot` as f16 bits, `[positions, k_dim]`, including any
    /// positions written by the pass in progress.
    pub(crate) fn keys(&self, layer: usize, slot: usize) -> &[u16] {
        &self.slots[slot].layers[layer].k
    }

    /// Values of `layer` in `slot`, `[positions, v_dim]` (empty when `v_dim` is 0).
    pub(crate) fn values(&self, layer: usize, slot: usize) -> &[u16] {
        &self.slots[slot].layers[layer].v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(n: usize) -> KvCache {
        let mut c = KvCache::new(2, 4, 3, 1000);
        for pos in 0..n {
            for layer in 0..2 {
                let k = [pos as f32, layer as f32, 1.0, 2.0];
                let v = [-(pos as f32), 0.5, 0.25, 0.0];
                c.write(layer, 0, pos, &k, &v);
            }
        }
        c.commit(0, n);
        c
    }

    #[test]
    fn copy_and_truncate() {
        let mut c = filled(300);
        assert_eq!(c.len(0), 300);
        c.copy_prefix(0, 2, 120).unwrap();
        assert_eq!(c.len(2), 120);
        assert_eq!(c.keys(1, 2), &c.keys(1, 0)[..120 * 4]);
        assert_eq!(half::to_f32(c.values(0, 2)[119 * 4]), -119.0);
        c.truncate(0, 10).unwrap();
        assert_eq!(c.len(0), 10);
        assert_eq!(c.keys(0, 0).len(), 40);
        assert_eq!(
            c.copy_prefix(0, 1, 11),
            Err(CacheError::ShortSource {
                src: 0,
                len: 11,
                have: 10
            })
        );
        assert!(matches!(c.truncate(3, 0), Err(CacheError::BadSlot { .. })));
    }

    #[test]
    fn grows_in_steps_within_max_len() {
        let c = filled(3);
        // 2 layers * (k + v) * 256 positions * 4 values * 2 bytes
        assert_eq!(c.allocated_bytes(), 2 * 2 * GROW_STEP * 4 * 2);
        assert!(c.check_room(0, 1001).is_err());
        assert!(c.check_room(0, 1000).is_ok());
    }

    #[test]
    fn a_cache_without_values_holds_keys_only() {
        let mut c = KvCache::with_widths(1, 3, 0, 2, 100);
        for pos in 0..5 {
            c.write(0, 0, pos, &[pos as f32, 1.0, 2.0], &[]);
        }
        c.commit(0, 5);
        c.copy_prefix(0, 1, 4).unwrap();
        assert_eq!(c.keys(0, 1).len(), 12);
        assert!(c.values(0, 1).is_empty());
        assert_eq!(half::to_f32(c.keys(0, 1)[9]), 3.0);
        assert_eq!(c.bytes_per_position(), 6);
        // Slot 0 grew to its maximum (100 positions); slot 1 holds its 4 copied keys.
        assert_eq!(c.allocated_bytes(), (100 * 3 + 4 * 3) * 2);
    }
}
