//! Building blocks shared by every architecture: quantized linear maps, RMSNorm,
//! rotary position embeddings, activations and the gated feed-forward network.
//!
//! Activations are row-major `[batch, width]` f32 buffers. Weights stay quantized in
//! the memory-mapped file; a [`Linear`] only remembers where its tensor lives.

use std::sync::{Arc, OnceLock};

use gguf::half::{f16_to_f32, f32_to_f16};
use gguf::{GgufFile, QMatrix, TensorInfo};

use super::ModelError;

/// A weight matrix `W: [rows, cols]` (ggml dims `[cols, rows]`) with an optional bias,
/// applied as `y = W x (+ b)` to every row of a batch.
#[derive(Debug, Clone)]
pub struct Linear {
    file: Arc<GgufFile>,
    info: TensorInfo,
    rows: usize,
    cols: usize,
    bias: Option<Vec<f32>>,
}

impl Linear {
    /// Wraps a tensor already checked to be `[cols, rows]`; builds its kernel view once
    /// so that a type without kernels is reported at load time, by name.
    pub(crate) fn new(file: Arc<GgufFile>, info: TensorInfo) -> Result<Linear, ModelError> {
        let cols = info.cols() as usize;
        let rows = info.rows() as usize;
        let lin = Linear {
            file,
            info,
            rows,
            cols,
            bias: None,
        };
        lin.matrix()?;
        Ok(lin)
    }

    /// Adds a bias of `rows` values.
    pub(crate) fn with_bias(mut self, bias: Option<Vec<f32>>) -> Linear {
        self.bias = bias;
        self
    }

    /// Output width.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input width.
    pub fn cols(&self) -> usize {
        self.cols
    }

    fn matrix(&self) -> Result<QMatrix<'_>, ModelError> {
        let data = self.file.tensor_data(&self.info);
        QMatrix::new(self.info.dtype, self.rows, self.cols, data)
            .and_then(|m| m.with_layout(self.info.layout))
            .map_err(|source| ModelError::Tensor {
                name: self.info.name.clone(),
                source,
            })
    }

    /// `out[b * rows + r] = W[r] . xs[b * cols ..] (+ bias[r])` for `batch` inputs.
    pub fn forward(&self, xs: &[f32], batch: usize, out: &mut [f32]) -> Result<(), ModelError> {
        let m = self.matrix()?;
        let clock = crate::profile::start();
        m.matmul(
            &xs[..batch * self.cols],
            batch,
            &mut out[..batch * self.rows],
        );
        crate::profile::record(
            || {
                let role = crate::profile::role(&self.info.name);
                format!("matmul {role} {:?}", self.info.dtype)
            },
            clock,
            2.0 * (batch * self.rows * self.cols) as f64,
        );
        if let Some(bias) = &self.bias {
            for row in out[..batch * self.rows].chunks_exact_mut(self.rows) {
                for (o, b) in row.iter_mut().zip(bias) {
                    *o += b;
                }
            }
        }
        Ok(())
    }

    /// Allocating form of [`Linear::forward`].
    pub fn apply(&self, xs: &[f32], batch: usize) -> Result<Vec<f32>, ModelError> {
        let mut out = vec![0.0; batch * self.rows];
        self.forward(xs, batch, &mut out)?;
        Ok(out)
    }

    /// Rows `first..first + count` as a matrix of their own: one expert of a stacked
    /// `[cols, rows, n_expert]` tensor, or one head of a per-head tensor. The rows stay
    /// in the mapped file, so a slice costs nothing until it is used.
    pub(crate) fn rows_slice(&self, first: usize, count: usize) -> Result<Linear, ModelError> {
        let shape_error = || ModelError::TensorShape {
            name: self.info.name.clone(),
            expected: vec![self.cols as u64, (first + count) as u64],
            found: self.info.dims.clone(),
        };
        if first + count > self.rows || self.bias.is_some() {
            return Err(shape_error());
        }
        // A tiled matrix splits in place only at whole tiles of sixteen rows; other
        // slices get their rows rebuilt in the file's layout, in a file of their own.
        let tiled = self.info.layout == gguf::Layout::Tiles16;
        if tiled && !(first.is_multiple_of(16) && count.is_multiple_of(16)) {
            let mut rows = Vec::new();
            self.matrix()?.rows_into(first, count, &mut rows);
            let dims = [self.cols as u64, count as u64];
            let mut w = gguf::GgufWriter::new();
            w.add_tensor(&self.info.name, &dims, self.info.dtype, rows.to_vec())?;
            let file = Arc::new(GgufFile::from_bytes(w.to_bytes()?)?);
            let info = file
                .tensor(&self.info.name)
                .cloned()
                .ok_or_else(shape_error)?;
            return Linear::new(file, info);
        }
        let row_bytes = self
            .info
            .dtype
            .bytes_for(self.cols as u64)
            .ok_or_else(shape_error)?;
        let mut info = self.info.clone();
        info.offset += first as u64 * row_bytes;
        info.dims = vec![self.cols as u64, count as u64];
        Linear::new(Arc::clone(&self.file), info)
    }

    /// Row `r` of `W` as f32 (used as an embedding lookup); `r < rows`.
    pub fn row(&self, r: usize, out: &mut [f32]) -> Result<(), ModelError> {
        self.matrix()?.dequantize_row(r, &mut out[..self.cols]);
        Ok(())
    }
}

