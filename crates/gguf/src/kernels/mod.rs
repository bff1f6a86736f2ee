//! Matrix-vector and small matrix-matrix products over weights that stay quantized
//! in the mapping.
//!
//! A call quantizes its f32 inputs once (8-bit blocks matching the weight format),
//! then each worker takes a chunk of rows and, for every row, computes its dot
//! product with every input vector, so each weight row is read from memory once per
//! call whatever the batch size. The SIMD path is chosen at run time from the CPU's
//! features; the scalar path computes the same integer sums. A Q4_K or Q6_K matrix repacked
//! at load into tiles of sixteen rows ([`Layout::Tiles16`], see [`tiles16`]) is
//! taken a tile at a time instead of a row at a time.

pub mod act;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod packed;
#[cfg(target_arch = "x86_64")]
mod packed512;
#[cfg(target_arch = "x86_64")]
mod row512;
mod scalar;
mod tile;
pub mod tiles16;

use std::sync::OnceLock;

use crate::blocks::{as_blocks, Block};
use crate::error::GgufError;
use crate::file::{GgufFile, TensorInfo};
use crate::pool;
use crate::types::GgmlType;
use act::{ActQ8K, ActQ8_0};
use tile::{Fallback, Scalar, Tile};
#[cfg(target_arch = "x86_64")]
use tile::{Simd, SimdOne};

/// Instruction set used by the kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Portable Rust; always available.
    Scalar,
    /// AVX2 with FMA and F16C (x86-64).
    Avx2,
    /// `Avx2` plus the AVX-512 VNNI byte dot product on 256-bit registers
    /// (AVX512-VNNI and AVX512-VL); used by the 32-value block kernels.
    Avx2Vnni,
    /// `Avx2Vnni` plus 512-bit registers (AVX512-F and AVX512-BW); the K-quant
    /// batch kernel takes sixteen vectors to a register.
    Avx512Vnni,
}

impl Isa {
    /// The best instruction set this CPU supports, detected once per process.
    /// `VERIMATH_KERNELS=scalar`, `=avx2` or `=avx2vnni` caps the choice (for
    /// debugging and comparisons).
    pub fn detect() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            let cap = std::env::var("VERIMATH_KERNELS").unwrap_or_default();
            let candidates: &[Isa] = match cap.as_str() {
                "scalar" => &[],
                "avx2" => &[Isa::Avx2],
                "avx2vnni" => &[Isa::Avx2Vnni, Isa::Avx2],
                _ => &[Isa::Avx512Vnni, Isa::Avx2Vnni, Isa::Avx2],
            };
            candidates
                .iter()
                .copied()
                .find(|isa| isa.available())
                .unwrap_or(Isa::Scalar)
        })
    }

    /// Whether this CPU can run the instruction set.
    pub fn available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Vnni => {
                Isa::Avx2.available()
                    && is_x86_feature_detected!("avx512vnni")
                    && is_x86_feature_detected!("avx512vl")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => {
                Isa::Avx2Vnni.available()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 | Isa::Avx2Vnni | Isa::Avx512Vnni => false,
        }
    }
}

/// How a matrix's blocks are laid out in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// As in the file: each row's blocks in a run.
    #[default]
    Rows,
    /// Q4_K or Q6_K repacked at load into tiles of sixteen rows ([`tiles16`]), for
    /// the 512-bit kernels; the same bytes, in another order.
    Tiles16,
}

/// A 2-D weight matrix in its stored format: `rows` rows of `cols` values, row-major
/// (ggml dims `[cols, rows]`) unless `layout` says otherwise.
#[derive(Debug, Clone, Copy)]
pub struct QMatrix<'a> {
    pub dtype: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub data: &'a [u8],
    pub layout: Layout,
}

