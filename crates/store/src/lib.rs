//! The run database of the proof search.
//!
//! One SQLite file per run (WAL mode, so readers such as `verimath runs show` never
//! block the writer). Every sample the search receives is written the moment it
//! arrives, in one transaction together with the token usage of its request, so a
//! crash loses at most the requests that were still in flight.
//!
//! Schema (see [`schema`]):
//! - `problems(key, problem_idx, question, position, answer, info)` — one row per
//!   problem; `key` is the stable identity used inside sample ids, `answer` the gold
//!   answer and `info` the input's other fields as JSON.
//! - `samples(id, kind, problem_key, round, idx, target_id, proof_id, parent_ids, text,
//!   reasoning, body, self_eval, score, status, reason, finish_reason,
//!   completion_tokens, usage_id, created_at)` — every proof, verification and
//!   meta-verification. `id` is the sample's planned identity (see the `search` crate),
//!   and it is the primary key: storing the same sample twice is impossible.
//! - `usage(id, problem_key, kind, samples, prompt_tokens, completion_tokens,
//!   created_at, cached_prompt_tokens)` — one row per model request.
//! - `grades(id, problem_key, proof_id, text, grade, created_at)` — a judge's 0–7
//!   grade of a proof against the reference solution (`eval` on proof benchmarks).
//! - `config(key, value)` — settings of the run (the search configuration as JSON).
//!
//! Views `proofs`, `verifications` and `meta_verifications` select one kind each, for
//! people reading the file with the `sqlite3` shell.

pub mod input;
mod rows;
pub mod schema;

pub use input::{load_problems, parse_problems, InputError};
pub use rows::{Grade, Kind, ParseStatus, Problem, RequestTokens, Sample, UsageTotals};

