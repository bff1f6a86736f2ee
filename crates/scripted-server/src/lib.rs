//! An OpenAI-compatible HTTP server whose answers are scripted.
//!
//! Tests and benchmarks start it on 127.0.0.1 (port 0 by default) and point a client
//! at [`ScriptedServer::base_url`] (which ends in `/v1`). It serves
//! `POST /v1/chat/completions` (JSON or Server-Sent Events, honouring `n`) and
//! `GET /v1/models`. What it answers is decided per request by a responder, a
//! closure from the parsed request ([`ChatRequestSeen`]) to a [`Reply`]; replies
//! can also be faults (HTTP errors with `Retry-After`, stalls, cut streams, garbage
//! bodies). The server records every request and tracks how many are in flight, so
//! tests can assert on what a client did.
//!
//! ```no_run
//! # async fn demo() {
//! use scripted_server::{Reply, ScriptedServer};
//! let server = ScriptedServer::start(|req| {
//!     if req.seq < 2 {
//!         Reply::error(500, "warming up")
//!     } else if req.contains("Verify") {
//!         Reply::text("The proof is fine. \\boxed{1}")
//!     } else {
//!         Reply::text("## Solution\n...").with_reasoning("let me think")
//!     }
//! })
//! .await;
//! let url = server.base_url();
//! # let _ = url;
//! # }
//! ```
//!
//! Modules: `request` (the parsed request), `reply` (what to answer), `respond`
//! (HTTP bodies and streams), `responders` (ready-made responders).

mod reply;
mod request;
mod respond;
pub mod responders;

pub use reply::{CutStyle, Reply, Sample, UsageMode};
pub use request::{ChatRequestSeen, SeenMessage};

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use respond::Body;

/// The function that decides every answer.
pub type Responder = dyn Fn(&ChatRequestSeen) -> Reply + Send + Sync;

/// Where and as what the server runs.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Model ids listed by `GET /v1/models`; the first is reported in answers to
    /// requests that name no model.
    pub models: Vec<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            port: 0,
            models: vec!["scripted-model".to_string()],
        }
    }
}

/// State shared by all connections.
struct State {
    responder: Box<Responder>,
    models: Vec<String>,
    seen: Mutex<Vec<ChatRequestSeen>>,
    next_seq: AtomicU64,
    models_requests: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// Counts a chat request as in flight while alive. It is moved into the response
/// body, so the count covers sending the answer, not just computing it.
struct InFlight(Arc<State>);

impl InFlight {
    fn enter(state: &Arc<State>) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(Arc::clone(state))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running scripted server. Dropping it stops the server and closes every open
/// connection.
pub struct ScriptedServer {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    /// Present when the server owns its runtime ([`ScriptedServer::start_blocking`]).
    runtime: Option<tokio::runtime::Runtime>,
}

impl ScriptedServer {
    /// Start on a free port of 127.0.0.1 with default options, on the current
    /// Tokio runtime.
    ///
    /// # Panics
    /// When no local port can be bound, which leaves a test nothing to do.
    pub async fn start<F>(responder: F) -> ScriptedServer
    where
        F: Fn(&ChatRequestSeen) -> Reply + Send + Sync + 'static,
    {
        match Self::start_with(ServerOptions::default(), responder).await {
            Ok(server) => server,
            Err(e) => panic!("scripted server could not bind 127.0.0.1: {e}"),
        }
    }

    /// Start with explicit options on the current Tokio runtime.
    pub async fn start_with<F>(options: ServerOptions, responder: F) -> io::Result<ScriptedServer>
    where
        F: Fn(&ChatRequestSeen) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind(("127.0.0.1", options.port)).await?;
        let addr = listener.local_addr()?;
        let models = if options.models.is_empty() {
            ServerOptions::default().models
        } else {
            options.models
        };
        let state = Arc::new(State {
            responder: Box::new(responder),
            models,
            seen: Mutex::new(Vec::new()),
            next_seq: AtomicU64::new(0),
            models_requests: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&state), stopped));
        Ok(ScriptedServer {
            addr,
            state,
            stop: Some(stop),
            task: Some(task),
            runtime: None,
        })
    }

