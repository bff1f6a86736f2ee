//! Row kernels for Q4_K and Q6_K on CPUs with AVX-512 (F, BW, VNNI): one weight
//! row against one vector (decoding one sequence) or four (a few sequences).
//!
//! A 512-bit register holds 64 codes, two of the Q4_K's 32-value groups or four of
//! the Q6_K's 16-value groups, lined up with 64 activation bytes:
//!
//! - Q4_K: 64 bytes of `qs` hold groups `4h` and `4h + 2` in their low nibbles and
//!   `4h + 1` and `4h + 3` in their high ones. A mask, and a shift and a mask, give
//!   two registers of codes with no shuffle; the activations are put in the matching
//!   group order (0, 2, 1, 3, 4, 6, 5, 7) once per call, by [`q4_k_lane_order`].
//! - Q6_K: 64 bytes of `ql` hold values `0..64` of a half-block in their low nibbles
//!   and `64..128` in their high ones; the top two bits of each come from `qh`, whose
//!   32 bytes, broadcast and shifted by 0 and 2, line up with both.
//!
//! `vpmaddubsw` multiplies codes and activation bytes into pairs, and `vpdpwssd`
//! scales the pairs by their group's scale (permuted into place per register) and
//! adds them up, so a super-block costs eight products per vector and the weight
//! work is shared by every vector of the call. The Q4_K sums run in two chains, one
//! per half block, so consecutive products do not wait on each other. The Q4_K
//! minima and the Q6_K code offset of 32 return through the activations' per-16
//! sums, without a horizontal sum per block. The integer sums are those of
//! `scalar`; only the float accumulation order differs.

#![allow(clippy::needless_range_loop)]

use std::arch::x86_64::*;

use super::act::ActQ8K;
use super::avx2::{blocks, f16, hsum_ps};
use crate::blocks::{k4_scales_mins, BlockQ4K, BlockQ6K};

/// Index vectors for `vpermw`, one per register of a super-block: lane `j` of
/// register `r` takes scale `first[r] + step * (j / per)`, so each scale covers the
/// `per` product pairs of its group.
const fn scale_index(first: [usize; 4], step: usize, per: usize) -> [[i16; 32]; 4] {
    let mut idx = [[0i16; 32]; 4];
    let mut r = 0;
    while r < 4 {
        let mut j = 0;
        while j < 32 {
            idx[r][j] = (first[r] + step * (j / per)) as i16;
            j += 1;
        }
        r += 1;
    }
    idx
}

/// Q4_K: register `r` holds groups `g` and `g + 2`, sixteen pairs each, for `g` the
/// `r`-th of 0, 1, 4, 5 (see [`q4_k_lane_order`]).
static Q4_K_SCALES: [[i16; 32]; 4] = scale_index([0, 1, 4, 5], 2, 16);
/// Q6_K: register `r` holds groups `4r..4r + 4`, eight pairs each.
static Q6_K_SCALES: [[i16; 32]; 4] = scale_index([0, 4, 8, 12], 1, 8);

#[inline(always)]
unsafe fn load_index(idx: &[i16; 32]) -> __m512i {
    _mm512_loadu_si512(idx.as_ptr().cast())
}

/// The number of super-blocks the row and every vector have in common (they are
/// equal for rows and vectors from one validated matrix call).
#[inline(always)]
fn common_len<W, const C: usize>(w: &[W], a: &[&[ActQ8K]; C]) -> usize {
    a.iter().fold(w.len(), |n, v| n.min(v.len()))
}

/// Puts Q8_K activations in the order [`tile_q4_k`] reads: in each half of 128
/// values, values `32..64` and `64..96` trade places (the order of the groups becomes
/// 0, 2, 1, 3, 4, 6, 5, 7). The exchange is its own inverse; the per-16 sums keep
/// the natural order.
pub fn q4_k_lane_order(acts: &mut [ActQ8K]) {
    for a in acts {
        for half in [0, 128] {
            let (first, second) = a.qs[half + 32..half + 96].split_at_mut(32);
            first.swap_with_slice(second);
        }
    }
}

/// One Q4_K row against `C` Q8_K vectors in [`q4_k_lane_order`].
///
/// Each 64-byte half of `qs` holds four groups: its low nibbles are groups `4h` and
/// `4h + 2` (one per 32 bytes), its high nibbles `4h + 1` and `4h + 3`. One mask and
/// one shift and mask turn a half into two registers of codes, with no shuffle,
/// because the activations were put in that order once per call.
#[inline(always)]
unsafe fn tile_q4_k<const C: usize>(w: &[BlockQ4K], a: [&[ActQ8K]; C]) -> [f32; C] {
    let n = common_len(w, &a);
    let t = crate::half::f16_table();
    let m4 = _mm512_set1_epi8(0x0f);
    let index = Q4_K_SCALES.map(|i| load_index(&i));
    let mut acc = [_mm512_setzero_ps(); C];
    let mut acc_min = [_mm256_setzero_ps(); C];
    for i in 0..n {
        let b = &w[i];
        let (scales, mins) = k4_scales_mins(&b.scales);
        let sm = _mm_set_epi64x(i64::from_le_bytes(mins), i64::from_le_bytes(scales));
        let sc = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sm));
        // Each group's minimum twice, against the activations' two per-16 sums.
        let mins2 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
        // One sum per half of the block: two short dependency chains, not one long.
        let mut sumi = [[_mm512_setzero_si512(); C]; 2];
        for h in 0..2 {
            let q = _mm512_loadu_si512(b.qs[64 * h..].as_ptr().cast());
            let codes = [
                _mm512_and_si512(q, m4),
                _mm512_and_si512(_mm512_srli_epi16::<4>(q), m4),
            ];
            for (j, q) in codes.into_iter().enumerate() {
                let r = 2 * h + j;
                let s = _mm512_permutexvar_epi16(index[r], sc);
                for c in 0..C {
                    let x = _mm512_loadu_si512(a[c][i].qs[64 * r..].as_ptr().cast());
                    // Codes are at most 15, so the pair sums fit i16 (2 * 15 * 127).
                    let p = _mm512_maddubs_epi16(q, x);
                    sumi[h][c] = _mm512_dpwssd_epi32(sumi[h][c], p, s);
                }
            }
        }
        let (d, dmin) = (f16(t, b.d), f16(t, b.dmin));
        for c in 0..C {
            let ab = &a[c][i];
            let sum = _mm512_add_epi32(sumi[0][c], sumi[1][c]);
            acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(d * ab.d), _mm512_cvtepi32_ps(sum), acc[c]);
            let bs = _mm256_loadu_si256(ab.bsums.as_ptr().cast());
            acc_min[c] = _mm256_fmadd_ps(
                _mm256_set1_ps(dmin * ab.d),
                _mm256_cvtepi32_ps(_mm256_madd_epi16(mins2, bs)),
                acc_min[c],
            );
        }
    }
    let mut out = [0f32; C];
    for c in 0..C {
        out[c] = _mm512_reduce_add_ps(acc[c]) - hsum_ps(acc_min[c]);
    }
    out
}

