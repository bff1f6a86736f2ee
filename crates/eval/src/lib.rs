//! Evaluation: does sampling, verifying and voting give better answers and better
//! proofs than one sample?
//!
//! Module map:
//! - [`datasets`] — the built-in benchmarks (compiled in from `data/`) and the choice
//!   of problems (offset, limit, stratified).
//! - [`checker`] — the `answer` crate as the search's answer checker, and grading
//!   against a gold answer.
//! - [`stats`] — pass@k, intervals, rank correlations.
//! - [`answers`] — metrics of answer benchmarks (pass@k, maj@k, weighted votes).
//! - [`proofs`] — the judge and the metrics of proof benchmarks.
//! - [`summary`] — one run database → the object `eval --json` prints.
//! - [`calibration`] — verifier scores against human grades.
//! - [`report`] — self-contained HTML reports with plots.
//!
//! Everything is computed from run databases: an evaluation is a stored run (`solve`
//! or the proof search) plus its settings, so a report can be made from any run,
//! during it or long after.

pub mod answers;
pub mod calibration;
pub mod checker;
pub mod datasets;
pub mod proofs;
pub mod report;
pub mod stats;
pub mod summary;

pub use datasets::{Dataset, Kind, Selection, DATASETS};
pub use summary::{EvalInfo, EvalSummary};
