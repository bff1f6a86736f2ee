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

mod boxes;
mod numbers;
mod plain;
mod spans;

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
        boxes::boxes(s, opts.boxed_priority, &mut out);
        spans::spans(s, &mut out);
    }
    if opts.expr {
        numbers::numbers(s, &mut out);
    }
    if opts.latex && opts.expr {
        plain::whole(s, &mut out);
    }
    if opts.choice {
        plain::choices(s, &mut out);
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
