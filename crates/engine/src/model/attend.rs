//! The attention kernel: softmax attention of query heads over cached keys and values.
//!
//! Both functions follow the rounding of ggml's CPU flash attention over an f16 cache
//! (llama.cpp's default): the query is rounded to f16, each score `q . k` is
//! accumulated in f32, the softmax runs online in f32 (running maximum `m`, running
//! sum `s`), and the weighted sum of values is kept in an f16 accumulator (rescaled in
//! f16 whenever the maximum grows) until the final division by `s`.
//!
//! - [`attend`] is one query head, written to be read; it is the reference.
//! - [`attend_heads`] is what the models call: the query heads that read one cached
//!   head (a grouped-query group, or every head of latent attention) in one pass over
//!   the positions. Each cached key and value row is loaded and widened once per group
//!   instead of once per head. On CPUs with AVX-512 it runs sixteen lanes at a time
//!   and gives the bits of [`attend`] (the same sums in the same order); elsewhere it
//!   runs [`attend`] per head.
//!
//! The softmax takes its exponentials from the C library, one per position and head,
//! as ggml does. Two changes that looked harmless measurably moved greedy decoding of
//! the test model away from llama.cpp's, so neither is made: a vector `exp` one unit
//! in the last place away, and scores summed in another order (ggml's own 512-bit
//! order included).

use super::half;

/// Where one head's keys (or values) sit in the cache: `len` values at `off` within
/// each `width`-wide cached row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadSlice {
    pub width: usize,
    pub off: usize,
    pub len: usize,
}

impl HeadSlice {
    fn row(self, data: &[u16], t: usize) -> &[u16] {
        &data[t * self.width + self.off..][..self.len]
    }
}

/// Softmax attention of one query head over the cached `positions`: scores against
/// the keys `k` (as wide as `q`), weights applied to the values `v` (as wide as `out`).
pub(crate) fn attend(
    q: &[f32],
    (keys, k): (&[u16], HeadSlice),
    (values, v): (&[u16], HeadSlice),
    positions: impl IntoIterator<Item = usize>,
    scale: f32,
    out: &mut [f32],
) {
    debug_assert!(q.len() == k.len && out.len() == v.len);
    let q16: Vec<f32> = q.iter().map(|&x| half::to_f32(half::from_f32(x))).collect();
    let mut acc = vec![0u16; out.len()];
    let mut max = f32::NEG_INFINITY;
    let mut sum = 0.0f32;
    for t in positions {
        let s = half::dot(&q16, k.row(keys, t)) * scale;
        let mut weight = 1.0f32;
        if s > max {
            let grow = (max - s).exp();
            max = s;
            half::scale_f16(&mut acc, grow);
            sum *= grow;
        } else {
            weight = (s - max).exp();
        }
        half::axpy_f16(&mut acc, weight, v.row(values, t));
        sum += weight;
    }
    let inv = if sum == 0.0 { 0.0 } else { 1.0 / sum };
    for (o, &a) in out.iter_mut().zip(&acc) {
        *o = half::to_f32(a) * inv;
    }
}

/// Most query heads one call of [`attend_heads`] takes.
pub(crate) const MAX_HEADS: usize = 16;

/// Output ranges of attention tasks over `units` runs of `group` heads of `width`
/// values each, in tiles of up to `per` heads: task `t` is tile `t % tiles` of unit
/// `t / tiles`, where `tiles = group.div_ceil(per)` (returned with the ranges).
pub(crate) fn head_tiles(
    units: usize,
    group: usize,
    per: usize,
    width: usize,
) -> (usize, Vec<std::ops::Range<usize>>) {
    let tiles = group.div_ceil(per);
    let ranges = (0..units * tiles)
        .map(|t| {
            let first = t / tiles * group + t % tiles * per;
            let heads = per.min(group - t % tiles * per);
            first * width..(first + heads) * width
        })
        .collect();
    (tiles, ranges)
}

