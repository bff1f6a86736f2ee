//! A progress line for runs over many problems (`solve`, `eval`): problems done,
//! samples done of samples queued, completion tokens per second and, when the caller
//! grades answers, the running accuracy. Drawn only when stderr is a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use search::SearchEvent;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

/// The counters behind the line.
#[derive(Default)]
struct Counts {
    problems_done: u64,
    samples_done: u64,
    samples_queued: u64,
    tokens: u64,
    graded: u64,
    correct: u64,
}

/// The progress line; feed it search events through the sender from [`Progress::start`].
pub struct Progress {
    bar: ProgressBar,
    counts: Arc<Mutex<Counts>>,
    started: Instant,
    task: JoinHandle<()>,
}

impl Progress {
    /// A line for `problems` problems, and the sender its events arrive on.
    pub fn start(problems: usize) -> (Progress, UnboundedSender<SearchEvent>) {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(problems as u64), target);
        bar.set_style(
            ProgressStyle::with_template("problems [{bar:25}] {pos}/{len} | {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let (tx, rx) = unbounded_channel();
        let counts = Arc::new(Mutex::new(Counts::default()));
        let started = Instant::now();
        let task = tokio::spawn(listen(rx, bar.clone(), counts.clone(), started));
        (
            Progress {
                bar,
                counts,
                started,
                task,
            },
            tx,
        )
    }

    /// A problem finished; `correct` when its answer was graded.
    pub fn problem_done(&self, correct: Option<bool>) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        c.problems_done += 1;
        if let Some(ok) = correct {
            c.graded += 1;
            c.correct += u64::from(ok);
        }
        self.bar.set_position(c.problems_done);
        self.bar.set_message(message(&c, self.started));
    }

    /// Wait for the event senders to close (drop them first), then clear the line.
    pub async fn finish(self) {
        let _ = self.task.await;
        self.bar.finish_and_clear();
    }
}

async fn listen(
    mut rx: UnboundedReceiver<SearchEvent>,
    bar: ProgressBar,
    counts: Arc<Mutex<Counts>>,
    started: Instant,
) {
    while let Some(event) = rx.recv().await {
        let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            SearchEvent::Queued { samples, .. } => c.samples_queued += u64::from(samples),
            SearchEvent::SampleDone { tokens, .. } => {
                c.samples_done += 1;
                c.tokens += tokens;
            }
            SearchEvent::RequestFailed { problem, error } => {
                bar.suspend(|| eprintln!("{problem}: request failed: {error}"));
            }
            _ => {}
        }
        bar.set_message(message(&c, started));
    }
}

fn message(c: &Counts, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    let mut m = format!(
        "{}/{} samples | {:.1} tok/s",
        c.samples_done,
        c.samples_queued,
        c.tokens as f64 / secs
    );
    if c.graded > 0 {
        m.push_str(&format!(
            " | accuracy {:.1}% of {}",
            100.0 * c.correct as f64 / c.graded as f64,
            c.graded
        ));
    }
    m
}

/// Run one future per problem, at most `window` at a time, results in input order.
///
/// Problems start in order and a new one starts when one ends, so problems finish
/// roughly in order (a stopped run leaves a prefix of finished problems, not every
/// problem half done) while enough run at once to fill the engine's batch.
pub async fn in_order<F, T>(futures: impl IntoIterator<Item = F>, window: usize) -> Vec<T>
where
    F: std::future::Future<Output = T>,
{
    use futures::StreamExt;
    futures::stream::iter(futures)
        .buffered(window.max(1))
        .collect()
        .await
}

/// How many problems to run at once: enough that their first requests (`samples`
/// each) fill `concurrency` request slots, plus one so that a new problem's samples
/// are already queued while the last ones verify.
pub fn problem_window(samples: u32, concurrency: usize) -> usize {
    concurrency.div_ceil(samples.max(1) as usize) + 1
}
