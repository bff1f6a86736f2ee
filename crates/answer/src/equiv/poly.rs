//! Polynomials with rational coefficients, expanded term by term.
//!
//! Two polynomials are equal as functions exactly when their expanded forms are
//! equal, so this comparison is decisive both ways, where probing at a few points is
//! not: at probes above 1, `x^{1000}` swamps the constant term of `x^{1000} + 1`.
//! Expansion stops (returns `None`) at anything that is not a polynomial — a
//! decimal, `\sqrt{2}`, `\pi`, a function, a negative power of a variable — and at
//! the bounds on terms, degree and work below; the caller then falls back to probes.

use crate::eval::exact;
use crate::expr::Expr;
use crate::rational::Rat;
use std::collections::BTreeMap;

/// Variables with their exponents, sorted by name; empty for the constant term.
type Monomial = Vec<(String, u32)>;

/// Terms kept in one polynomial before giving up.
const MAX_TERMS: usize = 500;
/// Largest exponent of a variable in a term.
const MAX_DEGREE: u32 = 1_000_000;
/// Largest power of a polynomial with several terms (expanded by multiplication).
const MAX_EXPANDED_POWER: u32 = 64;

/// A polynomial as a map from monomials to their non-zero coefficients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Poly {
    terms: BTreeMap<Monomial, Rat>,
}

/// Spends one unit of `budget`; `None` once it is spent.
fn tick(budget: &mut u64, cost: usize) -> Option<()> {
    let cost = cost.max(1) as u64;
    if *budget < cost {
        *budget = 0;
        return None;
    }
    *budget -= cost;
    Some(())
}

impl Poly {
    /// The expanded form of `e`, or `None` when `e` is not a polynomial with
    /// rational coefficients or the work would exceed `budget`.
    pub(super) fn of(e: &Expr, budget: &mut u64) -> Option<Poly> {
        tick(budget, 1)?;
        match e {
            Expr::Num(r) => Some(Poly::constant(*r)),
            // Decimals compare at a precision, which is no polynomial identity.
            Expr::Dec(_) | Expr::Float(_) | Expr::Big(_) => None,
            Expr::Sym(name) => Some(Poly {
                terms: BTreeMap::from([(vec![(name.clone(), 1)], Rat::ONE)]),
            }),
            Expr::Add(v) => v.iter().try_fold(Poly::constant(Rat::ZERO), |acc, x| {
                acc.plus(&Poly::of(x, budget)?, budget)
            }),
            Expr::Mul(v) => v.iter().try_fold(Poly::constant(Rat::ONE), |acc, x| {
                acc.times(&Poly::of(x, budget)?, budget)
            }),
            Expr::Pow(base, exponent) => {
                let n = exact(exponent, budget)?;
                if !n.is_integer() {
                    return None;
                }
                let base = Poly::of(base, budget)?;
                if n.num() >= 0 {
                    base.power(u32::try_from(n.num()).ok()?, budget)
                } else {
                    // Only a constant may be divided by: `\frac{x}{7}`.
                    let c = base.as_constant()?;
                    Some(Poly::constant(c.pow(i64::try_from(n.num()).ok()?)?))
                }
            }
            // Anything else counts only as a rational constant (`\binom{5}{2}`, `3!`).
            other if !other.has_symbol() => exact(other, budget).map(Poly::constant),
            _ => None,
        }
    }

    fn constant(r: Rat) -> Poly {
        let mut terms = BTreeMap::new();
        if !r.is_zero() {
            terms.insert(Vec::new(), r);
        }
        Poly { terms }
    }

    fn as_constant(&self) -> Option<Rat> {
        match self.terms.len() {
            0 => Some(Rat::ZERO),
            1 => self.terms.get(&Vec::new()).copied(),
            _ => None,
        }
    }

    /// Adds `c * m` to the polynomial, dropping a coefficient that becomes zero.
    fn add_term(&mut self, m: Monomial, c: Rat) -> Option<()> {
        let sum = match self.terms.get(&m) {
            Some(old) => old.plus(c)?,
            None => c,
        };
        if sum.is_zero() {
            self.terms.remove(&m);
        } else {
            self.terms.insert(m, sum);
        }
        (self.terms.len() <= MAX_TERMS).then_some(())
    }

    fn plus(mut self, o: &Poly, budget: &mut u64) -> Option<Poly> {
        tick(budget, o.terms.len())?;
        for (m, c) in &o.terms {
            self.add_term(m.clone(), *c)?;
        }
        Some(self)
    }

    fn times(&self, o: &Poly, budget: &mut u64) -> Option<Poly> {
        tick(budget, self.terms.len().saturating_mul(o.terms.len()))?;
        let mut out = Poly::constant(Rat::ZERO);
        for (m1, c1) in &self.terms {
            for (m2, c2) in &o.terms {
                out.add_term(monomial_product(m1, m2)?, c1.times(*c2)?)?;
            }
        }
        Some(out)
    }

    fn power(&self, n: u32, budget: &mut u64) -> Option<Poly> {
        // A single term is raised directly: `(3x^2)^{500}` needs no multiplication.
        if self.terms.len() <= 1 {
            let Some((m, c)) = self.terms.iter().next() else {
                return Some(if n == 0 {
                    Poly::constant(Rat::ONE)
                } else {
                    Poly::constant(Rat::ZERO)
                });
            };
            let m = m
                .iter()
                .map(|(v, k)| {
                    let k = k.checked_mul(n).filter(|&k| k <= MAX_DEGREE)?;
                    Some((v.clone(), k))
                })
                .collect::<Option<Monomial>>()?;
            let mut out = Poly::constant(Rat::ZERO);
            out.add_term(m, c.pow(i64::from(n))?)?;
            return Some(out);
        }
        if n > MAX_EXPANDED_POWER {
            return None;
        }
        let mut acc = Poly::constant(Rat::ONE);
        for _ in 0..n {
            acc = acc.times(self, budget)?;
        }
        Some(acc)
    }
}

/// The product of two monomials: exponents of the same variable add up.
fn monomial_product(a: &Monomial, b: &Monomial) -> Option<Monomial> {
    let mut out: Monomial = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                i += 1;
                j += 1;
                (x.0.clone(), x.1.checked_add(y.1)?)
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                i += 1;
                x.clone()
            }
            (Some(x), None) => {
                i += 1;
                x.clone()
            }
            (_, Some(y)) => {
                j += 1;
                y.clone()
            }
            (None, None) => break,
        };
        if next.1 > MAX_DEGREE {
            return None;
        }
        out.push(next);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse, ParseLimits};

    fn poly(s: &str) -> Option<Poly> {
        Poly::of(&parse(s, ParseLimits::default()).unwrap(), &mut 20_000)
    }

    #[test]
    fn expands_and_compares() {
        assert_eq!(poly("(x+1)^2"), poly("x^2+2x+1"));
        assert_eq!(poly("\\frac{x+2}{7}"), poly("\\frac{x}{7}+\\frac{2}{7}"));
        assert_eq!(poly("(x-y)(x+y)"), poly("x^2-y^2"));
        assert_ne!(poly("x^{1000}+1"), poly("x^{1000}+2"));
        assert_ne!(poly("x^2 y"), poly("x y^2"));
    }

    #[test]
    fn stops_at_what_is_no_polynomial() {
        assert_eq!(poly("\\sqrt{2} x"), None);
        assert_eq!(poly("\\frac{1}{x}"), None);
        assert_eq!(poly("0.5 x"), None);
        assert_eq!(poly("\\pi x"), None);
        assert_eq!(poly("(x+y+z)^{1000}"), None);
    }
}
