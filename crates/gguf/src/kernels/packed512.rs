//! Batch kernel for Q4_K and Q6_K weights on CPUs with AVX-512 (F, BW, VNNI): the
//! layout of [`super::packed`] on 512-bit registers.
//!
//! Sixteen activation vectors share a register: `qs[k]` holds bytes `4k..4k+4` of
//! each of them, so a weight row's byte quad, broadcast, meets sixteen vectors in one
//! `vpdpbusd`. Tiles of four rows by two groups keep eight accumulator chains in
//! flight, which hides the instruction's latency on cores that issue two a cycle.
//!
//! The K-quant corrections that depend on the activations' sums (the Q4_K minima,
//! and the Q6_K code offset of 32) are dot products of per-16 activation sums with
//! per-row weights; both fit in i16, so each row's correction is eight `vpdpwssd`
//! per super-block instead of sixteen multiplies.

#![allow(clippy::needless_range_loop)]

use std::arch::x86_64::*;

use super::act::ActQ8K;
use super::packed::{interleave_quads, pack_groups, put_tile, DecodedK, OutPtr, Tiler};

/// Vectors per packed group.
pub(super) const GROUP: usize = 16;

/// The smallest batch this kernel takes. Below eight vectors the row-by-row kernels
/// stay ahead in a real decode step, where the weights stream from memory: with
/// four sequences on the default model, taking this kernel from four vectors made
/// decoding 40 tok/s against 60, although on one matrix held in cache it looked
/// faster (0.53 against 0.63 ms for `ffn_gate`).
pub(super) const MIN_BATCH: usize = 8;

/// One super-block (256 values) of sixteen Q8_K activation vectors.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Pack16K {
    /// `qs[k]`: bytes `4k..4k+4` of vector 0, then of vector 1, ..., of vector 15.
    qs: [[i8; 64]; 64],
    d: [f32; 16],
    /// `bsum[p]`: for each vector, the sums of its values `32p..32p+16` and
    /// `32p+16..32p+32`, as two i16 (the pair layout of `vpdpwssd`).
    bsum: [[i16; 32]; 8],
}

/// Repacks `batch` Q8_K vectors of `nb` super-blocks each into groups of sixteen.
pub(super) fn pack(acts: &[ActQ8K], nb: usize, batch: usize) -> Vec<Pack16K> {
    let zero = Pack16K {
        qs: [[0; 64]; 64],
        d: [0.0; 16],
        bsum: [[0; 32]; 8],
    };
    pack_groups(acts, nb, batch, GROUP, zero, |p, c, a| {
        interleave_quads(&mut p.qs, c, &a.qs);
        p.d[c] = a.d;
        for j in 0..8 {
            p.bsum[j][2 * c] = a.bsums[2 * j];
            p.bsum[j][2 * c + 1] = a.bsums[2 * j + 1];
        }
    })
}

