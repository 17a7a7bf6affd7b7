//! `/media/<key>?expires=…&signature=…`: stored media by signed, expiring link (see
//! [`crate::media_links`]). The local directory is served directly (with range
//! requests, so videos seek); S3 objects redirect to a presigned URL made at the
//! time of the request. Only keys under `stories/` are media: nothing else in the
//! directory or the bucket (the SQLite database when `STORAGE_DIR` is `./data`) is
//! ever served or presigned.

use std::collections::HashMap;

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::AppState;
use crate::error::ApiError;

use ai_video_shared::domain::ErrorCode;

pub async fn get_media(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    if ai_video_shared::storage::validate_key(&key).is_err()
        || !key.starts_with(crate::media_links::MEDIA_PREFIX)
    {
        return ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "No such media.")
            .into_response();
    }
    let (expires, signature) = (
        query.get("expires").map(String::as_str).unwrap_or_default(),
        query
            .get("signature")
            .map(String::as_str)
            .unwrap_or_default(),
    );
    let now = chrono::Utc::now().timestamp();
    if let Err(e) = state
        .config
        .media_links
        .verify(&key, expires, signature, now)
    {
        let (code, detail) = match e {
            crate::media_links::LinkError::Expired => (
                ErrorCode::MediaLinkExpired,
                "This media link has expired; fetch the story again for a fresh one.",
            ),
            crate::media_links::LinkError::Invalid => (
                ErrorCode::MediaLinkInvalid,
                "Media is served only through the signed links the API hands out.",
            ),
        };
        return ApiError::new(StatusCode::FORBIDDEN, code, detail).into_response();
    }
    if let Some(path) = state.storage.local_path(&key) {
        return match ServeFile::new(path).oneshot(req).await {
            Ok(resp) if resp.status() == StatusCode::NOT_FOUND => {
                ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "No such media.")
                    .into_response()
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
