//! Batch kernel for the 32-value block types (Q8_0, Q4_0, Q5_0) on CPUs with the
//! AVX-512 VNNI byte dot product on 256-bit registers.
//!
//! Batches of eight or more vectors are repacked so that one 256-bit register holds
//! four consecutive activation bytes of eight vectors; a weight row's four bytes,
//! broadcast from memory, then meet eight vectors in one `vpdpbusd`, and after the
//! eight byte quads of a block each 32-bit lane holds the block's dot product for
//! one vector. The block's scales apply to all eight lanes at once (one multiply,
//! one FMA), so there is no horizontal sum per block and vector. Weights are
//! decoded once per row into unsigned codes with an offset (Q8_0 codes plus 128),
//! whose contribution returns through each activation block's integer sum.

#![allow(clippy::needless_range_loop)]

use std::arch::x86_64::*;

use super::act::{ActQ8K, ActQ8_0};
use crate::blocks::{
    as_blocks, k4_scales_mins, BlockQ4K, BlockQ4_0, BlockQ5_0, BlockQ6K, BlockQ8_0,
};
use crate::types::GgmlType;

/// One block (32 values) of eight activation vectors: `qs[k]` holds bytes
/// `4k..4k+4` of vector 0, then of vector 1, ..., of vector 7.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
pub(super) struct Pack8 {
    qs: [[i8; 32]; 8],
    d: [f32; 8],
    isum: [i32; 8],
}

/// Vectors per packed group.
pub(super) const GROUP: usize = 8;

/// Repacks `batch` vectors of `nb` blocks each into groups of `lanes` vectors
/// (group-major, then block), starting from `zero` (so missing vectors of the last
/// group are zero); `fill(p, c, a)` writes block `a` of a vector into lane `c` of `p`.
pub(super) fn pack_groups<A, P: Copy>(
    acts: &[A],
    nb: usize,
    batch: usize,
    lanes: usize,
    zero: P,
    fill: impl Fn(&mut P, usize, &A),
) -> Vec<P> {
    let mut out = vec![zero; batch.div_ceil(lanes) * nb];
    for (gi, g) in out.chunks_exact_mut(nb).enumerate() {
        for c in 0..lanes {
            let b = gi * lanes + c;
            if b >= batch {
                break;
            }
            for (p, a) in g.iter_mut().zip(&acts[b * nb..(b + 1) * nb]) {
                fill(p, c, a);
            }
        }
    }
    out
}

/// Writes the byte quads of one vector's block `src` into lane `c` of a packed block:
/// quad `k` (bytes `4k..4k+4`) goes to `dst[k][4c..4c+4]`.
#[inline(always)]
pub(super) fn interleave_quads<const W: usize, const K: usize>(
    dst: &mut [[i8; W]; K],
    c: usize,
    src: &[i8],
) {
    for (k, row) in dst.iter_mut().enumerate() {
        row[4 * c..4 * c + 4].copy_from_slice(&src[4 * k..4 * k + 4]);
    }
}

/// Repacks `batch` vectors of `nb` blocks each into groups of eight.
pub(super) fn pack(acts: &[ActQ8_0], nb: usize, batch: usize) -> Vec<Pack8> {
    let zero = Pack8 {
        qs: [[0; 32]; 8],
        d: [0.0; 8],
        isum: [0; 8],
    };
    pack_groups(acts, nb, batch, GROUP, zero, |p, c, a| {
        interleave_quads(&mut p.qs, c, &a.qs);
        p.d[c] = a.d;
        p.isum[c] = a.qs.iter().map(|&q| q as i32).sum();
    })
}

/// A weight row decoded to unsigned codes (value = scale * (code - offset)).
pub(super) struct Decoded {
    pub(super) codes: Vec<[u8; 32]>,
    pub(super) scales: Vec<f32>,
}

/// log2 of the code offset of each type (Q8_0 is stored signed; adding 128 makes
/// its codes unsigned).
pub(super) fn offset_shift(t: GgmlType) -> Option<u32> {
    match t {
        GgmlType::Q8_0 => Some(7),
        GgmlType::Q4_0 => Some(3),
        GgmlType::Q5_0 => Some(4),
        _ => None,
    }
}

