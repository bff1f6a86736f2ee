//! Portable integer dot products between one weight row and quantized activations.
//!
//! They are the fallback on CPUs without the SIMD paths, and they compute exactly the
//! same integer sums as the SIMD kernels, which makes them a tight cross-check.

use super::act::{ActQ8K, ActQ8_0};
use crate::blocks::*;
use crate::half::f16_to_f32;
use crate::types::QK_K;

/// Sum of `w[i] * a[i]` over a block, in integers.
fn idot(w: impl Iterator<Item = i32>, a: &[i8]) -> i32 {
    w.zip(a).map(|(w, &a)| w * a as i32).sum()
}

pub fn dot_q8_0(w: &[BlockQ8_0], a: &[ActQ8_0]) -> f32 {
    w.iter()
        .zip(a)
        .map(|(w, a)| f16le(w.d) * a.d * idot(w.qs.iter().map(|&q| q as i32), &a.qs) as f32)
        .sum()
}

/// The 32 values of a 4-bit block in order: low nibbles, then high nibbles.
fn nibbles(qs: &[u8; 16]) -> impl Iterator<Item = i32> + '_ {
    qs.iter()
        .map(|&b| (b & 0xf) as i32)
        .chain(qs.iter().map(|&b| (b >> 4) as i32))
}

pub fn dot_q4_0(w: &[BlockQ4_0], a: &[ActQ8_0]) -> f32 {
    w.iter()
        .zip(a)
        .map(|(w, a)| f16le(w.d) * a.d * idot(nibbles(&w.qs).map(|q| q - 8), &a.qs) as f32)
        .sum()
}

pub fn dot_q5_0(w: &[BlockQ5_0], a: &[ActQ8_0]) -> f32 {
    w.iter()
        .zip(a)
        .map(|(w, a)| {
            let qh = u32::from_le_bytes(w.qh);
            let q = nibbles(&w.qs)
                .enumerate()
                .map(|(j, n)| (n | (((qh >> j) & 1) << 4) as i32) - 16);
            f16le(w.d) * a.d * idot(q, &a.qs) as f32
        })
        .sum()
}

pub fn dot_q4_k(w: &[BlockQ4K], a: &[ActQ8K]) -> f32 {
    let mut total = 0f32;
    for (w, a) in w.iter().zip(a) {
        let (mut sum, mut mins) = (0i32, 0i32);
        for g in 0..8 {
            let (sc, m) = k4_scale_min(&w.scales, g);
            let bytes = &w.qs[32 * (g / 2)..32 * (g / 2) + 32];
            let shift = 4 * (g % 2);
            let q = bytes.iter().map(|&b| ((b >> shift) & 0xf) as i32);
            sum += sc as i32 * idot(q, &a.qs[32 * g..32 * g + 32]);
            mins += m as i32 * (a.bsums[2 * g] as i32 + a.bsums[2 * g + 1] as i32);
        }
        total += a.d * (f16le(w.d) * sum as f32 - f16le(w.dmin) * mins as f32);
    }
    total
}

pub fn dot_q5_k(w: &[BlockQ5K], a: &[ActQ8K]) -> f32 {
    let mut total = 0f32;
    for (w, a) in w.iter().zip(a) {
        let (mut sum, mut mins) = (0i32, 0i32);
        for g in 0..8 {
            let (sc, m) = k4_scale_min(&w.scales, g);
            let bytes = &w.qs[32 * (g / 2)..32 * (g / 2) + 32];
            let shift = 4 * (g % 2);
            let q = bytes
                .iter()
                .zip(&w.qh)
                .map(|(&b, &h)| (((b >> shift) & 0xf) | (((h >> g) & 1) << 4)) as i32);
            sum += sc as i32 * idot(q, &a.qs[32 * g..32 * g + 32]);
            mins += m as i32 * (a.bsums[2 * g] as i32 + a.bsums[2 * g + 1] as i32);
        }
        total += a.d * (f16le(w.d) * sum as f32 - f16le(w.dmin) * mins as f32);
    }
    total
}

pub fn dot_q6_k(w: &[BlockQ6K], a: &[ActQ8K]) -> f32 {
    let mut total = 0f32;
    for (w, a) in w.iter().zip(a) {
        let mut sum = 0i32;
        for h in 0..2 {
            for k in 0..4 {
                for l in 0..32 {
                    let i = 128 * h + 32 * k + l;
                    let lb = w.ql[64 * h + l + 32 * (k % 2)];
                    let low = if k < 2 { lb & 0xf } else { lb >> 4 };
                    let high = (w.qh[32 * h + l] >> (2 * k)) & 3;
                    let q = (low | (high << 4)) as i32 - 32;
                    sum += w.scales[i / 16] as i32 * q * a.qs[i] as i32;
                }
            }
        }
        total += f16le(w.d) * a.d * sum as f32;
    }
    total
}

pub fn dot_f32(w: &[u8], x: &[f32]) -> f32 {
    w.chunks_exact(4)
        .zip(x)
        .map(|(b, x)| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * x)
        .sum()
}

pub fn dot_f16(w: &[u8], x: &[f32]) -> f32 {
    w.chunks_exact(2)
        .zip(x)
        .map(|(b, x)| f16_to_f32(u16::from_le_bytes([b[0], b[1]])) * x)
        .sum()
}

const _: () = assert!(QK_K == 256);
