//! Final-answer extraction and symbolic equivalence checking.
//!
//! [`extract`] finds the final answer in free text (the last `\boxed{}`, "the final
//! answer is ...", `$...$` spans, `#### 42`, plain numbers) in a configurable priority
//! order. [`check`] extracts the answer from a gold text and a predicted text, parses
//! both into one expression tree and decides whether they denote the same object,
//! with a [`Status`] and a short reason. All work is bounded: pathological input yields an undecided
//! verdict rather than a hang.
//!
//! Module map:
//! - `rational` — exact fractions over `i128`, overflow-checked.
//! - `expr` — the expression tree.
//! - `lexer`, `parse` — LaTeX and plain notation to trees.
//! - `eval` — exact and complex floating-point evaluation under a step budget.
//! - `equiv` — equivalence of two trees (numbers, expressions, relations, sets, ...).
//! - `extract` — candidate answers in free text, by priority.
//! - `clock` — times of day (`4:30`, `4:30 p.m.`), compared as clock readings.
//! - `options` — checker options mirroring the labelled case set.
//! - `batch` — JSON Lines checking with per-line options.

pub mod batch;
mod clock;
mod equiv;
mod eval;
pub mod expr;
mod extract;
mod lexer;
mod normalize;
mod options;
pub mod parse;
pub mod rational;

pub use extract::{extract, ExtractOptions, Extracted, Source};
pub use options::Options;

use clock::Clock;
use expr::Expr;
use parse::ParseLimits;
use serde::{Deserialize, Serialize};

/// Why a text could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("empty expression")]
    Empty,
    #[error("unexpected {0}")]
    Unexpected(String),
    #[error("expected {0}")]
    Expected(String),
    #[error("unparsed trailing {0}")]
    Trailing(String),
    #[error("unbalanced braces")]
    Unbalanced,
    #[error("bad number {0}")]
    BadNumber(String),
    #[error("unsupported {0}")]
    Unsupported(String),
    #[error("input too large")]
    TooLarge,
    #[error("nesting too deep")]
    TooDeep,
}

/// What [`check`] concluded, one word per outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The two answers denote the same object.
    Equivalent,
    /// Both answers were found and compared, and they differ.
    Different,
    /// The prediction holds no answer at all: graded as not equivalent.
    NoAnswer,
    /// The checker cannot decide: the gold answer is missing, an answer does not
    /// parse, the two forms cannot be compared, or the bounded work ran out.
    Undecided,
}

impl Status {
    /// The status as a yes/no: `None` only when undecided.
    pub fn equivalent(self) -> Option<bool> {
        match self {
            Status::Equivalent => Some(true),
            Status::Different | Status::NoAnswer => Some(false),
            Status::Undecided => None,
        }
    }

    /// The serialised name: `equivalent`, `different`, `no_answer` or `undecided`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Equivalent => "equivalent",
            Status::Different => "different",
            Status::NoAnswer => "no_answer",
            Status::Undecided => "undecided",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of [`check`]. `equivalent` is `status.equivalent()`, kept as a field
/// for callers that only need a yes/no: it is `None` exactly when `status` is
/// [`Status::Undecided`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub equivalent: Option<bool>,
    pub status: Status,
    pub reason: String,
}

impl Verdict {
    fn new(status: Status, reason: impl Into<String>) -> Verdict {
        Verdict {
            equivalent: status.equivalent(),
            status,
            reason: reason.into(),
        }
    }

    /// A verdict from a yes/no/undecided judgement.
    fn judged(equal: Option<bool>, reason: impl Into<String>) -> Verdict {
        let status = match equal {
            Some(true) => Status::Equivalent,
            Some(false) => Status::Different,
            None => Status::Undecided,
        };
        Verdict::new(status, reason)
    }
}

/// An extracted and parsed answer.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The answer text as found.
    pub text: String,
    pub expr: Expr,
}