/// Root-mean-square normalisation: `y = x / sqrt(mean(x^2) + eps) * w`.
///
/// The weight is used as stored: converters that target llama.cpp already fold any
/// `(1 + w)` convention (Gemma) into the stored values.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    pub weight: Vec<f32>,
    pub eps: f32,
}

impl RmsNorm {
    /// Normalises every `weight.len()`-wide row of `x` in place.
    pub fn apply(&self, x: &mut [f32]) {
        let clock = crate::profile::start();
        let n = self.weight.len();
        for row in x.chunks_exact_mut(n) {
            // Squares summed in f64, normalise, then weight: the same rounding steps as
            // ggml, so results track llama.cpp's as closely as f32 allows.
            let ss: f64 = row.iter().map(|&v| f64::from(v * v)).sum();
            let scale = 1.0 / ((ss / n as f64) as f32 + self.eps).sqrt();
            for (v, w) in row.iter_mut().zip(&self.weight) {
                *v = (*v * scale) * w;
            }
        }
        crate::profile::record(|| "rms norm".into(), clock, 0.0);
    }

    /// Normalised copy of `x`.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        let mut y = x.to_vec();
        self.apply(&mut y);
        y
    }
}

/// Which dimensions RoPE rotates together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs `(2i, 2i + 1)` (llama; its converter permutes Q/K to match).
    Normal,
    /// Halves `(i, i + n_rot / 2)` (GPT-NeoX, Qwen2, Gemma).
    Neox,
}

/// Rotary position embedding: pair `i` of a head is rotated by the angle
/// `pos * scale * base^(-2i / n_rot) / factor_i`.
///
/// The angles are computed as ggml does, in f32: `base^(-2 / n_rot)` once, then each
/// pair's angle from the previous one by one multiplication, starting from `pos`; the
/// cosines and sines are taken of those f32 angles. Positions of a few hundred
/// already make this differ from exact angles by more than f32 rounding, and the
/// difference shows in log-probabilities, so the reference's steps are reproduced.
#[derive(Debug, Clone)]
pub struct Rope {
    style: RopeStyle,
    n_rot: usize,
    /// `base^(-2 / n_rot)`, in f32.
    theta_scale: f32,
    /// Linear position scale (1 / scaling factor).
    scale: f32,
    /// Per-pair divisors of the angle (llama 3 `rope_freqs`).
    factors: Option<Vec<f32>>,
    /// YaRN's blend of interpolated and original angles, if the model is YaRN-scaled.
    yarn: Option<Yarn>,
}

/// YaRN RoPE scaling (as DeepSeek files carry it): pairs that turn fast keep their
/// original angle, slow pairs are interpolated by the scale, and the pairs between
/// blend linearly; cosines and sines are multiplied by `mscale`.
///
/// With `s` the position scale (1 / factor), `n` the original context length and
/// `d(b) = n_rot * ln(n / (2 pi b)) / (2 ln base)`, pairs below `low = floor(d(32))`
/// keep the original angle and pairs above `high = ceil(d(1))` take the interpolated
/// one (ggml's `beta_fast = 32`, `beta_slow = 1`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Yarn {
    low: f32,
    high: f32,
    /// Multiplies cosines and sines.
    mscale: f32,
}

