//! Activation quantization: each matmul call quantizes its f32 inputs once, to 8-bit
//! blocks matching the weight format (32-value blocks for Q4_0/Q5_0/Q8_0, 256-value
//! blocks with per-16 sums for the K-quants), so the inner loops are integer dots.
//!
//! These blocks never reach a file, so scales are held as f32; their values follow
//! llama.cpp's activation quantization so results can be compared with it.

#![allow(clippy::needless_range_loop)]

use std::sync::Mutex;

use crate::half::{f16_to_f32, f32_to_f16};
use crate::pool;
use crate::types::QK_K;

/// 32 activations `d * qs[i]`, with `s = d * sum(qs)` (weights stored as unsigned
/// codes plus an offset fold the offset in through it).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct ActQ8_0 {
    pub d: f32,
    pub s: f32,
    pub qs: [i8; 32],
}

/// 256 activations `d * qs[i]`, with the sum of each group of 16 quantized values
/// (the K-quant kernels fold weight minima and offsets in through these sums).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct ActQ8K {
    pub d: f32,
    pub qs: [i8; QK_K],
    pub bsums: [i16; QK_K / 16],
}

/// Rounds to the nearest integer, ties to even, for |x| < 2^22: adding 1.5 * 2^23
/// leaves the rounded integer in the low mantissa bits. Exact, branch-free, and no
/// libm call (the baseline x86-64 target has no rounding instruction).
#[inline(always)]
fn nearest_int(x: f32) -> i32 {
    let v = x + 12_582_912.0;
    (v.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// Blocks below which quantization stays on the calling thread (a decode step's
/// vectors); larger inputs (prompt batches) split across the thread pool.
const PARALLEL_BLOCKS: usize = 512;

/// Quantizes `x` into blocks of `n` values with `block`, appending to `out`.
fn quantize_with<T: Send>(x: &[f32], n: usize, out: &mut Vec<T>, block: fn(&[f32]) -> T) {
    let blocks = x.len() / n;
    if blocks < PARALLEL_BLOCKS {
        out.extend(x.chunks_exact(n).map(block));
        return;
    }
    // A piece per item, put together in order afterwards.
    let per = blocks.div_ceil(pool::threads() * 4);
    let pieces: Vec<Mutex<Vec<T>>> = (0..blocks.div_ceil(per))
        .map(|_| Mutex::default())
        .collect();
    pool::for_each(pieces.len(), |i| {
        let end = ((i + 1) * per).min(blocks);
        let piece: Vec<T> = x[i * per * n..end * n].chunks_exact(n).map(block).collect();
        *pieces[i].lock().unwrap_or_else(|p| p.into_inner()) = piece;
    });
    for p in pieces {
        out.append(&mut p.into_inner().unwrap_or_else(|p| p.into_inner()));
    }
}

/// The largest magnitude in `x` (NaN ignored), in eight lanes so it vectorises.
#[inline(always)]
fn abs_max(x: &[f32]) -> f32 {
    let mut m = [0f32; 8];
    for c in x.chunks_exact(8) {
        for i in 0..8 {
            m[i] = m[i].max(c[i].abs());
        }
    }
    m.iter().fold(0f32, |a, &b| a.max(b))
}

/// Quantizes `x` into 32-value blocks, appending to `out`.
///
/// Matches llama.cpp's x86 path so outputs can be compared with it: scale
/// `amax / 127` stored at f16 precision, values `x * 127 / amax` rounded half to
/// even.
pub fn quantize_q8_0(x: &[f32], out: &mut Vec<ActQ8_0>) {
    quantize_with(x, 32, out, block_q8_0);
}

fn block_q8_0(chunk: &[f32]) -> ActQ8_0 {
    let amax = abs_max(chunk);
    let mut b = ActQ8_0 {
        d: f16_to_f32(f32_to_f16(amax / 127.0)),
        s: 0.0,
        qs: [0; 32],
    };
    if amax > 0.0 && amax.is_finite() {
        let id = 127.0 / amax;
        for (q, &v) in b.qs.iter_mut().zip(chunk) {
            *q = nearest_int(v * id).clamp(-127, 127) as i8;
        }
    }
    b.s = b.d * b.qs.iter().map(|&q| q as i32).sum::<i32>() as f32;
    b
}

/// Quantizes `x` into 256-value blocks, appending to `out`.
///
/// Matches llama.cpp's reference: the element of largest magnitude maps to -127
/// (so the scale is negative when that element is positive), ties round to even.
pub fn quantize_q8k(x: &[f32], out: &mut Vec<ActQ8K>) {
    quantize_with(x, QK_K, out, block_q8k);
}

fn block_q8k(chunk: &[f32]) -> ActQ8K {
    // The first element of largest magnitude, sign kept.
    let amax = abs_max(chunk);
    let max = chunk
        .iter()
        .copied()
        .find(|v| v.abs() == amax)
        .unwrap_or(0.0);
    let mut b = ActQ8K {
        d: 0.0,
        qs: [0; QK_K],
        bsums: [0; QK_K / 16],
    };
    if max != 0.0 && max.is_finite() {
        let iscale = -127.0 / max;
        b.d = 1.0 / iscale;
        for (q, &v) in b.qs.iter_mut().zip(chunk) {
            *q = nearest_int(v * iscale).clamp(-127, 127) as i8;
        }
    }
    for (s, g) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
        *s = g.iter().map(|&q| q as i16).sum();
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_ties_to_even() {
        let got: Vec<i32> = [0.5f32, 1.5, 2.5, -0.5, -1.5, 126.49, -126.51]
            .iter()
            .map(|&x| nearest_int(x))
            .collect();
        assert_eq!(got, [0, 2, 2, 0, -2, 126, -127]);
    }

    #[test]
    fn q8k_maps_the_extreme_to_minus_127() {
        let mut x = vec![0.5f32; QK_K];
        x[3] = 2.0;
        let mut out = Vec::new();
        quantize_q8k(&x, &mut out);
        let b = &out[0];
        assert_eq!(b.qs[3], -127);
        assert!((b.d * b.qs[3] as f32 - 2.0).abs() < 1e-6);
        assert_eq!(b.qs[0], -32); // 0.5 * 127 / 2 = 31.75
        assert_eq!(b.bsums[0], -127 - 15 * 32);
    }

    #[test]
    fn q8_0_scale_is_f16_and_non_finite_input_is_harmless() {
        let mut x: Vec<f32> = (0..32).map(|i| i as f32 / 10.0).collect();
        let mut out = Vec::new();
        quantize_q8_0(&x, &mut out);
        assert_eq!(out[0].qs[31], 127);
        assert_eq!(out[0].d, f16_to_f32(f32_to_f16(3.1 / 127.0)));
        // A non-finite block must not panic; its values are meaningless anyway.
        x[0] = f32::INFINITY;
        quantize_q8_0(&x, &mut out);
        assert!(out[1].qs.iter().all(|&q| q == 0));
        x[0] = f32::NAN;
        quantize_q8_0(&x, &mut out);
        assert_eq!(out.len(), 3);
    }
}
