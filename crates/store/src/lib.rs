//! The run database.
