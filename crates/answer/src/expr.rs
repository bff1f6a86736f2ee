//! The expression tree every answer is parsed into.
//!
//! One tree covers numbers, symbolic expressions, relations, intervals, sets, tuples,
//! matrices and free text, so that equivalence is a function of two trees whatever
//! notation (LaTeX or plain) each answer was written in.

use crate::rational::Rat;
use std::fmt;

/// Named constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Const {
    Pi,
    E,
    I,
    Inf,
}

/// Built-in functions with a known numeric meaning.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Func {
    Sin,
    Cos,
    Tan,
    Sec,
    Csc,
    Cot,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    /// Natural logarithm.
    Ln,
    /// Logarithm with an explicit base: arguments are `[base, x]`.
    LogBase,
    Exp,
    Abs,
    Floor,
    Ceil,
    Binom,
    Factorial,
    /// The largest of its real arguments: `\max(125, 96)`, written without bounds.
    Max,
    /// The smallest of its real arguments: `\min(3, \sqrt{5})`.
    Min,
    /// An unknown function applied to arguments, such as `f(x)`.
    Apply(String),
    /// A construct compared only structurally, such as `\sum_{k=0}^{n} ...`.
    Opaque(String),
}

/// Relation operators, with `>`/`>=` kept distinct so that chains read naturally.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RelOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Approx,
    In,
}

impl RelOp {
    /// The operator seen from the other side: `a < b` is `b > a`.
    pub fn flip(self) -> RelOp {
        match self {
            RelOp::Lt => RelOp::Gt,
            RelOp::Le => RelOp::Ge,
            RelOp::Gt => RelOp::Lt,
            RelOp::Ge => RelOp::Le,
            other => other,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            RelOp::Eq => "=",
            RelOp::Ne => "!=",
            RelOp::Lt => "<",
            RelOp::Le => "<=",
            RelOp::Gt => ">",
            RelOp::Ge => ">=",
            RelOp::Approx => "~",
            RelOp::In => "in",
        }
    }
}

/// An answer as a tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// An exact number written without a decimal point (or a fraction of such).
    Num(Rat),
    /// A number written with a decimal point: compared at the configured precision.
    Dec(Rat),
    /// A number too large for an exact rational, kept approximately.
    Float(f64),
    /// An integer too large for `i128`, as its digits without leading zeros: compared
    /// digit by digit, never rounded.
    Big(String),
    Sym(String),
    Const(Const),
    Add(Vec<Expr>),
    Mul(Vec<Expr>),
    Pow(Box<Expr>, Box<Expr>),
    Func(Func, Vec<Expr>),
    /// `lhs op rhs`; chains such as `a < x < b` become [`Expr::Chain`].
    Rel(RelOp, Box<Expr>, Box<Expr>),
    /// `e0 op0 e1 op1 e2 ...` with at least two operators.
    Chain(Vec<Expr>, Vec<RelOp>),
    Interval {
        lo: Box<Expr>,
        hi: Box<Expr>,
        lo_closed: bool,
        hi_closed: bool,
    },
    Union(Vec<Expr>),
    /// Written with set braces `\{...\}`: order does not matter.
    Set(Vec<Expr>),
    /// A bare list `a, b, c` (or `a and b`): order does not matter.
    List(Vec<Expr>),
    /// A parenthesised tuple `(a, b)`: ordered; also read as an open interval.
    Tuple(Vec<Expr>),
    Matrix(Vec<Vec<Expr>>),
    /// `a ± b`.
    PlusMinus(Box<Expr>, Box<Expr>),
    Percent(Box<Expr>),
    Text(String),
}

impl Expr {
    pub fn int(n: i128) -> Expr {
        Expr::Num(Rat::int(n))
    }

    pub fn negate(e: Expr) -> Expr {
        match e {
            Expr::Num(r) => match r.negated() {
                Some(n) => Expr::Num(n),
                None => Expr::Mul(vec![Expr::int(-1), Expr::Num(r)]),
            },
            Expr::Dec(r) => match r.negated() {
                Some(n) => Expr::Dec(n),
                None => Expr::Mul(vec![Expr::int(-1), Expr::Dec(r)]),
            },
            Expr::Float(f) => Expr::Float(-f),
            other => Expr::Mul(vec![Expr::int(-1), other]),
        }
    }

    pub fn recip(e: Expr) -> Expr {
        Expr::Pow(Box::new(e), Box::new(Expr::int(-1)))
    }

    /// True when the tree contains a number written with a decimal point.
    pub fn has_decimal(&self) -> bool {
        let mut found = false;
        self.walk(&mut |e| {
            if matches!(e, Expr::Dec(_) | Expr::Float(_)) {
                found = true;
            }
        });
        found
    }

    /// True when the tree contains a free symbol (a variable).
    pub fn has_symbol(&self) -> bool {
        let mut found = false;
        self.walk(&mut |e| {
            if matches!(e, Expr::Sym(_) | Expr::Func(Func::Apply(_), _)) {
                found = true;
            }
        });
        found
    }

    /// True when the tree contains any number literal.
    pub fn has_number(&self) -> bool {
        let mut found = false;
        self.walk(&mut |e| {
            if matches!(
                e,
                Expr::Num(_) | Expr::Dec(_) | Expr::Float(_) | Expr::Big(_)
            ) {
                found = true;
            }
        });
        found
    }

