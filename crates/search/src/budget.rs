//! The token and wall-clock budget of a run, shared by every request.

use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::Instant;

/// Limits on tokens and time. Once exhausted, no new request is sent; requests in
/// flight at the deadline are abandoned (their samples stay unplanned-as-done, so a
/// later run with a larger budget requests them again).
#[derive(Debug)]
pub struct Budget {
    pub(crate) deadline: Option<Instant>,
    max_tokens: Option<u64>,
    used: AtomicU64,
}

impl Budget {
    /// A budget of `max_tokens` (counting `already_used`) ending at `deadline`.
    pub fn new(max_tokens: Option<u64>, deadline: Option<Instant>, already_used: u64) -> Self {
        Budget {
            deadline,
            max_tokens,
            used: AtomicU64::new(already_used),
        }
    }

    pub fn spend(&self, tokens: u64) {
        self.used.fetch_add(tokens, Ordering::Relaxed);
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn exhausted(&self) -> bool {
        self.max_tokens.is_some_and(|m| self.used() >= m)
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}
