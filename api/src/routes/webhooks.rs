//! `webhooks/replicate/`: Replicate's completion webhooks, verified with the signing
//! secret (`REPLICATE_WEBHOOK_SECRET`, the `whsec_…` key). A verified prediction is
//! left in Redis for an hour, where the worker polling it finds it without another
//! call to Replicate. Without a secret configured the endpoint does not exist (404).

use ai_video_shared::domain::ErrorCode;
use ai_video_shared::webhooks::{self, inbox_key};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problems;
use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(replicate_webhook))
}

/// The members of a prediction this endpoint reads; Replicate sends more.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "documentation only")]
struct PredictionIn {
    id: String,
    /// `succeeded`, `failed`, `canceled` and `aborted` end a prediction and are
    /// kept for the worker; anything else is acknowledged and dropped.
    status: Option<String>,
}

/// Receive a Replicate prediction webhook (signed, not authenticated by JWT).
#[utoipa::path(post, path = "/webhooks/replicate/", tag = "providers", security(),
    request_body(content = PredictionIn, description = "The prediction, as Replicate sends it"),
    responses((status = 204, description = "Received"),
        (status = 400, response = problems::BadRequest),
        (status = 401, body = Problem, content_type = "application/problem+json",
            description = "The signature does not verify (`invalid_signature`)."),
        (status = 404, body = Problem, content_type = "application/problem+json",
            description = "No `REPLICATE_WEBHOOK_SECRET` is configured, so the endpoint does not exist."),
        (status = 413, response = problems::PayloadTooLarge),
        (status = 422, response = problems::UnprocessableEntity),
        (status = 503, response = problems::ServiceUnavailable)))]
pub async fn replicate_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let Some(secret) = &state.config.replicate_webhook_secret else {
        return Err(ApiError::not_found("Endpoint"));
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let now = chrono::Utc::now().timestamp();
    webhooks::verify(
        secret.expose(),
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
        &body,
        now,
    )
    .map_err(|e| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidSignature,
            format!("Webhook refused: {e}."),
        )
    })?;
    let prediction: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(ErrorCode::MalformedJson, format!("JSON parse error - {e}"))
    })?;
    let Some(id) = prediction["id"].as_str() else {
        return Err(ApiError::field("id", "The prediction has no id."));
    };
    let terminal = matches!(
        prediction["status"].as_str(),
        Some("succeeded" | "failed" | "canceled" | "aborted")
    );
    if terminal {
        let key = inbox_key(&state.config.queue, id);
        let mut conn = state
            .redis_client
            .get_multiplexed_async_connection()
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "Redis is unavailable; Replicate will retry.",
                )
            })?;
        redis::cmd("SET")
            .arg(&key)
            .arg(body.as_ref())
            .arg("EX")
            .arg(3600)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "Redis is unavailable; Replicate will retry.",
                )
            })?;
        tracing::info!(prediction = id, "replicate webhook received");
    }
    Ok(StatusCode::NO_CONTENT)
}
