//! One model request: a planned batch of samples sharing one prompt, sent with `n`,
//! parsed, and stored the moment it comes back.

use crate::events::{emit, SearchEvent};
use crate::parse::{parse_judgement, parse_proof};
use crate::run::Inner;
use llm::{ChatRequest, Completion, FinishReason, Message};
use std::sync::Arc;
use store::{Kind, ParseStatus, Sample};

/// A planned request: the ids of its samples (consecutive indices) and their prompt.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub kind: Kind,
    pub problem_key: String,
    pub round: u32,
    /// First sample index; the request covers `first..first + count`.
    pub first: u32,
    pub count: u32,
    /// The ids of the samples, in index order.
    pub ids: Vec<String>,
    pub target_id: Option<String>,
    pub proof_id: Option<String>,
    pub parent_ids: Vec<String>,
    /// Shared by every job of the same prompt: thousands of pending verifications of
    /// one proof hold one copy.
    pub prompt: Arc<str>,
}

/// How a request ended.
pub(crate) enum JobResult {
    /// The samples were stored (all of them, or as many as the server returned).
    Stored { samples: Vec<Sample>, short: u32 },
    /// Not sent, or cut off, because the token or time budget ran out.
    OutOfBudget,
    /// The backend failed after its own retries, or the store failed.
    Failed(String),
}

/// Send `job`, parse its answers, store them, report them.
pub(crate) async fn run_job(inner: Arc<Inner>, job: Job) -> JobResult {
    // The semaphore bounds requests in flight over every problem of the run.
    let Ok(_permit) = inner.limiter.acquire().await else {
        return JobResult::Failed("request limiter closed".into());
    };
    if inner.budget.exhausted() {
        return JobResult::OutOfBudget;
    }
    let (llm, model) = match job.kind {
        Kind::Proof => (&inner.generator, &inner.generator_model),
        Kind::Verification | Kind::Meta => (&inner.verifier, &inner.verifier_model),
    };
    let mut request = ChatRequest::new(vec![Message::user(job.prompt.to_string())]);
    request.model = model.clone();
    request.n = job.count;
    request.temperature = inner.cfg.temperature;
    request.top_p = inner.cfg.top_p;
    request.max_tokens = inner.cfg.max_tokens;
    let answer = match inner.budget.deadline {
        Some(deadline) => match tokio::time::timeout_at(deadline, llm.chat(request)).await {
            Ok(r) => r,
            Err(_) => return JobResult::OutOfBudget,
        },
        None => llm.chat(request).await,
    };
    let response = match answer {
        Ok(r) => r,
        Err(e) => return JobResult::Failed(e.to_string()),
    };
    inner.budget.spend(response.usage.total());
    let samples = match store_answers(&inner.store, &inner.events, &job, &response) {
        Ok(samples) => samples,
        Err(e) => return JobResult::Failed(e),
    };
    let short = job.count - samples.len() as u32;
    JobResult::Stored { samples, short }
}

/// Parse the answers of `job`'s request, store them with the request's usage in one
/// transaction, and report each stored sample as an event. Shared by the proof search
/// and final-answer mode. At most `job.count` answers are kept.
pub(crate) fn store_answers(
    store: &store::Store,
    events: &crate::events::EventSender,
    job: &Job,
    response: &llm::ChatResponse,
) -> Result<Vec<Sample>, String> {
    let samples: Vec<Sample> = response
        .completions
        .iter()
        .take(job.count as usize)
        .enumerate()
        .map(|(i, c)| to_sample(job, job.first + i as u32, &job.ids[i], c))
        .collect();
    store
        .insert_samples(
            &job.problem_key,
            job.kind,
            &samples,
            store::RequestTokens {
                prompt: response.usage.prompt_tokens,
                cached_prompt: response.usage.cached_prompt_tokens,
                completion: response.usage.completion_tokens,
            },
        )
        .map_err(|e| format!("could not store samples: {e}"))?;
    for s in &samples {
        emit(
            events,
            SearchEvent::SampleDone {
                problem: job.problem_key.clone(),
                kind: s.kind,
                id: s.id.clone(),
                score: s.score,
                parsed: s.status == ParseStatus::Ok,
                tokens: s.completion_tokens.unwrap_or(0),
            },
        );
    }
    Ok(samples)
}

/// Parse one completion into the sample planned as `id`.
fn to_sample(job: &Job, idx: u32, id: &str, c: &Completion) -> Sample {
    // Backends split reasoning off already; a stray inline block is split here too.
    let (text, reasoning) = if c.text.contains("</think>") {
        let (t, r) = llm::split_think(&c.text);
        (t, r.or_else(|| c.reasoning.clone()))
    } else {
        (c.text.clone(), c.reasoning.clone())
    };
    let mut sample = Sample {
        id: id.to_string(),
        kind: job.kind,
        problem_key: job.problem_key.clone(),
        round: job.round,
        idx,
        target_id: job.target_id.clone(),
        proof_id: job.proof_id.clone(),
        parent_ids: job.parent_ids.clone(),
        text,
        reasoning,
        body: None,
        self_eval: None,
        score: None,
        status: ParseStatus::Ok,
        reason: None,
        finish_reason: match c.finish_reason {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::Other => "other",
        }
        .to_string(),
        completion_tokens: c.completion_tokens,
    };
    let error = match job.kind {
        Kind::Proof => {
            sample.proof_id = Some(id.to_string());
            let p = parse_proof(&sample.text, c.finish_reason);
            // Without a usable solution section, the whole answer stands in as the
            // proof (verified only with `verify_unparsable`, never able to pass).
            let whole = sample.text.trim();
            sample.body = p
                .proof
                .or_else(|| (!whole.is_empty()).then(|| whole.to_string()));
            sample.self_eval = p.self_eval;
            sample.score = p.self_score;
            p.error
        }
        Kind::Verification | Kind::Meta => {
            let p = parse_judgement(&sample.text, c.finish_reason);
            sample.score = p.score;
            p.error
        }
    };
    if let Some(reason) = error {
        sample.status = ParseStatus::Unparsable;
        sample.reason = Some(reason);
    }
    sample
}
