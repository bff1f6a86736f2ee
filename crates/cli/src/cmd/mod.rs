//! One module per subcommand.

pub mod bench;
pub mod bench_check;
pub mod bench_engine;
pub mod bench_search;
pub mod bench_serve;
pub mod calibrate;
pub mod check;
pub mod eval;
pub mod generate;
pub mod label;
pub mod models;
pub mod prove;
pub mod replay;
pub mod report;
pub mod runs;
pub mod serve;
pub mod solve;
pub mod tokenize;
pub mod training;
pub mod verify;
