//! Parsing model outputs under the output protocol.
//!
//! A generator answers with a `## Solution` section followed by a `## Self Evaluation`
//! section that ends in `\boxed{0|0.5|1}`; a verifier or meta-verifier ends its review
//! with the score in `\boxed{}`. Model output is untrusted: every function here takes
//! any text, never panics, and reports why a sample does not follow the protocol. A
//! sample with a reason is stored as unparsable and never counts as a pass.

use llm::FinishReason;

/// The scores the protocol allows.
pub const SCORES: [f64; 3] = [0.0, 0.5, 1.0];

/// A parsed generator answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedProof {
    /// The `## Solution` section, trimmed.
    pub proof: Option<String>,
    /// The `## Self Evaluation` section, trimmed.
    pub self_eval: Option<String>,
    pub self_score: Option<f64>,
    /// Why the answer does not follow the protocol; `None` when it does.
    pub error: Option<String>,
}

/// A parsed verification or meta-verification.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedScore {
    pub score: Option<f64>,
    pub error: Option<String>,
}

/// Parse a generator answer (reasoning already removed).
pub fn parse_proof(text: &str, finish: FinishReason) -> ParsedProof {
    let mut out = ParsedProof {
        proof: None,
        self_eval: None,
        self_score: None,
        error: None,
    };
    let headings = headings(text);
    let solution = headings.iter().find(|h| h.kind == Heading::Solution);
    let evaluation = solution.and_then(|s| {
        headings
            .iter()
            .rev()
            .find(|h| h.kind == Heading::SelfEvaluation && h.start > s.start)
    });
    if let Some(s) = solution {
        let end = evaluation.map_or(text.len(), |e| e.start);
        let proof = text[s.body..end].trim();
        if !proof.is_empty() {
            out.proof = Some(proof.to_string());
        }
    }
    if let Some(e) = evaluation {
        out.self_eval = Some(text[e.body..].trim().to_string());
    }
    let scored = out.self_eval.as_deref().map(|s| final_score(s, false));
    if let Some(Ok(score)) = scored {
        out.self_score = Some(score);
    }
    out.error = if finish == FinishReason::Length {
        Some("truncated: the token limit was reached".into())
    } else if solution.is_none() {
        Some("no `## Solution` section".into())
    } else if out.proof.is_none() {
        Some("the `## Solution` section is empty".into())
    } else if evaluation.is_none() {
        Some("no `## Self Evaluation` section after the solution".into())
    } else if let Some(Err(e)) = scored {
        Some(format!("self evaluation: {e}"))
    } else {
        None
    };
    out
}

/// Parse a verification or meta-verification: the score is the last `\boxed{}`, and
/// the paragraph holding it must not box a different score. A review with no box at
/// all may still end on a line that states the score and nothing else
/// (`Final score: 1`, `**Score:** 0.5`), as small models often write it.
pub fn parse_judgement(text: &str, finish: FinishReason) -> ParsedScore {
    let scored = match final_score(text, true) {
        Err(e) if boxed(text).is_empty() => stated_score(text).ok_or(e),
        other => other,
    };
    let error = if finish == FinishReason::Length {
        Some("truncated: the token limit was reached".to_string())
    } else if text.trim().is_empty() {
        Some("empty answer".to_string())
    } else {
        scored.as_ref().err().cloned()
    };
    ParsedScore {
        score: scored.ok(),
        error,
    }
}

/// The final score of an evaluation. With `last_paragraph`, only the boxes in the
/// paragraph of the last box are compared (a review may quote boxed answers of the
/// proof earlier on); otherwise every box of `text` is.
fn final_score(text: &str, last_paragraph: bool) -> Result<f64, String> {
    let boxes = boxed(text);
    let Some((last_pos, last)) = boxes.last() else {
        return Err("no \\boxed{} score".into());
    };
    let value = score_value(last)
        .ok_or_else(|| format!("final score `{}` is not 0, 0.5 or 1", last.trim()))?;
    let region_start = if last_paragraph {
        text[..*last_pos].rfind("\n\n").unwrap_or(0)
    } else {
        0
    };
    for (pos, content) in &boxes {
        if *pos < region_start {
            continue;
        }
        if let Some(other) = score_value(content) {
            if other != value {
                return Err(format!(
                    "conflicting final scores: {} and {}",
                    fmt_score(other),
                    fmt_score(value)
                ));
            }
        }
    }
    Ok(value)
}

