//! Plain numbers and arithmetic in prose (`1,000.99`, `2,74 €`, `\$18.90`, `3 + 4`,
//! `#### 42`) and times of day (`4:30 p.m.`), with anchor priorities of their own.

use super::{lower, percent_after, starts_at, string, Extracted, Part, Source};

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
pub(super) fn numbers(s: &[char], out: &mut Vec<Extracted>) {
    let mut i = 0;
    while i < s.len() {
        let prefix_ok = i == 0
            || s[i - 1].is_whitespace()
            || s[i - 1] == '='
            || (i >= 2 && starts_at(s, i - 2, "**"));
        // `\$18.90`: an escaped dollar is money, not a math delimiter.
        let escaped_dollar = starts_at(s, i, "\\$");
        if !prefix_ok
            || !(s[i].is_ascii_digit()
                || matches!(s[i], '-' | '(' | '.')
                || CURRENCY.contains(s[i])
                || escaped_dollar)
        {
            i += 1;
            continue;
        }
        let mut j = i;
        if escaped_dollar {
            j += 2;
            while s.get(j) == Some(&' ') {
                j += 1;
            }
        } else if CURRENCY.contains(s[j]) {
            j += 1;
        }
        if let Some(end) = (j == i).then(|| time_at(s, j)).flatten() {
            out.push(Extracted {
                parts: vec![Part {
                    text: string(s, j, end),
                    percent: false,
                }],
                source: Source::Number,
                priority: number_priority(s, i, end),
                start: j,
                end,
            });
            i = end;
            continue;
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

/// A time of day at `j`: `4:30`, `16:05:30`, `4:30 p.m.`, `11:15 AM`, with one or
/// two hour digits and exactly two minute digits. Returns its end.
fn time_at(s: &[char], j: usize) -> Option<usize> {
    let digits = |from: usize| {
        (from..s.len())
            .take_while(|&p| s[p].is_ascii_digit())
            .count()
    };
    let hour = digits(j);
    if !(1..=2).contains(&hour) || s.get(j + hour) != Some(&':') {
        return None;
    }
    let mut end = j + hour + 1;
    if digits(end) != 2 {
        return None;
    }
    end += 2;
    if s.get(end) == Some(&':') && digits(end + 1) == 2 {
        end += 3;
    }
    let mut k = end;
    while s.get(k) == Some(&' ') {
        k += 1;
    }
    for marker in ["a.m.", "p.m.", "am", "pm", "AM", "PM", "A.M.", "P.M."] {
        if starts_at(s, k, marker) && !s.get(k + marker.len()).is_some_and(|c| c.is_alphanumeric())
        {
            return Some(k + marker.len());
        }
    }
    suffix_ok(s, end).then_some(end)
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
