//! `providers/`: the provider configurations, for admins only (others get 403, as
//! DRF's IsAdminUser answers). API keys are never stored here nor returned: they
//! come from the environment of the workers.

use ai_video_shared::db::entities::provider_config;
use ai_video_shared::domain::Provider;
use ai_video_shared::store::providers::{self, ProviderPatch};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::validate::FieldErrors;

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

/// Changes to a provider's configuration.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderPatchIn {
    pub is_active: Option<bool>,
    #[schema(value_type = Option<u32>)]
    pub rate_limit_per_minute: Option<i64>,
    #[schema(value_type = Option<u32>)]
    pub rate_limit_per_hour: Option<i64>,
    /// A decimal string such as `"0.0200"`.
    #[schema(value_type = Option<String>)]
    pub cost_per_image: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub cost_per_second_video: Option<Decimal>,
    /// Replaces the settings object as a whole.
    pub settings: Option<serde_json::Value>,
}

/// Words that mark a setting as a secret, which belongs in the environment.
const SECRET_WORDS: [&str; 4] = ["key", "token", "secret", "password"];

/// Every provider's configuration (admins only).
#[utoipa::path(get, path = "/providers/", tag = "providers",
    responses((status = 200, body = Vec<ProviderOut>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_providers(
    State(state): State<AppState>,
    Admin(_admin): Admin,
) -> ApiResult<Json<Vec<ProviderOut>>> {
    Ok(Json(
        providers::list(&state.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

fn parse_provider(name: &str) -> ApiResult<Provider> {
    name.parse().map_err(|_| ApiError::not_found("Provider"))
}

/// One provider's configuration (admins only).
#[utoipa::path(get, path = "/providers/{provider}/", tag = "providers", params(("provider" = Provider, Path)),
    responses((status = 200, body = ProviderOut), (status = 403, body = Problem), (status = 404, body = Problem)))]
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
    responses((status = 200, body = ProviderOut), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn patch_provider(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<ProviderPatchIn>,
) -> ApiResult<Json<ProviderOut>> {
    let provider = parse_provider(&name)?;
    let mut errors = FieldErrors::default();
    let limit = |errors: &mut FieldErrors, field: &str, v: Option<i64>| -> Option<u32> {
        match v {
            Some(v) if (0..=1_000_000).contains(&v) => Some(v as u32),
            Some(_) => {
                errors.add(field, "Must be between 0 (no limit) and 1000000.");
                None
            }
            None => None,
        }
    };
    let per_minute = limit(
        &mut errors,
        "rate_limit_per_minute",
        input.rate_limit_per_minute,
    );
    let per_hour = limit(
        &mut errors,
        "rate_limit_per_hour",
        input.rate_limit_per_hour,
    );
    for (field, cost) in [
        ("cost_per_image", input.cost_per_image),
        ("cost_per_second_video", input.cost_per_second_video),
    ] {
        if cost
            .is_some_and(|c| c.is_sign_negative() || c > Decimal::from(1_000_000) || c.scale() > 4)
        {
            errors.add(
                field,
                "Must be a non-negative amount with at most 4 decimal places.",
            );
        }
    }
    if let Some(settings) = &input.settings {
        match settings.as_object() {
            None => errors.add("settings", "Must be a JSON object."),
            Some(map) => {
                for k in map.keys() {
                    if SECRET_WORDS
                        .iter()
                        .any(|w| k.to_ascii_lowercase().contains(w))
                    {
                        errors.add(
                            format!("settings.{k}"),
                            "Keys and secrets are read from the environment, never stored in settings.",
                        );
                    }
                }
            }
        }
    }
    errors.finish()?;
    let patch = ProviderPatch {
        is_active: input.is_active,
        rate_limit_per_minute: per_minute,
        rate_limit_per_hour: per_hour,
        cost_per_image: input.cost_per_image,
        cost_per_second_video: input.cost_per_second_video,
        settings: input.settings,
    };
    let updated = providers::update(&state.db, provider, patch).await?;
    tracing::info!(provider = %provider, admin = %admin.user_id, "provider configuration changed");
    Ok(Json(updated.into()))
}
