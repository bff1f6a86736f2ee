//! Jobs: proof searches and solves started over HTTP, each a run database
//! `{run_dir}/{id}.sqlite`, with their progress as a replayable event stream.
//!
//! A job's request is stored in its run (`config.job`), and its state
//! (`config.job_state`: running, done, failed, cancelled). The run directory is the
//! list of jobs: runs written by `verimath prove` / `solve` / `eval` into it are listed
//! too, and after a restart the server lists every job from the files and resumes one
//! on request (`POST /api/jobs/{id}/resume`): its stored samples are never asked for
//! again. Events are kept per running job so a client that connects late first gets
//! everything that already happened, then the live events.

use crate::error::ApiError;
use eval::checker::Checker;
use llm::Llm;
use search::outcome::{summarize, StopReason};
use search::solve::{answers_disagree, SolveConfig, Solver, SolverParts};
use search::{Preset, Search, SearchConfig, SearchEvent, SearchParts, Templates};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use store::{Problem, Store};
use tokio::sync::broadcast;

/// What a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Prove,
    Solve,
}

/// A job as submitted (stored with the run, so it can be resumed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRequest {
    pub kind: JobKind,
    pub problem: String,
    /// The search settings (prove).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchConfig>,
    /// The solve settings and gold answer (solve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solve: Option<SolveConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold: Option<String>,
}

/// The models jobs run on.
#[derive(Clone)]
pub struct JobBackends {
    pub generator: Arc<dyn Llm>,
    pub verifier: Arc<dyn Llm>,
    pub generator_model: Option<String>,
    pub verifier_model: Option<String>,
    /// The preset a prove job starts from (quick for a local model).
    pub preset: Preset,
}

/// A running job's event log and live channel.
struct Live {
    history: Mutex<Vec<Value>>,
    tx: broadcast::Sender<Value>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Live {
    fn push(&self, event: Value) {
        let mut h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        h.push(event.clone());
        // No receiver is fine: the history keeps it for late clients.
        let _ = self.tx.send(event);
    }
}

/// The events of a running job so far, and a receiver of the ones to come.
pub type Subscription = (Vec<Value>, broadcast::Receiver<Value>);

/// Counts a job in `jobs_running` for as long as it lives.
struct RunningJob(Arc<crate::metrics::Metrics>);

impl RunningJob {
    fn new(metrics: Arc<crate::metrics::Metrics>) -> RunningJob {
        metrics.jobs_running.inc();
        RunningJob(metrics)
    }
}

impl Drop for RunningJob {
    fn drop(&mut self) {
        self.0.jobs_running.dec();
    }
}

/// The job manager.
pub struct Jobs {
    dir: PathBuf,
    backends: JobBackends,
    templates: Templates,
    max_running: usize,
    live: Mutex<HashMap<String, Arc<Live>>>,
}

/// Job ids name files in the run directory: letters, digits, `-`, `_` and `.` (not
/// first), so no id can reach outside it.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn new_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("job-{t:x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

const REQUEST_KEY: &str = "job";
const STATE_KEY: &str = "job_state";

impl Jobs {
    pub fn new(
        dir: PathBuf,
        backends: JobBackends,
        templates: Templates,
        max_running: usize,
    ) -> Jobs {
        Jobs {
            dir,
            backends,
            templates,
            max_running: max_running.max(1),
            live: Mutex::new(HashMap::new()),
        }
    }

    /// The preset prove jobs start from.
    pub fn preset(&self) -> Preset {
        self.backends.preset
    }

    fn path(&self, id: &str) -> Result<PathBuf, ApiError> {
        if !valid_id(id) {
            return Err(ApiError::not_found(format!("no job {id:?}")));
        }
        Ok(self.dir.join(format!("{id}.sqlite")))
    }

    fn open(&self, id: &str) -> Result<Store, ApiError> {
        let path = self.path(id)?;
        if !path.is_file() {
            return Err(ApiError::not_found(format!("no job {id:?}")));
        }
        Ok(Store::open(&path)?)
    }

