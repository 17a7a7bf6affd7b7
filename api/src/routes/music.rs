//! `stories/{id}/music/`: the story's music bed. `POST` takes either an audio file
//! as the raw body (`audio/*` or `application/octet-stream`, at most `MUSIC_MAX_MB`),
//! checked with ffprobe before it is stored, or `{"url": "https://…"}`, which the
//! worker fetches through its download limits when it renders. `DELETE` removes it.
//! Both only while the story is a draft or planned.

use std::path::PathBuf;

use ai_video_shared::domain::{ErrorCode, MusicBed, check_music_url};
use ai_video_shared::input::Refusal;
use ai_video_shared::storage;
use ai_video_shared::store::stories;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::problems;
use super::stories::StoryOut;
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, parse_json};

pub fn router() -> OpenApiRouter<AppState> {
    // The upload's own limit (`MUSIC_MAX_MB`) is applied as the body is read.
    OpenApiRouter::new()
        .routes(routes!(set_music, delete_music))
        .layer(DefaultBodyLimit::disable())
}

/// A music bed fetched from the web.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MusicUrlIn {
    /// An https URL of an audio file, at most 2048 characters.
    #[schema(max_length = 2048, pattern = r"^https://\S+$")]
    pub url: String,
}

/// An audio file, as the body.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct AudioFile(#[expect(dead_code, reason = "documentation only")] Vec<u8>);

/// The longest and shortest music bed accepted, in seconds.
const MUSIC_SECONDS: (f64, f64) = (1.0, 3600.0);

/// Give the story a music bed: an uploaded audio file or an https URL. It is looped
/// or trimmed to the video's length and ducked under the narration.
#[utoipa::path(post, path = "/stories/{id}/music/", tag = "stories", params(("id" = Uuid, Path)),
    request_body(content(
        (MusicUrlIn = "application/json"),
        (AudioFile = "audio/mpeg"),
        (AudioFile = "application/octet-stream"))),
    responses((status = 200, body = StoryOut), problems::Auth, problems::Lookup, problems::Body,
        problems::State))]
pub async fn set_music(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<StoryOut>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json = mime == "application/json" || mime.ends_with("+json");
    if !(json || mime.starts_with("audio/") || mime == "application/octet-stream") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            format!(
                "Unsupported media type \"{content_type}\"; send an audio file (audio/*) or \
                 application/json with a url."
            ),
        ));
    }
    let limit = state.config.body_limit_for("/music/");
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("A music upload may weigh at most {} MB.", limit >> 20),
        )
    })?;
    let input = if json {
        Some(parse_json::<MusicUrlIn>(&body)?)
    } else {
        None
    };
    stories::check_music_open(&state.db, &viewer, id).await?;
    let bed = match input {
        Some(input) => MusicBed::Url {
            url: check_music_url(&input.url).map_err(|e| Refusal::field("url", e.0))?,
        },
        None => upload(&state, id, &mime, body).await?,
    };
    let story = stories::set_music(&state.db, &viewer, id, Some(bed)).await?;
    Ok(Json(StoryOut::from_model(story, &state)))
}

/// Remove the story's music bed.
#[utoipa::path(delete, path = "/stories/{id}/music/", tag = "stories",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = StoryOut), problems::Auth, problems::Lookup, problems::State))]
pub async fn delete_music(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<StoryOut>> {
    let story = stories::set_music(&state.db, &viewer, id, None).await?;
    Ok(Json(StoryOut::from_model(story, &state)))
}

/// Checks the uploaded file with ffprobe and stores it beside the story's media.
async fn upload(state: &AppState, id: Uuid, mime: &str, body: Bytes) -> ApiResult<MusicBed> {
    let refused = |why: String| ApiError::from(Refusal::field("file", why));
    if body.is_empty() {
        return Err(refused("The body is empty; send an audio file.".into()));
    }
    let path = std::env::temp_dir().join(format!("ai-video-music-{}", Uuid::new_v4()));
    let bytes = body.len() as u64;
    tokio::fs::write(&path, &body)
        .await
        .map_err(|e| ApiError::internal_because(e.to_string()))?;
    let probed = probe_audio(&state.config.ffprobe, &path).await;
    let stored = match &probed {
        Ok(_) => {
            state
                .storage
                .put_file(&storage::keys::music(id), &path, mime)
                .await
        }
        Err(_) => Ok(()),
    };
    let _ = tokio::fs::remove_file(&path).await;
    let (codec, seconds) = probed.map_err(refused)?;
    stored.map_err(|e| ApiError::internal_because(e.to_string()))?;
    Ok(MusicBed::Upload {
        content_type: mime.to_string(),
        bytes,
        seconds,
        codec,
    })
}

/// The audio codec and length of a file, or why it is not a music bed.
async fn probe_audio(ffprobe: &PathBuf, path: &std::path::Path) -> Result<(String, f64), String> {
    let out = tokio::process::Command::new(ffprobe)
        .args(["-v", "error", "-show_entries"])
        .arg("stream=codec_type,codec_name:stream_disposition=attached_pic:format=duration")
        .args(["-of", "json"])
        .arg(path)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("The file could not be checked ({e})."))?;
    let not_audio = "The file is not audio ffmpeg can read (mp3, aac, ogg, opus, flac or wav).";
    if !out.status.success() {
        return Err(not_audio.into());
    }
    let probe: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|_| not_audio.to_string())?;
    let streams = probe["streams"].as_array().cloned().unwrap_or_default();
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .ok_or_else(|| not_audio.to_string())?;
    let moving_pictures = streams
        .iter()
        .any(|s| s["codec_type"] == "video" && s["disposition"]["attached_pic"] != 1);
    if moving_pictures {
        return Err("The file has a video stream; send audio only.".into());
    }
    let seconds: f64 = probe["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    let (min, max) = MUSIC_SECONDS;
    if !(min..=max).contains(&seconds) {
        return Err(format!(
            "The audio lasts {seconds:.1} s; a music bed lasts {min} to {max} s."
        ));
    }
    let codec = audio["codec_name"]
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    Ok((codec, seconds))
}
