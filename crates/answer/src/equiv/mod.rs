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

mod numeric;
mod poly;
mod relations;

use crate::expr::{Const, Expr, Func, RelOp};
use crate::rational::Rat;
use crate::Options;

/// Steps of evaluation allowed for one comparison.
const STEP_BUDGET: u64 = 200_000;

/// A decision with its reason; `equal` is `None` when undecided.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub equal: Option<bool>,
    pub reason: String,
}

impl Judgement {
    pub(crate) fn yes(r: impl Into<String>) -> Judgement {
        Judgement {
            equal: Some(true),
            reason: r.into(),
        }
    }

    pub(crate) fn no(r: impl Into<String>) -> Judgement {
        Judgement {
            equal: Some(false),
            reason: r.into(),
        }
    }

    pub(crate) fn unknown(r: impl Into<String>) -> Judgement {
        Judgement {
            equal: None,
            reason: r.into(),
        }
    }
}

fn yes(r: impl Into<String>) -> Judgement {
    Judgement::yes(r)
}
fn no(r: impl Into<String>) -> Judgement {
    Judgement::no(r)
}
fn unknown(r: impl Into<String>) -> Judgement {
    Judgement::unknown(r)
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

/// The name in a product of words and a name (`\text{the maximum } M`), without the
/// words; `None` when `e` is not such a product.
fn described_label(e: &Expr) -> Option<Expr> {
    let Expr::Mul(v) = e else { return None };
    let (words, mut rest): (Vec<&Expr>, Vec<&Expr>) =
        v.iter().partition(|x| matches!(x, Expr::Text(_)));
    if words.is_empty() || rest.is_empty() {
        return None;
    }
    let name = if rest.len() == 1 {
        rest.remove(0).clone()
    } else {
        Expr::Mul(rest.into_iter().cloned().collect())
    };
    is_label(&name).then_some(name)
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
        // `\text{The identity function } f(n) = n`: words that describe the name on
        // the left of an equation are no part of it.
        Expr::Rel(RelOp::Eq, a, b) if described_label(&a).is_some() => {
            let name = described_label(&a).unwrap_or_else(|| (*a).clone());
            clean(Expr::Rel(RelOp::Eq, Box::new(name), b))
        }
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

/// The capital letters of an answer that lists choices: `\text{A, C}`,
/// `\text{(A), (C)}`, the list `A, C`, or one letter; sorted, without duplicates.
fn choice_letters(e: &Expr) -> Option<Vec<char>> {
    let one = |t: &str| -> Option<char> {
        let t = t.trim();
        let t = t
            .strip_prefix('(')
            .and_then(|x| x.strip_suffix(')'))
            .unwrap_or(t)
            .trim();
        let mut chars = t.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_uppercase() => Some(c),
            _ => None,
        }
    };
    let mut letters = match e {
        Expr::Text(t) => t
            .split(',')
            .flat_map(|part| part.split(" and "))
            .map(one)
            .collect::<Option<Vec<char>>>()?,
        Expr::Sym(s) => vec![one(s)?],
        Expr::List(v) | Expr::Set(v) => v
            .iter()
            .map(|x| match x {
                Expr::Text(t) | Expr::Sym(t) => one(t),
                _ => None,
            })
            .collect::<Option<Vec<char>>>()?,
        _ => return None,
    };
    letters.sort_unstable();
    letters.dedup();
    Some(letters)
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
            // `\frac{3 \pm \sqrt{21}}{2}`, `x = 1 \pm \sqrt{2}`: one `±` inside an
            // element makes it two elements. With several, which signs go together is
            // not written down, and the element stays as it is.
            other if pm_count(&other) == 1 => {
                out.push(with_sign(&other, true));
                out.push(with_sign(&other, false));
            }
            other => out.push(other),
        }
    }
    out
}

/// Number of `±` nodes in a tree.
fn pm_count(e: &Expr) -> usize {
    let mut n = 0;
    e.walk(&mut |x| {
        if matches!(x, Expr::PlusMinus(..)) {
            n += 1;
        }
    });
    n
}

/// The tree with every `a ± b` replaced by `a + b` (`plus`) or `a - b`.
fn with_sign(e: &Expr, plus: bool) -> Expr {
    match e {
        Expr::PlusMinus(a, b) => {
            let b = with_sign(b, plus);
            Expr::Add(vec![
                with_sign(a, plus),
                if plus { b } else { Expr::negate(b) },
            ])
        }
        _ => e.map_children(&mut |x| with_sign(x, plus)),
    }
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
        || (!is_relation(e) && pm_count(e) == 1)
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
            // `\text{A, C}` or `\text{(A), (C)}` against the letters `A, C`.
            if let (Some(a), Some(b)) = (choice_letters(g), choice_letters(p)) {
                return if a == b {
                    yes("same choice letters")
                } else {
                    no("different choice letters")
                };
            }
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
