//! `webhooks/`: a user's webhook endpoints, their secrets and their deliveries.
//! The secret is answered once, when the endpoint is created or its secret rotated.

use ai_video_shared::db::entities::{webhook_attempt, webhook_endpoint};
use ai_video_shared::input::{EndpointIn, EndpointPatchIn, RotateIn, WebhookEvent};
use ai_video_shared::store::webhooks::{self, DeliveryView, EndpointPatch, NewEndpoint};
use ai_video_shared::webhooks::message_id;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::problems;
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, OptionalJson};
use crate::pagination::{PageParams, Paginated, RequestUrl};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(get_endpoint, patch_endpoint, delete_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(resend_delivery))
}

/// An endpoint (without its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointOut {
    pub id: Uuid,
    pub url: String,
    /// The event types delivered; empty means every type.
    #[schema(value_type = Vec<WebhookEvent>)]
    pub events: serde_json::Value,
    pub description: String,
    pub enabled: bool,
    /// Why the system disabled it (`410 Gone`, failing for days); null otherwise.
    pub disabled_reason: Option<String>,
    /// When its current run of failed deliveries began.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret replaced by the last rotation still signs.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<webhook_endpoint::Model> for EndpointOut {
    fn from(m: webhook_endpoint::Model) -> Self {
        let previous = m
            .previous_secret_expires_at
            .filter(|at| m.previous_secret.is_some() && *at > Utc::now());
        Self {
            id: m.id,
            url: m.url,
            events: m.events,
            description: m.description,
            enabled: m.enabled,
            disabled_reason: m.disabled_reason,
            failing_since: m.failing_since,
            previous_secret_expires_at: previous,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// An endpoint with its signing secret, answered only on creation and rotation.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: EndpointOut,
    /// `whsec_…`: verify deliveries with it (Standard Webhooks). Shown once.
    pub secret: String,
}

impl From<webhook_endpoint::Model> for EndpointWithSecret {
    fn from(m: webhook_endpoint::Model) -> Self {
        let secret = m.secret.clone();
        Self {
            endpoint: m.into(),
            secret,
        }
    }
}

/// Refuses a URL the workers would refuse to deliver to.
async fn check_url(state: &AppState, url: &url::Url) -> ApiResult<()> {
    state.outbound.check(url).await.map_err(|refused| {
        ApiError::field(
            "url",
            format!("Deliveries cannot go there: {}.", refused.reason),
        )
    })
}

/// List the viewer's endpoints, newest first.
#[utoipa::path(get, path = "/webhooks/", tag = "webhooks", params(PageParams),
    responses((status = 200, body = Paginated<EndpointOut>), problems::Auth, problems::Query,
        problems::Page))]
pub async fn list_endpoints(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    url: RequestUrl,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<EndpointOut>>> {
    let req = page.request()?;
    let page = webhooks::list(&state.db, &viewer, req).await?;
    Ok(Json(url.paginate(req, page, EndpointOut::from)?))
}

/// Register an endpoint; the answer carries its signing secret, once.
#[utoipa::path(post, path = "/webhooks/", tag = "webhooks", request_body = EndpointIn,
    responses((status = 201, body = EndpointWithSecret), problems::Auth, problems::Body))]
pub async fn create_endpoint(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiJson(input): ApiJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointWithSecret>)> {
    let new = NewEndpoint::try_from(input)?;
    check_url(&state, &new.url).await?;
    let endpoint = webhooks::create(&state.db, &viewer, new).await?;
    tracing::info!(endpoint = %endpoint.id, "webhook endpoint registered");
    Ok((StatusCode::CREATED, Json(endpoint.into())))
}

/// One endpoint.
#[utoipa::path(get, path = "/webhooks/{id}/", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 200, body = EndpointOut), problems::Auth, problems::Lookup))]
pub async fn get_endpoint(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<EndpointOut>> {
    Ok(Json(webhooks::get(&state.db, &viewer, id).await?.into()))
}

/// Change an endpoint's URL, events, description, or enable it again.
#[utoipa::path(patch, path = "/webhooks/{id}/", tag = "webhooks", params(("id" = Uuid, Path)),
    request_body = EndpointPatchIn,
    responses((status = 200, body = EndpointOut), problems::Auth, problems::Lookup, problems::Body))]