/// Decodes `rows` consecutive rows of `data` (of type `t`, `nb` blocks each) into
/// `out[0..rows]`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn decode_rows(t: GgmlType, data: &[u8], nb: usize, out: &mut [Decoded]) {
    let t16 = crate::half::f16_table();
    let rb = data.len() / out.len().max(1);
    for (r, d) in out.iter_mut().enumerate() {
        let row = &data[r * rb..(r + 1) * rb];
        d.codes.resize(nb, [0; 32]);
        d.scales.resize(nb, 0.0);
        let m4 = _mm256_set1_epi8(0x0f);
        match t {
            GgmlType::Q8_0 => {
                let bl: &[BlockQ8_0] = as_blocks(row).unwrap_or(&[]);
                for (i, b) in bl.iter().enumerate() {
                    let q = _mm256_loadu_si256(b.qs.as_ptr().cast());
                    let u = _mm256_xor_si256(q, _mm256_set1_epi8(-128));
                    _mm256_storeu_si256(d.codes[i].as_mut_ptr().cast(), u);
                    d.scales[i] = t16[u16::from_le_bytes(b.d) as usize];
                }
            }
            GgmlType::Q4_0 => {
                let bl: &[BlockQ4_0] = as_blocks(row).unwrap_or(&[]);
                for (i, b) in bl.iter().enumerate() {
                    let q = _mm_loadu_si128(b.qs.as_ptr().cast());
                    let both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
                    let u = _mm256_and_si256(both, m4);
                    _mm256_storeu_si256(d.codes[i].as_mut_ptr().cast(), u);
                    d.scales[i] = t16[u16::from_le_bytes(b.d) as usize];
                }
            }
            GgmlType::Q5_0 => {
                let bl: &[BlockQ5_0] = as_blocks(row).unwrap_or(&[]);
                #[rustfmt::skip]
                let spread = _mm256_setr_epi8(
                    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                    2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
                );
                let mask = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
                for (i, b) in bl.iter().enumerate() {
                    let q = _mm_loadu_si128(b.qs.as_ptr().cast());
                    let both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
                    let lo = _mm256_and_si256(both, m4);
                    let v = _mm256_set1_epi32(u32::from_le_bytes(b.qh) as i32);
                    let v = _mm256_shuffle_epi8(v, spread);
                    let set = _mm256_cmpeq_epi8(_mm256_and_si256(v, mask), mask);
                    let hi = _mm256_and_si256(set, _mm256_set1_epi8(0x10));
                    _mm256_storeu_si256(d.codes[i].as_mut_ptr().cast(), _mm256_or_si256(lo, hi));
                    d.scales[i] = t16[u16::from_le_bytes(b.d) as usize];
                }
            }
            _ => unreachable!("packed kernel for {t}"),
        }
    }
}

/// `R` decoded rows against `G` packed groups; `out[r][g][c]` is the dot product of
/// row `r` with vector `c` of group `g`. `SHIFT` is log2 of the code offset.
#[inline(always)]
unsafe fn tile<const SHIFT: i32, const R: usize, const G: usize>(
    w: [&Decoded; R],
    a: [&[Pack8]; G],
) -> [[[f32; 8]; G]; R] {
    let n = a.iter().map(|a| a.len()).min().unwrap_or(0);
    let n = w.iter().map(|w| w.codes.len()).fold(n, usize::min);
    let mut acc = [[_mm256_setzero_ps(); G]; R];
    for i in 0..n {
        let mut s = [[_mm256_setzero_si256(); G]; R];
        for k in 0..8 {
            let mut av = [_mm256_setzero_si256(); G];
            for g in 0..G {
                av[g] = _mm256_load_si256(a[g][i].qs[k].as_ptr().cast());
            }
            for r in 0..R {
                let quad = w[r].codes[i]
                    .as_ptr()
                    .add(4 * k)
                    .cast::<i32>()
                    .read_unaligned();
                let wb = _mm256_set1_epi32(quad);
                for g in 0..G {
                    s[r][g] = _mm256_dpbusd_epi32(s[r][g], wb, av[g]);
                }
            }
        }
        let mut off = [_mm256_setzero_si256(); G];
        let mut da = [_mm256_setzero_ps(); G];
        for g in 0..G {
            let p = &a[g][i];
            off[g] = _mm256_slli_epi32::<SHIFT>(_mm256_load_si256(p.isum.as_ptr().cast()));
            da[g] = _mm256_load_ps(p.d.as_ptr());
        }
        for r in 0..R {
            let dw = _mm256_set1_ps(w[r].scales[i]);
            for g in 0..G {
                let v = _mm256_cvtepi32_ps(_mm256_sub_epi32(s[r][g], off[g]));
                acc[r][g] = _mm256_fmadd_ps(_mm256_mul_ps(dw, da[g]), v, acc[r][g]);
            }
        }
    }
    let mut out = [[[0f32; 8]; G]; R];
    for r in 0..R {
        for g in 0..G {
            _mm256_storeu_ps(out[r][g].as_mut_ptr(), acc[r][g]);
        }
    }
    out
}

