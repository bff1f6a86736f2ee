//! AVX2 + FMA + F16C dot products (x86-64), chosen at run time after detection,
//! plus `_vnni` variants of the 32-value block kernels that use the AVX-512 VNNI
//! byte dot product on 256-bit registers.
//!
//! Every entry point here is `unsafe` only because it requires those CPU features;
//! the dispatcher in `kernels` calls them only after `is_x86_feature_detected!`
//! said yes. The integer sums are the same as in `scalar`; only the float
//! accumulation order differs.

// Tile loops index several arrays in step (rows, vectors, accumulators); index
// loops keep that visible, and iterator adaptors would add closures, which do not
// inherit this module's target features.
#![allow(clippy::needless_range_loop)]

use std::arch::x86_64::*;

use super::act::{ActQ8K, ActQ8_0};
use crate::blocks::*;

// `maddubs` multiplies unsigned by signed bytes, so signed weights are handled by
// moving the weight's sign onto the activation (`sign_epi8`) and using |weight|.

type F16Table = [f32; 1 << 16];

/// An f16 scale field to f32 (see `half::f16_table` for why a table).
#[inline(always)]
pub(super) fn f16(t: &F16Table, b: [u8; 2]) -> f32 {
    t[u16::from_le_bytes(b) as usize]
}

#[inline(always)]
pub(super) unsafe fn hsum_ps(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
}

#[inline(always)]
unsafe fn hsum_epi32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// Byte shuffles broadcasting one i16 of a 128-bit lane: `WORDS[j]` repeats word `j`
/// in both lanes; `PAIRS[k]` repeats word `2k` in the low lane and `2k + 1` in the high.
const WORDS: [[u8; 32]; 8] = word_masks(false);
const PAIRS: [[u8; 32]; 8] = word_masks(true);

const fn word_masks(pairs: bool) -> [[u8; 32]; 8] {
    let mut m = [[0u8; 32]; 8];
    let mut j = 0;
    while j < 8 {
        let mut i = 0;
        while i < 32 {
            let word = if pairs && i >= 16 {
                (2 * j + 1) % 8
            } else if pairs {
                (2 * j) % 8
            } else {
                j
            };
            m[j][i] = (2 * word + (i & 1)) as u8;
            i += 1;
        }
        j += 1;
    }
    m
}

#[inline(always)]
unsafe fn word_mask(j: usize) -> __m256i {
    _mm256_loadu_si256(WORDS[j].as_ptr().cast())
}

#[inline(always)]
unsafe fn pair_mask(k: usize) -> __m256i {
    _mm256_loadu_si256(PAIRS[k].as_ptr().cast())
}

#[inline(always)]
unsafe fn load(p: &[i8]) -> __m256i {
    debug_assert!(p.len() >= 32);
    _mm256_loadu_si256(p.as_ptr().cast())
}

#[inline(always)]
unsafe fn loadu8(p: &[u8]) -> __m256i {
    debug_assert!(p.len() >= 32);
    _mm256_loadu_si256(p.as_ptr().cast())
}

/// The 32 nibbles of a 4-bit block as bytes: low nibbles first, then high.
#[inline(always)]
unsafe fn nibbles(qs: &[u8; 16]) -> __m256i {
    let q = _mm_loadu_si128(qs.as_ptr().cast());
    let both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0f))
}

/// Expands the 32 bits of `bits` to 32 bytes: 0xff where the bit is set.
#[inline(always)]
unsafe fn bits_to_bytes(bits: u32) -> __m256i {
    let v = _mm256_set1_epi32(bits as i32);
    #[rustfmt::skip]
    let spread = _mm256_setr_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
        2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
    );
    let v = _mm256_shuffle_epi8(v, spread);
    let mask = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    _mm256_cmpeq_epi8(_mm256_and_si256(v, mask), mask)
}

/// Weight blocks of 32 values: codes as 32 bytes and one scale, the value being
/// `scale * (code - OFFSET)`. With `OFFSET == 0` the codes are signed bytes; else
/// they are unsigned and small, so they multiply the activations directly and the
/// offset returns through the activations' block sums.
trait Block32 {
    const OFFSET: i32;
    unsafe fn decode(&self, t: &F16Table) -> (__m256i, f32);
}

impl Block32 for BlockQ8_0 {
    const OFFSET: i32 = 0;
    #[inline(always)]
    unsafe fn decode(&self, t: &F16Table) -> (__m256i, f32) {
        (load(&self.qs), f16(t, self.d))
    }
}