pub async fn patch_endpoint(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<EndpointPatchIn>,
) -> ApiResult<Json<EndpointOut>> {
    let patch = EndpointPatch::try_from(input)?;
    webhooks::get(&state.db, &viewer, id).await?;
    if let Some(url) = &patch.url {
        check_url(&state, url).await?;
    }
    Ok(Json(
        webhooks::update(&state.db, &viewer, id, patch)
            .await?
            .into(),
    ))
}

/// Delete an endpoint and its delivery log.
#[utoipa::path(delete, path = "/webhooks/{id}/", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), problems::Auth, problems::Lookup))]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    webhooks::delete(&state.db, &viewer, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new signing secret, answered once; the old one keeps signing beside it for
/// `grace_seconds` (a day by default), so receivers can switch without a gap.
#[utoipa::path(post, path = "/webhooks/{id}/rotate/", tag = "webhooks",
    params(("id" = Uuid, Path)), request_body(content = Option<RotateIn>),
    responses((status = 200, body = EndpointWithSecret), problems::Auth, problems::Lookup,
        problems::Body))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
    OptionalJson(input): OptionalJson<RotateIn>,
) -> ApiResult<Json<EndpointWithSecret>> {
    let grace = input.grace()?;
    let endpoint = webhooks::rotate(&state.db, &viewer, id, grace).await?;
    tracing::info!(endpoint = %endpoint.id, "webhook secret rotated");
    Ok(Json(endpoint.into()))
}

/// One try of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptOut {
    pub attempt: i32,
    /// The receiver's status code; null when no answer came (refused, timed out).
    pub response_code: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<webhook_attempt::Model> for AttemptOut {
    fn from(a: webhook_attempt::Model) -> Self {
        Self {
            attempt: a.attempt,
            response_code: a.status_code,
            duration_ms: a.duration_ms,
            error: a.error,
            at: a.created_at,
        }
    }
}

/// One event on its way to the endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryOut {
    pub id: Uuid,
    /// The `webhook-id` header, the same on every attempt.
    pub message_id: String,
    pub event_id: i64,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub response_code: Option<i32>,
    pub duration_ms: Option<i64>,
    pub last_error: Option<String>,
    /// When the next try is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Every try, oldest first.
    pub attempt_log: Vec<AttemptOut>,
}

impl From<DeliveryView> for DeliveryOut {
    fn from(v: DeliveryView) -> Self {
        let d = v.delivery;
        Self {
            id: d.id,
            message_id: message_id(v.event.id),
            event_id: v.event.id,
            event_type: v.event.event_type,
            status: d.status,
            attempts: d.attempts,
            response_code: d.last_status_code,
            duration_ms: d.last_duration_ms,
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
            attempt_log: v.attempts.into_iter().map(AttemptOut::from).collect(),
        }
    }
}

/// An endpoint's deliveries, newest first, with every attempt.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries/", tag = "webhooks",
    params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Paginated<DeliveryOut>), problems::Auth, problems::Lookup,
        problems::Query, problems::Page))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
    url: RequestUrl,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<DeliveryOut>>> {
    let req = page.request()?;
    let page = webhooks::deliveries(&state.db, &viewer, id, req).await?;
    Ok(Json(url.paginate(req, page, DeliveryOut::from)?))
}

/// Send a delivery again now (with the same `webhook-id`).
#[utoipa::path(post, path = "/webhooks/{id}/deliveries/{delivery}/resend/", tag = "webhooks",
    params(("id" = Uuid, Path), ("delivery" = Uuid, Path)),
    responses((status = 202, description = "Queued for sending"), problems::Auth,
        problems::Lookup))]
pub async fn resend_delivery(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath((id, delivery)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    webhooks::resend(&state.db, &viewer, id, delivery).await?;
    Ok(StatusCode::ACCEPTED)
}