/// Output of a worker: `out[b * rows + r]`, written at the rows a worker owns.
#[derive(Clone, Copy)]
pub(super) struct OutPtr {
    pub(super) ptr: *mut f32,
    pub(super) rows: usize,
    pub(super) batch: usize,
}

// SAFETY: workers write disjoint rows through it (see `rows_against_groups`).
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// Writes `vals` as the products of rows `r..r + vals.len()` with vector `b`.
    ///
    /// # Safety
    /// `b < batch`, `r + vals.len() <= rows`, `ptr` valid for `rows * batch` values,
    /// and no other thread writes those rows.
    #[inline(always)]
    pub(super) unsafe fn put_rows(&self, b: usize, r: usize, vals: &[f32]) {
        debug_assert!(b < self.batch && r + vals.len() <= self.rows);
        std::ptr::copy_nonoverlapping(vals.as_ptr(), self.ptr.add(b * self.rows + r), vals.len());
    }

    /// Writes lane `c` of `v` as the product of row `r` with vector `g * L + c`
    /// (groups of `L` vectors), skipping the padding past the batch.
    ///
    /// # Safety
    /// `r < rows`, `ptr` valid for `rows * batch` values, and no other thread
    /// writes row `r`.
    #[inline(always)]
    pub(super) unsafe fn put<const L: usize>(&self, r: usize, g: usize, v: &[f32; L]) {
        for (c, &x) in v.iter().enumerate() {
            let b = g * L + c;
            if b < self.batch {
                *self.ptr.add(b * self.rows + r) = x;
            }
        }
    }
}

/// Computes rows `first..first + w.len()` (decoded in `w`) against every group in
/// `packs` (`nb` blocks per group), writing through `out`.
///
/// # Safety
/// The CPU must support AVX2, FMA, AVX512-VNNI and AVX512-VL; `out` must satisfy
/// `OutPtr::put` for these rows.
#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
pub(super) unsafe fn rows_against_groups(
    shift: u32,
    w: &[Decoded],
    first: usize,
    packs: &[Pack8],
    nb: usize,
    out: OutPtr,
) {
    match shift {
        7 => run::<7>(w, first, packs, nb, out),
        3 => run::<3>(w, first, packs, nb, out),
        _ => run::<4>(w, first, packs, nb, out),
    }
}

/// A packed tile kernel (32-value blocks, or K-quant super-blocks on 256- or
/// 512-bit registers), so a single [`sweep`] walks rows and groups for all.
pub(super) trait Tiler {
    type Row;
    type Pack;
    /// `R` rows against `G` groups, each product written through `out` as row
    /// `first + r` against group `g0 + g`.
    ///
    /// # Safety
    /// The CPU features the kernel was compiled for; `out` as in `OutPtr::put`.
    unsafe fn tile<const R: usize, const G: usize>(
        w: [&Self::Row; R],
        a: [&[Self::Pack]; G],
        out: OutPtr,
        first: usize,
        g0: usize,
    );
}

/// Writes a tile's results (`o[r][g]` for row `first + r`, group `g0 + g`).
#[inline(always)]
pub(super) unsafe fn put_tile<const L: usize, const R: usize, const G: usize>(
    o: &[[[f32; L]; G]; R],
    out: OutPtr,
    first: usize,
    g0: usize,
) {
    for (r, or) in o.iter().enumerate() {
        for (g, v) in or.iter().enumerate() {
            out.put(first + r, g0 + g, v);
        }
    }
}