impl Block32 for BlockQ4_0 {
    const OFFSET: i32 = 8;
    #[inline(always)]
    unsafe fn decode(&self, t: &F16Table) -> (__m256i, f32) {
        (nibbles(&self.qs), f16(t, self.d))
    }
}

impl Block32 for BlockQ5_0 {
    const OFFSET: i32 = 16;
    #[inline(always)]
    unsafe fn decode(&self, t: &F16Table) -> (__m256i, f32) {
        // nibble | fifth bit << 4, in 0..32.
        let high = _mm256_and_si256(
            bits_to_bytes(u32::from_le_bytes(self.qh)),
            _mm256_set1_epi8(0x10),
        );
        (_mm256_or_si256(nibbles(&self.qs), high), f16(t, self.d))
    }
}

/// Running sums of one tile: the scaled integer dots, and for offset codes the
/// sum of `weight scale * activation block sum` that the offset multiplies.
struct Acc<const R: usize, const C: usize> {
    dot: [[__m256; C]; R],
    off: [[f32; C]; R],
}

impl<const R: usize, const C: usize> Acc<R, C> {
    #[inline(always)]
    unsafe fn new() -> Self {
        Acc {
            dot: [[_mm256_setzero_ps(); C]; R],
            off: [[0.0; C]; R],
        }
    }
}

/// Number of blocks every operand of a tile has (they agree for validated shapes).
#[inline(always)]
fn common_len<W, A, const R: usize, const C: usize>(w: &[&[W]; R], a: &[&[A]; C]) -> usize {
    let n = w.iter().map(|w| w.len()).min().unwrap_or(0);
    a.iter().map(|a| a.len()).min().unwrap_or(0).min(n)
}

/// Adds block `i`'s products for `R` rows and `C` vectors into `acc`. Each weight
/// block is decoded once and used for all `C` vectors.
#[inline(always)]
unsafe fn step_q32<const VNNI: bool, B: Block32, const R: usize, const C: usize>(
    w: &[&[B]; R],
    a: &[&[ActQ8_0]; C],
    i: usize,
    t: &F16Table,
    acc: &mut Acc<R, C>,
) {
    let mut ys = [_mm256_setzero_si256(); C];
    for c in 0..C {
        ys[c] = load(&a[c][i].qs);
    }
    for r in 0..R {
        let (x, dw) = w[r][i].decode(t);
        // Signed codes: |x| times y with x's sign moved onto y, since the byte
        // dot products take one unsigned operand.
        let (ux, signed) = if B::OFFSET == 0 {
            (_mm256_sign_epi8(x, x), true)
        } else {
            (x, false)
        };
        for c in 0..C {
            let y = if signed {
                _mm256_sign_epi8(ys[c], x)
            } else {
                ys[c]
            };
            // Both forms give the same sums: codes are at most 128 and |y| at most
            // 127, so the 16-bit pair sums of `maddubs` never saturate.
            let p = if VNNI {
                _mm256_dpbusd_epi32(_mm256_setzero_si256(), ux, y)
            } else {
                _mm256_madd_epi16(_mm256_maddubs_epi16(ux, y), _mm256_set1_epi16(1))
            };
            let ac = &a[c][i];
            let d = _mm256_set1_ps(dw * ac.d);
            acc.dot[r][c] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc.dot[r][c]);
            if !signed {
                acc.off[r][c] += dw * ac.s;
            }
        }
    }
}

/// `R` weight rows against `C` activation vectors, 32-value blocks; `VNNI` uses the
/// one-instruction byte dot product of AVX-512 VNNI in place of two. Blocks go in
/// pairs into two sets of accumulators: with one row and one vector a single set
/// would chain every block on the previous FMA's latency.
#[inline(always)]
unsafe fn tile_q32<const VNNI: bool, B: Block32, const R: usize, const C: usize>(
    w: [&[B]; R],
    a: [&[ActQ8_0]; C],
) -> [[f32; C]; R] {
    let n = common_len(&w, &a);
    let t = crate::half::f16_table();
    let mut even = Acc::<R, C>::new();
    let mut odd = Acc::<R, C>::new();
    let mut i = 0;
    while i + 2 <= n {
        step_q32::<VNNI, B, R, C>(&w, &a, i, t, &mut even);
        step_q32::<VNNI, B, R, C>(&w, &a, i + 1, t, &mut odd);
        i += 2;
    }
    if i < n {
        step_q32::<VNNI, B, R, C>(&w, &a, i, t, &mut even);
    }
    let mut minus = [[0f32; C]; R];
    for r in 0..R {
        for c in 0..C {
            even.dot[r][c] = _mm256_add_ps(even.dot[r][c], odd.dot[r][c]);
            minus[r][c] = B::OFFSET as f32 * (even.off[r][c] + odd.off[r][c]);
        }
    }
    finish(&even.dot, &minus)
}

