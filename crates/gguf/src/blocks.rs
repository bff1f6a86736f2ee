//! Byte layouts of the quantized block formats, as ggml stores them.
//!
//! Every field is a byte array, so the structs have alignment 1 and any byte slice
//! of the right length can be viewed as blocks without copying. Sizes are pinned by
//! compile-time assertions against `GgmlType::type_size`.

use crate::half::f16_to_f32;
use crate::types::{GgmlType, QK_K};

/// Implemented by block structs that may be viewed in place over raw bytes.
///
/// # Safety
/// Implementors must be `#[repr(C)]`, contain only `u8`/`i8` arrays (alignment 1,
/// every bit pattern valid) and have no padding.
pub unsafe trait Block: Copy {
    const TYPE: GgmlType;
}

/// Views `bytes` as a slice of blocks; `None` if the length is not a whole number
/// of blocks.
pub fn as_blocks<B: Block>(bytes: &[u8]) -> Option<&[B]> {
    let size = std::mem::size_of::<B>();
    if !bytes.len().is_multiple_of(size) {
        return None;
    }
    // SAFETY: `B: Block` guarantees alignment 1, no padding and that every bit
    // pattern is valid; the length is a whole number of blocks.
    Some(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<B>(), bytes.len() / size) })
}

/// Views blocks as their bytes (used by the quantizers to emit files).
pub fn blocks_as_bytes<B: Block>(blocks: &[B]) -> &[u8] {
    // SAFETY: `B: Block` has no padding, so every byte is initialised.
    unsafe {
        std::slice::from_raw_parts(blocks.as_ptr().cast::<u8>(), std::mem::size_of_val(blocks))
    }
}

/// Reads a little-endian f16 field.
#[inline(always)]
pub fn f16le(b: [u8; 2]) -> f32 {
    f16_to_f32(u16::from_le_bytes(b))
}

/// 32 values: `d * (q - 8)`, q a nibble. Low nibbles are values 0..16, high 16..32.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ4_0 {
    pub d: [u8; 2],
    pub qs: [u8; 16],
}

/// 32 values: `d * q + m`, q a nibble.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ4_1 {
    pub d: [u8; 2],
    pub m: [u8; 2],
    pub qs: [u8; 16],
}

/// 32 values: `d * (q - 16)`, q 5 bits: a nibble plus bit `i` of `qh` (u32 LE).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ5_0 {
    pub d: [u8; 2],
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}

/// 32 values: `d * q + m`, q 5 bits.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ5_1 {
    pub d: [u8; 2],
    pub m: [u8; 2],
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}

/// 32 values: `d * q`, q a signed byte.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ8_0 {
    pub d: [u8; 2],
    pub qs: [i8; 32],
}

/// 32 values: `d * q`, with `s = d * sum(q)` precomputed (activations for Q4_1/Q5_1).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ8_1 {
    pub d: [u8; 2],
    pub s: [u8; 2],
    pub qs: [i8; 32],
}

/// 256 values in 16 groups of 16: 2-bit q, 4-bit scale and 4-bit min per group.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ2K {
    pub scales: [u8; QK_K / 16],
    pub qs: [u8; QK_K / 4],
    pub d: [u8; 2],
    pub dmin: [u8; 2],
}

/// 256 values in 16 groups of 16: 3-bit q (2 low bits in `qs`, high bit in `hmask`),
/// 6-bit signed scales packed in 12 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ3K {
    pub hmask: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 4],
    pub scales: [u8; 12],
    pub d: [u8; 2],
}

/// 256 values in 8 groups of 32: 4-bit q, 6-bit scale and min per group.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ4K {
    pub d: [u8; 2],
    pub dmin: [u8; 2],
    pub scales: [u8; 12],
    pub qs: [u8; QK_K / 2],
}

/// 256 values in 8 groups of 32: 5-bit q (high bit in `qh`), 6-bit scale and min.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ5K {
    pub d: [u8; 2],
    pub dmin: [u8; 2],
    pub scales: [u8; 12],
    pub qh: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 2],
}

/// 256 values in 16 groups of 16: 6-bit q (low 4 in `ql`, high 2 in `qh`), i8 scales.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ6K {
    pub ql: [u8; QK_K / 2],
    pub qh: [u8; QK_K / 4],
    pub scales: [i8; QK_K / 16],
    pub d: [u8; 2],
}