/// [`attend`] for `qs.len() / k.len` query heads (at most [`MAX_HEADS`]) that share
/// the cached head `k`/`v`: query head `h` is `qs[h * k.len..][..k.len]`, its output
/// `out[h * v.len..][..v.len]`.
pub(crate) fn attend_heads(
    qs: &[f32],
    keys: (&[u16], HeadSlice),
    values: (&[u16], HeadSlice),
    positions: impl IntoIterator<Item = usize> + Clone,
    scale: f32,
    out: &mut [f32],
) {
    let (kl, vl) = (keys.1.len, values.1.len);
    let heads = qs.len() / kl.max(1);
    debug_assert!(qs.len() == heads * kl && out.len() == heads * vl && heads <= MAX_HEADS);
    #[cfg(target_arch = "x86_64")]
    if x86::available() && kl % 16 == 0 && vl % 16 == 0 && heads <= MAX_HEADS {
        // SAFETY: AVX-512F, AVX2, FMA and F16C were detected at run time; the widths
        // are whole steps of the kernel.
        unsafe { x86::attend_heads(qs, heads, keys, values, positions, scale, out) };
        return;
    }
    for (q, o) in qs.chunks_exact(kl).zip(out.chunks_exact_mut(vl)) {
        attend(q, keys, values, positions.clone(), scale, o);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! AVX-512F kernels (with AVX2, FMA, F16C); callers check [`available`].
    #![allow(clippy::needless_range_loop)]

    use std::arch::x86_64::*;

    use super::{half, HeadSlice, MAX_HEADS};

    /// AVX-512F is present and the kernels are not capped below it
    /// (`VERIMATH_KERNELS`, see `gguf::Isa::detect`).
    pub fn available() -> bool {
        static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *OK.get_or_init(|| {
            gguf::Isa::detect() == gguf::Isa::Avx512Vnni
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c")
        })
    }

    /// Heads per tile: the key and value rows are widened once per tile.
    const TILE: usize = 4;

    /// Scores of the `N` heads at `q` (each `kl` wide, f16-rounded; `kl` a multiple of
    /// 16) against the key row `k`, into `s[0..N]` (unscaled). Summed in the order of
    /// [`half::dot`], so scores are its bits: one accumulator per head whose low eight
    /// lanes take the even 8-value chunks and whose high eight take the odd ones, then
    /// the two halves added and their lanes summed left to right.
    #[inline(always)]
    unsafe fn dots<const N: usize>(q: *const f32, kl: usize, k: *const u16, s: &mut [f32]) {
        let mut a = [_mm512_setzero_ps(); N];
        let mut c = 0;
        while c < kl {
            let kv = _mm512_cvtph_ps(_mm256_loadu_si256(k.add(c).cast()));
            for h in 0..N {
                a[h] = _mm512_fmadd_ps(_mm512_loadu_ps(q.add(h * kl + c)), kv, a[h]);
            }
            c += 16;
        }
        for h in 0..N {
            let lo = _mm512_castps512_ps256(a[h]);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(a[h])));
            let mut lanes = [0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(lo, hi));
            s[h] = lanes.iter().sum();
        }
    }

    /// `acc_h = f16(acc_h + w[h] * v)` for the `N` f16 accumulators at `acc` (each
    /// `vl` wide) and the value row `v`.
    #[inline(always)]
    unsafe fn axpys<const N: usize>(acc: *mut u16, vl: usize, w: &[f32], v: *const u16) {
        let wv: [__m512; N] = std::array::from_fn(|h| _mm512_set1_ps(w[h]));
        let mut c = 0;
        while c < vl {
            let x = _mm512_cvtph_ps(_mm256_loadu_si256(v.add(c).cast()));
            for h in 0..N {
                let p = acc.add(h * vl + c);
                let y = _mm512_cvtph_ps(_mm256_loadu_si256(p.cast()));
                let r = _mm512_fmadd_ps(x, wv[h], y);
                let r = _mm512_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(r);
                _mm256_storeu_si256(p.cast(), r);
            }
            c += 16;
        }
    }

    /// `acc = f16(acc * s)` over `vl` values.
    #[inline(always)]
    unsafe fn scale(acc: *mut u16, vl: usize, s: f32) {
        let sv = _mm512_set1_ps(s);
        let mut c = 0;
        while c < vl {
            let p = acc.add(c);
            let y = _mm512_cvtph_ps(_mm256_loadu_si256(p.cast()));
            let r = _mm512_mul_ps(y, sv);
            let r = _mm512_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(r);
            _mm256_storeu_si256(p.cast(), r);
            c += 16;
        }
    }

    /// Runs `f::<N>(first_head, N)` over the heads in tiles of [`TILE`].
    macro_rules! tiles {
        ($heads:expr, |$h0:ident, $n:ident| $body:expr) => {{
            let mut $h0 = 0;
            while $h0 < $heads {
                match ($heads - $h0).min(TILE) {
                    4 => {
                        const $n: usize = 4;
                        $body
                    }
                    3 => {
                        const $n: usize = 3;
                        $body
                    }
                    2 => {
                        const $n: usize = 2;
                        $body
                    }
                    _ => {
                        const $n: usize = 1;
                        $body
                    }
                }
                $h0 += ($heads - $h0).min(TILE);
            }
        }};
    }

    /// See [`super::attend_heads`]; `heads <= MAX_HEADS`, widths multiples of 16.
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    pub unsafe fn attend_heads(
        qs: &[f32],
        heads: usize,
        (keys, k): (&[u16], HeadSlice),
        (values, v): (&[u16], HeadSlice),
        positions: impl IntoIterator<Item = usize>,
        scale_by: f32,
        out: &mut [f32],
    ) {
        let (kl, vl) = (k.len, v.len);
        let q16: Vec<f32> = qs
            .iter()
            .map(|&x| half::to_f32(half::from_f32(x)))
            .collect();
        let mut acc = vec![0u16; heads * vl];
        let mut max = [f32::NEG_INFINITY; MAX_HEADS];
        let mut sum = [0f32; MAX_HEADS];
        let mut w = [0f32; MAX_HEADS];
        let mut s = [0f32; MAX_HEADS];
        for t in positions {
            let kr = k.row(keys, t).as_ptr();
            tiles!(heads, |h0, N| dots::<N>(
                q16.as_ptr().add(h0 * kl),
                kl,
                kr,
                &mut s[h0..]
            ));
            for h in 0..heads {
                let sh = s[h] * scale_by;
                if sh > max[h] {
                    let grow = (max[h] - sh).exp();
                    max[h] = sh;
                    scale(acc.as_mut_ptr().add(h * vl), vl, grow);
                    sum[h] *= grow;
                    w[h] = 1.0;
                } else {
                    w[h] = (sh - max[h]).exp();
                }
                sum[h] += w[h];
            }
            let vr = v.row(values, t).as_ptr();
            tiles!(heads, |h0, N| axpys::<N>(
                acc.as_mut_ptr().add(h0 * vl),
                vl,
                &w[h0..],
                vr
            ));
        }
        for h in 0..heads {
            let inv = if sum[h] == 0.0 { 0.0 } else { 1.0 / sum[h] };
            for (o, &a) in out[h * vl..][..vl].iter_mut().zip(&acc[h * vl..][..vl]) {
                *o = half::to_f32(a) * inv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grouped kernel against the one-head reference: the same sums in the same
    /// order, so the same bits (on CPUs without AVX-512 both are the reference).
    #[test]
    fn grouped_heads_match_the_reference() {
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        for (heads, kl, vl, width) in [
            (6, 128, 128, 256),
            (4, 256, 256, 256),
            (16, 576, 512, 576),
            (3, 48, 32, 96),
        ] {
            let positions = 37;
            let keys: Vec<u16> = (0..positions * width)
                .map(|_| half::from_f32(rnd() * 2.0))
                .collect();
            let values: Vec<u16> = (0..positions * width)
                .map(|_| half::from_f32(rnd()))
                .collect();
            let qs: Vec<f32> = (0..heads * kl).map(|_| rnd()).collect();
            let k = HeadSlice {
                width,
                off: 0,
                len: kl,
            };
            let v = HeadSlice {
                width,
                off: width - vl,
                len: vl,
            };
            let mut got = vec![0f32; heads * vl];
            attend_heads(&qs, (&keys, k), (&values, v), 0..positions, 0.3, &mut got);
            for h in 0..heads {
                let mut want = vec![0f32; vl];
                attend(
                    &qs[h * kl..][..kl],
                    (&keys, k),
                    (&values, v),
                    0..positions,
                    0.3,
                    &mut want,
                );
                let same = got[h * vl..][..vl]
                    .iter()
                    .zip(&want)
                    .all(|(g, w)| g.to_bits() == w.to_bits());
                assert!(
                    same,
                    "heads {heads}, head {h}: outputs differ from the reference"
                );
            }
        }
    }
}
