//! Q4_K and Q6_K weights repacked at load into tiles of sixteen rows, and the
//! AVX-512 kernels that multiply them by one to four vectors at a time (any batch is
//! taken four by four).
//!
//! In the file each row is a run of super-blocks of 256 values (144 bytes in Q4_K,
//! 210 in Q6_K). Repacked, sixteen rows share each super-block position, so that a
//! 32-bit lane of a 512-bit register is one row: a byte quad of the activations,
//! broadcast, meets sixteen rows in one `vpdpbusd`, the scales unpack for sixteen
//! rows at once, and the sixteen results come out in one register, with no
//! horizontal sum and no shuffle. Per super-block and vector the kernels run about a
//! third of the vector operations of the row-by-row kernels.
//!
//! **Q4_K.** The tile's super-block `i` holds, in the same 16 × 144 bytes,
//!
//! - 32 registers of codes: register `8c + q` holds, for each row `r`, bytes
//!   `32c + 4q .. 32c + 4q + 4` of its `qs` at bytes `4r..4r + 4`. Their low nibbles
//!   are values `64c + 4q ..` (group `2c`), their high nibbles values
//!   `64c + 32 + 4q ..` (group `2c + 1`);
//! - three registers of the packed 6-bit scales and minima: register `j` holds bytes
//!   `4j..4j + 4` of each row's twelve at bytes `4r..4r + 4`;
//! - the sixteen `d`, then the sixteen `dmin` (f16).
//!
//! High nibbles are used in place (`code << 4`), so their sums come out sixteen
//! times too large and are shifted back once per group. The minima's correction,
//! `sum_g min_g * (sum of the group's activations)`, is four more `vpdpbusd`: each
//! group sum is split into a low seven bits and a signed high part, both of which
//! fit a signed byte, and a row's four minima sit in its lane as four bytes.
//!
//! **Q6_K.** A row's super-block is 52 words of four bytes (128 bytes of low
//! nibbles `ql`, 64 of high bit pairs `qh`, 16 signed scales) and its `d`; the
//! tile's super-block holds word `w` of every row in register `SLOT6[w]` (row `r` at
//! bytes `4r..4r + 4`), in the order the kernel reads them (the four scale words,
//! then each `qh` word before the two `ql` words it completes), then the sixteen
//! `d`: 16 × 210 bytes. Each code is assembled from
//! its nibble and its bit pair in two operations (the pairs are shifted into place
//! once per `qh` register), and used as an unsigned byte in `0..64`; the offset of
//! 32 comes off each group's sum as `32 * (sum of the group's activations)`.
//!
//! In both, the integer sums are those of the scalar reference; only the float
//! accumulation order differs. Repacking keeps every byte, so [`unpack_row`] gives
//! any row back in the file's layout for the other kernels.

use crate::blocks::{BlockQ4K, BlockQ6K};
use crate::types::{GgmlType, QK_K};

/// Rows per tile.
pub const ROWS: usize = 16;
/// Bytes of one Q4_K super-block of a row (as in the file).
const BLOCK: usize = std::mem::size_of::<BlockQ4K>();
/// Bytes of one Q4_K super-block of a tile.
const TILE_BLOCK: usize = ROWS * BLOCK;
const QS: usize = 0;
const SCALES: usize = 32 * 64;
const D: usize = SCALES + 3 * 64;
const DMIN: usize = D + 2 * ROWS;

/// Bytes of one Q6_K super-block of a row, and of a tile.
const BLOCK6: usize = std::mem::size_of::<BlockQ6K>();
const TILE_BLOCK6: usize = ROWS * BLOCK6;
/// Four-byte words of a Q6_K super-block before its `d`, and where the `d` start
/// in a tile-block.
const WORDS6: usize = (BLOCK6 - 2) / 4;
const D6: usize = WORDS6 * 64;