/// The Q4_K and Q5_K layouts: 4-bit codes in `qs`, 6-bit scales and mins, and for
/// Q5_K a fifth bit per value in `qh` (bit `g` of `qh[l]` for value `l` of group `g`).
trait KBlock {
    fn d(&self) -> [u8; 2];
    fn dmin(&self) -> [u8; 2];
    fn scales(&self) -> &[u8; 12];
    fn qs(&self) -> &[u8; 128];
    fn qh(&self) -> Option<&[u8; 32]>;
}

macro_rules! kblock {
    ($b:ty, $qh:expr) => {
        impl KBlock for $b {
            #[inline(always)]
            fn d(&self) -> [u8; 2] {
                self.d
            }
            #[inline(always)]
            fn dmin(&self) -> [u8; 2] {
                self.dmin
            }
            #[inline(always)]
            fn scales(&self) -> &[u8; 12] {
                &self.scales
            }
            #[inline(always)]
            fn qs(&self) -> &[u8; 128] {
                &self.qs
            }
            #[inline(always)]
            fn qh(&self) -> Option<&[u8; 32]> {
                $qh(self)
            }
        }
    };
}
fn no_high_bits(_: &BlockQ4K) -> Option<&[u8; 32]> {
    None
}
fn q5k_high_bits(b: &BlockQ5K) -> Option<&[u8; 32]> {
    Some(&b.qh)
}
kblock!(BlockQ4K, no_high_bits);
kblock!(BlockQ5K, q5k_high_bits);

/// Q4_K/Q5_K rows against Q8_K vectors. Per super-block and row the scales are
/// unpacked once; the minima come back through the activations' per-16 sums.
#[inline(always)]
unsafe fn tile_qk4<B: KBlock, const R: usize, const C: usize>(
    w: [&[B]; R],
    a: [&[ActQ8K]; C],
) -> [[f32; C]; R] {
    let n = common_len(&w, &a);
    let t = crate::half::f16_table();
    let m4 = _mm256_set1_epi8(0x0f);
    let mut acc = [[_mm256_setzero_ps(); C]; R];
    let mut min_total = [[0f32; C]; R];
    for i in 0..n {
        for r in 0..R {
            let b = &w[r][i];
            let (scales, mins) = k4_scales_mins(b.scales());
            // Scales as i16 in both 128-bit lanes, to broadcast one per shuffle; minima
            // twice each, against the activations' per-16 sums.
            let sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64(
                scales.as_ptr().cast(),
            )));
            let m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(mins.as_ptr().cast()));
            let m16 = _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16), _mm_unpacklo_epi16(m16, m16));
            let mut sumi = [_mm256_setzero_si256(); C];
            // Q5_K: the fifth bits, shifted right by two per 64-value chunk so the
            // current chunk's two groups sit in bits 0 and 1.
            // A `match`, not `Option::map`: a closure would not inherit this
            // function's target features, leaving the load as a call.
            #[allow(clippy::manual_map)]
            let mut qh = match b.qh() {
                Some(h) => Some(loadu8(h)),
                None => None,
            };
            for c4 in 0..4 {
                let q = loadu8(&b.qs()[32 * c4..]);
                let mut lo = _mm256_and_si256(q, m4);
                let mut hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                if let Some(h) = qh {
                    let one = _mm256_set1_epi8(1);
                    let two = _mm256_set1_epi8(2);
                    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(h, one), 4));
                    hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(h, two), 3));
                    qh = Some(_mm256_srli_epi16(h, 2));
                }
                let s0 = _mm256_shuffle_epi8(sc16, word_mask(2 * c4));
                let s1 = _mm256_shuffle_epi8(sc16, word_mask(2 * c4 + 1));
                for c in 0..C {
                    let qs = &a[c][i].qs;
                    // Codes are unsigned, so maddubs applies directly (max 2*31*127).
                    let plo = _mm256_maddubs_epi16(lo, load(&qs[64 * c4..]));
                    let phi = _mm256_maddubs_epi16(hi, load(&qs[64 * c4 + 32..]));
                    let p =
                        _mm256_add_epi32(_mm256_madd_epi16(plo, s0), _mm256_madd_epi16(phi, s1));
                    sumi[c] = _mm256_add_epi32(sumi[c], p);
                }
            }
            let (d, dmin) = (f16(t, b.d()), f16(t, b.dmin()));
            for c in 0..C {
                let ab = &a[c][i];
                let bs = _mm256_loadu_si256(ab.bsums.as_ptr().cast());
                let mins = hsum_epi32(_mm256_madd_epi16(m16, bs));
                min_total[r][c] += dmin * ab.d * mins as f32;
                acc[r][c] = _mm256_fmadd_ps(
                    _mm256_set1_ps(d * ab.d),
                    _mm256_cvtepi32_ps(sumi[c]),
                    acc[r][c],
                );
            }
        }
    }
    finish(&acc, &min_total)
}

