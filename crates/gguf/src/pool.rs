//! The team of threads that runs the forward pass's parallel loops.
//!
//! Decoding one sequence runs a few hundred parallel loops per token, most of them
//! tens of microseconds long, so the cost of starting and joining one matters as
//! much as the work. The team is built once per process: `threads() - 1` helpers
//! that wait for work by spinning on a counter (and, after a while with nothing to
//! do, sleep), and the calling thread, which takes its share of every loop. A loop
//! is one store to publish it, items claimed from one atomic counter, and one
//! counter the caller watches until every helper has finished; no queue, no
//! allocation and no system call while the helpers are awake.
//!
//! One loop runs at a time. A loop started while the team is busy (from another
//! thread, or from inside a loop) runs on its calling thread, item by item, so
//! callers never wait for each other and nesting cannot deadlock.

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long an idle helper spins before it goes to sleep. Longer than the gaps
/// between the loops of a forward pass and between decode steps (sampling, the
/// scheduler), short enough that an idle engine stops using the cores at once.
const SPIN: Duration = Duration::from_millis(2);

/// One published loop: `f(i)` for every `i < items`.
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    items: usize,
}

struct Team {
    /// Bumped to publish a loop; helpers wait for it to change.
    epoch: AtomicU64,
    /// The loop of the current epoch, written by the caller before the epoch's
    /// bump and not touched again until every helper has reported done.
    job: UnsafeCell<*const Job<'static>>,
    /// The next item to claim.
    next: AtomicUsize,
    /// Helpers that have finished the current epoch's loop.
    done: AtomicUsize,
    /// Helpers asleep (or about to be); the caller wakes them when non-zero.
    sleepers: AtomicUsize,
    /// The first panic of an item on a helper in the current loop, for the caller
    /// to resume.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// Taken by the caller of a loop for its whole duration.
    busy: AtomicBool,
    helpers: OnceLock<Vec<Thread>>,
}

// SAFETY: `job` is written only by the thread holding `busy`, while no helper reads
// it (all have reported done for the previous epoch), and read by helpers only
// between an epoch's bump (Release/Acquire on `epoch`) and their report on `done`.
unsafe impl Sync for Team {}

/// Threads that run a loop, the caller included: `RAYON_NUM_THREADS` as rayon reads
/// it (the tools' usual knob), else one per core; fixed at first use.
pub fn threads() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        let set = std::env::var("RAYON_NUM_THREADS").ok();
        match set.and_then(|v| v.trim().parse::<usize>().ok()) {
            Some(n) if n > 0 => n,
            _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    })
}

fn team() -> &'static Team {
    static TEAM: OnceLock<&'static Team> = OnceLock::new();
    TEAM.get_or_init(|| {
        let team: &'static Team = Box::leak(Box::new(Team {
            epoch: AtomicU64::new(0),
            job: UnsafeCell::new(std::ptr::null()),
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            panic: Mutex::new(None),
            busy: AtomicBool::new(false),
            helpers: OnceLock::new(),
        }));
        let mut handles = Vec::new();
        for i in 1..threads() {
            let spawned = std::thread::Builder::new()
                .name(format!("verimath-worker-{i}"))
                .spawn(move || team.serve());
            match spawned {
                Ok(h) => handles.push(h.thread().clone()),
                // Fewer helpers only means less parallelism.
                Err(_) => break,
            }
        }
        let _ = team.helpers.set(handles);
        team
    })
}

impl Team {
    fn helper_count(&self) -> usize {
        self.helpers.get().map_or(0, Vec::len)
    }

    /// Claims and runs items of `job` until none are left.
    fn drain(&self, job: &Job<'_>) {
        loop {
            let i = self.next.fetch_add(1, Relaxed);
            if i >= job.items {
                return;
            }
            (job.f)(i);
        }
    }