/// Q4_0/Q5_0/Q8_0 rows, codes offset by `2^SHIFT`.
struct Blocks<const SHIFT: i32>;

impl<const SHIFT: i32> Tiler for Blocks<SHIFT> {
    type Row = Decoded;
    type Pack = Pack8;
    #[inline(always)]
    unsafe fn tile<const R: usize, const G: usize>(
        w: [&Decoded; R],
        a: [&[Pack8]; G],
        out: OutPtr,
        first: usize,
        g0: usize,
    ) {
        put_tile(&tile::<SHIFT, R, G>(w, a), out, first, g0)
    }
}

/// Q4_K (`Q6 == false`) or Q6_K rows, with the VNNI byte dot product or (`VNNI ==
/// false`) its AVX2 equivalent.
struct SuperBlocks<const Q6: bool, const VNNI: bool>;

impl<const Q6: bool, const VNNI: bool> Tiler for SuperBlocks<Q6, VNNI> {
    type Row = DecodedK;
    type Pack = Pack8K;
    #[inline(always)]
    unsafe fn tile<const R: usize, const G: usize>(
        w: [&DecodedK; R],
        a: [&[Pack8K]; G],
        out: OutPtr,
        first: usize,
        g0: usize,
    ) {
        put_tile(&tile_k::<Q6, VNNI, R, G>(w, a), out, first, g0)
    }
}

/// Walks rows `first..first + w.len()` against every group of `packs` (`nb` blocks
/// each) in tiles of four rows by two groups, or eight rows when there is one group
/// (smaller at the edges), taking groups
/// in blocks of about `block_bytes` so they stay in cache while the rows pass. A
/// 4×2 tile keeps eight independent accumulator chains in flight, enough to hide
/// the byte dot product's latency; 2×2 left half its throughput unused.
#[inline(always)]
pub(super) unsafe fn sweep<T: Tiler>(
    w: &[T::Row],
    first: usize,
    packs: &[T::Pack],
    nb: usize,
    block_bytes: usize,
    out: OutPtr,
) {
    let groups: Vec<&[T::Pack]> = packs.chunks_exact(nb).collect();
    let per = (block_bytes / (nb * std::mem::size_of::<T::Pack>())).max(2) & !1;
    for g0 in (0..groups.len()).step_by(per) {
        let g1 = (g0 + per).min(groups.len());
        // A single group takes eight-row tiles, for the same eight chains.
        let tall = g1 - g0 == 1;
        let mut r = 0;
        while r < w.len() {
            let rows = match w.len() - r {
                1 => 1,
                2 | 3 => 2,
                4..=7 => 4,
                _ if tall => 8,
                _ => 4,
            };
            let mut g = g0;
            while g < g1 {
                let pair = g + 1 < g1;
                match (rows, pair) {
                    (8, _) => tile_at::<T, 8, 1>(w, r, &groups, g, first, out),
                    (4, true) => tile_at::<T, 4, 2>(w, r, &groups, g, first, out),
                    (4, false) => tile_at::<T, 4, 1>(w, r, &groups, g, first, out),
                    (2, true) => tile_at::<T, 2, 2>(w, r, &groups, g, first, out),
                    (2, false) => tile_at::<T, 2, 1>(w, r, &groups, g, first, out),
                    (_, true) => tile_at::<T, 1, 2>(w, r, &groups, g, first, out),
                    (_, false) => tile_at::<T, 1, 1>(w, r, &groups, g, first, out),
                }
                g += if pair { 2 } else { 1 };
            }
            r += rows;
        }
    }
}

/// One `R`×`G` tile of `sweep`: rows `r..r + R` against groups `g..g + G`.
#[inline(always)]
unsafe fn tile_at<T: Tiler, const R: usize, const G: usize>(
    w: &[T::Row],
    r: usize,
    groups: &[&[T::Pack]],
    g: usize,
    first: usize,
    out: OutPtr,
) {
    T::tile::<R, G>(
        std::array::from_fn(|i| &w[r + i]),
        std::array::from_fn(|j| groups[g + j]),
        out,
        first + r,
        g,
    )
}

