//! Numeric evaluation: exact rationals first, complex doubles otherwise.
//!
//! Exact evaluation decides most contest answers outright (`\frac{1}{2}` vs `0.5`).
//! Expressions with roots, transcendental functions or variables are evaluated in
//! complex floating point at chosen points, so `\sqrt{8}` and `2\sqrt{2}` agree and
//! `\tan^2 y + 1` and `\sec^2 y` agree at every probe. Every call draws from a step
//! budget so a pathological tree costs bounded time.

use crate::expr::{Const, Expr, Func};
use crate::rational::Rat;
use std::collections::HashMap;

/// Largest integer exponent evaluated exactly.
const MAX_EXACT_EXP: i128 = 4096;

/// A complex number in double precision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct C {
    pub re: f64,
    pub im: f64,
}

impl C {
    pub fn real(re: f64) -> C {
        C { re, im: 0.0 }
    }
    fn add(self, o: C) -> C {
        C::new(self.re + o.re, self.im + o.im)
    }
    fn new(re: f64, im: f64) -> C {
        C { re, im }
    }
    fn mul(self, o: C) -> C {
        C::new(
            self.re * o.re - self.im * o.im,
            self.re * o.im + self.im * o.re,
        )
    }
    fn div(self, o: C) -> C {
        let d = o.re * o.re + o.im * o.im;
        C::new(
            (self.re * o.re + self.im * o.im) / d,
            (self.im * o.re - self.re * o.im) / d,
        )
    }
    pub fn abs(self) -> f64 {
        self.re.hypot(self.im)
    }
    fn ln(self) -> C {
        C::new(self.abs().ln(), self.im.atan2(self.re))
    }
    fn exp(self) -> C {
        let m = self.re.exp();
        C::new(m * self.im.cos(), m * self.im.sin())
    }
    fn pow(self, e: C) -> C {
        if self.re == 0.0 && self.im == 0.0 {
            return if e.re > 0.0 {
                C::real(0.0)
            } else {
                C::real(f64::NAN)
            };
        }
        if self.im == 0.0 && e.im == 0.0 && (self.re > 0.0 || e.re.fract() == 0.0) {
            return C::real(self.re.powf(e.re));
        }
        e.mul(self.ln()).exp()
    }
    fn sin(self) -> C {
        C::new(
            self.re.sin() * self.im.cosh(),
            self.re.cos() * self.im.sinh(),
        )
    }
    fn cos(self) -> C {
        C::new(
            self.re.cos() * self.im.cosh(),
            -self.re.sin() * self.im.sinh(),
        )
    }
    pub fn is_finite(self) -> bool {
        self.re.is_finite() && self.im.is_finite()
    }
}

/// Why a tree has no numeric value.
#[derive(Clone, Debug, PartialEq)]
pub enum EvalError {
    /// Not a number at all (a set, a relation, text, an opaque operator).
    NotNumeric,
    /// The step budget ran out.
    Budget,
    /// Infinite, undefined or too large to represent.
    NonFinite,
}

/// Variable values for one probe, plus the step budget.
pub struct Env {
    pub vars: HashMap<String, C>,
    pub steps: u64,
}

impl Env {
    pub fn new(steps: u64) -> Env {
        Env {
            vars: HashMap::new(),
            steps,
        }
    }

    fn tick(&mut self) -> Result<(), EvalError> {
        if self.steps == 0 {
            return Err(EvalError::Budget);
        }
        self.steps -= 1;
        Ok(())
    }
}

