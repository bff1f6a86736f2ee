//! LaTeX commands and environments: `\frac`, `\sqrt`, `\binom`, functions such as
//! `\sin^2 x` and `\log_2 8`, `\sum`-like operators, matrices, derivations.

use super::{mixed, mul2, Parser};
use crate::expr::{Const, Expr, Func};
use crate::lexer::Tok;
use crate::ParseError;

const FUNCS: &[(&str, Func)] = &[
    ("sin", Func::Sin),
    ("cos", Func::Cos),
    ("tan", Func::Tan),
    ("sec", Func::Sec),
    ("csc", Func::Csc),
    ("cot", Func::Cot),
    ("arcsin", Func::Asin),
    ("arccos", Func::Acos),
    ("arctan", Func::Atan),
    ("asin", Func::Asin),
    ("acos", Func::Acos),
    ("atan", Func::Atan),
    ("sinh", Func::Sinh),
    ("cosh", Func::Cosh),
    ("tanh", Func::Tanh),
    ("ln", Func::Ln),
    ("log", Func::Ln),
    ("lg", Func::Ln),
    ("exp", Func::Exp),
    ("abs", Func::Abs),
    ("floor", Func::Floor),
    ("ceil", Func::Ceil),
];

fn inverse(f: &Func) -> Option<Func> {
    Some(match f {
        Func::Sin => Func::Asin,
        Func::Cos => Func::Acos,
        Func::Tan => Func::Atan,
        _ => return None,
    })
}

impl Parser {
    /// `2\frac{1}{2}`: an integer followed by a proper fraction of integer literals
    /// is a mixed number, as in school answers. Returns the combined value and
    /// consumes the fraction; leaves the tokens alone otherwise.
    pub(super) fn latex_mixed_fraction(&mut self, whole: &Expr) -> Option<Expr> {
        let Expr::Num(w) = whole else { return None };
        if !w.is_integer() || self.peek() != Some(&Tok::Cmd("frac".into())) {
            return None;
        }
        let (n, d) = match (
            self.peek_at(1),
            self.peek_at(2),
            self.peek_at(3),
            self.peek_at(4),
            self.peek_at(5),
            self.peek_at(6),
        ) {
            (
                Some(Tok::LBrace),
                Some(Tok::Num(n)),
                Some(Tok::RBrace),
                Some(Tok::LBrace),
                Some(Tok::Num(d)),
                Some(Tok::RBrace),
            ) => (n.clone(), d.clone()),
            _ => return None,
        };
        let e = mixed(&w.to_string(), &n, &d).ok()?;
        self.i += 7;
        Some(e)
    }

    /// `aligned`, `align`, `eqnarray`, `gather`, ...: a derivation whose last line
    /// holds the result. The `&` marks are dropped and a line that continues the
    /// previous one (`& = 210`) keeps only its right-hand side.
    pub(super) fn derivation(&mut self, env: &str) -> Result<Expr, ParseError> {
        let start = self.i;
        let end = (start..self.t.len())
            .find(|&k| matches!(&self.t[k], Tok::End(e) if e == env))
            .ok_or_else(|| ParseError::Expected(format!("\\end{{{env}}}")))?;
        let mut lines: Vec<Vec<Tok>> = vec![Vec::new()];
        for t in &self.t[start..end] {
            match t {
                Tok::RowSep => lines.push(Vec::new()),
                Tok::Op('&') => {}
                other => {
                    if let Some(l) = lines.last_mut() {
                        l.push(other.clone());
                    }
                }
            }
        }
        self.i = end + 1;
        let mut last = lines
            .into_iter()
            .rev()
            .find(|l| !l.is_empty())
            .ok_or(ParseError::Empty)?;
        if matches!(last.first(), Some(Tok::Rel(_))) {
            last.remove(0);
        }
        let mut sub = Parser {
            t: last,
            i: 0,
            depth: self.depth,
            abs_depth: 0,
            limits: self.limits,
        };
        let e = sub.top()?;
        if sub.i < sub.t.len() {
            return Err(ParseError::Trailing("in a derivation line".into()));
        }
        Ok(e)
    }

