//! Q4_K weights repacked at load into tiles of sixteen rows, and the AVX-512 kernel
//! that multiplies them by one to four vectors at a time (any batch is taken four by four).
//!
//! In the file each row is a run of 144-byte super-blocks. Repacked, sixteen rows
//! share each super-block position: the tile's super-block `i` holds, in the same
//! 16 × 144 bytes,
//!
//! - 32 registers of codes: register `8c + q` holds, for each row `r`, bytes
//!   `32c + 4q .. 32c + 4q + 4` of its `qs` at bytes `4r..4r + 4`. Their low nibbles
//!   are values `64c + 4q ..` (group `2c`), their high nibbles values
//!   `64c + 32 + 4q ..` (group `2c + 1`);
//! - three registers of the packed 6-bit scales and minima: register `j` holds bytes
//!   `4j..4j + 4` of each row's twelve at bytes `4r..4r + 4`;
//! - the sixteen `d`, then the sixteen `dmin` (f16).
//!
//! A 32-bit lane of a register is then one row, so a byte quad of the activations,
//! broadcast, meets sixteen rows in one `vpdpbusd`, the six-bit scales unpack for
//! sixteen rows in a few bitwise operations, and the sixteen results come out in one
//! register: no horizontal sum, no shuffle. Per super-block and vector the kernel
//! runs about a third of the vector operations of the row-by-row kernel.
//!
//! High nibbles are used in place (`code << 4`), so their sums come out sixteen
//! times too large and are shifted back once per group. The minima's correction,
//! `sum_g min_g * (sum of the group's activations)`, is four more `vpdpbusd`: each
//! group sum is split into a low seven bits and a signed high part, both of which
//! fit a signed byte, and a row's four minima sit in its lane as four bytes. The
//! integer sums are those of the scalar reference; only the float accumulation
//! order differs.
//!
//! Repacking keeps every byte, so [`unpack_row_q4_k`] gives any row back in the
//! file's layout for the other kernels.

use crate::blocks::BlockQ4K;
use crate::types::QK_K;

/// Rows per tile.
pub const ROWS: usize = 16;
/// Bytes of one super-block of a row (as in the file).
const BLOCK: usize = std::mem::size_of::<BlockQ4K>();
/// Bytes of one super-block of a tile.
const TILE_BLOCK: usize = ROWS * BLOCK;
const QS: usize = 0;
const SCALES: usize = 32 * 64;
const D: usize = SCALES + 3 * 64;
const DMIN: usize = D + 2 * ROWS;

/// Whether a `rows` × `cols` Q4_K matrix can be repacked.
pub fn fits(rows: usize, cols: usize) -> bool {
    rows > 0 && rows.is_multiple_of(ROWS) && cols > 0 && cols.is_multiple_of(QK_K)
}

