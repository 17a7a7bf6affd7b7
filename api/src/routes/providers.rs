//! `providers/`: the provider configurations, for admins only (others get 403, as
//! DRF's IsAdminUser answers). API keys are never stored here nor returned: they
//! come from the environment of the workers.

use ai_video_shared::db::entities::provider_config;
use ai_video_shared::domain::Provider;
use ai_video_shared::input::ProviderPatchIn;
use ai_video_shared::store::providers::{self, ProviderPatch};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problems;
use crate::AppState;
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::{PageParams, Paginated, RequestUrl};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_providers))
        .routes(routes!(get_provider, patch_provider))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderOut {
    pub provider: Provider,
    pub is_active: bool,
    /// Generation requests per minute across the fleet; 0 means no limit.
    pub rate_limit_per_minute: i32,
    /// Generation requests per hour across the fleet; 0 means no limit.
    pub rate_limit_per_hour: i32,
    #[schema(value_type = String, example = "0.0200")]
    pub cost_per_image: Decimal,
    #[schema(value_type = String, example = "0.0500")]
    pub cost_per_second_video: Decimal,
    /// Model and call settings, e.g. `{"default_model": "gen4_turbo", "max_duration": 4}`.
    pub settings: serde_json::Value,
    pub updated_at: DateTime<Utc>,
}

impl From<provider_config::Model> for ProviderOut {
    fn from(m: provider_config::Model) -> Self {
        Self {
            provider: m.provider,
            is_active: m.is_active,
            rate_limit_per_minute: m.rate_limit_per_minute,
            rate_limit_per_hour: m.rate_limit_per_hour,
            cost_per_image: m.cost_per_image.0,
            cost_per_second_video: m.cost_per_second_video.0,
            settings: m.settings,
            updated_at: m.updated_at,
        }
    }
}

/// Every provider's configuration, by name (admins only).
#[utoipa::path(get, path = "/providers/", tag = "providers", params(PageParams),
    responses((status = 200, body = Paginated<ProviderOut>), problems::Admin, problems::Query,
        problems::Page))]
pub async fn list_providers(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    url: RequestUrl,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<ProviderOut>>> {
    let req = page.request()?;
    let list = providers::list(&state.db, req).await?;
    Ok(Json(url.paginate(req, list, ProviderOut::from)?))
}

fn parse_provider(name: &str) -> ApiResult<Provider> {
    name.parse().map_err(|_| ApiError::not_found("Provider"))
}

/// One provider's configuration (admins only).
#[utoipa::path(get, path = "/providers/{provider}/", tag = "providers", params(("provider" = Provider, Path)),
    responses((status = 200, body = ProviderOut), problems::Admin, problems::Lookup))]
pub async fn get_provider(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<ProviderOut>> {
    Ok(Json(
        providers::get(&state.db, parse_provider(&name)?)
            .await?
            .into(),
    ))
}

/// Switch a provider on or off, change its limits, unit costs or settings (admins only).
#[utoipa::path(patch, path = "/providers/{provider}/", tag = "providers", params(("provider" = Provider, Path)),
    request_body = ProviderPatchIn,
    responses((status = 200, body = ProviderOut), problems::Admin, problems::Lookup,
        problems::Body))]
pub async fn patch_provider(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<ProviderPatchIn>,
) -> ApiResult<Json<ProviderOut>> {
    let provider = parse_provider(&name)?;
    let patch = ProviderPatch::try_from(input)?;
    let updated = providers::update(&state.db, provider, patch).await?;
    tracing::info!(provider = %provider, admin = %admin.user_id, "provider configuration changed");
    Ok(Json(updated.into()))
}
