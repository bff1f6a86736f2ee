//! Equivalence rules on small hand-written pairs, one behaviour per test.

use answer::{check, Options};

fn eq(gold: &str, pred: &str) -> Option<bool> {
    check(gold, pred, &Options::default()).equivalent
}

#[test]
fn numbers_in_any_notation() {
    assert_eq!(eq("$\\frac{1}{2}$", "$0.5$"), Some(true));
    assert_eq!(eq("$\\frac12$", "$\\dfrac{1}{2}$"), Some(true));
    assert_eq!(eq("$1.5$", "$1\\frac{1}{2}$"), Some(true)); // a mixed number
    assert_eq!(eq("$\\frac{40}{9}$", "4 4/9"), Some(true));
    assert_eq!(eq("$4$", "The answer is 4 4/9."), Some(false));
    assert_eq!(eq("$2516_8$", "$2516_{8}$"), Some(true));
    assert_eq!(eq("$12000$", "$1.2 \\times 10^{4}$"), Some(true));
    assert_eq!(eq("$12000$", "1.2e4"), Some(true));
    assert_eq!(eq("$0.0012$", "$1.2E-3$"), Some(true));
    assert_eq!(eq("$2e$", "$2e$"), Some(true));
    assert_eq!(eq("$0.\\overline{3}$", "$\\frac13$"), Some(true));
    assert_eq!(eq("$1.2\\overline{45}$", "$\\frac{137}{110}$"), Some(true));
    assert_eq!(eq("$0.\\overline{3}$", "$0.3$"), Some(false));
    assert_eq!(eq("$3$", "$3.0001$"), Some(false));
    assert_eq!(eq("$\\frac{1}{3}$", "$0.333333$"), Some(true));
    assert_eq!(eq("$2$", "$3$"), Some(false));
}

#[test]
fn symbolic_expressions() {
    assert_eq!(eq("$2\\sqrt{2}$", "$\\sqrt{8}$"), Some(true));
    assert_eq!(eq("$(x+1)^2$", "$x^2+2x+1$"), Some(true));
    assert_eq!(eq("$(x+1)^2$", "$x^2+1$"), Some(false));
    assert_eq!(eq("$\\ln(e^2)$", "$2$"), Some(true));
    assert_eq!(eq("$\\binom{5}{2}$", "$10$"), Some(true));
    assert_eq!(eq("$5!$", "$120$"), Some(true));
    assert_eq!(eq("$\\pi/2$", "$\\frac{\\pi}{2}$"), Some(true));
    assert_eq!(eq("$|{-3}|$", "$3$"), Some(true));
}

#[test]
fn factorials_and_binomials_of_variables() {
    // Evaluated through the Gamma function at the probe points.
    assert_eq!(
        eq("$\\binom{2n}{n}$", "$\\frac{(2n)!}{(n!)^2}$"),
        Some(true)
    );
    assert_eq!(eq("$\\binom{2n}{n}$", "$\\frac{(2n)!}{n!}$"), Some(false));
    assert_eq!(eq("$\\binom{2n}{n}$", "$\\frac{(2n)!}{2^n}$"), Some(false));
    assert_eq!(eq("$\\binom{2n}{n}$", "$\\binom{2n}{n-1}$"), Some(false));
    assert_eq!(eq("$\\binom{n}{k}$", "$\\binom{n}{n-k}$"), Some(true));
    assert_eq!(eq("$(n+1)!$", "$(n+1) \\cdot n!$"), Some(true));
    assert_eq!(
        eq("$\\frac{d !}{2 k(d-k) !}$", "$\\frac{d!}{(d-k)!}$"),
        Some(false)
    );
    assert_eq!(eq("$\\binom{n}{2}$", "$\\frac{n(n-1)}{2}$"), Some(true));
}

#[test]
fn sets_tuples_and_intervals() {
    assert_eq!(eq("$\\{3,1\\}$", "$1,3$"), Some(true));
    assert_eq!(eq("$(1,3)$", "$(3,1)$"), Some(false));
    assert_eq!(eq("$(1,\\infty)$", "$(1, \\infty)$"), Some(true));
    assert_eq!(eq("$x>1$", "$(1,\\infty)$"), Some(true));
    assert_eq!(eq("$[0,1)$", "$[0,1]$"), Some(false));
    assert_eq!(eq("$\\pm 2$", "$2, -2$"), Some(true));
}

