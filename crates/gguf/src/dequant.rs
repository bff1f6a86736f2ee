//! Reference dequantizers: plain scalar code that follows each block layout
//! literally. The fast kernels are tested against these.

// Index loops mirror the layout descriptions (value i lives in byte f(i)); iterator
// chains would hide that correspondence.
#![allow(clippy::needless_range_loop)]

use crate::blocks::*;
use crate::error::GgufError;
use crate::half::{bf16_to_f32, f16_to_f32};
use crate::types::{GgmlType, QK_K};

/// Decodes `bytes` of type `dtype` into `out`; `out.len()` must equal the number of
/// values the bytes hold.
pub fn dequantize(dtype: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<(), GgufError> {
    let want = dtype.bytes_for(out.len() as u64);
    if want != Some(bytes.len() as u64) {
        return Err(GgufError::Shape(format!(
            "{} bytes of {dtype} cannot hold {} values",
            bytes.len(),
            out.len()
        )));
    }
    fn blocks<B: Block>(bytes: &[u8]) -> Result<&[B], GgufError> {
        as_blocks(bytes).ok_or_else(|| GgufError::Shape("partial block".into()))
    }
    match dtype {
        GgmlType::F32 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        GgmlType::F16 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
            }
        }
        GgmlType::BF16 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = bf16_to_f32(u16::from_le_bytes([b[0], b[1]]));
            }
        }
        GgmlType::Q4_0 => each(blocks(bytes)?, out, q4_0),
        GgmlType::Q4_1 => each(blocks(bytes)?, out, q4_1),
        GgmlType::Q5_0 => each(blocks(bytes)?, out, q5_0),
        GgmlType::Q5_1 => each(blocks(bytes)?, out, q5_1),
        GgmlType::Q8_0 => each(blocks(bytes)?, out, q8_0),
        GgmlType::Q2_K => each(blocks(bytes)?, out, q2_k),
        GgmlType::Q3_K => each(blocks(bytes)?, out, q3_k),
        GgmlType::Q4_K => each(blocks(bytes)?, out, q4_k),
        GgmlType::Q5_K => each(blocks(bytes)?, out, q5_k),
        GgmlType::Q6_K => each(blocks(bytes)?, out, q6_k),
        GgmlType::Q8_K => each(blocks(bytes)?, out, q8_k),
        other => return Err(GgufError::UnsupportedType(other.name())),
    }
    Ok(())
}

/// Applies a per-block decoder to consecutive output chunks.
fn each<B: Block>(blocks: &[B], out: &mut [f32], f: fn(&B, &mut [f32])) {
    let n = B::TYPE.block_size();
    for (b, o) in blocks.iter().zip(out.chunks_exact_mut(n)) {
        f(b, o);
    }
}

/// Decodes one block into the first 32 values of `y` (panics if `y` is shorter).
pub fn q4_0(b: &BlockQ4_0, y: &mut [f32]) {
    let d = f16le(b.d);
    for j in 0..16 {
        y[j] = d * ((b.qs[j] & 0xf) as i32 - 8) as f32;
        y[j + 16] = d * ((b.qs[j] >> 4) as i32 - 8) as f32;
    }
}

/// Decodes one block into the first 32 values of `y` (panics if `y` is shorter).
pub fn q4_1(b: &BlockQ4_1, y: &mut [f32]) {
    let (d, m) = (f16le(b.d), f16le(b.m));
    for j in 0..16 {
        y[j] = d * (b.qs[j] & 0xf) as f32 + m;
        y[j + 16] = d * (b.qs[j] >> 4) as f32 + m;
    }
}

/// The fifth bit of value `j` of a Q5 block.
fn q5_high(qh: [u8; 4], j: usize) -> u8 {
    (((u32::from_le_bytes(qh) >> j) & 1) << 4) as u8
}

/// Decodes one block into the first 32 values of `y` (panics if `y` is shorter).
pub fn q5_0(b: &BlockQ5_0, y: &mut [f32]) {
    let d = f16le(b.d);
    for j in 0..16 {
        let lo = (b.qs[j] & 0xf) | q5_high(b.qh, j);
        let hi = (b.qs[j] >> 4) | q5_high(b.qh, j + 16);
        y[j] = d * (lo as i32 - 16) as f32;
        y[j + 16] = d * (hi as i32 - 16) as f32;
    }
}

/// Decodes one block into the first 32 values of `y` (panics if `y` is shorter).
pub fn q5_1(b: &BlockQ5_1, y: &mut [f32]) {
    let (d, m) = (f16le(b.d), f16le(b.m));
    for j in 0..16 {
        let lo = (b.qs[j] & 0xf) | q5_high(b.qh, j);
        let hi = (b.qs[j] >> 4) | q5_high(b.qh, j + 16);
        y[j] = d * lo as f32 + m;
        y[j + 16] = d * hi as f32 + m;
    }
}

