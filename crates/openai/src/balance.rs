//! Spreading requests over several endpoints of the same model.
//!
//! Each endpoint has a semaphore (the most requests it gets at once, so a single
//! server is not flooded past its batch size) and a count of outstanding requests,
//! which includes requests still queued for a permit. A new request goes to the
//! healthy endpoint with the fewest outstanding requests; an endpoint that just
//! failed with a retryable error is avoided for a cooldown that doubles with each
//! consecutive failure, and a success clears it.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// First cooldown after a failure; doubled per further consecutive failure.
const COOLDOWN_BASE: Duration = Duration::from_millis(250);
const COOLDOWN_MAX: Duration = Duration::from_secs(30);

/// One server base URL (ending in `/v1`) and its load.
#[derive(Debug)]
pub struct Endpoint {
    pub base: String,
    permits: Arc<Semaphore>,
    outstanding: AtomicUsize,
    /// Consecutive failures (reset by a success); drives the cooldown.
    failures: AtomicU32,
    down_until: Mutex<Option<Instant>>,
    attempts_total: AtomicU64,
    failures_total: AtomicU64,
}

/// Counters of one endpoint, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointStats {
    pub base: String,
    /// HTTP requests sent (retries included).
    pub attempts: u64,
    /// Attempts that failed in a way that counts against the endpoint.
    pub failures: u64,
    /// Requests picked for it and not finished, queued ones included.
    pub outstanding: usize,
}

impl Endpoint {
    fn new(base: String, max_concurrency: usize) -> Self {
        Endpoint {
            base,
            permits: Arc::new(Semaphore::new(max_concurrency.max(1))),
            outstanding: AtomicUsize::new(0),
            failures: AtomicU32::new(0),
            down_until: Mutex::new(None),
            attempts_total: AtomicU64::new(0),
            failures_total: AtomicU64::new(0),
        }
    }

    pub fn stats(&self) -> EndpointStats {
        EndpointStats {
            base: self.base.clone(),
            attempts: self.attempts_total.load(Ordering::SeqCst),
            failures: self.failures_total.load(Ordering::SeqCst),
            outstanding: self.outstanding(),
        }
    }

    /// Requests picked for this endpoint and not yet finished.
    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::SeqCst)
    }

    fn down_until(&self) -> Option<Instant> {
        let guard = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        guard.filter(|t| *t > Instant::now())
    }
}

/// The endpoints of one backend.
#[derive(Debug)]
pub struct Balancer {
    endpoints: Vec<Arc<Endpoint>>,
    next: AtomicUsize,
}

impl Balancer {
    /// `bases` must not be empty (checked by the backend's constructor).
    pub fn new(bases: Vec<String>, max_concurrency: usize) -> Self {
        Balancer {
            endpoints: bases
                .into_iter()
                .map(|b| Arc::new(Endpoint::new(b, max_concurrency)))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.endpoints
    }

    /// Choose an endpoint for one request. Healthy endpoints come first, then the
    /// fewest outstanding requests; ties rotate so equal endpoints share work. When
    /// every endpoint is cooling down, the one that recovers first is used.
    pub fn pick(&self) -> Option<Lease> {
        let len = self.endpoints.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let best = (0..len)
            .map(|k| &self.endpoints[(start + k) % len])
            .min_by_key(|e| {
                let wait = e.down_until().map(|t| t.saturating_duration_since(now));
                (wait.is_some(), wait, e.outstanding())
            })?;
        best.outstanding.fetch_add(1, Ordering::SeqCst);
        Some(Lease {
            endpoint: Arc::clone(best),
        })
    }
}

/// An endpoint chosen for one request; counts as outstanding until dropped.
#[derive(Debug)]
pub struct Lease {
    endpoint: Arc<Endpoint>,
}

impl Lease {
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Wait for a free slot on the endpoint; the request counts as an attempt
    /// from then on.
    pub async fn acquire(&self) -> Option<OwnedSemaphorePermit> {
        let permit = Arc::clone(&self.endpoint.permits)
            .acquire_owned()
            .await
            .ok();
        self.endpoint.attempts_total.fetch_add(1, Ordering::SeqCst);
        permit
    }

    pub fn succeeded(&self) {
        self.endpoint.failures.store(0, Ordering::SeqCst);
        *self
            .endpoint
            .down_until
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Record a failure that suggests the endpoint is unwell (not one caused by the
    /// request itself) and start its cooldown.
    pub fn failed(&self) {
        self.endpoint.failures_total.fetch_add(1, Ordering::SeqCst);
        let n = self.endpoint.failures.fetch_add(1, Ordering::SeqCst);
        let cooldown = COOLDOWN_BASE
            .saturating_mul(2u32.saturating_pow(n.min(16)))
            .min(COOLDOWN_MAX);
        *self
            .endpoint
            .down_until
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + cooldown);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.endpoint.outstanding.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_outstanding_then_rotation() {
        let b = Balancer::new(vec!["a".into(), "b".into()], 4);
        let l1 = b.pick().expect("endpoint");
        let l2 = b.pick().expect("endpoint");
        assert_ne!(l1.endpoint().base, l2.endpoint().base);
        drop(l2);
        let l3 = b.pick().expect("endpoint");
        assert_ne!(l3.endpoint().base, l1.endpoint().base, "idle one is chosen");
    }

    #[test]
    fn failed_endpoint_is_avoided_until_it_succeeds() {
        let b = Balancer::new(vec!["a".into(), "b".into()], 4);
        let bad = b.pick().expect("endpoint");
        bad.failed();
        let name = bad.endpoint().base.clone();
        drop(bad);
        for _ in 0..5 {
            assert_ne!(b.pick().expect("endpoint").endpoint().base, name);
        }
        assert!(Balancer::new(Vec::new(), 1).pick().is_none());
    }
}