/// One Q6_K row against `C` Q8_K vectors.
#[inline(always)]
unsafe fn tile_q6_k<const C: usize>(w: &[BlockQ6K], a: [&[ActQ8K]; C]) -> [f32; C] {
    let n = common_len(w, &a);
    let t = crate::half::f16_table();
    let m4 = _mm512_set1_epi8(0x0f);
    let m3 = _mm512_set1_epi8(0x03);
    let m30 = _mm512_set1_epi8(0x30);
    // `qh` serves values 0..32 of each quarter unshifted and 32..64 shifted by 2.
    let shifts = _mm512_inserti64x4::<1>(_mm512_setzero_si512(), _mm256_set1_epi16(2));
    let mut acc = [_mm512_setzero_ps(); C];
    for i in 0..n {
        let b = &w[i];
        let s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(b.scales.as_ptr().cast()));
        let sc = _mm512_castsi256_si512(s16);
        let mut sumi = [_mm512_setzero_si512(); C];
        for h in 0..2 {
            let ql = _mm512_loadu_si512(b.ql[64 * h..].as_ptr().cast());
            let qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(b.qh[32 * h..].as_ptr().cast()));
            let qh = _mm512_srlv_epi16(qh, shifts);
            let q = [
                // Values 128h..128h + 64: low nibbles, top bits from bits 0..2.
                _mm512_or_si512(
                    _mm512_and_si512(ql, m4),
                    _mm512_slli_epi16::<4>(_mm512_and_si512(qh, m3)),
                ),
                // Values 128h + 64..128h + 128: high nibbles, top bits from bits 4..6.
                _mm512_or_si512(
                    _mm512_and_si512(_mm512_srli_epi16::<4>(ql), m4),
                    _mm512_and_si512(qh, m30),
                ),
            ];
            for (k, q) in q.into_iter().enumerate() {
                let s = _mm512_permutexvar_epi16(load_index(&Q6_K_SCALES[2 * h + k]), sc);
                let base = 128 * h + 64 * k;
                for c in 0..C {
                    let x = _mm512_loadu_si512(a[c][i].qs[base..].as_ptr().cast());
                    // Codes are at most 63: pair sums up to 2 * 63 * 127 fit i16.
                    let p = _mm512_maddubs_epi16(q, x);
                    sumi[c] = _mm512_dpwssd_epi32(sumi[c], p, s);
                }
            }
        }
        let d = f16(t, b.d);
        for c in 0..C {
            let ab = &a[c][i];
            // The codes' offset of 32: 32 * sum over groups of scale * group sum.
            let bs = _mm256_loadu_si256(ab.bsums.as_ptr().cast());
            let offset = _mm256_slli_epi32::<5>(_mm256_madd_epi16(s16, bs));
            let sum = _mm512_sub_epi32(sumi[c], _mm512_zextsi256_si512(offset));
            acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(d * ab.d), _mm512_cvtepi32_ps(sum), acc[c]);
        }
    }
    let mut out = [0f32; C];
    for c in 0..C {
        out[c] = _mm512_reduce_add_ps(acc[c]);
    }
    out
}

macro_rules! entry_points {
    ($one:ident, $batch4:ident, $tile:ident, $block:ty) => {
        /// One row against one vector (for Q4_K, activations in [`q4_k_lane_order`]).
        ///
        /// # Safety
        /// The CPU must support AVX2, FMA, F16C, AVX512-F, AVX512-BW and AVX512-VNNI.
        #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vnni")]
        pub unsafe fn $one(w: &[u8], a: &[ActQ8K]) -> f32 {
            $tile::<1>(blocks::<$block>(w), [a])[0]
        }

        /// One row against four vectors.
        ///
        /// # Safety
        /// As for the one-vector form.
        #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vnni")]
        pub unsafe fn $batch4(w: &[u8], a: [&[ActQ8K]; 4]) -> [f32; 4] {
            $tile::<4>(blocks::<$block>(w), a)
        }
    };
}

entry_points!(q4_k_one, q4_k_batch4, tile_q4_k, BlockQ4K);
entry_points!(q6_k_one, q6_k_batch4, tile_q6_k, BlockQ6K);