/// Rewrites one tile-block's worth of sixteen rows' super-block `src[r]` into `dst`.
fn pack_block(src: &[&[u8]; ROWS], dst: &mut [u8]) {
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

/// Row `r` of a tile-block, back in the file's layout.
fn unpack_block(src: &[u8], r: usize, dst: &mut [u8]) {
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

/// Repacks a `rows` × `cols` Q4_K matrix (in the file's layout) into tiles, in place.
///
/// # Panics
/// If the shape does not [`fits`] or `data` is not its size.
pub fn repack_q4_k(data: &mut [u8], rows: usize, cols: usize) {
    assert!(fits(rows, cols), "{rows}x{cols} cannot be tiled");
    let nb = cols / QK_K;
    let tile_bytes = ROWS * nb * BLOCK;
    assert_eq!(data.len(), rows / ROWS * tile_bytes, "matrix size");
    crate::pool::for_each_chunk_mut(data, tile_bytes, |_, tile| {
        let rows_copy = tile.to_vec();
        for i in 0..nb {
            let src: [&[u8]; ROWS] =
                std::array::from_fn(|r| &rows_copy[(r * nb + i) * BLOCK..][..BLOCK]);
            pack_block(&src, &mut tile[i * TILE_BLOCK..][..TILE_BLOCK]);
        }
    });
}

/// Row `row` of a tiled `cols`-wide matrix `data`, in the file's layout, into `out`
/// (`cols / 256 * 144` bytes).
pub fn unpack_row_q4_k(data: &[u8], cols: usize, row: usize, out: &mut [u8]) {
    let nb = cols / QK_K;
    let tile = &data[row / ROWS * ROWS * nb * BLOCK..][..ROWS * nb * BLOCK];
    for (i, dst) in out.chunks_exact_mut(BLOCK).take(nb).enumerate() {
        unpack_block(&tile[i * TILE_BLOCK..][..TILE_BLOCK], row % ROWS, dst);
    }
}

/// The activations' group sums, split for the minima's byte dot products: group `g`'s
/// sum of 32 quantized values is `128 * hi[g] + lo[g]`, with `lo` in `0..128`.
#[derive(Clone, Copy, Default)]
#[repr(C, align(8))]
pub(super) struct GroupSums {
    lo: [i8; 8],
    hi: [i8; 8],
}

/// The group sums of every super-block of `acts`.
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

#[cfg(target_arch = "x86_64")]
pub(super) use x86::tile_q4_k;

#[cfg(target_arch = "x86_64")]
mod x86 {
    #![allow(clippy::needless_range_loop)]

    use std::arch::x86_64::*;

    use super::super::act::ActQ8K;
    use super::{GroupSums, D, DMIN, QS, ROWS, SCALES, TILE_BLOCK};

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
                        let w = _mm512_loadu_si512(b.add(QS + 64 * (8 * c + q)).cast());
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

    /// A tile of sixteen rows against one to four vectors (`acts.len()`), with their
    /// group sums; `out[c][r]` is row `r` dotted with vector `c`.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX512-F, AVX512-BW and AVX512-VNNI;
    /// `tile` must hold `nb` tile-blocks and each vector `nb` super-blocks.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vnni")]
    pub unsafe fn tile_q4_k(
        tile_data: &[u8],
        nb: usize,
        acts: &[&[ActQ8K]],
        sums: &[&[GroupSums]],
        out: &mut [[f32; ROWS]],
    ) {
        debug_assert!(tile_data.len() >= nb * TILE_BLOCK);
        match acts.len() {
            1 => out[..1].copy_from_slice(&tile::<1, 4>(tile_data, nb, [acts[0]], [sums[0]])),
            2 => out[..2].copy_from_slice(&tile::<2, 2>(
                tile_data,
                nb,
                [acts[0], acts[1]],
                [sums[0], sums[1]],
            )),
            3 => out[..3].copy_from_slice(&tile::<3, 1>(
                tile_data,
                nb,
                [acts[0], acts[1], acts[2]],
                [sums[0], sums[1], sums[2]],
            )),
            4 => out[..4].copy_from_slice(&tile::<4, 1>(
                tile_data,
                nb,
                [acts[0], acts[1], acts[2], acts[3]],
                [sums[0], sums[1], sums[2], sums[3]],
            )),
            n => panic!("a tile takes one to four vectors, not {n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repacking_keeps_every_row() {
        let (rows, cols) = (32, 512);
        let rb = cols / QK_K * BLOCK;
        let orig: Vec<u8> = (0..rows * rb).map(|i| (i * 7 + i / 13) as u8).collect();
        let mut data = orig.clone();
        repack_q4_k(&mut data, rows, cols);
        assert_ne!(data, orig);
        let mut row = vec![0u8; rb];
        for r in 0..rows {
            unpack_row_q4_k(&data, cols, r, &mut row);
            assert_eq!(row, orig[r * rb..(r + 1) * rb], "row {r}");
        }
    }

    #[test]
    fn shapes_that_tile() {
        assert!(fits(16, 256) && fits(1536, 8960 / 35 * 256));
        assert!(!fits(8, 256) && !fits(16, 100) && !fits(0, 256));
    }
}
