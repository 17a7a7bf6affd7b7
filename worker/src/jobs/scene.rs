//! `generate_scene`: the keyframe from the image provider, then the clip from the
//! video provider; both are stored under the scene's keys, so a repeated attempt
//! overwrites instead of duplicating. A provider's clip that is not exactly the
//! scene's length at the story's frame is conformed to it, so the final video lasts
//! the sum of its scenes whatever the provider returns.

use std::time::Instant;

use ai_video_shared::db::entities::{provider_config, scene, story};
use ai_video_shared::domain::{Provider, RenderQuality};
use ai_video_shared::storage;
use ai_video_shared::store::runs::{self, SceneOutput, Written};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use super::{JobCtx, JobError};
use crate::providers::http::Gate;
use crate::providers::{Call, Generated, ImageRequest, RateLimits, VideoRequest};

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
    let seconds = scene.duration_seconds.max(1) as u32;
    let started = Instant::now();
    let progress = ctx.progress_reporter();

    let image_config = ctx.provider_config(story.image_provider).await?;
    let image_provider = ctx.state.providers.image(story.image_provider)?;
    let image_report = |p: f32| progress(0.3 * p);
    let image = image_provider
        .generate_image(
            &ImageRequest {
                prompt: &prompt,
                aspect: story.aspect_ratio,
                width,
                height,
                quality,
            },
            &call(ctx, story.image_provider, &image_config, &image_report),
            ctx.work.path()?,
        )
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
    let clip_report = |p: f32| progress(0.3 + 0.7 * p);
    let clip = video_provider
        .generate_clip(
            &VideoRequest {
                prompt: &prompt,
                image: &image.path,
                aspect: story.aspect_ratio,
                seconds,
                width,
                height,
                fps: ctx.state.render.fps,
                quality,
            },
            &call(ctx, story.video_provider, &video_config, &clip_report),
            ctx.work.path()?,
        )
        .await?;
    let generation_ms = started.elapsed().as_millis() as i64;
    ctx.checkpoint().await?;
    let clip_file = conform(ctx, &clip, seconds, (width, height)).await?;
    let clip_key = storage::keys::scene_clip(story.id, scene.id, quality);
    ctx.step(
        ctx.state
            .storage
            .put_file(&clip_key, &clip_file, clip.content_type),
    )
    .await?;

    let url = ctx.state.storage.url(&clip_key).await?;
    let metadata = json!({
        "scene": scene.id,
        "position": scene.position,
        "quality": quality.as_str(),
        "width": width,
        "height": height,
        "seconds": seconds,
        "image_key": image_key,
        "clip_key": clip_key,
        "image": {"provider": story.image_provider, "cost": image.cost, "details": image.metadata},
        "clip": {"provider": story.video_provider, "cost": clip.cost, "details": clip.metadata},
    });
    let result = runs::response(Some(&url), metadata, generation_ms as f64 / 1000.0, None);
    let _ = ctx.provider.set(story.video_provider);
    let _ = ctx
        .cost
        .set(rust_decimal::prelude::ToPrimitive::to_f64(&(image.cost + clip.cost)).unwrap_or(0.0));
    let output = SceneOutput {
        image_key,
        clip_key: clip_key.clone(),
        provider: story.video_provider,
        generation_time_ms: generation_ms,
        cost: image.cost + clip.cost,
    };
    match runs::finish_scene(db, &ctx.row, &output, result).await? {
        Written::Done => Ok(json!({"clip_key": clip_key, "seconds": seconds})),
        Written::Cancelled => Err(JobError::Cancelled),
    }
}

/// The per-call context of one provider.
fn call<'a>(
    ctx: &'a JobCtx,
    provider: Provider,
    config: &'a provider_config::Model,
    progress: &'a (dyn Fn(f32) + Send + Sync),
) -> Call<'a> {
    Call {
        gate: Gate {
            limiter: ctx.state.providers.limiter.clone(),
            provider,
            limits: RateLimits {
                per_minute: config.rate_limit_per_minute.max(0) as u32,
                per_hour: config.rate_limit_per_hour.max(0) as u32,
            },
        },
        cancel: &ctx.delivery.cancel,
        progress,
        attempt: ctx.attempt(),
        settings: &config.settings,
        rates: config.rates(),
    }
}

/// The clip at exactly the scene's length and the story's frame.
async fn conform(
    ctx: &JobCtx,
    clip: &Generated,
    seconds: u32,
    frame: (u32, u32),
) -> Result<std::path::PathBuf, JobError> {
    let ffmpeg = &ctx.state.ffmpeg;
    let info = ctx.step(ffmpeg.probe(&clip.path)).await?;
    let fps = format!("{}/1", ctx.state.render.fps);
    let fits = (info.width, info.height) == frame
        && info.codec == "h264"
        && info.pix_fmt == "yuv420p"
        && info.frame_rate == fps
        && (info.duration - f64::from(seconds)).abs() < 0.05;
    if fits {
        return Ok(clip.path.clone());
    }
    let out = ctx.work.path()?.join("conformed.mp4");
    ctx.step(ffmpeg.conform(&clip.path, &out, seconds, frame, ctx.state.render.fps))
        .await?;
    Ok(out)
}
