//! The verdict's status, an unreadable stated answer, and answer forms with rules of their own: money written
//! `\$`, numerals with a base subscript, multiple-choice letters, infinity,
//! polynomials, equations naming one quantity, times of day, the largest or smallest
//! of listed values, and a percent word that names a quantity.

use answer::{check, Options, Status};

fn status(gold: &str, pred: &str) -> Status {
    check(gold, pred, &Options::default()).status
}

fn with_choice() -> Options {
    Options {
        match_types: vec!["latex".into(), "expr".into(), "choice".into()],
        ..Options::default()
    }
}

fn choice_status(gold: &str, pred: &str) -> Status {
    check(gold, pred, &with_choice()).status
}

use Status::{Different, Equivalent, NoAnswer, Undecided};

#[test]
fn status_agrees_with_the_equivalent_flag() {
    for (gold, pred, want) in [
        ("$\\frac12$", "0.5", Equivalent),
        ("$2$", "$3$", Different),
        ("$9$", "there is nothing to see here", NoAnswer),
        ("no answer in this gold text", "$3$", Undecided),
        ("$1$", "$\\frac{1}{0}$", Undecided),
    ] {
        let v = check(gold, pred, &Options::default());
        assert_eq!(v.status, want, "{gold} vs {pred}: {}", v.reason);
        assert_eq!(v.equivalent, want.equivalent(), "{gold} vs {pred}");
    }
    assert_eq!(NoAnswer.equivalent(), Some(false));
    assert_eq!(Undecided.equivalent(), None);
}

#[test]
fn an_unreadable_stated_answer_is_not_replaced_by_other_math() {
    // The box does not parse (a condition after prose); the `n` of the sentence
    // before it is not the answer.
    let pred =
        "Suppose this holds for all \\( n \\).\n\\[\n\\boxed{f(n) = 0 \\text{ for all } n}\n\\]";
    assert_eq!(status("$f(n)=n$", pred), Undecided);
    let pred = "We try \\( x = 3 \\). The answer: $\\frac{1}{0$ (unclosed)";
    assert_ne!(status("$3$", pred), Equivalent);
    // A box that parses, and unanchored math when nothing states the answer, still
    // count.
    assert_eq!(
        status("$3$", "We try \\( x = 3 \\) and get \\boxed{3}."),
        Equivalent
    );
    assert_eq!(status("$3$", "So we get \\( x = 3 \\)."), Equivalent);
}

#[test]
fn status_serialises_in_snake_case() {
    let v = check("$2$", "there is nothing to see here", &Options::default());
    let json = serde_json::to_value(&v).expect("serialises");
    assert_eq!(json["status"], "no_answer");
    assert_eq!(json["equivalent"], false);
    let back: Status = serde_json::from_str("\"undecided\"").expect("deserialises");
    assert_eq!(back, Undecided);
}

#[test]
fn escaped_dollar_is_money() {
    assert_eq!(status("\\$18.90", "18.90"), Equivalent);
    assert_eq!(status("18.90", "\\$18.90"), Equivalent);
    assert_eq!(status("\\$ 1,000", "1000"), Equivalent);
    assert_eq!(status("\\$18.90", "\\$18.95"), Different);
    assert_eq!(status("$\\$18.90$", "18.9"), Equivalent);
    assert_eq!(status("\\$5", "The total cost is \\$5."), Equivalent);
    assert_eq!(status("\\$5", "The total cost is \\$ 6."), Different);
}

#[test]
fn base_subscript_against_the_same_digits() {
    assert_eq!(status("$2516_8$", "2516"), Equivalent);
    assert_eq!(status("$10110_{2}$", "$10110$"), Equivalent);
    assert_eq!(status("$10110$", "$10110_2$"), Equivalent);
    assert_eq!(status("$2516_8$", "$2516_{8}$"), Equivalent);
    // Other digits, or the same digits in another base, are other numerals.
    assert_eq!(status("$2516_8$", "2517"), Different);
    assert_eq!(status("$2516_8$", "$2516_9$"), Different);
    assert_eq!(status("$x_1$", "1"), Different);
}

#[test]
fn choice_letter_against_the_letter_with_its_option_text() {
    for gold in [
        "(C)",
        "\\text{(C)}",
        "C",
        "\\textbf{(C)}",
        "$\\textbf{(C)}$",
    ] {
        for pred in ["(C) 12", "\\textbf{(C) }12", "$\\textbf{(C) }12$", "(C)"] {
            assert_eq!(choice_status(gold, pred), Equivalent, "{gold} vs {pred}");
        }
        assert_eq!(choice_status(gold, "(D) 12"), Different, "{gold}");
    }
    assert_eq!(choice_status("(C) 12", "C"), Equivalent);
}

#[test]
fn choice_rules_stay_narrow() {
    // Without the `choice` match type a letter is no choice.
    assert_ne!(status("(C)", "(C) 12"), Equivalent);
    // A list of options, or option text naming another letter, is no answer.
    assert_ne!(choice_status("A", "(A) 3 (B) 4 (C) 5"), Equivalent);
    assert_ne!(choice_status("A", "(A) is wrong, B is right"), Equivalent);
    assert_ne!(
        choice_status("A", "(A) is not the answer because the area is too large"),
        Equivalent
    );
    // Letters in prose still need an answer phrase.
    assert_ne!(choice_status("A", "A cat sat on the mat."), Equivalent);
}

