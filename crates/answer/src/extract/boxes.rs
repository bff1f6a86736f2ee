//! `\boxed{...}` and `\fbox{...}` answers, with neighbouring boxes joined when only
//! a connective ("and", a comma) separates them.

use super::{percent_after, starts_at, string, Extracted, Part, Source};

/// `\boxed{...}` and `\fbox{...}` with balanced braces; an unclosed box runs to the end.
pub(super) fn boxes(s: &[char], priority: u32, out: &mut Vec<Extracted>) {
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
