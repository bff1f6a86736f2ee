//! The kernel interface the matmul driver calls: one weight row against one
//! activation vector, and a 4-wide form (one row against four vectors) for
//! batches, with the portable, SIMD and decode-then-dot implementations.

use std::cell::RefCell;

use crate::types::GgmlType;

/// A dot-product kernel: one row against one vector, plus an optional 4-wide form
/// (one row against four vectors) that decodes each weight block once.
pub(super) trait Tile<A>: Sync {
    fn one(&self, w: &[u8], a: &[A]) -> f32;
    fn batch4(&self, w: &[u8], a: [&[A]; 4]) -> [f32; 4] {
        a.map(|a| self.one(w, a))
    }
}

/// A portable single-dot kernel.
pub(super) struct Scalar<A>(pub(super) fn(&[u8], &[A]) -> f32);

impl<A> Tile<A> for Scalar<A> {
    fn one(&self, w: &[u8], a: &[A]) -> f32 {
        (self.0)(w, a)
    }
}

/// Types without an integer kernel: decode the row, then an f32 dot.
pub(super) struct Fallback(pub(super) GgmlType);

impl Tile<f32> for Fallback {
    fn one(&self, w: &[u8], x: &[f32]) -> f32 {
        dot_dequantized(self.0, w, x)
    }
}

type One<A> = unsafe fn(&[u8], &[A]) -> f32;

/// SIMD kernels; constructing one asserts the CPU supports them.
#[cfg(target_arch = "x86_64")]
pub(super) struct Simd<A> {
    one: One<A>,
    batch4: unsafe fn(&[u8], [&[A]; 4]) -> [f32; 4],
}

#[cfg(target_arch = "x86_64")]
impl<A> Simd<A> {
    /// # Safety
    /// The CPU must support the instruction set the functions were compiled for.
    pub(super) unsafe fn new(one: One<A>, batch4: unsafe fn(&[u8], [&[A]; 4]) -> [f32; 4]) -> Self {
        Simd { one, batch4 }
    }
}

#[cfg(target_arch = "x86_64")]
impl<A: Sync> Tile<A> for Simd<A> {
    fn one(&self, w: &[u8], a: &[A]) -> f32 {
        // SAFETY: `Simd::new`'s contract: the CPU supports these functions.
        unsafe { (self.one)(w, a) }
    }
    fn batch4(&self, w: &[u8], a: [&[A]; 4]) -> [f32; 4] {
        // SAFETY: as in `one`.
        unsafe { (self.batch4)(w, a) }
    }
}

/// A SIMD single-dot kernel (float weights, which are streamed, not decoded).
#[cfg(target_arch = "x86_64")]
pub(super) struct SimdOne(One<f32>);

#[cfg(target_arch = "x86_64")]
impl SimdOne {
    /// # Safety
    /// The CPU must support the instruction set `one` was compiled for.
    pub(super) unsafe fn new(one: One<f32>) -> Self {
        SimdOne(one)
    }
}

#[cfg(target_arch = "x86_64")]
impl Tile<f32> for SimdOne {
    fn one(&self, w: &[u8], a: &[f32]) -> f32 {
        // SAFETY: constructed only after the CPU was found to support it.
        unsafe { (self.0)(w, a) }
    }
}

thread_local! {
    static ROW: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Fallback for types without an integer kernel: decode the row, then an f32 dot.
fn dot_dequantized(t: GgmlType, w: &[u8], x: &[f32]) -> f32 {
    ROW.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.resize(x.len(), 0.0);
        if crate::dequant::dequantize(t, w, &mut buf).is_err() {
            return f32::NAN;
        }
        buf.iter().zip(x).map(|(a, b)| a * b).sum()
    })
}
