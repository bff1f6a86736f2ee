//! Scalars: exact rationals, then probes of complex floating-point values at
//! pseudo-random points, then structure.

use super::{canon, no, unknown, yes, Checker, Judgement};
use crate::eval::{eval, exact, free_vars, Env, EvalError, C};
use crate::expr::Expr;
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