impl<'a> QMatrix<'a> {
    /// Checks that `data` holds exactly `rows` rows of `cols` values of `dtype` and
    /// that the type can be decoded.
    pub fn new(
        dtype: GgmlType,
        rows: usize,
        cols: usize,
        data: &'a [u8],
    ) -> Result<Self, GgufError> {
        if !kernel_supported(dtype) {
            return Err(GgufError::UnsupportedType(dtype.name()));
        }
        let row_bytes = dtype.bytes_for(cols as u64).ok_or_else(|| {
            GgufError::Shape(format!(
                "row length {cols} is not a multiple of the {dtype} block size {}",
                dtype.block_size()
            ))
        })?;
        let want = row_bytes.checked_mul(rows as u64);
        if want != Some(data.len() as u64) {
            return Err(GgufError::Shape(format!(
                "{rows}x{cols} {dtype} needs {want:?} bytes, got {}",
                data.len()
            )));
        }
        Ok(QMatrix {
            dtype,
            rows,
            cols,
            data,
            layout: Layout::Rows,
        })
    }

    /// The same bytes read in `layout` (checked to suit the type and shape).
    pub fn with_layout(mut self, layout: Layout) -> Result<Self, GgufError> {
        if layout == Layout::Tiles16 && !tiles16::fits(self.dtype, self.rows, self.cols) {
            return Err(GgufError::Shape(format!(
                "a {}x{} {} matrix cannot be in 16-row tiles",
                self.rows, self.cols, self.dtype
            )));
        }
        self.layout = layout;
        Ok(self)
    }

