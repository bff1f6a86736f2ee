//! AVX2 + FMA + F16C dot products (x86-64), chosen at run time after detection.
//!
//! Every function here is `unsafe` only because it requires those CPU features; the
//! dispatcher in `kernels` calls them only after `is_x86_feature_detected!` said yes.
//! The integer sums are the same as in `scalar`, only the float accumulation order
//! differs.

use std::arch::x86_64::*;

use super::act::{ActQ8K, ActQ8_0};
use crate::blocks::*;

/// One f16 scale to f32 with the F16C instruction.
#[inline(always)]
unsafe fn f16(b: [u8; 2]) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(
        _mm_cvtsi32_si128(u16::from_le_bytes(b) as i32),
    ))
}

#[inline(always)]
unsafe fn hsum_ps(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
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

/// Eight i32 sums of products of 32 signed bytes. `maddubs` needs one unsigned
/// operand, so the sign of `x` is moved onto `y` first.
#[inline(always)]
unsafe fn dot_i8(x: __m256i, y: __m256i) -> __m256i {
    let ax = _mm256_sign_epi8(x, x);
    let sy = _mm256_sign_epi8(y, x);
    _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1))
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

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_q8_0(w: &[BlockQ8_0], a: &[ActQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (w, a) in w.iter().zip(a) {
        let p = _mm256_cvtepi32_ps(dot_i8(load(&w.qs), load(&a.qs)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(w.d) * a.d), p, acc);
    }
    hsum_ps(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_q4_0(w: &[BlockQ4_0], a: &[ActQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (w, a) in w.iter().zip(a) {
        let x = _mm256_sub_epi8(nibbles(&w.qs), _mm256_set1_epi8(8));
        let p = _mm256_cvtepi32_ps(dot_i8(x, load(&a.qs)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(w.d) * a.d), p, acc);
    }
    hsum_ps(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_q5_0(w: &[BlockQ5_0], a: &[ActQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (w, a) in w.iter().zip(a) {
        // (nibble | bit << 4) - 16: where the fifth bit is clear the result is
        // nibble - 16, which as a signed byte is nibble | 0xf0; where it is set the
        // result is the nibble itself.
        let high = _mm256_andnot_si256(
            bits_to_bytes(u32::from_le_bytes(w.qh)),
            _mm256_set1_epi8(0xf0u8 as i8),
        );
        let x = _mm256_or_si256(nibbles(&w.qs), high);
        let p = _mm256_cvtepi32_ps(dot_i8(x, load(&a.qs)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(w.d) * a.d), p, acc);
    }
    hsum_ps(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_q4_k(w: &[BlockQ4K], a: &[ActQ8K]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut min_total = 0f32;
    let m4 = _mm256_set1_epi8(0x0f);
    for (w, a) in w.iter().zip(a) {
        let mut sumi = _mm256_setzero_si256();
        let mut mins = 0i32;
        for c in 0..4 {
            let (s0, m0) = k4_scale_min(&w.scales, 2 * c);
            let (s1, m1) = k4_scale_min(&w.scales, 2 * c + 1);
            let bs = &a.bsums[4 * c..4 * c + 4];
            mins += m0 as i32 * (bs[0] as i32 + bs[1] as i32)
                + m1 as i32 * (bs[2] as i32 + bs[3] as i32);
            let q = loadu8(&w.qs[32 * c..]);
            let lo = _mm256_and_si256(q, m4);
            let hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            // Nibbles are unsigned, so maddubs applies directly (max 2*15*127).
            let plo = _mm256_maddubs_epi16(lo, load(&a.qs[64 * c..]));
            let phi = _mm256_maddubs_epi16(hi, load(&a.qs[64 * c + 32..]));
            let plo = _mm256_madd_epi16(plo, _mm256_set1_epi16(s0 as i16));
            let phi = _mm256_madd_epi16(phi, _mm256_set1_epi16(s1 as i16));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(plo, phi));
        }
        acc = _mm256_fmadd_ps(
            _mm256_set1_ps(f16(w.d) * a.d),
            _mm256_cvtepi32_ps(sumi),
            acc,
        );
        min_total += f16(w.dmin) * a.d * mins as f32;
    }
    hsum_ps(acc) - min_total
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_q6_k(w: &[BlockQ6K], a: &[ActQ8K]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let m4 = _mm256_set1_epi8(0x0f);
    let m2 = _mm256_set1_epi8(0x03);
    for (w, a) in w.iter().zip(a) {
        let mut sumi = _mm256_setzero_si256();
        // The kernel multiplies the unsigned 6-bit codes; the -32 offset comes back
        // as 32 * scale * (sum of the group's activations).
        let mut offset = 0i32;
        for (s, b) in w.scales.iter().zip(&a.bsums) {
            offset += *s as i32 * *b as i32;
        }
        for h in 0..2 {
            let ql0 = loadu8(&w.ql[64 * h..]);
            let ql1 = loadu8(&w.ql[64 * h + 32..]);
            let qh = loadu8(&w.qh[32 * h..]);
            // Top two bits of each code, moved to bits 4..6.
            let t0 = _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4);
            let t1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4);
            let t2 = _mm256_and_si256(qh, _mm256_set1_epi8(0x30));
            let t3 = _mm256_and_si256(_mm256_srli_epi16(qh, 2), _mm256_set1_epi8(0x30));
            let q = [
                _mm256_or_si256(_mm256_and_si256(ql0, m4), t0),
                _mm256_or_si256(_mm256_and_si256(ql1, m4), t1),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), t2),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), t3),
            ];
            for (k, q) in q.into_iter().enumerate() {
                let base = 128 * h + 32 * k;
                let p = _mm256_maddubs_epi16(q, load(&a.qs[base..]));
                let g = base / 16;
                let sc = _mm256_set_m128i(
                    _mm_set1_epi16(w.scales[g + 1] as i16),
                    _mm_set1_epi16(w.scales[g] as i16),
                );
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, sc));
            }
        }
        let sumi = _mm256_sub_epi32(sumi, _mm256_setr_epi32(32 * offset, 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(
            _mm256_set1_ps(f16(w.d) * a.d),
            _mm256_cvtepi32_ps(sumi),
            acc,
        );
    }
    hsum_ps(acc)
}

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