#[inline(always)]
unsafe fn run<const SHIFT: i32>(
    w: &[Decoded],
    first: usize,
    packs: &[Pack8],
    nb: usize,
    out: OutPtr,
) {
    sweep::<Blocks<SHIFT>>(w, first, packs, nb, 32 * 1024, out)
}

/// One super-block (256 values) of eight Q8_K activation vectors: `qs[k]` holds
/// bytes `4k..4k+4` of each of the eight vectors, `bsum[j]` the sums of their
/// `j`-th group of 16 values.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
pub(super) struct Pack8K {
    qs: [[i8; 32]; 64],
    d: [f32; 8],
    bsum: [[i32; 8]; 16],
}

/// Repacks `batch` Q8_K vectors of `nb` super-blocks each into groups of eight.
pub(super) fn pack_k(acts: &[ActQ8K], nb: usize, batch: usize) -> Vec<Pack8K> {
    let zero = Pack8K {
        qs: [[0; 32]; 64],
        d: [0.0; 8],
        bsum: [[0; 8]; 16],
    };
    pack_groups(acts, nb, batch, GROUP, zero, |p, c, a| {
        interleave_quads(&mut p.qs, c, &a.qs);
        p.d[c] = a.d;
        for j in 0..16 {
            p.bsum[j][c] = a.bsums[j] as i32;
        }
    })
}

/// A K-quant weight row decoded to unsigned codes, one [`SuperK`] per super-block.
#[derive(Default)]
pub(super) struct DecodedK {
    pub(super) b: Vec<SuperK>,
}

/// One decoded K-quant super-block (256 values): unsigned codes, per-group integer
/// scales (`sc[j]` for values `16j..16j+16`) and, for Q4_K, minima per 32 values.
///
/// `pairs[p]` packs two i16 weights for the correction of values `32p..32p + 32`
/// (lower half first): for Q4_K the minimum twice, for Q6_K 32 times the scales of
/// its two groups of 16 (the code offset). The 512-bit kernel applies them to the
/// activations' per-16 sums with one `vpdpwssd` per pair.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
pub(super) struct SuperK {
    pub(super) codes: [u8; 256],
    pub(super) sc: [i32; 16],
    pub(super) mins: [i32; 8],
    pub(super) pairs: [i32; 8],
    pub(super) d: f32,
    pub(super) dmin: f32,
}

impl Default for SuperK {
    fn default() -> Self {
        SuperK {
            codes: [0; 256],
            sc: [0; 16],
            mins: [0; 8],
            pairs: [0; 8],
            d: 0.0,
            dmin: 0.0,
        }
    }
}