/// Register slots of a Q6_K tile-block in the order the kernel reads them, so
/// that it streams: the four scale words, then for each half `n` and word `q` the
/// `qh` word and the two `ql` words whose codes it completes.
const fn sc_slot(j: usize) -> usize {
    j
}
const fn qh_slot(n: usize, q: usize) -> usize {
    4 + 3 * (8 * n + q)
}
const fn ql_slot(n: usize, q: usize, h: usize) -> usize {
    qh_slot(n, q) + 1 + h
}

/// `SLOT6[w]`: the register slot of word `w` of a row's super-block (`ql` words
/// 0..32, `qh` 32..48, scales 48..52).
const SLOT6: [usize; WORDS6] = {
    let mut slot = [0; WORDS6];
    let mut n = 0;
    while n < 2 {
        let mut q = 0;
        while q < 8 {
            slot[32 + 8 * n + q] = qh_slot(n, q);
            slot[16 * n + q] = ql_slot(n, q, 0);
            slot[16 * n + 8 + q] = ql_slot(n, q, 1);
            q += 1;
        }
        n += 1;
    }
    let mut j = 0;
    while j < 4 {
        slot[48 + j] = sc_slot(j);
        j += 1;
    }
    slot
};

/// The smallest batch that a tiled Q6_K matrix does not take through the tile
/// kernel: from here on it goes to the row-wise batch kernel, its rows rebuilt as
/// it goes. Against the same matrix in the file's
/// layout, on the default model (medians of paired calls): tiles take 0.3-0.9x
/// the time at 2 to 24 vectors and 1.0-1.4x at 32 to 128, when building the codes
/// costs more than the batch kernel's decoding; at 512 they take 1.2-1.3x and
/// the rows rebuilt for the batch kernel 1.05x, but at 32 to 64 those take 1.4-1.8x.
pub const Q6_K_MAX_BATCH: usize = 256;

/// Whether a `rows` × `cols` matrix of `dtype` can be repacked.
pub fn fits(dtype: GgmlType, rows: usize, cols: usize) -> bool {
    matches!(dtype, GgmlType::Q4_K | GgmlType::Q6_K)
        && rows > 0
        && rows.is_multiple_of(ROWS)
        && cols > 0
        && cols.is_multiple_of(QK_K)
}

/// The bytes of one super-block of a row, and the packing of sixteen rows'
/// super-blocks into a tile-block and back.
struct Format {
    block: usize,
    pack: fn(&[&[u8]; ROWS], &mut [u8]),
    unpack: fn(&[u8], usize, &mut [u8]),
}

fn format(dtype: GgmlType) -> Format {
    match dtype {
        GgmlType::Q4_K => Format {
            block: BLOCK,
            pack: pack_block_q4_k,
            unpack: unpack_block_q4_k,
        },
        GgmlType::Q6_K => Format {
            block: BLOCK6,
            pack: pack_block_q6_k,
            unpack: unpack_block_q6_k,
        },
        t => panic!("{t} has no tiled layout"),
    }
}

/// Rewrites sixteen rows' Q4_K super-block `src[r]` into one tile-block `dst`.
fn pack_block_q4_k(src: &[&[u8]; ROWS], dst: &mut [u8]) {
    for (r, b) in src.iter().enumerate() {
        let (d, dmin, scales, qs) = (&b[0..2], &b[2..4], &b[4..16], &b[16..BLOCK]);
        for z in 0..32 {
            let (c, q) = (z / 8, z % 8);
            let from = 32 * c + 4 * q;
            dst[QS + 64 * z + 4 * r..][..4].copy_from_slice(&qs[from..from + 4]);
        }
        for j in 0..3 {
            dst[SCALES + 64 * j + 4 * r..][..4].copy_from_slice(&scales[4 * j..4 * j + 4]);
        }
        dst[D + 2 * r..][..2].copy_from_slice(d);
        dst[DMIN + 2 * r..][..2].copy_from_slice(dmin);
    }
}

