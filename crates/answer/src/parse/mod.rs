//! A Pratt parser from tokens to [`Expr`].
//!
//! Precedence, loosest first: list separators (`,` `;` "and"), relations, `\cup`,
//! `+ - \pm`, `* / :` and juxtaposition, unary signs, powers and postfix `!` `%`.
//! Recursion depth and token count are bounded so hostile input fails fast.

use crate::expr::{Const, Expr, Func, RelOp};
use crate::lexer::{lex, Tok};
use crate::rational::Rat;
use crate::ParseError;

mod latex;

/// Bounds on the work the parser may do.
#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    pub max_tokens: usize,
    pub max_depth: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_tokens: 4000,
            max_depth: 60,
        }
    }
}

/// Parses one answer (LaTeX or plain) into a tree.
pub fn parse(src: &str, limits: ParseLimits) -> Result<Expr, ParseError> {
    let cleaned = crate::normalize::normalize(src);
    let toks = lex(&cleaned, limits.max_tokens)?;
    if toks.is_empty() {
        return Err(ParseError::Empty);
    }
    let mut p = Parser {
        t: toks,
        i: 0,
        depth: 0,
        abs_depth: 0,
        limits,
    };
    let e = p.top()?;
    if p.i < p.t.len() {
        return Err(ParseError::Trailing(format!("{:?}", p.t[p.i])));
    }
    Ok(e)
}

struct Parser {
    t: Vec<Tok>,
    i: usize,
    depth: usize,
    abs_depth: usize,
    limits: ParseLimits,
}

fn is_closer(t: &Tok) -> bool {
    matches!(
        t,
        Tok::RParen
            | Tok::RBrack
            | Tok::RBrace
            | Tok::RSet
            | Tok::RowSep
            | Tok::End(_)
            | Tok::RFloor
            | Tok::RCeil
            | Tok::Op('&')
    )
}

/// Parses a decimal literal exactly when it fits, else approximately.
pub fn number(s: &str) -> Result<Expr, ParseError> {
    let (int, frac) = match s.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let digits: String = format!("{int}{}", frac.unwrap_or(""));
    let scale = frac.map_or(0, |f| f.len()) as u32;
    let exact = digits
        .parse::<i128>()
        .ok()
        .zip(10i128.checked_pow(scale))
        .and_then(|(n, d)| Rat::new(n, d));
    match (exact, frac.is_some()) {
        (Some(r), false) => Ok(Expr::Num(r)),
        (Some(r), true) => Ok(Expr::Dec(r)),
        (None, false) if digits.chars().all(|c| c.is_ascii_digit()) => {
            let d = digits.trim_start_matches('0');
            Ok(Expr::Big(if d.is_empty() { "0".into() } else { d.into() }))
        }
        (None, _) => s
            .parse::<f64>()
            .map(Expr::Float)
            .map_err(|_| ParseError::BadNumber(s.to_string())),
    }
}

/// `whole num/den` with `num < den`, as one exact value.
fn mixed(whole: &str, num: &str, den: &str) -> Result<Expr, ParseError> {
    let bad = || ParseError::BadNumber(format!("{whole} {num}/{den}"));
    let parse = |x: &str| x.parse::<i128>().map_err(|_| bad());
    let (w, n, d) = (parse(whole)?, parse(num)?, parse(den)?);
    if d == 0 || n >= d || n < 0 || w < 0 {
        return Err(bad());
    }
    let frac = Rat::new(n, d).ok_or_else(bad)?;
    let v = Rat::int(w).plus(frac).ok_or_else(bad)?;
    Ok(Expr::Num(v))
}

