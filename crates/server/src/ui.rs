//! The web UI's files, read from the UI directory (`crates/server/ui`, or `--ui-dir`):
//! `index.html` at `/`, `job.html` at `/jobs/{id}`, everything else under `/ui/`.
//! Paths with `..` or other non-plain components are refused.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::path::{Component, PathBuf};
use std::sync::Arc;

fn content_type(path: &std::path::Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("ttf") => "font/ttf",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

async fn file(state: &AppState, relative: &str) -> Response {
    let rel = PathBuf::from(relative);
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return ApiError::not_found("no such file").into_response();
    }
    let path = state.ui_dir.join(&rel);
    match tokio::fs::read(&path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type(&path))], bytes).into_response(),
        Err(_) => ApiError::not_found(format!(
            "no UI file {relative} in {} (run scripts/setup.sh to fetch the UI's libraries)",
            state.ui_dir.display()
        ))
        .into_response(),
    }
}

pub async fn index(State(state): State<Arc<AppState>>) -> Response {
    file(&state, "index.html").await
}

pub async fn job_page(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    if !crate::jobs::valid_id(&id) {
        return ApiError::not_found("no such job").into_response();
    }
    file(&state, "job.html").await
}

pub async fn asset(State(state): State<Arc<AppState>>, Path(path): Path<String>) -> Response {
    file(&state, &path).await
}
