//! Scalars: a base numeral against its digits and infinities by sign first; then
//! exact rationals, expanded polynomials, probes of complex floating-point values at
//! pseudo-random points, and structure.

use super::poly::Poly;
use super::{canon, no, unknown, yes, Checker, Judgement};
use crate::eval::{eval, exact, free_vars, Env, EvalError, C};
use crate::expr::{Const, Expr};
use crate::Options;

/// Probe points per variable comparison.
pub(super) const PROBES: usize = 6;
/// Relative tolerance of the probe comparison when no decimals are involved.
const REL_TOL: f64 = 1e-9;

impl Checker<'_> {
    pub(super) fn at(&mut self, e: &Expr, vars: &[String], probe: usize) -> Result<C, EvalError> {
        let mut env = Env::new(self.steps.min(50_000));
        for (k, v) in vars.iter().enumerate() {
            env.vars.insert(v.clone(), probe_value(probe, k));
        }
        let before = env.steps;
        let r = eval(e, &mut env);
        self.steps = self.steps.saturating_sub(before - env.steps);
        r
    }

    pub(super) fn scalar_eq(&mut self, a: &Expr, b: &Expr) -> Judgement {
        match (a, b) {
            (Expr::Big(x), Expr::Big(y)) => {
                return if x == y {
                    yes("equal large integers")
                } else {
                    no("different large integers")
                };
            }
            (Expr::Big(_), Expr::Num(_)) | (Expr::Num(_), Expr::Big(_)) => {
                return no("different integers");
            }
            _ => {}
        }
        if same_digits_but_base(a, b) {
            return yes("same digits (the base subscript is dropped)");
        }
        if let Some(j) = self.infinity_eq(a, b) {
            return j;
        }
        let decimals = a.has_decimal() || b.has_decimal();
        let mut steps = self.steps.min(20_000);
        let ea = exact(a, &mut steps);
        let eb = exact(b, &mut steps);
        if let (Some(x), Some(y)) = (ea, eb) {
            if x == y {
                return yes("equal exact values");
            }
            if decimals {
                let p = self.opts.precision.min(30);
                if let (Some(rx), Some(ry)) = (x.round_to(p), y.round_to(p)) {
                    return if rx == ry {
                        yes(format!("equal to {p} decimal places"))
                    } else {
                        no(format!("{x} != {y} at {p} decimal places"))
                    };
                }
            }
            return no(format!("{x} != {y}"));
        }
        // Polynomials with rational coefficients compare exactly, term by term: probes
        // cannot tell `x^{1000} + 1` from `x^{1000} + 2`.
        if !decimals && (a.has_symbol() || b.has_symbol()) {
            let mut budget = self.steps.min(20_000);
            let pa = Poly::of(a, &mut budget);
            let pb = pa.as_ref().and_then(|_| Poly::of(b, &mut budget));
            self.steps = self.steps.saturating_sub(self.steps.min(20_000) - budget);
            if let (Some(pa), Some(pb)) = (pa, pb) {
                return if pa == pb {
                    yes("equal polynomials")
                } else {
                    self.maybe_renamed(a, b, "different polynomials")
                };
            }
        }
        let vars = union_vars(a, b);
        let mut agree = 0;
        let mut failed = None;
        let probes = if vars.is_empty() { 1 } else { PROBES };
        for probe in 0..probes {
            match (self.at(a, &vars, probe), self.at(b, &vars, probe)) {
                (Ok(x), Ok(y)) => {
                    if close(x, y, decimals, self.opts.precision) {
                        agree += 1;
                    } else {
                        return self.maybe_renamed(a, b, "values differ");
                    }
                }
                (Err(EvalError::Budget), _) | (_, Err(EvalError::Budget)) => {
                    return unknown("work budget exhausted");
                }
                (Err(e), _) | (_, Err(e)) => failed = Some(e),
            }
        }
        if agree > 0 && (vars.is_empty() || agree >= 2) {
            return yes(if vars.is_empty() {
                "equal numeric values".to_string()
            } else {
                format!("equal at {agree} probe points")
            });
        }
        if canon(a) == canon(b) {
            return yes("structurally identical");
        }
        match failed {
            Some(EvalError::NotNumeric) => self.maybe_renamed(a, b, "different expressions"),
            _ => unknown("values could not be computed"),
        }
    }

    /// A finite number against `\infty`, or two infinities: decided by the sign.
    /// `None` when neither side is an infinity, or the other side has no value.
    fn infinity_eq(&mut self, a: &Expr, b: &Expr) -> Option<Judgement> {
        match (infinity_sign(a), infinity_sign(b)) {
            (None, None) => None,
            (Some(x), Some(y)) => Some(if x == y {
                yes("the same infinity")
            } else {
                no("infinities of opposite sign")
            }),
            (Some(_), None) => self
                .is_finite_number(b)
                .then(|| no("a finite number against infinity")),
            (None, Some(_)) => self
                .is_finite_number(a)
                .then(|| no("a finite number against infinity")),
        }
    }

    /// Does `e` have a finite numeric value (no variables)?
    fn is_finite_number(&mut self, e: &Expr) -> bool {
        if matches!(e, Expr::Big(_)) {
            return true;
        }
        !e.has_symbol() && self.at(e, &[], 0).is_ok()
    }

    /// With `strict` off, `f(x)` and `f(y)` match: variables may be renamed.
    pub(super) fn maybe_renamed(&mut self, a: &Expr, b: &Expr, why: &str) -> Judgement {
        if self.opts.strict {
            return no(why);
        }
        let va = free_vars(a);
        let vb = free_vars(b);
        if va.len() != vb.len() || va == vb || va.is_empty() {
            return no(why);
        }
        let renamed = rename(b, &vb, &va);
        let strict = Options {
            strict: true,
            ..self.opts.clone()
        };
        let mut c = Checker {
            opts: &strict,
            steps: self.steps,
        };
        let j = c.scalar_eq(a, &renamed);
        self.steps = c.steps;
        match j.equal {
            Some(true) => yes("equal after renaming variables"),
            _ => no(why),
        }
    }
}

