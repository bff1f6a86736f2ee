//! Finding the final answer in free text.
//!
//! Candidates come from three sources: `\boxed{}`/`\fbox{}` (nested braces, several
//! boxes joined by "and" or commas), LaTeX math spans (`$…$`, `$$…$$`, `\(…\)`,
//! `\[…\]`, joined by "and"/"or"/","), and plain numbers or arithmetic in prose
//! (`1,000.99`, `2,74 €`, `#### 42`). Each candidate gets a priority from its anchor:
//! "final answer is X. I hope" (0), "final answer … is X" (50), "answer: … X" (100),
//! "answer … X" (200), unanchored (300); boxes get [`ExtractOptions::boxed_priority`].
//! Candidates are returned best first and, within a priority, rightmost first: the
//! last answer in a text is usually the final one.

use serde::Serialize;

/// Which extractors run and how boxes rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Math spans and boxes.
    pub latex: bool,
    /// Plain numbers and arithmetic in prose.
    pub expr: bool,
    /// Multiple-choice letters A-E: "the answer is (C)", "Answer: B", "**D**".
    pub choice: bool,
    pub boxed_priority: u32,
    /// Longer texts are cut to their last `max_len` characters.
    pub max_len: usize,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            latex: true,
            expr: true,
            choice: false,
            boxed_priority: 0,
            max_len: 100_000,
        }
    }
}

/// Where a candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Boxed,
    Latex,
    Number,
    /// The whole (short) text.
    Whole,
    /// A multiple-choice letter.
    Choice,
}

/// One piece of an answer; several pieces (`\boxed{1} and \boxed{2}`) form a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Part {
    pub text: String,
    /// Followed by a percent sign or word.
    pub percent: bool,
}

/// A candidate answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Extracted {
    pub parts: Vec<Part>,
    pub source: Source,
    pub priority: u32,
    /// Character offsets of the candidate in the (possibly shortened) text.
    pub start: usize,
    pub end: usize,
}

