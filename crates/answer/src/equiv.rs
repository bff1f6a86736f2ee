//! Equivalence of two parsed answers.
//!
//! The gold answer comes first: a few rules are deliberately one-sided, as in the
//! reference checker's case set (a relation in the gold answer may match an interval
//! in the prediction; the reverse needs `allow_set_relation_comp`).
//!
//! Decision order for two scalars: exact rational comparison; then complex
//! floating-point probes at several points (all free variables drawn from a fixed
//! pseudo-random sequence); then a canonical structural comparison for constructs
//! that have no numeric value.

use crate::eval::{eval, exact, free_vars, Env, EvalError, C};
use crate::expr::{Const, Expr, Func, RelOp};
use crate::rational::Rat;
use crate::Options;

/// Steps of evaluation allowed for one comparison.
const STEP_BUDGET: u64 = 200_000;
/// Probe points per variable comparison.
const PROBES: usize = 6;
/// Relative tolerance of the probe comparison when no decimals are involved.
const REL_TOL: f64 = 1e-9;

/// A decision with its reason; `equal` is `None` when undecided.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub equal: Option<bool>,
    pub reason: String,
}

fn yes(r: impl Into<String>) -> Judgement {
    Judgement {
        equal: Some(true),
        reason: r.into(),
    }
}
fn no(r: impl Into<String>) -> Judgement {
    Judgement {
        equal: Some(false),
        reason: r.into(),
    }
}
fn unknown(r: impl Into<String>) -> Judgement {
    Judgement {
        equal: None,
        reason: r.into(),
    }
}

/// Compares a gold answer with a predicted one.
pub fn equivalent(gold: &Expr, pred: &Expr, opts: &Options) -> Judgement {
    let mut c = Checker {
        opts,
        steps: STEP_BUDGET,
    };
    let g = clean(gold.clone());
    let p = clean(pred.clone());
    c.eq(&g, &p)
}

struct Checker<'a> {
    opts: &'a Options,
    steps: u64,
}

/// Is `e` a name for a quantity rather than a value: `x`, `f(x)`, `a_3`, `|AB|`,
/// `\frac{NO}{BO}`, `(p, q)`, `S_1 : S`? Such a left-hand side may be dropped.
fn is_label(e: &Expr) -> bool {
    match e {
        Expr::Sym(_) | Expr::Const(Const::E | Const::I) => true,
        Expr::Func(Func::Apply(_), _) => true,
        Expr::Func(Func::Abs, v) | Expr::Mul(v) | Expr::Tuple(v) => {
            !v.is_empty() && v.iter().all(is_label)
        }
        Expr::Pow(b, x) => is_label(b) && matches!(**x, Expr::Num(r) if r == Rat::int(-1)),
        _ => false,
    }
}

/// Simplifications applied once to each side before comparing.
fn clean(e: Expr) -> Expr {
    match e {
        // `x = 5 + 5 + 1 = 11`: a chain of equalities ends in its result; anything after
        // an `\approx` is an approximation of what came before.
        Expr::Chain(mut items, mut ops) => {
            if let Some(k) = ops.iter().position(|o| *o == RelOp::Approx) {
                ops.truncate(k);
                items.truncate(k + 1);
            }
            if ops.iter().all(|o| *o == RelOp::Eq) {
                if ops.len() == 1 {
                    let b = items.pop().unwrap_or(Expr::int(0));
                    let a = items.pop().unwrap_or(Expr::int(0));
                    return clean(Expr::Rel(RelOp::Eq, Box::new(a), Box::new(b)));
                }
                return clean(items.pop().unwrap_or(Expr::int(0)));
            }
            Expr::Chain(items.into_iter().map(clean).collect(), ops)
        }
        Expr::Rel(RelOp::Approx, a, b) => {
            if is_label(&a) {
                clean(*b)
            } else {
                clean(*a)
            }
        }
        Expr::Rel(RelOp::In, a, b) if is_label(&a) => clean(*b),
        // `\frac{1}{2} = \frac{10}{9}`-style work shown before the result.
        Expr::Rel(RelOp::Eq, a, b) if !a.has_symbol() && !b.has_symbol() => clean(*b),
        Expr::Rel(op, a, b) => Expr::Rel(op, Box::new(clean(*a)), Box::new(clean(*b))),
        Expr::List(v) => Expr::List(v.into_iter().map(clean).collect()),
        Expr::Set(v) => Expr::Set(v.into_iter().map(clean).collect()),
        Expr::Tuple(v) => Expr::Tuple(v.into_iter().map(clean).collect()),
        Expr::Add(v) => fold_matrices(Expr::Add(v.into_iter().map(clean).collect())),
        Expr::Mul(v) => fold_matrices(Expr::Mul(v.into_iter().map(clean).collect())),
        other => other,
    }
}

