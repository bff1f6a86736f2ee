//! The proof search.
