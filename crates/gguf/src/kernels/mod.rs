//! Matrix-vector and small matrix-matrix products over weights that stay quantized
//! in the mapping.
//!
//! A call quantizes its f32 inputs once (8-bit blocks matching the weight format),
//! then each worker takes a chunk of rows and, for every row, computes its dot
//! product with every input vector, so each weight row is read from memory once per
//! call whatever the batch size. The SIMD path is chosen at run time from the CPU's
//! features; the scalar path computes the same integer sums.

pub mod act;
#[cfg(target_arch = "x86_64")]
mod avx2;
mod scalar;

use std::cell::RefCell;
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::blocks::{as_blocks, Block};
use crate::error::GgufError;
use crate::file::{GgufFile, TensorInfo};
use crate::types::GgmlType;
use act::{ActQ8K, ActQ8_0};

/// Chooses `simd`'s kernel or the scalar one for a dot product.
macro_rules! dispatch {
    ($simd:expr, $f:ident, $w:expr, $a:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            if $simd {
                // SAFETY: `simd` is true only when `Isa::Avx2.available()` said the
                // CPU has AVX2, FMA and F16C.
                unsafe { avx2::$f($w, $a) }
            } else {
                scalar::$f($w, $a)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = $simd;
            scalar::$f($w, $a)
        }
    }};
}

/// Instruction set used by the kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Portable Rust; always available.
    Scalar,
    /// AVX2 with FMA and F16C (x86-64).
    Avx2,
}

impl Isa {
    /// The best instruction set this CPU supports, detected once per process.
    /// Setting `VERIMATH_KERNELS=scalar` forces the portable path (for debugging).
    pub fn detect() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            if std::env::var("VERIMATH_KERNELS").is_ok_and(|v| v == "scalar") {
                return Isa::Scalar;
            }
            if Isa::Avx2.available() {
                Isa::Avx2
            } else {
                Isa::Scalar
            }
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
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 => false,
        }
    }
}

