//! A vectorised `exp`, for the SiLU activation.
//!
//! `exp(x) = 2^n * e^r` with `n = round(x / ln 2)` and `r = x - n ln 2` (ln 2 split in
//! two parts, so `r` is exact to f32), `|r| <= ln 2 / 2`, and `e^r` from its Taylor
//! series to degree 7 (truncation error below 6e-9, so results are within about one
//! unit in the last place of the correctly rounded value). The input is clamped to
//! `[-87.33, 88]`, where `2^n` is a normal f32: below, the result is the smallest
//! normal (~1.2e-38) instead of 0, which no caller can tell apart.
//!
//! The AVX2 path and the portable one compute the same steps with fused multiply-adds,
//! so they give the same bits. (Attention keeps the C library's `exp`, as ggml does;
//! see `attend`.)

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
const LO: f32 = -87.336_54;
const HI: f32 = 88.0;
/// `1 / k!` for `k = 7, 6, ..., 2` (Horner order; the last two coefficients are 1).
const C: [f32; 6] = [
    1.0 / 5040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
];

/// `exp(x)` by the steps above.
#[inline]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(LO, HI);
    let n = (x * LOG2E).round_ties_even();
    let r = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, x));
    let mut p = C[0];
    for c in &C[1..] {
        p = p.mul_add(r, *c);
    }
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// `x / (1 + exp(-x))`.
#[inline]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

/// `g[i] = silu(g[i]) * u[i]` (the SwiGLU gate).
pub fn silu_mul(g: &mut [f32], u: &[f32]) {
    let n = g.len().min(u.len());
    #[cfg(target_arch = "x86_64")]
    if x86::available() {
        // SAFETY: AVX2 and FMA were detected at run time.
        unsafe { x86::silu_mul(&mut g[..n], &u[..n]) };
        return;
    }
    for (g, u) in g[..n].iter_mut().zip(&u[..n]) {
        *g = silu(*g) * u;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! AVX2 + FMA (unless `VERIMATH_KERNELS=scalar`); callers check [`available`].
    use std::arch::x86_64::*;

    use super::*;

    pub fn available() -> bool {
        static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *OK.get_or_init(|| {
            gguf::Isa::detect() != gguf::Isa::Scalar
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
        })
    }

    #[inline(always)]
    unsafe fn exp8(x: __m256) -> __m256 {
        let x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(LO)), _mm256_set1_ps(HI));
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_mul_ps(x, _mm256_set1_ps(LOG2E)),
        );
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
        let mut p = _mm256_set1_ps(C[0]);
        for c in &C[1..] {
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(*c));
        }
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0));
        let e = _mm256_slli_epi32::<23>(_mm256_add_epi32(
            _mm256_cvtps_epi32(n),
            _mm256_set1_epi32(127),
        ));
        _mm256_mul_ps(p, _mm256_castsi256_ps(e))
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn silu_mul(g: &mut [f32], u: &[f32]) {
        let n = g.len();
        let one = _mm256_set1_ps(1.0);
        let mut i = 0;
        while i + 8 <= n {
            let x = _mm256_loadu_ps(g.as_ptr().add(i));
            let e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
            let s = _mm256_div_ps(x, _mm256_add_ps(one, e));
            let y = _mm256_mul_ps(s, _mm256_loadu_ps(u.as_ptr().add(i)));
            _mm256_storeu_ps(g.as_mut_ptr().add(i), y);
            i += 8;
        }
        for j in i..n {
            g[j] = silu(g[j]) * u[j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Units in the last place between `a` and `b` (both positive and finite).
    fn ulps(a: f32, b: f32) -> u32 {
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn exp_is_within_two_ulps_of_the_library() {
        let mut worst = 0;
        let mut x = -87.0f32;
        while x < 88.0 {
            worst = worst.max(ulps(exp(x), x.exp()));
            x += 0.0137;
        }
        assert!(worst <= 2, "worst {worst} ulps");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NEG_INFINITY) < 1e-37);
        assert!(exp(1000.0).is_finite());
    }

    #[test]
    fn vector_paths_give_the_scalar_bits() {
        let xs: Vec<f32> = (0..203).map(|i| (i as f32 - 101.0) * 0.731).collect();
        let u: Vec<f32> = (0..203).map(|i| 1.0 + i as f32 * 0.01).collect();
        let mut g = xs.clone();
        silu_mul(&mut g, &u);
        for ((x, u), y) in xs.iter().zip(&u).zip(&g) {
            assert_eq!(y.to_bits(), (silu(*x) * u).to_bits(), "silu({x})");
            let exact = x / (1.0 + (-x).exp()) * u;
            assert!(
                (y - exact).abs() <= 1e-6 * exact.abs().max(1e-30),
                "silu({x})"
            );
        }
    }
}
