//! Relations, intervals and unions: equivalent relations have proportional
//! differences; a one-variable relation can become the intervals it describes.

use super::numeric::{union_vars, PROBES};
use super::{canon, elements, is_label, is_relation, no, unknown, yes, Checker, Judgement};
use crate::eval::{exact, free_vars, C};
use crate::expr::{Const, Expr, Func, RelOp};

impl Checker<'_> {
    /// Interval or union on at least one side.
    pub(super) fn interval_side(&mut self, g: &Expr, p: &Expr) -> Judgement {
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

    pub(super) fn interval_eq(&mut self, a: &Expr, b: &Expr) -> bool {
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
            // Single points of a union, such as the 1 of `(-\infty, 0) \cup \{1\}`.
            (Expr::Interval { .. }, _) | (_, Expr::Interval { .. }) => false,
            (x, y) => self.eq(x, y).equal == Some(true),
        }
    }

    /// Two relations: the same operator (up to flipping sides) and proportional
    /// differences `lhs - rhs`, with a positive factor for inequalities.
    pub(super) fn relation_eq(&mut self, a: &Expr, b: &Expr) -> Judgement {
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
                let j = self.proportional(&f1, &f2, need_positive);
                if j.equal.is_none() && o1 == RelOp::Eq && defines_same_name(l1, r1, l2, r2) {
                    // `D = (0, 1)` against `D = (0, 1.5)`: the same name given two
                    // values, which are compared as answers (tuples, sets, sums...).
                    let r = self.eq(r1, r2);
                    if r.equal.is_some() {
                        return Judgement {
                            equal: r.equal,
                            reason: format!("the same name, right-hand sides: {}", r.reason),
                        };
                    }
                }
                j
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
    pub(super) fn proportional(&mut self, f: &Expr, g: &Expr, positive: bool) -> Judgement {
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
}

/// Are `l1 = r1` and `l2 = r2` two definitions of one name (`D = ...`, `F_n = ...`)
/// whose right sides do not mention it? Then the equations are equivalent exactly
/// when the right sides are.
fn defines_same_name(l1: &Expr, r1: &Expr, l2: &Expr, r2: &Expr) -> bool {
    if !is_label(l1) || canon(l1) != canon(l2) {
        return false;
    }
    let names = free_vars(l1);
    let mentions = |e: &Expr| free_vars(e).iter().any(|v| names.contains(v)) || contains(e, l1);
    !names.is_empty() && !mentions(r1) && !mentions(r2)
}

/// Does `e` contain the subtree `part` (`f(x)` inside `f(x) + 1`)?
fn contains(e: &Expr, part: &Expr) -> bool {
    let mut found = false;
    e.walk(&mut |x| {
        if x == part {
            found = true;
        }
    });
    found
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
pub(super) fn relation_to_intervals(e: &Expr) -> Option<Vec<Expr>> {
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