    /// A view of a tensor of `file`; tensors with more than two dims are flattened
    /// to rows of `dims[0]` values.
    pub fn from_tensor(file: &'a GgufFile, t: &TensorInfo) -> Result<Self, GgufError> {
        let too_big = |_| GgufError::Shape(format!("tensor `{}` too large", t.name));
        let rows = usize::try_from(t.rows()).map_err(too_big)?;
        let cols = usize::try_from(t.cols()).map_err(too_big)?;
        Self::new(t.dtype, rows, cols, file.tensor_data(t))?.with_layout(t.layout)
    }

    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.cols / self.dtype.block_size() * self.dtype.type_size()
    }

    /// The stored bytes of row `r` (file layout only: see [`QMatrix::rows_into`]).
    ///
    /// # Panics
    /// If the matrix is tiled.
    pub fn row_data(&self, r: usize) -> &'a [u8] {
        assert_eq!(self.layout, Layout::Rows, "row_data on a tiled matrix");
        let rb = self.row_bytes();
        &self.data[r * rb..(r + 1) * rb]
    }

    /// Rows `first..first + n` in the file's layout: the stored bytes, or for a tiled
    /// matrix the rows rebuilt in `scratch`.
    pub fn rows_into<'s>(&self, first: usize, n: usize, scratch: &'s mut Vec<u8>) -> &'s [u8]
    where
        'a: 's,
    {
        let rb = self.row_bytes();
        match self.layout {
            Layout::Rows => &self.data[first * rb..(first + n) * rb],
            Layout::Tiles16 => {
                scratch.resize(n * rb, 0);
                for (i, row) in scratch.chunks_exact_mut(rb).enumerate() {
                    tiles16::unpack_row(self.dtype, self.data, self.cols, first + i, row);
                }
                scratch
            }
        }
    }

    /// Decodes row `row` into `out` (`out.len() == cols`).
    ///
    /// # Panics
    /// If `row >= rows` or `out` has the wrong length.
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        assert!(row < self.rows, "row {row} out of {}", self.rows);
        assert_eq!(out.len(), self.cols, "output length");
        // The type and sizes were validated in `new`, so decoding cannot fail.
        let mut scratch = Vec::new();
        let data = self.rows_into(row, 1, &mut scratch);
        let r = crate::dequant::dequantize(self.dtype, data, out);
        debug_assert!(r.is_ok());
    }

    /// For each of `batch` input vectors `x_b = xs[b*cols..(b+1)*cols]`:
    /// `out[b*rows + r] = dot(row r, x_b)`.
    ///
    /// # Panics
    /// If `xs.len() != batch * cols` or `out.len() != batch * rows`.
    pub fn matmul(&self, xs: &[f32], batch: usize, out: &mut [f32]) {
        self.matmul_with(Isa::detect(), xs, batch, out);
    }

    /// `matmul` on a chosen instruction set (falls back to scalar if the CPU lacks
    /// it); for tests and benchmarks.
    pub fn matmul_with(&self, isa: Isa, xs: &[f32], batch: usize, out: &mut [f32]) {
        assert_eq!(xs.len(), batch * self.cols, "input length");
        assert_eq!(out.len(), batch * self.rows, "output length");
        if batch == 0 || self.rows == 0 {
            return;
        }
        let simd = isa.available() && isa != Isa::Scalar;
        let vnni = simd && matches!(isa, Isa::Avx2Vnni | Isa::Avx512Vnni);
        let wide = simd && isa == Isa::Avx512Vnni;
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (simd, vnni, wide);
        if self.layout == Layout::Tiles16 {
            #[cfg(target_arch = "x86_64")]
            if wide {
                // SAFETY: `wide` is true only when the CPU has AVX2, FMA, F16C,
                // AVX512-F, AVX512-BW and AVX512-VNNI.
                unsafe {
                    if self.dtype == GgmlType::Q4_K {
                        self.tiles(xs, batch, out, tiles16::group_sums, tiles16::tile_q4_k)
                    } else if batch < tiles16::Q6_K_MAX_BATCH {
                        self.tiles(xs, batch, out, tiles16::offsets, tiles16::tile_q6_k)
                    } else {
                        // Rows rebuilt a few dozen at a time for the batch kernel.
                        self.packed_batch_k(xs, batch, out, KPath::Zmm)
                    }
                };
                return;
            }
            // Repacking happens only where the 512-bit kernels run; elsewhere (tests,
            // a capped instruction set) the file's layout is rebuilt for the call.
            let mut flat = Vec::new();
            self.rows_into(0, self.rows, &mut flat);
            let m = QMatrix {
                data: &flat,
                layout: Layout::Rows,
                ..*self
            };
            return m.matmul_with(isa, xs, batch, out);
        }
        macro_rules! pick {
            ($acts:ident, $scalar:expr, $one:ident, $batch4:ident) => {
                pick!($acts, $scalar, $one, $batch4, $one, $batch4)
            };
            ($acts:ident, $scalar:expr, $one:ident, $batch4:ident, $vone:ident, $vbatch4:ident) => {{
                #[cfg(target_arch = "x86_64")]
                if vnni {
                    // SAFETY: `vnni` is true only when the CPU has AVX2, FMA, F16C,
                    // AVX512-VNNI and AVX512-VL.
                    let k = unsafe { Simd::new(avx2::$vone, avx2::$vbatch4) };
                    return self.$acts(xs, batch, out, &k);
                }
                #[cfg(target_arch = "x86_64")]
                if simd {
                    // SAFETY: `simd` is true only when the CPU has AVX2, FMA and F16C.
                    let k = unsafe { Simd::new(avx2::$one, avx2::$batch4) };
                    return self.$acts(xs, batch, out, &k);
                }
                self.$acts(xs, batch, out, &Scalar($scalar))
            }};
        }
        #[cfg(target_arch = "x86_64")]
        if vnni && batch >= packed::GROUP {
            if let Some(shift) = packed::offset_shift(self.dtype) {
                // SAFETY: `vnni` is true only when the CPU has AVX2, FMA, F16C,
                // AVX512-VNNI and AVX512-VL.
                unsafe { self.packed_batch(shift, xs, batch, out) };
                return;
            }
        }
        #[cfg(target_arch = "x86_64")]
        if matches!(self.dtype, GgmlType::Q4_K | GgmlType::Q6_K) {
            let path = if wide && batch >= packed512::MIN_BATCH {
                Some(KPath::Zmm)
            } else if vnni && batch >= packed::GROUP {
                Some(KPath::Vnni)
            } else if simd && batch >= packed::GROUP {
                Some(KPath::Avx2)
            } else {
                None
            };
            if let Some(path) = path {
                // SAFETY: `simd` means AVX2, FMA and F16C; `vnni` adds AVX512-VNNI and
                // AVX512-VL, `wide` AVX512-F and AVX512-BW: what each path needs.
                unsafe { self.packed_batch_k(xs, batch, out, path) };
                return;
            }
        }
        // Fewer vectors than the packed kernel takes, on 512-bit registers.
        #[cfg(target_arch = "x86_64")]
        if wide && matches!(self.dtype, GgmlType::Q4_K | GgmlType::Q6_K) {
            if self.dtype == GgmlType::Q4_K {
                // SAFETY: `wide` is true only when the CPU has AVX2, FMA, F16C,
                // AVX512-F, AVX512-BW and AVX512-VNNI.
                let k = unsafe { Simd::new(row512::q4_k_one, row512::q4_k_batch4) };
                let mut acts = Vec::with_capacity(xs.len() / 256);
                act::quantize_q8k(xs, &mut acts);
                row512::q4_k_lane_order(&mut acts);
                return self.run(&acts, self.cols / 256, batch, out, &k);
            }
            // SAFETY: as above.
            let k = unsafe { Simd::new(row512::q6_k_one, row512::q6_k_batch4) };
            return self.q8k_acts(xs, batch, out, &k);
        }
        match self.dtype {
            GgmlType::Q8_0 => pick!(
                q8_0_acts,
                |w, a| scalar::dot_q8_0(blocks(w), a),
                q8_0_one,
                q8_0_batch4,
                q8_0_one_vnni,
                q8_0_batch4_vnni
            ),
            GgmlType::Q4_0 => pick!(
                q8_0_acts,
                |w, a| scalar::dot_q4_0(blocks(w), a),
                q4_0_one,
                q4_0_batch4,
                q4_0_one_vnni,
                q4_0_batch4_vnni
            ),
            GgmlType::Q5_0 => pick!(
                q8_0_acts,
                |w, a| scalar::dot_q5_0(blocks(w), a),
                q5_0_one,
                q5_0_batch4,
                q5_0_one_vnni,
                q5_0_batch4_vnni
            ),
            GgmlType::Q4_K => pick!(
                q8k_acts,
                |w, a| scalar::dot_q4_k(blocks(w), a),
                q4_k_one,
                q4_k_batch4
            ),
            GgmlType::Q5_K => pick!(
                q8k_acts,
                |w, a| scalar::dot_q5_k(blocks(w), a),
                q5_k_one,
                q5_k_batch4
            ),
            GgmlType::Q6_K => pick!(
                q8k_acts,
                |w, a| scalar::dot_q6_k(blocks(w), a),
                q6_k_one,
                q6_k_batch4
            ),
            GgmlType::F32 | GgmlType::F16 => {
                #[cfg(target_arch = "x86_64")]
                if simd {
                    let one = if self.dtype == GgmlType::F32 {
                        avx2::dot_f32
                    } else {
                        avx2::dot_f16
                    };
                    // SAFETY: `simd` is true only when the CPU has AVX2, FMA and F16C.
                    let k = unsafe { SimdOne::new(one) };
                    return self.run(xs, self.cols, batch, out, &k);
                }
                let one = if self.dtype == GgmlType::F32 {
                    scalar::dot_f32
                } else {
                    scalar::dot_f16
                };
                self.run(xs, self.cols, batch, out, &Scalar(one))
            }
            t => self.run(xs, self.cols, batch, out, &Fallback(t)),
        }
    }

    fn q8_0_acts(&self, xs: &[f32], batch: usize, out: &mut [f32], k: &impl Tile<ActQ8_0>) {
        let mut acts = Vec::with_capacity(xs.len() / 32);
        act::quantize_q8_0(xs, &mut acts);
        self.run(&acts, self.cols / 32, batch, out, k);
    }

    /// Batches of 32-value block types on VNNI CPUs: the vectors are repacked eight
    /// to a register (see `packed`); each worker decodes its rows a few dozen at a
    /// time and writes its rows of the output directly.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX512-VNNI and AVX512-VL.
    #[cfg(target_arch = "x86_64")]
    unsafe fn packed_batch(&self, shift: u32, xs: &[f32], batch: usize, out: &mut [f32]) {
        const SUB: usize = 64;
        let nb = self.cols / 32;
        let mut acts = Vec::with_capacity(xs.len() / 32);
        act::quantize_q8_0(xs, &mut acts);
        let packs = packed::pack(&acts, nb, batch);
        let chunk = chunk_rows(self.rows, self.data.len() * batch);
        let rb = self.row_bytes();
        let outp = packed::OutPtr {
            ptr: out.as_mut_ptr(),
            rows: self.rows,
            batch,
        };
        let work = |ci: usize| {
            let mut dec: Vec<packed::Decoded> = (0..SUB)
                .map(|_| packed::Decoded {
                    codes: Vec::new(),
                    scales: Vec::new(),
                })
                .collect();
            let end = ((ci + 1) * chunk).min(self.rows);
            for sub in (ci * chunk..end).step_by(SUB) {
                let n = SUB.min(end - sub);
                let data = &self.data[sub * rb..(sub + n) * rb];
                // SAFETY: the caller's CPU features; each work item owns rows
                // `ci * chunk..end` of the output, which holds `rows * batch` values.
                unsafe {
                    packed::decode_rows(self.dtype, data, nb, &mut dec[..n]);
                    packed::rows_against_groups(shift, &dec[..n], sub, &packs, nb, outp);
                }
            }
        };
        pool::for_each(self.rows.div_ceil(chunk), work);
    }

    /// As `packed_batch`, for Q4_K and Q6_K weights against Q8_K vectors, on the
    /// kernel `path` names.
    ///
    /// # Safety
    /// The CPU must support what `path` needs: AVX2, FMA and F16C for all; AVX512-VNNI
    /// and AVX512-VL for `Vnni`; AVX512-F, AVX512-BW and AVX512-VNNI for `Zmm`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn packed_batch_k(&self, xs: &[f32], batch: usize, out: &mut [f32], path: KPath) {
        const SUB: usize = 32;
        let nb = self.cols / 256;
        let mut acts = Vec::with_capacity(xs.len() / 256);
        act::quantize_q8k(xs, &mut acts);
        let (p8, p16) = match path {
            KPath::Zmm => (Vec::new(), packed512::pack(&acts, nb, batch)),
            _ => (packed::pack_k(&acts, nb, batch), Vec::new()),
        };
        let chunk = chunk_rows(self.rows, self.data.len() * batch);
        let q6 = self.dtype == GgmlType::Q6_K;
        let outp = packed::OutPtr {
            ptr: out.as_mut_ptr(),
            rows: self.rows,
            batch,
        };
        let work = |ci: usize| {
            let mut dec: Vec<packed::DecodedK> = (0..SUB).map(|_| Default::default()).collect();
            let mut scratch = Vec::new();
            let end = ((ci + 1) * chunk).min(self.rows);
            for sub in (ci * chunk..end).step_by(SUB) {
                let n = SUB.min(end - sub);
                let data = self.rows_into(sub, n, &mut scratch);
                // SAFETY: as in `packed_batch`, with the features `path` needs.
                unsafe {
                    packed::decode_rows_k(self.dtype, data, nb, &mut dec[..n]);
                    let d = &dec[..n];
                    match path {
                        KPath::Zmm => packed512::rows_against_groups(q6, d, sub, &p16, nb, outp),
                        KPath::Vnni => packed::rows_against_groups_k(q6, d, sub, &p8, nb, outp),
                        KPath::Avx2 => {
                            packed::rows_against_groups_k_avx2(q6, d, sub, &p8, nb, outp)
                        }
                    }
                }
            }
        };
        pool::for_each(self.rows.div_ceil(chunk), work);
    }

    /// A tiled matrix against any number of vectors: each worker takes whole tiles
    /// of sixteen rows, and each tile meets the vectors four at a time through
    /// `kernel`, with the per-vector sums `sums` makes (see [`tiles16`]). For Q4_K,
    /// with no weights to decode, this beats the batch kernel at every batch size
    /// measured (8 to 512 vectors: 2-3x at 16, 1.2-1.5x at 512, on the default
    /// model's `ffn_gate`); Q6_K, which assembles its codes, takes it below
    /// [`tiles16::Q6_K_MAX_BATCH`] vectors.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX512-F, AVX512-BW and AVX512-VNNI,
    /// and `kernel` must suit the matrix's type.
    #[cfg(target_arch = "x86_64")]
    unsafe fn tiles<S: Sync>(
        &self,
        xs: &[f32],
        batch: usize,
        out: &mut [f32],
        sums: fn(&[ActQ8K]) -> Vec<S>,
        kernel: tiles16::TileKernel<S>,
    ) {
        let nb = self.cols / 256;
        let mut acts = Vec::with_capacity(batch * nb);
        act::quantize_q8k(xs, &mut acts);
        let sums = sums(&acts);
        let act_refs: Vec<&[ActQ8K]> = acts.chunks_exact(nb).collect();
        let sum_refs: Vec<&[S]> = sums.chunks_exact(nb).collect();
        let tiles = self.rows / tiles16::ROWS;
        let tile_bytes = self.data.len() / tiles;
        let per_item = chunk_rows(tiles, self.data.len() * batch);
        let outp = packed::OutPtr {
            ptr: out.as_mut_ptr(),
            rows: self.rows,
            batch,
        };
        // Vectors go in blocks of about 256 KiB, meant to stay in L2 while the
        // item's tiles pass over them, each tile (and in Q6_K its built codes, 4 KiB
        // a super-block) read from cache while the block's vectors meet it; with wide
        // rows the two together outgrow L2, and the block is then read from L3.
        const BLOCK_BYTES: usize = 256 << 10;
        let per_block = (BLOCK_BYTES / (nb * std::mem::size_of::<ActQ8K>()))
            .max(4)
            .min(batch);
        pool::for_each(tiles.div_ceil(per_item), |ci| {
            let mut res = vec![[0f32; tiles16::ROWS]; per_block];
            let item = ci * per_item..((ci + 1) * per_item).min(tiles);
            for b0 in (0..batch).step_by(per_block) {
                let b1 = (b0 + per_block).min(batch);
                for t in item.clone() {
                    let data = &self.data[t * tile_bytes..(t + 1) * tile_bytes];
                    let res = &mut res[..b1 - b0];
                    // SAFETY: the caller's CPU features; `data` is one whole tile.
                    unsafe { kernel(data, nb, &act_refs[b0..b1], &sum_refs[b0..b1], res) };
                    for (j, v) in (b0..b1).enumerate() {
                        // SAFETY: this item alone owns the tile's rows of the output.
                        unsafe { outp.put_rows(v, t * tiles16::ROWS, &res[j]) };
                    }
                }
            }
        });
    }

    fn q8k_acts(&self, xs: &[f32], batch: usize, out: &mut [f32], k: &impl Tile<ActQ8K>) {
        let mut acts = Vec::with_capacity(xs.len() / 256);
        act::quantize_q8k(xs, &mut acts);
        self.run(&acts, self.cols / 256, batch, out, k);
    }

    /// Splits the rows into chunks across the thread pool; `acts` holds `batch`
    /// activation vectors of `stride` items each. Batch 1 streams the rows in order;
    /// larger batches take each row against four vectors at a time (one weight
    /// decode serves four vectors).
    fn run<A: Sync>(
        &self,
        acts: &[A],
        stride: usize,
        batch: usize,
        out: &mut [f32],
        k: &impl Tile<A>,
    ) {
        let chunk = chunk_rows(self.rows, self.data.len() * batch);
        let act = |b: usize| &acts[b * stride..(b + 1) * stride];
        let per_block = vectors_per_block(stride * std::mem::size_of::<A>());
        let work = |ci: usize, o: &mut [f32]| {
            let first = ci * chunk;
            if batch == 1 {
                for (i, v) in o.iter_mut().enumerate() {
                    *v = k.one(self.row_data(first + i), act(0));
                }
                return;
            }
            // Vectors go in blocks small enough to stay in cache while every row
            // of this chunk passes over them; the chunk's rows (a few hundred KiB
            // at most) stay in L2 from one block of vectors to the next.
            for b0 in (0..batch).step_by(per_block) {
                let b1 = (b0 + per_block).min(batch);
                for (i, ob) in o.chunks_mut(batch).enumerate() {
                    let row = self.row_data(first + i);
                    let mut quads = ob[b0..b1].chunks_exact_mut(4);
                    for (q, o4) in (&mut quads).enumerate() {
                        let b = b0 + 4 * q;
                        o4.copy_from_slice(&k.batch4(row, [b, b + 1, b + 2, b + 3].map(act)));
                    }
                    let done = b0 + (b1 - b0) / 4 * 4;
                    for (j, v) in quads.into_remainder().iter_mut().enumerate() {
                        *v = k.one(row, act(done + j));
                    }
                }
            }
        };
        if batch == 1 {
            pool::for_each_chunk_mut(out, chunk, work);
            return;
        }
        // Workers fill a row-major [row][batch] buffer (each worker owns a
        // contiguous piece); one transpose then gives the [batch][row] output.
        let mut tmp = vec![0f32; self.rows * batch];
        pool::for_each_chunk_mut(&mut tmp, chunk * batch, work);
        for (r, vals) in tmp.chunks_exact(batch).enumerate() {
            for (b, &v) in vals.iter().enumerate() {
                out[b * self.rows + r] = v;
            }
        }
    }
}