    pub(super) fn matrix(&mut self, env: &str) -> Result<Expr, ParseError> {
        if !env.contains("matrix") && env != "array" {
            return self.derivation(env);
        }
        let mut rows: Vec<Vec<Expr>> = Vec::new();
        let mut row: Vec<Expr> = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::End(e)) if e == env => {
                    self.i += 1;
                    break;
                }
                None => return Err(ParseError::Expected(format!("\\end{{{env}}}"))),
                Some(Tok::RowSep) => {
                    self.i += 1;
                    rows.push(std::mem::take(&mut row));
                }
                Some(Tok::Op('&')) => {
                    self.i += 1;
                }
                _ => {
                    let e = self.top()?;
                    row.push(e);
                    if !matches!(self.peek(), Some(Tok::Op('&') | Tok::RowSep | Tok::End(_))) {
                        return Err(ParseError::Expected("matrix cell end".into()));
                    }
                }
            }
        }
        if !row.is_empty() {
            rows.push(row);
        }
        rows.retain(|r| !r.is_empty());
        if rows.is_empty() {
            return Err(ParseError::Empty);
        }
        let width = rows[0].len();
        if rows.iter().any(|r| r.len() != width) {
            return Err(ParseError::Unsupported("ragged matrix".into()));
        }
        Ok(Expr::Matrix(rows))
    }

    pub(super) fn command(&mut self, c: &str) -> Result<Expr, ParseError> {
        match c {
            "frac" => {
                let n = self.group()?;
                let d = self.group()?;
                Ok(mul2(n, Expr::recip(d)))
            }
            "sqrt" => {
                let mut index = Expr::int(2);
                if self.eat(&Tok::LBrack) {
                    index = self.top()?;
                    self.expect(&Tok::RBrack)?;
                }
                let arg = if self.peek() == Some(&Tok::LParen) {
                    self.primary()?
                } else {
                    self.group()?
                };
                Ok(Expr::Pow(Box::new(arg), Box::new(Expr::recip(index))))
            }
            "binom" => {
                let n = self.group()?;
                let k = self.group()?;
                Ok(Expr::Func(Func::Binom, vec![n, k]))
            }
            "boxed" | "fbox" | "framebox" => self.group(),
            "pi" => Ok(Expr::Const(Const::Pi)),
            "infty" | "infin" => Ok(Expr::Const(Const::Inf)),
            "emptyset" | "varnothing" => Ok(Expr::Set(vec![])),
            "dots" | "ldots" | "cdots" => Ok(Expr::Sym("...".into())),
            "sum" | "prod" | "int" | "lim" | "max" | "min" | "gcd" | "lcm" | "det" => {
                self.big_operator(c)
            }
            "log" if self.peek() == Some(&Tok::Op('_')) => {
                self.i += 1;
                let base = self.group()?;
                let arg = self.func_arg()?;
                Ok(Expr::Func(Func::LogBase, vec![base, arg]))
            }
            _ => {
                if let Some((_, f)) = FUNCS.iter().find(|(n, _)| *n == c) {
                    return self.function(f.clone());
                }
                // An unknown command is a named symbol, such as `\zzz`.
                Ok(Expr::Sym(format!("\\{c}")))
            }
        }
    }

    /// `\sin^2 x`, `\sin^{-1}(x)`, `\cos(a+b)`.
    pub(super) fn function(&mut self, f: Func) -> Result<Expr, ParseError> {
        let mut f = f;
        let mut power = None;
        if self.eat(&Tok::Op('^')) {
            let e = self.exponent()?;
            if e == Expr::int(-1) {
                f = inverse(&f).ok_or(ParseError::Unsupported("inverse function".into()))?;
            } else {
                power = Some(e);
            }
        }
        let arg = self.func_arg()?;
        let call = Expr::Func(f, vec![arg]);
        Ok(match power {
            Some(p) => Expr::Pow(Box::new(call), Box::new(p)),
            None => call,
        })
    }

    /// A function argument: a parenthesised expression, or the following factors up
    /// to the next operator or function (`\sin 2x` is sin(2x)).
    pub(super) fn func_arg(&mut self) -> Result<Expr, ParseError> {
        if self.peek() == Some(&Tok::LParen) || self.peek() == Some(&Tok::LBrace) {
            return self.power();
        }
        let mut acc = self.power()?;
        while self.starts_factor() && !matches!(self.peek(), Some(Tok::Cmd(_)) | Some(Tok::LParen))
        {
            let r = self.power()?;
            acc = mul2(acc, r);
        }
        Ok(acc)
    }

    /// `\sum_{k=0}^{n} body` and friends: kept as an opaque node compared by structure.
    /// `\max` and `\min` of a written list of values (`\max(125, 96)`, `\min\{a, b\}`)
    /// are functions of those values when the values are constants; with bounds
    /// (`\max_{x \in S} f(x)`), a single argument or a variable (`\max(x, -5)`, which
    /// probes at real points cannot tell from `x`) they stay opaque.
    pub(super) fn big_operator(&mut self, name: &str) -> Result<Expr, ParseError> {
        let mut args = Vec::new();
        let mut bounded = false;
        for marker in ['_', '^'] {
            if self.eat(&Tok::Op(marker)) {
                args.push(self.group()?);
                bounded = true;
            } else {
                args.push(Expr::Text(String::new()));
            }
        }
        // With nothing to apply to, the operator is a name: the `\max` of `m_{\max}`.
        if !bounded && self.peek().is_none_or(super::is_closer) {
            return Ok(Expr::Sym(format!("\\{name}")));
        }
        let body = self.multiplicative()?;
        let extremum = match name {
            "max" => Some(Func::Max),
            "min" => Some(Func::Min),
            _ => None,
        };
        if let (Some(f), false) = (extremum, bounded) {
            if let Expr::Tuple(items) | Expr::List(items) | Expr::Set(items) = &body {
                if items.len() >= 2 && !items.iter().any(Expr::has_symbol) {
                    return Ok(Expr::Func(f, items.clone()));
                }
            }
        }
        args.push(body);
        Ok(Expr::Func(Func::Opaque(name.to_string()), args))
    }
}
