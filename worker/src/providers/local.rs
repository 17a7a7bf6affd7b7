//! `local`: real media made offline with ffmpeg, so the whole pipeline runs without
//! an API key.
//!
//! The keyframe is a gradient whose colours come from the prompt text and style and
//! whose shape comes from the seed: the same prompt and seed give the same image.
//! The clip moves the camera over the keyframe as the prompt's `camera_motion` says.
//! Its `settings` in the provider config can make it slow or failing, for tests and
//! for demos of retries:
//!
//! | setting | effect |
//! | --- | --- |
//! | `delay_ms` | waits this long before each image and clip |
//! | `fail_attempts` | fails the first N runs of every job (retryable) |
//! | `fail_permanently` | refuses every request, as a moderation refusal would |
//! | `refuse_prompts_containing` | refuses, as a moderation refusal would, a scene whose prompt contains this text |

use std::path::Path;
use std::time::Duration;

use ai_video_shared::domain::ProviderSettings;
use rust_decimal::Decimal;

use super::{
    Call, Generated, ImageProvider, ImageRequest, ProviderError, VideoProvider, VideoRequest,
};
use crate::media::Ffmpeg;

pub struct LocalProvider {
    ffmpeg: Ffmpeg,
}

impl LocalProvider {
    pub fn new(ffmpeg: Ffmpeg) -> Self {
        Self { ffmpeg }
    }

    pub fn ffmpeg(&self) -> &Ffmpeg {
        &self.ffmpeg
    }

    async fn behave(
        &self,
        settings: &ProviderSettings,
        attempt: u32,
        prompt: &str,
    ) -> Result<(), ProviderError> {
        let delay = settings.delay_ms.unwrap_or(0);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if settings.fail_permanently == Some(true) {
            return Err(ProviderError::Permanent(
                "the local provider refuses this request (fail_permanently is set)".into(),
            ));
        }
        if let Some(word) = settings
            .refuse_prompts_containing
            .as_deref()
            .filter(|w| !w.is_empty())
            && prompt.contains(word)
        {
            return Err(ProviderError::Permanent(format!(
                "the local provider refuses prompts containing {word:?}"
            )));
        }
        let fail_attempts = settings.fail_attempts.unwrap_or(0);
        if attempt <= fail_attempts {
            return Err(ProviderError::retryable(format!(
                "the local provider fails run {attempt} of each job (fail_attempts = {})",
                fail_attempts
            )));
        }
        Ok(())
    }
}

/// Three colours from the prompt's text and style (FNV-1a).
fn colours(text: &str, style: &str) -> [u32; 3] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes().chain(style.bytes()) {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    [hash as u32, (hash >> 21) as u32, (hash >> 42) as u32]
}

fn failed(err: crate::media::MediaError) -> ProviderError {
    ProviderError::retryable(format!("local provider: {err}"))
}

#[async_trait::async_trait]
impl ImageProvider for LocalProvider {
    async fn generate_image(
        &self,
        req: &ImageRequest<'_>,
        call: &Call<'_>,
        work: &Path,
    ) -> Result<Generated, ProviderError> {
        tokio::select! {
            result = self.image(req, call, work) => result,
            _ = call.cancel.cancelled() => Err(ProviderError::Cancelled),
        }
    }
}

impl LocalProvider {
    async fn image(
        &self,
        req: &ImageRequest<'_>,
        call: &Call<'_>,
        work: &Path,
    ) -> Result<Generated, ProviderError> {
        self.behave(call.settings, call.attempt, &req.prompt.text)
            .await?;
        let path = work.join("image.png");
        let colours = colours(&req.prompt.text, &req.prompt.style);
        self.ffmpeg
            .keyframe(&path, colours, req.prompt.seed, req.width, req.height)
            .await
            .map_err(failed)?;
        Ok(Generated {
            path,
            content_type: "image/png",
            cost: Decimal::ZERO,
            metadata: serde_json::json!({"model": "ffmpeg-gradients", "width": req.width, "height": req.height}),
        })
    }
}

#[async_trait::async_trait]
impl VideoProvider for LocalProvider {
    async fn generate_clip(
        &self,
        req: &VideoRequest<'_>,
        call: &Call<'_>,
        work: &Path,
    ) -> Result<Generated, ProviderError> {
        tokio::select! {
            result = self.clip(req, call, work) => result,
            _ = call.cancel.cancelled() => Err(ProviderError::Cancelled),
        }
    }
}

impl LocalProvider {
    async fn clip(
        &self,
        req: &VideoRequest<'_>,
        call: &Call<'_>,
        work: &Path,
    ) -> Result<Generated, ProviderError> {
        self.behave(call.settings, call.attempt, &req.prompt.text)
            .await?;
        let path = work.join("clip.mp4");
        self.ffmpeg
            .clip_from_image(
                req.image,
                &path,
                req.seconds,
                req.prompt.camera_motion,
                (req.width, req.height),
                req.fps,
            )
            .await
            .map_err(failed)?;
        Ok(Generated {
            path,
            content_type: "video/mp4",
            cost: Decimal::ZERO,
            metadata: serde_json::json!({"model": "ffmpeg-zoompan", "seconds": req.seconds, "fps": req.fps}),
        })
    }
}
