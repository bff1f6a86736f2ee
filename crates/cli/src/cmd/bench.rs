//! `verimath bench`: benchmarks that print figures and ratios against a reference
//! measured in the same run.

use clap::Subcommand;

/// Flags of `verimath bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    which: Which,
}

#[derive(Subcommand, Debug)]
enum Which {
    /// Local engine speed: prompt and decode tokens/s at 1, 4, 16 and 64 sequences.
    Engine(super::bench_engine::Args),
    /// Proof-search orchestration throughput against an instant local server.
    Search(super::bench_search::Args),
    /// Answer-checker throughput and latency, against Math-Verify when available.
    Check(super::bench_check::Args),
    /// Load on `verimath serve`: concurrent streamed chats, against llama.cpp's server.
    Serve(super::bench_serve::Args),
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    match args.which {
        Which::Engine(a) => super::bench_engine::run(a),
        Which::Search(a) => super::bench_search::run(a),
        Which::Check(a) => super::bench_check::run(a),
        Which::Serve(a) => super::bench_serve::run(a),
    }
}
