//! `stories/{id}/media/{which}/`: a stable, authenticated link to a story's preview or
//! final video. It answers with a redirect to a fresh signed media URL, so that
//! events and webhooks can name the media without carrying a link that expires.

use ai_video_shared::store::stories;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::problems;
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiPath;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(story_media))
}

/// Which video of a story.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Which {
    Preview,
    Final,
}

/// Redirect to the story's preview or final video (a signed, expiring media URL).
#[utoipa::path(get, path = "/stories/{id}/media/{which}/", tag = "stories",
    params(("id" = Uuid, Path), ("which" = Which, Path)),
    responses((status = 302, description = "To the signed media URL, in `Location`"),
        problems::Auth, problems::Lookup))]
pub async fn story_media(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath((id, which)): ApiPath<(Uuid, Which)>,
) -> ApiResult<Response> {
    let story = stories::get(&state.db, &viewer, id).await?;
    let key = match which {
        Which::Preview => story.preview_key,
        Which::Final => story.final_key,
    }
    .ok_or_else(|| ApiError::not_found("Video"))?;
    let location =
        HeaderValue::from_str(&state.media_url(&key)).map_err(|_| ApiError::not_found("Video"))?;
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}
