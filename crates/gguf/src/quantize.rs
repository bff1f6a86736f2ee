//! Reference quantizers (f32 → block formats) for tests and tools.
//!
//! They aim at simple and correct rather than at llama.cpp's error-minimising
//! searches: each block's scales come from its min/max, so a round trip is accurate
//! to about half a quantization step.

// Index loops mirror the layout descriptions (value i lives in byte f(i)); iterator
// chains would hide that correspondence.
#![allow(clippy::needless_range_loop)]

use crate::blocks::*;
use crate::error::GgufError;
use crate::half::{f16_to_f32, f32_to_bf16, f32_to_f16};
use crate::types::{GgmlType, QK_K};

/// Encodes `x` as `dtype`. `x.len()` must be a multiple of the block size.
pub fn quantize(dtype: GgmlType, x: &[f32]) -> Result<Vec<u8>, GgufError> {
    let bs = dtype.block_size();
    if !x.len().is_multiple_of(bs) {
        return Err(GgufError::Shape(format!(
            "{} values are not a whole number of {dtype} blocks of {bs}",
            x.len()
        )));
    }
    Ok(match dtype {
        GgmlType::F32 => x.iter().flat_map(|v| v.to_le_bytes()).collect(),
        GgmlType::F16 => x
            .iter()
            .flat_map(|&v| f32_to_f16(v).to_le_bytes())
            .collect(),
        GgmlType::BF16 => x
            .iter()
            .flat_map(|&v| f32_to_bf16(v).to_le_bytes())
            .collect(),
        GgmlType::Q8_0 => encode(x, q8_0),
        GgmlType::Q4_0 => encode(x, q4_0),
        GgmlType::Q5_0 => encode(x, q5_0),
        GgmlType::Q4_K => encode(x, q4_k),
        GgmlType::Q5_K => encode(x, q5_k),
        GgmlType::Q6_K => encode(x, q6_k),
        GgmlType::Q8_K => encode(x, q8_k),
        other => return Err(GgufError::UnsupportedType(other.name())),
    })
}

fn encode<B: Block>(x: &[f32], f: fn(&[f32]) -> B) -> Vec<u8> {
    let blocks: Vec<B> = x.chunks_exact(B::TYPE.block_size()).map(f).collect();
    blocks_as_bytes(&blocks).to_vec()
}

/// The element of largest magnitude, keeping its sign.
fn signed_max(x: &[f32]) -> f32 {
    x.iter()
        .fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m })
}

/// Reciprocal that maps a zero scale to zero (an all-zero block).
fn inv(d: f32) -> f32 {
    if d == 0.0 {
        0.0
    } else {
        1.0 / d
    }
}

fn f16b(x: f32) -> [u8; 2] {
    f32_to_f16(x).to_le_bytes()
}

/// The scale as stored (rounded to f16), so values are quantized against it.
fn stored(x: f32) -> f32 {
    f16_to_f32(f32_to_f16(x))
}

/// Encodes the first 32 values of `x` as one block (panics if `x` is shorter).
pub fn q8_0(x: &[f32]) -> BlockQ8_0 {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = stored(amax / 127.0);
    let id = inv(d);
    let mut qs = [0i8; 32];
    for (q, &v) in qs.iter_mut().zip(x) {
        *q = (v * id).round().clamp(-127.0, 127.0) as i8;
    }
    BlockQ8_0 { d: f16b(d), qs }
}

/// Q4_0 maps the extreme value to -8, using the full 16 levels on that side.
pub fn q4_0(x: &[f32]) -> BlockQ4_0 {
    let d = stored(signed_max(x) / -8.0);
    let id = inv(d);
    let q = |v: f32| ((v * id).round() + 8.0).clamp(0.0, 15.0) as u8;
    let mut qs = [0u8; 16];
    for j in 0..16 {
        qs[j] = q(x[j]) | (q(x[j + 16]) << 4);
    }
    BlockQ4_0 { d: f16b(d), qs }
}

/// Encodes the first 32 values of `x` as one block (panics if `x` is shorter).
pub fn q5_0(x: &[f32]) -> BlockQ5_0 {
    let d = stored(signed_max(x) / -16.0);
    let id = inv(d);
    let q = |v: f32| ((v * id).round() + 16.0).clamp(0.0, 31.0) as u32;
    let mut qs = [0u8; 16];
    let mut qh = 0u32;
    for j in 0..16 {
        let (a, b) = (q(x[j]), q(x[j + 16]));
        qs[j] = (a & 0xf) as u8 | (((b & 0xf) as u8) << 4);
        qh |= ((a >> 4) << j) | ((b >> 4) << (j + 16));
    }
    BlockQ5_0 {
        d: f16b(d),
        qh: qh.to_le_bytes(),
        qs,
    }
}

/// Per-group (scale, min) with `x ≈ scale * q - min`, q in 0..=levels.
fn group_scale_min(g: &[f32], levels: f32) -> (f32, f32) {
    let lo = g.iter().fold(f32::INFINITY, |a, &b| a.min(b)).min(0.0);
    let hi = g.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    ((hi - lo) / levels, -lo)
}

