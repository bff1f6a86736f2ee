//! Read GGUF model files (memory-mapped): metadata, tensor index and quantized blocks.
//!
//! Module map:
//! - `file` — [`GgufFile`] (open/mmap, metadata lookups, tensor index, tensor bytes)
//!   and [`TensorInfo`].
//! - `cursor` — the bounds-checked header reader behind `GgufFile`.
//! - `value` — metadata [`Value`]s and their accessors.
//! - `types` — [`GgmlType`] ids, block sizes and bytes per block.
//! - `error` — [`GgufError`], the one error type of the crate.
//! - `writer` — [`GgufWriter`], builds GGUF files (tests and tools).
//! - `half` — f16/bf16 conversions.
//! - `blocks` — byte layouts of the quantized block formats.
//! - `dequant` — reference dequantizers (plain scalar code, the ground truth).
//! - `kernels` — [`QMatrix`]: quantized matmul with run-time SIMD dispatch
//!   (`kernels::act` quantizes activations, `scalar`/`avx2` hold the dot products).
//! - `quantize` — reference quantizers f32 → Q8_0/Q4_0/Q5_0/Q4_K/Q5_K/Q6_K/Q8_K.
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
pub mod quantize;
pub mod types;
pub mod value;
pub mod writer;

pub use dequant::dequantize;
pub use error::GgufError;
pub use file::{GgufFile, TensorInfo};
pub use kernels::{Isa, QMatrix};
pub use quantize::quantize;
pub use types::{GgmlType, QK_K};
pub use value::Value;
pub use writer::GgufWriter;
