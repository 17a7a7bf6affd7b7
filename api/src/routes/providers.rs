//! `providers/`: the provider configurations, for admins only (others get 403, as
//! DRF's IsAdminUser answers). API keys are never stored here nor returned: they
//! come from the environment of the workers.

use ai_video_shared::db::entities::provider_config;
use ai_video_shared::domain::{Provider, ProviderRates, ProviderSettings};
use ai_video_shared::store::providers::{self, ProviderPatch};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problems;
use crate::AppState;
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::{PageParams, Paginated, RequestUrl};
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
    /// 0 (no limit) to 1,000,000.
    #[schema(value_type = Option<u32>, minimum = 0, maximum = 1000000)]
    pub rate_limit_per_minute: Option<i64>,
    /// 0 (no limit) to 1,000,000.
    #[schema(value_type = Option<u32>, minimum = 0, maximum = 1000000)]
    pub rate_limit_per_hour: Option<i64>,
    /// A decimal string such as `"0.0200"`: at most 1,000,000, at most four places.
    #[schema(value_type = Option<String>, pattern = r"^(?:(?:0|[1-9][0-9]{0,5})(?:\.[0-9]{1,4})?|1000000(?:\.0{1,4})?)$")]
    pub cost_per_image: Option<String>,
    /// As `cost_per_image`.
    #[schema(value_type = Option<String>, pattern = r"^(?:(?:0|[1-9][0-9]{0,5})(?:\.[0-9]{1,4})?|1000000(?:\.0{1,4})?)$")]
    pub cost_per_second_video: Option<String>,
    /// Replaces the settings object as a whole: only the settings docs/providers.md
    /// lists, each of its type (keys and secrets come from the environment).
    #[schema(value_type = Option<ProviderSettings>)]
    pub settings: Option<serde_json::Value>,
}

/// Whether a string or key anywhere in `value` holds a NUL character, which the
/// database cannot store.
fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
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
    let mut price = |field: &str, value: Option<&str>| {
        value.and_then(|v| errors.check(field, ProviderRates::parse_price(v)))
    };
    let cost_per_image = price("cost_per_image", input.cost_per_image.as_deref());
    let cost_per_second_video = price(
        "cost_per_second_video",
        input.cost_per_second_video.as_deref(),
    );
    if let Some(settings) = &input.settings {
        if has_nul(settings) {
            errors.add(
                "settings",
                "Text in settings may not contain NUL characters.",
            );
        } else if let Err(e) = ProviderSettings::parse(settings) {
            errors.add(e.field, e.message);
        }
    }
    errors.finish()?;
    let patch = ProviderPatch {
        is_active: input.is_active,
        rate_limit_per_minute: per_minute,
        rate_limit_per_hour: per_hour,
        cost_per_image,
        cost_per_second_video,
        settings: input.settings,
    };
    let updated = providers::update(&state.db, provider, patch).await?;
    tracing::info!(provider = %provider, admin = %admin.user_id, "provider configuration changed");
    Ok(Json(updated.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(field: &str) -> regex::Regex {
        let schema = <ProviderPatchIn as utoipa::PartialSchema>::schema();
        let json = serde_json::to_value(schema).unwrap();
        regex::Regex::new(json["properties"][field]["pattern"].as_str().unwrap()).unwrap()
    }

    #[test]
    fn the_documented_price_pattern_accepts_what_the_server_accepts() {
        let price = pattern("cost_per_image");
        for text in [
            "0",
            "0.0",
            "0.02",
            "0.0200",
            "7",
            "999999.9999",
            "1000000",
            "1000000.0000",
            "",
            ".5",
            "1.",
            "-1",
            "+1",
            "1e3",
            "01",
            "00",
            "0.00001",
            "1000000.0001",
            "1000001",
            "9999999",
            "12345678",
            " 1",
            "1,5",
            "NaN",
            "1.2.3",
        ] {
            assert_eq!(
                price.is_match(text),
                ProviderRates::parse_price(text).is_ok(),
                "{text:?}"
            );
        }
    }
}
