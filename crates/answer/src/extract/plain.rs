//! Answers without markup: a short text that is itself the answer, and
//! multiple-choice letters after an answer phrase.

use super::{anchor_priority, Extracted, Part, Source};

/// A short text without prose words is itself a candidate answer (`x=3`,
/// `W(x)=1 or W(x)=-1`), ranked after anchored answers and before bare numbers.
pub(super) fn whole(s: &[char], out: &mut Vec<Extracted>) {
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
pub(super) fn choices(s: &[char], out: &mut Vec<Extracted>) {
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
