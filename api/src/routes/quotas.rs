//! `quotas/`: each user's budget and quotas with what is used of them. A user reads
//! their own (`quotas/me/`); admins read and change anyone's (`quotas/{user}/`).

use ai_video_shared::store::quotas::{self, QuotaPatch, Usage};
use axum::Json;
use axum::extract::State;
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problems;
use crate::AppState;
use crate::auth::{Admin, Auth};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::validate::FieldErrors;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_quota))
        .routes(routes!(get_quota, patch_quota))
}

/// Changes to a user's limits: a field left out stays; `null` returns it to the
/// deployment's default.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaPatchIn {
    /// Dollars per calendar month, a decimal string such as `"50.00"`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, pattern = r"^(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,4})?$")]
    pub monthly_budget: Option<Option<String>>,
    /// Previews and renders queued or running at once, 0 to 1,000,000,000.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, nullable, minimum = 0, maximum = 1000000000)]
    pub max_rendering: Option<Option<i64>>,
    /// Seconds of video asked for per day (UTC), 0 to 1,000,000,000.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, nullable, minimum = 0, maximum = 1000000000)]
    pub daily_video_seconds: Option<Option<i64>>,
}

/// A field that is present: `null` is `Some(None)`, a value `Some(Some(v))`; a field
/// left out stays `None` (its `default`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

async fn usage_of(state: &AppState, user: &str) -> ApiResult<Usage> {
    let limits = quotas::limits_for(&state.db, user, state.config.quotas).await?;
    Ok(quotas::usage(&state.db, user, limits).await?)
}

/// Your own budget and quotas, with what you used of them.
#[utoipa::path(get, path = "/quotas/me/", tag = "quotas",
    responses((status = 200, body = Usage), problems::Auth))]
pub async fn my_quota(State(state): State<AppState>, Auth(viewer): Auth) -> ApiResult<Json<Usage>> {
    Ok(Json(usage_of(&state, &viewer.user_id).await?))
}

/// A user's budget and quotas, with what they used (admins only).
#[utoipa::path(get, path = "/quotas/{user}/", tag = "quotas", params(("user" = String, Path)),
    responses((status = 200, body = Usage), problems::Admin, problems::Lookup))]
pub async fn get_quota(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    ApiPath(user): ApiPath<String>,
) -> ApiResult<Json<Usage>> {
    Ok(Json(usage_of(&state, &user).await?))
}

/// Change a user's budget or quotas (admins only).
#[utoipa::path(patch, path = "/quotas/{user}/", tag = "quotas", params(("user" = String, Path)),
    request_body = QuotaPatchIn,
    responses((status = 200, body = Usage), problems::Admin, problems::Lookup, problems::Body))]
pub async fn patch_quota(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(user): ApiPath<String>,
    ApiJson(input): ApiJson<QuotaPatchIn>,
) -> ApiResult<Json<Usage>> {
    // No token can name such a user.
    if user.is_empty() || user.len() > 255 || user.chars().any(char::is_control) {
        return Err(crate::error::ApiError::not_found("User"));
    }
    let mut errors = FieldErrors::default();
    let count = |errors: &mut FieldErrors, field: &str, v: Option<Option<i64>>| match v {
        Some(Some(n)) if (0..=1_000_000_000).contains(&n) => Some(Some(n as u32)),
        Some(Some(_)) => {
            errors.add(field, "Must be between 0 and 1000000000.");
            None
        }
        Some(None) => Some(None),
        None => None,
    };
    let max_rendering = count(&mut errors, "max_rendering", input.max_rendering);
    let daily_video_seconds = count(
        &mut errors,
        "daily_video_seconds",
        input.daily_video_seconds,
    );
    let monthly_budget = match input.monthly_budget {
        Some(Some(text)) => match text.parse::<Decimal>() {
            Ok(d)
                if !d.is_sign_negative() && d <= Decimal::from(1_000_000_000) && d.scale() <= 4 =>
            {
                Some(Some(d))
            }
            _ => {
                errors.add(
                    "monthly_budget",
                    "Must be a decimal string from \"0\" to \"1000000000\" with at most 4 decimal places.",
                );
                None
            }
        },
        Some(None) => Some(None),
        None => None,
    };
    errors.finish()?;
    let change = QuotaPatch {
        monthly_budget,
        max_rendering,
        daily_video_seconds,
    };
    quotas::patch(&state.db, &user, change).await?;
    tracing::info!(user = %user, admin = %admin.user_id, "quota changed");
    Ok(Json(usage_of(&state, &user).await?))
}