/// The score on the last non-empty line when that line is only a score label and a
/// value: an optional "final" or "overall", "score" or "grade", then `:`, `=` or
/// "is", then 0, 0.5 or 1 (Markdown emphasis and a closing period allowed).
fn stated_score(text: &str) -> Option<f64> {
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let plain: String = line
        .chars()
        .filter(|c| !matches!(c, '*' | '#' | '_' | '`'))
        .collect::<String>()
        .trim()
        .trim_end_matches('.')
        .to_lowercase();
    let rest = plain
        .strip_prefix("final")
        .or_else(|| plain.strip_prefix("overall"))
        .unwrap_or(&plain)
        .trim_start();
    let rest = rest
        .strip_prefix("score")
        .or_else(|| rest.strip_prefix("grade"))?
        .trim_start();
    let value = rest
        .strip_prefix(':')
        .or_else(|| rest.strip_prefix('='))
        .or_else(|| rest.strip_prefix("is "))?;
    score_value(value)
}

fn fmt_score(v: f64) -> String {
    if v == 0.5 {
        "0.5".into()
    } else {
        format!("{v:.0}")
    }
}

/// Read a score written as `1`, `1.0`, `0.5`, `.5`, `1/2` or `\frac{1}{2}`, possibly
/// inside `$` or `\text{}`. `None` for anything outside {0, 0.5, 1}.
pub fn score_value(raw: &str) -> Option<f64> {
    let mut s: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '$')
        .collect();
    for wrapper in ["\\text{", "\\mathbf{", "\\textbf{"] {
        if s.starts_with(wrapper) && s.ends_with('}') {
            s = s[wrapper.len()..s.len() - 1].to_string();
        }
    }
    let v = match s.as_str() {
        "1/2" | "\\frac{1}{2}" | "\\dfrac{1}{2}" | "\\tfrac{1}{2}" | "\\frac12" => 0.5,
        other => other.parse::<f64>().ok()?,
    };
    SCORES.iter().copied().find(|x| *x == v)
}

/// Every `\boxed{...}` of `text` as (byte position, contents), braces balanced and
/// escaped braces (`\{`, `\}`) skipped. An unclosed box (a cut-off answer) is ignored.
pub fn boxed(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(rel) = text[from..].find("\\boxed") {
        let pos = from + rel;
        let mut i = pos + "\\boxed".len();
        while i < bytes.len() && (bytes[i] == b' ') {
            i += 1;
        }
        from = pos + 1;
        if i >= bytes.len() || bytes[i] != b'{' {
            continue;
        }
        let open = i;
        let mut depth = 0usize;
        let mut close = None;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 1, // skip the escaped character
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(i);
                        break;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        if let Some(c) = close {
            out.push((pos, text[open + 1..c].to_string()));
            from = c;
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heading {
    Solution,
    SelfEvaluation,
}

/// A protocol heading: where its line starts and where its body starts.
struct Found {
    kind: Heading,
    start: usize,
    body: usize,
}

/// The `## Solution` and `## Self Evaluation` headings of `text` (any number of `#`,
/// any case, `Self-Evaluation` too, optional bold and colon, an optional `Part 2:`
/// before the name), or a line that is only the name in bold (`**Self Evaluation:**`,
/// as small instruct models write it).
fn headings(text: &str) -> Vec<Found> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let t = line.trim();
        let bold = t.len() > 4 && t.starts_with("**") && t.trim_end_matches(':').ends_with("**");
        if !t.starts_with('#') && !bold {
            continue;
        }
        let name: String = t
            .trim_start_matches('#')
            .chars()
            .filter(|c| !matches!(c, '*' | ':' | '_'))
            .collect::<String>()
            .trim()
            .to_ascii_lowercase()
            .replace('-', " ");
        let name = strip_part(&name);
        let kind = match name {
            "solution" => Heading::Solution,
            "self evaluation" => Heading::SelfEvaluation,
            _ => continue,
        };
        out.push(Found {
            kind,
            start,
            body: offset,
        });
    }
    out
}

/// A heading's name without a leading `part 2 ` (any numeral or letter).
fn strip_part(name: &str) -> &str {
    let Some(rest) = name.strip_prefix("part ") else {
        return name;
    };
    match rest.split_once(' ') {
        Some((numeral, after)) if numeral.chars().all(|c| c.is_ascii_alphanumeric()) => {
            after.trim_start()
        }
        _ => name,
    }
}

#[cfg(test)]
mod tests;
