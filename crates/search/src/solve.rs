//! Final-answer mode.
