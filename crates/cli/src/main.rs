//! The `verimath` command line: a thin layer over the library crates.
//!
//! Each subcommand lives in its own file under `cmd/` with its flags (a clap `Args`
//! struct) and a `run` function returning the process exit code.

mod backend;
mod cmd;
mod progress;

use clap::{Parser, Subcommand};

/// A self-verifying mathematical reasoning engine.
///
/// verimath writes proofs, verifies them many times, refines the best ones with the
/// critiques that found problems, and stops when a proof passes every verification. It
/// runs GGUF models itself or drives any OpenAI-compatible server.
#[derive(Parser)]
#[command(name = "verimath", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Search for a proof: generate, verify, refine until a proof passes every check.
    Prove(cmd::prove::Args),
    /// Grade a given proof K times with the verifier.
    Verify(cmd::verify::Args),
    /// Inspect and export run databases.
    Runs(cmd::runs::Args),
    /// Final-answer mode: sample solutions, check answers symbolically, vote.
    Solve(cmd::solve::Args),
    /// Run a benchmark: accuracy of one sample, of voting and of verification.
    Eval(cmd::eval::Args),
    /// Serve the OpenAI-compatible API, proof-search jobs and the web UI.
    Serve(cmd::serve::Args),
    /// Write an HTML report (with plots) of evaluation and calibration runs.
    Report(cmd::report::Args),
    /// Grade proofs with human grades by the verifier and measure the agreement.
    Calibrate(cmd::calibrate::Args),
    /// Label proofs automatically: n verifications, m meta-verifications of each that
    /// found issues, a label where k confirmed analyses agree, else "needs a human".
    Label(cmd::label::Args),
    /// Check whether two final answers are equivalent.
    Check(cmd::check::Args),
    /// Generate text with a local GGUF model.
    Generate(cmd::generate::Args),
    /// Tokenize text with a local GGUF model's tokenizer.
    Tokenize(cmd::tokenize::Args),
    /// List, inspect and download models.
    Models(cmd::models::Args),
    /// Benchmarks that print figures and ratios against a reference.
    Bench(cmd::bench::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Prove(a) => cmd::prove::run(a),
        Command::Verify(a) => cmd::verify::run(a),
        Command::Runs(a) => cmd::runs::run(a),
        Command::Solve(a) => cmd::solve::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Calibrate(a) => cmd::calibrate::run(a),
        Command::Label(a) => cmd::label::run(a),
        Command::Check(a) => cmd::check::run(a),
        Command::Generate(a) => cmd::generate::run(a),
        Command::Tokenize(a) => cmd::tokenize::run(a),
        Command::Models(a) => cmd::models::run(a),
        Command::Bench(a) => cmd::bench::run(a),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand's flags are well formed (no two flags share a name).
    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
