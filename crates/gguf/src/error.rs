//! The error type for everything in this crate: parsing, bounds checks and kernel shapes.
//!
//! Errors carry enough context (what was being read, at which byte offset) that a
//! user holding a damaged file can tell where it breaks.

use thiserror::Error;

/// Everything that can go wrong while reading a GGUF file or building a matrix view.
#[derive(Debug, Error)]
pub enum GgufError {
    /// The first four bytes are not `GGUF`.
    #[error("not a GGUF file: magic is {found:02x?}, expected \"GGUF\"")]
    BadMagic { found: [u8; 4] },

    /// A version this reader does not understand (only 2 and 3 are supported).
    #[error("unsupported GGUF version {0} (supported: 2, 3)")]
    UnsupportedVersion(u32),

    /// The file ends before a field that should be there.
    #[error("file truncated while reading {what} at offset {offset} (need {need} bytes, {available} left)")]
    Truncated {
        what: &'static str,
        offset: u64,
        need: u64,
        available: u64,
    },

    /// A count or length that cannot be right given how many bytes remain.
    #[error("implausible {what} {value} at offset {offset}")]
    Implausible {
        what: &'static str,
        value: u64,
        offset: u64,
    },

    /// A metadata key that is not valid UTF-8.
    #[error("invalid UTF-8 in {what} at offset {offset}")]
    InvalidUtf8 { what: &'static str, offset: u64 },

    /// A metadata value type id outside the GGUF specification.
    #[error("unknown metadata value type {ty} at offset {offset}")]
    UnknownValueType { ty: u32, offset: u64 },

    /// A tensor element type id this crate does not know.
    #[error("tensor `{name}` has unknown ggml type {ty}")]
    UnknownTensorType { name: String, ty: u32 },

    /// A tensor whose bytes are not entirely inside the file.
    #[error("tensor `{name}` data [{start}, {end}) lies outside the file ({file_len} bytes)")]
    TensorOutOfBounds {
        name: String,
        start: u64,
        end: u64,
        file_len: u64,
    },

    /// A tensor offset or shape that violates the alignment or block rules.
    #[error("tensor `{name}` misaligned: {detail}")]
    Misaligned { name: String, detail: String },

    /// Two tensors with the same name.
    #[error("duplicate tensor name `{0}`")]
    DuplicateTensor(String),

    /// Two metadata entries with the same key.
    #[error("duplicate metadata key `{0}`")]
    DuplicateKey(String),

    /// A metadata entry with a well-known key has the wrong type or value.
    #[error("invalid metadata `{key}`: {detail}")]
    InvalidMetadata { key: String, detail: String },

    /// A matrix view whose shape does not match its data or operation.
    #[error("shape mismatch: {0}")]
    Shape(String),

    /// The operation is not implemented for this tensor type.
    #[error("operation not supported for ggml type {0}")]
    UnsupportedType(&'static str),

    /// Opening or mapping the file failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