/// Exact value of a variable-free rational expression; `None` when not rational or
/// not representable. Decimals count as their exact value.
pub fn exact(e: &Expr, steps: &mut u64) -> Option<Rat> {
    if *steps == 0 {
        return None;
    }
    *steps -= 1;
    match e {
        Expr::Num(r) | Expr::Dec(r) => Some(*r),
        Expr::Add(v) => v
            .iter()
            .try_fold(Rat::ZERO, |acc, x| acc.plus(exact(x, steps)?)),
        Expr::Mul(v) => v
            .iter()
            .try_fold(Rat::ONE, |acc, x| acc.times(exact(x, steps)?)),
        Expr::Pow(b, x) => {
            let b = exact(b, steps)?;
            let x = exact(x, steps)?;
            if x.num().abs() > MAX_EXACT_EXP || x.den() > 64 {
                return None;
            }
            let p = b.pow(x.num() as i64)?;
            if x.den() == 1 {
                Some(p)
            } else {
                p.root(x.den() as u32)
            }
        }
        Expr::Func(Func::Abs, v) if v.len() == 1 => {
            let x = exact(&v[0], steps)?;
            if x.num() < 0 {
                x.negated()
            } else {
                Some(x)
            }
        }
        Expr::Func(Func::Factorial, v) if v.len() == 1 => {
            let n = exact(&v[0], steps)?;
            if !n.is_integer() || n.num() < 0 || n.num() > 33 {
                return None;
            }
            (1..=n.num()).try_fold(Rat::ONE, |acc, k| acc.times(Rat::int(k)))
        }
        Expr::Func(Func::Binom, v) if v.len() == 2 => {
            let n = exact(&v[0], steps)?;
            let k = exact(&v[1], steps)?;
            if !n.is_integer() || !k.is_integer() || k.num() < 0 || k.num() > 200 {
                return None;
            }
            (0..k.num()).try_fold(Rat::ONE, |acc, j| {
                acc.times(Rat::int(n.num().checked_sub(j)?))?
                    .over(Rat::int(j + 1))
            })
        }
        Expr::Func(f @ (Func::Max | Func::Min), v) if !v.is_empty() => {
            let mut best = exact(&v[0], steps)?;
            for x in &v[1..] {
                let x = exact(x, steps)?;
                // Compared by the sign of the checked difference: never approximately.
                let d = x.minus(best)?;
                let x_wins = match f {
                    Func::Max => d.num() > 0,
                    _ => d.num() < 0,
                };
                if x_wins {
                    best = x;
                }
            }
            Some(best)
        }
        Expr::Func(Func::Floor | Func::Ceil, v) if v.len() == 1 => {
            let x = exact(&v[0], steps)?;
            let q = x.num().div_euclid(x.den());
            let exact_int = x.num().rem_euclid(x.den()) == 0;
            Some(Rat::int(match e {
                Expr::Func(Func::Ceil, _) if !exact_int => q + 1,
                _ => q,
            }))
        }
        _ => None,
    }
}

/// Complex value of `e` under `env`.
pub fn eval(e: &Expr, env: &mut Env) -> Result<C, EvalError> {
    env.tick()?;
    let v = match e {
        Expr::Num(r) | Expr::Dec(r) => C::real(r.to_f64()),
        Expr::Float(f) => C::real(*f),
        Expr::Sym(s) => *env.vars.get(s).ok_or(EvalError::NotNumeric)?,
        Expr::Const(Const::Pi) => C::real(std::f64::consts::PI),
        Expr::Const(Const::E) => C::real(std::f64::consts::E),
        Expr::Const(Const::I) => C::new(0.0, 1.0),
        Expr::Const(Const::Inf) | Expr::Big(_) => return Err(EvalError::NonFinite),
        Expr::Add(v) => {
            let mut acc = C::real(0.0);
            for x in v {
                acc = acc.add(eval(x, env)?);
            }
            acc
        }
        Expr::Mul(v) => {
            let mut acc = C::real(1.0);
            for x in v {
                acc = acc.mul(eval(x, env)?);
            }
            acc
        }
        Expr::Pow(b, x) => pow(b, x, env)?,
        Expr::Func(f, args) => func(f, args, env)?,
        Expr::Percent(x) => eval(x, env)?.div(C::real(100.0)),
        _ => return Err(EvalError::NotNumeric),
    };
    if !v.is_finite() {
        return Err(EvalError::NonFinite);
    }
    Ok(v)
}

