//! Verifier calibration: how well a verifier's mean score tracks human grades, on
//! DeepSeekMath-V2's released proofs (each with its human grade and the mean score
//! of DeepSeekMath-V2's own verifier, which serves as the reference line).
//!
//! Verifications are stored in a run database like every other sample: one problem
//! per graded proof, the proof stored as its solution `{id}/s0` and its verifications
//! as `{id}/s0/v{j}`, so an interrupted calibration resumes.

use crate::stats::{kendall, spearman};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A proof with a human grade.
#[derive(Debug, Clone, Deserialize)]
pub struct GradedProof {
    pub id: String,
    pub problem: String,
    pub proof: String,
    /// The human grade on a 0–1 scale.
    #[serde(rename = "human_rating_normalized")]
    pub human: f64,
    /// Mean score of DeepSeekMath-V2's verifier, when the file carries it.
    #[serde(rename = "average_automatic_rating", default)]
    pub reference: Option<f64>,
}

/// Read graded proofs from JSONL (the layout of `deepseek_math_v2_outputs.jsonl`).
pub fn parse_graded(text: &str, path: &str) -> Result<Vec<GradedProof>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let p: GradedProof = serde_json::from_str(line).map_err(|e| {
            format!(
                "{path}:{}: {e} (each line needs id, problem, proof, human_rating_normalized)",
                i + 1
            )
        })?;
        out.push(p);
    }
    if out.is_empty() {
        return Err(format!("{path}: no graded proofs"));
    }
    Ok(out)
}

/// A verifier mean at or above this passes a proof.
pub const PASS_AT: f64 = 0.75;
/// A human grade below this is a failing proof (less than half marks).
pub const HALF_MARKS: f64 = 0.5;

/// Agreement figures of one verifier with the human grades.
#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    pub proofs: usize,
    pub spearman: Option<f64>,
    pub kendall: Option<f64>,
    /// Mean |verifier mean − human grade|, both on 0–1.
    pub mae: f64,
    /// Among proofs humans gave less than half marks: the share the verifier passed
    /// (mean ≥ 0.75). `null` when there are no such proofs.
    pub false_pass: Option<f64>,
    /// Among proofs humans gave at least half marks: the share the verifier did not
    /// pass.
    pub false_fail: Option<f64>,
    /// Counts by human grade band (rows: `fail` < 0.5, `partial` < 1, `full`) and
    /// verifier band (columns: `0` < 0.25, `0.5` < 0.75, `1`).
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
}

/// Compare verifier means with human grades, pair by pair.
pub fn agreement(verifier: &[f64], human: &[f64]) -> Agreement {
    let n = verifier.len().min(human.len());
    let (v, h) = (&verifier[..n], &human[..n]);
    let mae = if n == 0 {
        0.0
    } else {
        v.iter().zip(h).map(|(a, b)| (a - b).abs()).sum::<f64>() / n as f64
    };
    let rate = |cond: &dyn Fn(f64) -> bool, hit: &dyn Fn(f64) -> bool| {
        let idx: Vec<usize> = (0..n).filter(|&i| cond(h[i])).collect();
        (!idx.is_empty())
            .then(|| idx.iter().filter(|&&i| hit(v[i])).count() as f64 / idx.len() as f64)
    };
    let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for row in ["fail", "partial", "full"] {
        let cols = confusion.entry(row.to_string()).or_default();
        for col in ["0", "0.5", "1"] {
            cols.insert(col.to_string(), 0);
        }
    }
    for i in 0..n {
        let row = if h[i] < HALF_MARKS {
            "fail"
        } else if h[i] < 0.999 {
            "partial"
        } else {
            "full"
        };
        let col = if v[i] < 0.25 {
            "0"
        } else if v[i] < PASS_AT {
            "0.5"
        } else {
            "1"
        };
        if let Some(c) = confusion.get_mut(row).and_then(|r| r.get_mut(col)) {
            *c += 1;
        }
    }
    Agreement {
        proofs: n,
        spearman: spearman(v, h),
        kendall: kendall(v, h),
        mae,
        false_pass: rate(&|x| x < HALF_MARKS, &|s| s >= PASS_AT),
        false_fail: rate(&|x| x >= HALF_MARKS, &|s| s < PASS_AT),
        confusion,
    }
}

/// One proof's scores.
#[derive(Debug, Clone, Serialize)]
pub struct ProofScores {
    pub id: String,
    pub human: f64,
    pub reference: Option<f64>,
    /// Parsed verification scores of our verifier.
    pub scores: Vec<f64>,
    /// Their mean (0 when none parsed: an unusable verification passes nothing).
    pub mean: f64,
}

/// What `calibrate --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    pub verifier_model: String,
    pub verifications: u32,
    /// Verifications that followed the protocol, of those stored.
    pub parsed: usize,
    pub stored: usize,
    #[serde(flatten)]
    pub ours: Agreement,
    /// The same figures for the file's own verifier scores (DeepSeekMath-V2's).
    pub reference: Option<Agreement>,
    pub proofs: Vec<ProofScores>,
}