/// Decodes one block into the first 32 values of `y` (panics if `y` is shorter).
pub fn q8_0(b: &BlockQ8_0, y: &mut [f32]) {
    let d = f16le(b.d);
    for (o, &q) in y.iter_mut().zip(&b.qs) {
        *o = d * q as f32;
    }
}

/// Q2_K: each 128-value half uses 32 bytes of `qs`; value `l` of group `g` in that
/// half sits in bits `2*(g/2)` of byte `l + 16*(g%2)`.
pub fn q2_k(b: &BlockQ2K, y: &mut [f32]) {
    let (d, dmin) = (f16le(b.d), f16le(b.dmin));
    for i in 0..QK_K {
        let half = i / 128;
        let within = i % 128;
        let shift = 2 * (within / 32);
        let byte = half * 32 + within % 32;
        let q = (b.qs[byte] >> shift) & 3;
        let sc = b.scales[i / 16];
        y[i] = d * (sc & 0xf) as f32 * q as f32 - dmin * (sc >> 4) as f32;
    }
}

/// Q3_K: same bit placement as Q2_K for the low two bits; the third bit of value
/// `i` is bit `i / 32` of `hmask[i % 32]`, and a clear bit subtracts 4.
pub fn q3_k(b: &BlockQ3K, y: &mut [f32]) {
    let d = f16le(b.d);
    let scales = q3k_scales(&b.scales);
    for i in 0..QK_K {
        let half = i / 128;
        let within = i % 128;
        let shift = 2 * (within / 32);
        let low = ((b.qs[half * 32 + within % 32] >> shift) & 3) as i32;
        let high = if b.hmask[i % 32] & (1 << (i / 32)) != 0 {
            0
        } else {
            4
        };
        y[i] = d * scales[i / 16] as f32 * (low - high) as f32;
    }
}

/// Q4_K: chunk `c` of 64 values uses bytes `32c..32c+32`; low nibbles are the first
/// 32 values (group 2c), high nibbles the next 32 (group 2c+1).
pub fn q4_k(b: &BlockQ4K, y: &mut [f32]) {
    let (d, dmin) = (f16le(b.d), f16le(b.dmin));
    for i in 0..QK_K {
        let g = i / 32;
        let byte = b.qs[(i / 64) * 32 + i % 32];
        let q = if g % 2 == 0 { byte & 0xf } else { byte >> 4 };
        let (sc, m) = k4_scale_min(&b.scales, g);
        y[i] = d * sc as f32 * q as f32 - dmin * m as f32;
    }
}

/// Q5_K: as Q4_K, with the fifth bit of value `i` in bit `g` of `qh[i % 32]`.
pub fn q5_k(b: &BlockQ5K, y: &mut [f32]) {
    let (d, dmin) = (f16le(b.d), f16le(b.dmin));
    for i in 0..QK_K {
        let g = i / 32;
        let byte = b.qs[(i / 64) * 32 + i % 32];
        let low = if g % 2 == 0 { byte & 0xf } else { byte >> 4 };
        let high = ((b.qh[i % 32] >> g) & 1) << 4;
        let (sc, m) = k4_scale_min(&b.scales, g);
        y[i] = d * sc as f32 * (low | high) as f32 - dmin * m as f32;
    }
}

/// Q6_K: per 128-value half `h`, value `l + 32k` (k = 0..4) takes its low nibble from
/// `ql[64h + l + 32(k%2)]` (low nibble for k < 2, high for k >= 2) and its top two
/// bits from bits `2k` of `qh[32h + l]`.
pub fn q6_k(b: &BlockQ6K, y: &mut [f32]) {
    let d = f16le(b.d);
    for i in 0..QK_K {
        let h = i / 128;
        let k = (i % 128) / 32;
        let l = i % 32;
        let lb = b.ql[64 * h + l + 32 * (k % 2)];
        let low = if k < 2 { lb & 0xf } else { lb >> 4 };
        let high = (b.qh[32 * h + l] >> (2 * k)) & 3;
        let q = (low | (high << 4)) as i32 - 32;
        y[i] = d * b.scales[i / 16] as f32 * q as f32;
    }
}

/// Decodes one block into the first 256 values of `y` (panics if `y` is shorter).
pub fn q8_k(b: &BlockQ8K, y: &mut [f32]) {
    let d = f32::from_le_bytes(b.d);
    for (o, &q) in y.iter_mut().zip(&b.qs) {
        *o = d * q as f32;
    }
}