impl Yarn {
    /// YaRN for `n_rot` rotated dimensions, frequency `base` and the training context
    /// `n_ctx_orig` (the position scale is the [`Rope`]'s); `mscale` multiplies cosines and sines.
    pub fn new(n_rot: usize, base: f32, n_ctx_orig: usize, mscale: f32) -> Yarn {
        let dim = |beta: f32| {
            n_rot as f32 * (n_ctx_orig as f32 / (beta * 2.0 * std::f32::consts::PI)).ln()
                / (2.0 * base.ln())
        };
        Yarn {
            low: dim(32.0).floor().max(0.0),
            high: dim(1.0).ceil().min(n_rot as f32 - 1.0),
            mscale,
        }
    }

    /// Share of the original angle in pair `i`: 1 for fast pairs, 0 for slow ones.
    fn ramp(&self, i: usize) -> f32 {
        let y = (i as f32 - self.low) / (self.high - self.low).max(0.001);
        1.0 - y.clamp(0.0, 1.0)
    }
}

impl Rope {
    /// `n_rot` rotated dimensions (even), frequency `base`, linear position `scale`
    /// (1 / scaling factor) and optional per-pair divisors (llama 3 `rope_freqs`).
    pub fn new(
        style: RopeStyle,
        n_rot: usize,
        base: f32,
        scale: f32,
        factors: Option<&[f32]>,
    ) -> Rope {
        Rope {
            style,
            n_rot,
            theta_scale: base.powf(-2.0 / n_rot as f32),
            scale,
            factors: factors.map(<[f32]>::to_vec),
            yarn: None,
        }
    }

    /// The same rotation with YaRN scaling.
    pub fn with_yarn(mut self, yarn: Yarn) -> Rope {
        self.yarn = Some(yarn);
        self
    }

    /// Cosines and sines for one position: `[n_rot / 2]` each.
    pub fn table(&self, pos: usize) -> (Vec<f32>, Vec<f32>) {
        let half = self.n_rot / 2;
        let (mut cos, mut sin) = (Vec::with_capacity(half), Vec::with_capacity(half));
        let mut theta = pos as f32;
        for i in 0..half {
            let f = self
                .factors
                .as_ref()
                .and_then(|fs| fs.get(i))
                .copied()
                .unwrap_or(1.0);
            let original = theta / f;
            let mut angle = self.scale * original;
            let mut mscale = 1.0;
            if let Some(yarn) = &self.yarn {
                let mix = yarn.ramp(i);
                angle = angle * (1.0 - mix) + original * mix;
                mscale = yarn.mscale;
            }
            cos.push(angle.cos() * mscale);
            sin.push(angle.sin() * mscale);
            theta *= self.theta_scale;
        }
        (cos, sin)
    }

    /// Rotates every `head_dim`-wide head of `x` with a table from [`Rope::table`].
    pub fn apply(&self, x: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32]) {
        let half = self.n_rot / 2;
        for head in x.chunks_exact_mut(head_dim) {
            for i in 0..half {
                let (a, b) = match self.style {
                    RopeStyle::Normal => (2 * i, 2 * i + 1),
                    RopeStyle::Neox => (i, i + half),
                };
                let (x0, x1) = (head[a], head[b]);
                head[a] = x0 * cos[i] - x1 * sin[i];
                head[b] = x0 * sin[i] + x1 * cos[i];
            }
        }
    }
}

/// The nonlinearity of a gated feed-forward network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x * sigmoid(x)` (SwiGLU: llama, qwen2).
    Silu,
    /// GELU, tanh approximation (GeGLU: gemma), in f16 steps as ggml computes it.
    GeluTanh,
}

impl Activation {
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Silu => super::vexp::silu(x),
            Activation::GeluTanh => gelu_tanh(x),
        }
    }
}

/// GELU with the tanh approximation, looked up by the f16 value of `x` (ggml's
/// method): a table read instead of a `tanh` per value, the activation's cost in
/// long prompts, and the same f16 roundings as llama.cpp. Beyond |x| >= 10 GELU is
/// `max(x, 0)` to f32 precision.
fn gelu_tanh(x: f32) -> f32 {
    static TABLE: OnceLock<Vec<u16>> = OnceLock::new();
    if x <= -10.0 {
        return 0.0;
    }
    if x >= 10.0 {
        return x;
    }
    let table = TABLE.get_or_init(|| {
        (0..=u16::MAX)
            .map(|h| {
                const SQRT_2_OVER_PI: f32 = 0.797_884_6;
                let x = f16_to_f32(h);
                let y = 0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + 0.044_715 * x * x)).tanh());
                f32_to_f16(y)
            })
            .collect()
    });
    f16_to_f32(table[usize::from(f32_to_f16(x))])
}