/// Candidates tried per text before giving up.
const MAX_CANDIDATES: usize = 64;

/// Candidates up to this priority state the answer: a box, "the final answer is",
/// "answer: X". When one of them does not parse, no weaker candidate stands in for
/// it.
const STATED: u32 = 100;

/// Finds and parses the answer in `text`: the best-priority candidate that parses.
/// Returns the first candidate's text with `Err` when nothing parses. A stated answer
/// (a box, an answer phrase) that does not parse is not replaced by some other math
/// of the text, which is rarely the answer: `\boxed{f(n) = 0 \text{ for all } n}`
/// must not become the `n` of an earlier sentence.
pub fn parse_answer(text: &str, opts: &Options) -> Result<Parsed, Option<String>> {
    let candidates = extract(text, &opts.extract_options());
    let mut failed_latex: Vec<(usize, usize)> = Vec::new();
    let mut stated_failed = false;
    let mut first_text = None;
    // Each failed candidate costs a parse; a text full of math spans stops early.
    for c in candidates.iter().take(MAX_CANDIDATES) {
        if stated_failed && c.priority > STATED {
            break;
        }
        if c.source == Source::Number
            && failed_latex
                .iter()
                .any(|&(lo, hi)| c.start < hi && c.end > lo)
        {
            continue;
        }
        if first_text.is_none() {
            first_text = Some(c.text());
        }
        match parse_candidate(c) {
            Some(expr) => {
                return Ok(Parsed {
                    text: c.text(),
                    expr,
                })
            }
            None => {
                if matches!(c.source, Source::Latex | Source::Boxed) {
                    failed_latex.push((c.start, c.end));
                }
                stated_failed |= c.priority <= STATED;
            }
        }
    }
    Err(first_text)
}

/// Parses every part of a candidate; several parts make one list.
fn parse_candidate(c: &Extracted) -> Option<Expr> {
    let limits = ParseLimits::default();
    let mut items = Vec::new();
    for part in &c.parts {
        let mut e = parse::parse(&part.text, limits).ok()?;
        if part.percent {
            e = Expr::Percent(Box::new(e));
        }
        items.push(e);
    }
    if items.len() == 1 {
        return items.pop();
    }
    let mut flat = Vec::new();
    for e in items {
        match e {
            Expr::List(v) | Expr::Set(v) => flat.extend(v),
            other => flat.push(other),
        }
    }
    Some(Expr::List(flat))
}

/// Decides whether the answer in `pred` is equivalent to the answer in `gold`.
pub fn check(gold: &str, pred: &str, opts: &Options) -> Verdict {
    let g = parse_answer(gold, opts);
    let p = parse_answer(pred, opts);
    match (g, p) {
        (Ok(g), Ok(p)) => {
            if let (Some(a), Some(b)) = (Clock::parse(&g.text), Clock::parse(&p.text)) {
                let j = clock::compare(a, b);
                return Verdict::judged(j.equal, j.reason);
            }
            let j = equiv::equivalent(&g.expr, &p.expr, opts);
            if j.equal != Some(true) && same_text(&g.text, &p.text) {
                return Verdict::new(Status::Equivalent, "identical answer text");
            }
            Verdict::judged(j.equal, j.reason)
        }
        (Err(Some(gt)), Err(Some(pt)))
        | (Ok(Parsed { text: gt, .. }), Err(Some(pt)))
        | (Err(Some(gt)), Ok(Parsed { text: pt, .. })) => {
            if same_text(&gt, &pt) {
                Verdict::new(Status::Equivalent, "identical answer text")
            } else {
                Verdict::new(Status::Undecided, "an answer could not be parsed")
            }
        }
        (Err(None), _) => Verdict::new(Status::Undecided, "no answer found in gold"),
        (_, Err(None)) => Verdict::new(Status::NoAnswer, "no answer found in prediction"),
    }
}

fn same_text(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let (a, b) = (norm(a), norm(b));
    !a.is_empty() && a == b
}
