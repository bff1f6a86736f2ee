//! Ready-made responders, used by the standalone binary and handy in tests.

use crate::{ChatRequestSeen, Reply};

/// The fixed answer of [`instant`].
pub const INSTANT_TEXT: &str = "ok \\boxed{1}";

/// Answer every request at once with a short fixed text (throughput benchmarks
/// measure the client, not the server).
pub fn instant() -> impl Fn(&ChatRequestSeen) -> Reply + Send + Sync + 'static {
    |_req| Reply::text(INSTANT_TEXT)
}

/// Answer with the last user message, so a client can check what it sent.
pub fn echo() -> impl Fn(&ChatRequestSeen) -> Reply + Send + Sync + 'static {
    |req| Reply::text(req.last_user())
}

/// Answer the first `k` requests with HTTP `status`, then defer to `inner`.
pub fn fail_first<F>(
    k: u64,
    status: u16,
    inner: F,
) -> impl Fn(&ChatRequestSeen) -> Reply + Send + Sync + 'static
where
    F: Fn(&ChatRequestSeen) -> Reply + Send + Sync + 'static,
{
    move |req| {
        if req.seq < k {
            Reply::error(status, format!("scripted failure {} of {k}", req.seq + 1))
        } else {
            inner(req)
        }
    }
}
