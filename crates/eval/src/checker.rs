//! The `answer` crate as the search crate's [`AnswerChecker`]: `solve` and `eval` group
//! sampled answers with it and grade them against gold answers, and `prove` uses it to
//! notice when its best proofs reach different final answers (a sign that a verifier
//! passed a wrong proof).

use search::solve::AnswerChecker;

/// Extraction and equivalence from the symbolic checker, under one set of options.
pub struct Checker {
    pub opts: answer::Options,
}

impl Default for Checker {
    fn default() -> Self {
        Checker::new()
    }
}

impl Checker {
    pub fn new() -> Self {
        Checker {
            opts: answer::Options::default(),
        }
    }
}

impl AnswerChecker for Checker {
    fn extract(&self, text: &str) -> Option<String> {
        answer::parse_answer(text, &self.opts).ok().map(|p| p.text)
    }

    fn equivalent(&self, a: &str, b: &str) -> Option<bool> {
        answer::check(&boxed(a), &boxed(b), &self.opts).equivalent
    }
}

/// Extracted answers are bare math; a box makes the checker read them as a whole.
pub fn boxed(a: &str) -> String {
    format!("\\boxed{{{a}}}")
}

/// Is `answer` (an extracted final answer) right against `gold`? `None` without a gold
/// answer or when the checker cannot decide; a missing answer is wrong.
pub fn grade(gold: Option<&str>, answer: Option<&str>, checker: &Checker) -> Option<bool> {
    let gold = gold?;
    match answer {
        None => Some(false),
        Some(a) => answer::check(gold, &boxed(a), &checker.opts).equivalent,
    }
}