    /// Start a new job; its id.
    pub fn submit(
        self: &Arc<Self>,
        request: JobRequest,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<String, ApiError> {
        let id = new_id();
        self.start(&id, request, metrics)?;
        Ok(id)
    }

    /// Resume a stored job (after a cancel or a restart).
    pub fn resume(
        self: &Arc<Self>,
        id: &str,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<(), ApiError> {
        let store = self.open(id)?;
        let request: JobRequest = store
            .config(REQUEST_KEY)?
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{id} was not started as a job, so it cannot be resumed here"
                ))
            })?;
        self.start(id, request, metrics)
    }

    fn is_running(&self, id: &str) -> bool {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(id)
    }

    fn start(
        self: &Arc<Self>,
        id: &str,
        request: JobRequest,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<(), ApiError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            ApiError::status(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        })?;
        let path = self.path(id)?;
        let (tx, _) = broadcast::channel(1024);
        let live = Arc::new(Live {
            history: Mutex::new(Vec::new()),
            tx,
            task: Mutex::new(None),
        });
        // Jobs in the live map are running: the entry is made here, under the map's
        // lock together with the limit check (so two submits, or two resumes of one
        // job, cannot both get in), and removed when the task ends or is cancelled.
        {
            let mut map = self.live.lock().unwrap_or_else(|e| e.into_inner());
            if map.contains_key(id) {
                return Err(ApiError::status(
                    axum::http::StatusCode::CONFLICT,
                    format!("{id} is running"),
                ));
            }
            if map.len() >= self.max_running {
                return Err(ApiError::status(
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "{} jobs are running, the most this server runs at once; try again later",
                        self.max_running
                    ),
                ));
            }
            map.insert(id.to_string(), live.clone());
        }
        let opened = Store::open(&path).and_then(|s| {
            s.set_config(
                REQUEST_KEY,
                &serde_json::to_string(&request).unwrap_or_default(),
            )?;
            s.set_config(STATE_KEY, "running")?;
            Ok(s)
        });
        let store = match opened {
            Ok(s) => Arc::new(s),
            Err(e) => {
                self.forget(id);
                return Err(e.into());
            }
        };
        let jobs = self.clone();
        let job_id = id.to_string();
        let handle = live.clone();
        let task = tokio::spawn(async move {
            // Counted while the task lives, cancelled or not.
            let _running = RunningJob::new(metrics);
            let outcome = jobs
                .run(&job_id, &request, store.clone(), live.clone())
                .await;
            let (state, error) = match outcome {
                Ok(()) => ("done", None),
                Err(e) => ("failed", Some(e)),
            };
            let _ = store.set_config(STATE_KEY, state);
            let result = jobs.result(&job_id).ok();
            live.push(json!({"event": "done", "state": state, "error": error, "result": result}));
            // The run database holds everything now: later clients get a replay.
            jobs.forget(&job_id);
        });
        *handle.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(())
    }

    /// Drop a job's live entry (its event log and channel).
    fn forget(&self, id: &str) {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    async fn run(
        &self,
        id: &str,
        request: &JobRequest,
        store: Arc<Store>,
        live: Arc<Live>,
    ) -> Result<(), String> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<SearchEvent>();
        let forward = {
            let live = live.clone();
            tokio::spawn(async move {
                while let Some(e) = rx.recv().await {
                    live.push(serde_json::to_value(&e).unwrap_or(Value::Null));
                }
            })
        };
        let problem = Problem {
            answer: request.gold.clone(),
            ..Problem::statement(id, &request.problem)
        };
        let b = &self.backends;
        let result = match request.kind {
            JobKind::Prove => {
                let cfg = request.search.clone().unwrap_or_else(|| b.preset.config());
                let search = Search::new(SearchParts {
                    generator: b.generator.clone(),
                    verifier: b.verifier.clone(),
                    generator_model: b.generator_model.clone(),
                    verifier_model: b.verifier_model.clone(),
                    store,
                    templates: self.templates.clone(),
                    cfg,
                    events: Some(tx),
                })
                .map_err(|e| e.to_string())?;
                search
                    .prove(&problem)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            JobKind::Solve => {
                let solver = Solver::new(SolverParts {
                    generator: b.generator.clone(),
                    verifier: b.verifier.clone(),
                    generator_model: b.generator_model.clone(),
                    verifier_model: b.verifier_model.clone(),
                    store,
                    templates: self.templates.clone(),
                    cfg: request.solve.clone().unwrap_or_default(),
                    checker: Arc::new(Checker::new()),
                    events: Some(tx),
                    concurrency: 16,
                })
                .map_err(|e| e.to_string())?;
                solver
                    .solve(&problem)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        };
        let _ = forward.await;
        result
    }

    /// Cancel a running job; its stored samples stay.
    pub fn cancel(&self, id: &str) -> Result<(), ApiError> {
        let store = self.open(id)?;
        let live = self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        let Some(live) = live else {
            return Err(ApiError::status(
                axum::http::StatusCode::CONFLICT,
                format!("{id} is not running"),
            ));
        };
        if let Some(task) = live.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
        store.set_config(STATE_KEY, "cancelled")?;
        live.push(json!({"event": "done", "state": "cancelled"}));
        Ok(())
    }

    /// Every run in the run directory, newest first.
    pub fn list(&self) -> Vec<Value> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut rows: Vec<(std::time::SystemTime, Value)> = entries
            .flatten()
            .filter_map(|e| {
                let path = e.path();
                let id = path
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".sqlite")?
                    .to_string();
                if !valid_id(&id) {
                    return None;
                }
                let modified = e.metadata().and_then(|m| m.modified()).ok()?;
                Some((
                    modified,
                    self.describe(&id, &path)
                        .unwrap_or_else(|e| json!({"id": id, "error": e.message})),
                ))
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        rows.into_iter().map(|r| r.1).collect()
    }

    fn state(&self, id: &str, store: &Store) -> Result<String, ApiError> {
        if self.is_running(id) {
            return Ok("running".into());
        }
        Ok(match store.config(STATE_KEY)?.as_deref() {
            // Stored as running but not running here: the server stopped under it.
            Some("running") => "interrupted".into(),
            Some(s) => s.to_string(),
            None => "stored".into(),
        })
    }

    fn describe(&self, id: &str, path: &Path) -> Result<Value, ApiError> {
        let store = Store::open(path)?;
        let request: Option<JobRequest> = store
            .config(REQUEST_KEY)?
            .and_then(|s| serde_json::from_str(&s).ok());
        let kind = match &request {
            Some(r) => r.kind,
            None if store.config("mode")?.as_deref() == Some("solve") => JobKind::Solve,
            None => JobKind::Prove,
        };
        let problems = store.problems()?;
        let (proofs, verifications, metas) = store.counts()?;
        Ok(json!({
            "id": id,
            "kind": kind,
            "state": self.state(id, &store)?,
            "problem": problems.first().map(|p| p.question.clone()),
            "problems": problems.len(),
            "samples": {"proofs": proofs, "verifications": verifications, "metas": metas},
            "from_cli": request.is_none(),
        }))
    }

    /// A job's state and, when it has samples, its result: the object `prove --json`
    /// prints for a proof search, the votes for a solve.
    pub fn result(&self, id: &str) -> Result<Value, ApiError> {
        let path = self.path(id)?;
        if !path.is_file() {
            return Err(ApiError::not_found(format!("no job {id:?}")));
        }
        let mut v = self.describe(id, &path)?;
        let store = Store::open(&path)?;
        let kind: JobKind = serde_json::from_value(v["kind"].clone()).unwrap_or(JobKind::Prove);
        let mut results = Vec::new();
        for p in store.problems()? {
            match kind {
                JobKind::Prove => {
                    let cfg: SearchConfig = store
                        .config("search")?
                        .and_then(|s| serde_json::from_str(&s).ok())
                        .unwrap_or_default();
                    let o = summarize(&store, &p, &cfg, StopReason::Stored)?;
                    let texts: Vec<&str> = o.top_proofs.iter().map(String::as_str).collect();
                    let mut value = serde_json::to_value(&o).unwrap_or(Value::Null);
                    value["answer_disagreement"] =
                        serde_json::to_value(answers_disagree(&texts, &Checker::new()))
                            .unwrap_or(Value::Null);
                    results.push(value);
                }
                JobKind::Solve => {
                    let cfg: SolveConfig = store
                        .config("solve")?
                        .and_then(|s| serde_json::from_str(&s).ok())
                        .unwrap_or_default();
                    let stored = store.samples(&p.key)?;
                    let u = store.usage(Some(&p.key))?;
                    let r = search::solve::tally(
                        &stored,
                        &cfg,
                        &Checker::new(),
                        llm::Usage {
                            prompt_tokens: u.prompt_tokens,
                            completion_tokens: u.completion_tokens,
                            cached_prompt_tokens: u.cached_prompt_tokens,
                        },
                    );
                    let gold = p.answer.clone();
                    let checker = Checker::new();
                    let grade =
                        |a: Option<&str>| eval::checker::grade(gold.as_deref(), a, &checker);
                    results.push(json!({
                        "problem_idx": p.problem_idx,
                        "gold": gold,
                        "answer": r.majority_answer().map(|m| m.0),
                        "weighted_answer": r.weighted_answer().map(|m| m.0),
                        "self_weighted_answer": r.self_weighted_answer().map(|m| m.0),
                        "correct": grade(r.majority_answer().map(|m| m.0)),
                        "weighted_correct": grade(r.weighted_answer().map(|m| m.0)),
                        "groups": r.groups,
                        "majority": r.majority,
                        "weighted": r.weighted,
                        "samples": r.samples,
                        "usage": r.usage,
                    }));
                }
            }
        }
        v["result"] = match results.len() {
            0 => Value::Null,
            1 => results.remove(0),
            _ => Value::Array(results),
        };
        Ok(v)
    }

    /// Every stored sample of a job, for the search view.
    pub fn samples(&self, id: &str) -> Result<Value, ApiError> {
        let store = self.open(id)?;
        let problems = store.problems()?;
        let samples = store.all_samples()?;
        let cfg: Option<SearchConfig> = store
            .config("search")?
            .and_then(|s| serde_json::from_str(&s).ok());
        Ok(json!({"problems": problems, "samples": samples, "search": cfg}))
    }

    /// The events so far and a receiver of the rest, for a running job; `None` for a
    /// job that is not running (its stored samples are the whole story).
    pub fn subscribe(&self, id: &str) -> Result<Option<Subscription>, ApiError> {
        self.path(id)?;
        let live = self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned();
        Ok(live.map(|l| {
            // Holding the history lock while subscribing: no event falls between.
            let h = l.history.lock().unwrap_or_else(|e| e.into_inner());
            (h.clone(), l.tx.subscribe())
        }))
    }

    /// Replay of a stored run as events, for a job that is not running.
    pub fn replay(&self, id: &str) -> Result<Vec<Value>, ApiError> {
        let store = self.open(id)?;
        let samples = store.all_samples()?;
        let mut events = Vec::with_capacity(samples.len() + 4);
        let mut round: Option<(String, u32)> = None;
        for s in &samples {
            // A round starts where its first proof was stored.
            if s.kind == store::Kind::Proof
                && round.as_ref() != Some(&(s.problem_key.clone(), s.round))
            {
                round = Some((s.problem_key.clone(), s.round));
                let planned = samples
                    .iter()
                    .filter(|p| {
                        p.kind == store::Kind::Proof
                            && p.problem_key == s.problem_key
                            && p.round == s.round
                    })
                    .count();
                events.push(json!({"event": "round_started", "problem": s.problem_key, "round": s.round, "planned": planned}));
            }
            events.push(
                json!({"event": "sample_done", "problem": s.problem_key, "kind": s.kind, "id": s.id,
                               "score": s.score, "parsed": s.status == store::ParseStatus::Ok,
                               "tokens": s.completion_tokens.unwrap_or(0)}),
            );
        }
        let state = self.state(id, &store)?;
        events.push(json!({"event": "done", "state": state, "result": self.result(id).ok()}));
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::valid_id;

    #[test]
    fn ids_cannot_leave_the_run_directory() {
        assert!(valid_id("job-18c0-1") && valid_id("20261201-101010-42"));
        for bad in [
            "",
            "../etc/passwd",
            "a/b",
            ".hidden",
            "a\\b",
            "x y",
            &"a".repeat(101),
        ] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }
}
