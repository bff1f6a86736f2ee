//! IEEE half-precision helpers for the key/value cache (conversions from the `gguf`
//! crate; the attention kernels here).
//!
//! The cache stores keys and values as f16 bits (`u16`), the same precision llama.cpp
//! uses by default, which halves cache memory and the bytes attention has to stream.
//! Attention reads the cache through [`dot`] and [`axpy`], which convert on the fly:
//! with the x86-64 F16C and FMA extensions (detected once at run time) eight values
//! per instruction, otherwise with a portable scalar conversion.

use std::sync::OnceLock;

/// Converts one f16 (as bits) to f32 exactly.
pub fn to_f32(h: u16) -> f32 {
    gguf::half::f16_to_f32(h)
}

/// Converts an f32 to f16 bits, rounding to nearest even.
pub fn from_f32(x: f32) -> u16 {
    gguf::half::f32_to_f16(x)
}

/// Writes `src` as f16 bits into `dst` (same length).
pub fn encode(src: &[f32], dst: &mut [u16]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = from_f32(s);
    }
}

/// Whether the fast F16C/FMA path can run on this CPU (checked once).
fn has_f16c() -> bool {
    static FAST: OnceLock<bool> = OnceLock::new();
    *FAST.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            is_x86_feature_detected!("f16c")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("avx")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// `sum_i a[i] * b[i]` with `b` in f16.
pub fn dot(a: &[f32], b: &[u16]) -> f32 {
    let n = a.len().min(b.len());
    #[cfg(target_arch = "x86_64")]
    if has_f16c() {
        // SAFETY: the required CPU features were detected at run time.
        return unsafe { x86::dot(&a[..n], &b[..n]) };
    }
    a[..n]
        .iter()
        .zip(&b[..n])
        .map(|(&x, &h)| x * to_f32(h))
        .sum()
}

/// `y[i] += alpha * x[i]` with `x` in f16.
pub fn axpy(y: &mut [f32], alpha: f32, x: &[u16]) {
    let n = y.len().min(x.len());
    #[cfg(target_arch = "x86_64")]
    if has_f16c() {
        // SAFETY: the required CPU features were detected at run time.
        unsafe { x86::axpy(&mut y[..n], alpha, &x[..n]) };
        return;
    }
    for (o, &h) in y[..n].iter_mut().zip(&x[..n]) {
        *o += alpha * to_f32(h);
    }
}

/// `y[i] = f16(y[i] * s)`: scales an f16 vector, rounding each result to f16.
pub fn scale_f16(y: &mut [u16], s: f32) {
    #[cfg(target_arch = "x86_64")]
    if has_f16c() {
        // SAFETY: the required CPU features were detected at run time.
        unsafe { x86::scale_f16(y, s) };
        return;
    }
    for v in y.iter_mut() {
        *v = from_f32(to_f32(*v) * s);
    }
}

/// `y[i] = f16(y[i] + alpha * x[i])` with `y` and `x` in f16 (one f32 fused
/// multiply-add, then one rounding to f16).
pub fn axpy_f16(y: &mut [u16], alpha: f32, x: &[u16]) {
    let n = y.len().min(x.len());
    #[cfg(target_arch = "x86_64")]
    if has_f16c() {
        // SAFETY: the required CPU features were detected at run time.
        unsafe { x86::axpy_f16(&mut y[..n], alpha, &x[..n]) };
        return;
    }
    for (o, &h) in y[..n].iter_mut().zip(&x[..n]) {
        *o = from_f32(alpha.mul_add(to_f32(h), to_f32(*o)));
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! AVX + F16C + FMA kernels; callers guarantee the features are present.
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx,f16c,fma")]
    pub unsafe fn dot(a: &[f32], b: &[u16]) -> f32 {
        let n = a.len();
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut i = 0;
        while i + 16 <= n {
            let b0 = _mm256_cvtph_ps(_mm_loadu_si128(b.as_ptr().add(i) as *const __m128i));
            let b1 = _mm256_cvtph_ps(_mm_loadu_si128(b.as_ptr().add(i + 8) as *const __m128i));
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.as_ptr().add(i)), b0, acc0);
            acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a.as_ptr().add(i + 8)), b1, acc1);
            i += 16;
        }
        let acc = _mm256_add_ps(acc0, acc1);
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
        let mut sum: f32 = lanes.iter().sum();
        while i < n {
            sum += a[i] * super::to_f32(b[i]);
            i += 1;
        }
        sum
    }

    #[target_feature(enable = "avx,f16c,fma")]
    pub unsafe fn scale_f16(y: &mut [u16], s: f32) {
        let n = y.len();
        let vs = _mm256_set1_ps(s);
        let mut i = 0;
        while i + 8 <= n {
            let p = y.as_mut_ptr().add(i) as *mut __m128i;
            let yv = _mm256_cvtph_ps(_mm_loadu_si128(p));
            let r = _mm256_mul_ps(yv, vs);
            _mm_storeu_si128(p, _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(r));
            i += 8;
        }
        while i < n {
            y[i] = super::from_f32(super::to_f32(y[i]) * s);
            i += 1;
        }
    }

    #[target_feature(enable = "avx,f16c,fma")]
    pub unsafe fn axpy_f16(y: &mut [u16], alpha: f32, x: &[u16]) {
        let n = y.len();
        let va = _mm256_set1_ps(alpha);
        let mut i = 0;
        while i + 8 <= n {
            let p = y.as_mut_ptr().add(i) as *mut __m128i;
            let xv = _mm256_cvtph_ps(_mm_loadu_si128(x.as_ptr().add(i) as *const __m128i));
            let yv = _mm256_cvtph_ps(_mm_loadu_si128(p));
            let r = _mm256_fmadd_ps(xv, va, yv);
            _mm_storeu_si128(p, _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(r));
            i += 8;
        }
        while i < n {
            y[i] = super::from_f32(alpha.mul_add(super::to_f32(x[i]), super::to_f32(y[i])));
            i += 1;
        }
    }

    #[target_feature(enable = "avx,f16c,fma")]
    pub unsafe fn axpy(y: &mut [f32], alpha: f32, x: &[u16]) {
        let n = y.len();
        let va = _mm256_set1_ps(alpha);
        let mut i = 0;
        while i + 8 <= n {
            let xv = _mm256_cvtph_ps(_mm_loadu_si128(x.as_ptr().add(i) as *const __m128i));
            let yv = _mm256_loadu_ps(y.as_ptr().add(i));
            _mm256_storeu_ps(y.as_mut_ptr().add(i), _mm256_fmadd_ps(va, xv, yv));
            i += 8;
        }
        while i < n {
            y[i] += alpha * super::to_f32(x[i]);
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_match_scalar() {
        let a: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<u16> = (0..37).map(|i| from_f32((i as f32 * 0.11).cos())).collect();
        let want: f32 = a.iter().zip(&b).map(|(&x, &h)| x * to_f32(h)).sum();
        assert!((dot(&a, &b) - want).abs() < 1e-4);
        let mut y = a.clone();
        axpy(&mut y, 0.5, &b);
        for i in 0..37 {
            assert!((y[i] - (a[i] + 0.5 * to_f32(b[i]))).abs() < 1e-6);
        }
    }
}
