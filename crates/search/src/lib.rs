//! The self-verifying proof search.
//!
//! Module map:
//! - [`templates`] — the prompts (generation, verification, meta-verification,
//!   refinement) as plain files with placeholders, overridable from a directory.
//! - [`parse`] — reading model answers under the output protocol; unparsable samples
//!   are kept with the reason.
//! - [`config`] — every knob, the paper's heavy default and the `quick` preset;
//!   [`flags`] — the same knobs as command-line flags over a preset.
//! - [`ids`] — stable sample identities, planned before requesting.
//! - [`pool`] — ranking, pass test, choice of proofs and critiques to refine.
//! - [`run`] — the driver ([`Search`]), one problem after another round by round;
//!   `round` runs one round, `request` one model request.
//! - [`outcome`] — the per-problem result, computed from the run database.
//! - [`events`] — progress events on a channel.
//! - [`solve`] — final-answer mode.
//! - [`label`] — automated proof labeling from verifications and meta-verifications.
//!
//! See `README.md` in this crate for the algorithm and the database schema.

pub mod budget;
pub mod config;
pub mod events;
pub mod flags;
pub mod ids;
pub mod label;
pub mod outcome;
pub mod parse;
pub mod pool;
mod request;
mod round;
pub mod run;
pub mod solve;
pub mod templates;

pub use config::{Preset, SearchConfig};
pub use events::{EventSender, SearchEvent};
pub use flags::SearchFlags;
pub use outcome::{summarize, BestProof, Outcome, StopReason};
pub use run::{Search, SearchError, SearchParts};
pub use templates::Templates;
