//! Building the generator and verifier models from command-line flags.
//!
//! `--backend URL` drives an OpenAI-compatible server (vLLM, SGLang, llama.cpp's
//! server); without it verimath runs the local engine on a GGUF file (`--model PATH`,
//! default: the installed default model). The verifier uses the generator's backend
//! and model unless `--verifier-backend` / `--verifier-model` say otherwise; when both
//! are the same, one backend serves both so its connection and concurrency limits are
//! shared.

use anyhow::Context;
use llm::Llm;
use openai::{OpenAiBackend, OpenAiConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Flags that choose the models; flatten into a command's `Args`.
#[derive(clap::Args, Debug, Clone)]
pub struct BackendArgs {
    /// OpenAI-compatible base URL ending in /v1 (e.g. http://127.0.0.1:8000/v1).
    /// Several URLs separated by commas spread requests over several servers.
    /// Without it, the local engine runs the model given by --model.
    #[arg(long, value_name = "URL", env = "VERIMATH_BACKEND")]
    pub backend: Option<String>,
    /// Model name sent to the server; with the local engine, a GGUF file path.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Base URL of the verifier's server (default: --backend).
    #[arg(long, value_name = "URL")]
    pub verifier_backend: Option<String>,
    /// Model name of the verifier (default: --model).
    #[arg(long, value_name = "NAME")]
    pub verifier_model: Option<String>,
    /// API key sent as a bearer token (set from [`KeyArgs`], or by `serve` from its
    /// `--backend-api-key`).
    #[arg(skip)]
    pub api_key: Option<String>,
    /// Send exactly `api_key` (none when `None`), ignoring VERIMATH_API_KEY and
    /// OPENAI_API_KEY: `serve` uses VERIMATH_API_KEY as its own key.
    #[arg(skip)]
    pub key_from_flags_only: bool,
    /// Seconds before one HTTP request is abandoned (and retried).
    #[arg(long, value_name = "SECS", default_value_t = 600.0)]
    pub request_timeout: f64,
    /// Ask the server for streamed answers (Server-Sent Events).
    #[arg(long)]
    pub stream: bool,
    /// Attempts after the first for a failed request (429, 5xx, timeouts, cut answers).
    #[arg(long, default_value_t = 4)]
    pub retries: u32,
    /// Requests in flight per server at most (the search's --concurrency also applies).
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub endpoint_concurrency: usize,
    /// With the local engine: sequences decoded in one batch (every sample of every
    /// request in flight). More slots keep a search's many verifications in one batch;
    /// the KV cache grows only with the tokens in use.
    #[arg(long, value_name = "N", default_value_t = engine::generate::LoadOptions::default().slots,
          value_parser = parse_slots)]
    pub slots: usize,
}

/// `--slots`: from 1 to 1024.
fn parse_slots(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a number of slots from 1 to 1024")),
    }
}

/// The key a command sends to its servers; flattened beside [`BackendArgs`] by every
/// command but `serve` (whose `--api-key` is its own).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KeyArgs {
    /// API key sent to the servers as a bearer token.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

impl KeyArgs {
    /// The backend flags with this key.
    pub fn with(&self, backend: &BackendArgs) -> BackendArgs {
        BackendArgs {
            api_key: self.api_key.clone(),
            ..backend.clone()
        }
    }
}

/// The models a command talks to.
pub struct Backends {
    pub generator: Arc<dyn Llm>,
    pub verifier: Arc<dyn Llm>,
    /// Model names to put in requests (`None`: the backend's default).
    pub generator_model: Option<String>,
    pub verifier_model: Option<String>,
}

impl Default for BackendArgs {
    /// The same values as the flags' defaults, for commands that build backends
    /// without parsing a command line (benchmarks).
    fn default() -> Self {
        BackendArgs {
            backend: None,
            model: None,
            verifier_backend: None,
            verifier_model: None,
            api_key: None,
            key_from_flags_only: false,
            request_timeout: 600.0,
            stream: false,
            retries: 4,
            endpoint_concurrency: 256,
            slots: engine::generate::LoadOptions::default().slots,
        }
    }
}

