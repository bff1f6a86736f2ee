//! Read GGUF model files (memory-mapped, or read into huge-page memory for
//! inference): metadata, tensor index, quantized block formats, and the matrix
//! kernels that multiply by weights while they stay quantized.
//!
//! ```
//! use gguf::{GgmlType, GgufFile, GgufWriter, QMatrix};
//!
//! // A tiny file: one metadata key and a 2x32 Q8_0 matrix.
//! let weights: Vec<f32> = (0..64).map(|i| i as f32 / 64.0).collect();
//! let mut w = GgufWriter::new();
//! w.add_metadata("general.architecture", "tiny");
//! w.add_f32_tensor("w", &[32, 2], GgmlType::Q8_0, &weights)?;
//! let file = GgufFile::from_bytes(w.to_bytes()?)?; // or GgufFile::open(path)
//!
//! assert_eq!(file.get_str("general.architecture"), Some("tiny"));
//! let m = QMatrix::from_tensor(&file, file.tensor("w").unwrap())?;
//! let x = vec![1.0f32; 32];
//! let mut y = vec![0.0f32; 2];
//! m.matmul(&x, 1, &mut y); // y[r] = dot(row r, x)
//! assert!((y[0] - weights[..32].iter().sum::<f32>()).abs() < 0.05);
//! # Ok::<(), gguf::GgufError>(())
//! ```
//!
//! Module map:
//! - `file` — [`GgufFile`] (open/mmap, open_resident, or open_for_kernels with Q4_K
//!   repacked; metadata lookups, tensor index, tensor bytes) and [`TensorInfo`].
//! - `cursor` — the bounds-checked header reader behind `GgufFile`.
//! - `value` — metadata [`Value`]s and their accessors.
//! - `types` — [`GgmlType`] ids, block sizes and bytes per block.
//! - `error` — [`GgufError`], the one error type of the crate.
//! - `writer` — [`GgufWriter`], builds GGUF files (tests and tools).
//! - `half` — f16/bf16 conversions and the f16 lookup table the kernels use.
//! - `blocks` — byte layouts of the quantized block formats, sizes checked at
//!   compile time.
//! - `dequant` — reference dequantizers (plain scalar code, the ground truth).
//! - `quantize` — reference quantizers f32 → Q8_0/Q4_0/Q5_0/Q4_K/Q5_K/Q6_K/Q8_K.
//! - `kernels` — [`QMatrix`]: matmul with the instruction set chosen at run time
//!   ([`Isa`]); `kernels::act` quantizes activations the way llama.cpp does,
//!   `kernels::scalar` and `kernels::avx2` hold the row-by-row dot products,
//!   `kernels::packed` (256-bit) and `kernels::packed512` (512-bit) the batch kernels
//!   that take eight or sixteen vectors to a register, `kernels::tiles16` Q4_K
//!   and Q6_K repacked into 16-row tiles ([`Layout`]) and their kernels, which take
//!   the vectors four at a time.
//! - `pool` — the team of threads the kernels and the forward pass split their loops
//!   over ([`pool::for_each`]).
//!
//! Every count, length and offset in a file is checked against the file size before
//! anything is allocated or sliced, so a damaged or hostile file yields an error,
//! never a panic.

pub mod blocks;
mod cursor;
pub mod dequant;
pub mod error;
pub mod file;
pub mod half;
pub mod kernels;
pub mod pool;
pub mod quantize;
pub mod types;
pub mod value;
pub mod writer;

pub use dequant::dequantize;
pub use error::GgufError;
pub use file::{GgufFile, TensorInfo};
pub use kernels::{Isa, Layout, QMatrix};
pub use quantize::quantize;
pub use types::{GgmlType, QK_K};
pub use value::Value;
pub use writer::GgufWriter;