/// Build the calibration of `proofs` from each one's verification scores.
pub fn calibrate(
    verifier_model: &str,
    verifications: u32,
    proofs: Vec<ProofScores>,
    parsed: usize,
    stored: usize,
) -> Calibration {
    let ours: Vec<f64> = proofs.iter().map(|p| p.mean).collect();
    let human: Vec<f64> = proofs.iter().map(|p| p.human).collect();
    let with_ref: Vec<(f64, f64)> = proofs
        .iter()
        .filter_map(|p| p.reference.map(|r| (r, p.human)))
        .collect();
    let reference = (!with_ref.is_empty()).then(|| {
        let (r, h): (Vec<f64>, Vec<f64>) = with_ref.into_iter().unzip();
        agreement(&r, &h)
    });
    Calibration {
        verifier_model: verifier_model.to_string(),
        verifications,
        parsed,
        stored,
        ours: agreement(&ours, &human),
        reference,
        proofs,
    }
}

/// Config key marking a calibration run, holding the verifier model's name.
pub const CALIBRATION_KEY: &str = "calibration";

/// The problem a graded proof is stored as: its id, the problem statement, and the
/// human and reference grades in `info`.
pub fn as_problem(p: &GradedProof, position: usize) -> store::Problem {
    let mut problem = store::Problem::statement(&p.id, &p.problem);
    problem.position = position as i64;
    problem.info =
        Some(serde_json::json!({"human": p.human, "reference": p.reference}).to_string());
    problem
}

/// The graded proof as the stored solution `{id}/s0` of its problem, so that the
/// solver verifies it like any sampled solution (and resumes like one).
pub fn as_sample(p: &GradedProof) -> store::Sample {
    store::Sample::given_proof(&search::ids::solution_id(&p.id, 0), &p.id, &p.proof)
}

/// The calibration of a calibration run, from its database alone: over the proofs in
/// `only` when given, with the first M verifications of each (M as stored).
pub fn from_store(
    store: &store::Store,
    only: Option<&std::collections::HashSet<String>>,
) -> store::Result<Option<Calibration>> {
    let Some(model) = store.config(CALIBRATION_KEY)? else {
        return Ok(None);
    };
    let m: u32 = store
        .config("verifications")?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut proofs = Vec::new();
    let (mut parsed, mut stored) = (0, 0);
    for p in store.problems()? {
        if only.is_some_and(|keys| !keys.contains(&p.key)) {
            continue;
        }
        let info: serde_json::Value = p
            .info
            .as_deref()
            .and_then(|i| serde_json::from_str(i).ok())
            .unwrap_or_default();
        let Some(human) = info.get("human").and_then(|h| h.as_f64()) else {
            continue;
        };
        let samples = store.samples(&p.key)?;
        let verifications: Vec<&store::Sample> = samples
            .iter()
            .filter(|s| s.kind == store::Kind::Verification && (m == 0 || s.idx < m))
            .collect();
        if verifications.is_empty() {
            continue;
        }
        stored += verifications.len();
        let scores: Vec<f64> = verifications
            .iter()
            .filter(|s| s.status == store::ParseStatus::Ok)
            .filter_map(|s| s.score)
            .collect();
        parsed += scores.len();
        let mean = if scores.is_empty() {
            0.0
        } else {
            scores.iter().sum::<f64>() / scores.len() as f64
        };
        proofs.push(ProofScores {
            id: p.key.clone(),
            human,
            reference: info.get("reference").and_then(|r| r.as_f64()),
            scores,
            mean,
        });
    }
    Ok(Some(calibrate(&model, m, proofs, parsed, stored)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_on_known_pairs() {
        let human = [1.0, 1.0, 0.0, 0.0, 0.5];
        let verifier = [1.0, 0.5, 1.0, 0.0, 0.75];
        let a = agreement(&verifier, &human);
        assert_eq!(a.proofs, 5);
        // |0| + |.5| + |1| + |0| + |.25| over 5.
        assert!((a.mae - 1.75 / 5.0).abs() < 1e-9);
        // Human fails: proofs 2 and 3; the verifier passed proof 2.
        assert_eq!(a.false_pass, Some(0.5));
        // Human >= half: 0, 1, 4; not passed: proof 1.
        assert!((a.false_fail.unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(a.confusion["fail"]["1"], 1);
        assert_eq!(a.confusion["full"]["0.5"], 1);
        assert_eq!(a.confusion["partial"]["1"], 1);
        let perfect = agreement(&human, &human);
        assert!((perfect.spearman.unwrap() - 1.0).abs() < 1e-9 && perfect.mae == 0.0);
    }

    #[test]
    fn the_shipped_proofs_parse_and_the_reference_line_is_strong() {
        let proofs = parse_graded(crate::datasets::DEEPSEEK_MATH_V2_OUTPUTS, "outputs").unwrap();
        assert_eq!(proofs.len(), 84);
        let r: Vec<f64> = proofs.iter().filter_map(|p| p.reference).collect();
        let h: Vec<f64> = proofs.iter().map(|p| p.human).collect();
        let a = agreement(&r, &h);
        assert!(a.spearman.unwrap() > 0.5, "{:?}", a.spearman);
        assert!(parse_graded("{\"id\": 1}", "f").is_err());
    }
}