/// Sums and products of explicit matrices, computed entry by entry (symbolically).
fn fold_matrices(e: Expr) -> Expr {
    let (is_add, v) = match &e {
        Expr::Add(v) => (true, v),
        Expr::Mul(v) => (false, v),
        _ => return e,
    };
    let mats: Vec<&Vec<Vec<Expr>>> = v
        .iter()
        .filter_map(|x| match x {
            Expr::Matrix(m) => Some(m),
            _ => None,
        })
        .collect();
    if mats.len() != v.len() || mats.len() < 2 {
        return e;
    }
    let mut acc = mats[0].clone();
    for m in &mats[1..] {
        let (r, c) = (acc.len(), acc[0].len());
        if is_add {
            if m.len() != r || m[0].len() != c {
                return e;
            }
            for i in 0..r {
                for j in 0..c {
                    acc[i][j] = Expr::Add(vec![acc[i][j].clone(), m[i][j].clone()]);
                }
            }
        } else {
            if m.len() != c {
                return e;
            }
            let k = m[0].len();
            let mut out = vec![Vec::with_capacity(k); r];
            for (i, row) in out.iter_mut().enumerate() {
                for j in 0..k {
                    let terms = (0..c)
                        .map(|t| Expr::Mul(vec![acc[i][t].clone(), m[t][j].clone()]))
                        .collect();
                    row.push(Expr::Add(terms));
                }
            }
            acc = out;
        }
    }
    Expr::Matrix(acc)
}

/// Spelling of an answer that is a word: `\text{odd}` or the letters `o d d`.
fn as_word(e: &Expr) -> Option<String> {
    match e {
        Expr::Text(t) => {
            let t = t.trim();
            let t = t
                .strip_prefix('(')
                .and_then(|x| x.strip_suffix(')'))
                .unwrap_or(t);
            Some(t.trim().to_lowercase())
        }
        Expr::Sym(s) if !s.starts_with('\\') => Some(s.to_lowercase()),
        Expr::Const(Const::E) => Some("e".into()),
        Expr::Const(Const::I) => Some("i".into()),
        Expr::Const(Const::Pi) => Some("pi".into()),
        Expr::Mul(v) => v
            .iter()
            .map(as_word)
            .collect::<Option<Vec<_>>>()
            .map(|w| w.concat()),
        _ => None,
    }
}

/// Elements of a set-like answer with `a ± b` expanded into two elements.
fn elements(e: &Expr) -> Vec<Expr> {
    let items: Vec<Expr> = match e {
        Expr::List(v) | Expr::Set(v) => v.clone(),
        other => vec![other.clone()],
    };
    let mut out = Vec::new();
    for x in items {
        match x {
            Expr::PlusMinus(a, b) => {
                out.push(Expr::Add(vec![(*a).clone(), (*b).clone()]));
                out.push(Expr::Add(vec![*a, Expr::negate(*b)]));
            }
            Expr::List(v) | Expr::Set(v) => out.extend(v),
            other => out.push(other),
        }
    }
    out
}

fn strip_label(e: &Expr) -> Expr {
    match e {
        Expr::Rel(RelOp::Eq, a, b) if is_label(a) => (**b).clone(),
        Expr::Tuple(v) => Expr::Tuple(v.iter().map(strip_label).collect()),
        other => other.clone(),
    }
}

fn is_labelled_eq(e: &Expr) -> bool {
    matches!(e, Expr::Rel(RelOp::Eq, a, _) if is_label(a))
}

fn is_setlike(e: &Expr) -> bool {
    matches!(e, Expr::List(_) | Expr::Set(_) | Expr::PlusMinus(..))
}

fn is_interval_like(e: &Expr) -> bool {
    matches!(e, Expr::Interval { .. } | Expr::Union(_))
}

fn is_relation(e: &Expr) -> bool {
    matches!(e, Expr::Rel(..) | Expr::Chain(..))
}

