//! Checker options, mirroring those of the labelled answer-equivalence case set.

use crate::extract::ExtractOptions;
use serde::{Deserialize, Serialize};

/// How answers are found and compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Options {
    /// Decimal places used when either answer contains a decimal number.
    pub precision: u32,
    /// `false`: also accept answers equal up to renaming of variables.
    pub strict: bool,
    /// `true`: a relation in the prediction may equal an interval in the gold answer
    /// (a relation in the gold answer may always equal an interval).
    pub allow_set_relation_comp: bool,
    /// Extraction targets: `latex` (math spans, `\boxed{}`), `expr` (plain numbers and
    /// expressions in prose), `choice` (multiple-choice letters A-E after an answer
    /// phrase).
    pub match_types: Vec<String>,
    /// Priority of `\boxed{}` among extraction patterns (0 = highest; "final answer is"
    /// patterns are 0 and 50, bare math spans 300).
    pub boxed_priority: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            precision: 6,
            strict: true,
            allow_set_relation_comp: false,
            match_types: vec!["latex".into(), "expr".into()],
            boxed_priority: 0,
        }
    }
}

impl Options {
    pub fn extract_options(&self) -> ExtractOptions {
        ExtractOptions {
            latex: self.match_types.iter().any(|m| m == "latex"),
            expr: self.match_types.iter().any(|m| m == "expr"),
            choice: self.match_types.iter().any(|m| m == "choice"),
            boxed_priority: self.boxed_priority,
            ..ExtractOptions::default()
        }
    }
}