/// Gated feed-forward network: `down(act(gate x) * up x)`.
#[derive(Debug, Clone)]
pub struct GatedMlp {
    pub gate: Linear,
    pub up: Linear,
    pub down: Linear,
    pub act: Activation,
}

impl GatedMlp {
    /// `x: [n, n_embd]` -> `[n, n_embd]`.
    pub fn forward(&self, x: &[f32], n: usize) -> Result<Vec<f32>, ModelError> {
        let mut g = self.gate.apply(x, n)?;
        let u = self.up.apply(x, n)?;
        // The activation costs an exp per value: split long prompts across the cores.
        let clock = crate::profile::start();
        let width = self.gate.rows();
        gguf::pool::for_each_chunk_mut(&mut g, width, |i, g| {
            let u = &u[i * width..][..g.len()];
            match self.act {
                Activation::Silu => super::vexp::silu_mul(g, u),
                act => {
                    for (g, u) in g.iter_mut().zip(u) {
                        *g = act.apply(*g) * u;
                    }
                }
            }
        });
        crate::profile::record(|| "ffn activation".into(), clock, 0.0);
        self.down.apply(&g, n)
    }
}

/// Looks up the embedding row of every token: `[tokens.len(), n_embd]`, times `scale`.
pub fn embed(
    table: &Linear,
    tokens: impl Iterator<Item = u32>,
    scale: f32,
) -> Result<Vec<f32>, ModelError> {
    let width = table.cols();
    let mut out = Vec::new();
    for token in tokens {
        let start = out.len();
        out.resize(start + width, 0.0);
        table.row(token as usize, &mut out[start..])?;
        if scale != 1.0 {
            out[start..].iter_mut().for_each(|v| *v *= scale);
        }
    }
    Ok(out)
}

/// Element-wise `x += y`.
pub fn add_assign(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rope_styles_pair_different_dimensions() {
        let rope_n = Rope::new(RopeStyle::Normal, 4, 10000.0, 1.0, None);
        let rope_x = Rope::new(RopeStyle::Neox, 4, 10000.0, 1.0, None);
        let (c, s) = rope_n.table(1);
        assert!((c[0] - 1f32.cos()).abs() < 1e-6 && (s[1] - 0.01f32.sin()).abs() < 1e-6);
        let mut a = vec![1.0, 0.0, 0.0, 0.0];
        rope_n.apply(&mut a, 4, &c, &s);
        assert!((a[1] - 1f32.sin()).abs() < 1e-6 && a[2] == 0.0);
        let mut b = vec![1.0, 0.0, 0.0, 0.0];
        rope_x.apply(&mut b, 4, &c, &s);
        assert!((b[2] - 1f32.sin()).abs() < 1e-6 && b[1] == 0.0);
    }

    #[test]
    fn rms_norm_unit_rms() {
        let n = RmsNorm {
            weight: vec![1.0; 4],
            eps: 0.0,
        };
        let y = n.forward(&[2.0, -2.0, 2.0, -2.0]);
        assert_eq!(y, vec![1.0, -1.0, 1.0, -1.0]);
    }

    #[test]
    fn activations() {
        assert!((Activation::Silu.apply(1.0) - 0.731_058_6).abs() < 1e-6);
        // The table holds f16 values: about 3 significant digits.
        assert!((Activation::GeluTanh.apply(1.0) - 0.841_192).abs() < 1e-3);
        for i in -1200..1200 {
            let x = i as f32 / 100.0;
            let exact = 0.5 * x * (1.0 + (0.797_884_6 * x * (1.0 + 0.044_715 * x * x)).tanh());
            let got = Activation::GeluTanh.apply(x);
            assert!(
                (got - exact).abs() <= 2e-3 * exact.abs().max(1.0),
                "{x}: {got} vs {exact}"
            );
        }
        assert_eq!(Activation::GeluTanh.apply(0.0), 0.0);
    }
}
