//! Read GGUF model files (memory-mapped): metadata, tensor index and quantized blocks.
//!
//! Module map:
//! - `file` — [`GgufFile`] (open/mmap, metadata lookups, tensor index, tensor bytes)
//!   and [`TensorInfo`].
//! - `cursor` — the bounds-checked header reader behind `GgufFile`.
//! - `value` — metadata [`Value`]s and their accessors.
//! - `types` — [`GgmlType`] ids, block sizes and bytes per block.
//! - `error` — [`GgufError`], the one error type of the crate.
//!
//! Every count, length and offset in a file is checked against the file size before
//! anything is allocated or sliced, so a damaged or hostile file yields an error,
//! never a panic.

mod cursor;
pub mod error;
pub mod file;
pub mod types;
pub mod value;

pub use error::GgufError;
pub use file::{GgufFile, TensorInfo};
pub use types::{GgmlType, QK_K};
pub use value::Value;