#[test]
fn lists_of_choice_letters() {
    for gold in ["\\text{A, C}", "\\text{(A), (C)}", "$\\text{A, C}$"] {
        assert_eq!(status(gold, "A, C"), Equivalent, "{gold}");
        assert_eq!(status(gold, "C, A"), Equivalent, "{gold}");
        assert_eq!(status(gold, "A, D"), Different, "{gold}");
        assert_eq!(status(gold, "A"), Different, "{gold}");
        assert_eq!(choice_status(gold, "A, C"), Equivalent, "{gold}");
        assert_eq!(choice_status(gold, "(A), (C)"), Equivalent, "{gold}");
    }
    assert_eq!(status("\\text{A, C}", "\\text{A,C}"), Equivalent);
}

#[test]
fn finite_numbers_are_not_infinity() {
    assert_eq!(status("$\\infty$", "$100$"), Different);
    assert_eq!(status("3", "$\\infty$"), Different);
    assert_eq!(status("$\\infty$", "$10^{10}$"), Different);
    assert_eq!(status("$-\\infty$", "$\\infty$"), Different);
    assert_eq!(status("$-\\infty$", "$-\\infty$"), Equivalent);
    assert_eq!(status("$\\infty$", "$\\infty$"), Equivalent);
    // An expression in a variable has no single value to compare.
    assert_ne!(status("$\\infty$", "$x$"), Equivalent);
}

#[test]
fn polynomials_compare_term_by_term() {
    assert_eq!(status("$x^{1000}+1$", "$x^{1000}+2$"), Different);
    assert_eq!(status("$(x+1)^3$", "$x^3+3x^2+3x+1$"), Equivalent);
    assert_eq!(status("$(x+1)^3$", "$x^3+3x^2+3x+2$"), Different);
    assert_eq!(status("$x^2 y$", "$x y^2$"), Different);
    assert_eq!(
        status("$\\frac{x+2}{7}$", "$\\frac{x}{7}+\\frac{2}{7}$"),
        Equivalent
    );
}

#[test]
fn equations_naming_one_quantity_compare_their_values() {
    assert_eq!(status("$D = (0, 1)$", "$D = (0, 1.5)$"), Different);
    assert_eq!(status("$D = (0, 1)$", "$D = (0, 1)$"), Equivalent);
    assert_eq!(status("$S = \\{1, 2\\}$", "$S = \\{2, 1\\}$"), Equivalent);
    assert_eq!(status("$S = \\{1, 2\\}$", "$S = \\{1, 3\\}$"), Different);
    assert_eq!(
        status(
            "$F_n = \\sum_{k=0}^{n-1} F_k F_{n-k-1}$",
            "$F_n = \\sum_{k=0}^{n-2} F_k F_{n-k-2}$"
        ),
        Different
    );
}

#[test]
fn times_of_day() {
    assert_eq!(status("4:30", "5:30"), Different);
    assert_eq!(status("$12:00$", "$1:00$"), Different);
    assert_eq!(status("4:30", "4:30"), Equivalent);
    assert_eq!(status("4:30", "4:30 PM"), Equivalent);
    assert_eq!(
        status("\\text{4:30 p.m.}", "The train leaves at 4:30 pm."),
        Equivalent
    );
    assert_eq!(status("4:30 p.m.", "16:30"), Equivalent);
    assert_eq!(status("4:30 a.m.", "4:30 p.m."), Different);
    assert_eq!(status("4:30 p.m.", "It arrives at 5:30 PM."), Different);
    // Neither says which half of the day; as ratios these two are equal.
    assert_eq!(status("4:30", "16:30"), Undecided);
    assert_eq!(status("4:30", "2:15"), Undecided);
}

#[test]
fn max_and_min_of_listed_values() {
    assert_eq!(status("125", "$\\max(125, 96)$"), Equivalent);
    assert_eq!(status("96", "$\\max(125, 96)$"), Different);
    assert_eq!(status("96", "$\\min\\{125, 96\\}$"), Equivalent);
    assert_eq!(status("3", "$\\min(3, \\sqrt{10})$"), Equivalent);
    assert_eq!(status("-1", "$\\max(-1, -\\frac{3}{2})$"), Equivalent);
    assert_eq!(
        status("125", "\\[ \\text{Max Profit} = \\max(125, 96) \\]"),
        Equivalent
    );
    // With a variable, real probes cannot tell `\max(x, -5)` from `x`: no value.
    assert_ne!(status("$x$", "$\\max(x, -5)$"), Equivalent);
    // With bounds it is an operator over a set, compared by structure.
    assert_ne!(status("1", "$\\max_{x \\in S} f(x)$"), Equivalent);
}

#[test]
fn a_percent_word_with_no_value_before_it_names_the_quantity() {
    let pred = "\\[ \\text{Percentage} = \\left( \\frac{12}{20} \\right) \\times 100 = 60\\% \\]";
    assert_eq!(status("60", pred), Equivalent);
    assert_eq!(status("0.6", pred), Equivalent);
    assert_eq!(status("12", pred), Different);
    assert_eq!(status("60", "$\\text{percentage} = 60$"), Equivalent);
    // After a value the word is still a percent sign.
    assert_eq!(status("60", "$60 \\text{ percent}$"), Equivalent);
    assert_eq!(status("0.6", "60 percent"), Equivalent);
}