/// Decodes `out.len()` consecutive Q4_K or Q6_K rows of `data`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn decode_rows_k(t: GgmlType, data: &[u8], nb: usize, out: &mut [DecodedK]) {
    let t16 = crate::half::f16_table();
    let h = |b: [u8; 2]| t16[u16::from_le_bytes(b) as usize];
    let rb = data.len() / out.len().max(1);
    let m4 = _mm256_set1_epi8(0x0f);
    let m2 = _mm256_set1_epi8(0x03);
    let m30 = _mm256_set1_epi8(0x30);
    for (r, d) in out.iter_mut().enumerate() {
        let row = &data[r * rb..(r + 1) * rb];
        d.b.resize(nb, SuperK::default());
        let store = |dst: &mut [u8; 256], at: usize, v: __m256i| {
            _mm256_storeu_si256(dst[at..at + 32].as_mut_ptr().cast(), v)
        };
        match t {
            GgmlType::Q4_K => {
                let bl: &[BlockQ4K] = as_blocks(row).unwrap_or(&[]);
                for (o, b) in d.b.iter_mut().zip(bl) {
                    for c4 in 0..4 {
                        let q = _mm256_loadu_si256(b.qs[32 * c4..].as_ptr().cast());
                        store(&mut o.codes, 64 * c4, _mm256_and_si256(q, m4));
                        let hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                        store(&mut o.codes, 64 * c4 + 32, hi);
                    }
                    // Each scale twice (per 16 values) and each minimum as an i32
                    // and as an i16 pair with itself.
                    let (scales, mins) = k4_scales_mins(&b.scales);
                    let s32 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(scales.as_ptr().cast()));
                    let m32 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(mins.as_ptr().cast()));
                    let twice = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
                    let sc = o.sc.as_mut_ptr().cast::<__m256i>();
                    _mm256_storeu_si256(sc, _mm256_permutevar8x32_epi32(s32, twice));
                    let upper = _mm256_add_epi32(twice, _mm256_set1_epi32(4));
                    _mm256_storeu_si256(sc.add(1), _mm256_permutevar8x32_epi32(s32, upper));
                    _mm256_storeu_si256(o.mins.as_mut_ptr().cast(), m32);
                    let pairs = _mm256_or_si256(m32, _mm256_slli_epi32::<16>(m32));
                    _mm256_storeu_si256(o.pairs.as_mut_ptr().cast(), pairs);
                    o.d = h(b.d);
                    o.dmin = h(b.dmin);
                }
            }
            GgmlType::Q6_K => {
                let bl: &[BlockQ6K] = as_blocks(row).unwrap_or(&[]);
                for (o, b) in d.b.iter_mut().zip(bl) {
                    for hf in 0..2 {
                        let ql0 = _mm256_loadu_si256(b.ql[64 * hf..].as_ptr().cast());
                        let ql1 = _mm256_loadu_si256(b.ql[64 * hf + 32..].as_ptr().cast());
                        let qh = _mm256_loadu_si256(b.qh[32 * hf..].as_ptr().cast());
                        let qh2 = _mm256_srli_epi16(qh, 2);
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
                            store(&mut o.codes, 128 * hf + 32 * k, q);
                        }
                    }
                    // Scales widened to i32, and 32 x scale as i16 (in order, that
                    // is the pair layout).
                    let s8 = _mm_loadu_si128(b.scales.as_ptr().cast());
                    let sc = o.sc.as_mut_ptr().cast::<__m256i>();
                    _mm256_storeu_si256(sc, _mm256_cvtepi8_epi32(s8));
                    _mm256_storeu_si256(sc.add(1), _mm256_cvtepi8_epi32(_mm_srli_si128::<8>(s8)));
                    let p16 = _mm256_slli_epi16::<5>(_mm256_cvtepi8_epi16(s8));
                    _mm256_storeu_si256(o.pairs.as_mut_ptr().cast(), p16);
                    o.d = h(b.d);
                }
            }
            _ => unreachable!("packed K kernel for {t}"),
        }
    }
}

