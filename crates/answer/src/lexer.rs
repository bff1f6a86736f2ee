//! Tokens of an answer written in LaTeX or plain notation.
//!
//! The lexer absorbs the purely typographic part of LaTeX — sizing commands, spacing,
//! `\dfrac` vs `\frac`, thousands separators such as `{,}` — so the parser only sees
//! tokens that carry meaning.

use crate::expr::RelOp;
use crate::ParseError;

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// Digits, possibly with a decimal point: `12`, `3.5`, `.5`.
    Num(String),
    /// A plain-text mixed number `4 4/9`: whole, numerator, denominator.
    Mixed(String, String, String),
    /// A one-letter (or Greek) variable name.
    Letter(String),
    /// A command the parser knows (`frac`, `sqrt`, `sin`, `pi`, ...), without backslash.
    Cmd(String),
    /// Contents of `\text{...}` and friends.
    Text(String),
    Op(char),
    Rel(RelOp),
    LParen,
    RParen,
    LBrack,
    RBrack,
    LBrace,
    RBrace,
    LSet,
    RSet,
    RowSep,
    Begin(String),
    End(String),
    /// A list separator written as a word: "and", "or".
    Sep,
    Pm,
    Mp,
    Cup,
    Cap,
    Percent,
    Degree,
    LFloor,
    RFloor,
    LCeil,
    RCeil,
}

/// Commands that only affect typesetting and are dropped.
const IGNORED: &[&str] = &[
    "left",
    "right",
    "big",
    "Big",
    "bigg",
    "Bigg",
    "bigl",
    "bigr",
    "Bigl",
    "Bigr",
    "biggl",
    "biggr",
    "Biggl",
    "Biggr",
    "displaystyle",
    "textstyle",
    "scriptstyle",
    "limits",
    "nolimits",
    "quad",
    "qquad",
    "hfill",
    "noindent",
    "middle",
    "newline",
    "phantom",
    "$",
    "mathclose",
    "mathopen",
];

/// Commands whose braced argument is ordinary math (decoration only).
const TRANSPARENT: &[&str] = &[
    "mathrm",
    "mathbf",
    "mathit",
    "mathsf",
    "mathcal",
    "mathbb",
    "boldsymbol",
    "bm",
    "operatorname",
    "overline",
    "underline",
    "vec",
    "hat",
    "bar",
    "widehat",
    "overrightarrow",
    "tilde",
    "mathnormal",
];

/// Commands whose argument is prose.
const TEXTUAL: &[&str] = &[
    "text",
    "textbf",
    "textit",
    "textrm",
    "textnormal",
    "texttt",
    "textsf",
    "mbox",
    "emph",
    "hbox",
];

const GREEK: &[&str] = &[
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Xi",
    "Sigma",
    "Phi",
    "Psi",
    "Omega",
];

/// Plain-text function names recognised without a backslash.
const WORD_FUNCS: &[&str] = &[
    "sqrt", "sin", "cos", "tan", "sec", "csc", "cot", "log", "ln", "exp", "arcsin", "arccos",
    "arctan", "sinh", "cosh", "tanh", "pi", "abs", "floor", "ceil", "asin", "acos", "atan",
];

struct Lexer<'a> {
    s: &'a [char],
    i: usize,
    out: Vec<Tok>,
    max_tokens: usize,
    depth: usize,
}

/// Splits `src` into tokens; fails on unbalanced text arguments or too many tokens.
pub fn lex(src: &str, max_tokens: usize) -> Result<Vec<Tok>, ParseError> {
    lex_nested(src, max_tokens, 0)
}

/// Decoration commands such as `\mathrm{...}` are lexed recursively; `depth` bounds it.
fn lex_nested(src: &str, max_tokens: usize, depth: usize) -> Result<Vec<Tok>, ParseError> {
    if depth > 16 {
        return Err(ParseError::TooDeep);
    }
    let chars: Vec<char> = src.chars().collect();
    let mut lx = Lexer {
        s: &chars,
        i: 0,
        out: Vec::new(),
        max_tokens,
        depth,
    };
    lx.run()?;
    Ok(lx.out)
}

