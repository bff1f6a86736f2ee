//! Math spans: `$…$`, `$$…$$`, `\(…\)`, `\[…\]`, ` […] ` and bare `\frac{a}{b}`,
//! grouped when joined by "and", "or" or commas.

use super::{
    anchor_priority, escaped, lower, percent_after, starts_at, string, Extracted, Part, Source,
};

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
pub(super) fn spans(s: &[char], out: &mut Vec<Extracted>) {
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