fn pow(b: &Expr, x: &Expr, env: &mut Env) -> Result<C, EvalError> {
    let base = eval(b, env)?;
    let mut steps = 64;
    // A real odd root of a negative number is the real root (`\sqrt[3]{-8} = -2`).
    if let Some(r) = exact(x, &mut steps) {
        if base.im == 0.0 && base.re < 0.0 && r.den() % 2 == 1 {
            let mag = (-base.re).powf(r.to_f64());
            return Ok(C::real(if r.num() % 2 == 0 { mag } else { -mag }));
        }
        if r.is_integer() && r.num().abs() <= MAX_EXACT_EXP {
            let n = r.num() as i32;
            let mut acc = C::real(1.0);
            let mut p = base;
            let mut k = n.unsigned_abs();
            while k > 0 {
                env.tick()?;
                if k & 1 == 1 {
                    acc = acc.mul(p);
                }
                p = p.mul(p);
                k >>= 1;
            }
            return Ok(if n < 0 { C::real(1.0).div(acc) } else { acc });
        }
    }
    let e = eval(x, env)?;
    Ok(base.pow(e))
}

/// A deterministic stand-in value for an unknown function applied to arguments, so
/// that `f(x)` equals `f(x)` and differs from `f(y)` at a probe.
fn opaque_value(name: &str, args: &[C]) -> C {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    for a in args {
        // Rounded so that tiny evaluation noise does not change the value.
        for part in [a.re, a.im] {
            let q = (part * 1e9).round() as i64;
            h = (h ^ q as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    C::real(1.0 + (h % 1_000_003) as f64 / 1_000_003.0)
}

fn func(f: &Func, args: &[Expr], env: &mut Env) -> Result<C, EvalError> {
    let mut vals = Vec::with_capacity(args.len());
    for a in args {
        vals.push(eval(a, env)?);
    }
    let one = |v: &[C]| v.first().copied().ok_or(EvalError::NotNumeric);
    let real = |c: C| {
        if c.im.abs() > 1e-12 * (1.0 + c.re.abs()) {
            Err(EvalError::NonFinite)
        } else {
            Ok(c.re)
        }
    };
    Ok(match f {
        Func::Sin => one(&vals)?.sin(),
        Func::Cos => one(&vals)?.cos(),
        Func::Tan => {
            let x = one(&vals)?;
            x.sin().div(x.cos())
        }
        Func::Sec => C::real(1.0).div(one(&vals)?.cos()),
        Func::Csc => C::real(1.0).div(one(&vals)?.sin()),
        Func::Cot => {
            let x = one(&vals)?;
            x.cos().div(x.sin())
        }
        Func::Asin => C::real(real(one(&vals)?)?.asin()),
        Func::Acos => C::real(real(one(&vals)?)?.acos()),
        Func::Atan => C::real(real(one(&vals)?)?.atan()),
        Func::Sinh => C::real(real(one(&vals)?)?.sinh()),
        Func::Cosh => C::real(real(one(&vals)?)?.cosh()),
        Func::Tanh => C::real(real(one(&vals)?)?.tanh()),
        Func::Ln => one(&vals)?.ln(),
        Func::LogBase => {
            if vals.len() != 2 {
                return Err(EvalError::NotNumeric);
            }
            vals[1].ln().div(vals[0].ln())
        }
        Func::Exp => one(&vals)?.exp(),
        Func::Abs => C::real(one(&vals)?.abs()),
        Func::Floor => C::real(real(one(&vals)?)?.floor()),
        Func::Ceil => C::real(real(one(&vals)?)?.ceil()),
        Func::Factorial => {
            let n = one(&vals)?;
            match natural(n) {
                Some(k) if k > 170 => return Err(EvalError::NonFinite),
                Some(k) => C::real((1..=k).fold(1.0, |acc, j| acc * j as f64)),
                // `n!` of a variable is `Γ(n + 1)` at the probe point.
                None => gamma(n.add(C::real(1.0)))?,
            }
        }
        Func::Binom => {
            if vals.len() != 2 {
                return Err(EvalError::NotNumeric);
            }
            let (n, k) = (vals[0], vals[1]);
            match natural(k) {
                Some(k) if k > 1000 => return Err(EvalError::NonFinite),
                // A polynomial in `n`: `n (n - 1) ... (n - k + 1) / k!`.
                Some(k) => {
                    let mut acc = C::real(1.0);
                    for j in 0..k {
                        env.tick()?;
                        acc = acc
                            .mul(n.add(C::real(-(j as f64))))
                            .div(C::real(j as f64 + 1.0));
                    }
                    acc
                }
                // `Γ(n + 1) / (Γ(k + 1) Γ(n - k + 1))`.
                None => {
                    let one = C::real(1.0);
                    let top = gamma(n.add(one))?;
                    let minus_k = C::new(-k.re, -k.im);
                    top.mul(recip_gamma(k.add(one)))
                        .mul(recip_gamma(n.add(minus_k).add(one)))
                }
            }
        }
        Func::Max | Func::Min => {
            let mut best: Option<f64> = None;
            for &v in &vals {
                let x = real(v)?;
                if !x.is_finite() {
                    return Err(EvalError::NonFinite);
                }
                best = Some(match (best, f) {
                    (None, _) => x,
                    (Some(b), Func::Max) => b.max(x),
                    (Some(b), _) => b.min(x),
                });
            }
            C::real(best.ok_or(EvalError::NotNumeric)?)
        }
        Func::Apply(name) => opaque_value(name, &vals),
        Func::Opaque(_) => return Err(EvalError::NotNumeric),
    })
}

/// `Some(k)` when `c` is the natural number `k` (real, integral, at most `u32::MAX`).
fn natural(c: C) -> Option<u32> {
    (c.im == 0.0 && c.re >= 0.0 && c.re.fract() == 0.0 && c.re <= u32::MAX as f64)
        .then_some(c.re as u32)
}

/// Is `c` a pole of the Gamma function: 0, -1, -2, ...?
fn gamma_pole(c: C) -> bool {
    c.im == 0.0 && c.re <= 0.0 && c.re.fract() == 0.0
}

/// Coefficients of the Lanczos approximation with g = 7 and nine terms, good to about
/// 15 significant digits.
const LANCZOS_G: f64 = 7.0;
const LANCZOS: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];

/// The Gamma function at a complex point, which continues `(z - 1)!` beyond the
/// natural numbers; an error at its poles or when the value is not finite.
fn gamma(z: C) -> Result<C, EvalError> {
    if gamma_pole(z) {
        return Err(EvalError::NonFinite);
    }
    let pi = std::f64::consts::PI;
    let v = if z.re < 0.5 {
        // Reflection: Γ(z) Γ(1 - z) = π / sin(π z).
        let s = C::real(pi).mul(z).sin();
        C::real(pi).div(s.mul(gamma(C::new(1.0 - z.re, -z.im))?))
    } else {
        let z = C::new(z.re - 1.0, z.im);
        let mut x = C::real(LANCZOS[0]);
        for (i, c) in LANCZOS.iter().enumerate().skip(1) {
            x = x.add(C::real(*c).div(z.add(C::real(i as f64))));
        }
        let t = z.add(C::real(LANCZOS_G + 0.5));
        // sqrt(2π) t^(z + 1/2) e^(-t) x, through logarithms so that large `t` does
        // not overflow before the product is formed.
        let log = z.add(C::real(0.5)).mul(t.ln()).add(C::new(-t.re, -t.im));
        log.exp().mul(x).mul(C::real((2.0 * pi).sqrt()))
    };
    if v.is_finite() {
        Ok(v)
    } else {
        Err(EvalError::NonFinite)
    }
}

/// `1 / Γ(z)`, which is 0 at the poles of Γ.
fn recip_gamma(z: C) -> C {
    if gamma_pole(z) {
        return C::real(0.0);
    }
    match gamma(z) {
        Ok(g) => C::real(1.0).div(g),
        Err(_) => C::real(f64::NAN),
    }
}

/// Names of the free variables of a tree, in order of first appearance.
pub fn free_vars(e: &Expr) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    e.walk(&mut |x| {
        if let Expr::Sym(s) = x {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse, ParseLimits};

    fn ex(s: &str) -> Option<Rat> {
        exact(&parse(s, ParseLimits::default()).unwrap(), &mut 10_000)
    }

    #[test]
    fn exact_values() {
        assert_eq!(ex("\\frac{1}{2}+0.5"), Some(Rat::ONE));
        assert_eq!(ex("\\sqrt{9/4}"), Rat::new(3, 2));
        assert_eq!(ex("\\sqrt{2}"), None);
        assert_eq!(ex("5!"), Some(Rat::int(120)));
        assert_eq!(ex("\\binom{5}{2}"), Some(Rat::int(10)));
        assert_eq!(ex("10^{10^{10}}"), None);
    }

    #[test]
    fn complex_values() {
        let e = parse("\\sqrt[3]{-8}", ParseLimits::default()).unwrap();
        let v = eval(&e, &mut Env::new(1000)).unwrap();
        assert!((v.re + 2.0).abs() < 1e-12);
        let e = parse("1000!", ParseLimits::default()).unwrap();
        assert_eq!(eval(&e, &mut Env::new(1000)), Err(EvalError::NonFinite));
    }

    #[test]
    fn gamma_continues_the_factorial() {
        let close =
            |a: C, b: f64| (a.re - b).abs() <= 1e-12 * b.abs().max(1.0) && a.im.abs() < 1e-12;
        assert!(close(gamma(C::real(5.0)).unwrap(), 24.0));
        assert!(close(
            gamma(C::real(0.5)).unwrap(),
            std::f64::consts::PI.sqrt()
        ));
        // Γ(-1/2) = -2 sqrt(π), through the reflection formula.
        assert!(close(
            gamma(C::real(-0.5)).unwrap(),
            -2.0 * std::f64::consts::PI.sqrt()
        ));
        assert!(close(
            gamma(C::real(20.0)).unwrap(),
            121_645_100_408_832_000.0
        ));
        assert_eq!(gamma(C::real(-3.0)), Err(EvalError::NonFinite));
        assert_eq!(gamma(C::real(200.0)), Err(EvalError::NonFinite));
        assert_eq!(recip_gamma(C::real(0.0)), C::real(0.0));
        // Γ(1 + i) Γ(1 - i) = π / sinh(π).
        let g = gamma(C::new(1.0, 1.0)).unwrap();
        let h = gamma(C::new(1.0, -1.0)).unwrap();
        let p = g.mul(h);
        let want = std::f64::consts::PI / std::f64::consts::PI.sinh();
        assert!((p.re - want).abs() < 1e-12 && p.im.abs() < 1e-12);
    }

    #[test]
    fn factorials_and_binomials_of_a_variable() {
        let at = |s: &str, n: f64| {
            let e = parse(s, ParseLimits::default()).unwrap();
            let mut env = Env::new(1000);
            env.vars.insert("n".into(), C::real(n));
            eval(&e, &mut env)
        };
        // (1.5)! = Γ(2.5) = 3 sqrt(π) / 4.
        let v = at("n!", 1.5).unwrap();
        assert!((v.re - 0.75 * std::f64::consts::PI.sqrt()).abs() < 1e-12);
        let (a, b) = (
            at("\\binom{2n}{n}", 1.3).unwrap(),
            at("\\frac{(2n)!}{(n!)^2}", 1.3).unwrap(),
        );
        assert!((a.re - b.re).abs() < 1e-12 * a.re.abs() && a.im.abs() < 1e-12);
        let v = at("\\binom{n}{2}", 2.5).unwrap();
        assert!((v.re - 1.875).abs() < 1e-12);
        assert_eq!(at("n!", -2.0), Err(EvalError::NonFinite));
    }
}