/// `+1` for `\infty` (also `+\infty`, `2\infty`), `-1` for `-\infty`.
fn infinity_sign(e: &Expr) -> Option<i8> {
    match e {
        Expr::Const(Const::Inf) => Some(1),
        Expr::Mul(v) => {
            let infinities = v
                .iter()
                .filter(|x| matches!(x, Expr::Const(Const::Inf)))
                .count();
            if infinities != 1 {
                return None;
            }
            let mut sign = 1;
            for x in v {
                match x {
                    Expr::Const(Const::Inf) => {}
                    Expr::Num(r) if r.num() > 0 => {}
                    Expr::Num(r) if r.num() < 0 => sign = -sign,
                    _ => return None,
                }
            }
            Some(sign)
        }
        _ => None,
    }
}

/// `2516_8` (a numeral in base 8, kept as written) against `2516`: the same digits.
fn same_digits_but_base(a: &Expr, b: &Expr) -> bool {
    let numeral = |e: &Expr| -> Option<String> {
        match e {
            // Only a numeral with a base subscript makes a name starting with a digit.
            Expr::Sym(s) if s.starts_with(|c: char| c.is_ascii_digit()) => {
                let (digits, base) = s.split_once('_')?;
                (!base.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
                    .then(|| digits.trim_start_matches('0').to_string())
            }
            _ => None,
        }
    };
    let plain = |e: &Expr| -> Option<String> {
        match e {
            Expr::Num(r) if r.is_integer() && r.num() >= 0 => Some(r.num().to_string()),
            Expr::Big(d) => Some(d.clone()),
            _ => None,
        }
    };
    let norm = |d: String| if d.is_empty() { "0".to_string() } else { d };
    match (numeral(a), numeral(b)) {
        (Some(x), None) => plain(b).is_some_and(|y| norm(x) == y),
        (None, Some(y)) => plain(a).is_some_and(|x| x == norm(y)),
        _ => false,
    }
}

fn rename(e: &Expr, from: &[String], to: &[String]) -> Expr {
    match e {
        Expr::Sym(s) => match from.iter().position(|f| f == s) {
            Some(k) => Expr::Sym(to[k].clone()),
            None => e.clone(),
        },
        Expr::Add(v) => Expr::Add(v.iter().map(|x| rename(x, from, to)).collect()),
        Expr::Mul(v) => Expr::Mul(v.iter().map(|x| rename(x, from, to)).collect()),
        Expr::Func(f, v) => Expr::Func(f.clone(), v.iter().map(|x| rename(x, from, to)).collect()),
        Expr::Pow(a, b) => Expr::Pow(Box::new(rename(a, from, to)), Box::new(rename(b, from, to))),
        other => other.clone(),
    }
}

fn close(x: C, y: C, decimals: bool, precision: u32) -> bool {
    if decimals {
        let p = precision.min(15) as i32;
        let scale = 10f64.powi(p);
        let r = |v: f64| (v * scale).round();
        if r(x.re) == r(y.re) && r(x.im) == r(y.im) {
            return true;
        }
        // Rounding can split values straddling a boundary; accept a half-unit gap.
        let d = ((x.re - y.re).powi(2) + (x.im - y.im).powi(2)).sqrt();
        return d <= 0.5 / scale * 1.000_001 + 1e-12 * x.abs();
    }
    let d = ((x.re - y.re).powi(2) + (x.im - y.im).powi(2)).sqrt();
    d <= REL_TOL * (1.0 + x.abs().max(y.abs()))
}

pub(super) fn union_vars(a: &Expr, b: &Expr) -> Vec<String> {
    let mut v = free_vars(a);
    for x in free_vars(b) {
        if !v.contains(&x) {
            v.push(x);
        }
    }
    v
}

/// A fixed pseudo-random probe value for variable `k` at probe `j`, away from the
/// integers and small rationals where distinct expressions often coincide.
pub(super) fn probe_value(j: usize, k: usize) -> C {
    let mut h = (j as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (k as u64 + 7).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 32;
    let u = (h % 1_000_000) as f64 / 1_000_000.0;
    let v = 0.35 + 1.9 * u;
    C::real(if j % 3 == 2 { -v } else { v })
}
