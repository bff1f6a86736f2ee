//! Errors as HTTP answers. Under `/v1` every error has OpenAI's body,
//! `{"error": {"message", "type", "param", "code"}}`, so OpenAI clients raise their
//! usual exceptions; the jobs API uses the same shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error answer: status, message, and the offending parameter when there is one.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub param: Option<&'static str>,
}

impl ApiError {
    /// 400 about one parameter.
    pub fn invalid(param: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            param: Some(param),
        }
    }

    /// 400 about the request as a whole.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            param: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            param: None,
        }
    }

    pub fn status(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            param: None,
        }
    }

    /// OpenAI's `type` for a status.
    fn kind(&self) -> &'static str {
        match self.status.as_u16() {
            401 => "authentication_error",
            404 => "not_found_error",
            413 => "invalid_request_error",
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ => "server_error",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind(),
                "param": self.param,
                "code": self.status.as_u16().to_string(),
            }
        });
        (self.status, Json(body)).into_response()
    }
}

impl From<llm::LlmError> for ApiError {
    fn from(e: llm::LlmError) -> Self {
        match e {
            llm::LlmError::InvalidRequest(m) => ApiError::bad_request(m),
            other => ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}
