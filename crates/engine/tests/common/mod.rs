//! Helpers the tiny-model tests share: a deterministic generator for random weights
//! and the batch-entry constructor.

#![allow(dead_code)]

use engine::model::BatchEntry;

/// Small deterministic generator (xorshift64*), uniform in [-1, 1).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        v as f32 / (1u64 << 23) as f32 - 1.0
    }

    pub fn vec(&mut self, n: usize, scale: f32, offset: f32) -> Vec<f32> {
        (0..n).map(|_| offset + scale * self.next()).collect()
    }
}

/// The token `token` of the sequence in cache `slot`, at position `pos`.
pub fn entry(slot: usize, pos: usize, token: u32, want_logits: bool) -> BatchEntry {
    BatchEntry {
        slot,
        pos,
        token,
        want_logits,
    }
}