#[test]
fn plus_minus_inside_an_expression() {
    let pair = "$\\frac{3 + \\sqrt{21}}{2}$, $\\frac{3 - \\sqrt{21}}{2}$";
    assert_eq!(eq(pair, "$\\frac{3 \\pm \\sqrt{21}}{2}$"), Some(true));
    assert_eq!(eq(pair, "$x = \\frac{3 \\pm \\sqrt{21}}{2}$"), Some(true));
    assert_eq!(eq("$\\frac{3 \\pm \\sqrt{21}}{2}$", pair), Some(true));
    assert_eq!(
        eq(
            "$1$, $\\frac{3 + \\sqrt{21}}{2}$, $\\frac{3 - \\sqrt{21}}{2}$",
            "$x=1, x=\\frac{3 \\pm \\sqrt{21}}{2}$"
        ),
        Some(true)
    );
    assert_eq!(
        eq(
            "$\\frac{3 \\pm \\sqrt{21}}{2}$",
            "$\\frac{3}{2} \\pm \\frac{\\sqrt{21}}{2}$"
        ),
        Some(true)
    );
    assert_eq!(eq("$(3,2),(-3,2)$", "$(\\pm 3, 2)$"), Some(true));
    assert_eq!(eq(pair, "$\\frac{3 + \\sqrt{21}}{2}$"), Some(false));
    assert_eq!(eq(pair, "$\\frac{3 \\pm \\sqrt{21}}{4}$"), Some(false));
    assert_eq!(eq("$(1, 2)$", "$(1, \\pm 2)$"), Some(false));
    // Two signs: which go together is not written, so nothing is expanded.
    assert_eq!(
        eq("$(3,2),(-3,2),(3,-2),(-3,-2)$", "$(\\pm 3, \\pm 2)$"),
        Some(false)
    );
}

#[test]
fn unions_with_single_points() {
    let gold = "$(-\\infty, 0) \\cup\\{1\\}$";
    assert_eq!(eq(gold, "$\\{1\\} \\cup (-\\infty, 0)$"), Some(true));
    assert_eq!(eq(gold, "$(-\\infty, 0) \\cup \\{2\\}$"), Some(false));
    assert_eq!(eq(gold, "$(-\\infty, 0] \\cup \\{1\\}$"), Some(false));
    assert_eq!(eq(gold, "$(-\\infty, 0) \\cup \\{1, 2\\}$"), Some(false));
    assert_eq!(eq(gold, "$(-\\infty, 0)$"), Some(false));
}

#[test]
fn relation_against_interval_needs_the_option_on_the_prediction_side() {
    let strict = Options::default();
    let allow = Options {
        allow_set_relation_comp: true,
        ..Options::default()
    };
    assert_eq!(
        check("$(1,\\infty)$", "$x>1$", &strict).equivalent,
        Some(false)
    );
    assert_eq!(
        check("$(1,\\infty)$", "$x>1$", &allow).equivalent,
        Some(true)
    );
}

#[test]
fn equations_and_labels() {
    assert_eq!(eq("$x = 3$", "$3$"), Some(true));
    assert_eq!(eq("$3.14$", "$\\boxed{\\approx 3.14}$"), Some(true));
    assert_eq!(eq("$y = 2x + 1$", "$2x - y + 1 = 0$"), Some(true));
    assert_eq!(eq("$x + y = 3$", "$3$"), Some(false));
    assert_eq!(eq("$x \\le 2$", "$2 \\ge x$"), Some(true));
    assert_eq!(eq("$x \\le 2$", "$x \\ge 2$"), Some(false));
    // Words describing the name on the left of an equation.
    let described = "\\boxed{\\text{The identity function } f(n) = n}";
    assert_eq!(eq("$f(n)=n$", described), Some(true));
    assert_eq!(
        eq(
            "$f(n)=n$",
            "\\boxed{\\text{The identity function } f(n) = n + 1}"
        ),
        Some(false)
    );
    assert_eq!(eq("$5$", "\\boxed{\\text{at least } 5}"), Some(false));
    // A bare `\max` in a subscript is part of the name.
    assert_eq!(eq("$m_{\\max }=n^{2}-n-1$", "$n^2 - n - 1$"), Some(true));
    assert_eq!(eq("$m_{\\max }=n^{2}-n-1$", "$n^2 - n$"), Some(false));
}

#[test]
fn derivations_and_predicted_equations() {
    let aligned = "$$\\begin{aligned} 2x - 2 & = 16 \\\\ 2x & = 18 \\\\ x & = 9 \\end{aligned}$$";
    assert_eq!(eq("$9$", aligned), Some(true));
    let cont = "$$\\begin{aligned} & = 6^3 - 6 \\\\ & = 210 . \\end{aligned}$$";
    assert_eq!(eq("$210$", cont), Some(true));
    assert_eq!(
        eq("$180180$", "so the least $k$ is $L / 2=180180$."),
        Some(true)
    );
    assert_eq!(eq("$7 = 11a+c$", "$11a+c$"), Some(false));
    assert_eq!(
        eq("$\\frac{41}{12}$", "is $\\frac{41}{12} \\mathrm{~km}$."),
        Some(true)
    );
}