use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// What can go wrong with the run database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("could not create the directory for {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "problem `{key}` is already stored in this run with a different statement; \
         use another --run file or give the problem another problem_idx"
    )]
    ProblemMismatch { key: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The columns of [`schema::ADDED_COLUMNS`] a database does not have yet (it was
/// written by an older version).
fn missing_columns(conn: &Connection) -> Result<Vec<(&'static str, &'static str, &'static str)>> {
    let mut missing = Vec::new();
    for &(table, column, kind) in schema::ADDED_COLUMNS {
        let has: bool = conn
            .prepare(&format!(
                "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
            ))?
            .exists([column])?;
        if !has {
            missing.push((table, column, kind));
        }
    }
    Ok(missing)
}

/// A run database. Cheap to share behind an `Arc`: the connection sits behind a mutex
/// because SQLite connections are not `Sync`, and every statement here is short.
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Open (or create) the run database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: path.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// Open an existing run database for reading only: the file is not written (its
    /// contents and modification time stay as they are), so recorded runs can be
    /// replayed and shown where they are kept. A database from an older schema, which
    /// would need columns added, is opened for writing instead and upgraded.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        use rusqlite::OpenFlags;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        if !missing_columns(&conn)?.is_empty() {
            drop(conn);
            return Store::open(path);
        }
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    /// A database that lives in memory only (tests, benchmarks).
    pub fn open_in_memory() -> Result<Store> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store> {
        // WAL lets readers run beside the writer; NORMAL sync keeps every committed
        // sample across a process crash (only an OS crash can lose the last commits).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(schema::SCHEMA)?;
        for (table, column, kind) in missing_columns(&conn)? {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (statements
        // are atomic), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record a problem, or check that the stored one with the same key is the same.
    pub fn add_problem(&self, problem: &Problem) -> Result<()> {
        let conn = self.conn();
        let existing: Option<String> = conn
            .query_row(
                "SELECT question FROM problems WHERE key = ?1",
                [&problem.key],
                |r| r.get(0),
            )
            .optional()?;
        match existing {
            Some(q) if q == problem.question => {
                // The gold answer and details may be corrected between runs.
                conn.execute(
                    "UPDATE problems SET answer = ?2, info = ?3 WHERE key = ?1",
                    params![problem.key, problem.answer, problem.info],
                )?;
                Ok(())
            }
            Some(_) => Err(StoreError::ProblemMismatch {
                key: problem.key.clone(),
            }),
            None => {
                conn.execute(
                    "INSERT INTO problems (key, problem_idx, question, position, answer, info) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        problem.key,
                        problem.problem_idx,
                        problem.question,
                        problem.position,
                        problem.answer,
                        problem.info
                    ],
                )?;
                Ok(())
            }
        }
    }

    /// All problems, in input order.
    pub fn problems(&self) -> Result<Vec<Problem>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT key, problem_idx, question, position, answer, info FROM problems \
             ORDER BY position, key",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Problem {
                key: r.get(0)?,
                problem_idx: r.get(1)?,
                question: r.get(2)?,
                position: r.get(3)?,
                answer: r.get(4)?,
                info: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Store the samples of one request together with its usage, atomically.
    ///
    /// Returns how many samples were new. A sample whose id is already stored is left
    /// untouched (the first answer wins), so a repeated write can never duplicate.
    pub fn insert_samples(
        &self,
        problem_key: &str,
        kind: Kind,
        samples: &[Sample],
        tokens: RequestTokens,
    ) -> Result<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let now = unix_now();
        tx.execute(
            "INSERT INTO usage (problem_key, kind, samples, prompt_tokens, completion_tokens, \
             cached_prompt_tokens, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                problem_key,
                kind.as_str(),
                samples.len() as i64,
                tokens.prompt as i64,
                tokens.completion as i64,
                tokens.cached_prompt as i64,
                now
            ],
        )?;
        let usage_id = tx.last_insert_rowid();
        let mut new = 0;
        {
            let mut stmt = tx.prepare_cached(schema::INSERT_SAMPLE)?;
            for s in samples {
                new += rows::insert(&mut stmt, s, usage_id, now)?;
            }
        }
        tx.commit()?;
        Ok(new)
    }

    /// Every stored sample of a problem, in the order they were stored.
    pub fn samples(&self, problem_key: &str) -> Result<Vec<Sample>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "{} WHERE problem_key = ?1 ORDER BY rowid",
            schema::SELECT_SAMPLE
        ))?;
        let rows = stmt.query_map([problem_key], rows::read)?;
        collect(rows)
    }

    /// Every stored sample of the run, problem by problem.
    pub fn all_samples(&self) -> Result<Vec<Sample>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "{} ORDER BY (SELECT position FROM problems WHERE key = problem_key), rowid",
            schema::SELECT_SAMPLE
        ))?;
        let rows = stmt.query_map([], rows::read)?;
        collect(rows)
    }

    /// Number of stored samples of each kind: (proofs, verifications, metas).
    pub fn counts(&self) -> Result<(u64, u64, u64)> {
        let conn = self.conn();
        let count = |kind: Kind| -> Result<u64> {
            let n: i64 = conn.query_row(
                "SELECT COUNT(*) FROM samples WHERE kind = ?1",
                [kind.as_str()],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        };
        Ok((
            count(Kind::Proof)?,
            count(Kind::Verification)?,
            count(Kind::Meta)?,
        ))
    }

    /// Token usage of one problem, or of the whole run when `problem_key` is `None`.
    pub fn usage(&self, problem_key: Option<&str>) -> Result<UsageTotals> {
        let conn = self.conn();
        let sql = "SELECT COUNT(*), COALESCE(SUM(samples), 0), COALESCE(SUM(prompt_tokens), 0), \
                   COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cached_prompt_tokens), 0) \
                   FROM usage WHERE (?1 IS NULL OR problem_key = ?1)";
        let t = conn.query_row(sql, [problem_key], |r| {
            Ok(UsageTotals {
                requests: r.get::<_, i64>(0)? as u64,
                samples: r.get::<_, i64>(1)? as u64,
                prompt_tokens: r.get::<_, i64>(2)? as u64,
                completion_tokens: r.get::<_, i64>(3)? as u64,
                cached_prompt_tokens: r.get::<_, i64>(4)? as u64,
            })
        })?;
        Ok(t)
    }

    /// Store a judge's grade of a proof (0–7, `None` when the judge gave none). The
    /// first grade stored under an id wins, as with samples.
    pub fn insert_grade(&self, grade: &Grade) -> Result<bool> {
        let n = self.conn().execute(
            "INSERT OR IGNORE INTO grades (id, problem_key, proof_id, text, grade, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                grade.id,
                grade.problem_key,
                grade.proof_id,
                grade.text,
                grade.grade,
                unix_now()
            ],
        )?;
        Ok(n == 1)
    }

    /// The judge grades of a problem, in the order they were stored.
    pub fn grades(&self, problem_key: &str) -> Result<Vec<Grade>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, problem_key, proof_id, text, grade FROM grades \
             WHERE problem_key = ?1 ORDER BY rowid",
        )?;
        let rows = stmt.query_map([problem_key], |r| {
            Ok(Grade {
                id: r.get(0)?,
                problem_key: r.get(1)?,
                proof_id: r.get(2)?,
                text: r.get(3)?,
                grade: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Store a setting of the run (overwrites).
    pub fn set_config(&self, key: &str, value: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO config (key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// A stored setting of the run.
    pub fn config(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM config WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }
}

fn collect(rows: impl Iterator<Item = rusqlite::Result<Sample>>) -> Result<Vec<Sample>> {
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests;