    /// Start on a runtime of its own, for synchronous tests (for example ones that
    /// run the `verimath` binary as a child process against this server).
    pub fn start_blocking<F>(options: ServerOptions, responder: F) -> io::Result<ScriptedServer>
    where
        F: Fn(&ChatRequestSeen) -> Reply + Send + Sync + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let mut server = runtime.block_on(Self::start_with(options, responder))?;
        server.runtime = Some(runtime);
        Ok(server)
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every chat request received so far, in arrival order.
    pub fn requests_seen(&self) -> Vec<ChatRequestSeen> {
        lock(&self.state.seen).clone()
    }

    /// Number of chat requests received (including ones answered with faults).
    pub fn request_count(&self) -> u64 {
        self.state.next_seq.load(Ordering::SeqCst)
    }

    /// Total samples asked for: the sum of `n` over all chat requests.
    pub fn samples_requested(&self) -> u64 {
        lock(&self.state.seen).iter().map(|r| u64::from(r.n)).sum()
    }

    /// Number of `GET /v1/models` requests received.
    pub fn models_requests(&self) -> u64 {
        self.state.models_requests.load(Ordering::SeqCst)
    }

    /// Chat requests being answered right now.
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::SeqCst)
    }

    /// The most chat requests that were ever in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Stop accepting connections, close the open ones and wait until the server
    /// task has ended.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
        // Dropping a runtime blocks on its tasks and panics inside async code;
        // shutting down in the background does neither.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A responder that panicked poisons nothing we care about: the list is only
    // appended to, so keep using it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Accept connections until told to stop. Connections live in a `JoinSet` owned
/// by this loop, so ending (or aborting) the loop closes them all, hanging
/// requests included.
async fn accept_loop(listener: TcpListener, state: Arc<State>, mut stopped: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = Arc::clone(&state);
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(route(state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        }
    }
}

async fn route(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/v1/chat/completions") => chat(state, req).await,
        (&Method::GET, "/v1/models") => {
            state.models_requests.fetch_add(1, Ordering::SeqCst);
            let data: Vec<_> = state
                .models
                .iter()
                .map(|id| serde_json::json!({"id": id, "object": "model", "created": 0, "owned_by": "scripted"}))
                .collect();
            let body = serde_json::json!({"object": "list", "data": data});
            respond::simple(200, "application/json", body.to_string())
        }
        _ => error_body(404, "no such route"),
    }
}

fn error_body(status: u16, message: &str) -> Response<Body> {
    let body = serde_json::json!({"error": {"message": message, "code": status}});
    respond::simple(status, "application/json", body.to_string())
}

async fn chat(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let guard = InFlight::enter(&state);
    let authorization = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return error_body(400, &format!("could not read body: {e}")),
    };
    // Sequence numbers are handed out under the same lock that records the
    // request, so `seq` always equals the request's position in `requests_seen`.
    let seen = {
        let mut seen = lock(&state.seen);
        let seq = state.next_seq.load(Ordering::SeqCst);
        match ChatRequestSeen::parse(seq, &bytes, authorization) {
            Ok(parsed) => {
                state.next_seq.fetch_add(1, Ordering::SeqCst);
                seen.push(parsed.clone());
                parsed
            }
            Err(message) => return error_body(400, &message),
        }
    };
    let reply = (state.responder)(&seen);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    if matches!(reply.action, reply::Action::Hang) {
        // Held until the client disconnects or the server shuts down, both of
        // which drop this future (and the in-flight guard with it).
        std::future::pending::<()>().await;
    }
    let model = seen
        .model
        .clone()
        .or_else(|| state.models.first().cloned())
        .unwrap_or_default();
    respond::chat(&seen, reply, &model, guard)
}
