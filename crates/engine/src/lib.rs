//! Local inference for GGUF models.