/// 256 values `d * q` with an f32 scale and per-16 sums (activations for K-quants).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ8K {
    pub d: [u8; 4],
    pub qs: [i8; QK_K],
    pub bsums: [[u8; 2]; QK_K / 16],
}

macro_rules! blocks {
    ($($b:ty => $t:ident),*) => {$(
        // SAFETY: repr(C), byte arrays only, sizes asserted below (no padding).
        unsafe impl Block for $b {
            const TYPE: GgmlType = GgmlType::$t;
        }
        const _: () = assert!(std::mem::size_of::<$b>() == GgmlType::$t.type_size_const());
        const _: () = assert!(std::mem::align_of::<$b>() == 1);
    )*};
}
blocks!(BlockQ4_0 => Q4_0, BlockQ4_1 => Q4_1, BlockQ5_0 => Q5_0, BlockQ5_1 => Q5_1,
    BlockQ8_0 => Q8_0, BlockQ8_1 => Q8_1, BlockQ2K => Q2_K, BlockQ3K => Q3_K,
    BlockQ4K => Q4_K, BlockQ5K => Q5_K, BlockQ6K => Q6_K, BlockQ8K => Q8_K);

/// Unpacks the eight 6-bit (scale, min) pairs of a Q4_K/Q5_K block.
///
/// Bytes 0..4 hold scales 0..4 in their low 6 bits, bytes 4..8 mins 0..4; scales and
/// mins 4..8 keep their low nibbles in bytes 8..12 and their top two bits in the
/// spare top bits of bytes 0..8.
#[inline(always)]
pub fn k4_scale_min(scales: &[u8; 12], j: usize) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 63, scales[j + 4] & 63)
    } else {
        (
            (scales[j + 4] & 0xf) | ((scales[j - 4] >> 6) << 4),
            (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4),
        )
    }
}

/// The eight 6-bit scales and eight minima of a Q4_K block, unpacked four at a time
/// from its twelve scale bytes (the layout [`k4_scale_min`] reads one at a time): bytes
/// 0-3 hold scales 0-3 and bytes 4-7 minima 0-3 in their low six bits, bytes 8-11
/// the low nibbles of scales and minima 4-7, whose top two bits sit in the spare
/// bits 6-7 of bytes 0-7.
pub fn k4_scales_mins(b: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    let word = |k: usize| u32::from_le_bytes([b[4 * k], b[4 * k + 1], b[4 * k + 2], b[4 * k + 3]]);
    let (u0, u1, u2) = (word(0), word(1), word(2));
    const LOW6: u32 = 0x3f3f_3f3f;
    const LOW4: u32 = 0x0f0f_0f0f;
    const LOW2: u32 = 0x0303_0303;
    let s_hi = (u2 & LOW4) | (((u0 >> 6) & LOW2) << 4);
    let m_hi = ((u2 >> 4) & LOW4) | (((u1 >> 6) & LOW2) << 4);
    let join = |lo: u32, hi: u32| {
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&lo.to_le_bytes());
        out[4..].copy_from_slice(&hi.to_le_bytes());
        out
    };
    (join(u0 & LOW6, s_hi), join(u1 & LOW6, m_hi))
}

/// Unpacks the sixteen 6-bit scales of a Q3_K block (still offset by 32).
///
/// Low nibbles: scales 0..8 in the low nibbles of bytes 0..8, scales 8..16 in their
/// high nibbles; the top two bits of scale `i` are bits `2*(i/4)..` of byte `8 + i%4`.
#[inline(always)]
pub fn q3k_scales(s: &[u8; 12]) -> [i8; 16] {
    let mut out = [0i8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        let low = if i < 8 { s[i] & 0xf } else { s[i - 8] >> 4 };
        let high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        *o = ((low | (high << 4)) as i8) - 32;
    }
    out
}

#[cfg(test)]
mod k4_tests {
    use super::*;

    #[test]
    fn q4k_scales_unpack_like_the_reference() {
        let mut seed = 3u64;
        for _ in 0..200 {
            let mut b = [0u8; 12];
            for v in &mut b {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                *v = (seed >> 56) as u8;
            }
            let (s, m) = k4_scales_mins(&b);
            for g in 0..8 {
                assert_eq!((s[g], m[g]), k4_scale_min(&b, g), "group {g} of {b:?}");
            }
        }
    }
}
