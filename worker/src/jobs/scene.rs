//! `generate_scene`: the keyframe from the image provider, then the clip from the
//! video provider; both are stored under the scene's keys, so a repeated attempt
//! overwrites instead of duplicating. Each is a checkpointed step
//! (`ai_video_shared::store::steps`): once bought and stored it is recorded with its
//! cost, and a run that is put back, retried or re-delivered takes it from storage
//! instead of buying it again; remote tasks are recorded before they are polled and
//! adopted by the next run. A provider's clip that is not exactly the
//! scene's length at the story's frame is conformed to it, so the final video lasts
//! the sum of its scenes whatever the provider returns.

use std::time::Instant;

use ai_video_shared::db::Money;
use ai_video_shared::db::entities::{provider_config, scene, step, story};
use ai_video_shared::domain::{JobParameters, ProviderSettings};
use ai_video_shared::storage;
use ai_video_shared::store::steps;
use ai_video_shared::store::worker_writes::{self, SceneOutput, Written};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use super::calls::settings_of;
use super::tasks::JobTasks;
use super::{JobCtx, JobError};
use crate::media::ClipInfo;
use crate::providers::http::Gate;
use crate::providers::{Call, Generated, ImageRequest, RateLimits, VideoRequest};
use rust_decimal::Decimal;

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
    let quality = JobParameters::parse(&ctx.row.parameters)
        .map_err(|e| JobError::Permanent(e.0))?
        .quality();
    worker_writes::scene_started(db, scene.id).await?;
    let earlier = steps::of_job(db, &ctx.row).await?;
    let prompt = scene.prompt();
    let (width, height) = story
        .aspect_ratio
        .frame_size(ctx.state.render.long_side(quality));
    let seconds = scene.duration_seconds.max(1) as u32;
    let started = Instant::now();
    let progress = ctx.progress_reporter();

    let image_key = storage::keys::scene_image(story.id, scene.id, quality);
    let image = match steps::find(&earlier, KEYFRAME, steps::DONE) {
        Some(done) => kept(ctx, done, "image.png").await?,
        None => {
            let image_config = ctx.provider_config(story.image_provider).await?;
            let image_settings = settings_of(&image_config)?;
            let image_provider = ctx.state.providers.image(story.image_provider)?;
            let image_report = |p: f32| progress(0.3 * p);
            let tasks = JobTasks::new(ctx, story.image_provider, &earlier);
            let image = image_provider
                .generate_image(
                    &ImageRequest {
                        prompt: &prompt,
                        aspect: story.aspect_ratio,
                        width,
                        height,
                        quality,
                    },
                    &call(ctx, (&image_config, &image_settings), &image_report, &tasks),
                    ctx.work.path()?,
                )
                .await?;
            ctx.log(&format!(
                "keyframe from {} ({} cost {})",
                story.image_provider, quality, image.cost
            ))
            .await;
            accept(ctx, KEYFRAME, &image, &tasks).await?;
            ctx.checkpoint().await?;
            ctx.step(
                ctx.state
                    .storage
                    .put_file(&image_key, &image.path, image.content_type),
            )
            .await?;
            record(ctx, KEYFRAME, &image_key, &image, &tasks).await?;
            image
        }
    };
    progress(0.3);

    let clip_key = storage::keys::scene_clip(story.id, scene.id, quality);
    let clip = match steps::find(&earlier, CLIP, steps::DONE) {
        Some(done) => kept(ctx, done, "clip.mp4").await?,
        None => {
            let video_config = ctx.provider_config(story.video_provider).await?;
            let video_settings = settings_of(&video_config)?;
            let video_provider = ctx.state.providers.video(story.video_provider)?;
            let clip_report = |p: f32| progress(0.3 + 0.6 * p);
            let tasks = JobTasks::new(ctx, story.video_provider, &earlier);
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
                    &call(ctx, (&video_config, &video_settings), &clip_report, &tasks),
                    ctx.work.path()?,
                )
                .await?;
            ctx.log(&format!(
                "clip of {seconds} s from {} (cost {})",
                story.video_provider, clip.cost
            ))
            .await;
            progress(0.9);
            let info = accept(ctx, CLIP, &clip, &tasks).await?;
            ctx.checkpoint().await?;
            let conformed = conform(ctx, &clip, &info, seconds, (width, height)).await?;
            ctx.step(
                ctx.state
                    .storage
                    .put_file(&clip_key, &conformed, clip.content_type),
            )
            .await?;
            record(ctx, CLIP, &clip_key, &clip, &tasks).await?;
            clip
        }
    };
    let generation_ms = started.elapsed().as_millis() as i64;
    ctx.log(&format!("stored {image_key} and {clip_key}")).await;
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
    let result = worker_writes::response(Some(&url), metadata, generation_ms as f64 / 1000.0, None);
    let _ = ctx.provider.set(story.video_provider);
    let _ = ctx
        .cost
        .set(rust_decimal::prelude::ToPrimitive::to_f64(&(image.cost + clip.cost)).unwrap_or(0.0));
    let output = SceneOutput {
        image_key,
        clip_key,
        provider: story.video_provider,
        generation_time_ms: generation_ms,
        cost: image.cost + clip.cost,
    };
    match worker_writes::finish_scene(db, &ctx.row, &output, result.clone()).await? {
        Written::Done => Ok(result),
        Written::Cancelled => Err(JobError::Cancelled),
    }
}

