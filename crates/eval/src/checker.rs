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

    /// Candidates from a box or an answer phrase ("the final answer is", "answer:")
    /// only, and not an end-of-proof mark; the first that parses.
    fn extract_stated(&self, text: &str) -> Option<String> {
        answer::extract(text, &self.opts.extract_options())
            .into_iter()
            .filter(|c| c.priority <= STATED_PRIORITY)
            .map(|c| c.text())
            .filter(|t| !is_end_mark(t))
            .find(|t| answer::parse_answer(&boxed(t), &self.opts).is_ok())
    }
}

/// The extractor's priorities up to "X shortly after the word answer"; beyond it come
/// short texts and any math span or number.
const STATED_PRIORITY: u32 = 200;

/// `\blacksquare`, `\square`, `\Box`, `QED` and the like close a proof; boxed, they
/// are still not an answer.
fn is_end_mark(t: &str) -> bool {
    let t: String = t
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '$')
        .collect();
    matches!(
        t.trim_start_matches('\\').to_ascii_lowercase().as_str(),
        "blacksquare" | "square" | "box" | "qed" | "qedhere" | "text{qed}" | "∎" | "□"
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use search::solve::answers_disagree;

    #[test]
    fn proofs_of_statements_state_no_answer() {
        let c = Checker::new();
        let proofs = [
            "Let $n = 2k+1$. Then $n^2 = 4k^2+4k+1$, which is odd. $\\blacksquare$",
            "By Lemma [1] and (2), the claim holds for $k=3$ and all larger $k$. \\boxed{\\blacksquare}",
            "Induction on $n$ [3]: the base case $n=1$ holds. QED",
        ];
        for p in proofs {
            assert_eq!(c.extract_stated(p), None, "{p}");
        }
        assert!(answers_disagree(&proofs, &c).is_none());
    }

    #[test]
    fn stated_answers_are_compared() {
        let c = Checker::new();
        let a = "So the minimum is attained at $x=1$. The answer is $\\frac{1}{2}$.";
        let b = "Hence the final answer is \\boxed{0.5}.";
        let d = "We find $m = 3$, so \\boxed{3}.";
        assert_eq!(c.extract_stated(b).as_deref(), Some("0.5"));
        assert!(answers_disagree(&[a, b], &c).is_none());
        let found = answers_disagree(&[a, b, d], &c).expect("3 differs from 1/2");
        assert_eq!(found.groups.len(), 2);
    }
}
