//! A bounds-checked little-endian reader over the header bytes.
//!
//! Every read checks the remaining length first and reports what it was reading
//! and where, so a truncated or corrupt file yields a precise error, never a panic.

use crate::error::GgufError;
use crate::value::Value;

/// Arrays may nest; real files use one level. A limit keeps a hostile file from
/// recursing until the stack overflows.
const MAX_ARRAY_DEPTH: u32 = 4;

pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes `n` bytes or reports a truncation while reading `what`.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], GgufError> {
        if n > self.remaining() {
            return Err(GgufError::Truncated {
                what,
                offset: self.pos as u64,
                need: n as u64,
                available: self.remaining() as u64,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], GgufError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Reads a count and checks that `count * min_item_size` bytes can still follow,
    /// so an absurd count is rejected before anything is allocated for it.
    pub(crate) fn count(
        &mut self,
        what: &'static str,
        min_item_size: usize,
    ) -> Result<usize, GgufError> {
        let at = self.pos as u64;
        let n = self.u64(what)?;
        let need = n.checked_mul(min_item_size as u64);
        match need {
            Some(need) if need <= self.remaining() as u64 => Ok(n as usize),
            _ => Err(GgufError::Implausible {
                what,
                value: n,
                offset: at,
            }),
        }
    }

    /// A GGUF string: u64 length, then UTF-8 bytes.
    pub(crate) fn str(&mut self, what: &'static str) -> Result<&'a str, GgufError> {
        // A length past the end reads as a truncation (with the length as `need`);
        // nothing is allocated before the bytes are known to exist.
        let len = self.u64(what)?;
        let at = self.pos as u64;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes).map_err(|_| GgufError::InvalidUtf8 { what, offset: at })
    }

    /// A metadata value of type `ty`.
    pub(crate) fn value(&mut self, ty: u32, depth: u32) -> Result<Value, GgufError> {
        Ok(match ty {
            0 => Value::U8(self.array::<1>("u8 value")?[0]),
            1 => Value::I8(i8::from_le_bytes(self.array("i8 value")?)),
            2 => Value::U16(u16::from_le_bytes(self.array("u16 value")?)),
            3 => Value::I16(i16::from_le_bytes(self.array("i16 value")?)),
            4 => Value::U32(self.u32("u32 value")?),
            5 => Value::I32(i32::from_le_bytes(self.array("i32 value")?)),
            6 => Value::F32(f32::from_le_bytes(self.array("f32 value")?)),
            7 => {
                let at = self.pos as u64;
                match self.array::<1>("bool value")?[0] {
                    0 => Value::Bool(false),
                    1 => Value::Bool(true),
                    v => {
                        return Err(GgufError::Implausible {
                            what: "bool value",
                            value: v.into(),
                            offset: at,
                        })
                    }
                }
            }
            8 => Value::String(self.str("string value")?.to_owned()),
            9 => self.array_value(depth)?,
            10 => Value::U64(self.u64("u64 value")?),
            11 => Value::I64(i64::from_le_bytes(self.array("i64 value")?)),
            12 => Value::F64(f64::from_le_bytes(self.array("f64 value")?)),
            _ => {
                return Err(GgufError::UnknownValueType {
                    ty,
                    offset: self.pos as u64 - 4,
                })
            }
        })
    }

    fn array_value(&mut self, depth: u32) -> Result<Value, GgufError> {
        let ty_at = self.pos as u64;
        let ty = self.u32("array element type")?;
        if depth >= MAX_ARRAY_DEPTH {
            return Err(GgufError::Implausible {
                what: "array nesting depth",
                value: depth.into(),
                offset: ty_at,
            });
        }
        let min = match ty {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            8 | 10..=12 => 8,
            9 => 12,
            _ => return Err(GgufError::UnknownValueType { ty, offset: ty_at }),
        };
        let n = self.count("array length", min)?;
        // Fixed-size element types are decoded from one bounds-checked slice, which
        // keeps large arrays (token scores, token types) fast to load.
        let items = match ty {
            0 => self.fixed(n, 1, "u8 array", |b| Value::U8(b[0]))?,
            1 => self.fixed(n, 1, "i8 array", |b| Value::I8(b[0] as i8))?,
            2 => self.fixed(n, 2, "u16 array", |b| Value::U16(le(b)))?,
            3 => self.fixed(n, 2, "i16 array", |b| Value::I16(le(b)))?,
            4 => self.fixed(n, 4, "u32 array", |b| Value::U32(le(b)))?,
            5 => self.fixed(n, 4, "i32 array", |b| Value::I32(le(b)))?,
            6 => self.fixed(n, 4, "f32 array", |b| Value::F32(le(b)))?,
            10 => self.fixed(n, 8, "u64 array", |b| Value::U64(le(b)))?,
            11 => self.fixed(n, 8, "i64 array", |b| Value::I64(le(b)))?,
            12 => self.fixed(n, 8, "f64 array", |b| Value::F64(le(b)))?,
            _ => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.value(ty, depth + 1)?);
                }
                v
            }
        };
        Ok(Value::Array(items))
    }

    fn fixed(
        &mut self,
        n: usize,
        size: usize,
        what: &'static str,
        f: impl Fn(&[u8]) -> Value,
    ) -> Result<Vec<Value>, GgufError> {
        // `count` already checked n * size fits in the remaining bytes.
        let bytes = self.take(n * size, what)?;
        Ok(bytes.chunks_exact(size).map(f).collect())
    }
}

/// Decodes a little-endian number from a slice of exactly its size.
fn le<T: FromLe>(b: &[u8]) -> T {
    T::from_le(b)
}

trait FromLe {
    fn from_le(b: &[u8]) -> Self;
}

macro_rules! from_le {
    ($($t:ty),*) => {$(
        impl FromLe for $t {
            fn from_le(b: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(b);
                <$t>::from_le_bytes(a)
            }
        }
    )*};
}
from_le!(u16, i16, u32, i32, f32, u64, i64, f64);