/// Step names of a scene job.
const KEYFRAME: &str = "keyframe";
const CLIP: &str = "clip";

/// A step an earlier run finished: its stored product, fetched into the work
/// directory, with what it cost then; nothing is bought again.
async fn kept(ctx: &JobCtx, done: &step::Model, file: &str) -> Result<Generated, JobError> {
    let key = done
        .storage_key
        .as_deref()
        .ok_or_else(|| JobError::Retryable(format!("step {} has no stored product", done.name)))?;
    let path = ctx.work.path()?.join(file);
    ctx.step(ctx.state.storage.get_to_file(key, &path)).await?;
    ctx.log(&format!(
        "{} kept from an earlier run ({key}); not bought again",
        done.name
    ))
    .await;
    Ok(Generated {
        path,
        content_type: if file.ends_with(".png") {
            "image/png"
        } else {
            "video/mp4"
        },
        cost: done.cost.0,
        metadata: done.data.clone().unwrap_or_default(),
    })
}

/// Checks that a provider's output is the media it should be before it is used.
/// An unusable output was still bought: its price is put on the job (what its tasks
/// did not already) and its tasks are not adopted again, so the retry buys anew.
async fn accept(
    ctx: &JobCtx,
    name: &str,
    made: &Generated,
    tasks: &JobTasks<'_>,
) -> Result<ClipInfo, JobError> {
    let video = name == CLIP;
    let reason = match ctx
        .step(async { Ok::<_, JobError>(ctx.state.ffmpeg.check_media(&made.path, video).await) })
        .await?
    {
        Ok(info) => return Ok(info),
        Err(reason) => reason,
    };
    let provider = tasks.provider();
    let unpaid = made.cost - tasks.spent();
    let rejected = format!("{name}.rejected.{}", uuid::Uuid::new_v4().simple());
    let step = steps::Done {
        name: &rejected,
        provider,
        remote_id: None,
        storage_key: None,
        cost: Money::new(unpaid.max(Decimal::ZERO)),
        data: json!({"reason": reason, "details": made.metadata}),
    };
    steps::done(&ctx.state.db, &ctx.row, step).await?;
    crate::metrics::provider_spend(provider, unpaid.max(Decimal::ZERO));
    steps::reject_tasks(&ctx.state.db, ctx.row.id, provider).await?;
    let message = format!("the {name} {provider} made is unusable: {reason}");
    ctx.log(&message).await;
    Err(JobError::Retryable(message))
}

/// Records a bought and stored step, with what its tasks did not already pay.
async fn record(
    ctx: &JobCtx,
    name: &str,
    key: &str,
    made: &Generated,
    tasks: &JobTasks<'_>,
) -> Result<(), JobError> {
    let unpaid = (made.cost - tasks.spent()).max(Decimal::ZERO);
    let done = steps::Done {
        name,
        provider: tasks.provider(),
        remote_id: made.metadata["task"].as_str(),
        storage_key: Some(key),
        cost: Money::new(unpaid),
        data: made.metadata.clone(),
    };
    steps::done(&ctx.state.db, &ctx.row, done).await?;
    crate::metrics::provider_spend(tasks.provider(), unpaid);
    Ok(())
}

/// The per-call context of one provider.
fn call<'a>(
    ctx: &'a JobCtx,
    (config, settings): (&'a provider_config::Model, &'a ProviderSettings),
    progress: &'a (dyn Fn(f32) + Send + Sync),
    tasks: &'a JobTasks<'a>,
) -> Call<'a> {
    Call {
        gate: Gate {
            limiter: ctx.state.providers.limiter.clone(),
            provider: tasks.provider(),
            limits: RateLimits {
                per_minute: config.rate_limit_per_minute.max(0) as u32,
                per_hour: config.rate_limit_per_hour.max(0) as u32,
            },
        },
        cancel: &ctx.delivery.cancel,
        progress,
        attempt: ctx.attempt(),
        settings,
        rates: config.rates(),
        tasks,
    }
}

/// The clip at exactly the scene's length and the story's frame.
async fn conform(
    ctx: &JobCtx,
    clip: &Generated,
    info: &ClipInfo,
    seconds: u32,
    frame: (u32, u32),
) -> Result<std::path::PathBuf, JobError> {
    let ffmpeg = &ctx.state.ffmpeg;
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