    /// A helper's life: wait for an epoch, run its items, report, repeat.
    fn serve(&self) {
        let mut seen = 0;
        loop {
            seen = self.wait_past(seen);
            // SAFETY: see `impl Sync for Team`: the caller published this job before
            // bumping the epoch and keeps it alive until this helper reports done.
            let job = unsafe { &**self.job.get() };
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| self.drain(job))) {
                // Kept, not dropped here: a payload whose drop panics would end this
                // thread before it reports, and the caller would wait for ever.
                let mut slot = self.panic.lock().unwrap_or_else(|e| e.into_inner());
                if slot.is_none() {
                    *slot = Some(p);
                }
            }
            self.done.fetch_add(1, Release);
        }
    }

    /// Waits until the epoch differs from `seen` and returns it: spinning first,
    /// then asleep until the next caller wakes this thread.
    fn wait_past(&self, seen: u64) -> u64 {
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            let e = self.epoch.load(Acquire);
            if e != seen {
                return e;
            }
            std::hint::spin_loop();
            spins += 1;
            if spins.is_multiple_of(1024) && start.elapsed() > SPIN {
                self.sleepers.fetch_add(1, SeqCst);
                // Checked again after announcing the sleep: a caller that bumped the
                // epoch before seeing `sleepers` change is caught here, and one that
                // bumps it after will unpark this thread (which makes `park` return
                // at once even if the unpark comes first).
                while self.epoch.load(SeqCst) == seen {
                    std::thread::park();
                }
                self.sleepers.fetch_sub(1, SeqCst);
            }
        }
    }

    /// Runs `job` on the helpers and the calling thread, which holds `busy`.
    fn run(&self, job: &Job<'_>) {
        let helpers = self.helper_count();
        // SAFETY: every helper reported done for the previous epoch, so none reads
        // `job` now; the pointer is cleared below before `job` goes out of scope.
        unsafe { *self.job.get() = (job as *const Job<'_>).cast() };
        self.next.store(0, Relaxed);
        self.done.store(0, Relaxed);
        self.epoch.fetch_add(1, SeqCst);
        if self.sleepers.load(SeqCst) > 0 {
            for t in self.helpers.get().into_iter().flatten() {
                t.unpark();
            }
        }
        let mine = catch_unwind(AssertUnwindSafe(|| self.drain(job)));
        // Helpers still hold `job` until they report, even if this thread panicked.
        while self.done.load(Acquire) < helpers {
            std::hint::spin_loop();
        }
        // SAFETY: no helper reads the pointer again before the next epoch.
        unsafe { *self.job.get() = std::ptr::null() };
        let theirs = self.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(p) = mine.err().or(theirs) {
            resume_unwind(p);
        }
    }
}

/// Runs `f(i)` for every `i < items`, spread over the team; returns when all are
/// done. Items are claimed one at a time, so make each worth a few microseconds.
pub fn for_each(items: usize, f: impl Fn(usize) + Sync) {
    if items <= 1 || threads() == 1 {
        (0..items).for_each(f);
        return;
    }
    let team = team();
    if team.busy.swap(true, Acquire) {
        (0..items).for_each(f);
        return;
    }
    /// Frees the team when the loop ends, unwinding included.
    struct Unlock<'a>(&'a AtomicBool);
    impl Drop for Unlock<'_> {
        fn drop(&mut self) {
            self.0.store(false, Release);
        }
    }
    let _unlock = Unlock(&team.busy);
    team.run(&Job { f: &f, items });
}

/// Splits `data` into pieces of `chunk` items (the last may be shorter) and runs
/// `f(index, piece)` on each, spread over the team.
///
/// # Panics
/// If `chunk` is zero.
pub fn for_each_chunk_mut<T: Send>(
    data: &mut [T],
    chunk: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    assert!(chunk > 0, "chunk size 0");
    let len = data.len();
    let base = SendPtr(data.as_mut_ptr());
    for_each(len.div_ceil(chunk), |i| {
        let start = i * chunk;
        let n = chunk.min(len - start);
        // SAFETY: item `i` is the only one given the range `start..start + n`, which
        // lies inside `data`; `data` is borrowed mutably for the whole loop.
        let piece = unsafe { std::slice::from_raw_parts_mut(base.get().add(start), n) };
        f(i, piece);
    });
}

