//! Reading hyper-parameters and weights out of a GGUF file, with errors that name the
//! key or tensor at fault.
//!
//! Architecture files ask for what they need (`meta.req("block_count")`,
//! `w.matrix("blk.3.attn_q.weight", n_embd, n_head * head_dim)`); every tensor's shape
//! is checked against the hyper-parameters here, so the forward pass can slice
//! activations without further checks.

use std::sync::Arc;

use gguf::{GgufFile, QMatrix};

use super::layers::{Linear, RmsNorm};
use super::ModelError;

/// Metadata lookups under one architecture prefix (`gemma3.`, `llama.`, ...).
pub(crate) struct Meta<'a> {
    file: &'a GgufFile,
    arch: &'a str,
}

impl<'a> Meta<'a> {
    pub fn new(file: &'a GgufFile, arch: &'a str) -> Meta<'a> {
        Meta { file, arch }
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.arch)
    }

    /// A positive integer that must be present.
    pub fn req(&self, suffix: &str) -> Result<usize, ModelError> {
        self.opt(suffix)?
            .ok_or_else(|| ModelError::MissingKey(self.key(suffix)))
    }

    /// A positive integer, if present.
    pub fn opt(&self, suffix: &str) -> Result<Option<usize>, ModelError> {
        let key = self.key(suffix);
        let Some(value) = self.file.get(&key) else {
            return Ok(None);
        };
        match value.as_u64().and_then(|v| usize::try_from(v).ok()) {
            Some(v) if v > 0 => Ok(Some(v)),
            _ => Err(ModelError::BadKey {
                key,
                detail: format!("expected a positive integer, found {value:?}"),
            }),
        }
    }

    /// A count that may be zero (`leading_dense_block_count`), if present.
    pub fn count_opt(&self, suffix: &str) -> Result<Option<usize>, ModelError> {
        let key = self.key(suffix);
        let Some(value) = self.file.get(&key) else {
            return Ok(None);
        };
        match value.as_u64().and_then(|v| usize::try_from(v).ok()) {
            Some(v) => Ok(Some(v)),
            None => Err(ModelError::BadKey {
                key,
                detail: format!("expected a non-negative integer, found {value:?}"),
            }),
        }
    }

    /// A boolean, if present.
    pub fn bool_opt(&self, suffix: &str) -> Result<Option<bool>, ModelError> {
        let key = self.key(suffix);
        match self.file.get(&key) {
            None => Ok(None),
            Some(v) => v.as_bool().map(Some).ok_or_else(|| ModelError::BadKey {
                key,
                detail: format!("expected a boolean, found {v:?}"),
            }),
        }
    }

    /// A finite float, if present.
    pub fn f32_opt(&self, suffix: &str) -> Result<Option<f32>, ModelError> {
        let key = self.key(suffix);
        let Some(value) = self.file.get(&key) else {
            return Ok(None);
        };
        match value.as_f64() {
            Some(v) if v.is_finite() => Ok(Some(v as f32)),
            _ => Err(ModelError::BadKey {
                key,
                detail: format!("expected a number, found {value:?}"),
            }),
        }
    }

    /// A string, if present.
    pub fn str_opt(&self, suffix: &str) -> Result<Option<&'a str>, ModelError> {
        let key = self.key(suffix);
        match self.file.get(&key) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| ModelError::BadKey {
                key,
                detail: format!("expected a string, found {v:?}"),
            }),
        }
    }

    /// Fails with a clear message when a value is outside what the model can use.
    pub fn check(&self, suffix: &str, ok: bool, detail: &str) -> Result<(), ModelError> {
        if ok {
            Ok(())
        } else {
            Err(ModelError::BadKey {
                key: self.key(suffix),
                detail: detail.to_owned(),
            })
        }
    }
}

/// Tensor lookups with shape checks.
pub(crate) struct Weights<'a> {
    file: &'a Arc<GgufFile>,
}

impl<'a> Weights<'a> {
    pub fn new(file: &'a Arc<GgufFile>) -> Weights<'a> {
        Weights { file }
    }

    /// Whether the file has a tensor called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.file.tensor(name).is_some()
    }

    fn shaped(&self, name: &str, dims: &[u64]) -> Result<&'a gguf::TensorInfo, ModelError> {
        let info = self
            .file
            .tensor(name)
            .ok_or_else(|| ModelError::MissingTensor(name.to_owned()))?;
        if info.dims != dims {
            return Err(ModelError::TensorShape {
                name: name.to_owned(),
                expected: dims.to_vec(),
                found: info.dims.clone(),
            });
        }
        Ok(info)
    }

    /// A weight matrix mapping `cols` inputs to `rows` outputs (ggml dims `[cols, rows]`).
    pub fn matrix(&self, name: &str, cols: usize, rows: usize) -> Result<Linear, ModelError> {
        let info = self.shaped(name, &[cols as u64, rows as u64])?;
        Linear::new(Arc::clone(self.file), info.clone())
    }

    /// `count` matrices of `rows` x `cols` stacked in one tensor (ggml dims
    /// `[cols, rows, count]`): the experts of a layer, or its per-head matrices.
    pub fn stacked(
        &self,
        name: &str,
        cols: usize,
        rows: usize,
        count: usize,
    ) -> Result<Vec<Linear>, ModelError> {
        let info = self.shaped(name, &[cols as u64, rows as u64, count as u64])?;
        let all = Linear::new(Arc::clone(self.file), info.clone())?;
        (0..count).map(|i| all.rows_slice(i * rows, rows)).collect()
    }

    /// A vector of `len` values, converted to f32 whatever its stored type.
    pub fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
        let info = self.shaped(name, &[len as u64])?;
        let tensor_err = |source| ModelError::Tensor {
            name: name.to_owned(),
            source,
        };
        let m =
            QMatrix::new(info.dtype, 1, len, self.file.tensor_data(info)).map_err(tensor_err)?;
        let mut out = vec![0.0; len];
        m.dequantize_row(0, &mut out);
        Ok(out)
    }

    /// [`Weights::vector`] for a tensor that may be absent.
    pub fn vector_opt(&self, name: &str, len: usize) -> Result<Option<Vec<f32>>, ModelError> {
        if self.has(name) {
            self.vector(name, len).map(Some)
        } else {
            Ok(None)
        }
    }

    /// An RMSNorm of width `len` with the given epsilon.
    pub fn rms_norm(&self, name: &str, len: usize, eps: f32) -> Result<RmsNorm, ModelError> {
        Ok(RmsNorm {
            weight: self.vector(name, len)?,
            eps,
        })
    }
}

/// Name of a per-layer tensor: `blk.{layer}.{name}.weight`.
pub(crate) fn blk(layer: usize, name: &str) -> String {
    format!("blk.{layer}.{name}.weight")
}

/// Name of a per-layer bias: `blk.{layer}.{name}.bias`.
pub(crate) fn blk_bias(layer: usize, name: &str) -> String {
    format!("blk.{layer}.{name}.bias")
}