impl Extracted {
    /// The answer text, pieces joined with ", ".
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .map(|p| {
                if p.percent {
                    format!("{}%", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// All candidate answers in `text`, best first.
pub fn extract(text: &str, opts: &ExtractOptions) -> Vec<Extracted> {
    let all: Vec<char> = text.chars().collect();
    let s: &[char] = if all.len() > opts.max_len {
        &all[all.len() - opts.max_len..]
    } else {
        &all
    };
    let mut out = Vec::new();
    if opts.latex {
        boxes(s, opts.boxed_priority, &mut out);
        spans(s, &mut out);
    }
    if opts.expr {
        numbers(s, &mut out);
    }
    if opts.latex && opts.expr {
        whole(s, &mut out);
    }
    if opts.choice {
        choices(s, &mut out);
    }
    // One to three plain words with nothing recognisable (a bare answer such as `Monday`) are
    // their own answer, as text, last of all.
    let plain: String = s.iter().collect();
    let words = plain.split_whitespace().count();
    if out.is_empty()
        && opts.latex
        && (1..=3).contains(&words)
        && !plain.contains(['$', '\\', '{', '}'])
        && plain.chars().any(char::is_alphabetic)
    {
        out.push(Extracted {
            parts: vec![Part {
                text: format!("\\text{{{}}}", plain.trim()),
                percent: false,
            }],
            source: Source::Whole,
            priority: 400,
            start: 0,
            end: s.len(),
        });
    }
    out.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then(b.end.cmp(&a.end))
            .then(a.start.cmp(&b.start))
    });
    out.dedup();
    out
}

fn starts_at(s: &[char], i: usize, pat: &str) -> bool {
    (i..).zip(pat.chars()).all(|(k, c)| s.get(k) == Some(&c))
}

fn escaped(s: &[char], i: usize) -> bool {
    i > 0 && s[i - 1] == '\\'
}

fn string(s: &[char], a: usize, b: usize) -> String {
    s[a.min(b)..b].iter().collect()
}

fn lower(s: &[char], a: usize, b: usize) -> String {
    string(s, a, b).to_lowercase()
}

/// A percent sign or word right after position `i` (spaces allowed): returns the
/// position after it.
fn percent_after(s: &[char], i: usize) -> Option<usize> {
    let mut k = i;
    while s.get(k).is_some_and(|c| c.is_whitespace()) {
        k += 1;
    }
    for pat in [
        "\\%",
        "%",
        "percentage",
        "Percentage",
        "percent",
        "Percent",
        "pct",
        "Pct",
    ] {
        if starts_at(s, k, pat) {
            return Some(k + pat.chars().count());
        }
    }
    None
}

/// `\boxed{...}` and `\fbox{...}` with balanced braces; an unclosed box runs to the end.
fn boxes(s: &[char], priority: u32, out: &mut Vec<Extracted>) {
    let mut found: Vec<(usize, usize, String)> = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let name_len = if starts_at(s, i, "\\boxed") {
            6
        } else if starts_at(s, i, "\\fbox") {
            5
        } else {
            i += 1;
            continue;
        };
        let mut k = i + name_len;
        while s.get(k) == Some(&' ') {
            k += 1;
        }
        if s.get(k) != Some(&'{') {
            i += name_len;
            continue;
        }
        let mut depth = 0usize;
        let mut j = k;
        let mut close = None;
        while j < s.len() {
            match s[j] {
                '\\' => j += 1,
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(j);
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        let (content, end) = match close {
            Some(c) => (string(s, k + 1, c), c + 1),
            None => (string(s, k + 1, s.len()), s.len()),
        };
        found.push((i, end, content));
        i = end.max(i + 1);
    }
    // Join neighbouring boxes separated only by connectives into one answer.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (idx, b) in found.iter().enumerate() {
        let joins = idx > 0 && connective_gap(s, found[idx - 1].1, b.0);
        match groups.last_mut() {
            Some(g) if joins => g.push(idx),
            _ => groups.push(vec![idx]),
        }
    }
    for g in groups {
        let (first, last) = (found[g[0]].0, found[g[g.len() - 1]].1);
        let parts = g
            .iter()
            .map(|&k| {
                let after = skip_math_close(s, found[k].1);
                Part {
                    text: found[k].2.trim().to_string(),
                    percent: percent_after(s, after).is_some(),
                }
            })
            .collect();
        out.push(Extracted {
            parts,
            source: Source::Boxed,
            priority,
            start: first,
            end: last,
        });
    }
}

fn skip_math_close(s: &[char], mut i: usize) -> usize {
    loop {
        if s.get(i) == Some(&'$') {
            i += 1;
        } else if starts_at(s, i, "\\)") || starts_at(s, i, "\\]") {
            i += 2;
        } else {
            return i;
        }
    }
}

/// Is the text between two boxes only a connective: "and", "or", commas, spacing,
/// math delimiters, symbols (`\boxed{1} and \boxed{2}` but not `\boxed{1} no no \boxed{2}`)?
fn connective_gap(s: &[char], a: usize, b: usize) -> bool {
    if b < a || b - a > 80 {
        return false;
    }
    let gap = string(s, a, b)
        .replace("\\text", " ")
        .replace("\\qquad", " ")
        .replace("\\quad", " ")
        .replace("\\textbf", " ");
    let words: Vec<String> = gap
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
        .collect();
    words.is_empty() || words.iter().any(|w| w == "and" || w == "or")
}

/// A short text without prose words is itself a candidate answer (`x=3`,
/// `W(x)=1 or W(x)=-1`), ranked after anchored answers and before bare numbers.
fn whole(s: &[char], out: &mut Vec<Extracted>) {
    if s.len() > 300 || s.is_empty() {
        return;
    }
    let text: String = s.iter().collect();
    let prose = text.split_whitespace().any(|w| {
        w.chars().count() >= 2
            && w.chars().all(|c| c.is_alphabetic())
            && !matches!(
                w.to_lowercase().as_str(),
                "and" | "or" | "pct" | "percent" | "percentage"
            )
    });
    if prose || text.contains('$') || text.contains("\\(") || text.contains("\\[") {
        return;
    }
    out.push(Extracted {
        parts: vec![Part {
            text: text.trim().to_string(),
            percent: false,
        }],
        source: Source::Whole,
        priority: 250,
        start: 0,
        end: s.len(),
    });
}

/// A letter A-E standing alone (optionally in parentheses or bold) after an answer
/// phrase, or a text that is just such a letter. Unanchored letters in prose are
/// ignored: "A" is also a word.
fn choices(s: &[char], out: &mut Vec<Extracted>) {
    let text: String = s.iter().collect();
    let bare = text
        .trim()
        .trim_matches(|c: char| c == '*' || c == '(' || c == ')' || c == '.');
    if bare.len() == 1 && bare.chars().all(|c| ('A'..='E').contains(&c)) {
        out.push(choice_at(bare, 0, s.len(), 240));
    }
    for i in 0..s.len() {
        if !('A'..='E').contains(&s[i]) {
            continue;
        }
        let before_ok = i == 0 || matches!(s[i - 1], ' ' | '(' | '*' | '\n' | ':');
        let after_ok = s
            .get(i + 1)
            .is_none_or(|c| matches!(c, ')' | '*' | '.' | ',' | ':' | ' ' | '\n'));
        if !before_ok || !after_ok || (i > 0 && s[i - 1].is_alphanumeric()) {
            continue;
        }
        let priority = match anchor_priority(s, i, i + 1) {
            p if p <= 200 => p,
            _ => continue,
        };
        out.push(choice_at(&s[i].to_string(), i, i + 1, priority));
    }
}

fn choice_at(letter: &str, start: usize, end: usize, priority: u32) -> Extracted {
    Extracted {
        parts: vec![Part {
            text: format!("\\text{{{letter}}}"),
            percent: false,
        }],
        source: Source::Choice,
        priority,
        start,
        end,
    }
}

/// One math span: start, end (after the closing delimiter) and content.
struct Span {
    start: usize,
    end: usize,
    content: String,
    percent: bool,
}

/// Longest math span considered; bounds the rescanning of unclosed delimiters.
const MAX_SPAN: usize = 20_000;

/// Position of the next unescaped `pat` from `from`, or `Err(stop)` with the position
/// where the search gave up (a newline for single-line spans, the end, or the limit).
fn find_unescaped(s: &[char], from: usize, pat: &str, single_line: bool) -> Result<usize, usize> {
    let mut k = from;
    let limit = s.len().min(from.saturating_add(MAX_SPAN));
    while k < limit {
        if single_line && s[k] == '\n' {
            return Err(k);
        }
        if starts_at(s, k, pat) && !escaped(s, k) {
            return Ok(k);
        }
        if s[k] == '\\' {
            k += 1;
        }
        k += 1;
    }
    Err(limit)
}

/// Searches for closing delimiters, remembering failures: once no `\)` closes before
/// position `stop`, no opener before `stop` needs to search again. This keeps a text
/// full of unclosed delimiters linear.
struct Closer {
    failed_until: [usize; 4],
}

impl Closer {
    fn find(
        &mut self,
        s: &[char],
        kind: usize,
        from: usize,
        pat: &str,
        line: bool,
    ) -> Option<usize> {
        if from < self.failed_until[kind] {
            return None;
        }
        match find_unescaped(s, from, pat, line) {
            Ok(j) => Some(j),
            Err(stop) => {
                self.failed_until[kind] = stop;
                None
            }
        }
    }
}

fn math_spans(s: &[char]) -> Vec<Span> {
    let mut out = Vec::new();
    let mut closer = Closer {
        failed_until: [0; 4],
    };
    let mut i = 0;
    while i < s.len() {
        let found: Option<(usize, usize, usize)> = if starts_at(s, i, "$$") && !escaped(s, i) {
            closer
                .find(s, 0, i + 2, "$$", false)
                .filter(|&j| j > i + 2)
                .map(|j| (i + 2, j, j + 2))
        } else if starts_at(s, i, "\\[") && !escaped(s, i) {
            closer
                .find(s, 1, i + 2, "\\]", false)
                .filter(|&j| j > i + 2)
                .map(|j| (i + 2, j, j + 2))
        } else if s[i] == '$' && !escaped(s, i) && !(i > 0 && s[i - 1].is_ascii_digit()) {
            closer
                .find(s, 2, i + 1, "$", true)
                .filter(|&j| j > i + 1)
                .map(|j| (i + 1, j, j + 1))
        } else if starts_at(s, i, "\\(") && !escaped(s, i) {
            closer
                .find(s, 3, i + 2, "\\)", true)
                .filter(|&j| j > i + 2)
                .map(|j| (i + 2, j, j + 2))
        } else if let Some(j) = simple_fraction(s, i) {
            Some((i, j, j))
        } else if s[i].is_whitespace() && s.get(i + 1) == Some(&'[') {
            let close = (i + 2..s.len())
                .take_while(|&k| !matches!(s[k], '\n' | '['))
                .find(|&k| s[k] == ']');
            close
                .filter(|&j| j > i + 2 && s.get(j + 1).is_some_and(|c| c.is_whitespace()))
                .map(|j| (i + 2, j, j + 1))
        } else {
            None
        };
        match found {
            Some((a, b, end)) => {
                let (percent, end) = match percent_after(s, end) {
                    Some(e) => (true, e),
                    None => (false, end),
                };
                out.push(Span {
                    start: if s[i].is_whitespace() { i + 1 } else { i },
                    end,
                    content: string(s, a, b),
                    percent,
                });
                i = end;
            }
            None => i += 1,
        }
    }
    out
}

/// A bare `\frac{12}{5}` (optionally negative) outside math delimiters: its end.
fn simple_fraction(s: &[char], i: usize) -> Option<usize> {
    let mut k = i;
    if s.get(k) == Some(&'-') {
        k += 1;
    }
    if !starts_at(s, k, "\\frac{") {
        return None;
    }
    k += 6;
    for close_open in [true, false] {
        let n = (k..s.len())
            .take_while(|&p| s[p].is_ascii_digit() || s[p] == '.' || s[p] == ',' || s[p] == '-')
            .count();
        if n == 0 {
            return None;
        }
        k += n;
        let pat = if close_open { "}{" } else { "}" };
        if !starts_at(s, k, pat) {
            return None;
        }
        k += pat.len();
    }
    Some(k)
}

/// Math spans, grouped when joined by "and", "or" or commas, with anchor priorities.
fn spans(s: &[char], out: &mut Vec<Extracted>) {
    let all = math_spans(s);
    let mut idx = 0;
    while idx < all.len() {
        let mut group = vec![idx];
        while group.len() < 6 {
            let last = &all[*group.last().unwrap_or(&idx)];
            let Some(next) = all.get(group.last().unwrap_or(&idx) + 1) else {
                break;
            };
            let gap = lower(s, last.end, next.start);
            let g = gap.trim();
            let g = g.strip_prefix(',').unwrap_or(g).trim();
            if matches!(g, "" | "and" | "or")
                && gap.contains(|c: char| c == ',' || c.is_alphabetic())
            {
                group.push(group.last().unwrap_or(&idx) + 1);
            } else {
                break;
            }
        }
        let start = all[group[0]].start;
        let end = all[*group.last().unwrap_or(&idx)].end;
        let parts = group
            .iter()
            .map(|&k| Part {
                text: all[k].content.trim().to_string(),
                percent: all[k].percent,
            })
            .collect();
        out.push(Extracted {
            parts,
            source: Source::Latex,
            priority: anchor_priority(s, start, end),
            start,
            end,
        });
        // Each span is also a candidate on its own (regex alternatives overlap).
        if group.len() > 1 {
            for &k in &group {
                out.push(Extracted {
                    parts: vec![Part {
                        text: all[k].content.trim().to_string(),
                        percent: all[k].percent,
                    }],
                    source: Source::Latex,
                    priority: anchor_priority(s, all[k].start, all[k].end).max(300),
                    start: all[k].start,
                    end: all[k].end,
                });
            }
        }
        idx = group.last().unwrap_or(&idx) + 1;
    }
}

/// Priority of a candidate at `start..end` from the words before and after it.
fn anchor_priority(s: &[char], start: usize, end: usize) -> u32 {
    let from = start.saturating_sub(160);
    let before = lower(s, from, start);
    let trimmed = before.trim_end();
    let after = string(s, end, (end + 12).min(s.len()));
    let hope = {
        let a = after.strip_prefix('.').unwrap_or(&after);
        let a = a.strip_prefix(char::is_whitespace).unwrap_or(a);
        a.starts_with("I hope")
    };
    let t = trimmed.strip_suffix(':').unwrap_or(trimmed);
    if hope && t.ends_with("final answer is") {
        return 0;
    }
    if t.ends_with(" is") || t.ends_with("\nis") {
        let upto = t.len() - 2;
        if let Some(p) = t[..upto].rfind("final answer") {
            let gap = t[p + 12..upto].chars().count();
            if gap <= 101 {
                return 50;
            }
        }
    }
    let near = lower(s, start.saturating_sub(57), start);
    if near.contains("answer:") {
        return 100;
    }
    let near = lower(s, start.saturating_sub(56), start);
    if near.contains("answer") {
        return 200;
    }
    300
}

const CURRENCY: &str = "$€£¥₹₽₪₩₫฿₡₢₣₤₥₦₧₨₭₮₯₰₱₲₳₴₵₶₷₸₺₻₼₾₿";

fn is_expr_char(c: char) -> bool {
    c.is_ascii_digit() || c == '.' || c.is_whitespace() || is_expr_op(c)
}

fn is_expr_op(c: char) -> bool {
    matches!(c, '+' | '-' | '*' | '×' | '/' | '^' | '(' | ')' | '÷')
}

fn suffix_ok(s: &[char], end: usize) -> bool {
    let mut k = end;
    if starts_at(s, k, "**") {
        k += 2;
    }
    match s.get(k) {
        None => true,
        Some(c) => matches!(c, '.' | ',' | ':' | ')' | '$') || c.is_whitespace(),
    }
}

/// An arithmetic expression starting at `j`: digits and operators with at least one
/// operator, ending before punctuation, a space or the end.
fn expr_at(s: &[char], j: usize) -> Option<usize> {
    let mut k = j;
    if s.get(k) == Some(&'-') {
        k += 1;
    }
    if s.get(k) == Some(&'(') {
        k += 1;
    }
    if s.get(k) == Some(&'-') {
        k += 1;
    }
    if !s.get(k).is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    let first_digit = k;
    let mut r = k + 1;
    while r < s.len() && is_expr_char(s[r]) && r - j < 200 {
        r += 1;
    }
    let mut end = r;
    while end > first_digit + 1 {
        let body = &s[first_digit + 1..end];
        let has_op = body
            .iter()
            .enumerate()
            .any(|(p, &c)| is_expr_op(c) && p + 1 < body.len());
        if has_op && suffix_ok(s, end) && !s[end - 1].is_whitespace() {
            return Some(end);
        }
        end -= 1;
    }
    None
}

/// A number starting at `j` (thousands separators, decimal comma, percent); returns
/// the normalised number text, end, and whether a percent follows.
fn number_at(s: &[char], j: usize) -> Option<(String, usize, bool)> {
    let digits_from = |k: usize| (k..s.len()).take_while(|&p| s[p].is_ascii_digit()).count();
    let mut k = j;
    let neg = s.get(k) == Some(&'-');
    if neg {
        k += 1;
    }
    let lead = digits_from(k);
    let mut int = String::new();
    let mut frac = String::new();
    let mut end;
    // Grouped thousands: 1-3 digits (not starting with 0), then ",ddd" or " ddd" groups.
    let mut grouped = false;
    if (1..=3).contains(&lead) && s[k] != '0' {
        let mut p = k + lead;
        let mut groups = 0;
        while matches!(s.get(p), Some(',') | Some(' ')) && digits_from(p + 1) >= 3 {
            if digits_from(p + 1) != 3 {
                break;
            }
            p += 4;
            groups += 1;
        }
        if groups > 0 {
            grouped = true;
            int = s[k..p].iter().filter(|c| c.is_ascii_digit()).collect();
            end = p;
            if s.get(p) == Some(&'.') && digits_from(p + 1) > 0 {
                let n = digits_from(p + 1);
                frac = string(s, p + 1, p + 1 + n);
                end = p + 1 + n;
            }
        } else {
            end = k;
        }
    } else {
        end = k;
    }
    if !grouped {
        if lead > 0 {
            int = string(s, k, k + lead);
            end = k + lead;
            if matches!(s.get(end), Some('.') | Some(',')) && digits_from(end + 1) > 0 {
                let n = digits_from(end + 1);
                frac = string(s, end + 1, end + 1 + n);
                end = end + 1 + n;
            }
        } else if !neg && s.get(k) == Some(&'.') && digits_from(k + 1) > 0 {
            let n = digits_from(k + 1);
            frac = string(s, k + 1, k + 1 + n);
            end = k + 1 + n;
        } else {
            return None;
        }
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let mut text = String::new();
    if neg {
        text.push('-');
    }
    text.push_str(int);
    if !frac.is_empty() {
        text.push('.');
        text.push_str(&frac);
    }
    let (percent, end) = match percent_after(s, end) {
        Some(e) => (true, e),
        None => (false, end),
    };
    Some((text, end, percent))
}

/// Plain numbers and arithmetic in prose, anchored after a space, `=` or the start.
fn numbers(s: &[char], out: &mut Vec<Extracted>) {
    let mut i = 0;
    while i < s.len() {
        let prefix_ok = i == 0
            || s[i - 1].is_whitespace()
            || s[i - 1] == '='
            || (i >= 2 && starts_at(s, i - 2, "**"));
        if !prefix_ok
            || !(s[i].is_ascii_digit()
                || matches!(s[i], '-' | '(' | '.')
                || CURRENCY.contains(s[i]))
        {
            i += 1;
            continue;
        }
        let mut j = i;
        if CURRENCY.contains(s[j]) {
            j += 1;
        }
        let found = if let Some(end) = (j == i).then(|| expr_at(s, j)).flatten() {
            let text: String = string(s, j, end).replace('×', "*").replace('÷', "/");
            Some((text, end, false))
        } else if j + 1 < s.len() || s.get(j).is_some_and(|c| c.is_ascii_digit()) {
            number_at(s, j)
        } else {
            None
        };
        let Some((text, end, percent)) = found else {
            i += 1;
            continue;
        };
        let priority = number_priority(s, i, end);
        out.push(Extracted {
            parts: vec![Part {
                text: text.trim().to_string(),
                percent,
            }],
            source: Source::Number,
            priority,
            start: j,
            end,
        });
        i = end.max(i + 1);
    }
    // GSM8K-style `#### 42`.
    if let Some(p) = (0..s.len()).rev().find(|&p| starts_at(s, p, "####")) {
        let mut k = p + 4;
        while s.get(k).is_some_and(|c| c.is_whitespace()) {
            k += 1;
        }
        if let Some((text, end, percent)) = number_at(s, k) {
            out.push(Extracted {
                parts: vec![Part { text, percent }],
                source: Source::Number,
                priority: 0,
                start: k,
                end,
            });
        }
    }
}

fn number_priority(s: &[char], start: usize, end: usize) -> u32 {
    let before = lower(s, start.saturating_sub(170), start);
    let t = before.trim_end();
    let t = t.strip_suffix(':').unwrap_or(t);
    let after = string(s, end, (end + 12).min(s.len()));
    let hope = {
        let a = after.strip_prefix('.').unwrap_or(&after);
        let a = a.strip_prefix(char::is_whitespace).unwrap_or(a);
        a.starts_with("I hope")
    };
    if hope && t.ends_with("final answer is") {
        return 0;
    }
    if t.ends_with(" is") || t.ends_with("\nis") {
        let upto = t.len() - 2;
        if let Some(p) = t[..upto].rfind("final answer") {
            if t[p + 12..upto].chars().count() <= 101 {
                return 50;
            }
        }
    }
    let rest = string(s, end, (end + 20).min(s.len()));
    if rest.trim_start().starts_with('=') {
        return 300;
    }
    let near50 = lower(s, start.saturating_sub(57), start);
    let near100 = lower(s, start.saturating_sub(107), start);
    let eq_before = before.trim_end().ends_with('=');
    if near50.contains("answer:") || (eq_before && near100.contains("answer:")) {
        return 100;
    }
    if near50.contains("answer") || (eq_before && near100.contains("answer")) {
        return 200;
    }
    300
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(text: &str) -> String {
        extract(text, &ExtractOptions::default())
            .first()
            .map(|e| e.text())
            .unwrap_or_default()
    }

    #[test]
    fn last_box_wins_with_nested_braces() {
        assert_eq!(
            first("so \\boxed{1} then \\boxed{\\frac{1}{2}}."),
            "\\frac{1}{2}"
        );
    }

    #[test]
    fn boxes_joined_by_and() {
        assert_eq!(first("\\boxed{1} and \\boxed{2}"), "1, 2");
        assert_eq!(first("\\boxed{1} no no no \\boxed{2}"), "2");
    }

    #[test]
    fn final_answer_phrase_and_numbers() {
        assert_eq!(first("Final Answer: The largest $n$ is 34."), "34");
        assert_eq!(first("the number is 10 which is 1,000.99€"), "1000.99");
        assert_eq!(first("so 3 + 4\n#### 7"), "7");
    }

    #[test]
    fn choice_letters_after_an_answer_phrase() {
        let opts = ExtractOptions {
            choice: true,
            ..ExtractOptions::default()
        };
        let first = |t: &str| extract(t, &opts).first().map(|e| e.text());
        assert_eq!(
            first("A long story. The answer is (C)."),
            Some("\\text{C}".into())
        );
        assert_eq!(first("**B**"), Some("\\text{B}".into()));
        let prose = extract("A cat sat.", &opts);
        assert!(prose.iter().all(|e| e.source != Source::Choice));
    }

    #[test]
    fn inline_math_is_single_line() {
        assert_eq!(first("Answer $ \n 9 \n $"), "9");
        let c = extract(
            "Answer $ \n 9 \n $",
            &ExtractOptions {
                expr: false,
                ..Default::default()
            },
        );
        assert!(c.is_empty());
    }
}
