//! Errors of the API, as JSON in the shape OpenAI clients read:
//! `{"error": {"message": ..., "type": ...}}`.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Json;
use crate::agent::TurnError;
use crate::inference::InferenceError;
use crate::sandbox::{CallError, CallErrorKind};

#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    /// A short, stable word: `not_found`, `denied`, `over_budget`, ...
    pub kind: &'static str,
    pub message: String,
    pub retry_after: Option<Duration>,
    /// More for the client to read beside the error: fields of this object
    /// go into the body.
    pub extra: Option<serde_json::Value>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        kind: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
            retry_after: None,
            extra: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// 429: try again after `wait`.
    pub(crate) fn too_many(
        kind: &'static str,
        message: impl Into<String>,
        wait: Duration,
    ) -> ApiError {
        ApiError {
            retry_after: Some(wait),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, kind, message)
        }
    }

    /// The body, for errors sent inside a stream.
    pub(crate) fn body(&self) -> serde_json::Value {
        let mut body =
            serde_json::json!({ "error": { "message": self.message, "type": self.kind } });
        if let Some(serde_json::Value::Object(extra)) = &self.extra {
            for (key, value) in extra {
                body[key] = value.clone();
            }
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(wait) = self.retry_after {
            // Whole seconds, rounded up: never "0".
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<TurnError> for ApiError {
    fn from(error: TurnError) -> ApiError {
        let message = error.to_string();
        let (status, kind) = match &error {
            TurnError::NoModel(_) => (StatusCode::CONFLICT, "no_model"),
            TurnError::BadConversation(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            TurnError::Inference(InferenceError::OverBudget(_)) => {
                (StatusCode::TOO_MANY_REQUESTS, "over_budget")
            }
            TurnError::Inference(InferenceError::Denied(_)) => (StatusCode::FORBIDDEN, "denied"),
            TurnError::Inference(InferenceError::Failed(_)) => {
                (StatusCode::BAD_GATEWAY, "inference_failed")
            }
            TurnError::MaxSteps { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "max_steps"),
            TurnError::History(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError::new(status, kind, message)
    }
}

impl From<CallError> for ApiError {
    fn from(error: CallError) -> ApiError {
        let status = match &error.kind {
            CallErrorKind::Denied(_) => StatusCode::FORBIDDEN,
            CallErrorKind::UnknownTool { .. } | CallErrorKind::InvalidInput(_) => {
                StatusCode::BAD_REQUEST
            }
            // The tool ran, and ended badly: its own failure or a limit.
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, error.kind.outcome(), error.to_string())
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(error: crate::db::DbError) -> ApiError {
        ApiError::internal(error.to_string())
    }
}