/// A 2-D weight matrix in its stored format: `rows` rows of `cols` values, row-major
/// (ggml dims `[cols, rows]`).
#[derive(Debug, Clone, Copy)]
pub struct QMatrix<'a> {
    pub dtype: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub data: &'a [u8],
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
        })
    }

    /// A view of a tensor of `file`; tensors with more than two dims are flattened
    /// to rows of `dims[0]` values.
    pub fn from_tensor(file: &'a GgufFile, t: &TensorInfo) -> Result<Self, GgufError> {
        let too_big = |_| GgufError::Shape(format!("tensor `{}` too large", t.name));
        let rows = usize::try_from(t.rows()).map_err(too_big)?;
        let cols = usize::try_from(t.cols()).map_err(too_big)?;
        Self::new(t.dtype, rows, cols, file.tensor_data(t))
    }

    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.cols / self.dtype.block_size() * self.dtype.type_size()
    }

    /// The stored bytes of row `r`.
    pub fn row_data(&self, r: usize) -> &'a [u8] {
        let rb = self.row_bytes();
        &self.data[r * rb..(r + 1) * rb]
    }

    /// Decodes row `row` into `out` (`out.len() == cols`).
    ///
    /// # Panics
    /// If `row >= rows` or `out` has the wrong length.
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        assert!(row < self.rows, "row {row} out of {}", self.rows);
        assert_eq!(out.len(), self.cols, "output length");
        // The type and sizes were validated in `new`, so decoding cannot fail.
        let r = crate::dequant::dequantize(self.dtype, self.row_data(row), out);
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
        let isa = if isa.available() { isa } else { Isa::Scalar };
        let simd = isa == Isa::Avx2;
        match self.dtype {
            GgmlType::Q8_0 => self.q8_0_acts(xs, batch, out, |w, a| {
                dispatch!(simd, dot_q8_0, blocks(w), a)
            }),
            GgmlType::Q4_0 => self.q8_0_acts(xs, batch, out, |w, a| {
                dispatch!(simd, dot_q4_0, blocks(w), a)
            }),
            GgmlType::Q5_0 => self.q8_0_acts(xs, batch, out, |w, a| {
                dispatch!(simd, dot_q5_0, blocks(w), a)
            }),
            GgmlType::Q4_K => self.q8k_acts(xs, batch, out, |w, a| {
                dispatch!(simd, dot_q4_k, blocks(w), a)
            }),
            GgmlType::Q6_K => self.q8k_acts(xs, batch, out, |w, a| {
                dispatch!(simd, dot_q6_k, blocks(w), a)
            }),
            GgmlType::F32 => self.run(xs, self.cols, batch, out, |w, x| {
                dispatch!(simd, dot_f32, w, x)
            }),
            GgmlType::F16 => self.run(xs, self.cols, batch, out, |w, x| {
                dispatch!(simd, dot_f16, w, x)
            }),
            _ => self.run(xs, self.cols, batch, out, |w, x| {
                dot_dequantized(self.dtype, w, x)
            }),
        }
    }

    fn q8_0_acts(
        &self,
        xs: &[f32],
        batch: usize,
        out: &mut [f32],
        dot: impl Fn(&[u8], &[ActQ8_0]) -> f32 + Sync,
    ) {
        let mut acts = Vec::with_capacity(xs.len() / 32);
        act::quantize_q8_0(xs, &mut acts);
        self.run(&acts, self.cols / 32, batch, out, dot);
    }

    fn q8k_acts(
        &self,
        xs: &[f32],
        batch: usize,
        out: &mut [f32],
        dot: impl Fn(&[u8], &[ActQ8K]) -> f32 + Sync,
    ) {
        let mut acts = Vec::with_capacity(xs.len() / 256);
        act::quantize_q8k(xs, &mut acts);
        self.run(&acts, self.cols / 256, batch, out, dot);
    }

    /// Splits the rows into chunks across the thread pool; `acts` holds `batch`
    /// activation vectors of `stride` items each.
    fn run<A: Sync>(
        &self,
        acts: &[A],
        stride: usize,
        batch: usize,
        out: &mut [f32],
        dot: impl Fn(&[u8], &[A]) -> f32 + Sync,
    ) {
        let chunk = chunk_rows(self.rows, self.data.len() * batch);
        let work = |(ci, o): (usize, &mut [f32])| {
            for (i, ob) in o.chunks_mut(batch).enumerate() {
                let row = self.row_data(ci * chunk + i);
                for (b, v) in ob.iter_mut().enumerate() {
                    *v = dot(row, &acts[b * stride..(b + 1) * stride]);
                }
            }
        };
        if batch == 1 {
            if chunk >= self.rows {
                out.chunks_mut(chunk).enumerate().for_each(work);
            } else {
                out.par_chunks_mut(chunk).enumerate().for_each(work);
            }
            return;
        }
        // Workers fill a row-major [row][batch] buffer (each worker owns a
        // contiguous piece); one transpose then gives the [batch][row] output.
        let mut tmp = vec![0f32; self.rows * batch];
        if chunk >= self.rows {
            tmp.chunks_mut(chunk * batch).enumerate().for_each(work);
        } else {
            tmp.par_chunks_mut(chunk * batch).enumerate().for_each(work);
        }
        for (r, vals) in tmp.chunks_exact(batch).enumerate() {
            for (b, &v) in vals.iter().enumerate() {
                out[b * self.rows + r] = v;
            }
        }
    }
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

/// Rows per work item: enough items to balance two or more threads, but a small
/// matrix runs on the calling thread since waking workers would cost more.
fn chunk_rows(rows: usize, work_bytes: usize) -> usize {
    const SMALL: usize = 32 * 1024;
    if work_bytes < SMALL {
        return rows.max(1);
    }
    let items = rayon::current_num_threads() * 4;
    rows.div_ceil(items).max(1)
}

thread_local! {
    static ROW: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Fallback for types without an integer kernel: decode the row, then an f32 dot.
fn dot_dequantized(t: GgmlType, w: &[u8], x: &[f32]) -> f32 {
    ROW.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.resize(x.len(), 0.0);
        if crate::dequant::dequantize(t, w, &mut buf).is_err() {
            return f32::NAN;
        }
        buf.iter().zip(x).map(|(a, b)| a * b).sum()
    })
}
