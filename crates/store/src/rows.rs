//! The rows of a run database as Rust values, and their conversion to and from SQL.

use rusqlite::{params, CachedStatement, Row};
use serde::{Deserialize, Serialize};

/// A problem of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Stable identity inside sample ids (the `problem_idx`, made unique).
    pub key: String,
    /// The problem's index as the input gave it (or its position).
    pub problem_idx: String,
    pub question: String,
    /// Position in the input, for ordering output.
    pub position: i64,
    /// The gold final answer, when the input gives one (`answer`).
    #[serde(default)]
    pub answer: Option<String>,
    /// Every other field of the input record as a JSON object (subject, level,
    /// reference solution, grading guidelines, ...), when there are any.
    #[serde(default)]
    pub info: Option<String>,
}

impl Problem {
    /// A problem with only a statement, at position 0 under key `key`.
    pub fn statement(key: &str, question: &str) -> Problem {
        Problem {
            key: key.to_string(),
            problem_idx: key.to_string(),
            question: question.to_string(),
            position: 0,
            answer: None,
            info: None,
        }
    }

    /// A string field of `info` (`subject`, `level`, `solution`, ...).
    pub fn info_str(&self, field: &str) -> Option<String> {
        let info: serde_json::Value = serde_json::from_str(self.info.as_deref()?).ok()?;
        match info.get(field)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Array(a) => Some(
                a.iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            _ => None,
        }
    }
}

/// What a sample is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Proof,
    Verification,
    Meta,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Proof => "proof",
            Kind::Verification => "verification",
            Kind::Meta => "meta",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "proof" => Some(Kind::Proof),
            "verification" => Some(Kind::Verification),
            "meta" => Some(Kind::Meta),
            _ => None,
        }
    }
}

/// Whether a sample followed the output protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParseStatus {
    Ok,
    Unparsable,
}

impl ParseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ParseStatus::Ok => "ok",
            ParseStatus::Unparsable => "unparsable",
        }
    }
}

/// One stored model sample: a proof, a verification or a meta-verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Planned identity (problem, round, role, target, index).
    pub id: String,
    pub kind: Kind,
    pub problem_key: String,
    pub round: u32,
    /// Index of the sample among its siblings (same target, same round).
    pub idx: u32,
    /// What the sample judges: the proof of a verification, the verification of a meta.
    pub target_id: Option<String>,
    /// The proof concerned: the sample itself for a proof.
    pub proof_id: Option<String>,
    /// Proofs a refined proof was made from.
    pub parent_ids: Vec<String>,
    /// The model's answer text, exactly as received (reasoning removed).
    pub text: String,
    pub reasoning: Option<String>,
    /// The proof (the `## Solution` section) of a proof sample.
    pub body: Option<String>,
    /// The `## Self Evaluation` section of a proof sample.
    pub self_eval: Option<String>,
    /// Self-evaluation score of a proof; score of a verification or meta.
    pub score: Option<f64>,
    pub status: ParseStatus,
    /// Why the sample is unparsable.
    pub reason: Option<String>,
    /// `stop`, `length` or `other`.
    pub finish_reason: String,
    pub completion_tokens: Option<u64>,
}

impl Sample {
    /// A proof written elsewhere (given by a user, read from a file), stored as the
    /// proof `id` of problem `problem_key`: the whole text is the proof, parsed.
    pub fn given_proof(id: &str, problem_key: &str, proof: &str) -> Sample {
        Sample {
            id: id.to_string(),
            kind: Kind::Proof,
            problem_key: problem_key.to_string(),
            round: 0,
            idx: 0,
            target_id: None,
            proof_id: Some(id.to_string()),
            parent_ids: Vec::new(),
            text: proof.to_string(),
            reasoning: None,
            body: Some(proof.to_string()),
            self_eval: None,
            score: None,
            status: ParseStatus::Ok,
            reason: None,
            finish_reason: "stop".into(),
            completion_tokens: None,
        }
    }

    /// A parsed judgement (`Verification` or `Meta`) `id` of `target` with `score`,
    /// its index the number after the last `v` or `m` of the id; for building runs by
    /// hand (tests, replays of recorded scores).
    pub fn judgement(kind: Kind, id: &str, target: &str, score: f64) -> Sample {
        let idx = id
            .rsplit(['v', 'm'])
            .next()
            .and_then(|i| i.parse().ok())
            .unwrap_or(0);
        Sample {
            kind,
            idx,
            target_id: Some(target.to_string()),
            proof_id: Some(id.split("/v").next().unwrap_or(id).to_string()),
            text: format!("review {id}"),
            body: None,
            score: Some(score),
            ..Sample::given_proof(id, id.split('/').next().unwrap_or(id), "")
        }
    }
}

/// A judge's grade of a proof against the problem's reference solution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    /// `{proof_id}/j{idx}`.
    pub id: String,
    pub problem_key: String,
    pub proof_id: String,
    /// The judge's answer as received.
    pub text: String,
    /// 0 to 7; `None` when the answer states no grade.
    pub grade: Option<f64>,
}

/// Token usage summed over requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageTotals {
    pub requests: u64,
    pub samples: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Prompt tokens the backend reported as taken from its prompt cache.
    #[serde(default)]
    pub cached_prompt_tokens: u64,
}

/// Token counts of one request, as stored beside its samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestTokens {
    pub prompt: u64,
    /// Of `prompt`, the tokens found in the backend's prompt cache.
    pub cached_prompt: u64,
    pub completion: u64,
}

impl UsageTotals {
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

pub(crate) fn insert(
    stmt: &mut CachedStatement<'_>,
    s: &Sample,
    usage_id: i64,
    now: f64,
) -> rusqlite::Result<usize> {
    let parents = serde_json::to_string(&s.parent_ids).unwrap_or_else(|_| "[]".into());
    stmt.execute(params![
        s.id,
        s.kind.as_str(),
        s.problem_key,
        s.round,
        s.idx,
        s.target_id,
        s.proof_id,
        parents,
        s.text,
        s.reasoning,
        s.body,
        s.self_eval,
        s.score,
        s.status.as_str(),
        s.reason,
        s.finish_reason,
        s.completion_tokens.map(|t| t as i64),
        usage_id,
        now
    ])
}

fn corrupt(column: usize, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, message.into())
}

pub(crate) fn read(r: &Row<'_>) -> rusqlite::Result<Sample> {
    let kind: String = r.get(1)?;
    let kind = Kind::parse(&kind).ok_or_else(|| corrupt(1, format!("unknown kind {kind:?}")))?;
    let parents: String = r.get(7)?;
    let parent_ids: Vec<String> = serde_json::from_str(&parents)
        .map_err(|e| corrupt(7, format!("parent_ids is not a JSON list: {e}")))?;
    let status: String = r.get(13)?;
    let status = match status.as_str() {
        "ok" => ParseStatus::Ok,
        "unparsable" => ParseStatus::Unparsable,
        other => return Err(corrupt(13, format!("unknown status {other:?}"))),
    };
    Ok(Sample {
        id: r.get(0)?,
        kind,
        problem_key: r.get(2)?,
        round: r.get(3)?,
        idx: r.get(4)?,
        target_id: r.get(5)?,
        proof_id: r.get(6)?,
        parent_ids,
        text: r.get(8)?,
        reasoning: r.get(9)?,
        body: r.get(10)?,
        self_eval: r.get(11)?,
        score: r.get(12)?,
        status,
        reason: r.get(14)?,
        finish_reason: r.get(15)?,
        completion_tokens: r.get::<_, Option<i64>>(16)?.map(|t| t as u64),
    })
}
