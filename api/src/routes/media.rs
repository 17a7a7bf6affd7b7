//! `/media/<key>`: stored media by key. The local directory is served directly
//! (with range requests, so videos seek); S3 objects redirect to a presigned URL
//! made at the time of the request.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::AppState;
use crate::error::ApiError;

pub async fn get_media(
    State(state): State<AppState>,
    Path(key): Path<String>,
    req: Request,
) -> Response {
    if ai_video_shared::storage::validate_key(&key).is_err() {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such media.").into_response();
    }
    if let Some(path) = state.storage.local_path(&key) {
        return match ServeFile::new(path).oneshot(req).await {
            Ok(resp) if resp.status() == StatusCode::NOT_FOUND => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such media.").into_response()
            }
            Ok(resp) => resp.into_response(),
            Err(e) => match e {},
        };
    }
    match state.storage.url(&key).await {
        Ok(url) => Redirect::temporary(&url).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot sign a media URL");
            ApiError::internal().into_response()
        }
    }
}