impl Checker<'_> {
    fn eq(&mut self, g: &Expr, p: &Expr) -> Judgement {
        if self.steps == 0 {
            return unknown("work budget exhausted");
        }
        self.steps -= 1;
        // Words and multiple-choice letters compare as text.
        if matches!(g, Expr::Text(_)) || matches!(p, Expr::Text(_)) {
            return match (as_word(g), as_word(p)) {
                (Some(a), Some(b)) if a == b => yes("same text"),
                (Some(_), Some(_)) => no("different text"),
                _ => unknown("a text answer against a mathematical one"),
            };
        }
        match (g, p) {
            (Expr::Percent(a), Expr::Percent(b)) => return self.eq(a, b),
            (Expr::Percent(a), other) | (other, Expr::Percent(a)) => {
                let j = self.eq(a, other);
                if j.equal == Some(true) {
                    return yes("equal (percent sign dropped)");
                }
                let scaled = Expr::Mul(vec![
                    (**a).clone(),
                    Expr::Num(Rat::new(1, 100).unwrap_or(Rat::ONE)),
                ]);
                return self.eq(&scaled, other);
            }
            _ => {}
        }
        // A lone labelled equation against a value: `x = 3` vs `3`.
        if is_labelled_eq(g) && !is_relation(p) {
            return self.eq(&strip_label(g), p);
        }
        // A predicted equation against a value: the right-hand side is the answer
        // (`L / 2 = 180180`, `8m - 2m = 6m`). Deliberately one-sided: a gold equation
        // such as `7 = 11a + c` only reduces when its left side is a label.
        if let Expr::Rel(RelOp::Eq, _, rhs) = p {
            if !is_relation(g) {
                return self.eq(g, rhs);
            }
        }
        match (g, p) {
            (a, b) if is_setlike(a) && is_setlike(b) => self.set_eq(a, b),
            (Expr::Tuple(a), Expr::Tuple(b)) => self.seq_eq(a, b, "tuple"),
            (Expr::Tuple(a), b @ (Expr::List(_) | Expr::Set(_))) => {
                self.seq_eq(a, &elements(b), "tuple vs list (ordered)")
            }
            (a @ (Expr::List(_) | Expr::Set(_)), Expr::Tuple(b)) => {
                self.seq_eq(&elements(a), b, "list vs tuple (ordered)")
            }
            (Expr::Matrix(a), Expr::Matrix(b)) => {
                if a.len() != b.len() || a[0].len() != b[0].len() {
                    return no("matrix shapes differ");
                }
                let fa: Vec<Expr> = a.iter().flatten().cloned().collect();
                let fb: Vec<Expr> = b.iter().flatten().cloned().collect();
                self.seq_eq(&fa, &fb, "matrix")
            }
            (Expr::Tuple(t), Expr::Matrix(m)) | (Expr::Matrix(m), Expr::Tuple(t))
                if m.iter().all(|r| r.len() == 1) || m.len() == 1 =>
            {
                let flat: Vec<Expr> = m.iter().flatten().cloned().collect();
                self.seq_eq(t, &flat, "vector")
            }
            (a, b) if is_interval_like(a) || is_interval_like(b) => self.interval_side(g, p),
            (Expr::Tuple(t), r) | (r, Expr::Tuple(t)) if t.len() == 2 && is_relation(r) => {
                self.interval_side(g, p)
            }
            (a, b) if is_relation(a) && is_relation(b) => self.relation_eq(a, b),
            (a, b) if is_relation(a) || is_relation(b) => no("a relation against a value"),
            // A value against a list: equal when every listed answer is that value
            // (`\boxed{15\frac{39}{40}}, or \boxed{\frac{639}{40}}`).
            (a, b) if is_setlike(a) || is_setlike(b) => self.set_eq(a, b),
            (a, b)
                if matches!(a, Expr::Tuple(_) | Expr::Matrix(_))
                    || matches!(b, Expr::Tuple(_) | Expr::Matrix(_)) =>
            {
                no("different kinds of answer")
            }
            _ => self.scalar_eq(g, p),
        }
    }

    fn seq_eq(&mut self, a: &[Expr], b: &[Expr], what: &str) -> Judgement {
        if a.len() != b.len() {
            return no(format!("{what}: lengths differ"));
        }
        for (x, y) in a.iter().zip(b) {
            let j = self.eq(x, y);
            if j.equal != Some(true) {
                return Judgement {
                    equal: j.equal,
                    reason: format!("{what}: {x} vs {y}: {}", j.reason),
                };
            }
        }
        yes(format!("{what}: all entries equal"))
    }

    fn set_eq(&mut self, a: &Expr, b: &Expr) -> Judgement {
        let mut ea = elements(a);
        let mut eb = elements(b);
        // Labelled equations on both sides compare as equations (`x=1, y=2`);
        // otherwise labels are dropped (`n = 1, 2, 3` is the set {1, 2, 3}).
        // When the two sides name different quantities (`W(n)` vs `W(x)`), the
        // names carry no information and the values decide.
        let all_labelled = |v: &[Expr]| v.iter().all(is_labelled_eq);
        let labels = |v: &[Expr]| {
            let mut l: Vec<String> = v
                .iter()
                .filter_map(|e| match e {
                    Expr::Rel(_, a, _) => Some(canon(a)),
                    _ => None,
                })
                .collect();
            l.sort();
            l.dedup();
            l
        };
        if !(all_labelled(&ea) && all_labelled(&eb) && labels(&ea) == labels(&eb)) {
            ea = ea.iter().map(strip_label).collect();
            eb = eb.iter().map(strip_label).collect();
        }
        if ea.len().saturating_mul(eb.len()) > 10_000 {
            return unknown("sets too large");
        }
        let mut undecided = false;
        for (xs, ys, side) in [(&ea, &eb, "gold"), (&eb, &ea, "prediction")] {
            for x in xs.iter() {
                let mut found = false;
                for y in ys.iter() {
                    let j = if side == "gold" {
                        self.eq(x, y)
                    } else {
                        self.eq(y, x)
                    };
                    match j.equal {
                        Some(true) => {
                            found = true;
                            break;
                        }
                        None => undecided = true,
                        Some(false) => {}
                    }
                }
                if !found {
                    return if undecided {
                        unknown(format!("set element {x} undecided"))
                    } else {
                        no(format!("{side} element {x} has no match"))
                    };
                }
            }
        }
        yes("same set of elements")
    }

    /// Interval or union on at least one side.
    fn interval_side(&mut self, g: &Expr, p: &Expr) -> Judgement {
        let to_set = |e: &Expr, allowed: bool| -> Option<Vec<Expr>> {
            match e {
                Expr::Interval { .. } => Some(vec![e.clone()]),
                Expr::Union(v) => Some(v.clone()),
                Expr::Tuple(v) if v.len() == 2 => Some(vec![Expr::Interval {
                    lo: Box::new(v[0].clone()),
                    hi: Box::new(v[1].clone()),
                    lo_closed: false,
                    hi_closed: false,
                }]),
                Expr::Set(v) if v.is_empty() => Some(vec![]),
                r if allowed && is_relation(r) => relation_to_intervals(r),
                _ => None,
            }
        };
        let gs = to_set(g, true);
        let ps = to_set(p, self.opts.allow_set_relation_comp);
        let (Some(gs), Some(ps)) = (gs, ps) else {
            return no("an interval against a different kind of answer");
        };
        if gs.len() != ps.len() {
            return no("different numbers of intervals");
        }
        let (ga, pa) = (Expr::List(gs), Expr::List(ps));
        let mut ok = true;
        for (xs, ys) in [
            (elements(&ga), elements(&pa)),
            (elements(&pa), elements(&ga)),
        ] {
            for x in &xs {
                if !ys.iter().any(|y| self.interval_eq(x, y)) {
                    ok = false;
                }
            }
        }
        if ok {
            yes("same intervals")
        } else {
            no("intervals differ")
        }
    }

    fn interval_eq(&mut self, a: &Expr, b: &Expr) -> bool {
        match (a, b) {
            (
                Expr::Interval {
                    lo: l1,
                    hi: h1,
                    lo_closed: lc1,
                    hi_closed: hc1,
                },
                Expr::Interval {
                    lo: l2,
                    hi: h2,
                    lo_closed: lc2,
                    hi_closed: hc2,
                },
            ) => {
                lc1 == lc2
                    && hc1 == hc2
                    && self.eq(l1, l2).equal == Some(true)
                    && self.eq(h1, h2).equal == Some(true)
            }
            _ => false,
        }
    }

    /// Two relations: the same operator (up to flipping sides) and proportional
    /// differences `lhs - rhs`, with a positive factor for inequalities.
    fn relation_eq(&mut self, a: &Expr, b: &Expr) -> Judgement {
        match (a, b) {
            (Expr::Rel(o1, l1, r1), Expr::Rel(o2, l2, r2)) => {
                let (o1, f1) = normal_form(*o1, l1, r1);
                let (o2, f2) = normal_form(*o2, l2, r2);
                if o1 != o2 {
                    return no("different relations");
                }
                if matches!(o1, RelOp::In | RelOp::Approx) {
                    return self.seq_eq(
                        &[(**l1).clone(), (**r1).clone()],
                        &[(**l2).clone(), (**r2).clone()],
                        "relation",
                    );
                }
                let need_positive = matches!(o1, RelOp::Lt | RelOp::Le);
                self.proportional(&f1, &f2, need_positive)
            }
            (Expr::Chain(i1, o1), Expr::Chain(i2, o2)) => {
                if let (Some(s1), Some(s2)) = (relation_to_intervals(a), relation_to_intervals(b)) {
                    if s1.len() == s2.len()
                        && s1.iter().zip(&s2).all(|(x, y)| self.interval_eq(x, y))
                    {
                        return yes("same interval");
                    }
                }
                if o1 != o2 {
                    return no("different relation chains");
                }
                self.seq_eq(i1, i2, "relation chain")
            }
            _ => match (relation_to_intervals(a), relation_to_intervals(b)) {
                (Some(s1), Some(s2)) => {
                    if s1.len() == s2.len()
                        && s1.iter().zip(&s2).all(|(x, y)| self.interval_eq(x, y))
                    {
                        yes("same solution set")
                    } else {
                        no("different solution sets")
                    }
                }
                _ => no("different relations"),
            },
        }
    }

    /// Is `f = k g` for a constant `k` (positive when `positive`)?
    fn proportional(&mut self, f: &Expr, g: &Expr, positive: bool) -> Judgement {
        let vars = union_vars(f, g);
        let mut ratio: Option<C> = None;
        let mut seen = 0;
        for probe in 0..PROBES {
            let (Ok(x), Ok(y)) = (self.at(f, &vars, probe), self.at(g, &vars, probe)) else {
                continue;
            };
            if y.abs() < 1e-12 {
                if x.abs() < 1e-9 {
                    continue;
                }
                return no("relations differ at a probe point");
            }
            let r = C {
                re: (x.re * y.re + x.im * y.im) / (y.re * y.re + y.im * y.im),
                im: (x.im * y.re - x.re * y.im) / (y.re * y.re + y.im * y.im),
            };
            match ratio {
                None => ratio = Some(r),
                Some(r0) => {
                    let d = ((r.re - r0.re).powi(2) + (r.im - r0.im).powi(2)).sqrt();
                    if d > 1e-7 * (1.0 + r0.abs()) {
                        return no("relations are not multiples of each other");
                    }
                }
            }
            seen += 1;
        }
        match ratio {
            Some(r) if seen >= 1 => {
                if r.abs() < 1e-12 || (positive && r.re <= 0.0) {
                    no("relations differ in direction")
                } else {
                    yes("equivalent relations")
                }
            }
            _ => {
                if canon(f) == canon(g) {
                    yes("structurally identical relations")
                } else {
                    unknown("relations could not be evaluated")
                }
            }
        }
    }

    fn at(&mut self, e: &Expr, vars: &[String], probe: usize) -> Result<C, EvalError> {
        let mut env = Env::new(self.steps.min(50_000));
        for (k, v) in vars.iter().enumerate() {
            env.vars.insert(v.clone(), probe_value(probe, k));
        }
        let before = env.steps;
        let r = eval(e, &mut env);
        self.steps = self.steps.saturating_sub(before - env.steps);
        r
    }

    fn scalar_eq(&mut self, a: &Expr, b: &Expr) -> Judgement {
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
    fn maybe_renamed(&mut self, a: &Expr, b: &Expr, why: &str) -> Judgement {
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

fn union_vars(a: &Expr, b: &Expr) -> Vec<String> {
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
fn probe_value(j: usize, k: usize) -> C {
    let mut h = (j as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (k as u64 + 7).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 32;
    let u = (h % 1_000_000) as f64 / 1_000_000.0;
    let v = 0.35 + 1.9 * u;
    C::real(if j % 3 == 2 { -v } else { v })
}

/// `lhs op rhs` as `op` applied to `lhs - rhs` against zero, with `>`/`>=` turned
/// into `<`/`<=` by negation.
fn normal_form(op: RelOp, l: &Expr, r: &Expr) -> (RelOp, Expr) {
    let diff = Expr::Add(vec![l.clone(), Expr::negate(r.clone())]);
    match op {
        RelOp::Gt => (RelOp::Lt, Expr::negate(diff)),
        RelOp::Ge => (RelOp::Le, Expr::negate(diff)),
        other => (other, diff),
    }
}

/// The solution set of a one-variable relation with constant bounds, as intervals:
/// `-2 \le x \le 7`, `x > 1`, `x \ne 3`, `1 \le |z| \le 2`.
fn relation_to_intervals(e: &Expr) -> Option<Vec<Expr>> {
    let (items, ops): (Vec<Expr>, Vec<RelOp>) = match e {
        Expr::Rel(op, a, b) => (vec![(**a).clone(), (**b).clone()], vec![*op]),
        Expr::Chain(items, ops) => (items.clone(), ops.clone()),
        _ => return None,
    };
    let is_var = |x: &Expr| x.has_symbol() && !x.has_number();
    let var_pos = items.iter().position(is_var)?;
    if items
        .iter()
        .enumerate()
        .any(|(k, x)| k != var_pos && x.has_symbol())
    {
        return None;
    }
    let inf = || Expr::Const(Const::Inf);
    let neg_inf = || Expr::negate(Expr::Const(Const::Inf));
    let (mut lo, mut hi, mut lc, mut hc) = (neg_inf(), inf(), false, false);
    let mut excluded: Option<Expr> = None;
    for (k, op) in ops.iter().enumerate() {
        // Read each relation as `var op' bound`.
        let (op, bound) = if k + 1 == var_pos {
            (op.flip(), items[k].clone())
        } else if k == var_pos {
            (*op, items[k + 1].clone())
        } else {
            return None;
        };
        match op {
            RelOp::Lt | RelOp::Le => {
                hi = bound;
                hc = op == RelOp::Le;
            }
            RelOp::Gt | RelOp::Ge => {
                lo = bound;
                lc = op == RelOp::Ge;
            }
            RelOp::Ne if ops.len() == 1 => excluded = Some(bound),
            RelOp::Eq if ops.len() == 1 => {
                lo = bound.clone();
                hi = bound;
                lc = true;
                hc = true;
            }
            _ => return None,
        }
    }
    let interval = |lo: Expr, hi: Expr, lc: bool, hc: bool| Expr::Interval {
        lo: Box::new(lo),
        hi: Box::new(hi),
        lo_closed: lc,
        hi_closed: hc,
    };
    if let Some(b) = excluded {
        return Some(vec![
            interval(neg_inf(), b.clone(), false, false),
            interval(b, inf(), false, false),
        ]);
    }
    // `a <= |z| <= b` with 0 <= a: two mirrored intervals.
    if let Expr::Func(Func::Abs, _) = &items[var_pos] {
        let mut steps = 1000;
        let l = exact(&lo, &mut steps)?;
        if l.num() < 0 {
            return None;
        }
        let m_hi = Expr::negate(lo.clone());
        let m_lo = Expr::negate(hi.clone());
        return Some(vec![interval(m_lo, m_hi, hc, lc), interval(lo, hi, lc, hc)]);
    }
    Some(vec![interval(lo, hi, lc, hc)])
}

/// A canonical rendering for structural comparison: sums and products sorted.
fn canon(e: &Expr) -> String {
    match e {
        Expr::Add(v) | Expr::Mul(v) => {
            let mut parts: Vec<String> = v.iter().map(canon).collect();
            parts.sort();
            let op = if matches!(e, Expr::Add(_)) { "+" } else { "*" };
            format!("({})", parts.join(op))
        }
        Expr::Func(f, v) => format!(
            "{f:?}({})",
            v.iter().map(canon).collect::<Vec<_>>().join(",")
        ),
        Expr::Pow(a, b) => format!("{}^{}", canon(a), canon(b)),
        other => format!("{other}"),
    }
}