/// `R` decoded K-quant rows against `G` groups of sixteen vectors; `out[r][g][c]`
/// is row `r` dotted with vector `c` of group `g`. `Q6` selects Q6_K (scales per 16
/// values, codes offset by 32) over Q4_K (scales per 32 values, minima).
#[inline(always)]
unsafe fn tile<const Q6: bool, const R: usize, const G: usize>(
    w: [&DecodedK; R],
    a: [&[Pack16K]; G],
) -> [[[f32; 16]; G]; R] {
    let n = a.iter().map(|a| a.len()).min().unwrap_or(0);
    let n = w.iter().map(|w| w.b.len()).fold(n, usize::min);
    // Groups of values sharing a scale, and byte quads per group.
    let (subs, quads) = if Q6 { (16, 4) } else { (8, 8) };
    let mut acc = [[_mm512_setzero_ps(); G]; R];
    for i in 0..n {
        let mut tot = [[_mm512_setzero_si512(); G]; R];
        for j in 0..subs {
            let mut s = [[_mm512_setzero_si512(); G]; R];
            for q in 0..quads {
                let k = j * quads + q;
                let mut av = [_mm512_setzero_si512(); G];
                for g in 0..G {
                    av[g] = _mm512_load_si512(a[g][i].qs[k].as_ptr().cast());
                }
                for r in 0..R {
                    let quad = w[r].b[i]
                        .codes
                        .as_ptr()
                        .add(4 * k)
                        .cast::<i32>()
                        .read_unaligned();
                    let wb = _mm512_set1_epi32(quad);
                    for g in 0..G {
                        s[r][g] = _mm512_dpbusd_epi32(s[r][g], wb, av[g]);
                    }
                }
            }
            for r in 0..R {
                let sc = _mm512_set1_epi32(w[r].b[i].sc[j * 16 / subs]);
                for g in 0..G {
                    tot[r][g] = _mm512_add_epi32(tot[r][g], _mm512_mullo_epi32(s[r][g], sc));
                }
            }
        }
        let mut da = [_mm512_setzero_ps(); G];
        let mut bs = [[_mm512_setzero_si512(); 8]; G];
        for g in 0..G {
            da[g] = _mm512_load_ps(a[g][i].d.as_ptr());
            for p in 0..8 {
                bs[g][p] = _mm512_load_si512(a[g][i].bsum[p].as_ptr().cast());
            }
        }
        for r in 0..R {
            let mut m = [_mm512_setzero_si512(); G];
            for p in 0..8 {
                let wp = _mm512_set1_epi32(w[r].b[i].pairs[p]);
                for g in 0..G {
                    m[g] = _mm512_dpwssd_epi32(m[g], wp, bs[g][p]);
                }
            }
            let dw = _mm512_set1_ps(w[r].b[i].d);
            let dm = _mm512_set1_ps(w[r].b[i].dmin);
            for g in 0..G {
                if Q6 {
                    let v = _mm512_cvtepi32_ps(_mm512_sub_epi32(tot[r][g], m[g]));
                    acc[r][g] = _mm512_fmadd_ps(_mm512_mul_ps(dw, da[g]), v, acc[r][g]);
                } else {
                    let v = _mm512_cvtepi32_ps(tot[r][g]);
                    acc[r][g] = _mm512_fmadd_ps(_mm512_mul_ps(dw, da[g]), v, acc[r][g]);
                    let v = _mm512_cvtepi32_ps(m[g]);
                    acc[r][g] = _mm512_fnmadd_ps(_mm512_mul_ps(dm, da[g]), v, acc[r][g]);
                }
            }
        }
    }
    let mut out = [[[0f32; 16]; G]; R];
    for r in 0..R {
        for g in 0..G {
            _mm512_storeu_ps(out[r][g].as_mut_ptr(), acc[r][g]);
        }
    }
    out
}

/// Q4_K (`Q6 == false`) or Q6_K rows on 512-bit registers.
struct SuperBlocks16<const Q6: bool>;

impl<const Q6: bool> Tiler for SuperBlocks16<Q6> {
    type Row = DecodedK;
    type Pack = Pack16K;
    #[inline(always)]
    unsafe fn tile<const R: usize, const G: usize>(
        w: [&DecodedK; R],
        a: [&[Pack16K]; G],
        out: OutPtr,
        first: usize,
        g0: usize,
    ) {
        put_tile(&tile::<Q6, R, G>(w, a), out, first, g0)
    }
}

/// Computes rows `first..first + w.len()` (decoded in `w`) against every group of
/// `packs` (`nb` super-blocks per group), writing through `out`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C, AVX512-F, AVX512-BW and AVX512-VNNI;
/// `out` must satisfy `OutPtr::put` for these rows.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn rows_against_groups(
    q6: bool,
    w: &[DecodedK],
    first: usize,
    packs: &[Pack16K],
    nb: usize,
    out: OutPtr,
) {
    if q6 {
        super::packed::sweep::<SuperBlocks16<true>>(w, first, packs, nb, 96 * 1024, out)
    } else {
        super::packed::sweep::<SuperBlocks16<false>>(w, first, packs, nb, 96 * 1024, out)
    }
}
