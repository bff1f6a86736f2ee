//! `scripted-server`: the scripted OpenAI-compatible server as a process, for tests
//! that need a backend outliving (or living apart from) the process under test.
//!
//! It prints `listening on http://127.0.0.1:PORT/v1` on stdout once it accepts
//! connections, then serves until killed.

use std::io::Write;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use scripted_server::{responders, Reply, ScriptedServer, ServerOptions};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    /// A short fixed answer at once.
    Instant,
    /// The last user message, echoed.
    Echo,
}

/// An OpenAI-compatible server with scripted answers.
#[derive(Parser, Debug)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    #[arg(long, value_enum, default_value_t = Mode::Instant)]
    mode: Mode,
    /// Model id listed by /v1/models.
    #[arg(long, default_value = "scripted-model")]
    model: String,
    /// Wait this many milliseconds before each answer.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Answer the first K requests with HTTP 500.
    #[arg(long, default_value_t = 0)]
    fail_first: u64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let delay = Duration::from_millis(args.delay_ms);
    let base: Box<dyn Fn(&scripted_server::ChatRequestSeen) -> Reply + Send + Sync> =
        match args.mode {
            Mode::Instant => Box::new(responders::instant()),
            Mode::Echo => Box::new(responders::echo()),
        };
    let responder = responders::fail_first(args.fail_first, 500, move |req| base(req).delay(delay));
    let options = ServerOptions {
        port: args.port,
        models: vec![args.model],
    };
    let server = match ScriptedServer::start_with(options, responder).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{}: {e}", args.port);
            std::process::exit(2);
        }
    };
    println!("listening on {}", server.base_url());
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
}