#[test]
fn tex_spacing_inside_numbers_and_compound_units() {
    assert_eq!(eq("$25$", "the value is $\\mathbf{2 5}$."), Some(true));
    assert_eq!(
        eq(
            "$\\frac{600}{7}$",
            "at $\\frac{600}{7} \\mathrm{~km} / \\mathrm{h}$."
        ),
        Some(true)
    );
    assert_eq!(eq("$4.2\\%$", "$r \\doteq 4.2 \\%$"), Some(true));
    assert_eq!(eq("$1,2,3$", "so $(x, y, z)=(1,2,3)$."), Some(true));
    assert_eq!(eq("$1,2,3$", "so $(x, y, z)=(1,3,2)$."), Some(false));
}

#[test]
fn units_percent_text_and_choices() {
    assert_eq!(eq("$90^\\circ$", "$90$"), Some(true));
    assert_eq!(eq("$28\\%$", "$28$"), Some(true));
    assert_eq!(eq("$5 \\text{ cm}$", "$5$"), Some(true));
    assert_eq!(eq("$\\text{(B)}$", "$\\text{B}$"), Some(true));
    assert_eq!(eq("$\\text{(B)}$", "$\\text{C}$"), Some(false));
    assert_eq!(eq("1,000", "$1000$"), Some(true));
}

#[test]
fn prose_between_two_values_is_not_a_product() {
    // A condition or a second quantity after a unit-like remark: not `1 * n`.
    assert_eq!(
        eq("$f(n)=n$", "\\boxed{f(n) = 1 \\text{ for all } n}"),
        None
    );
    assert_eq!(eq("$2n$", "\\boxed{2 \\text{ for every } n}"), None);
    assert_eq!(
        eq("$60$", "\\boxed{2 \\text{ hours } 30 \\text{ minutes}}"),
        None
    );
    // Units, with or without an explicit operator after them, still drop out.
    assert_eq!(
        eq(
            "$18$",
            "$9 \\text{ eggs} \\times 2 \\text{ dollars/egg} = 18 \\text{ dollars}$"
        ),
        Some(true)
    );
    assert_eq!(eq("$5$", "$5 \\text{ cm}^2$"), Some(true));
    assert_eq!(
        eq(
            "16",
            "\\[\n4 \\text{ cartons} \\times \\$4.00/carton = \\$16.00\n\\]"
        ),
        Some(true)
    );
}

#[test]
fn multiple_choice_letters_when_enabled() {
    let with_choice = Options {
        match_types: vec!["latex".into(), "expr".into(), "choice".into()],
        ..Options::default()
    };
    let v = check(
        "C",
        "Comparing all options, the answer is (C).",
        &with_choice,
    );
    assert_eq!(v.equivalent, Some(true));
    let v = check(
        "C",
        "Comparing all options, the answer is (D).",
        &with_choice,
    );
    assert_eq!(v.equivalent, Some(false));
}

#[test]
fn matrices() {
    let m = "$\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}$";
    assert_eq!(
        eq(m, "$\\begin{bmatrix}1 & 2 \\\\ 3 & 4\\end{bmatrix}$"),
        Some(true)
    );
    assert_eq!(
        eq(m, "$\\begin{pmatrix}1 & 2 \\\\ 4 & 3\\end{pmatrix}$"),
        Some(false)
    );
}

#[test]
fn precision_option() {
    let p2 = Options {
        precision: 2,
        ..Options::default()
    };
    assert_eq!(
        check("$\\frac{1}{3}$", "$0.33$", &p2).equivalent,
        Some(true)
    );
    assert_eq!(
        check("$\\frac{1}{3}$", "$0.33$", &Options::default()).equivalent,
        Some(false)
    );
}

#[test]
fn non_strict_allows_renamed_variables() {
    let loose = Options {
        strict: false,
        ..Options::default()
    };
    assert_eq!(check("$f(x)$", "$f(y)$", &loose).equivalent, Some(true));
    assert_eq!(eq("$f(x)$", "$f(y)$"), Some(false));
}

#[test]
fn every_verdict_has_a_reason() {
    for (g, p) in [
        ("$1$", "$1$"),
        ("$1$", "$2$"),
        ("", ""),
        ("$x$", "no answer here"),
    ] {
        assert!(!check(g, p, &Options::default()).reason.is_empty());
    }
}
