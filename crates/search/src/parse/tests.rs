//! Parser tests on hand-made edge cases and on DeepSeekMath-V2's 84 real proofs.

use super::*;
use llm::FinishReason::{Length, Stop};

fn real_proofs() -> Vec<String> {
    let data = include_str!("../../tests/data/deepseek_math_v2_outputs.jsonl");
    data.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["proof"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn real_proofs_round_trip_through_the_protocol() {
    let proofs = real_proofs();
    assert_eq!(proofs.len(), 84);
    for (i, proof) in proofs.iter().enumerate() {
        let score = ["0", "0.5", "1"][i % 3];
        let answer = format!(
            "Some preamble.\n\n## Solution\n\n{proof}\n\n## Self Evaluation\n\nI checked every step.\n\nFinal rating: \\boxed{{{score}}}\n"
        );
        let p = parse_proof(&answer, Stop);
        assert_eq!(p.error, None, "proof {i}");
        assert_eq!(p.proof.as_deref(), Some(proof.trim()), "proof {i}");
        assert_eq!(p.self_score, score_value(score));
        // A real proof alone does not follow the generator protocol.
        let bare = parse_proof(proof, Stop);
        assert_eq!(bare.error.as_deref(), Some("no `## Solution` section"));
        assert_eq!(bare.self_score, None);
    }
}

#[test]
fn reviews_quoting_boxed_answers_of_real_proofs_take_the_final_score() {
    // Real proofs contain their own boxed answers (60 of 84): a review that quotes the
    // proof must still be scored by its final paragraph only.
    let mut with_boxes = 0;
    for proof in real_proofs() {
        if !boxed(&proof).is_empty() {
            with_boxes += 1;
        }
        let review = format!(
            "The proof reads:\n\n{proof}\n\nStep 3 is not justified.\n\nFinal score: \\boxed{{0.5}}"
        );
        let v = parse_judgement(&review, Stop);
        assert_eq!((v.score, v.error), (Some(0.5), None));
    }
    assert!(with_boxes >= 50, "{with_boxes}");
}

#[test]
fn boxed_handles_nesting_escapes_and_cut_boxes() {
    let t = "a \\boxed{\\frac{1}{2}} b \\boxed {x\\}y} c \\boxed{unclosed";
    let b: Vec<String> = boxed(t).into_iter().map(|x| x.1).collect();
    assert_eq!(b, vec!["\\frac{1}{2}", "x\\}y"]);
    assert!(boxed("no box, \\boxed without brace").is_empty());
    // Multi-byte text around boxes is fine.
    assert_eq!(boxed("∎ \\boxed{1} ∎")[0].1, "1");
}

#[test]
fn score_values_outside_the_scale_are_rejected() {
    for (s, v) in [
        ("1", 1.0),
        (" 0 ", 0.0),
        ("0.5", 0.5),
        ("1/2", 0.5),
        ("$1.0$", 1.0),
    ] {
        assert_eq!(score_value(s), Some(v), "{s}");
    }
    assert_eq!(score_value("\\text{1}"), Some(1.0));
    for s in ["0.7", "2", "-1", "yes", "", "NaN"] {
        assert_eq!(score_value(s), None, "{s}");
    }
}

#[test]
fn protocol_violations_are_reported_not_counted() {
    let ok = "## Solution\nproof\n## Self Evaluation\nfine \\boxed{1}";
    assert_eq!(parse_proof(ok, Stop).error, None);
    let truncated = parse_proof(ok, Length);
    assert!(truncated.error.unwrap().contains("truncated"));
    let cases = [
        ("## Solution\nproof only", "no `## Self Evaluation`"),
        ("## Solution\n\n## Self Evaluation\n\\boxed{1}", "empty"),
        (
            "## Solution\np\n## Self Evaluation\nno score",
            "no \\boxed{} score",
        ),
        (
            "## Solution\np\n## Self Evaluation\n\\boxed{0.8}",
            "not 0, 0.5 or 1",
        ),
        (
            "## Solution\np\n## Self Evaluation\n\\boxed{1} or maybe \\boxed{0}",
            "conflicting",
        ),
    ];
    for (text, reason) in cases {
        let p = parse_proof(text, Stop);
        let err = p.error.unwrap_or_default();
        assert!(err.contains(reason), "{text:?}: {err}");
    }
    // Headings: any level, case, hyphen, bold and colon.
    let p = parse_proof(
        "# **Solution:**\nx\n### Self-evaluation\n\\boxed{0.5}",
        Stop,
    );
    assert_eq!((p.proof.as_deref(), p.self_score), (Some("x"), Some(0.5)));
    // As the default model writes them: a numbered part, or a bold line alone.
    let p = parse_proof(
        "### Part 1: Solution\nx\n### Part 2: Self Evaluation\n\\boxed{1}",
        Stop,
    );
    assert_eq!((p.proof.as_deref(), p.self_score), (Some("x"), Some(1.0)));
    for heading in ["**Self Evaluation:**", "**Self Evaluation**"] {
        let text =
            format!("## Solution\nx \\boxed{{4}}\n\n{heading}\nAll steps hold. \\boxed{{1}}");
        let p = parse_proof(&text, Stop);
        assert_eq!(p.error, None, "{heading}");
        assert_eq!(
            (p.proof.as_deref(), p.self_score),
            (Some("x \\boxed{4}"), Some(1.0))
        );
    }
    // Bold words inside a line, and other parts, are not headings.
    let p = parse_proof(
        "## Solution\nThe **self evaluation** comes last.\n## Part 3: Remarks\n\\boxed{1}",
        Stop,
    );
    assert!(p.error.unwrap().contains("no `## Self Evaluation`"));
}

#[test]
fn judgements_need_one_final_score() {
    assert_eq!(parse_judgement("ok\n\n\\boxed{1}", Stop).score, Some(1.0));
    let conflicting = parse_judgement("Score \\boxed{1}. Final: \\boxed{0}", Stop);
    assert!(conflicting.error.unwrap().contains("conflicting"));
    assert!(parse_judgement("", Stop).error.is_some());
    assert!(parse_judgement("looks fine", Stop).error.is_some());
    let cut = parse_judgement("\\boxed{1}", Length);
    assert!(cut.error.unwrap().contains("truncated"));
    // An earlier paragraph may box another value (a quoted answer); the last wins.
    let v = parse_judgement("They get \\boxed{0}.\n\nFinal score: \\boxed{0.5}", Stop);
    assert_eq!((v.score, v.error), (Some(0.5), None));
    // Without a box, a last line that states only the score counts.
    for (text, score) in [
        ("Final score: 1", Some(1.0)),
        ("The proof is fine.\n\n**Final Score:** 0.5.", Some(0.5)),
        ("### Score = 0", Some(0.0)),
        ("Overall grade is 1/2", Some(0.5)),
        ("Final score: 0.8", None),
        ("Final score: 1 because step 2 holds", None),
        ("Score: 1\n\nBut step 3 fails.", None),
        ("The score is 1", None),
    ] {
        assert_eq!(parse_judgement(text, Stop).score, score, "{text:?}");
    }
}
