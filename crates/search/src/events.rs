//! Progress events of a search, sent on a channel as they happen (progress bars now,
//! a web UI later). Sending never blocks the search; a closed channel is ignored.

use serde::Serialize;
use store::Kind;

/// Something that happened in a search.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SearchEvent {
    /// A round of a problem began; `planned` proofs will be made in it.
    RoundStarted {
        problem: String,
        round: u32,
        planned: u32,
    },
    /// `samples` more samples were requested (the progress total grows).
    Queued { problem: String, samples: u32 },
    /// A sample was stored; `tokens` it took to generate.
    SampleDone {
        problem: String,
        kind: Kind,
        id: String,
        score: Option<f64>,
        parsed: bool,
        tokens: u64,
    },
    /// Samples were already stored by an earlier run and are not requested again.
    Resumed { problem: String, samples: u32 },
    /// The best proof changed.
    BestSoFar {
        problem: String,
        proof_id: String,
        mean_score: f64,
    },
    /// A request failed after the backend's own retries.
    RequestFailed { problem: String, error: String },
    /// The problem is finished.
    ProblemDone { problem: String, solved: bool },
}

/// Where events go; `None` drops them.
pub type EventSender = Option<tokio::sync::mpsc::UnboundedSender<SearchEvent>>;

pub(crate) fn emit(tx: &EventSender, event: SearchEvent) {
    if let Some(tx) = tx {
        let _ = tx.send(event);
    }
}