impl BackendArgs {
    /// Whether these flags select the local engine.
    pub fn is_local(&self) -> bool {
        self.backend.is_none() && self.verifier_backend.is_none()
    }
}

/// Build the generator and verifier from the flags.
pub fn build(args: &BackendArgs) -> anyhow::Result<Backends> {
    if args.is_local() {
        return build_local(args);
    }
    let gen_url = args
        .backend
        .clone()
        .or_else(|| args.verifier_backend.clone())
        .context("--backend is required when --verifier-backend is given")?;
    let ver_url = args
        .verifier_backend
        .clone()
        .unwrap_or_else(|| gen_url.clone());
    let gen_model = args.model.clone();
    let ver_model = args.verifier_model.clone().or_else(|| gen_model.clone());
    let generator = http(args, &gen_url, gen_model.clone())?;
    let verifier = if ver_url == gen_url && ver_model == gen_model {
        generator.clone()
    } else {
        http(args, &ver_url, ver_model.clone())?
    };
    Ok(Backends {
        generator,
        verifier,
        generator_model: gen_model,
        verifier_model: ver_model,
    })
}

fn http(args: &BackendArgs, url: &str, model: Option<String>) -> anyhow::Result<Arc<dyn Llm>> {
    let mut config = OpenAiConfig::new([url]);
    if config.endpoints.is_empty() {
        anyhow::bail!("--backend {url:?} names no URL (e.g. http://127.0.0.1:8000/v1)");
    }
    config.model = model;
    if args.api_key.is_some() || args.key_from_flags_only {
        config.api_key = args.api_key.clone();
    }
    config.timeout = Duration::from_secs_f64(args.request_timeout.max(0.001));
    config.max_retries = args.retries;
    config.max_concurrency_per_endpoint = args.endpoint_concurrency.max(1);
    config.stream_chat = args.stream;
    let backend =
        OpenAiBackend::new(config).with_context(|| format!("setting up the backend at {url}"))?;
    Ok(Arc::new(backend))
}

fn build_local(args: &BackendArgs) -> anyhow::Result<Backends> {
    let gen_path = args
        .model
        .as_ref()
        .map(PathBuf::from)
        .unwrap_or_else(engine::backend::default_model_path);
    let generator = load_local(&gen_path, args.slots)?;
    // A different verifier file gets its own engine; the same file shares one, so
    // generation and verification batch together on the one engine thread.
    let verifier = match args.verifier_model.as_ref().map(PathBuf::from) {
        Some(p) if p != gen_path => load_local(&p, args.slots)?,
        _ => generator.clone(),
    };
    Ok(Backends {
        generator,
        verifier,
        generator_model: None,
        verifier_model: None,
    })
}

/// The local engine of the `--model` file (default: the default model), as itself.
pub fn load_local_engine(args: &BackendArgs) -> anyhow::Result<Arc<engine::LocalLlm>> {
    let path = args
        .model
        .as_ref()
        .map(PathBuf::from)
        .unwrap_or_else(engine::backend::default_model_path);
    load_local_llm(&path, args.slots)
}

fn load_local(path: &Path, slots: usize) -> anyhow::Result<Arc<dyn Llm>> {
    let llm: Arc<dyn Llm> = load_local_llm(path, slots)?;
    Ok(llm)
}

fn load_local_llm(path: &Path, slots: usize) -> anyhow::Result<Arc<engine::LocalLlm>> {
    if !path.is_file() {
        anyhow::bail!(
            "no local model at {}: run scripts/setup.sh to install the default model, \
             pass a GGUF file with --model PATH, or use a server with --backend URL",
            path.display()
        );
    }
    let mut options = engine::backend::LocalOptions::default();
    options.load.slots = slots;
    let llm = engine::backend::LocalLlm::load(path, options)
        .with_context(|| format!("loading {}", path.display()))?;
    Ok(Arc::new(llm))
}
