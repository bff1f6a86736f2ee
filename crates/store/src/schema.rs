//! The SQL schema of a run database and the statements shared by the store.
//!
//! `CREATE ... IF NOT EXISTS` everywhere: opening an existing run is the resume path.

/// Tables, indexes and views. Safe to run on an existing database.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS problems (
    key         TEXT PRIMARY KEY,
    problem_idx TEXT NOT NULL,
    question    TEXT NOT NULL,
    position    INTEGER NOT NULL,
    answer      TEXT,
    info        TEXT
);
CREATE TABLE IF NOT EXISTS usage (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    problem_key       TEXT NOT NULL,
    kind              TEXT NOT NULL,
    samples           INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created_at        REAL NOT NULL,
    cached_prompt_tokens INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS samples (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('proof', 'verification', 'meta')),
    problem_key       TEXT NOT NULL REFERENCES problems(key),
    round             INTEGER NOT NULL,
    idx               INTEGER NOT NULL,
    target_id         TEXT,
    proof_id          TEXT,
    parent_ids        TEXT NOT NULL DEFAULT '[]',
    text              TEXT NOT NULL,
    reasoning         TEXT,
    body              TEXT,
    self_eval         TEXT,
    score             REAL,
    status            TEXT NOT NULL CHECK (status IN ('ok', 'unparsable')),
    reason            TEXT,
    finish_reason     TEXT NOT NULL,
    completion_tokens INTEGER,
    usage_id          INTEGER REFERENCES usage(id),
    created_at        REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_by_problem ON samples(problem_key, kind);
CREATE INDEX IF NOT EXISTS samples_by_target ON samples(target_id);
CREATE TABLE IF NOT EXISTS grades (
    id          TEXT PRIMARY KEY,
    problem_key TEXT NOT NULL REFERENCES problems(key),
    proof_id    TEXT NOT NULL,
    text        TEXT NOT NULL,
    grade       REAL,
    created_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS config (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE VIEW IF NOT EXISTS proofs AS
    SELECT id, problem_key, round, idx, parent_ids, body AS proof, self_eval,
           score AS self_score, status, reason, text, finish_reason, completion_tokens
    FROM samples WHERE kind = 'proof';
CREATE VIEW IF NOT EXISTS verifications AS
    SELECT id, problem_key, round, idx, proof_id, score, status, reason,
           text AS critique, finish_reason, completion_tokens
    FROM samples WHERE kind = 'verification';
CREATE VIEW IF NOT EXISTS meta_verifications AS
    SELECT id, problem_key, round, idx, target_id AS verification_id, proof_id, score,
           status, reason, text, finish_reason, completion_tokens
    FROM samples WHERE kind = 'meta';
";

/// Columns added after the first release, with their types: opening an older run
/// database adds them (`ALTER TABLE ... ADD COLUMN`), so old runs stay readable.
pub(crate) const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("problems", "answer", "TEXT"),
    ("problems", "info", "TEXT"),
    (
        "usage",
        "cached_prompt_tokens",
        "INTEGER NOT NULL DEFAULT 0",
    ),
];

/// Insert one sample; `OR IGNORE` makes a second write of the same id a no-op.
pub(crate) const INSERT_SAMPLE: &str = "
INSERT OR IGNORE INTO samples (id, kind, problem_key, round, idx, target_id, proof_id,
    parent_ids, text, reasoning, body, self_eval, score, status, reason, finish_reason,
    completion_tokens, usage_id, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";

/// Select every column read by `rows::read`, in its order.
pub(crate) const SELECT_SAMPLE: &str = "
SELECT id, kind, problem_key, round, idx, target_id, proof_id, parent_ids, text,
    reasoning, body, self_eval, score, status, reason, finish_reason, completion_tokens
FROM samples";