/// Q6_K rows against Q8_K vectors. The unsigned 6-bit codes are multiplied
/// directly; their -32 offset returns as 32 * scale * (group sum of activations).
#[inline(always)]
unsafe fn tile_q6_k<const R: usize, const C: usize>(
    w: [&[BlockQ6K]; R],
    a: [&[ActQ8K]; C],
) -> [[f32; C]; R] {
    let n = common_len(&w, &a);
    let t = crate::half::f16_table();
    let m4 = _mm256_set1_epi8(0x0f);
    let m2 = _mm256_set1_epi8(0x03);
    let m30 = _mm256_set1_epi8(0x30);
    let mut acc = [[_mm256_setzero_ps(); C]; R];
    for i in 0..n {
        for r in 0..R {
            let b = &w[r][i];
            let mut sumi = [_mm256_setzero_si256(); C];
            let s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(b.scales.as_ptr().cast()));
            for h in 0..2 {
                // This half's eight scales in both 128-bit lanes.
                let half = if h == 0 {
                    _mm256_permute4x64_epi64::<0x44>(s16)
                } else {
                    _mm256_permute4x64_epi64::<0xee>(s16)
                };
                let ql0 = loadu8(&b.ql[64 * h..]);
                let ql1 = loadu8(&b.ql[64 * h + 32..]);
                let qh = loadu8(&b.qh[32 * h..]);
                let qh2 = _mm256_srli_epi16(qh, 2);
                // Low nibble plus the top two bits moved to bits 4..6.
                let q = [
                    _mm256_or_si256(
                        _mm256_and_si256(ql0, m4),
                        _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4),
                    ),
                    _mm256_or_si256(
                        _mm256_and_si256(ql1, m4),
                        _mm256_slli_epi16(_mm256_and_si256(qh2, m2), 4),
                    ),
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                        _mm256_and_si256(qh, m30),
                    ),
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                        _mm256_and_si256(qh2, m30),
                    ),
                ];
                for (k, q) in q.into_iter().enumerate() {
                    let base = 128 * h + 32 * k;
                    let g = base / 16;
                    debug_assert_eq!(g % 8, 2 * k);
                    let sc = _mm256_shuffle_epi8(half, pair_mask(k));
                    for c in 0..C {
                        let p = _mm256_maddubs_epi16(q, load(&a[c][i].qs[base..]));
                        sumi[c] = _mm256_add_epi32(sumi[c], _mm256_madd_epi16(p, sc));
                    }
                }
            }
            let d = f16(t, b.d);
            for c in 0..C {
                let ab = &a[c][i];
                let bs = _mm256_loadu_si256(ab.bsums.as_ptr().cast());
                let offset = hsum_epi32(_mm256_madd_epi16(s16, bs));
                let fix = _mm256_setr_epi32(32 * offset, 0, 0, 0, 0, 0, 0, 0);
                acc[r][c] = _mm256_fmadd_ps(
                    _mm256_set1_ps(d * ab.d),
                    _mm256_cvtepi32_ps(_mm256_sub_epi32(sumi[c], fix)),
                    acc[r][c],
                );
            }
        }
    }
    finish(&acc, &[[0.0; C]; R])
}

/// Horizontal sums of the accumulators, less a per-output correction. Plain loops:
/// closures would not inherit the caller's target features, and the intrinsics
/// inside them would become calls.
#[inline(always)]
unsafe fn finish<const R: usize, const C: usize>(
    acc: &[[__m256; C]; R],
    minus: &[[f32; C]; R],
) -> [[f32; C]; R] {
    let mut out = [[0f32; C]; R];
    for r in 0..R {
        for c in 0..C {
            out[r][c] = hsum_ps(acc[r][c]) - minus[r][c];
        }
    }
    out
}

