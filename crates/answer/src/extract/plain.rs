//! Answers without markup: a short text that is itself the answer, and
//! multiple-choice letters after an answer phrase or making up the whole text.

use super::{anchor_priority, escaped, Extracted, Part, Source};

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
    // An escaped `\$` is a currency sign (`\$18.90`), not a math delimiter.
    let math_dollar = (0..s.len()).any(|i| s[i] == '$' && !escaped(s, i));
    if prose || math_dollar || text.contains("\\(") || text.contains("\\[") {
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
/// ignored: "A" is also a word. A whole text may also be a list of letters
/// (`A, C`, `\text{(A), (C)}`) or a letter in parentheses followed by the text of
/// its option (`(C) 12`, `\textbf{(C) }12`): the letter is the answer.
pub(super) fn choices(s: &[char], out: &mut Vec<Extracted>) {
    let text: String = s.iter().collect();
    if let Some(letters) = whole_choice(&text) {
        out.push(choice_at(&letters, 0, s.len(), 240));
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
        out.push(choice_at(&[s[i]], i, i + 1, priority));
    }
}

/// Wrappings a choice letter is written in; each is removed from both ends.
const WRAPPERS: &[(&str, &str)] = &[
    ("$", "$"),
    ("\\(", "\\)"),
    ("\\boxed{", "}"),
    ("\\text{", "}"),
    ("\\textbf{", "}"),
    ("\\mathrm{", "}"),
    ("\\mathbf{", "}"),
    ("**", "**"),
    ("(", ")"),
];

/// Removes the wrappings of [`WRAPPERS`] (and a final full stop) from both ends.
fn unwrap_all(text: &str) -> &str {
    let mut t = text.trim();
    loop {
        let before = t;
        t = t.strip_suffix('.').unwrap_or(t).trim();
        for (open, close) in WRAPPERS {
            if let Some(inner) = t.strip_prefix(open).and_then(|x| x.strip_suffix(close)) {
                t = inner.trim();
            }
        }
        if t == before {
            return t;
        }
    }
}

/// The choice letters a whole text consists of, if it is nothing else: one letter
/// or a list of letters in any of the usual wrappings, or `(C)` followed by the text
/// of option C.
fn whole_choice(text: &str) -> Option<Vec<char>> {
    // `**B**`, `(C).`, `C)`: a letter with stray marks around it.
    let bare = text
        .trim()
        .trim_matches(|c: char| c == '*' || c == '(' || c == ')' || c == '.');
    if let Some(c) = choice_letter(bare) {
        return Some(vec![c]);
    }
    let t = unwrap_all(text);
    let items: Vec<&str> = t.split(',').flat_map(|x| x.split(" and ")).collect();
    let letters: Option<Vec<char>> = items.iter().map(|x| choice_letter(unwrap_all(x))).collect();
    if let Some(mut letters) = letters {
        letters.dedup();
        return Some(letters);
    }
    lettered_option(text).map(|c| vec![c])
}

fn choice_letter(t: &str) -> Option<char> {
    let mut chars = t.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if ('A'..='E').contains(&c) => Some(c),
        _ => None,
    }
}

/// `(C) 12`, `\textbf{(C) }12`, `**(C)** 12`: a letter in parentheses at the start
/// of a short one-line text, followed by its option's text. A text that names a
/// second option (`(A) 3 (B) 4`) is a list of options, not an answer.
fn lettered_option(text: &str) -> Option<char> {
    let t = text.trim();
    if t.chars().count() > 120 || t.contains('\n') {
        return None;
    }
    let mut rest = t;
    while let Some(inner) = ["**", "\\textbf{", "\\text{", "\\mathbf{", "\\mathrm{", "$"]
        .iter()
        .find_map(|open| rest.strip_prefix(open))
    {
        rest = inner.trim_start();
    }
    let rest = rest.strip_prefix('(')?;
    let letter = rest.chars().next().filter(|c| ('A'..='E').contains(c))?;
    let rest = rest[1..].strip_prefix(')')?;
    let option =
        rest.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '}' | '*' | '$'));
    let words: Vec<&str> = option.split_whitespace().collect();
    let names_another = words.iter().any(|w| {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric());
        choice_letter(w).is_some()
    });
    (!words.is_empty() && words.len() <= 6 && !names_another).then_some(letter)
}

/// A choice candidate: one part `\text{X}` per letter.
fn choice_at(letters: &[char], start: usize, end: usize, priority: u32) -> Extracted {
    Extracted {
        parts: letters
            .iter()
            .map(|l| Part {
                text: format!("\\text{{{l}}}"),
                percent: false,
            })
            .collect(),
        source: Source::Choice,
        priority,
        start,
        end,
    }
}