/// Row `r` of a Q4_K tile-block, back in the file's layout.
fn unpack_block_q4_k(src: &[u8], r: usize, dst: &mut [u8]) {
    dst[0..2].copy_from_slice(&src[D + 2 * r..][..2]);
    dst[2..4].copy_from_slice(&src[DMIN + 2 * r..][..2]);
    for j in 0..3 {
        dst[4 + 4 * j..][..4].copy_from_slice(&src[SCALES + 64 * j + 4 * r..][..4]);
    }
    for z in 0..32 {
        let (c, q) = (z / 8, z % 8);
        dst[16 + 32 * c + 4 * q..][..4].copy_from_slice(&src[QS + 64 * z + 4 * r..][..4]);
    }
}

/// Rewrites sixteen rows' Q6_K super-block `src[r]` into one tile-block `dst`.
fn pack_block_q6_k(src: &[&[u8]; ROWS], dst: &mut [u8]) {
    for (r, b) in src.iter().enumerate() {
        for (w, &slot) in SLOT6.iter().enumerate() {
            dst[64 * slot + 4 * r..][..4].copy_from_slice(&b[4 * w..4 * w + 4]);
        }
        dst[D6 + 2 * r..][..2].copy_from_slice(&b[4 * WORDS6..BLOCK6]);
    }
}

/// Row `r` of a Q6_K tile-block, back in the file's layout.
fn unpack_block_q6_k(src: &[u8], r: usize, dst: &mut [u8]) {
    for (w, &slot) in SLOT6.iter().enumerate() {
        dst[4 * w..4 * w + 4].copy_from_slice(&src[64 * slot + 4 * r..][..4]);
    }
    dst[4 * WORDS6..BLOCK6].copy_from_slice(&src[D6 + 2 * r..][..2]);
}

/// Repacks a `rows` × `cols` matrix of `dtype` (in the file's layout) into tiles, in
/// place.
///
/// # Panics
/// If the shape does not [`fits`] or `data` is not its size.
pub fn repack(dtype: GgmlType, data: &mut [u8], rows: usize, cols: usize) {
    assert!(
        fits(dtype, rows, cols),
        "{rows}x{cols} {dtype} cannot be tiled"
    );
    let f = format(dtype);
    let nb = cols / QK_K;
    let tile_bytes = ROWS * nb * f.block;
    assert_eq!(data.len(), rows / ROWS * tile_bytes, "matrix size");
    crate::pool::for_each_chunk_mut(data, tile_bytes, |_, tile| {
        let rows_copy = tile.to_vec();
        for i in 0..nb {
            let src: [&[u8]; ROWS] =
                std::array::from_fn(|r| &rows_copy[(r * nb + i) * f.block..][..f.block]);
            (f.pack)(&src, &mut tile[i * ROWS * f.block..][..ROWS * f.block]);
        }
    });
}

/// Row `row` of a tiled `cols`-wide matrix `data` of `dtype`, in the file's layout,
/// into `out` (one row's bytes).
pub fn unpack_row(dtype: GgmlType, data: &[u8], cols: usize, row: usize, out: &mut [u8]) {
    let f = format(dtype);
    let nb = cols / QK_K;
    let tile_bytes = ROWS * nb * f.block;
    let tile = &data[row / ROWS * tile_bytes..][..tile_bytes];
    for (i, dst) in out.chunks_exact_mut(f.block).take(nb).enumerate() {
        (f.unpack)(
            &tile[i * ROWS * f.block..][..ROWS * f.block],
            row % ROWS,
            dst,
        );
    }
}

/// A tile kernel: a tile of `nb` tile-blocks against vectors with their sums
/// (`S`), a row of sixteen results per vector.
#[cfg(target_arch = "x86_64")]
pub(super) type TileKernel<S> =
    unsafe fn(&[u8], usize, &[&[super::act::ActQ8K]], &[&[S]], &mut [[f32; ROWS]]);

/// The activations' group sums, split for the Q4_K minima's byte dot products:
/// group `g`'s sum of 32 quantized values is `128 * hi[g] + lo[g]`, with `lo` in
/// `0..128`.
#[derive(Clone, Copy, Default)]
#[repr(C, align(8))]
pub(super) struct GroupSums {
    lo: [i8; 8],
    hi: [i8; 8],
}

