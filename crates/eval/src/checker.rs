//! The `answer` crate as the search crate's [`AnswerChecker`]: `solve` groups sampled
//! answers with it, and `prove` uses it to notice when its best proofs reach different
//! final answers (a sign that a verifier passed a wrong proof).

use search::solve::AnswerChecker;

/// Extraction and equivalence from the symbolic checker, under one set of options.
pub struct Checker {
    pub opts: answer::Options,
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
