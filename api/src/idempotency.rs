//! `Idempotency-Key` on POST (draft-ietf-httpapi-idempotency-key-header): a client
//! that retries a request after a timeout sends the same key, and gets the first
//! answer again instead of a second story or a second queued job.
//!
//! Keys are per user and kept a day. The same key with the same request (method,
//! path, query and body) replays the first answer, status and body, with
//! `Idempotent-Replayed: true`; with another request it is a 422
//! (`idempotency_key_reused`); while the first request still runs it is a 409
//! (`idempotency_key_in_progress`). An answer worth retrying (5xx, 409, 429) is not
//! kept, so the same key can be sent again. A POST without the header is unchanged.

use ai_video_shared::domain::ErrorCode;
use ai_video_shared::store::idempotency::{self, Claim, Stored};
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// The longest key accepted.
const MAX_KEY: usize = 255;
/// The largest answer kept for replay.
const MAX_ANSWER: usize = 1 << 20;

/// The key of a request, unquoted (`"abc"`, the structured-field form, or `abc`).
fn key_of(value: &HeaderValue) -> Result<String, ApiError> {
    let text = value.to_str().unwrap_or_default().trim();
    let key = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if key.is_empty() || key.len() > MAX_KEY || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::field(
            "Idempotency-Key",
            format!("must be 1 to {MAX_KEY} visible ASCII characters, e.g. a UUID"),
        ));
    }
    Ok(key.to_owned())
}

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY).cloned() else {
        return next.run(request).await;
    };
    // Only an authenticated user has keys; anything else is the handler's to refuse.
    let Some(viewer) = crate::auth::bearer_viewer(&state, request.headers()) else {
        return next.run(request).await;
    };
    let key = match key_of(&value) {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    let (parts, body) = request.into_parts();
    let limit = state.config.body_limit_for(parts.uri.path());
    let body = match to_bytes(body, limit).await {
        Ok(body) => body,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "The request body is larger than this API accepts.",
            )
            .into_response();
        }
    };
    let mut hash = Sha256::new();
    hash.update(parts.method.as_str());
    hash.update(b"\n");
    hash.update(parts.uri.path().trim_end_matches('/'));
    hash.update(b"\n");
    hash.update(parts.uri.query().unwrap_or_default());
    hash.update(b"\n");
    hash.update(&body);
    let fingerprint = hex(&hash.finalize());
    let user = viewer.user_id;
    match idempotency::claim(&state.db, &user, &key, &fingerprint).await {
        Ok(Claim::Run) => {}
        Ok(Claim::InProgress) => {
            return ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::IdempotencyKeyInProgress,
                "A request with this Idempotency-Key is still being processed; retry later.",
            )
            .into_response();
        }
        Ok(Claim::Mismatch) => {
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::IdempotencyKeyReused,
                "This Idempotency-Key was used for a different request (method, path or body).",
            )
            .into_response();
        }
        Ok(Claim::Replay(stored)) => return replay(stored),
        Err(e) => return ApiError::from(e).into_response(),
    }
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let status = response.status();
    let keep = !(status.is_server_error()
        || status == StatusCode::CONFLICT
        || status == StatusCode::TOO_MANY_REQUESTS);
    if !keep {
        if let Err(e) = idempotency::release(&state.db, &user, &key).await {
            tracing::warn!(error = %e, "could not free an idempotency key");
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ANSWER).await else {
        let _ = idempotency::release(&state.db, &user, &key).await;
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            "The answer could not be read.",
        )
        .into_response();
    };
    let header_text = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let stored = Stored {
        status: parts.status.as_u16(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
        content_type: header_text(header::CONTENT_TYPE),
        location: header_text(header::LOCATION),
    };
    if let Err(e) = idempotency::complete(&state.db, &user, &key, &stored).await {
        tracing::warn!(error = %e, "could not keep an idempotent answer");
        let _ = idempotency::release(&state.db, &user, &key).await;
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn replay(stored: Stored) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    if let Some(v) = stored
        .content_type
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Some(v) = stored.location.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(header::LOCATION, v);
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