/// The Q4_K group sums of every super-block of `acts`.
pub(super) fn group_sums(acts: &[super::act::ActQ8K]) -> Vec<GroupSums> {
    acts.iter()
        .map(|a| {
            let mut s = GroupSums::default();
            for g in 0..8 {
                // At most 32 * 127 in magnitude: `hi` is within -32..32.
                let sum = i32::from(a.bsums[2 * g]) + i32::from(a.bsums[2 * g + 1]);
                s.lo[g] = (sum & 127) as i8;
                s.hi[g] = (sum >> 7) as i8;
            }
            s
        })
        .collect()
}

/// What the Q6_K codes' offset of 32 adds to each 16-value group's sum: 32 times
/// the sum of the group's activations.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
pub(super) struct Offsets([i32; 16]);

/// The Q6_K offsets of every super-block of `acts`.
pub(super) fn offsets(acts: &[super::act::ActQ8K]) -> Vec<Offsets> {
    acts.iter()
        .map(|a| Offsets(std::array::from_fn(|g| 32 * i32::from(a.bsums[g]))))
        .collect()
}

#[cfg(target_arch = "x86_64")]
pub(super) use x86::{tile_q4_k, tile_q6_k};

#[cfg(target_arch = "x86_64")]
mod x86 {
    #![allow(clippy::needless_range_loop)]

    use std::arch::x86_64::*;

    use super::super::act::ActQ8K;
    use super::{qh_slot, ql_slot, sc_slot, GroupSums, Offsets, D, D6, DMIN, QS, ROWS, SCALES};
    use super::{TILE_BLOCK, TILE_BLOCK6};

    /// How many tile-blocks ahead the kernels prefetch.
    const AHEAD: usize = 2;

    #[inline(always)]
    unsafe fn quad(bytes: &[i8], at: usize) -> __m512i {
        _mm512_set1_epi32(bytes.as_ptr().add(at).cast::<i32>().read_unaligned())
    }

