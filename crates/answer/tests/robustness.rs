//! Bounded work on hostile input: pathological answers return quickly (usually
//! undecided) and never panic; a deterministic random-input loop fuzzes the parser.

use answer::{check, extract, Options};
use std::time::{Duration, Instant};

/// Generous even for an unoptimised build; typical checks take microseconds.
const LIMIT: Duration = Duration::from_millis(500);

fn timed(gold: &str, pred: &str) -> answer::Verdict {
    let t = Instant::now();
    let v = check(gold, pred, &Options::default());
    assert!(
        t.elapsed() < LIMIT,
        "took {:?} on {:.80}",
        t.elapsed(),
        pred
    );
    v
}

#[test]
fn pathological_inputs_are_bounded() {
    let deep_parens = format!("${}1{}$", "(".repeat(20_000), ")".repeat(20_000));
    let deep_frac = format!("${}1{}$", "\\frac{1}{".repeat(5_000), "}".repeat(5_000));
    let deep_mathrm = format!("${}x{}$", "\\mathrm{".repeat(5_000), "}".repeat(5_000));
    let long_sum = format!("${}1$", "1+".repeat(200_000));
    let many_dollars = "$".repeat(100_000);
    let unclosed = "\\(".repeat(50_000);
    let many_boxes = "\\boxed{1} and ".repeat(20_000);
    let huge_int = "9".repeat(5_000);
    for pred in [
        deep_parens.as_str(),
        deep_frac.as_str(),
        deep_mathrm.as_str(),
        long_sum.as_str(),
        many_dollars.as_str(),
        unclosed.as_str(),
        many_boxes.as_str(),
        huge_int.as_str(),
        "$10^{10^{10}}$",
        "$1000!$",
        "$(10^{10^{10}})!$",
        "$\\binom{10^{30}}{10^{20}}$",
        "$2^{2^{2^{2^{2^{2}}}}}$",
        "$\\sqrt[10^{9}]{2}$",
        "\\boxed{",
        "}}}}{{{{",
        "$\\frac{}{}$",
        "$\\begin{pmatrix}$",
    ] {
        timed("$1$", pred);
        timed(pred, pred);
    }
}

#[test]
fn huge_values_are_undecided_not_wrong() {
    assert_eq!(timed("$10^{10^{10}}$", "$10^{10^{10}}+1$").equivalent, None);
    assert_eq!(timed("$1000!$", "$1001!/1001$").equivalent, None);
    let a = "123456789012345678901234567890123456789012345678901";
    let b = "123456789012345678901234567890123456789012345678902";
    assert_eq!(timed(a, b).equivalent, Some(false));
    assert_eq!(timed(a, a).equivalent, Some(true));
}

/// A small deterministic generator (xorshift) so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const PIECES: &[&str] = &[
    "1",
    "23",
    "0.5",
    "x",
    "y",
    "e",
    "i",
    "\\pi",
    "+",
    "-",
    "*",
    "/",
    "^",
    "_",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "\\{",
    "\\}",
    "\\frac",
    "\\sqrt",
    "\\left(",
    "\\right)",
    "=",
    "<",
    "\\le",
    ",",
    ";",
    "\\cup",
    "\\pm",
    "!",
    "%",
    "\\%",
    "$",
    "\\boxed{",
    "\\text{and}",
    " ",
    "\\infty",
    "\\sin",
    "\\log_",
    "|",
    "\\begin{pmatrix}",
    "\\end{pmatrix}",
    "&",
    "\\\\",
    "\\mathrm{",
    "\\dfrac",
    "\\binom",
    "\\in",
    "°",
    "€",
    "1,000",
    "#### ",
    "final answer is ",
    "\u{0}",
    "\\lfloor",
    "\\rfloor",
    ":",
    "'",
    "\\approx",
    "or",
    "\\(",
    "\\)",
    "\\[",
    "\\]",
];

#[test]
fn random_inputs_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let opts = Options::default();
    for _ in 0..4000 {
        let n = 1 + rng.next() % 24;
        let a: String = (0..n).map(|_| rng.pick(PIECES)).collect();
        let m = 1 + rng.next() % 24;
        let b: String = (0..m).map(|_| rng.pick(PIECES)).collect();
        let t = Instant::now();
        let v = check(&a, &b, &opts);
        assert!(t.elapsed() < LIMIT, "slow on {a:?} vs {b:?}");
        assert!(!v.reason.is_empty());
        // Reflexivity: whatever parses is equivalent to itself (or undecided).
        let same = check(&a, &a, &opts);
        assert_ne!(
            same.equivalent,
            Some(false),
            "{a:?} differs from itself: {}",
            same.reason
        );
        let _ = extract(&b, &opts.extract_options());
    }
}
