//! `verimath serve`: the OpenAI-compatible API over a local model, proof-search and
//! solve jobs with live events, and the web UI, on one port.
//!
//! With a local model (`--model PATH.gguf`, or the default model) the `/v1` API
//! serves it, and jobs run on it too unless `--backend` sends them to a server. The
//! server binds 127.0.0.1 by default and refuses another address unless an API key
//! is set. Ctrl-C or SIGTERM stops taking connections and lets requests finish; jobs
//! cut short keep their samples and resume on request.

use crate::backend::{self, BackendArgs};
use anyhow::Context;
use server::jobs::{JobBackends, Jobs};
use server::{AppState, Limits};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Flags of `verimath serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on; anything but loopback needs an API key.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The server's own API key (clients send `Authorization: Bearer KEY`).
    #[arg(long, env = "VERIMATH_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Where jobs are stored, one run database each; runs that `prove` and `solve`
    /// write here are listed too.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    run_dir: PathBuf,
    /// Jobs running at once at most.
    #[arg(long, default_value_t = 4)]
    max_jobs: usize,
    /// Serve no local model: only jobs, run on --backend.
    #[arg(long)]
    no_local: bool,
    /// The web UI's files (default: the ui folder of the server crate).
    #[arg(long, value_name = "DIR")]
    ui_dir: Option<PathBuf>,
    /// Key that jobs send to --backend.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    backend_api_key: Option<String>,
    #[command(flatten)]
    backend: BackendArgs,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    if !args.host.is_loopback() && args.api_key.is_none() {
        anyhow::bail!(
            "refusing to listen on {} without an API key: set --api-key or VERIMATH_API_KEY, \
             or listen on 127.0.0.1",
            args.host
        );
    }
    let mut backend_args = args.backend.clone();
    backend_args.api_key = args.backend_api_key.clone();
    backend_args.key_from_flags_only = true;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        // The local model of /v1: the --model file when no --backend is given.
        let local = if args.no_local || !backend_args.is_local() {
            None
        } else {
            Some(backend::load_local_engine(&backend_args)?)
        };
        let backends = match &local {
            Some(l) => backend::Backends {
                generator: l.clone(),
                verifier: l.clone(),
                generator_model: None,
                verifier_model: None,
            },
            None => backend::build(&backend_args)?,
        };
        let model_name = local
            .as_ref()
            .map(|l| {
                llm::Llm::name(l.as_ref())
                    .trim_start_matches("local:")
                    .to_string()
            })
            .unwrap_or_default();
        let preset = if backend_args.is_local() {
            search::Preset::Quick
        } else {
            search::Preset::Heavy
        };
        let jobs = Arc::new(Jobs::new(
            args.run_dir.clone(),
            JobBackends {
                generator: backends.generator,
                verifier: backends.verifier,
                generator_model: backends.generator_model,
                verifier_model: backends.verifier_model,
                preset,
            },
            search::Templates::default(),
            args.max_jobs,
        ));
        let mut limits = Limits::default();
        if let Some(l) = &local {
            limits.max_prompt_tokens = l.model().engine.info().max_len;
        }
        let state = Arc::new(AppState {
            local,
            model_name,
            jobs,
            metrics: Arc::new(server::metrics::Metrics::new()),
            limits,
            api_key: args.api_key.clone(),
            loopback_only: args.host.is_loopback(),
            ui_dir: args.ui_dir.clone().unwrap_or_else(|| {
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../server/ui"))
            }),
        });
        let listener = tokio::net::TcpListener::bind((args.host, args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
        eprintln!(
            "verimath serving on http://{} (jobs in {}; Ctrl-C stops)",
            listener.local_addr()?,
            args.run_dir.display()
        );
        server::serve(listener, state, shutdown_signal()).await?;
        eprintln!("stopped");
        anyhow::Ok(())
    })?;
    Ok(0)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
