//! Opt-in timing of the forward pass by operation, for `bench engine --profile`.
//!
//! Off by default, when each hook costs one relaxed atomic load. Switched on, every
//! matrix product is timed under its tensor role and type (`ffn_down Q6_K`), the
//! attention over the cache under `attention`, and whole passes under `forward`, so
//! "other" (norms, RoPE, activations, copies) is what the rest leaves of a pass.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static ON: AtomicBool = AtomicBool::new(false);
static TABLE: Mutex<BTreeMap<String, Entry>> = Mutex::new(BTreeMap::new());

/// Time spent in one operation since the last [`take`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Entry {
    pub time: Duration,
    pub calls: u64,
    /// Floating-point operations done (2 per multiply-add), where known.
    pub flops: f64,
}

/// Start or stop recording.
pub fn enable(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

/// A clock for one operation: `None` (free) while profiling is off.
pub fn start() -> Option<Instant> {
    ON.load(Ordering::Relaxed).then(Instant::now)
}

/// Add the time since `started` (from [`start`]) to `op`.
pub fn record(op: impl FnOnce() -> String, started: Option<Instant>, flops: f64) {
    let Some(t0) = started else { return };
    let elapsed = t0.elapsed();
    let mut table = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    let e = table.entry(op()).or_default();
    e.time += elapsed;
    e.calls += 1;
    e.flops += flops;
}

/// Everything recorded so far, by operation, and a fresh start.
pub fn take() -> BTreeMap<String, Entry> {
    std::mem::take(&mut *TABLE.lock().unwrap_or_else(|p| p.into_inner()))
}

/// A tensor's role without its layer: `blk.3.ffn_down.weight` -> `ffn_down`.
pub fn role(tensor: &str) -> &str {
    let name = tensor.strip_suffix(".weight").unwrap_or(tensor);
    match name.strip_prefix("blk.") {
        Some(rest) => rest.split_once('.').map_or(rest, |(_, r)| r),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_drop_the_layer_and_suffix() {
        assert_eq!(role("blk.12.attn_q.weight"), "attn_q");
        assert_eq!(role("output.weight"), "output");
        assert_eq!(role("token_embd"), "token_embd");
    }

    #[test]
    fn recording_only_happens_when_enabled() {
        enable(false);
        assert!(start().is_none());
        enable(true);
        let t = start();
        record(|| "op".into(), t, 10.0);
        record(|| "op".into(), start(), 5.0);
        enable(false);
        let table = take();
        assert_eq!(table["op"].calls, 2);
        assert_eq!(table["op"].flops, 15.0);
    }
}
