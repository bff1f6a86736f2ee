//! Exact rationals over `i128`.
//!
//! Every operation is checked: an overflow yields `None` instead of wrapping, and the
//! caller then falls back to floating-point evaluation or reports "undecided". Answers
//! in contest mathematics rarely exceed 10^30, so `i128` covers the common case without
//! a big-integer dependency.

use std::cmp::Ordering;
use std::fmt;

/// A reduced fraction `num / den` with `den > 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rat {
    num: i128,
    den: i128,
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

impl Rat {
    pub const ZERO: Rat = Rat { num: 0, den: 1 };
    pub const ONE: Rat = Rat { num: 1, den: 1 };

    /// `num / den`, reduced; `None` when `den` is zero or a value overflows.
    pub fn new(num: i128, den: i128) -> Option<Rat> {
        if den == 0 || num == i128::MIN || den == i128::MIN {
            return None;
        }
        let g = gcd(num, den).max(1);
        let (mut n, mut d) = (num / g, den / g);
        if d < 0 {
            n = -n;
            d = -d;
        }
        Some(Rat { num: n, den: d })
    }

    pub fn int(n: i128) -> Rat {
        Rat { num: n, den: 1 }
    }

    pub fn num(&self) -> i128 {
        self.num
    }

    pub fn den(&self) -> i128 {
        self.den
    }

    pub fn is_zero(&self) -> bool {
        self.num == 0
    }

    pub fn is_integer(&self) -> bool {
        self.den == 1
    }

    pub fn to_f64(&self) -> f64 {
        self.num as f64 / self.den as f64
    }

    pub fn plus(self, o: Rat) -> Option<Rat> {
        let g = gcd(self.den, o.den).max(1);
        let d = (self.den / g).checked_mul(o.den)?;
        let n = self
            .num
            .checked_mul(o.den / g)?
            .checked_add(o.num.checked_mul(self.den / g)?)?;
        Rat::new(n, d)
    }

    pub fn negated(self) -> Option<Rat> {
        Some(Rat {
            num: self.num.checked_neg()?,
            den: self.den,
        })
    }

    pub fn minus(self, o: Rat) -> Option<Rat> {
        self.plus(o.negated()?)
    }

    pub fn times(self, o: Rat) -> Option<Rat> {
        // Cross-reduce first so products stay small.
        let g1 = gcd(self.num, o.den).max(1);
        let g2 = gcd(o.num, self.den).max(1);
        let n = (self.num / g1).checked_mul(o.num / g2)?;
        let d = (self.den / g2).checked_mul(o.den / g1)?;
        Rat::new(n, d)
    }

    pub fn recip(self) -> Option<Rat> {
        Rat::new(self.den, self.num)
    }

    pub fn over(self, o: Rat) -> Option<Rat> {
        self.times(o.recip()?)
    }

    /// Integer power; `None` on overflow or `0^negative`. The exponent is bounded
    /// by the caller's budget, so repeated squaring stays cheap.
    pub fn pow(self, e: i64) -> Option<Rat> {
        if e < 0 {
            return self.recip()?.pow(e.checked_neg()?);
        }
        let mut base = self;
        let mut acc = Rat::ONE;
        let mut e = e as u64;
        while e > 0 {
            if e & 1 == 1 {
                acc = acc.times(base)?;
            }
            e >>= 1;
            if e > 0 {
                base = base.times(base)?;
            }
        }
        Some(acc)
    }

    /// Exact `k`-th root when it exists (for example `sqrt(9/4) = 3/2`).
    pub fn root(self, k: u32) -> Option<Rat> {
        if k == 0 || (self.num < 0 && k.is_multiple_of(2)) {
            return None;
        }
        let n = int_root(self.num.unsigned_abs(), k)?;
        let d = int_root(self.den.unsigned_abs(), k)?;
        let n = i128::try_from(n).ok()?;
        let d = i128::try_from(d).ok()?;
        Rat::new(if self.num < 0 { -n } else { n }, d)
    }

    /// Rounds to `digits` decimal places (half away from zero), exactly.
    pub fn round_to(self, digits: u32) -> Option<Rat> {
        let scale = 10i128.checked_pow(digits)?;
        let scaled = self.num.checked_mul(scale)?;
        let q = scaled / self.den;
        let r = scaled % self.den;
        let twice = r.checked_abs()?.checked_mul(2)?;
        let q = if twice >= self.den {
            if scaled < 0 {
                q - 1
            } else {
                q + 1
            }
        } else {
            q
        };
        Rat::new(q, scale)
    }
}

/// Exact integer `k`-th root, `None` when `n` is not a perfect power.
fn int_root(n: u128, k: u32) -> Option<u128> {
    if n < 2 || k == 1 {
        return Some(n);
    }
    let guess = (n as f64).powf(1.0 / k as f64).round() as u128;
    (guess.saturating_sub(1)..=guess + 1).find(|c| c.checked_pow(k) == Some(n))
}

impl PartialOrd for Rat {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rat {
    fn cmp(&self, o: &Self) -> Ordering {
        match (self.num.checked_mul(o.den), o.num.checked_mul(self.den)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self
                .to_f64()
                .partial_cmp(&o.to_f64())
                .unwrap_or(Ordering::Equal),
        }
    }
}

impl fmt::Display for Rat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_reduces() {
        let a = Rat::new(2, 4).unwrap();
        assert_eq!(a, Rat::new(1, 2).unwrap());
        assert_eq!(a.plus(a).unwrap(), Rat::ONE);
        assert_eq!(Rat::new(9, 4).unwrap().root(2), Rat::new(3, 2));
        assert_eq!(Rat::int(2).root(2), None);
        assert_eq!(Rat::int(2).pow(-2), Rat::new(1, 4));
    }

    #[test]
    fn overflow_is_none() {
        assert_eq!(Rat::int(10).pow(60), None);
        assert_eq!(Rat::int(i128::MAX).plus(Rat::ONE), None);
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        let x = Rat::new(1, 12).unwrap().round_to(6).unwrap();
        assert_eq!(x, Rat::new(83333, 1000000).unwrap());
        assert_eq!(Rat::new(-5, 2).unwrap().round_to(0), Some(Rat::int(-3)));
    }
}