    /// Sixteen rows (one tile of `nb` super-blocks at `tile`) against `C` vectors;
    /// `out[c][r]` is row `r` dotted with vector `c`. `U` chunks of 64 values are
    /// summed at once, so `2 * U * C` accumulator chains are in flight.
    #[inline(always)]
    unsafe fn tile<const C: usize, const U: usize>(
        tile: &[u8],
        nb: usize,
        acts: [&[ActQ8K]; C],
        sums: [&[GroupSums]; C],
    ) -> [[f32; ROWS]; C] {
        let m15 = _mm512_set1_epi8(0x0f);
        let mf0 = _mm512_set1_epi8(0xf0u8 as i8);
        let m63 = _mm512_set1_epi8(63);
        let m30 = _mm512_set1_epi8(0x30);
        let low_byte = _mm512_set1_epi32(0xff);
        let mut acc = [_mm512_setzero_ps(); C];
        for i in 0..nb {
            let b = tile.as_ptr().add(i * TILE_BLOCK);
            let s0 = _mm512_loadu_si512(b.add(SCALES).cast());
            let s1 = _mm512_loadu_si512(b.add(SCALES + 64).cast());
            let s2 = _mm512_loadu_si512(b.add(SCALES + 128).cast());
            // Each lane (row): the four bytes of groups 0..4, then of groups 4..8.
            let sc = [
                _mm512_and_si512(s0, m63),
                _mm512_or_si512(
                    _mm512_and_si512(s2, m15),
                    _mm512_and_si512(_mm512_srli_epi16::<2>(s0), m30),
                ),
            ];
            let mins = [
                _mm512_and_si512(s1, m63),
                _mm512_or_si512(
                    _mm512_and_si512(_mm512_srli_epi16::<4>(s2), m15),
                    _mm512_and_si512(_mm512_srli_epi16::<2>(s1), m30),
                ),
            ];
            let mut sumi = [_mm512_setzero_si512(); C];
            for c0 in (0..4).step_by(U) {
                // dot[u][half][vector]: group 2(c0 + u) + half.
                let mut dot = [[[_mm512_setzero_si512(); C]; 2]; U];
                for q in 0..8 {
                    for u in 0..U {
                        let c = c0 + u;
                        let at = QS + 64 * (8 * c + q);
                        // Streaming from memory, the hardware prefetcher alone
                        // leaves the loads waiting: ask for the lines two
                        // tile-blocks ahead (past the end, a prefetch is dropped).
                        let ahead = b.wrapping_add(AHEAD * TILE_BLOCK);
                        _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(at).cast());
                        if at < 4 * 64 {
                            // The scales and the d, dmin: four more lines.
                            let extra = SCALES + 64 * (at / 64);
                            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(extra).cast());
                        }
                        let w = _mm512_loadu_si512(b.add(at).cast());
                        let lo = _mm512_and_si512(w, m15);
                        let hi = _mm512_and_si512(w, mf0);
                        for v in 0..C {
                            let x = &acts[v][i].qs;
                            let xl = quad(x, 64 * c + 4 * q);
                            let xh = quad(x, 64 * c + 32 + 4 * q);
                            dot[u][0][v] = _mm512_dpbusd_epi32(dot[u][0][v], lo, xl);
                            dot[u][1][v] = _mm512_dpbusd_epi32(dot[u][1][v], hi, xh);
                        }
                    }
                }
                for u in 0..U {
                    let c = c0 + u;
                    for half in 0..2 {
                        let g = 2 * c + half;
                        // Group g's scale: byte g % 4 of each lane of sc[g / 4].
                        let s = _mm512_and_si512(
                            _mm512_srlv_epi32(sc[g / 4], _mm512_set1_epi32(8 * (g % 4) as i32)),
                            low_byte,
                        );
                        for v in 0..C {
                            let mut d = dot[u][half][v];
                            if half == 1 {
                                d = _mm512_srai_epi32::<4>(d);
                            }
                            sumi[v] = _mm512_add_epi32(sumi[v], _mm512_mullo_epi32(d, s));
                        }
                    }
                }
            }
            let d = _mm512_cvtph_ps(_mm256_loadu_si256(b.add(D).cast()));
            let dmin = _mm512_cvtph_ps(_mm256_loadu_si256(b.add(DMIN).cast()));
            for v in 0..C {
                let gs = &sums[v][i];
                let lo = gs.lo.as_ptr().cast::<i32>();
                let hi = gs.hi.as_ptr().cast::<i32>();
                let mut m_lo = _mm512_setzero_si512();
                let mut m_hi = _mm512_setzero_si512();
                for k in 0..2 {
                    let l = _mm512_set1_epi32(lo.add(k).read_unaligned());
                    let h = _mm512_set1_epi32(hi.add(k).read_unaligned());
                    m_lo = _mm512_dpbusd_epi32(m_lo, mins[k], l);
                    m_hi = _mm512_dpbusd_epi32(m_hi, mins[k], h);
                }
                let corr = _mm512_add_epi32(m_lo, _mm512_slli_epi32::<7>(m_hi));
                let ad = _mm512_set1_ps(acts[v][i].d);
                acc[v] = _mm512_fmadd_ps(_mm512_mul_ps(d, ad), _mm512_cvtepi32_ps(sumi[v]), acc[v]);
                acc[v] =
                    _mm512_fnmadd_ps(_mm512_mul_ps(dmin, ad), _mm512_cvtepi32_ps(corr), acc[v]);
            }
        }
        let mut out = [[0f32; ROWS]; C];
        for v in 0..C {
            _mm512_storeu_ps(out[v].as_mut_ptr(), acc[v]);
        }
        out
    }

    /// A tile of sixteen Q4_K rows against any number of vectors (four at a time),
    /// with their group sums; `out[c][r]` is row `r` dotted with vector `c`.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX512-F, AVX512-BW and AVX512-VNNI;
    /// `tile` must hold `nb` tile-blocks, each vector `nb` super-blocks, and `out`
    /// a row of results per vector.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vnni")]
    pub unsafe fn tile_q4_k(
        tile_data: &[u8],
        nb: usize,
        acts: &[&[ActQ8K]],
        sums: &[&[GroupSums]],
        out: &mut [[f32; ROWS]],
    ) {
        debug_assert!(tile_data.len() >= nb * TILE_BLOCK);
        debug_assert!(acts.len() == sums.len() && out.len() >= acts.len());
        let t = tile_data;
        for ((a, s), res) in acts.chunks(4).zip(sums.chunks(4)).zip(out.chunks_mut(4)) {
            match a.len() {
                1 => res[..1].copy_from_slice(&tile::<1, 4>(t, nb, [a[0]], [s[0]])),
                2 => res[..2].copy_from_slice(&tile::<2, 2>(t, nb, [a[0], a[1]], [s[0], s[1]])),
                3 => res[..3].copy_from_slice(&tile::<3, 1>(
                    t,
                    nb,
                    [a[0], a[1], a[2]],
                    [s[0], s[1], s[2]],
                )),
                _ => res[..4].copy_from_slice(&tile::<4, 1>(
                    t,
                    nb,
                    [a[0], a[1], a[2], a[3]],
                    [s[0], s[1], s[2], s[3]],
                )),
            }
        }
    }

    /// Bytes of one tile-block's codes built in full (`build_codes6`): 64 registers.
    const CODES6: usize = 64 * 64;

    /// Where the code register of half `n`, word `q`, `ql` half `h` and nibble `nib`
    /// sits among a tile-block's built codes, in units of registers.
    #[inline(always)]
    fn code_index(n: usize, q: usize, h: usize, nib: usize) -> usize {
        ((n * 8 + q) * 2 + h) * 2 + nib
    }

    /// Bit pairs 0, 2, 4 and 6 of each byte of a `qh` register, moved to bits 4-5.
    #[inline(always)]
    unsafe fn pairs(qh: __m512i) -> [__m512i; 4] {
        let m30 = _mm512_set1_epi8(0x30);
        [
            _mm512_and_si512(_mm512_slli_epi16::<4>(qh), m30),
            _mm512_and_si512(_mm512_slli_epi16::<2>(qh), m30),
            _mm512_and_si512(qh, m30),
            _mm512_and_si512(_mm512_srli_epi16::<2>(qh), m30),
        ]
    }

    /// The six-bit codes of one `ql` register: its low nibbles with pairs `lo`, its
    /// high nibbles with pairs `hi` (each code `(nibble & 15) | pair`).
    #[inline(always)]
    unsafe fn codes(ql: __m512i, lo: __m512i, hi: __m512i) -> [__m512i; 2] {
        let m15 = _mm512_set1_epi8(0x0f);
        [
            _mm512_ternarylogic_epi32::<0xEC>(ql, lo, m15),
            _mm512_ternarylogic_epi32::<0xEC>(_mm512_srli_epi16::<4>(ql), hi, m15),
        ]
    }

    /// Every code of a tile's `nb` super-blocks as a byte, in `code_index` order, so
    /// that a large batch builds them once instead of once per four vectors.
    #[inline(always)]
    unsafe fn build_codes6(tile: &[u8], nb: usize, out: &mut [u8]) {
        debug_assert!(out.len() >= nb * CODES6);
        for i in 0..nb {
            let b = tile.as_ptr().add(i * TILE_BLOCK6);
            let o = out.as_mut_ptr().add(i * CODES6);
            for n in 0..2 {
                for q in 0..8 {
                    let p = pairs(_mm512_loadu_si512(b.add(64 * qh_slot(n, q)).cast()));
                    for h in 0..2 {
                        let ql = _mm512_loadu_si512(b.add(64 * ql_slot(n, q, h)).cast());
                        let c = codes(ql, p[h], p[2 + h]);
                        for nib in 0..2 {
                            let at = o.add(64 * code_index(n, q, h, nib));
                            _mm512_storeu_si512(at.cast(), c[nib]);
                        }
                    }
                }
            }
        }
    }

    /// Prefetches, `AHEAD` tile-blocks past the Q6_K tile-block at `b`, the lines
    /// the kernel reads at half `n`, word `q`: the `qh` word and its two `ql` words,
    /// and spread over the first steps the scales and the `d`. A prefetch past the
    /// end of the data is dropped, so the addresses need not be in bounds.
    #[inline(always)]
    unsafe fn prefetch6(b: *const u8, n: usize, q: usize) {
        let ahead = b.wrapping_add(AHEAD * TILE_BLOCK6);
        for k in 0..3 {
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * (qh_slot(n, q) + k)).cast());
        }
        if n == 0 && q < 2 {
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * sc_slot(2 * q)).cast());
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * sc_slot(2 * q + 1)).cast());
        }
        if n == 1 && q == 0 {
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(D6).cast());
        }
    }

    /// Sixteen Q6_K rows (one tile of `nb` super-blocks) against `C` vectors;
    /// `out[c][r]` is row `r` dotted with vector `c`. `Q` quarters of 32 values are
    /// summed at once (one or two), so `4 * Q * C` accumulator chains are in flight.
    /// With `BUILT` the codes are read from `built` (see `build_codes6`) instead of
    /// being assembled from the tile's nibbles and bit pairs.
    #[inline(always)]
    unsafe fn tile6<const C: usize, const Q: usize, const BUILT: bool>(
        tile: &[u8],
        built: &[u8],
        nb: usize,
        acts: &[&[ActQ8K]],
        offs: &[&[Offsets]],
    ) -> [[f32; ROWS]; C] {
        let mut acc = [_mm512_setzero_ps(); C];
        for i in 0..nb {
            let b = tile.as_ptr().add(i * TILE_BLOCK6);
            let mut sumi = [_mm512_setzero_si512(); C];
            // Half `n` of the super-block (128 values); within it, word `q` of the
            // low nibbles' first and second 32 bytes (`h`), each nibble (`nib`),
            // is values `128n + 64nib + 32h + 4q ..`, in group `8n + 4nib + 2h + q / 4`.
            for n in 0..2 {
                for k0 in (0..2).step_by(Q) {
                    // dot[u][2 * nib + h][vector]
                    let mut dot = [[[_mm512_setzero_si512(); C]; 4]; Q];
                    for u in 0..Q {
                        for q in 4 * (k0 + u)..4 * (k0 + u) + 4 {
                            let p = if BUILT {
                                [_mm512_setzero_si512(); 4]
                            } else {
                                prefetch6(b, n, q);
                                pairs(_mm512_loadu_si512(b.add(64 * qh_slot(n, q)).cast()))
                            };
                            for h in 0..2 {
                                let c = if BUILT {
                                    let at = built.as_ptr().add(i * CODES6);
                                    [0, 1].map(|nib| {
                                        let k = code_index(n, q, h, nib);
                                        _mm512_loadu_si512(at.add(64 * k).cast())
                                    })
                                } else {
                                    let at = b.add(64 * ql_slot(n, q, h));
                                    codes(_mm512_loadu_si512(at.cast()), p[h], p[2 + h])
                                };
                                for nib in 0..2 {
                                    for v in 0..C {
                                        let x = quad(
                                            &acts[v][i].qs,
                                            128 * n + 64 * nib + 32 * h + 4 * q,
                                        );
                                        let a = &mut dot[u][2 * nib + h][v];
                                        *a = _mm512_dpbusd_epi32(*a, c[nib], x);
                                    }
                                }
                            }
                        }
                    }
                    for u in 0..Q {
                        for j in 0..4 {
                            let (nib, h) = (j / 2, j % 2);
                            let g = 8 * n + 4 * nib + 2 * h + k0 + u;
                            // Group g's scale: signed byte g % 4 of each lane.
                            let sc = _mm512_loadu_si512(b.add(64 * sc_slot(g / 4)).cast());
                            let s = _mm512_srai_epi32::<24>(_mm512_sllv_epi32(
                                sc,
                                _mm512_set1_epi32(24 - 8 * (g % 4) as i32),
                            ));
                            for v in 0..C {
                                let off = _mm512_set1_epi32(offs[v][i].0[g]);
                                let d = _mm512_sub_epi32(dot[u][j][v], off);
                                sumi[v] = _mm512_add_epi32(sumi[v], _mm512_mullo_epi32(d, s));
                            }
                        }
                    }
                }
            }
            let d = _mm512_cvtph_ps(_mm256_loadu_si256(b.add(D6).cast()));
            for v in 0..C {
                let ad = _mm512_set1_ps(acts[v][i].d);
                acc[v] = _mm512_fmadd_ps(_mm512_mul_ps(d, ad), _mm512_cvtepi32_ps(sumi[v]), acc[v]);
            }
        }
        let mut out = [[0f32; ROWS]; C];
        for v in 0..C {
            _mm512_storeu_ps(out[v].as_mut_ptr(), acc[v]);
        }
        out
    }

    std::thread_local! {
        /// Each thread's buffer for a tile's built codes.
        static BUILT: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
    }

    /// A tile of sixteen Q6_K rows against any number of vectors, with their
    /// offsets; `out[c][r]` is row `r` dotted with vector `c`. Past four vectors the
    /// tile's codes are built once, then read four vectors at a time.
    ///
    /// # Safety
    /// As [`tile_q4_k`]; `tile` must hold `nb` Q6_K tile-blocks.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vnni")]
    pub unsafe fn tile_q6_k(
        tile_data: &[u8],
        nb: usize,
        acts: &[&[ActQ8K]],
        offs: &[&[Offsets]],
        out: &mut [[f32; ROWS]],
    ) {
        debug_assert!(tile_data.len() >= nb * TILE_BLOCK6);
        debug_assert!(acts.len() == offs.len() && out.len() >= acts.len());
        let t = tile_data;
        if acts.len() <= 4 {
            let (a, o) = (acts, offs);
            match acts.len() {
                0 => {}
                1 => out[..1].copy_from_slice(&tile6::<1, 2, false>(t, &[], nb, a, o)),
                2 => out[..2].copy_from_slice(&tile6::<2, 2, false>(t, &[], nb, a, o)),
                3 => out[..3].copy_from_slice(&tile6::<3, 1, false>(t, &[], nb, a, o)),
                _ => out[..4].copy_from_slice(&tile6::<4, 1, false>(t, &[], nb, a, o)),
            }
            return;
        }
        let mut built = BUILT.take();
        built.resize(nb * CODES6, 0);
        build_codes6(t, nb, &mut built);
        for ((a, o), res) in acts.chunks(4).zip(offs.chunks(4)).zip(out.chunks_mut(4)) {
            match a.len() {
                1 => res[..1].copy_from_slice(&tile6::<1, 2, true>(t, &built, nb, a, o)),
                2 => res[..2].copy_from_slice(&tile6::<2, 2, true>(t, &built, nb, a, o)),
                3 => res[..3].copy_from_slice(&tile6::<3, 1, true>(t, &built, nb, a, o)),
                _ => res[..4].copy_from_slice(&tile6::<4, 1, true>(t, &built, nb, a, o)),
            }
        }
        BUILT.set(built);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repacking_keeps_every_row() {
        let (rows, cols) = (32, 512);
        for dtype in [GgmlType::Q4_K, GgmlType::Q6_K] {
            let rb = cols / QK_K * format(dtype).block;
            let orig: Vec<u8> = (0..rows * rb).map(|i| (i * 7 + i / 13) as u8).collect();
            let mut data = orig.clone();
            repack(dtype, &mut data, rows, cols);
            assert_ne!(data, orig);
            let mut row = vec![0u8; rb];
            for r in 0..rows {
                unpack_row(dtype, &data, cols, r, &mut row);
                assert_eq!(row, orig[r * rb..(r + 1) * rb], "{dtype} row {r}");
            }
        }
    }

    #[test]
    fn shapes_that_tile() {
        use GgmlType::*;
        assert!(fits(Q4_K, 16, 256) && fits(Q6_K, 1536, 8960 / 35 * 256));
        assert!(!fits(Q4_K, 8, 256) && !fits(Q6_K, 16, 100) && !fits(Q4_K, 0, 256));
        assert!(!fits(Q8_0, 16, 256) && !fits(Q5_K, 16, 256));
    }
}
