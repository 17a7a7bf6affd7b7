//! The story's music bed, as a file for the render: an upload is read from storage;
//! a URL is fetched through the outbound guard (https only, no internal address,
//! redirects checked) and the download limits (`MUSIC_MAX_MB`, audio media types),
//! then checked with ffprobe. A bed that cannot be used fails the job at once with
//! the reason: fetching it again gives the same.

use std::path::PathBuf;

use ai_video_shared::db::entities::story;
use ai_video_shared::domain::MusicBed;
use ai_video_shared::storage;

use super::{JobCtx, JobError};
use crate::providers::http::write_body;

/// The bed's file, or `None` when the story has no music.
pub async fn music_bed(ctx: &JobCtx, story: &story::Model) -> Result<Option<PathBuf>, JobError> {
    let Some(bed) = MusicBed::from_stored(story.music.as_ref()) else {
        return Ok(None);
    };
    let dest = ctx.work.path()?.join("music.audio");
    match bed {
        MusicBed::Upload { .. } => {
            let key = storage::keys::music(story.id);
            ctx.step(ctx.state.storage.get_to_file(&key, &dest)).await?;
        }
        MusicBed::Url { url } => ctx.step(fetch(ctx, &url, &dest)).await?,
    }
    let info = ctx
        .step(ctx.state.ffmpeg.probe_audio(&dest))
        .await
        .map_err(|e| {
            JobError::Permanent(format!("the music bed is not audio ffmpeg can read: {e}"))
        })?;
    if info < 0.5 {
        return Err(JobError::Permanent(format!(
            "the music bed lasts {info:.2} s; at least half a second is needed"
        )));
    }
    Ok(Some(dest))
}

async fn fetch(ctx: &JobCtx, url: &str, dest: &std::path::Path) -> Result<(), JobError> {
    let fetch = &ctx.state.providers.fetch;
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| JobError::Permanent(format!("the music URL is not a URL: {e}")))?;
    fetch
        .outbound
        .check(&parsed)
        .await
        .map_err(|refused| JobError::Permanent(format!("the music bed: {refused}")))?;
    let response = fetch.client.get(parsed).send().await.map_err(|e| {
        let refused = std::error::Error::source(&e)
            .is_some_and(|s| s.to_string().contains("refused to fetch"));
        let permanent = refused || e.is_redirect();
        let message = format!("the music bed could not be fetched: {}", e.without_url());
        if permanent {
            JobError::Permanent(message)
        } else {
            JobError::Retryable(message)
        }
    })?;
    let status = response.status();
    if !status.is_success() {
        let message = format!("the music bed's URL answered {status}");
        return Err(if status.is_server_error() || status.as_u16() == 429 {
            JobError::Retryable(message)
        } else {
            JobError::Permanent(message)
        });
    }
    write_body(response, dest, "the music bed's server", fetch.caps.music())
        .await
        .map_err(Into::into)
}
