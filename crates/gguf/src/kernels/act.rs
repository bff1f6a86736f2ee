//! Activation quantization: each matmul call quantizes its f32 inputs once, to 8-bit
//! blocks matching the weight format (32-value blocks for Q4_0/Q5_0/Q8_0, 256-value
//! blocks with per-16 sums for the K-quants), so the inner loops are integer dots.
//!
//! These blocks never reach a file, so the scale is kept as f32 rather than f16.

use crate::types::QK_K;

/// 32 activations `d * qs[i]`.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct ActQ8_0 {
    pub d: f32,
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

/// Scale and reciprocal mapping the largest magnitude to 127.
fn scale_for(x: &[f32]) -> (f32, f32) {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    if amax == 0.0 {
        (0.0, 0.0)
    } else {
        (amax / 127.0, 127.0 / amax)
    }
}

fn quantize_into(x: &[f32], id: f32, qs: &mut [i8]) {
    for (q, &v) in qs.iter_mut().zip(x) {
        // Round half away from zero by hand: `f32::round` is a libm call without
        // SSE4.1 in the baseline target. `as` saturates, and maps NaN to 0.
        let s = v * id;
        let r = if s >= 0.0 { s + 0.5 } else { s - 0.5 } as i32;
        *q = r.clamp(-127, 127) as i8;
    }
}

/// Quantizes `x` (a multiple of 32 long) into 32-value blocks, appending to `out`.
pub fn quantize_q8_0(x: &[f32], out: &mut Vec<ActQ8_0>) {
    for chunk in x.chunks_exact(32) {
        let (d, id) = scale_for(chunk);
        let mut b = ActQ8_0 { d, qs: [0; 32] };
        quantize_into(chunk, id, &mut b.qs);
        out.push(b);
    }
}

/// Quantizes `x` (a multiple of 256 long) into 256-value blocks, appending to `out`.
pub fn quantize_q8k(x: &[f32], out: &mut Vec<ActQ8K>) {
    for chunk in x.chunks_exact(QK_K) {
        let (d, id) = scale_for(chunk);
        let mut b = ActQ8K {
            d,
            qs: [0; QK_K],
            bsums: [0; QK_K / 16],
        };
        quantize_into(chunk, id, &mut b.qs);
        for (s, g) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
            *s = g.iter().map(|&q| q as i16).sum();
        }
        out.push(b);
    }
}
