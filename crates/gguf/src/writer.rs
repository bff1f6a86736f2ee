//! `GgufWriter`: builds GGUF v3 files (metadata of every type plus tensors).
//!
//! It exists so tests and tools can construct small models; it writes exactly the
//! layout the reader expects (tensor data padded to `general.alignment`).

use std::path::Path;

use crate::error::GgufError;
use crate::file::DEFAULT_ALIGNMENT;
use crate::types::GgmlType;
use crate::value::Value;

/// A GGUF file under construction, held in memory until written.
#[derive(Debug, Clone)]
pub struct GgufWriter {
    version: u32,
    metadata: Vec<(String, Value)>,
    tensors: Vec<PendingTensor>,
}

#[derive(Debug, Clone)]
struct PendingTensor {
    name: String,
    dims: Vec<u64>,
    dtype: GgmlType,
    data: Vec<u8>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl GgufWriter {
    /// An empty version-3 file.
    pub fn new() -> Self {
        GgufWriter {
            version: 3,
            metadata: Vec::new(),
            tensors: Vec::new(),
        }
    }

    /// Chooses the version written (2 and 3 share the little-endian layout).
    pub fn with_version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// Adds (or replaces) a metadata entry. Arrays must be homogeneous.
    pub fn add_metadata(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        let value = value.into();
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.metadata.push((key.to_owned(), value)),
        }
        self
    }

    /// Adds a tensor from its encoded bytes; `dims` are in ggml order (row length first).
    pub fn add_tensor(
        &mut self,
        name: &str,
        dims: &[u64],
        dtype: GgmlType,
        data: Vec<u8>,
    ) -> Result<&mut Self, GgufError> {
        let n = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let row = dims.first().copied().unwrap_or(1);
        let want = n
            .filter(|_| row.is_multiple_of(dtype.block_size() as u64))
            .and_then(|n| dtype.bytes_for(n));
        if want != Some(data.len() as u64) {
            return Err(GgufError::Shape(format!(
                "tensor `{name}` {dims:?} of {dtype} needs {want:?} bytes, got {}",
                data.len()
            )));
        }
        if dims.len() > crate::file::MAX_DIMS {
            return Err(GgufError::Shape(format!(
                "tensor `{name}` has more than 4 dims"
            )));
        }
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(GgufError::DuplicateTensor(name.to_owned()));
        }
        self.tensors.push(PendingTensor {
            name: name.to_owned(),
            dims: dims.to_vec(),
            dtype,
            data,
        });
        Ok(self)
    }

    /// Adds an f32 tensor, encoding it as `dtype` with the reference quantizers.
    pub fn add_f32_tensor(
        &mut self,
        name: &str,
        dims: &[u64],
        dtype: GgmlType,
        values: &[f32],
    ) -> Result<&mut Self, GgufError> {
        let data = crate::quantize::quantize(dtype, values)?;
        self.add_tensor(name, dims, dtype, data)
    }

    fn alignment(&self) -> Result<u64, GgufError> {
        match self.metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => Ok(DEFAULT_ALIGNMENT),
            Some((_, Value::U32(a))) if a.is_power_of_two() => Ok((*a).into()),
            Some((_, v)) => Err(GgufError::InvalidMetadata {
                key: "general.alignment".into(),
                detail: format!("expected a power-of-two u32, found {v:?}"),
            }),
        }
    }

    /// Encodes the whole file.
    pub fn to_bytes(&self) -> Result<Vec<u8>, GgufError> {
        let align = self.alignment()?;
        let mut out = Vec::new();
        out.extend_from_slice(b"GGUF");
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (k, v) in &self.metadata {
            put_str(&mut out, k);
            out.extend_from_slice(&v.type_id().to_le_bytes());
            put_value(&mut out, k, v)?;
        }
        let mut offset = 0u64;
        let mut offsets = Vec::with_capacity(self.tensors.len());
        for t in &self.tensors {
            put_str(&mut out, &t.name);
            out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.dtype.id().to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            offsets.push(offset);
            offset = (offset + t.data.len() as u64).div_ceil(align) * align;
        }
        pad(&mut out, align);
        let data_start = out.len() as u64;
        for (t, off) in self.tensors.iter().zip(offsets) {
            out.resize((data_start + off) as usize, 0);
            out.extend_from_slice(&t.data);
        }
        Ok(out)
    }

    /// Writes the file to `path`.
    pub fn write_to(&self, path: impl AsRef<Path>) -> Result<(), GgufError> {
        std::fs::write(path, self.to_bytes()?)?;
        Ok(())
    }
}

fn pad(out: &mut Vec<u8>, align: u64) {
    let len = (out.len() as u64).div_ceil(align) * align;
    out.resize(len as usize, 0);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, key: &str, v: &Value) -> Result<(), GgufError> {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(u8::from(*x)),
        Value::String(s) => put_str(out, s),
        Value::Array(items) => {
            // An empty array has no element to take a type from; u8 is as good as any.
            let ty = items.first().map_or(0, Value::type_id);
            if items.iter().any(|i| i.type_id() != ty) {
                return Err(GgufError::InvalidMetadata {
                    key: key.to_owned(),
                    detail: "array elements must all have the same type".into(),
                });
            }
            out.extend_from_slice(&ty.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for i in items {
                put_value(out, key, i)?;
            }
        }
    }
    Ok(())
}