    /// Calls `f` on every node, parents first.
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Add(v)
            | Expr::Mul(v)
            | Expr::Func(_, v)
            | Expr::Union(v)
            | Expr::Set(v)
            | Expr::List(v)
            | Expr::Tuple(v)
            | Expr::Chain(v, _) => v.iter().for_each(|e| e.walk(f)),
            Expr::Pow(a, b) | Expr::Rel(_, a, b) | Expr::PlusMinus(a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Expr::Interval { lo, hi, .. } => {
                lo.walk(f);
                hi.walk(f);
            }
            Expr::Matrix(rows) => rows.iter().flatten().for_each(|e| e.walk(f)),
            Expr::Percent(a) => a.walk(f),
            Expr::Num(_)
            | Expr::Dec(_)
            | Expr::Float(_)
            | Expr::Big(_)
            | Expr::Sym(_)
            | Expr::Const(_)
            | Expr::Text(_) => {}
        }
    }

    /// The node with `f` applied to each of its direct children (a leaf is cloned):
    /// the step of a rewrite that recurses through `f`.
    pub fn map_children(&self, f: &mut dyn FnMut(&Expr) -> Expr) -> Expr {
        let mut all = |v: &[Expr]| v.iter().map(&mut *f).collect::<Vec<_>>();
        match self {
            Expr::Add(v) => Expr::Add(all(v)),
            Expr::Mul(v) => Expr::Mul(all(v)),
            Expr::Func(name, v) => Expr::Func(name.clone(), all(v)),
            Expr::Union(v) => Expr::Union(all(v)),
            Expr::Set(v) => Expr::Set(all(v)),
            Expr::List(v) => Expr::List(all(v)),
            Expr::Tuple(v) => Expr::Tuple(all(v)),
            Expr::Chain(v, ops) => Expr::Chain(all(v), ops.clone()),
            Expr::Matrix(rows) => Expr::Matrix(rows.iter().map(|r| all(r)).collect()),
            Expr::Pow(a, b) => Expr::Pow(Box::new(f(a)), Box::new(f(b))),
            Expr::Rel(op, a, b) => Expr::Rel(*op, Box::new(f(a)), Box::new(f(b))),
            Expr::PlusMinus(a, b) => Expr::PlusMinus(Box::new(f(a)), Box::new(f(b))),
            Expr::Interval {
                lo,
                hi,
                lo_closed,
                hi_closed,
            } => Expr::Interval {
                lo: Box::new(f(lo)),
                hi: Box::new(f(hi)),
                lo_closed: *lo_closed,
                hi_closed: *hi_closed,
            },
            Expr::Percent(a) => Expr::Percent(Box::new(f(a))),
            Expr::Num(_)
            | Expr::Dec(_)
            | Expr::Float(_)
            | Expr::Big(_)
            | Expr::Sym(_)
            | Expr::Const(_)
            | Expr::Text(_) => self.clone(),
        }
    }

    /// Number of nodes, used to bound the work done on a tree.
    pub fn size(&self) -> usize {
        let mut n = 0;
        self.walk(&mut |_| n += 1);
        n
    }
}

fn join(f: &mut fmt::Formatter<'_>, items: &[Expr], sep: &str) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{e}")?;
    }
    Ok(())
}

/// A plain, unambiguous rendering used in reasons and as a grouping key.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Num(r) | Expr::Dec(r) => write!(f, "{r}"),
            Expr::Float(x) => write!(f, "{x}"),
            Expr::Big(d) => f.write_str(d),
            Expr::Sym(s) => f.write_str(s),
            Expr::Const(c) => f.write_str(match c {
                Const::Pi => "pi",
                Const::E => "e",
                Const::I => "i",
                Const::Inf => "oo",
            }),
            Expr::Add(v) => {
                f.write_str("(")?;
                join(f, v, " + ")?;
                f.write_str(")")
            }
            Expr::Mul(v) => {
                f.write_str("(")?;
                join(f, v, "*")?;
                f.write_str(")")
            }
            Expr::Pow(a, b) => write!(f, "{a}^{b}"),
            Expr::Func(func, args) => {
                match func {
                    Func::Apply(n) | Func::Opaque(n) => f.write_str(n)?,
                    other => write!(f, "{}", format!("{other:?}").to_lowercase())?,
                }
                f.write_str("(")?;
                join(f, args, ", ")?;
                f.write_str(")")
            }
            Expr::Rel(op, a, b) => write!(f, "{a} {} {b}", op.symbol()),
            Expr::Chain(items, ops) => {
                for (i, e) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, " {} ", ops[i - 1].symbol())?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
            Expr::Interval {
                lo,
                hi,
                lo_closed,
                hi_closed,
            } => write!(
                f,
                "{}{lo}, {hi}{}",
                if *lo_closed { "[" } else { "(" },
                if *hi_closed { "]" } else { ")" }
            ),
            Expr::Union(v) => join(f, v, " U "),
            Expr::Set(v) => {
                f.write_str("{")?;
                join(f, v, ", ")?;
                f.write_str("}")
            }
            Expr::List(v) => join(f, v, ", "),
            Expr::Tuple(v) => {
                f.write_str("(")?;
                join(f, v, ", ")?;
                f.write_str(")")
            }
            Expr::Matrix(rows) => {
                f.write_str("[")?;
                for (i, r) in rows.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    join(f, r, " ")?;
                }
                f.write_str("]")
            }
            Expr::PlusMinus(a, b) => write!(f, "{a} +- {b}"),
            Expr::Percent(a) => write!(f, "{a}%"),
            Expr::Text(t) => write!(f, "\"{t}\""),
        }
    }
}