/// Shared by Q4_K and Q5_K: 6-bit group scales and mins under two f16 super-scales.
/// Returns (d, dmin, packed scales, quantized values in 0..=levels).
fn kquant_groups(x: &[f32], levels: f32) -> (f32, f32, [u8; 12], [u8; QK_K]) {
    let mut sc = [0f32; 8];
    let mut mn = [0f32; 8];
    for (g, chunk) in x.chunks_exact(32).enumerate() {
        (sc[g], mn[g]) = group_scale_min(chunk, levels);
    }
    let d = stored(sc.iter().fold(0f32, |a, &b| a.max(b)) / 63.0);
    let dmin = stored(mn.iter().fold(0f32, |a, &b| a.max(b)) / 63.0);
    let mut isc = [0u8; 8];
    let mut imn = [0u8; 8];
    for g in 0..8 {
        isc[g] = (sc[g] * inv(d)).round().clamp(0.0, 63.0) as u8;
        imn[g] = (mn[g] * inv(dmin)).round().clamp(0.0, 63.0) as u8;
    }
    let mut packed = [0u8; 12];
    for j in 0..8 {
        if j < 4 {
            packed[j] |= isc[j];
            packed[j + 4] |= imn[j];
        } else {
            packed[j + 4] = (isc[j] & 0xf) | ((imn[j] & 0xf) << 4);
            packed[j - 4] |= (isc[j] >> 4) << 6;
            packed[j] |= (imn[j] >> 4) << 6;
        }
    }
    let mut q = [0u8; QK_K];
    for (i, v) in x.iter().enumerate() {
        let g = i / 32;
        let scale = d * isc[g] as f32;
        let min = dmin * imn[g] as f32;
        q[i] = ((v + min) * inv(scale)).round().clamp(0.0, levels) as u8;
    }
    (d, dmin, packed, q)
}

/// Encodes the first 256 values of `x` as one block (panics if `x` is shorter).
pub fn q4_k(x: &[f32]) -> BlockQ4K {
    let (d, dmin, scales, q) = kquant_groups(x, 15.0);
    let mut qs = [0u8; QK_K / 2];
    for c in 0..4 {
        for l in 0..32 {
            qs[32 * c + l] = q[64 * c + l] | (q[64 * c + 32 + l] << 4);
        }
    }
    BlockQ4K {
        d: f16b(d),
        dmin: f16b(dmin),
        scales,
        qs,
    }
}

/// Encodes the first 256 values of `x` as one block (panics if `x` is shorter).
pub fn q5_k(x: &[f32]) -> BlockQ5K {
    let (d, dmin, scales, q) = kquant_groups(x, 31.0);
    let mut qs = [0u8; QK_K / 2];
    let mut qh = [0u8; QK_K / 8];
    for c in 0..4 {
        for l in 0..32 {
            let (a, b) = (q[64 * c + l], q[64 * c + 32 + l]);
            qs[32 * c + l] = (a & 0xf) | ((b & 0xf) << 4);
            qh[l] |= ((a >> 4) << (2 * c)) | ((b >> 4) << (2 * c + 1));
        }
    }
    BlockQ5K {
        d: f16b(d),
        dmin: f16b(dmin),
        scales,
        qh,
        qs,
    }
}

/// Encodes the first 256 values of `x` as one block (panics if `x` is shorter).
pub fn q6_k(x: &[f32]) -> BlockQ6K {
    // Group scales map each group's extreme to -32; the i8 scales share one f16 d.
    let mut sc = [0f32; 16];
    for (g, chunk) in x.chunks_exact(16).enumerate() {
        sc[g] = signed_max(chunk) / -32.0;
    }
    let big = signed_max(&sc);
    let d = stored(big / -128.0);
    let mut scales = [0i8; 16];
    for g in 0..16 {
        scales[g] = (sc[g] * inv(d)).round().clamp(-128.0, 127.0) as i8;
    }
    let mut q = [0u8; QK_K];
    for (i, v) in x.iter().enumerate() {
        let s = d * scales[i / 16] as f32;
        q[i] = ((v * inv(s)).round() + 32.0).clamp(0.0, 63.0) as u8;
    }
    let mut ql = [0u8; QK_K / 2];
    let mut qh = [0u8; QK_K / 4];
    for h in 0..2 {
        for l in 0..32 {
            let v = |k: usize| q[128 * h + 32 * k + l];
            ql[64 * h + l] = (v(0) & 0xf) | ((v(2) & 0xf) << 4);
            ql[64 * h + l + 32] = (v(1) & 0xf) | ((v(3) & 0xf) << 4);
            qh[32 * h + l] =
                (v(0) >> 4) | ((v(1) >> 4) << 2) | ((v(2) >> 4) << 4) | ((v(3) >> 4) << 6);
        }
    }
    BlockQ6K {
        ql,
        qh,
        scales,
        d: f16b(d),
    }
}

/// Q8_K keeps an f32 scale and the sums of each group of 16 quantized values.
pub fn q8_k(x: &[f32]) -> BlockQ8K {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = inv(d);
    let mut qs = [0i8; QK_K];
    for (q, &v) in qs.iter_mut().zip(x) {
        *q = (v * id).round().clamp(-127.0, 127.0) as i8;
    }
    let mut bsums = [[0u8; 2]; QK_K / 16];
    for (s, g) in bsums.iter_mut().zip(qs.chunks_exact(16)) {
        *s = g.iter().map(|&q| q as i16).sum::<i16>().to_le_bytes();
    }
    BlockQ8K {
        d: d.to_le_bytes(),
        qs,
        bsums,
    }
}