/// Runs `f(index, &mut data[ranges[index]])` for every range, spread over the team.
///
/// # Panics
/// If the ranges are not in increasing order, overlap, or leave `data`.
pub fn for_each_range_mut<T: Send>(
    data: &mut [T],
    ranges: &[std::ops::Range<usize>],
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    let mut end = 0;
    for r in ranges {
        assert!(
            end <= r.start && r.start <= r.end && r.end <= data.len(),
            "ranges must be increasing, disjoint and inside the slice"
        );
        end = r.end;
    }
    let base = SendPtr(data.as_mut_ptr());
    for_each(ranges.len(), |i| {
        let r = &ranges[i];
        // SAFETY: the ranges were checked to be disjoint and inside `data`, which is
        // borrowed mutably for the whole loop.
        let piece = unsafe { std::slice::from_raw_parts_mut(base.get().add(r.start), r.len()) };
        f(i, piece);
    });
}

/// A raw pointer that may cross threads; the loop that uses it hands out disjoint
/// ranges.
struct SendPtr<T>(*mut T);
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
// SAFETY: only used by the loops above, whose items touch disjoint ranges.
unsafe impl<T: Send> Sync for SendPtr<T> {}
unsafe impl<T: Send> Send for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// A method, so closures capture the whole wrapper and not its raw field.
    fn get(self) -> *mut T {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_runs_once() {
        for items in [0, 1, 2, 3, 17, 1000] {
            let hits: Vec<AtomicUsize> = (0..items).map(|_| AtomicUsize::new(0)).collect();
            for_each(items, |i| {
                hits[i].fetch_add(1, Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Relaxed) == 1), "{items} items");
        }
    }

    #[test]
    fn chunks_cover_the_slice() {
        let mut v = vec![0usize; 1003];
        for_each_chunk_mut(&mut v, 10, |i, piece| {
            for (j, x) in piece.iter_mut().enumerate() {
                *x = i * 10 + j;
            }
        });
        assert!(v.iter().enumerate().all(|(i, &x)| i == x));
    }

    #[test]
    fn ranges_get_their_pieces() {
        let mut v = vec![0usize; 20];
        let ranges = [0..3, 3..3, 5..9, 9..20];
        for_each_range_mut(&mut v, &ranges, |i, piece| piece.fill(i + 1));
        assert_eq!(&v[..5], &[1, 1, 1, 0, 0]);
        assert!(v[5..9].iter().all(|&x| x == 3) && v[9..].iter().all(|&x| x == 4));
    }

    #[test]
    #[should_panic(expected = "disjoint")]
    fn overlapping_ranges_are_refused() {
        let mut v = vec![0u8; 10];
        for_each_range_mut(&mut v, &[0..5, 4..6], |_, _| ());
    }

    #[test]
    fn nested_and_concurrent_loops_finish() {
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..200 {
                        for_each(4, |_| {
                            for_each(3, |_| {
                                total.fetch_add(1, Relaxed);
                            });
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(Relaxed), 3 * 200 * 12);
    }

    #[test]
    fn a_panicking_item_reaches_the_caller() {
        let r = catch_unwind(|| {
            for_each(64, |i| {
                if i == 40 {
                    panic!("item 40");
                }
            })
        });
        // The item's own message comes through, from whichever thread ran it.
        let p = r.expect_err("the loop panicked");
        assert_eq!(p.downcast_ref::<&str>(), Some(&"item 40"));
        // The team still works afterwards.
        let n = AtomicUsize::new(0);
        for_each(10, |_| {
            n.fetch_add(1, Relaxed);
        });
        assert_eq!(n.load(Relaxed), 10);
    }

    #[test]
    fn helpers_wake_after_sleeping() {
        for_each(8, |_| ());
        std::thread::sleep(SPIN * 3);
        let n = AtomicUsize::new(0);
        for_each(8, |_| {
            n.fetch_add(1, Relaxed);
        });
        assert_eq!(n.load(Relaxed), 8);
    }
}