impl Lexer<'_> {
    fn peek(&self, k: usize) -> Option<char> {
        self.s.get(self.i + k).copied()
    }

    fn push(&mut self, t: Tok) -> Result<(), ParseError> {
        if self.out.len() >= self.max_tokens {
            return Err(ParseError::TooLarge);
        }
        self.out.push(t);
        Ok(())
    }

    fn starts_with(&self, pat: &str) -> bool {
        (self.i..)
            .zip(pat.chars())
            .all(|(k, c)| self.s.get(k) == Some(&c))
    }

    fn run(&mut self) -> Result<(), ParseError> {
        while let Some(c) = self.peek(0) {
            match c {
                c if c.is_whitespace() || c == '~' => self.i += 1,
                '0'..='9' => self.number()?,
                '.' if self.peek(1).is_some_and(|d| d.is_ascii_digit()) => self.number()?,
                // A full stop that ends a sentence or a displayed line.
                '.' => self.i += 1,
                '\\' => self.command()?,
                c if c.is_ascii_alphabetic() => self.word()?,
                '(' => self.simple(Tok::LParen)?,
                ')' => self.simple(Tok::RParen)?,
                '[' => self.simple(Tok::LBrack)?,
                ']' => self.simple(Tok::RBrack)?,
                '{' => {
                    // `{,}` is a thousands separator inside a number; elsewhere a group.
                    self.simple(Tok::LBrace)?
                }
                '}' => self.simple(Tok::RBrace)?,
                '<' | '>' | '!' | '=' => self.relation()?,
                '%' => self.simple(Tok::Percent)?,
                '$' => self.i += 1,
                '×' | '·' | '∗' => self.simple(Tok::Op('*'))?,
                '÷' => self.simple(Tok::Op('/'))?,
                '−' | '–' => self.simple(Tok::Op('-'))?,
                '≤' => self.simple(Tok::Rel(RelOp::Le))?,
                '≥' => self.simple(Tok::Rel(RelOp::Ge))?,
                '≠' => self.simple(Tok::Rel(RelOp::Ne))?,
                '≈' => self.simple(Tok::Rel(RelOp::Approx))?,
                '∈' => self.simple(Tok::Rel(RelOp::In))?,
                '±' => self.simple(Tok::Pm)?,
                '∪' => self.simple(Tok::Cup)?,
                '∞' => self.simple(Tok::Cmd("infty".into()))?,
                'π' => self.simple(Tok::Cmd("pi".into()))?,
                '√' => self.simple(Tok::Cmd("sqrt".into()))?,
                '°' => self.simple(Tok::Degree)?,
                '²' | '³' => {
                    self.push(Tok::Op('^'))?;
                    let d = if c == '²' { "2" } else { "3" };
                    self.simple(Tok::Num(d.into()))?
                }
                '+' | '-' | '*' | '/' | '^' | '_' | ':' | ',' | ';' | '|' | '&' | '\'' => {
                    self.simple(Tok::Op(c))?
                }
                _ => return Err(ParseError::Unexpected(c.to_string())),
            }
        }
        Ok(())
    }

    fn simple(&mut self, t: Tok) -> Result<(), ParseError> {
        self.i += 1;
        self.push(t)
    }

    fn number(&mut self) -> Result<(), ParseError> {
        let mut s = String::new();
        let mut seen_dot = false;
        loop {
            match self.peek(0) {
                Some(d) if d.is_ascii_digit() => {
                    s.push(d);
                    self.i += 1;
                }
                Some('.') if !seen_dot && self.peek(1).is_some_and(|d| d.is_ascii_digit()) => {
                    seen_dot = true;
                    s.push('.');
                    self.i += 1;
                }
                _ => {
                    // Thousands separators written `{,}`, `,\!` or `\,` followed by
                    // exactly three digits continue the same number.
                    if seen_dot {
                        break;
                    }
                    // TeX ignores spaces in math: `\mathbf{2 5}` is 25. A mixed number
                    // `4 4/9` is recognised first.
                    if self.peek(0) == Some(' ')
                        && self.peek(1).is_some_and(|d| d.is_ascii_digit())
                        && !self.mixed_ahead()
                    {
                        self.i += 1;
                        continue;
                    }
                    let skip = self.thousands_separator_len();
                    if skip == 0 {
                        break;
                    }
                    self.i += skip;
                }
            }
        }
        if !seen_dot {
            if let Some(t) = self.mixed_tail(&s) {
                return self.push(t);
            }
        }
        if let Some((num, den)) = self.repeating_tail(&s) {
            for t in [
                Tok::LParen,
                Tok::Num(num),
                Tok::Op('/'),
                Tok::Num(den),
                Tok::RParen,
            ] {
                self.push(t)?;
            }
            return Ok(());
        }
        if let Some(exp) = self.exponent_suffix() {
            // `1.2e-3` is `(1.2 * 10^{-3})`.
            for t in [
                Tok::LParen,
                Tok::Num(s),
                Tok::Op('*'),
                Tok::Num("10".into()),
            ] {
                self.push(t)?;
            }
            self.push(Tok::Op('^'))?;
            self.push(Tok::LBrace)?;
            if let Some(digits) = exp.strip_prefix('-') {
                self.push(Tok::Op('-'))?;
                self.push(Tok::Num(digits.to_string()))?;
            } else {
                self.push(Tok::Num(exp.trim_start_matches('+').to_string()))?;
            }
            self.push(Tok::RBrace)?;
            return self.push(Tok::RParen);
        }
        self.push(Tok::Num(s))
    }

    /// A repeating decimal `0.\overline{3}` or `1.2\overline{45}` after the digits `s`
    /// read so far: returns the exact fraction as numerator and denominator digits.
    fn repeating_tail(&mut self, s: &str) -> Option<(String, String)> {
        let mut k = self.i;
        if !s.contains('.') {
            if self.s.get(k) != Some(&'.') {
                return None;
            }
            k += 1;
        }
        let pat = "\\overline{";
        if !(k..)
            .zip(pat.chars())
            .all(|(j, c)| self.s.get(j) == Some(&c))
        {
            return None;
        }
        k += pat.len();
        let start = k;
        while self.s.get(k).is_some_and(|c| c.is_ascii_digit()) {
            k += 1;
        }
        if k == start || self.s.get(k) != Some(&'}') || k - start > 12 {
            return None;
        }
        let rep: String = self.s[start..k].iter().collect();
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if frac.len() > 12 || int.len() > 12 {
            return None;
        }
        // I.F(R) = (IFR - IF) / ((10^r - 1) 10^f)
        let ifr: i128 = format!("{int}{frac}{rep}").parse().ok()?;
        let if_: i128 = format!("{int}{frac}").parse().ok()?;
        let den = (10i128.pow(rep.len() as u32) - 1) * 10i128.pow(frac.len() as u32);
        self.i = k + 1;
        Some(((ifr - if_).to_string(), den.to_string()))
    }

    /// Scientific notation after a mantissa: `e5`, `E-3`, `e+10`, not followed by a
    /// letter (so `2e` and `3ex` stay products).
    fn exponent_suffix(&mut self) -> Option<String> {
        if !matches!(self.peek(0), Some('e' | 'E')) {
            return None;
        }
        let mut k = self.i + 1;
        let mut exp = String::new();
        if let Some(sign @ ('+' | '-')) = self.s.get(k).copied() {
            exp.push(sign);
            k += 1;
        }
        let start = k;
        while self.s.get(k).is_some_and(|c| c.is_ascii_digit()) {
            exp.push(self.s[k]);
            k += 1;
        }
        if k == start || k - start > 6 || self.s.get(k).is_some_and(|c| c.is_alphabetic()) {
            return None;
        }
        self.i = k;
        Some(exp)
    }

    /// Does ` 4/9` (a mixed-number tail) start at the cursor?
    fn mixed_ahead(&mut self) -> bool {
        let save = self.i;
        let found = self.mixed_tail("0").is_some();
        self.i = save;
        found
    }

    /// After an integer, ` 4/9` (one space, a proper fraction of integers, then no
    /// further digit) makes a mixed number.
    fn mixed_tail(&mut self, whole: &str) -> Option<Tok> {
        if self.peek(0) != Some(' ') {
            return None;
        }
        let digits = |from: usize| {
            (from..self.s.len())
                .take_while(|&k| self.s[k].is_ascii_digit())
                .count()
        };
        let a = self.i + 1;
        let na = digits(a);
        if na == 0 || self.s.get(a + na) != Some(&'/') {
            return None;
        }
        let b = a + na + 1;
        let nb = digits(b);
        let after = self.s.get(b + nb);
        if nb == 0 || after.is_some_and(|c| c.is_ascii_digit() || *c == '.' || *c == '/') {
            return None;
        }
        let num: String = self.s[a..a + na].iter().collect();
        let den: String = self.s[b..b + nb].iter().collect();
        let proper = match (num.parse::<u128>(), den.parse::<u128>()) {
            (Ok(n), Ok(d)) => d != 0 && n < d,
            _ => false,
        };
        if !proper {
            return None;
        }
        self.i = b + nb;
        Some(Tok::Mixed(whole.to_string(), num, den))
    }

    /// Length of a thousands separator at the cursor when three digits (and no
    /// fourth) follow it, else 0.
    fn thousands_separator_len(&self) -> usize {
        let mut len = 0;
        for pat in ["{,}", ",\\!", "\\,", ",\\,", ", \\!"] {
            if self.starts_with(pat) {
                len = pat.chars().count();
                break;
            }
        }
        if len == 0 {
            return 0;
        }
        let mut k = self.i + len;
        while self.s.get(k) == Some(&' ') {
            k += 1;
        }
        let digits = (0..4)
            .take_while(|j| self.s.get(k + j).is_some_and(|c| c.is_ascii_digit()))
            .count();
        if digits == 3 {
            k - self.i
        } else {
            0
        }
    }

    fn relation(&mut self) -> Result<(), ParseError> {
        let c = self.peek(0).unwrap_or(' ');
        let eq_next = self.peek(1) == Some('=');
        let tok = match (c, eq_next) {
            ('<', true) => Tok::Rel(RelOp::Le),
            ('>', true) => Tok::Rel(RelOp::Ge),
            ('!', true) => Tok::Rel(RelOp::Ne),
            ('<', false) => Tok::Rel(RelOp::Lt),
            ('>', false) => Tok::Rel(RelOp::Gt),
            ('=', _) => {
                self.i += 1;
                // `==` reads as a single equals sign.
                if self.peek(0) == Some('=') {
                    self.i += 1;
                }
                return self.push(Tok::Rel(RelOp::Eq));
            }
            _ => {
                self.i += 1;
                return self.push(Tok::Op('!'));
            }
        };
        self.i += if eq_next { 2 } else { 1 };
        self.push(tok)
    }

    fn word(&mut self) -> Result<(), ParseError> {
        let start = self.i;
        while self.peek(0).is_some_and(|c| c.is_ascii_alphabetic()) {
            self.i += 1;
        }
        let w: String = self.s[start..self.i].iter().collect();
        let lower = w.to_ascii_lowercase();
        match lower.as_str() {
            "and" | "or" => return self.push(Tok::Sep),
            "pct" | "percent" | "percentage" => return self.percent_word(&w),
            "infty" | "infinity" => return self.push(Tok::Cmd("infty".into())),
            _ => {}
        }
        if WORD_FUNCS.contains(&w.as_str()) {
            return self.push(Tok::Cmd(w));
        }
        // A separator glued to the next word, as in `W(x)=1orW(x)=-1`.
        for sep in ["or", "and"] {
            if let Some(rest) = w.strip_prefix(sep) {
                let prev_closes = matches!(self.out.last(), Some(Tok::Num(_) | Tok::RParen));
                if prev_closes && rest.starts_with(|c: char| c.is_ascii_uppercase()) {
                    self.push(Tok::Sep)?;
                    for ch in rest.chars() {
                        self.push(Tok::Letter(ch.to_string()))?;
                    }
                    return Ok(());
                }
            }
        }
        for ch in w.chars() {
            self.push(Tok::Letter(ch.to_string()))?;
        }
        Ok(())
    }

    /// "percent" after a value marks a percentage (`60 percent`); with no value before
    /// it, as in `\text{Percentage} = 60\%`, the word names the quantity. A nested
    /// argument such as `\mathrm{percent}` does not see what precedes it and keeps the
    /// percentage reading.
    fn percent_word(&mut self, word: &str) -> Result<(), ParseError> {
        let after_value = match self.out.last() {
            None => self.depth > 0,
            // A factorial sign closes a value; other operators open one.
            Some(Tok::Op(c)) => *c == '!',
            Some(t) => !matches!(
                t,
                Tok::Rel(_)
                    | Tok::Sep
                    | Tok::LParen
                    | Tok::LBrack
                    | Tok::LBrace
                    | Tok::LSet
                    | Tok::RowSep
                    | Tok::Begin(_)
                    | Tok::Pm
                    | Tok::Mp
                    | Tok::Cup
                    | Tok::Cap
            ),
        };
        if after_value {
            self.push(Tok::Percent)
        } else {
            self.push(Tok::Text(word.to_string()))
        }
    }

    /// Reads a balanced `{...}` argument at the cursor (after optional spaces).
    fn braced_arg(&mut self) -> Result<String, ParseError> {
        while self.peek(0) == Some(' ') {
            self.i += 1;
        }
        if self.peek(0) != Some('{') {
            // A one-character argument such as `\text x`.
            return match self.peek(0) {
                Some(c) => {
                    self.i += 1;
                    Ok(c.to_string())
                }
                None => Err(ParseError::Unbalanced),
            };
        }
        let mut depth = 0usize;
        let start = self.i + 1;
        while let Some(c) = self.peek(0) {
            match c {
                '\\' => self.i += 1,
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        let inner: String = self.s[start..self.i].iter().collect();
                        self.i += 1;
                        return Ok(inner);
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        Err(ParseError::Unbalanced)
    }

    fn command(&mut self) -> Result<(), ParseError> {
        self.i += 1; // the backslash
        let Some(c) = self.peek(0) else {
            return Ok(());
        };
        if !c.is_ascii_alphabetic() {
            self.i += 1;
            return match c {
                '{' => self.push(Tok::LSet),
                '}' => self.push(Tok::RSet),
                '\\' => self.push(Tok::RowSep),
                '%' => self.push(Tok::Percent),
                '|' => self.push(Tok::Op('|')),
                // Spacing (`\,` `\!` `\;` `\:` `\ `), `\$`, `\&`: no meaning here.
                _ => Ok(()),
            };
        }
        let start = self.i;
        while self.peek(0).is_some_and(|c| c.is_ascii_alphabetic()) {
            self.i += 1;
        }
        let name: String = self.s[start..self.i].iter().collect();
        let n = name.as_str();
        if IGNORED.contains(&n) {
            if matches!(n, "left" | "right" | "middle") && self.peek(0) == Some('.') {
                self.i += 1;
            }
            return Ok(());
        }
        if TRANSPARENT.contains(&n) {
            let inner = self.braced_arg()?;
            // `\mathrm{~km}`, `\mathrm{cm}`: upright words after a value are units.
            let word = inner.trim_matches(|c: char| c == '~' || c.is_whitespace());
            let spaced = inner.starts_with(['~', ' ']) || inner.starts_with("\\,");
            let is_word = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphabetic());
            if n.starts_with("math")
                && n != "mathbf"
                && is_word
                && (((spaced || word.len() >= 2)
                    && matches!(
                        self.out.last(),
                        Some(Tok::Num(_) | Tok::RBrace | Tok::RParen)
                    ))
                    || matches!(self.out.as_slice(), [.., Tok::Text(_), Tok::Op('/' | '*')]))
            {
                return self.push(Tok::Text(word.to_string()));
            }
            let budget = self.max_tokens.saturating_sub(self.out.len());
            let toks = lex_nested(&inner, budget, self.depth + 1)?;
            // `\mathrm{e}` and `\operatorname{sin}` keep their meaning; longer words
            // stay together as one name.
            if toks.len() > 1
                && toks.iter().all(|t| matches!(t, Tok::Letter(_)))
                && n != "operatorname"
            {
                return self.push(Tok::Letter(inner.trim().to_string()));
            }
            for t in toks {
                self.push(t)?;
            }
            return Ok(());
        }
        if TEXTUAL.contains(&n) {
            let inner = self.braced_arg()?;
            let t = inner.trim().trim_matches(',').trim();
            let lower = t.to_ascii_lowercase();
            return match lower.as_str() {
                "" => Ok(()),
                "and" | "or" | ", and" | "and/or" => self.push(Tok::Sep),
                "%" => self.push(Tok::Percent),
                "pct" | "percent" | "percentage" => self.percent_word(t),
                _ => self.push(Tok::Text(t.to_string())),
            };
        }
        let tok = match n {
            "frac" | "dfrac" | "tfrac" | "cfrac" => Tok::Cmd("frac".into()),
            "binom" | "dbinom" | "tbinom" | "choose" => Tok::Cmd("binom".into()),
            "cdot" | "times" | "ast" => Tok::Op('*'),
            "div" => Tok::Op('/'),
            "le" | "leq" | "leqslant" | "leqq" => Tok::Rel(RelOp::Le),
            "ge" | "geq" | "geqslant" | "geqq" => Tok::Rel(RelOp::Ge),
            "lt" => Tok::Rel(RelOp::Lt),
            "gt" => Tok::Rel(RelOp::Gt),
            "ne" | "neq" => Tok::Rel(RelOp::Ne),
            "approx" | "simeq" | "cong" => Tok::Rel(RelOp::Approx),
            "equiv" => Tok::Rel(RelOp::Eq),
            "doteq" | "fallingdotseq" | "thickapprox" => Tok::Rel(RelOp::Approx),
            "in" => Tok::Rel(RelOp::In),
            "pm" => Tok::Pm,
            "mp" => Tok::Mp,
            "cup" => Tok::Cup,
            "cap" => Tok::Cap,
            "circ" | "degree" => Tok::Degree,
            "lfloor" => Tok::LFloor,
            "rfloor" => Tok::RFloor,
            "lceil" => Tok::LCeil,
            "rceil" => Tok::RCeil,
            "vert" | "lvert" | "rvert" | "mid" => Tok::Op('|'),
            "lbrace" => Tok::LSet,
            "rbrace" => Tok::RSet,
            "langle" => Tok::LParen,
            "rangle" => Tok::RParen,
            "colon" => Tok::Op(':'),
            "begin" | "end" => {
                let env = self.braced_arg()?;
                let env = env.trim_end_matches('*').to_string();
                if n == "begin" {
                    if env == "array" {
                        // Column specification, such as `{cc}`.
                        self.braced_arg()?;
                    }
                    Tok::Begin(env)
                } else {
                    Tok::End(env)
                }
            }
            _ if GREEK.contains(&n) => Tok::Letter(name.clone()),
            _ => Tok::Cmd(name.clone()),
        };
        self.push(tok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators_join_digits() {
        let t = lex("14{,}916", 100).unwrap();
        assert_eq!(t, vec![Tok::Num("14916".into())]);
        let t = lex("11,\\! 111,\\! 100", 100).unwrap();
        assert_eq!(t, vec![Tok::Num("11111100".into())]);
    }

    #[test]
    fn text_words_become_separators_or_text() {
        let t = lex("6 \\text{ and } 8", 100).unwrap();
        assert_eq!(t[1], Tok::Sep);
        let t = lex("\\text{Evelyn}", 100).unwrap();
        assert_eq!(t, vec![Tok::Text("Evelyn".into())]);
    }

    #[test]
    fn token_budget_is_enforced() {
        assert_eq!(lex(&"1+".repeat(100), 10), Err(ParseError::TooLarge));
    }
}