/// `R` decoded K-quant rows against `G` packed groups. `Q6` selects Q6_K (codes
/// offset by 32, scales per 16 values) over Q4_K (scales per 32 values, minima).
///
/// Without VNNI (`VNNI == false`) each byte-quad dot product is `vpmaddubsw` (pairs
/// of unsigned code x signed activation into i16) then `vpmaddwd` against ones (pairs
/// of those into i32): the same integer sums, since K-quant codes are at most 63 and
/// a pair stays within i16 (2 x 63 x 128 < 2^15).
#[inline(always)]
unsafe fn tile_k<const Q6: bool, const VNNI: bool, const R: usize, const G: usize>(
    w: [&DecodedK; R],
    a: [&[Pack8K]; G],
) -> [[[f32; 8]; G]; R] {
    let n = a.iter().map(|a| a.len()).min().unwrap_or(0);
    let n = w.iter().map(|w| w.b.len()).fold(n, usize::min);
    // Groups of values sharing a scale, and byte quads per group.
    let (subs, quads) = if Q6 { (16, 4) } else { (8, 8) };
    let mut acc = [[_mm256_setzero_ps(); G]; R];
    let ones = _mm256_set1_epi16(1);
    for i in 0..n {
        let mut tot = [[_mm256_setzero_si256(); G]; R];
        for j in 0..subs {
            let mut s = [[_mm256_setzero_si256(); G]; R];
            for q in 0..quads {
                let k = j * quads + q;
                let mut av = [_mm256_setzero_si256(); G];
                for g in 0..G {
                    av[g] = _mm256_load_si256(a[g][i].qs[k].as_ptr().cast());
                }
                for r in 0..R {
                    let quad = w[r].b[i]
                        .codes
                        .as_ptr()
                        .add(4 * k)
                        .cast::<i32>()
                        .read_unaligned();
                    let wb = _mm256_set1_epi32(quad);
                    for g in 0..G {
                        s[r][g] = if VNNI {
                            _mm256_dpbusd_epi32(s[r][g], wb, av[g])
                        } else {
                            let pairs = _mm256_maddubs_epi16(wb, av[g]);
                            _mm256_add_epi32(s[r][g], _mm256_madd_epi16(pairs, ones))
                        };
                    }
                }
            }
            let mut off = [_mm256_setzero_si256(); G];
            if Q6 {
                for g in 0..G {
                    let bs = _mm256_load_si256(a[g][i].bsum[j].as_ptr().cast());
                    off[g] = _mm256_slli_epi32::<5>(bs);
                }
            }
            for r in 0..R {
                let sc = _mm256_set1_epi32(w[r].b[i].sc[j * 16 / subs]);
                for g in 0..G {
                    let v = if Q6 {
                        _mm256_sub_epi32(s[r][g], off[g])
                    } else {
                        s[r][g]
                    };
                    tot[r][g] = _mm256_add_epi32(tot[r][g], _mm256_mullo_epi32(v, sc));
                }
            }
        }
        let mut da = [_mm256_setzero_ps(); G];
        for g in 0..G {
            da[g] = _mm256_load_ps(a[g][i].d.as_ptr());
        }
        for r in 0..R {
            let dw = _mm256_set1_ps(w[r].b[i].d);
            for g in 0..G {
                let v = _mm256_cvtepi32_ps(tot[r][g]);
                acc[r][g] = _mm256_fmadd_ps(_mm256_mul_ps(dw, da[g]), v, acc[r][g]);
            }
        }
        if !Q6 {
            for r in 0..R {
                let mut m = [_mm256_setzero_si256(); G];
                for j in 0..8 {
                    let mn = _mm256_set1_epi32(w[r].b[i].mins[j]);
                    for g in 0..G {
                        let p = &a[g][i];
                        let bs = _mm256_add_epi32(
                            _mm256_load_si256(p.bsum[2 * j].as_ptr().cast()),
                            _mm256_load_si256(p.bsum[2 * j + 1].as_ptr().cast()),
                        );
                        m[g] = _mm256_add_epi32(m[g], _mm256_mullo_epi32(bs, mn));
                    }
                }
                let dm = _mm256_set1_ps(w[r].b[i].dmin);
                for g in 0..G {
                    let v = _mm256_cvtepi32_ps(m[g]);
                    acc[r][g] = _mm256_fnmadd_ps(_mm256_mul_ps(dm, da[g]), v, acc[r][g]);
                }
            }
        }
    }
    let mut out = [[[0f32; 8]; G]; R];
    for r in 0..R {
        for g in 0..G {
            _mm256_storeu_ps(out[r][g].as_mut_ptr(), acc[r][g]);
        }
    }
    out
}

/// As `rows_against_groups`, for Q4_K (`q6 == false`) or Q6_K rows.
///
/// # Safety
/// As `rows_against_groups`.
#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
pub(super) unsafe fn rows_against_groups_k(
    q6: bool,
    w: &[DecodedK],
    first: usize,
    packs: &[Pack8K],
    nb: usize,
    out: OutPtr,
) {
    if q6 {
        run_k::<true, true>(w, first, packs, nb, out)
    } else {
        run_k::<false, true>(w, first, packs, nb, out)
    }
}

/// As `rows_against_groups_k`, on CPUs with AVX2 but not AVX-512 VNNI.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; otherwise as `rows_against_groups`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn rows_against_groups_k_avx2(
    q6: bool,
    w: &[DecodedK],
    first: usize,
    packs: &[Pack8K],
    nb: usize,
    out: OutPtr,
) {
    if q6 {
        run_k::<true, false>(w, first, packs, nb, out)
    } else {
        run_k::<false, false>(w, first, packs, nb, out)
    }
}

#[inline(always)]
unsafe fn run_k<const Q6: bool, const VNNI: bool>(
    w: &[DecodedK],
    first: usize,
    packs: &[Pack8K],
    nb: usize,
    out: OutPtr,
) {
    sweep::<SuperBlocks<Q6, VNNI>>(w, first, packs, nb, 64 * 1024, out)
}
