//! `generate_scene`: the keyframe from the image provider, then the clip from the
//! video provider; both are stored under the scene's keys, so a repeated attempt
//! overwrites instead of duplicating.

use std::time::Instant;

use ai_video_shared::db::entities::{scene, story};
use ai_video_shared::domain::RenderQuality;
use ai_video_shared::storage;
use ai_video_shared::store::runs::{self, SceneOutput, Written};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use super::{JobCtx, JobError};
use crate::providers::{ImageRequest, VideoRequest};

pub async fn run(ctx: &JobCtx) -> Result<Value, JobError> {
    let db = &ctx.state.db;
    let scene_id = ctx
        .row
        .scene_id
        .ok_or_else(|| JobError::Permanent("the job names no scene".into()))?;
    let (scene, story) = scene::Entity::find_by_id(scene_id)
        .find_also_related(story::Entity)
        .one(db)
        .await?
        .and_then(|(s, st)| st.map(|st| (s, st)))
        .ok_or_else(|| JobError::Permanent("the scene no longer exists".into()))?;
    let quality = match ctx.row.parameters["quality"].as_str() {
        Some("final") => RenderQuality::Final,
        _ => RenderQuality::Preview,
    };
    runs::scene_started(db, scene.id).await?;
    let prompt = scene.prompt();
    let (width, height) = story
        .aspect_ratio
        .frame_size(ctx.state.render.long_side(quality));
    let started = Instant::now();

    let image_config = ctx.provider_config(story.image_provider).await?;
    let image_provider = ctx.state.providers.image(story.image_provider)?;
    let image = ctx
        .step(image_provider.generate_image(
            &ImageRequest {
                prompt: &prompt,
                width,
                height,
                quality,
                attempt: ctx.attempt(),
                settings: &image_config.settings,
            },
            ctx.work.path(),
        ))
        .await?;
    ctx.checkpoint().await?;
    let image_key = storage::keys::scene_image(story.id, scene.id, quality);
    ctx.step(
        ctx.state
            .storage
            .put_file(&image_key, &image.path, image.content_type),
    )
    .await?;

    let video_config = ctx.provider_config(story.video_provider).await?;
    let video_provider = ctx.state.providers.video(story.video_provider)?;
    let clip = ctx
        .step(video_provider.generate_clip(
            &VideoRequest {
                prompt: &prompt,
                image: &image.path,
                seconds: scene.duration_seconds.max(1) as u32,
                width,
                height,
                fps: ctx.state.render.fps,
                quality,
                attempt: ctx.attempt(),
                settings: &video_config.settings,
            },
            ctx.work.path(),
        ))
        .await?;
    let generation_ms = started.elapsed().as_millis() as i64;
    ctx.checkpoint().await?;
    let clip_key = storage::keys::scene_clip(story.id, scene.id, quality);
    ctx.step(
        ctx.state
            .storage
            .put_file(&clip_key, &clip.path, clip.content_type),
    )
    .await?;

    let url = ctx.state.storage.url(&clip_key).await?;
    let metadata = json!({
        "scene": scene.id,
        "position": scene.position,
        "quality": quality.as_str(),
        "width": width,
        "height": height,
        "seconds": scene.duration_seconds,
        "image_key": image_key,
        "clip_key": clip_key,
        "image": image.metadata,
        "clip": clip.metadata,
    });
    let result = runs::response(Some(&url), metadata, generation_ms as f64 / 1000.0, None);
    let output = SceneOutput {
        image_key,
        clip_key: clip_key.clone(),
        provider: story.video_provider,
        generation_time_ms: generation_ms,
        cost: image.cost + clip.cost,
    };
    match runs::finish_scene(db, &ctx.row, &output, result).await? {
        Written::Done => Ok(json!({"clip_key": clip_key, "seconds": scene.duration_seconds})),
        Written::Cancelled => Err(JobError::Cancelled),
    }
}