/// Which packed K-quant batch kernel runs.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
enum KPath {
    /// Eight vectors to a 256-bit register, AVX2 byte products.
    Avx2,
    /// Eight vectors to a 256-bit register, VNNI byte dot products.
    Vnni,
    /// Sixteen vectors to a 512-bit register, VNNI byte dot products.
    Zmm,
}

/// Views a row's bytes as blocks; rows come from a validated `QMatrix`, so the
/// length is always a whole number of blocks.
fn blocks<B: Block>(row: &[u8]) -> &[B] {
    as_blocks(row).unwrap_or(&[])
}

/// Types the kernels can multiply (everything the reference dequantizer decodes).
fn kernel_supported(t: GgmlType) -> bool {
    use GgmlType::*;
    matches!(
        t,
        F32 | F16
            | BF16
            | Q4_0
            | Q4_1
            | Q5_0
            | Q5_1
            | Q8_0
            | Q2_K
            | Q3_K
            | Q4_K
            | Q5_K
            | Q6_K
            | Q8_K
    )
}

/// How many activation vectors of `bytes` each to run against a chunk of rows at
/// once: about 64 KiB of them, a multiple of four (the batch kernel's width).
fn vectors_per_block(bytes: usize) -> usize {
    const TARGET: usize = 64 * 1024;
    (TARGET / bytes.max(1) / 4 * 4).max(4)
}

/// Rows per work item: enough items to balance the threads, but a matrix under
/// 512 KiB of work runs on the calling thread. Waking a worker costs roughly
/// 5-20 us, while 512 KiB streams in about 40 us on one core, so below that
/// splitting gains little; on a loaded machine, splitting a 256x640 matrix
/// measured 2.5x slower than not. The feed-forward matrices of small models
/// (~900 KiB) still use both cores.
fn chunk_rows(rows: usize, work_bytes: usize) -> usize {
    const SMALL: usize = 512 << 10;
    if work_bytes < SMALL {
        return rows.max(1);
    }
    let items = pool::threads() * 4;
    rows.div_ceil(items).max(1)
}