/// Views a validated row's bytes as blocks.
#[inline(always)]
pub(super) fn blocks<B: Block>(row: &[u8]) -> &[B] {
    as_blocks(row).unwrap_or(&[])
}

/// Entry points for one weight type: one row x one vector (decode, batch 1) and one
/// row x four vectors (batches). Four rows x one vector would share activation
/// loads, but four interleaved row streams measured twice as slow as one
/// sequential stream once the matrix outgrows the cache.
macro_rules! entry_points {
    ($one:ident, $batch4:ident, $tile:ident[$($b:tt),*], $act:ty) => {
        entry_points!($one, $batch4, $tile[$($b),*], $act, "avx2,fma,f16c");
    };
    ($one:ident, $batch4:ident, $tile:ident[$($b:tt),*], $act:ty, $features:literal) => {
        #[target_feature(enable = $features)]
        pub unsafe fn $one(w: &[u8], a: &[$act]) -> f32 {
            $tile::<$($b,)* 1, 1>([blocks(w)], [a])[0][0]
        }

        #[target_feature(enable = $features)]
        pub unsafe fn $batch4(w: &[u8], a: [&[$act]; 4]) -> [f32; 4] {
            $tile::<$($b,)* 1, 4>([blocks(w)], a)[0]
        }
    };
}

entry_points!(q8_0_one, q8_0_batch4, tile_q32[false, BlockQ8_0], ActQ8_0);
entry_points!(q4_0_one, q4_0_batch4, tile_q32[false, BlockQ4_0], ActQ8_0);
entry_points!(q5_0_one, q5_0_batch4, tile_q32[false, BlockQ5_0], ActQ8_0);
// The same kernels with the VNNI byte dot product (AVX-512 VNNI on 256-bit registers).
entry_points!(q8_0_one_vnni, q8_0_batch4_vnni, tile_q32[true, BlockQ8_0], ActQ8_0, "avx2,fma,f16c,avx512vnni,avx512vl");
entry_points!(q4_0_one_vnni, q4_0_batch4_vnni, tile_q32[true, BlockQ4_0], ActQ8_0, "avx2,fma,f16c,avx512vnni,avx512vl");
entry_points!(q5_0_one_vnni, q5_0_batch4_vnni, tile_q32[true, BlockQ5_0], ActQ8_0, "avx2,fma,f16c,avx512vnni,avx512vl");
entry_points!(q4_k_one, q4_k_batch4, tile_qk4[BlockQ4K], ActQ8K);
entry_points!(q5_k_one, q5_k_batch4, tile_qk4[BlockQ5K], ActQ8K);
entry_points!(q6_k_one, q6_k_batch4, tile_q6_k[], ActQ8K);

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_f32(w: &[u8], x: &[f32]) -> f32 {
    let n = x.len().min(w.len() / 4);
    let (wp, xp) = (w.as_ptr().cast::<f32>(), x.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            let wv = _mm256_loadu_ps(wp.add(i + 8 * k));
            *a = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xp.add(i + 8 * k)), *a);
        }
        i += 32;
    }
    while i + 8 <= n {
        acc[0] = _mm256_fmadd_ps(
            _mm256_loadu_ps(wp.add(i)),
            _mm256_loadu_ps(xp.add(i)),
            acc[0],
        );
        i += 8;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut s = hsum_ps(sum);
    while i < n {
        s += wp.add(i).read_unaligned() * x[i];
        i += 1;
    }
    s
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_f16(w: &[u8], x: &[f32]) -> f32 {
    let n = x.len().min(w.len() / 2);
    let (wp, xp) = (w.as_ptr(), x.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 2];
    let mut i = 0;
    while i + 16 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            let h = _mm_loadu_si128(wp.add(2 * (i + 8 * k)).cast());
            *a = _mm256_fmadd_ps(_mm256_cvtph_ps(h), _mm256_loadu_ps(xp.add(i + 8 * k)), *a);
        }
        i += 16;
    }
    let mut s = hsum_ps(_mm256_add_ps(acc[0], acc[1]));
    while i < n {
        s += crate::half::f16_to_f32(u16::from_le_bytes([w[2 * i], w[2 * i + 1]])) * x[i];
        i += 1;
    }
    s
}
