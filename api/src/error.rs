//! The API's one error type, rendered as problem details (RFC 9457,
//! `application/problem+json`).
//!
//! Every body has a stable machine `code`, the human `detail` that Django REST
//! Framework clients already read, and, for input errors, `errors: {field:
//! [messages]}` in DRF's shape. A 500 says nothing internal; its cause is logged once,
//! here, with the request id of the span it happened in.

use std::any::Any;
use std::collections::BTreeMap;

use ai_video_shared::domain::ErrorCode;
use ai_video_shared::input::Refusal;
use ai_video_shared::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A refused or failed request.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub detail: String,
    pub errors: BTreeMap<String, Vec<String>>,
    /// Extra members, such as the legal targets of a refused transition.
    pub extra: Option<serde_json::Value>,
    /// For `budget_exceeded`: the amounts behind the refusal.
    pub amounts: Option<Box<serde_json::Value>>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u32>,
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:ai-video:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable machine code, one of a closed list (docs/api.md).
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub detail: String,
    /// Field errors as Django REST Framework gives them.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, Vec<String>>,
    /// For `invalid_transition`: the statuses the story may move to instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub legal_targets: Option<serde_json::Value>,
    /// For `budget_exceeded`: `budget`, `spent`, `committed`, `requested` and
    /// `remaining`, in dollars as decimal strings.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub amounts: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: BTreeMap::new(),
            extra: None,
            amounts: None,
            retry_after: None,
        }
    }

    /// One field is unacceptable (422).
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::fields([(field.into(), message.into())])
    }

    /// Several fields are unacceptable (422).
    pub fn fields(list: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (field, message) in list {
            errors.entry(field).or_default().push(message);
        }
        let detail = errors
            .iter()
            .map(|(f, m)| format!("{f}: {}", m.join(" ")))
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ValidationError,
                detail,
            )
        }
    }

    /// A field is missing, unknown or of the wrong type (400 `invalid_input`).
    pub fn invalid_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: ErrorCode::InvalidInput,
            ..Self::field(field, message)
        }
    }

    pub fn bad_request(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{what} not found."),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            "An internal error occurred; it has been logged.",
        )
    }

    /// The opaque 500, logging why.
    pub fn internal_because(reason: impl std::fmt::Display) -> Self {
        tracing::error!(error = %reason, "internal error");
        Self::internal()
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        ApiError::fields(refusal.0)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => {
                let mut name = what.to_string();
                if let Some(first) = name.get_mut(..1) {
                    first.make_ascii_uppercase();
                }
                ApiError::not_found(&name)
            }
            StoreError::Transition(t) => {
                let legal: Vec<&str> = t.legal.iter().map(|s| s.as_str()).collect();
                let hint = if legal.is_empty() {
                    "no move is open to you from here".to_string()
                } else {
                    format!("legal targets: {}", legal.join(", "))
                };
                ApiError {
                    extra: Some(serde_json::json!(legal)),
                    ..ApiError::new(
                        StatusCode::CONFLICT,
                        ErrorCode::InvalidTransition,
                        format!("Cannot move the story from {} to {}; {hint}.", t.from, t.to),
                    )
                }
            }
            StoreError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            StoreError::FieldConflict {
                code,
                field,
                message,
            } => ApiError {
                status: StatusCode::CONFLICT,
                code,
                ..ApiError::field(field, ai_video_shared::input::sentence(&message))
            },
            StoreError::Invalid { field, message } => ApiError::field(field, message),
            StoreError::OverBudget {
                message,
                budget,
                spent,
                committed,
                asked,
            } => ApiError {
                amounts: Some(Box::new(serde_json::json!({
                    "budget": budget.to_string(),
                    "spent": spent.to_string(),
                    "committed": committed.to_string(),
                    "requested": asked.to_string(),
                    "remaining": (budget - spent - committed).max(rust_decimal::Decimal::ZERO).to_string(),
                }))),
                ..ApiError::new(
                    StatusCode::PAYMENT_REQUIRED,
                    ErrorCode::BudgetExceeded,
                    ai_video_shared::input::sentence(&message),
                )
            },
            StoreError::OverQuota {
                message,
                retry_after_secs,
            } => ApiError {
                retry_after: Some(retry_after_secs.min(u64::from(u32::MAX)) as u32),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::QuotaExceeded,
                    ai_video_shared::input::sentence(&message),
                )
            },
            StoreError::Db(db) => {
                tracing::error!(error = %db, "database error");
                ApiError::internal()
            }
        }
    }
}

/// The answer to a handler that panicked: the panic is logged in the request's
/// span (so with its request id) and the client gets the same opaque 500 as any
/// other internal error.
pub fn panicked(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    tracing::error!(panic = %message, "the request handler panicked");
    ApiError::internal().into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = %self.code, detail = %self.detail, "request failed");
        }
        let problem = Problem {
            kind: self.code.uri(),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            code: self.code,
            detail: self.detail,
            errors: self.errors,
            legal_targets: self.extra,
            amounts: self.amounts.map(|a| *a),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"api\""),
            );
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
