//! `quotas/`: each user's budget and quotas with what is used of them. A user reads
//! their own (`quotas/me/`); admins read and change anyone's (`quotas/{user}/`).

use ai_video_shared::input::QuotaPatchIn;
use ai_video_shared::store::quotas::{self, QuotaPatch, Usage};
use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problems;
use crate::AppState;
use crate::auth::{Admin, Auth};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_quota))
        .routes(routes!(get_quota, patch_quota))
}

pub async fn usage_of(state: &AppState, user: &str) -> ApiResult<Usage> {
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
    let change = QuotaPatch::try_from(input)?;
    quotas::patch(&state.db, &user, change).await?;
    tracing::info!(user = %user, admin = %admin.user_id, "quota changed");
    Ok(Json(usage_of(&state, &user).await?))
}