fn mul2(a: Expr, b: Expr) -> Expr {
    let mut v = match a {
        Expr::Mul(v) => v,
        other => vec![other],
    };
    v.push(b);
    Expr::Mul(v)
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }

    fn peek_at(&self, k: usize) -> Option<&Tok> {
        self.t.get(self.i + k)
    }

    fn bump(&mut self) -> Option<Tok> {
        let t = self.t.get(self.i).cloned();
        self.i += 1;
        t
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == Some(t) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &Tok) -> Result<(), ParseError> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(ParseError::Expected(format!("{t:?}")))
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(ParseError::TooDeep);
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// A whole answer: a list of relations separated by `,`, `;` or "and".
    fn top(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let mut groups: Vec<Vec<Expr>> = vec![Vec::new()];
        let mut saw_semicolon = false;
        loop {
            while self.eat(&Tok::Sep) {}
            if self.peek().is_none_or(is_closer) {
                break;
            }
            let e = self.relation()?;
            if let Some(g) = groups.last_mut() {
                g.push(e);
            }
            match self.peek() {
                Some(Tok::Op(';')) => {
                    self.i += 1;
                    saw_semicolon = true;
                    groups.push(Vec::new());
                }
                Some(Tok::Op(',')) | Some(Tok::Sep) => {
                    self.i += 1;
                }
                _ => break,
            }
        }
        self.leave();
        let groups: Vec<Vec<Expr>> = groups.into_iter().filter(|g| !g.is_empty()).collect();
        let mut items: Vec<Expr> = if saw_semicolon {
            groups
                .into_iter()
                .map(|mut g| {
                    if g.len() == 1 {
                        g.remove(0)
                    } else {
                        Expr::Tuple(g)
                    }
                })
                .collect()
        } else {
            groups.into_iter().flatten().collect()
        };
        match items.len() {
            0 => Err(ParseError::Empty),
            1 => Ok(items.remove(0)),
            _ => Ok(Expr::List(items)),
        }
    }

    fn relation(&mut self) -> Result<Expr, ParseError> {
        // `\approx 3.14`, `= 5`: a relation without a left side states its right side.
        while matches!(self.peek(), Some(Tok::Rel(RelOp::Approx | RelOp::Eq))) {
            self.i += 1;
        }
        let first = self.union()?;
        let mut items = vec![first];
        let mut ops = Vec::new();
        while let Some(Tok::Rel(op)) = self.peek() {
            let op = *op;
            self.i += 1;
            ops.push(op);
            items.push(self.union()?);
        }
        Ok(match ops.len() {
            0 => items.remove(0),
            1 => {
                let b = items.pop().ok_or(ParseError::Empty)?;
                let a = items.pop().ok_or(ParseError::Empty)?;
                Expr::Rel(ops[0], Box::new(a), Box::new(b))
            }
            _ => Expr::Chain(items, ops),
        })
    }

    fn union(&mut self) -> Result<Expr, ParseError> {
        let first = self.additive()?;
        if !matches!(self.peek(), Some(Tok::Cup | Tok::Cap)) {
            return Ok(first);
        }
        let mut parts = vec![first];
        while matches!(self.peek(), Some(Tok::Cup | Tok::Cap)) {
            if self.bump() == Some(Tok::Cap) {
                return Err(ParseError::Unsupported("set intersection".into()));
            }
            parts.push(self.additive()?);
        }
        // `(0, 1)` inside a union is an open interval, not a pair.
        let parts = parts
            .into_iter()
            .map(|p| match p {
                Expr::Tuple(mut v) if v.len() == 2 => {
                    let hi = v.pop().unwrap_or(Expr::int(0));
                    let lo = v.pop().unwrap_or(Expr::int(0));
                    Expr::Interval {
                        lo: Box::new(lo),
                        hi: Box::new(hi),
                        lo_closed: false,
                        hi_closed: false,
                    }
                }
                other => other,
            })
            .collect();
        Ok(Expr::Union(parts))
    }

    fn additive(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let mut terms = vec![self.unary()?];
        let mut pm: Option<(Expr, bool)> = None;
        loop {
            match self.peek() {
                Some(Tok::Op('+')) => {
                    self.i += 1;
                    terms.push(self.unary()?);
                }
                Some(Tok::Op('-')) => {
                    self.i += 1;
                    let t = self.unary()?;
                    terms.push(Expr::negate(t));
                }
                Some(Tok::Pm) | Some(Tok::Mp) => {
                    let minus_first = self.bump() == Some(Tok::Mp);
                    let t = self.unary()?;
                    // `a ± b ± c` collapses into one ± term: rare, and never an answer.
                    pm = Some((t, minus_first));
                }
                _ => break,
            }
        }
        self.leave();
        let base = if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::Add(terms)
        };
        Ok(match pm {
            None => base,
            Some((t, false)) => Expr::PlusMinus(Box::new(base), Box::new(t)),
            Some((t, true)) => Expr::PlusMinus(Box::new(base), Box::new(Expr::negate(t))),
        })
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let r = match self.peek() {
            Some(Tok::Op('-')) => {
                self.i += 1;
                self.unary().map(Expr::negate)
            }
            Some(Tok::Op('+')) => {
                self.i += 1;
                self.unary()
            }
            Some(Tok::Pm) => {
                self.i += 1;
                self.unary()
                    .map(|e| Expr::PlusMinus(Box::new(Expr::int(0)), Box::new(e)))
            }
            _ => self.multiplicative(),
        };
        self.leave();
        r
    }

    /// Can the next token begin an implicit product factor?
    fn starts_factor(&self) -> bool {
        match self.peek() {
            Some(Tok::Num(_) | Tok::Letter(_) | Tok::LParen | Tok::LFloor | Tok::LCeil) => true,
            Some(Tok::LBrace | Tok::Begin(_)) => true,
            Some(Tok::Cmd(c)) => c != "dots" && c != "ldots" && c != "cdots",
            Some(Tok::Op('|')) => self.abs_depth == 0,
            _ => false,
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, ParseError> {
        let mut acc = self.power()?;
        // Set once prose has followed the value (`18 \text{ dollars}`).
        let mut prose = false;
        loop {
            match self.peek() {
                // An explicit operator resumes the product after prose:
                // `4 \text{ cartons} \times 4.00/carton`.
                Some(Tok::Op('*')) => {
                    self.i += 1;
                    let r = self.power_signed()?;
                    acc = mul2(acc, r);
                    prose = false;
                }
                Some(Tok::Op('/')) | Some(Tok::Op(':')) => {
                    self.i += 1;
                    let r = self.power_signed()?;
                    acc = mul2(acc, Expr::recip(r));
                    prose = false;
                }
                Some(Tok::Text(_)) => {
                    // Prose after a value is a unit or a remark: drop it, along with a
                    // unit exponent such as the `^2` of `cm^2`.
                    self.i += 1;
                    prose = true;
                    self.skip_unit_power();
                    // Compound units: `km / h`, `m \cdot s`.
                    while matches!(self.peek(), Some(Tok::Op('/' | '*')))
                        && matches!(self.peek_at(1), Some(Tok::Text(_)))
                    {
                        self.i += 2;
                        self.skip_unit_power();
                    }
                }
                Some(Tok::Percent) => {
                    self.i += 1;
                    acc = Expr::Percent(Box::new(acc));
                }
                // Prose then more math is a condition or a second quantity, not a
                // product: `1 \text{ for all } n`, `2 \text{ hours } 30 \text{ minutes}`.
                _ if prose && self.starts_factor() => {
                    return Err(ParseError::Unsupported("prose between two values".into()));
                }
                _ if self.starts_factor() => {
                    let r = self.power()?;
                    acc = mul2(acc, r);
                }
                _ => break,
            }
        }
        Ok(acc)
    }

    fn skip_unit_power(&mut self) {
        if self.peek() == Some(&Tok::Op('^')) {
            match (self.peek_at(1), self.peek_at(2), self.peek_at(3)) {
                (Some(Tok::Num(_)), _, _) => self.i += 2,
                (Some(Tok::LBrace), Some(Tok::Num(_)), Some(Tok::RBrace)) => self.i += 4,
                _ => {}
            }
        }
    }

    /// A factor after `*` or `/`, which may carry its own sign: `2 \cdot -3`.
    fn power_signed(&mut self) -> Result<Expr, ParseError> {
        if self.eat(&Tok::Op('-')) {
            return self.power_signed().map(Expr::negate);
        }
        self.power()
    }

    fn power(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let base = self.postfix()?;
        let r = if self.eat(&Tok::Op('^')) {
            if self.eat(&Tok::Degree) {
                Ok(base)
            } else if self.peek() == Some(&Tok::LBrace) && self.peek_at(1) == Some(&Tok::Degree) {
                self.i += 2;
                self.expect(&Tok::RBrace)?;
                Ok(base)
            } else {
                let exp = self.exponent()?;
                let e = Expr::Pow(Box::new(base), Box::new(exp));
                self.postfix_ops(e)
            }
        } else {
            Ok(base)
        };
        self.leave();
        r
    }

    /// The exponent after `^`: a braced group, or one signed atom (`x^-1`, `2^3`).
    fn exponent(&mut self) -> Result<Expr, ParseError> {
        if self.eat(&Tok::Op('-')) {
            return self.exponent().map(Expr::negate);
        }
        if let Some(Tok::Num(n)) = self.peek() {
            // `x^23` in LaTeX means x^2 followed by 3, but answers write `2^10` in
            // plain text far more often, so the whole digit run is the exponent.
            let n = n.clone();
            self.i += 1;
            return number(&n);
        }
        self.power()
    }

    fn postfix(&mut self) -> Result<Expr, ParseError> {
        let e = self.primary()?;
        self.postfix_ops(e)
    }

    fn postfix_ops(&mut self, mut e: Expr) -> Result<Expr, ParseError> {
        loop {
            match self.peek() {
                Some(Tok::Op('!')) => {
                    self.i += 1;
                    e = Expr::Func(Func::Factorial, vec![e]);
                }
                Some(Tok::Degree) => {
                    self.i += 1;
                }
                Some(Tok::Op('\'')) => {
                    self.i += 1;
                    e = Expr::Func(Func::Opaque("prime".into()), vec![e]);
                }
                _ => return Ok(e),
            }
        }
    }

    /// A braced group `{...}` or, LaTeX style, a single token as an argument.
    fn group(&mut self) -> Result<Expr, ParseError> {
        if self.eat(&Tok::LBrace) {
            let e = self.top()?;
            self.expect(&Tok::RBrace)?;
            return Ok(e);
        }
        match self.peek() {
            // `\frac12`: a single digit per argument.
            Some(Tok::Num(n)) if n.len() > 1 && !n.contains('.') => {
                let n = n.clone();
                let (first, rest) = n.split_at(1);
                self.t[self.i] = Tok::Num(rest.to_string());
                number(first)
            }
            _ => self.primary(),
        }
    }

    /// The text of a subscript, kept verbatim as part of a variable name.
    fn subscript_text(&mut self) -> Result<String, ParseError> {
        let e = self.group()?;
        Ok(format!("{e}"))
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let r = self.primary_inner();
        self.leave();
        r
    }

    fn primary_inner(&mut self) -> Result<Expr, ParseError> {
        let Some(tok) = self.bump() else {
            return Err(ParseError::Empty);
        };
        match tok {
            // `2516_8`: a numeral in another base, compared as written.
            Tok::Num(n) if self.peek() == Some(&Tok::Op('_')) => {
                self.i += 1;
                let base = self.subscript_text()?;
                Ok(Expr::Sym(format!("{n}_{base}")))
            }
            Tok::Num(n) => {
                let whole = number(&n)?;
                match self.latex_mixed_fraction(&whole) {
                    Some(frac) => Ok(frac),
                    None => Ok(whole),
                }
            }
            Tok::Mixed(w, n, d) => mixed(&w, &n, &d),
            Tok::Letter(l) => self.letter(l),
            Tok::LParen => self.bracketed(false),
            Tok::LBrack => self.bracketed(true),
            Tok::LBrace => {
                let e = self.top()?;
                self.expect(&Tok::RBrace)?;
                Ok(e)
            }
            Tok::LSet => {
                if self.eat(&Tok::RSet) {
                    return Ok(Expr::Set(vec![]));
                }
                let e = self.top()?;
                self.expect(&Tok::RSet)?;
                Ok(match e {
                    Expr::List(v) => Expr::Set(v),
                    other => Expr::Set(vec![other]),
                })
            }
            Tok::Op('|') => {
                self.abs_depth += 1;
                let inner = self.top();
                self.abs_depth -= 1;
                let inner = inner?;
                self.expect(&Tok::Op('|'))?;
                Ok(Expr::Func(Func::Abs, vec![inner]))
            }
            Tok::LFloor => {
                let e = self.top()?;
                self.expect(&Tok::RFloor)?;
                Ok(Expr::Func(Func::Floor, vec![e]))
            }
            Tok::LCeil => {
                let e = self.top()?;
                self.expect(&Tok::RCeil)?;
                Ok(Expr::Func(Func::Ceil, vec![e]))
            }
            Tok::Begin(env) => self.matrix(&env),
            Tok::Text(t) => Ok(Expr::Text(t)),
            Tok::Cmd(c) => self.command(&c),
            other => Err(ParseError::Unexpected(format!("{other:?}"))),
        }
    }

    fn letter(&mut self, l: String) -> Result<Expr, ParseError> {
        let mut name = l;
        if self.eat(&Tok::Op('_')) {
            let sub = self.subscript_text()?;
            name = format!("{name}_{sub}");
        }
        // `f(x)`, `g(2)`: the usual names of functions in answers.
        if self.peek() == Some(&Tok::LParen) && self.is_call(&name) {
            self.i += 1;
            let args = self.top()?;
            self.expect(&Tok::RParen)?;
            let args = match args {
                Expr::List(v) => v,
                other => vec![other],
            };
            return Ok(Expr::Func(Func::Apply(name), args));
        }
        Ok(match name.as_str() {
            "e" => Expr::Const(Const::E),
            "i" => Expr::Const(Const::I),
            _ => Expr::Sym(name),
        })
    }

    /// Is `name(` a function call? Always for `f`, `g`, `h`; for other one-letter
    /// names only when the argument is a lone variable followed by `=` (`W(x) = 1`),
    /// since `a(b+1)` is usually a product.
    fn is_call(&self, name: &str) -> bool {
        if matches!(name, "f" | "g" | "h") {
            return true;
        }
        matches!(
            (self.peek_at(1), self.peek_at(2), self.peek_at(3)),
            (Some(Tok::Letter(_)), Some(Tok::RParen), Some(Tok::Rel(_)))
        )
    }

    /// `( ... )` or `[ ... ]`: grouping, a tuple, or an interval.
    fn bracketed(&mut self, square: bool) -> Result<Expr, ParseError> {
        let inner = self.top()?;
        let close_square = match self.bump() {
            Some(Tok::RParen) => false,
            Some(Tok::RBrack) => true,
            _ => return Err(ParseError::Expected("closing bracket".into())),
        };
        match inner {
            Expr::List(mut v) if v.len() == 2 && (square || close_square) => {
                let hi = v.pop().ok_or(ParseError::Empty)?;
                let lo = v.pop().ok_or(ParseError::Empty)?;
                Ok(Expr::Interval {
                    lo: Box::new(lo),
                    hi: Box::new(hi),
                    lo_closed: square,
                    hi_closed: close_square,
                })
            }
            Expr::List(v) => Ok(Expr::Tuple(v)),
            other if square == close_square => Ok(other),
            _ => Err(ParseError::Expected("matching bracket".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Expr {
        parse(s, ParseLimits::default()).unwrap()
    }

    #[test]
    fn fractions_and_roots() {
        assert_eq!(
            format!("{}", p("\\frac13")),
            "(1*1^-1)".replace("1^-1", "3^-1")
        );
        assert!(matches!(p("\\sqrt[3]{x}"), Expr::Pow(_, _)));
    }

    #[test]
    fn intervals_tuples_sets() {
        assert!(matches!(
            p("[0,1)"),
            Expr::Interval {
                lo_closed: true,
                hi_closed: false,
                ..
            }
        ));
        assert!(matches!(p("(1,2,3)"), Expr::Tuple(_)));
        assert!(matches!(p("\\{1,2\\}"), Expr::Set(_)));
        assert!(matches!(p("1,2"), Expr::List(_)));
    }

    #[test]
    fn relations_and_chains() {
        assert!(matches!(p("x \\geq 5"), Expr::Rel(RelOp::Ge, _, _)));
        assert!(matches!(p("-2 \\le x \\le 7"), Expr::Chain(_, _)));
    }

    #[test]
    fn depth_is_bounded() {
        let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        assert_eq!(
            parse(&deep, ParseLimits::default()),
            Err(ParseError::TooDeep)
        );
    }
}
